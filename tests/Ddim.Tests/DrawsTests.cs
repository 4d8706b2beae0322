using Ddim.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public sealed class DrawsTests : OneTorchThread
{
    [Fact]
    public void Given_a_seed_When_drawn_on_the_cpu_Then_the_values_are_torchs_own_draws_from_that_generator()
    {
        // Given
        using var scope = NewDisposeScope();
        using var a = new Generator(7);
        using var b = new Generator(7);

        // When
        var normal = Draws.Normal([3, 1, 4, 4], ScalarType.Float32, CPU, a);
        var integers = Draws.Integers(1000, 16, CPU, a);

        // Then: the same numbers as libtorch's CPU draws in the same order, so CPU runs keep their bytes.
        Assert.True(normal.eq(torch.randn([3, 1, 4, 4], generator: b)).all().item<bool>());
        Assert.True(integers.eq(torch.randint(1000, [16], dtype: ScalarType.Int64, generator: b)).all().item<bool>());
        Assert.Equal(ScalarType.Int64, integers.dtype);
        Assert.Equal(DeviceType.CPU, normal.device_type);
    }

    [Fact]
    public void Given_one_generator_When_drawn_twice_Then_the_draws_differ_and_the_same_seed_repeats_them()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        var first = Draws.Normal([8], ScalarType.Float64, CPU, g);
        var second = Draws.Normal([8], ScalarType.Float64, CPU, g);
        using var again = new Generator(3);

        Assert.False(first.eq(second).all().item<bool>());
        Assert.True(first.eq(Draws.Normal([8], ScalarType.Float64, CPU, again)).all().item<bool>());
    }
}
