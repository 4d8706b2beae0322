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

    /// <summary>
    /// A set's manifold is the union of balls around its points, each reaching the point's k-th nearest neighbour in
    /// the same set. Precision is the share of <paramref name="generated"/> inside the manifold of
    /// <paramref name="real"/>; recall the share of <paramref name="real"/> inside the manifold of
    /// <paramref name="generated"/>; density and coverage count generated images in the real balls. The papers
    /// compare sets of equal size, since the balls shrink as a set grows. To score several sets against one real set,
    /// fit it once with <see cref="RealManifold.Fit"/>.
    /// </summary>
    /// <param name="real">Real features [N, D].</param>
    /// <param name="generated">Generated features [M, D].</param>
    public static ManifoldScores Compute(Tensor real, Tensor generated)
    {
        RealManifold.RequireFeatures(real, generated); // both sets, before the real set's N² fit
        return RealManifold.Fit(real).Score(generated);
    }
}

/// <summary>
/// A real set's side of the <see cref="ManifoldScores"/>, fitted once: its features and the radii of its k-balls
/// (the N² part of the work on the real side), so that the floor and every sampler setting of a sweep are scored
/// against it without recomputing them. Held as plain arrays, so it owns no native memory.
/// </summary>
public sealed class RealManifold
{
    /// <summary>Rows of a distance matrix computed at a time: memory is this × the other set's size × 8 bytes.</summary>
    private const int ChunkRows = 1024;

    private readonly double[] features;
    private readonly double[] precisionRecallRadii;
    private readonly double[] densityCoverageRadii;

    private RealManifold(double[] features, int count, int width, double[] precisionRecallRadii, double[] densityCoverageRadii)
    {
        this.features = features;
        Count = count;
        Width = width;
        this.precisionRecallRadii = precisionRecallRadii;
        this.densityCoverageRadii = densityCoverageRadii;
    }

    /// <summary>Real feature vectors the manifold is built from.</summary>
    public int Count { get; }

    /// <summary>Their width D.</summary>
    public int Width { get; }

    /// <summary>Fits the manifold of real features [N, D]: each point's distance to its k-th nearest other point, for both k.</summary>
    public static RealManifold Fit(Tensor real)
    {
        RequireFeatures(real, generated: null);
        using var scope = torch.NewDisposeScope();
        var r = real.detach().to(ScalarType.Float64).cpu().contiguous();
        var radii = NeighbourDistances(r, ManifoldScores.LargestK);
        return new RealManifold(
            r.data<double>().ToArray(),
            (int)r.shape[0],
            (int)r.shape[1],
            radii[.., ManifoldScores.PrecisionRecallK].contiguous().data<double>().ToArray(),
            radii[.., ManifoldScores.DensityCoverageK].contiguous().data<double>().ToArray());
    }

    /// <summary>
    /// Scores generated features [M, D] against this real set. One pass over the generated-to-real distances
    /// serves all four scores: it is the transpose of the real-to-generated one, exactly, since distances are
    /// computed directly.
    /// </summary>
    public ManifoldScores Score(Tensor generated)
    {
        RequireFeatures([Count, Width], generated.shape);
        using var scope = torch.NewDisposeScope();
        var r = torch.tensor(features, [Count, Width], dtype: ScalarType.Float64);
        var realPr = torch.tensor(precisionRecallRadii, dtype: ScalarType.Float64).unsqueeze(0);
        var realDc = torch.tensor(densityCoverageRadii, dtype: ScalarType.Float64).unsqueeze(0);
        var g = generated.detach().to(ScalarType.Float64).cpu();
        var generatedPr = NeighbourDistances(g, ManifoldScores.PrecisionRecallK)[.., ManifoldScores.PrecisionRecallK];

        long precise = 0;
        double inBalls = 0;
        var covered = torch.zeros(Count, dtype: ScalarType.Bool);
        var recalled = torch.zeros(Count, dtype: ScalarType.Bool);
        foreach (var (start, rows) in Chunks(g))
        {
            using var chunkScope = torch.NewDisposeScope();
            var d = Distances(rows, r);

            // Generated images in the real balls: precision (in any k = 3 ball), density and coverage (k = 5 balls).
            precise += d.le(realPr).any(1).sum().item<long>();
            var within = d.le(realDc);
            inBalls += within.sum().item<long>();
            covered.logical_or_(within.any(0));

            // Real images in these generated images' k = 3 balls: recall.
            recalled.logical_or_(d.le(generatedPr.narrow(0, start, rows.shape[0]).unsqueeze(1)).any(0));
        }

        var m = (double)g.shape[0];
        var n = (double)Count;
        return new ManifoldScores(
            Precision: precise / m,
            Recall: recalled.sum().item<long>() / n,
            Density: inBalls / (ManifoldScores.DensityCoverageK * m),
            Coverage: covered.sum().item<long>() / n,
            RealCount: Count);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless the features are [N, D] matrices of one width, each with more than <see cref="ManifoldScores.LargestK"/> rows.</summary>
    internal static void RequireFeatures(Tensor real, Tensor? generated) => RequireFeatures(real.shape, generated?.shape);

    private static void RequireFeatures(long[] real, long[]? generated)
    {
        if (real.Length != 2 || generated is not null && (generated.Length != 2 || generated[1] != real[1]))
        {
            throw new ArgumentException(generated is null
                ? $"Manifold scores need a feature matrix [N, D]; got [{string.Join(", ", real)}]."
                : $"Manifold scores need two feature matrices of the same width; got [{string.Join(", ", real)}] real and [{string.Join(", ", generated)}] generated.");
        }

        if (real[0] <= ManifoldScores.LargestK || generated?[0] <= ManifoldScores.LargestK)
        {
            throw new ArgumentException(
                $"Manifold scores (k up to {ManifoldScores.LargestK}) need more than {ManifoldScores.LargestK} images in each set; got {real[0]} real{(generated is null ? "" : $" and {generated[0]} generated")}. Evaluate more images (--num).");
        }
    }

    /// <summary>
    /// For each point, the sorted distances to its nearest points of the same set, itself first (at 0): column k is
    /// the distance to the k-th nearest other point, the radius of its k-ball.
    /// </summary>
    private static Tensor NeighbourDistances(Tensor points, int k)
    {
        var parts = new List<Tensor>();
        foreach (var (_, rows) in Chunks(points))
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

    /// <summary>The rows of <paramref name="points"/>, <see cref="ChunkRows"/> at a time, each with its first row's index.</summary>
    private static IEnumerable<(long Start, Tensor Rows)> Chunks(Tensor points)
    {
        for (long start = 0; start < points.shape[0]; start += ChunkRows)
        {
            yield return (start, points.narrow(0, start, Math.Min(ChunkRows, points.shape[0] - start)));
        }
    }
}
