using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>
/// Running mean and scatter matrix of feature vectors, fed a batch at a time, in float64: memory stays D + D²
/// numbers however many vectors go in. Batches are merged with Chan et al.'s parallel update, which avoids the
/// cancellation of the naive Σxxᵀ − N·μμᵀ.
/// </summary>
public sealed class FeatureStatistics
{
    private double[] mean;
    private double[] scatter;

    /// <summary>Starts empty for features of dimension <paramref name="dimension"/>.</summary>
    public FeatureStatistics(int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        Dimension = dimension;
        mean = new double[dimension];
        scatter = new double[dimension * dimension];
    }

    /// <summary>D.</summary>
    public int Dimension { get; }

    /// <summary>Vectors added so far.</summary>
    public long Count { get; private set; }

    /// <summary>Adds a batch of feature vectors [B, D] (any float type).</summary>
    public void Add(Tensor features)
    {
        if (features.dim() != 2 || features.shape[1] != Dimension)
        {
            throw new ArgumentException($"Expected features [B, {Dimension}]; got [{string.Join(", ", features.shape)}].");
        }

        var nb = features.shape[0];
        if (nb == 0)
        {
            return;
        }

        using var scope = torch.NewDisposeScope();
        var x = features.detach().to(ScalarType.Float64).cpu();
        var meanB = x.mean([0]);
        var centered = x - meanB;
        var scatterB = centered.t().mm(centered);
        var na = Count;
        var n = na + nb;
        if (na == 0)
        {
            mean = meanB.data<double>().ToArray();
            scatter = scatterB.flatten().data<double>().ToArray();
        }
        else
        {
            var meanA = torch.tensor(mean, dtype: ScalarType.Float64);
            var scatterA = torch.tensor(scatter, [Dimension, Dimension], dtype: ScalarType.Float64);
            var delta = meanB - meanA;
            mean = (meanA + (delta * ((double)nb / n))).data<double>().ToArray();
            var merged = scatterA + scatterB + (torch.outer(delta, delta) * ((double)na * nb / n));
            scatter = merged.flatten().data<double>().ToArray();
        }

        Count = n;
    }

    /// <summary>The Gaussian fitted so far: mean and covariance = scatter / (N − 1). Needs N ≥ 2.</summary>
    public GaussianFit ToGaussian()
    {
        if (Count < 2)
        {
            throw new InvalidOperationException($"A covariance needs at least 2 feature vectors; have {Count}. Evaluate more images (--num).");
        }

        var covariance = scatter.Select(s => s / (Count - 1)).ToArray();
        return new GaussianFit(Count, (double[])mean.Clone(), covariance);
    }
}
