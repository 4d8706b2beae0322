using Ddim.Sampling;
using static TorchSharp.torch;

namespace Ddim.Tests;

public class DdimStepTests
{
    public static TheoryData<int> Cases => Golden.Indices("steps");

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_reference_step_When_applied_in_float64_Then_sigma_x0_and_x_next_match_to_1e_9(int index) =>
        CheckStep(index, ScalarType.Float64, 1e-9);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_reference_step_When_applied_in_float32_Then_x0_and_x_next_match_to_1e_4(int index) =>
        CheckStep(index, ScalarType.Float32, 1e-4); // float32 leaves up to ~2e-5 here, where x̂0 reaches 180 (its spacing there is 1.5e-5)

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Given_eta_out_of_range_When_validating_Then_a_clear_error(double eta)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new DdimOptions(Eta: eta).Validate());
        Assert.Contains("η must be between 0", error.Message);
    }

    [Theory]
    [InlineData(0.0, 0.5, 0.0, "ᾱ_t and ᾱ_next must be in (0, 1]")]
    [InlineData(0.5, 1.5, 0.0, "ᾱ_t and ᾱ_next must be in (0, 1]")]
    [InlineData(double.NaN, 0.5, 0.0, "ᾱ_t and ᾱ_next must be in (0, 1]")]
    [InlineData(1.0, 0.5, 0.5, "ᾱ_t = 1 (clean data) has no noise")]
    [InlineData(0.5, 0.9, 2.0, "η must be between 0")]
    [InlineData(0.5, 0.4, 0.5, "A stochastic step (η > 0 or σ̂) goes toward clean data")]
    public void Given_an_impossible_step_When_taken_directly_Then_a_clear_error_instead_of_NaNs(double alphaBarT, double alphaBarNext, double eta, string phrase)
    {
        // Given
        using var scope = NewDisposeScope();
        var x = zeros(2, 3);

        // When
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => DdimSampler.Step(x, x, alphaBarT, alphaBarNext, new DdimOptions(Eta: eta), zeros(2, 3)));

        // Then
        Assert.Contains(phrase, error.Message);
    }

    [Fact]
    public void Given_the_ends_of_the_schedule_When_sigma_is_asked_for_Then_the_step_to_x0_has_none_and_a_stochastic_step_from_x0_is_refused()
    {
        // Given / When / Then: to ᾱ = 1 eq. 16 is 0·(0/…) even from ᾱ_t = 1, where it would read 0/0
        Assert.Equal(0.0, DdimSampler.Sigma(0.5, 1.0, 1.0));
        Assert.Equal(0.0, DdimSampler.Sigma(1.0, 1.0, 0.5));
        Assert.Equal(0.0, DdimSampler.Sigma(1.0, 0.5, 0.0));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => DdimSampler.Sigma(1.0, 0.5, 0.5));
        Assert.Contains("from ᾱ_t = 1 has no σ", error.Message);
    }

    [Fact]
    public void Given_clean_data_When_the_first_inversion_step_is_taken_Then_it_adds_noise_along_eps()
    {
        // Given: x0 = 0.5 and ε̂ = 1 at ᾱ_t = 1, the clean end.
        using var scope = NewDisposeScope();
        var x0 = full(2, 3, 0.5);
        var eps = ones(2, 3);

        // When: the η = 0 step to ᾱ = 0.64, as inversion takes it (the checks must let it through).
        var (xNext, predX0) = DdimSampler.Step(x0, eps, 1.0, 0.64, new DdimOptions(Eta: 0, ClipDenoised: false), null);

        // Then: x_next = 0.8·x0 + 0.6·ε̂.
        TensorAssert.Close([.. Enumerable.Repeat((0.8 * 0.5) + 0.6, 6)], xNext, 1e-6);
        TensorAssert.Close([.. Enumerable.Repeat(0.5, 6)], predX0, 1e-6);
    }

    private static void CheckStep(int index, ScalarType dtype, double tolerance)
    {
        // Given
        var r = Golden.Item("steps", index);
        using var scope = NewDisposeScope();
        var x = TensorAssert.From(r.GetProperty("x_t").Doubles(), dtype);
        var eps = TensorAssert.From(r.GetProperty("eps").Doubles(), dtype);
        var z = TensorAssert.From(r.GetProperty("z").Doubles(), dtype);
        var abarT = r.GetProperty("abar_t").GetDouble();
        var abarNext = r.GetProperty("abar_next").GetDouble();
        var eta = r.GetProperty("eta").GetDouble();
        // The reference's clipped steps keep the network's ε̂ ("ε is NOT re-derived"), the tutorial's form.
        var options = new DdimOptions(Eta: eta, ClipDenoised: r.GetProperty("clip").GetBoolean(), RederiveNoise: false);

        // When
        var sigma = DdimSampler.Sigma(abarT, abarNext, eta);
        var (xNext, predX0) = DdimSampler.Step(x, eps, abarT, abarNext, options, z);

        // Then
        Assert.Equal(r.GetProperty("sigma").GetDouble(), sigma, 1e-12);
        TensorAssert.Close(r.GetProperty("pred_x0").Doubles(), predX0, tolerance);
        TensorAssert.Close(r.GetProperty("x_next").Doubles(), xNext, tolerance);
        Assert.Equal(dtype, xNext.dtype);
    }
}
