using Ddim.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public class ManifoldScoresTests : OneTorchThread
{
    private static Tensor Features(int n, int d, ulong seed)
    {
        using var gen = new Generator(seed);
        return randn([n, d], dtype: ScalarType.Float64, generator: gen);
    }

    [Fact]
    public void Given_a_feature_set_When_compared_with_itself_Then_precision_recall_and_coverage_are_1_and_density_is_k_plus_1_over_k()
    {
        // Given
        using var scope = NewDisposeScope();
        var features = Features(300, 8, 1);

        // When
        var pr = ManifoldScores.Compute(features, features);

        // Then: every point lies in its own ball, and in the balls of the k points that count it among their k nearest
        Assert.Equal(1.0, pr.Precision);
        Assert.Equal(1.0, pr.Recall);
        Assert.Equal(1.0, pr.Coverage);
        Assert.Equal((ManifoldScores.DensityCoverageK + 1.0) / ManifoldScores.DensityCoverageK, pr.Density, 1e-12);
        Assert.Equal(300, pr.RealCount);
    }

    [Fact]
    public void Given_two_draws_of_one_distribution_When_compared_Then_every_score_is_near_its_real_data_value()
    {
        // Given
        using var scope = NewDisposeScope();
        var real = Features(1000, 4, 2);
        var generated = Features(1000, 4, 3);

        // When
        var pr = ManifoldScores.Compute(real, generated);

        // Then
        Assert.InRange(pr.Precision, 0.85, 1);
        Assert.InRange(pr.Recall, 0.85, 1);
        Assert.InRange(pr.Precision - pr.Recall, -0.05, 0.05);
        Assert.InRange(pr.Density, 0.85, 1.15);
        Assert.InRange(pr.Coverage, 0.9, 1);
    }

    [Fact]
    public void Given_a_generated_set_far_from_the_real_one_When_compared_Then_every_score_is_0()
    {
        // Given
        using var scope = NewDisposeScope();
        var real = Features(200, 8, 4);
        var generated = Features(200, 8, 5) + 100;

        // When
        var pr = ManifoldScores.Compute(real, generated);

        // Then
        Assert.Equal(0.0, pr.Precision);
        Assert.Equal(0.0, pr.Recall);
        Assert.Equal(0.0, pr.Density);
        Assert.Equal(0.0, pr.Coverage);
    }

    [Theory]
    [InlineData(0.25, 0.95, 1.0, 0.0, 0.5, 0.0, 0.6, 1.0, 2.0)] // realistic but not varied, as a mode-seeking sampler makes: precision stays, recall and coverage fall, density passes 1
    [InlineData(3.0, 0.0, 0.5, 0.95, 1.0, 0.0, 0.5, 0.0, 0.5)]  // varied but often unrealistic: precision and density fall; recall stays, inflated by the wide balls, and coverage does not
    public void Given_a_generated_set_narrower_or_wider_than_the_real_one_When_compared_Then_the_scores_tell_fidelity_from_diversity(
        double spread, double precisionLow, double precisionHigh, double recallLow, double recallHigh, double coverageLow, double coverageHigh, double densityLow, double densityHigh)
    {
        // Given
        using var scope = NewDisposeScope();
        var real = Features(1000, 4, 6);
        var generated = Features(1000, 4, 7) * spread;

        // When
        var pr = ManifoldScores.Compute(real, generated);

        // Then
        Assert.InRange(pr.Precision, precisionLow, precisionHigh);
        Assert.InRange(pr.Recall, recallLow, recallHigh);
        Assert.InRange(pr.Coverage, coverageLow, coverageHigh);
        Assert.InRange(pr.Density, densityLow, densityHigh);
    }

    [Theory]
    [InlineData(1100, 1300)]
    [InlineData(2100, 1500)]
    public void Given_sets_larger_than_one_chunk_with_many_tied_distances_When_compared_Then_every_score_equals_a_brute_force_count(int realCount, int generatedCount)
    {
        // Given: integer features, so that distances are exact and many of them tie with a ball's radius
        using var scope = NewDisposeScope();
        var real = Features(realCount, 3, 4).mul(5).round();
        var generated = Features(generatedCount, 3, 5).mul(3).round();

        // When: fitted once, then two sets scored against it
        var fitted = RealManifold.Fit(real);
        var first = fitted.Score(generated);
        var second = fitted.Score(generated);

        // Then
        var r = Rows(real);
        var g = Rows(generated);
        var realPr = Radii(r, ManifoldScores.PrecisionRecallK);
        var realDc = Radii(r, ManifoldScores.DensityCoverageK);
        var generatedPr = Radii(g, ManifoldScores.PrecisionRecallK);
        var precise = g.Count(x => r.Where((y, j) => Distance(x, y) <= realPr[j]).Any());
        var recalled = r.Count(y => g.Where((x, i) => Distance(y, x) <= generatedPr[i]).Any());
        var inBalls = g.Sum(x => r.Where((y, j) => Distance(x, y) <= realDc[j]).Count());
        var covered = r.Where((y, j) => g.Any(x => Distance(x, y) <= realDc[j])).Count();
        var expected = new ManifoldScores(
            (double)precise / g.Length, (double)recalled / r.Length, (double)inBalls / (ManifoldScores.DensityCoverageK * g.Length), (double)covered / r.Length, r.Length);
        Assert.InRange(expected.Recall, 0.5, 0.95);
        Assert.Equal(expected, first);
        Assert.Equal(expected, second);
        Assert.Equal(expected, ManifoldScores.Compute(real, generated));
    }

    [Fact]
    public void Given_float_features_in_sets_larger_than_one_chunk_When_compared_Then_recall_equals_a_count_made_from_the_real_side()
    {
        // Given
        using var scope = NewDisposeScope();
        var real = Features(1100, 8, 6);
        var generated = Features(1300, 8, 7) * 0.7;

        // When
        var recall = ManifoldScores.Compute(real, generated).Recall;

        // Then: each real row against every generated ball, with the real rows first (the transpose of what Score computes)
        var generatedRadii = cdist(generated, generated, compute_mode: compute_mode.donot_use_mm_for_euclid_dist)
            .topk(ManifoldScores.PrecisionRecallK + 1, dim: 1, largest: false).values[.., ManifoldScores.PrecisionRecallK];
        var inside = cdist(real, generated, compute_mode: compute_mode.donot_use_mm_for_euclid_dist).le(generatedRadii.unsqueeze(0)).any(1);
        Assert.InRange(recall, 0.3, 0.97);
        Assert.Equal(inside.sum().item<long>() / 1100.0, recall);
    }

    private static double[][] Rows(Tensor features) =>
        Enumerable.Range(0, (int)features.shape[0]).Select(i => features[i].data<double>().ToArray()).ToArray();

    private static double Distance(double[] a, double[] b) => Math.Sqrt(a.Zip(b, (u, v) => (u - v) * (u - v)).Sum());

    /// <summary>Each point's distance to its k-th nearest other point (itself excluded once).</summary>
    private static double[] Radii(double[][] points, int k) =>
        points.Select(p => points.Select(q => Distance(p, q)).Order().ElementAt(k)).ToArray();

    [Theory]
    [InlineData(5, 10, 4, "need more than 5 images in each set; got 5 real and 10 generated")]
    [InlineData(10, 5, 4, "need more than 5 images in each set; got 10 real and 5 generated")]
    [InlineData(10, 10, 5, "Manifold scores need two feature matrices of the same width")]
    public void Given_too_few_or_mismatched_features_When_compared_Then_a_clear_error_says_what_is_wrong(int realCount, int generatedCount, int generatedWidth, string expected)
    {
        // Given
        using var scope = NewDisposeScope();
        var real = Features(realCount, 4, 10);
        var generated = Features(generatedCount, generatedWidth, 11);

        // When
        var error = Assert.Throws<ArgumentException>(() => ManifoldScores.Compute(real, generated));

        // Then
        Assert.Contains(expected, error.Message);
    }
}
