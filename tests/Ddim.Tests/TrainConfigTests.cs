using Ddim.Evaluation;
using Ddim.Models;
using Ddim.Training;

namespace Ddim.Tests;

public sealed class TrainConfigTests
{
    private static readonly UNetConfig Net = new(
        ImageChannels: 1, ImageSize: 8, BaseChannels: 8, ChannelMultipliers: [1, 2], BlocksPerLevel: 1,
        AttentionResolutions: [], Dropout: 0.0, Groups: 4);

    private static TrainConfig Config(int? decayFrom) =>
        new(Net, Steps: 200, LearningRate: 1e-3, WarmupSteps: 10, CosineDecayFrom: decayFrom);

    [Theory]
    [InlineData(0.9995, true, 17_990)]
    [InlineData(0.999, true, 8_990)]
    [InlineData(0.9999, true, 89_990)]
    [InlineData(0.0, true, 0)]
    [InlineData(0.9995, false, 0)]
    public void Given_an_EMA_decay_When_asked_where_the_warm_up_reaches_it_Then_the_first_step_that_uses_it(double decay, bool warmup, long expected)
    {
        // Given
        var config = Config(null) with { EmaDecay = decay, EmaWarmup = warmup };

        // When
        var reached = config.EmaDecayReachedAt;

        // Then: that step uses the full decay and the one before it does not (the quotient's rounding gave 17,991 once)
        Assert.Equal(expected, reached);
        Assert.Equal(decay, config.EmaDecayAt(reached));
        Assert.True(reached == 0 || config.EmaDecayAt(reached - 1) < decay);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    public void Given_no_decay_When_the_learning_rate_is_read_Then_it_is_bit_identical_to_warm_up_then_constant(int warmup)
    {
        // Given: the formula runs made before CosineDecayFrom existed were trained with (their resumes depend on it).
        var config = Config(null) with { WarmupSteps = warmup };
        double Before(long step) => warmup == 0 ? 1e-3 : 1e-3 * Math.Min(1.0, (step + 1.0) / warmup);

        // When / Then
        for (var step = 0L; step < config.Steps; step++)
        {
            Assert.Equal(Before(step), config.LearningRateAt(step));
        }

        Assert.Equal(1e-4, Config(null).LearningRateAt(0), 15);
        Assert.Equal(1e-3, Config(null).LearningRateAt(199));
    }

    [Fact]
    public void Given_the_judges_cosine_When_read_through_CosineDecay_Then_it_is_bit_identical_to_its_earlier_formula()
    {
        // Given: the formula the bundled judge was trained with.
        var judge = new JudgeTrainConfig(new JudgeConfig(), LearningRate: 2e-3);
        double Before(long step, long total) => 0.5 * 2e-3 * (1 + Math.Cos(Math.PI * step / Math.Max(total, 1)));

        // When / Then
        foreach (var total in new long[] { 0, 1, 7, 1407 })
        {
            for (var step = 0L; step < Math.Max(total, 1); step++)
            {
                Assert.Equal(Before(step, total), judge.LearningRateAt(step, total));
            }
        }
    }

    [Fact]
    public void Given_a_cosine_decay_from_step_100_When_the_learning_rate_is_read_Then_it_is_constant_before_and_falls_along_a_half_cosine_to_0()
    {
        var config = Config(100);

        Assert.Equal(Config(null).LearningRateAt(99), config.LearningRateAt(99));
        Assert.Equal(1e-3, config.LearningRateAt(100));
        Assert.Equal(0.5e-3, config.LearningRateAt(150), 15);
        Assert.Equal(2.4672e-7, config.LearningRateAt(199), 11); // ≈ 1e-3·π²/(4·100²): small, never 0 inside the run
    }

    [Fact]
    public void Given_a_decay_re_planned_twice_When_the_learning_rate_is_read_Then_each_stage_falls_from_where_the_last_left_off()
    {
        // Given: 200 steps decaying from 100, re-planned at step 150 to end at 300, and at step 250 to end at 260
        var first = Config(100);
        var second = first with { Steps = 300, DecayReplans = [new DecayReplan(150, 200)] };
        var third = first with { Steps = 260, DecayReplans = [new DecayReplan(150, 200), new DecayReplan(250, 300)] };
        third.Validate();

        // When / Then: each plan keeps the rates of the steps before its re-plan, bit for bit
        Assert.All(Enumerable.Range(0, 150), s => Assert.Equal(first.LearningRateAt(s), second.LearningRateAt(s)));
        Assert.All(Enumerable.Range(0, 250), s => Assert.Equal(second.LearningRateAt(s), third.LearningRateAt(s)));

        // ... and goes on from step 149's rate along a half-cosine over the 151 steps from 149 to 300
        Assert.Equal(1.0, second.LearningRateAt(224) / (first.LearningRateAt(149) * CosineDecay.Factor(75, 151)), 12);
        Assert.All(Enumerable.Range(101, 159), s => Assert.True(third.LearningRateAt(s) < third.LearningRateAt(s - 1)));
        Assert.Equal(1.0, third.LearningRateAt(259) / (third.LearningRateAt(249) * CosineDecay.Factor(10, 11)), 12);
        Assert.Equal(third.DecayFactorAt(259) * 1e-3, third.LearningRateAt(259));
    }

    [Theory]
    [InlineData(null, 150, 200, 300, "DecayReplans needs CosineDecayFrom")]
    [InlineData(100, 100, 200, 300, "each re-plan must come after CosineDecayFrom")]
    [InlineData(100, 150, 149, 300, "each re-plan must come after CosineDecayFrom")]
    [InlineData(100, 150, 200, 149, "ends before the last decay re-plan, at step 150: Steps must be 150 or more")]
    public void Given_decay_re_plans_that_do_not_fit_When_validated_Then_the_error_names_DecayReplans(int? from, long at, int previous, int steps, string expected)
    {
        var config = Config(from) with { Steps = steps, DecayReplans = [new DecayReplan(at, previous)] };

        var error = Assert.Throws<ArgumentException>(config.Validate);

        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData(200)]
    [InlineData(-1)]
    public void Given_a_decay_start_outside_the_run_When_validated_Then_the_error_names_CosineDecayFrom(int from)
    {
        var error = Assert.Throws<ArgumentException>(() => Config(from).Validate());

        Assert.Contains("CosineDecayFrom must be in 0 … Steps − 1", error.Message);
    }

    [Theory]
    [InlineData(new[] { 500 })]
    [InlineData(new[] { -1, 10 })]
    [InlineData(new[] { 10, 10 })]
    [InlineData(new[] { 0, 1001 })]
    public void Given_a_bad_timestep_range_When_validated_Then_the_error_names_TimestepRange(int[] range)
    {
        var error = Assert.Throws<ArgumentException>(() => (Config(null) with { TimestepRange = range }).Validate());

        Assert.Contains("TimestepRange must be [lo, hi] with 0 ≤ lo < hi ≤ TimeSteps = 1000, t drawn from lo … hi − 1", error.Message);
    }

    [Fact]
    public void Given_a_timestep_range_When_validated_Then_it_is_accepted()
    {
        (Config(null) with { TimestepRange = [150, 550] }).Validate();
        (Config(null) with { TimestepRange = [0, 1000] }).Validate();
    }

    [Fact]
    public void Given_a_precision_that_is_not_defined_When_validated_Then_the_error_names_Precision()
    {
        var config = new TrainConfig(new UNetConfig()) with { Precision = (NetworkPrecision)2 };

        var error = Assert.Throws<ArgumentException>(config.Validate);

        Assert.Contains("Precision must be Float32 or BFloat16", error.Message);
    }

    [Theory]
    [InlineData(new[] { 16 }, "[16] names a size no level of this U-Net has: with ImageSize 8 and 2 levels its feature maps are 8, 4 pixels wide.")]
    [InlineData(new[] { 4, 2 }, "[4, 2] names a size no level")]
    public void Given_attention_at_a_size_no_level_has_When_validated_Then_the_error_lists_the_sizes_there_are(int[] sizes, string expected)
    {
        // Given: an 8-pixel, 2-level U-Net, whose feature maps are 8 and 4 pixels wide
        var config = Config(null) with { Model = Net with { AttentionResolutions = sizes } };

        // When
        var error = Assert.Throws<ArgumentException>(config.Validate);

        // Then: not a U-Net that silently has no attention
        Assert.Contains(expected, error.Message);
        (Config(null) with { Model = Net with { AttentionResolutions = [4] } }).Validate();
    }

    [Fact]
    public void Given_a_preset_without_a_model_or_with_an_undefined_schedule_When_validated_Then_the_error_names_the_field()
    {
        var noModel = Assert.Throws<ArgumentException>((Config(null) with { Model = null! }).Validate);
        var schedule = Assert.Throws<ArgumentException>((Config(null) with { Schedule = (Ddim.Schedules.ScheduleKind)5 }).Validate);

        Assert.Contains("Model is missing: copy the \"Model\" block", noModel.Message);
        Assert.Contains("Schedule must be Linear or Cosine (got 5)", schedule.Message);
    }
}
