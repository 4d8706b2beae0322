using Ddim.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public class FrechetDistanceTests : OneTorchThread
{
    private static Tensor CorrelatedFeatures(int n, int d, ulong seed)
    {
        using var gen = new Generator(seed);
        var mixing = randn([d, d], dtype: ScalarType.Float64, generator: gen) / Math.Sqrt(d);
        return randn([n, d], dtype: ScalarType.Float64, generator: gen).mm(mixing) + 0.5;
    }

    [Fact]
    public void Given_a_feature_set_When_compared_with_itself_Then_FID_is_about_0()
    {
        // Given
        using var scope = NewDisposeScope();
        var features = CorrelatedFeatures(400, 16, 1);

        // When
        var fid = FrechetDistance.Compute(features, features);

        // Then
        Assert.InRange(fid, 0, 1e-8);
    }

    [Fact]
    public void Given_a_copy_of_a_set_shifted_by_a_constant_When_compared_Then_FID_is_the_squared_shift_and_all_of_it_is_the_mean_part()
    {
        // Given
        using var scope = NewDisposeScope();
        var features = CorrelatedFeatures(400, 16, 4);
        var shift = linspace(-0.4, 0.6, 16, dtype: ScalarType.Float64);
        var squaredShift = shift.dot(shift).item<double>();

        // When
        var terms = FrechetDistance.Terms(GaussianFit.FromFeatures(features + shift), GaussianFit.FromFeatures(features));

        // Then
        Assert.Equal(squaredShift, terms.Mean, 1e-12);
        Assert.InRange(Math.Abs(terms.Covariance), 0, 1e-8);
        Assert.Equal(squaredShift, terms.Total, 1e-8);
    }

    [Fact]
    public void Given_two_different_sets_When_split_into_terms_Then_the_parts_add_up_to_FID_exactly()
    {
        // Given: sets that differ both in mean and in spread
        using var scope = NewDisposeScope();
        var a = GaussianFit.FromFeatures(CorrelatedFeatures(500, 8, 5));
        var b = GaussianFit.FromFeatures(CorrelatedFeatures(500, 8, 6) * 1.5);

        // When
        var terms = FrechetDistance.Terms(a, b);

        // Then
        var meanShift = a.Mean.Zip(b.Mean, (x, y) => (x - y) * (x - y)).Sum();
        Assert.Equal(meanShift, terms.Mean, 1e-12);
        Assert.True(terms.Covariance > 0.1 * terms.Total, $"the spread part ({terms.Covariance}) should be a real share of FID ({terms.Total})");
        Assert.Equal(FrechetDistance.Compute(a, b), terms.Total);
        Assert.Equal(terms.Mean + terms.Covariance, terms.Total, 1e-12);
    }

    [Fact]
    public void Given_a_correlated_set_and_the_same_set_scaled_by_1_5_When_compared_Then_each_term_has_its_closed_form()
    {
        // Given: Σc = 2.25·Σa (full, not diagonal), so (Σa·Σc)^½ = 1.5·Σa and tr(Σa + Σc − 2·(Σa·Σc)^½) = 0.25·tr(Σa);
        // the means differ by 0.5·μa
        using var scope = NewDisposeScope();
        var features = CorrelatedFeatures(500, 8, 5);
        var a = GaussianFit.FromFeatures(features);
        var c = GaussianFit.FromFeatures(features * 1.5);

        // When
        var terms = FrechetDistance.Terms(a, c);

        // Then
        var trace = Enumerable.Range(0, a.Dimension).Sum(i => a.Covariance[(i * a.Dimension) + i]);
        Assert.Equal(0.25 * trace, terms.Covariance, 1e-9);
        Assert.Equal(0.25 * a.Mean.Sum(m => m * m), terms.Mean, 1e-12);
    }

    [Fact]
    public void Given_growing_Gaussian_noise_When_added_to_a_feature_set_Then_FID_grows_monotonically()
    {
        // Given
        using var scope = NewDisposeScope();
        var reference = CorrelatedFeatures(2000, 12, 2);
        var clean = CorrelatedFeatures(2000, 12, 2);
        using var gen = new Generator(3);
        var noise = randn(clean.shape, dtype: ScalarType.Float64, generator: gen);
        var levels = new[] { 0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0 };

        // When
        var fids = levels.Select(s => FrechetDistance.Compute(reference, clean + (noise * s))).ToArray();

        // Then
        Assert.InRange(fids[0], 0, 1e-8);
        for (var i = 1; i < fids.Length; i++)
        {
            Assert.True(fids[i] > fids[i - 1], $"FID at noise {levels[i]} ({fids[i]}) should exceed FID at {levels[i - 1]} ({fids[i - 1]})");
        }
    }

    [Fact]
    public void Given_two_Gaussians_with_diagonal_covariances_When_compared_Then_FID_matches_the_closed_form()
    {
        // Given N(μ₁, diag(v₁)) and N(μ₂, diag(v₂)): d² = ‖μ₁ − μ₂‖² + Σᵢ (√v₁ᵢ − √v₂ᵢ)²
        double[] mu1 = [0.0, 1.0, -2.0, 3.5];
        double[] mu2 = [0.5, 1.0, 0.0, 3.0];
        double[] v1 = [1.0, 4.0, 0.25, 9.0];
        double[] v2 = [2.0, 1.0, 0.25, 0.01];
        var expected = mu1.Zip(mu2, (a, b) => (a - b) * (a - b)).Sum() + v1.Zip(v2, (a, b) => Math.Pow(Math.Sqrt(a) - Math.Sqrt(b), 2)).Sum();

        // When
        var fid = FrechetDistance.Compute(new GaussianFit(100, mu1, Diagonal(v1)), new GaussianFit(100, mu2, Diagonal(v2)));

        // Then
        Assert.Equal(expected, fid, 1e-10);
    }

    [Fact]
    public void Given_two_non_commuting_2x2_covariances_When_compared_Then_FID_matches_the_2x2_closed_form()
    {
        // Given: for 2×2 A with non-negative eigenvalues, Tr√A = √(Tr A + 2√det A); here A = Σ₁Σ₂.
        double[] s1 = [2.0, 0.8, 0.8, 1.0];
        double[] s2 = [0.5, -0.3, -0.3, 3.0];
        double[] mu = [0.0, 0.0];
        var product = new[]
        {
            (s1[0] * s2[0]) + (s1[1] * s2[2]), (s1[0] * s2[1]) + (s1[1] * s2[3]),
            (s1[2] * s2[0]) + (s1[3] * s2[2]), (s1[2] * s2[1]) + (s1[3] * s2[3]),
        };
        var det = (product[0] * product[3]) - (product[1] * product[2]);
        var trSqrt = Math.Sqrt(product[0] + product[3] + (2 * Math.Sqrt(det)));
        var expected = s1[0] + s1[3] + s2[0] + s2[3] - (2 * trSqrt);

        // When
        var fid = FrechetDistance.Compute(new GaussianFit(10, mu, s1), new GaussianFit(10, mu, s2));

        // Then
        Assert.Equal(expected, fid, 1e-10);
    }

    [Fact]
    public void Given_fewer_vectors_than_dimensions_When_compared_Then_FID_is_finite_and_not_negative()
    {
        using var scope = NewDisposeScope();
        var a = CorrelatedFeatures(5, 32, 4);
        var b = CorrelatedFeatures(5, 32, 5);

        var fid = FrechetDistance.Compute(a, b);

        Assert.True(double.IsFinite(fid) && fid >= 0, $"FID {fid}");
    }

    [Fact]
    public void Given_three_vectors_in_512_dimensions_When_compared_with_themselves_Then_the_covariance_part_is_0_to_rounding()
    {
        // Given: a covariance of rank 2 in 512 dimensions, whose 510 zero eigenvalues come out as rounding noise
        using var scope = NewDisposeScope();
        var fit = GaussianFit.FromFeatures(randn([3, 512], generator: new Generator(11)) * 30);

        // When
        var terms = FrechetDistance.Terms(fit, fit);

        // Then: the noise's square roots used to add up to a covariance part of about −0.6 here
        Assert.True(Math.Abs(terms.Covariance) < 1e-9 * terms.Traces, $"covariance part {terms.Covariance} of traces {terms.Traces}");
    }

    [Fact]
    public void Given_features_in_uneven_batches_When_accumulated_Then_mean_and_covariance_match_the_one_shot_fit()
    {
        // Given
        using var scope = NewDisposeScope();
        var features = CorrelatedFeatures(103, 6, 6) * 100 + 1000;
        var streamed = new FeatureStatistics(6);

        // When
        foreach (var (start, length) in new[] { (0, 1), (1, 7), (8, 50), (58, 45) })
        {
            streamed.Add(features.narrow(0, start, length));
        }

        var fit = streamed.ToGaussian();

        // Then
        Assert.Equal(103, fit.Count);
        TensorAssert.Close(fit.Mean, features.mean([0]), 1e-9);
        TensorAssert.Close(fit.Covariance, features.t().cov(), 1e-6);
    }

    [Fact]
    public void Given_feature_sets_of_different_dimensions_When_compared_Then_a_clear_error()
    {
        var a = new GaussianFit(10, [0.0, 0.0], [1.0, 0, 0, 1.0]);
        var b = new GaussianFit(10, [0.0], [1.0]);

        var e = Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(a, b));
        Assert.Contains("same judge", e.Message);
    }

    [Fact]
    public void Given_features_that_are_not_a_matrix_or_not_finite_When_compared_Then_a_clear_error_instead_of_one_from_libtorch()
    {
        using var vector = zeros(10, dtype: ScalarType.Float64);
        var nan = new GaussianFit(10, [double.NaN, 0.0], [1.0, 0, 0, 1.0]);
        var fine = new GaussianFit(10, [0.0, 0.0], [1.0, 0, 0, 1.0]);

        var shape = Assert.Throws<ArgumentException>(() => GaussianFit.FromFeatures(vector));
        var notFinite = Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(nan, fine));

        Assert.Contains("Features must be a matrix [N, D], one row per image; got shape [10]", shape.Message);
        Assert.Contains("holds NaN or ∞", notFinite.Message);
    }

    [Theory]
    [InlineData(new long[] { 5, 5, 5, 5 }, 0.0)]
    [InlineData(new long[] { 0, 0, 20, 0 }, 1.3862943611198906)]
    [InlineData(new long[] { 1, 3 }, 0.13081203594113697)]
    [InlineData(new long[] { 0, 0, 0 }, double.NaN)] // no predictions: no balance to speak of, not "perfectly balanced"
    public void Given_class_counts_When_KL_from_uniform_is_taken_Then_it_matches(long[] counts, double expected)
    {
        Assert.Equal(expected, ClassBalance.KlFromUniform(counts), 1e-9);
    }

    private static double[] Diagonal(double[] values)
    {
        var m = new double[values.Length * values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            m[(i * values.Length) + i] = values[i];
        }

        return m;
    }
}
