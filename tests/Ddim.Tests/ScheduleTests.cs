using Ddim.Schedules;

namespace Ddim.Tests;

public class ScheduleTests
{
    public static TheoryData<int> Cases => Golden.Indices("schedules");

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_reference_schedule_When_built_Then_every_alpha_bar_matches_to_1e_9(int index)
    {
        // Given
        var reference = Golden.Item("schedules", index);
        var kind = reference.GetProperty("kind").GetString() == "linear" ? ScheduleKind.Linear : ScheduleKind.Cosine;
        var t = reference.GetProperty("T").GetInt32();

        // When
        var schedule = NoiseSchedule.Create(kind, t);

        // Then
        var ts = reference.GetProperty("t").Ints();
        var expected = reference.GetProperty("alphas_cumprod").Doubles();
        for (var i = 0; i < ts.Length; i++)
        {
            Assert.Equal(expected[i], schedule.AlphaBar(ts[i]), 1e-9);
            Assert.InRange(Math.Abs(schedule.AlphaBar(ts[i]) - expected[i]) / expected[i], 0, 1e-9);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(300)]
    [InlineData(1000)]
    public void Given_any_T_When_linear_Then_betas_run_from_1e_4_to_0_02_and_alpha_bar_falls(int t)
    {
        var schedule = NoiseSchedule.Linear(t);

        Assert.Equal(t, schedule.T);
        Assert.Equal(1e-4, schedule.Betas[0], 1e-15);
        Assert.Equal(0.02, schedule.Betas[^1], 1e-15);
        Assert.Equal(1.0, schedule.AlphaBar(-1));
        for (var i = 1; i < t; i++)
        {
            Assert.True(schedule.AlphaBars[i] < schedule.AlphaBars[i - 1]);
        }
    }

    [Fact]
    public void Given_a_first_beta_too_small_to_add_noise_When_the_schedule_is_made_Then_refused_before_sampling_divides_by_zero()
    {
        // Given / When: 1 − 1e-17 rounds to 1, so ᾱ_0 = 1 and clipped sampling would divide by 1 − ᾱ_0 = 0 at t = 0
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => NoiseSchedule.Linear(1000, 1e-17, 0.02));

        // Then: the default schedules' first steps add far more
        Assert.Contains("first step adds no noise", error.Message);
        Assert.True(1 - NoiseSchedule.Linear(1000).AlphaBars[0] > 1e6 * NoiseSchedule.MinFirstNoise);
        Assert.True(1 - NoiseSchedule.Cosine(1000).AlphaBars[0] > 1e6 * NoiseSchedule.MinFirstNoise);
    }

    [Fact]
    public void Given_cosine_When_built_Then_beta_never_exceeds_0_999()
    {
        var schedule = NoiseSchedule.Cosine(1000);

        Assert.All(schedule.Betas, b => Assert.InRange(b, 0, 0.999));
        Assert.Equal(0.999, schedule.Betas[^1], 1e-12);
    }

    [Fact]
    public void Given_betas_that_drive_alpha_bar_to_zero_When_building_Then_a_clear_error_names_the_step_and_the_fix()
    {
        // Given / When: β up to 0.999 over 2,000 steps, whose ᾱ underflows (sampling would divide by √ᾱ = 0)
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => NoiseSchedule.Linear(2000, 1e-4, 0.999));

        // Then
        Assert.Contains("ᾱ falls below 1E-70 at t = ", error.Message);
        Assert.Contains("beta_end 0.999", error.Message);
        Assert.Contains("Lower T or the largest β.", error.Message);
        Assert.True(NoiseSchedule.Linear(1000).AlphaBars[^1] > NoiseSchedule.MinAlphaBar); // the defaults stay far above it
        Assert.True(NoiseSchedule.Linear(15000).AlphaBars[^1] > NoiseSchedule.MinAlphaBar);
        Assert.True(NoiseSchedule.Cosine(1000).AlphaBars[^1] > NoiseSchedule.MinAlphaBar);
    }

    [Fact]
    public void Given_a_schedule_When_handed_out_as_float32_Then_values_are_the_rounded_float64()
    {
        var schedule = NoiseSchedule.Linear(1000);

        using var f32 = schedule.AlphaBarTensor();

        Assert.Equal(TorchSharp.torch.ScalarType.Float32, f32.dtype);
        Assert.Equal((float)schedule.AlphaBars[500], f32[500].item<float>());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    [InlineData(-5)]
    public void Given_T_below_2_When_building_Then_a_clear_error(int t)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => NoiseSchedule.Linear(t));
        Assert.Contains("T ≥ 2", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => NoiseSchedule.Cosine(t));
    }

    [Theory]
    [InlineData(double.PositiveInfinity)]
    [InlineData(1e16)]
    [InlineData(double.NaN)]
    [InlineData(-0.1)]
    public void Given_a_cosine_offset_that_is_not_small_When_building_Then_a_clear_error_instead_of_NaN_or_a_flat_schedule(double s)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => NoiseSchedule.Cosine(1000, s));

        Assert.Contains("Cosine schedule needs 0 ≤ s ≤ 1", error.Message);
    }

    [Fact]
    public void Given_a_timestep_out_of_range_When_asking_alpha_bar_Then_a_clear_error()
    {
        var schedule = NoiseSchedule.Linear(10);

        Assert.Contains("outside 0 … 9", Assert.Throws<ArgumentOutOfRangeException>(() => schedule.AlphaBar(10)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => schedule.AlphaBar(-2));
    }
}
