using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>
/// Improved precision and recall (Kynkäänniemi et al. 2019) of a generated set against a real one, in the judge's
/// feature space. FID folds fidelity and diversity into one number; these two tell them apart.
/// </summary>
/// <param name="Precision">Share of generated images inside the real manifold: are the samples realistic?</param>
/// <param name="Recall">Share of real images inside the generated manifold: do the samples cover the real variety?</param>
/// <param name="K">The k of the k-nearest-neighbour balls that make up each manifold.</param>
/// <param name="RealCount">Real feature vectors the manifold was built from.</param>
public sealed record PrecisionRecall(double Precision, double Recall, int K, int RealCount)
{
    /// <summary>The paper's k.</summary>
    public const int DefaultK = 3;

    /// <summary>Rows of the distance matrix computed at a time: memory is this × the other set's size × 8 bytes.</summary>
    private const int ChunkRows = 1024;

    /// <summary>
    /// Each set's manifold is the union of balls around its points, each ball reaching the point's k-th nearest
    /// neighbour in the same set. Precision is the share of <paramref name="generated"/> inside the manifold of
    /// <paramref name="real"/>; recall is the share of <paramref name="real"/> inside the manifold of
    /// <paramref name="generated"/>. The paper compares sets of equal size, since the balls shrink as a set grows.
    /// Distances are Euclidean, in float64.
    /// </summary>
    /// <param name="real">Real features [N, D].</param>
    /// <param name="generated">Generated features [M, D].</param>
    /// <param name="k">Neighbours per ball; each set needs more than k points.</param>
    public static PrecisionRecall Compute(Tensor real, Tensor generated, int k = DefaultK)
    {
        if (real.dim() != 2 || generated.dim() != 2 || real.shape[1] != generated.shape[1])
        {
            throw new ArgumentException($"Precision and recall need two feature matrices of the same width; got [{string.Join(", ", real.shape)}] and [{string.Join(", ", generated.shape)}].");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (real.shape[0] <= k || generated.shape[0] <= k)
        {
            throw new ArgumentException($"Precision and recall with k = {k} need more than {k} images in each set; got {real.shape[0]} real and {generated.shape[0]} generated. Evaluate more images (--num).");
        }

        using var scope = torch.NewDisposeScope();
        var r = real.detach().to(ScalarType.Float64).cpu();
        var g = generated.detach().to(ScalarType.Float64).cpu();
        var precision = CoveredShare(g, r, KthNeighbourDistance(r, k));
        var recall = CoveredShare(r, g, KthNeighbourDistance(g, k));
        return new PrecisionRecall(precision, recall, k, (int)r.shape[0]);
    }

    /// <summary>For each point, the distance to its k-th nearest other point of the same set (the ball's radius).</summary>
    private static Tensor KthNeighbourDistance(Tensor points, int k)
    {
        var radii = new List<Tensor>();
        for (long start = 0; start < points.shape[0]; start += ChunkRows)
        {
            var rows = points.narrow(0, start, Math.Min(ChunkRows, points.shape[0] - start));
            // Each point is its own nearest neighbour at distance 0, so the k-th other point is at sorted index k.
            var (nearest, _) = torch.cdist(rows, points).topk(k + 1, dim: 1, largest: false, sorted: true);
            radii.Add(nearest[.., k]);
        }

        return torch.cat(radii, 0);
    }

    /// <summary>The share of <paramref name="points"/> within the radius of at least one of <paramref name="centres"/>.</summary>
    private static double CoveredShare(Tensor points, Tensor centres, Tensor radii)
    {
        long covered = 0;
        for (long start = 0; start < points.shape[0]; start += ChunkRows)
        {
            using var chunkScope = torch.NewDisposeScope();
            var rows = points.narrow(0, start, Math.Min(ChunkRows, points.shape[0] - start));
            covered += torch.cdist(rows, centres).le(radii.unsqueeze(0)).any(1).sum().item<long>();
        }

        return (double)covered / points.shape[0];
    }
}
