using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>
/// Fidelity and diversity of a generated set apart, in the judge's feature space, where FID folds them into one
/// number. Each is a share in [0, 1] (density can exceed 1); higher is better, and the real-data floor shows what a
/// perfect generator gets at the same N.
/// </summary>
/// <param name="Precision">
/// Improved precision (Kynkäänniemi et al. 2019, k = <see cref="PrecisionRecallK"/>): the share of generated images
/// inside the real manifold. Are the samples realistic?
/// </param>
/// <param name="Recall">
/// Improved recall (same paper): the share of real images inside the generated manifold. Do the samples cover the
/// real variety? A set more spread out than the real one has larger balls, so its recall can exceed the floor's.
/// </param>
/// <param name="Density">
/// Density (Naeem et al. 2020, k = <see cref="DensityCoverageK"/>): how many real balls hold a generated image, on
/// average, over k. About 1 for real data; above 1 where samples crowd into the densest real regions.
/// </param>
/// <param name="Coverage">
/// Coverage (same paper): the share of real images whose ball holds at least one generated image. Built from real
/// balls only, so unlike recall it is not inflated by a spread-out or outlying generated set.
/// </param>
/// <param name="RealCount">Real feature vectors the manifolds were built from.</param>
public sealed record ManifoldScores(double Precision, double Recall, double Density, double Coverage, int RealCount)
{
    /// <summary>The k of precision and recall (Kynkäänniemi et al.'s).</summary>
    public const int PrecisionRecallK = 3;

    /// <summary>The k of density and coverage (Naeem et al.'s).</summary>
    public const int DensityCoverageK = 5;

    /// <summary>The larger k: each set needs more images than this.</summary>
    public const int LargestK = DensityCoverageK > PrecisionRecallK ? DensityCoverageK : PrecisionRecallK;

    /// <summary>Rows of a distance matrix computed at a time: memory is this × the other set's size × 8 bytes.</summary>
    private const int ChunkRows = 1024;

    /// <summary>
    /// A set's manifold is the union of balls around its points, each reaching the point's k-th nearest neighbour in
    /// the same set. Precision is the share of <paramref name="generated"/> inside the manifold of
    /// <paramref name="real"/>; recall the share of <paramref name="real"/> inside the manifold of
    /// <paramref name="generated"/>; density and coverage count generated images in the real balls. The papers
    /// compare sets of equal size, since the balls shrink as a set grows. Distances are Euclidean, in float64, computed directly.
    /// </summary>
    /// <param name="real">Real features [N, D].</param>
    /// <param name="generated">Generated features [M, D].</param>
    public static ManifoldScores Compute(Tensor real, Tensor generated)
    {
        if (real.dim() != 2 || generated.dim() != 2 || real.shape[1] != generated.shape[1])
        {
            throw new ArgumentException($"Manifold scores need two feature matrices of the same width; got [{string.Join(", ", real.shape)}] and [{string.Join(", ", generated.shape)}].");
        }

        if (real.shape[0] <= LargestK || generated.shape[0] <= LargestK)
        {
            throw new ArgumentException($"Manifold scores (k up to {LargestK}) need more than {LargestK} images in each set; got {real.shape[0]} real and {generated.shape[0]} generated. Evaluate more images (--num).");
        }

        using var scope = torch.NewDisposeScope();
        var r = real.detach().to(ScalarType.Float64).cpu();
        var g = generated.detach().to(ScalarType.Float64).cpu();
        var realRadii = NeighbourDistances(r, LargestK);
        var realPr = realRadii[.., PrecisionRecallK].unsqueeze(0);
        var realDc = realRadii[.., DensityCoverageK].unsqueeze(0);
        var generatedPr = NeighbourDistances(g, PrecisionRecallK)[.., PrecisionRecallK].unsqueeze(0);

        // Generated images against the real balls: precision, density, coverage.
        long precise = 0;
        double inBalls = 0;
        var covered = torch.zeros(r.shape[0], dtype: ScalarType.Bool);
        foreach (var rows in Chunks(g))
        {
            using var chunkScope = torch.NewDisposeScope();
            var d = Distances(rows, r);
            precise += d.le(realPr).any(1).sum().item<long>();
            var within = d.le(realDc);
            inBalls += within.sum().item<long>();
            covered.logical_or_(within.any(0));
        }

        // Real images against the generated balls: recall.
        long recalled = 0;
        foreach (var rows in Chunks(r))
        {
            using var chunkScope = torch.NewDisposeScope();
            recalled += Distances(rows, g).le(generatedPr).any(1).sum().item<long>();
        }

        var m = (double)g.shape[0];
        var n = (double)r.shape[0];
        return new ManifoldScores(
            Precision: precise / m,
            Recall: recalled / n,
            Density: inBalls / (DensityCoverageK * m),
            Coverage: covered.sum().item<long>() / n,
            RealCount: (int)n);
    }

    /// <summary>
    /// For each point, the sorted distances to its nearest points of the same set, itself first (at 0): column k is
    /// the distance to the k-th nearest other point, the radius of its k-ball.
    /// </summary>
    private static Tensor NeighbourDistances(Tensor points, int k)
    {
        var parts = new List<Tensor>();
        foreach (var rows in Chunks(points))
        {
            // Only the k + 1 nearest of each row outlive the chunk, not its whole row of distances.
            using var chunkScope = torch.NewDisposeScope();
            parts.Add(Distances(rows, points).topk(k + 1, dim: 1, largest: false, sorted: true).values.MoveToOuterDisposeScope());
        }

        return torch.cat(parts, 0);
    }

    /// <summary>
    /// Euclidean distances [A, B], computed directly rather than through ‖a‖² + ‖b‖² − 2a·b: exactly symmetric and 0
    /// from a point to itself, so a point on the rim of a ball (a k-th neighbour) counts as inside from both sides.
    /// </summary>
    private static Tensor Distances(Tensor a, Tensor b) => torch.cdist(a, b, compute_mode: compute_mode.donot_use_mm_for_euclid_dist);

    private static IEnumerable<Tensor> Chunks(Tensor points)
    {
        for (long start = 0; start < points.shape[0]; start += ChunkRows)
        {
            yield return points.narrow(0, start, Math.Min(ChunkRows, points.shape[0] - start));
        }
    }
}
