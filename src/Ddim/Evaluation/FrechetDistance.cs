using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>A Gaussian fitted to a set of feature vectors: N, the mean and the (unbiased) covariance, in float64.</summary>
/// <param name="Count">How many vectors it was fitted to.</param>
/// <param name="Mean">μ, length D.</param>
/// <param name="Covariance">Σ, D×D row-major, with the 1/(N−1) normalisation.</param>
public sealed record GaussianFit(long Count, double[] Mean, double[] Covariance)
{
    /// <summary>D, the dimension of the features.</summary>
    public int Dimension => Mean.Length;

    /// <summary>Fits a Gaussian to feature vectors [N, D] (N ≥ 2) in float64.</summary>
    public static GaussianFit FromFeatures(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.dim() != 2)
        {
            throw new ArgumentException($"Features must be a matrix [N, D], one row per image; got shape [{string.Join(", ", features.shape)}].", nameof(features));
        }

        if (features.shape[0] < 2)
        {
            throw new ArgumentException($"A Gaussian fit needs at least 2 feature vectors (rows) for its covariance; got {features.shape[0]}.", nameof(features));
        }

        var stats = new FeatureStatistics((int)features.shape[1]);
        stats.Add(features);
        return stats.ToGaussian();
    }

    /// <summary>Checks that the arrays have the shapes a D-dimensional Gaussian needs.</summary>
    public void Validate()
    {
        if (Mean.Length < 1 || Covariance.Length != Mean.Length * Mean.Length)
        {
            throw new ArgumentException($"A Gaussian of dimension {Mean.Length} needs a {Mean.Length}×{Mean.Length} covariance; got {Covariance.Length} values.");
        }

        if (!Mean.All(double.IsFinite) || !Covariance.All(double.IsFinite))
        {
            throw new ArgumentException("The Gaussian's mean or covariance holds NaN or ∞ (were the features finite? a sampler that diverged gives NaN images).");
        }
    }
}

/// <summary>
/// The parts of a Fréchet distance d² = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2·Tr√(Σ₁Σ₂): where the two sets' average
/// features differ (<see cref="Mean"/>), and where their spreads do (<see cref="Covariance"/>).
/// </summary>
/// <param name="Mean">‖μ₁ − μ₂‖²: how far apart the two sets' average features are, a shift that every image shares.</param>
/// <param name="Traces">Tr(Σ₁) + Tr(Σ₂).</param>
/// <param name="CrossTrace">Tr√(Σ₁Σ₂).</param>
public sealed record FrechetTerms(double Mean, double Traces, double CrossTrace)
{
    /// <summary>Tr(Σ₁) + Tr(Σ₂) − 2·Tr√(Σ₁Σ₂): how differently the features spread (shape and variety).</summary>
    public double Covariance => Traces - (2 * CrossTrace);

    /// <summary>d², the Fréchet distance (FID), never negative: rounding can push the sum a hair below zero.</summary>
    public double Total => Math.Max(0, Mean + Traces - (2 * CrossTrace));
}

/// <summary>
/// The Fréchet distance between two Gaussians, the formula behind FID (Heusel et al. 2017):
/// d² = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2·Tr√(Σ₁Σ₂).
/// </summary>
/// <remarks>
/// Tr√(Σ₁Σ₂) is computed without a general matrix square root: Σ₁Σ₂ is similar to the symmetric positive
/// semi-definite M = √Σ₁·Σ₂·√Σ₁, so Tr√(Σ₁Σ₂) = Σᵢ √λᵢ(M). Both √Σ₁ and the λᵢ come from symmetric
/// eigendecompositions in float64; eigenvalues that rounding pushes slightly below zero are clamped to zero.
/// </remarks>
public static class FrechetDistance
{
    /// <summary>d² between two fitted Gaussians of the same dimension (never negative).</summary>
    public static double Compute(GaussianFit a, GaussianFit b) => Terms(a, b).Total;

    /// <summary>d² between two fitted Gaussians, as its two parts: where the means differ, and where the spreads do.</summary>
    public static FrechetTerms Terms(GaussianFit a, GaussianFit b)
    {
        a.Validate();
        b.Validate();
        if (a.Dimension != b.Dimension)
        {
            throw new ArgumentException($"Cannot compare features of dimension {a.Dimension} with features of dimension {b.Dimension}; use the same judge for both sets.");
        }

        using var scope = torch.NewDisposeScope();
        var d = a.Dimension;
        var mu1 = torch.tensor(a.Mean, dtype: ScalarType.Float64);
        var mu2 = torch.tensor(b.Mean, dtype: ScalarType.Float64);
        var sigma1 = Symmetric(torch.tensor(a.Covariance, [d, d], dtype: ScalarType.Float64));
        var sigma2 = Symmetric(torch.tensor(b.Covariance, [d, d], dtype: ScalarType.Float64));

        var diff = mu1 - mu2;
        var meanTerm = diff.dot(diff).item<double>();
        var traceTerm = sigma1.trace().item<double>() + sigma2.trace().item<double>();
        var root1 = SquareRoot(sigma1);
        var m = Symmetric(root1.mm(sigma2).mm(root1));
        var crossTerm = NoiseFloorToZero(torch.linalg.eigvalsh(m)).sqrt().sum().item<double>();
        return new FrechetTerms(meanTerm, traceTerm, crossTerm);
    }

    /// <summary>FID between two feature sets [N₁, D] and [N₂, D]: the distance between the Gaussians fitted to them.</summary>
    public static double Compute(Tensor featuresA, Tensor featuresB) =>
        Compute(GaussianFit.FromFeatures(featuresA), GaussianFit.FromFeatures(featuresB));

    /// <summary>√Σ of a symmetric positive semi-definite matrix: V·diag(√λ)·Vᵀ, with λ below the rounding floor taken as 0.</summary>
    private static Tensor SquareRoot(Tensor sigma)
    {
        var (values, vectors) = torch.linalg.eigh(sigma);
        return (vectors * NoiseFloorToZero(values).sqrt().unsqueeze(0)).mm(vectors.t());
    }

    /// <summary>
    /// Eigenvalues of a positive semi-definite matrix with those below D·ε·λmax (rounding noise, where the true value
    /// is 0, as for a covariance of N ≤ D vectors) set to 0: their square roots, about √(ε·λmax) each, would otherwise
    /// add up to a visible error in Tr√(Σ₁Σ₂).
    /// </summary>
    private static Tensor NoiseFloorToZero(Tensor eigenvalues)
    {
        const double machineEpsilon = 2.220446049250313e-16; // 2⁻⁵², float64's (.NET's double.Epsilon is the smallest subnormal)
        var floor = eigenvalues.shape[0] * machineEpsilon * Math.Max(eigenvalues.max().item<double>(), 0);
        return eigenvalues.where(eigenvalues > floor, 0.0);
    }

    private static Tensor Symmetric(Tensor m) => (m + m.t()) / 2;
}
