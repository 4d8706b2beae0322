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

    [Fact]
    public void Given_no_decay_When_the_learning_rate_is_read_Then_it_warms_up_linearly_then_stays_constant()
    {
        var config = Config(null);

        Assert.Equal(1e-4, config.LearningRateAt(0), 15);
        Assert.Equal(5e-4, config.LearningRateAt(4), 15);
        Assert.Equal(1e-3, config.LearningRateAt(9));
        Assert.Equal(1e-3, config.LearningRateAt(199));
    }

    [Fact]
    public void Given_a_cosine_decay_from_step_100_When_the_learning_rate_is_read_Then_it_is_constant_before_and_falls_along_a_half_cosine_to_0()
    {
        var config = Config(100);

        Assert.Equal(Config(null).LearningRateAt(99), config.LearningRateAt(99));
        Assert.Equal(1e-3, config.LearningRateAt(100));
        Assert.Equal(0.5e-3, config.LearningRateAt(150), 15);
        Assert.Equal(0.5e-3 * (1 + Math.Cos(Math.PI * 99 / 100)), config.LearningRateAt(199), 15);
        Assert.InRange(config.LearningRateAt(199), 1e-8, 1e-6);
    }

    [Theory]
    [InlineData(200)]
    [InlineData(-1)]
    public void Given_a_decay_start_outside_the_run_When_validated_Then_the_error_names_CosineDecayFrom(int from)
    {
        var error = Assert.Throws<ArgumentException>(() => Config(from).Validate());

        Assert.Contains("CosineDecayFrom must be in 0 … Steps − 1", error.Message);
    }
}
