using System.Text.Json;
using Ddim.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public sealed class UNetTests : OneTorchThread
{
    private static UNetConfig Tiny(int channels, int size, bool attention, int[]? multipliers = null) => new(
        ImageChannels: channels,
        ImageSize: size,
        BaseChannels: 8,
        ChannelMultipliers: multipliers ?? [1, 2],
        BlocksPerLevel: 1,
        AttentionResolutions: attention ? [size / 2] : [],
        Dropout: 0.1,
        Groups: 4);

    public static TheoryData<int, int, bool> Shapes => new()
    {
        { 1, 28, false },
        { 1, 28, true },
        { 3, 32, false },
        { 3, 32, true },
        { 3, 28, false },
        { 3, 28, true },
        { 1, 32, false },
        { 1, 32, true },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Given_a_tiny_UNet_When_run_forward_in_train_and_eval_mode_Then_the_output_has_the_input_shape(int channels, int size, bool attention)
    {
        // Given
        using var scope = NewDisposeScope();
        using var net = new UNet(Tiny(channels, size, attention));
        using var gen = new Generator(5);
        var x = randn([2, channels, size, size], generator: gen);
        var t = tensor(new long[] { 0, 999 });

        // When
        net.train();
        var trained = net.forward(x, t);
        net.eval();
        Tensor evaluated;
        using (no_grad())
        {
            evaluated = net.forward(x, t);
        }

        // Then
        Assert.Equal(x.shape, trained.shape);
        Assert.Equal(x.shape, evaluated.shape);
        Assert.Equal(ScalarType.Float32, evaluated.dtype);

        // The output convolution starts at zero, so an untrained network predicts ε̂ = 0 exactly.
        Assert.Equal(0f, evaluated.abs().max().item<float>());
    }

    [Fact]
    public void Given_three_levels_at_28_When_run_forward_Then_28_14_7_needs_no_padding_and_shape_is_kept()
    {
        using var scope = NewDisposeScope();
        using var net = new UNet(Tiny(1, 28, attention: true, multipliers: [1, 2, 2]) with { AttentionResolutions = [7] });
        var x = randn([3, 1, 28, 28], generator: new Generator(1));

        var y = net.forward(x, tensor(new long[] { 1, 2, 3 }));

        Assert.Equal([3L, 1, 28, 28], y.shape);
    }

    [Fact]
    public void Given_attention_on_When_built_Then_it_adds_parameters_and_all_of_them_get_gradients()
    {
        // Given: a non-zero output layer so gradients reach every layer.
        using var scope = NewDisposeScope();
        using var plain = new UNet(Tiny(1, 16, attention: false));
        using var attended = new UNet(Tiny(1, 16, attention: true));
        using (no_grad())
        {
            foreach (var (name, p) in attended.named_parameters().Where(n => n.name.StartsWith("outputConv", StringComparison.Ordinal)))
            {
                p.fill_(0.01);
            }
        }

        // When
        var x = randn([2, 1, 16, 16], generator: new Generator(2));
        attended.forward(x, tensor(new long[] { 10, 500 })).square().mean().backward();

        // Then
        Assert.True(attended.ParameterCount > plain.ParameterCount, $"{attended.ParameterCount} ≤ {plain.ParameterCount}");
        Assert.All(attended.named_parameters(), np =>
        {
            Assert.NotNull(np.parameter.grad);
            Assert.True(np.parameter.grad!.abs().sum().item<float>() > 0, $"no gradient reached {np.name}");
        });
    }

    [Fact]
    public void Given_a_config_When_serialised_to_JSON_and_back_Then_it_builds_a_network_with_the_same_parameter_shapes()
    {
        var config = Tiny(3, 32, attention: true);

        var json = System.Text.Json.JsonSerializer.Serialize(config, ModelFile.Json);
        var back = System.Text.Json.JsonSerializer.Deserialize<UNetConfig>(json, ModelFile.Json)!;
        using var a = new UNet(config);
        using var b = new UNet(back);

        Assert.Equal(config.Multipliers, back.Multipliers);
        Assert.Equal(config.Attention, back.Attention);
        Assert.Equal(
            a.named_parameters().Select(p => (p.name, string.Join("x", p.parameter.shape))),
            b.named_parameters().Select(p => (p.name, string.Join("x", p.parameter.shape))));
    }

    [Fact]
    public void Given_no_attention_anywhere_When_built_Then_no_attention_parameters_remain_and_it_runs()
    {
        // Given
        using var scope = NewDisposeScope();
        var config = Tiny(1, 16, attention: false);
        using var middle = new UNet(config);
        using var none = new UNet(config with { MiddleAttention = false });

        // When
        var y = none.forward(randn([2, 1, 16, 16], generator: new Generator(3)), tensor(new long[] { 1, 99 }));

        // Then: only the middle block's attention parameters are gone.
        Assert.Equal([2L, 1, 16, 16], y.shape);
        var gone = middle.named_parameters().Select(p => p.name).Except(none.named_parameters().Select(p => p.name)).ToList();
        Assert.NotEmpty(gone);
        Assert.All(gone, name => Assert.StartsWith("midAttention.", name));
        Assert.Equal(middle.ParameterCount - gone.Sum(n => middle.named_parameters().First(p => p.name == n).parameter.numel()), none.ParameterCount);
        Assert.DoesNotContain(none.named_parameters(), p => p.name.Contains("ttention", StringComparison.Ordinal)); // none of the block is left
    }

    [Fact]
    public void Given_a_config_saved_before_MiddleAttention_existed_When_read_Then_the_middle_block_has_attention_as_it_had()
    {
        // Given: a config as files have always saved it.
        var config = Tiny(1, 16, attention: false);

        // When
        var node = JsonSerializer.SerializeToNode(config, ModelFile.Json)!.AsObject();
        var back = node.Deserialize<UNetConfig>(ModelFile.Json)!;

        // Then: the default is left out of the file (so files saved before and since are the same bytes), and read back as attention.
        Assert.False(node.ContainsKey(nameof(UNetConfig.MiddleAttention)));
        Assert.True(back.HasMiddleAttention);
        Assert.Equal(config with { MiddleAttention = true }, back);
        Assert.True(JsonSerializer.SerializeToNode(config with { MiddleAttention = false }, ModelFile.Json)!.AsObject().ContainsKey(nameof(UNetConfig.MiddleAttention)));
    }

    [Fact]
    public void Given_two_configs_with_equal_lists_in_different_arrays_When_compared_Then_equal_and_every_field_takes_part()
    {
        // Given
        var a = Tiny(1, 16, attention: true, multipliers: [1, 2]);
        var b = a with { ChannelMultipliers = [1, 2], AttentionResolutions = [.. a.Attention] };

        // Then: equal by value, and a list left out equals its default written out.
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.Equal(new UNetConfig(), new UNetConfig(ChannelMultipliers: [1, 2, 2], AttentionResolutions: [7]));

        // And every field of the record changes equality (a field added later and left out of Equals fails here).
        var changed = new Dictionary<string, UNetConfig>
        {
            [nameof(UNetConfig.ImageChannels)] = a with { ImageChannels = 3 },
            [nameof(UNetConfig.ImageSize)] = a with { ImageSize = 32 },
            [nameof(UNetConfig.BaseChannels)] = a with { BaseChannels = 16 },
            [nameof(UNetConfig.ChannelMultipliers)] = a with { ChannelMultipliers = [1, 1] },
            [nameof(UNetConfig.BlocksPerLevel)] = a with { BlocksPerLevel = 3 },
            [nameof(UNetConfig.AttentionResolutions)] = a with { AttentionResolutions = [] },
            [nameof(UNetConfig.Dropout)] = a with { Dropout = 0.3 },
            [nameof(UNetConfig.Groups)] = a with { Groups = 2 },
            [nameof(UNetConfig.MiddleAttention)] = a with { MiddleAttention = false },
        };
        Assert.Equal(
            typeof(UNetConfig).GetProperties().Where(p => p.CanWrite).Select(p => p.Name).Order(),
            changed.Keys.Order());
        Assert.All(changed, pair => Assert.False(a.Equals(pair.Value), $"{pair.Key} does not take part in Equals"));
    }

    public static TheoryData<UNetConfig, string, string> Invalid => new()
    {
        { Tiny(1, 30, false, [1, 2, 2]), "ImageSize 30 cannot be halved 2 times", "divisible by 4" },
        { Tiny(1, 28, false, [1, 2, 2, 2]), "ImageSize 28 cannot be halved 3 times", "divisible by 8" },
        { Tiny(1, 28, false) with { Groups = 3 }, "Groups = 3 must divide", "8" },
        { Tiny(1, 28, false) with { BaseChannels = 6 }, "Groups = 4 must divide", "6" },
        { Tiny(1, 28, false) with { Dropout = 1.0 }, "Dropout must be in [0, 1)", "got 1" },
        { Tiny(1, 28, false) with { Dropout = -0.1 }, "Dropout must be in [0, 1)", "got -0.1" },
        { Tiny(1, 28, false, []), "ChannelMultipliers", "at least one positive entry" },
        { Tiny(1, 28, false, [1, 0]), "ChannelMultipliers", "at least one positive entry" },
        { Tiny(0, 28, false), "ImageChannels", "got 0" },
        { Tiny(1, 2, false, [1]), "ImageSize", "got 2" },
        { Tiny(1, 28, false) with { BaseChannels = 0 }, "BaseChannels", "got 0" },
        { Tiny(1, 28, false) with { BlocksPerLevel = 0 }, "BlocksPerLevel", "got 0" },
        { Tiny(1, 28, false) with { Groups = 0 }, "Groups", "got 0" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Given_an_impossible_config_When_building_a_UNet_Then_ArgumentException_names_the_field(UNetConfig config, string phrase, string detail)
    {
        var error = Assert.Throws<ArgumentException>(() => new UNet(config));

        Assert.Contains(phrase, error.Message);
        Assert.Contains(detail, error.Message);
    }

    [Fact]
    public void Given_one_bad_scalar_field_When_validated_Then_the_message_names_that_field_only()
    {
        var error = Assert.Throws<ArgumentException>(() => (Tiny(1, 28, false) with { BlocksPerLevel = 0 }).Validate());

        Assert.Contains("BlocksPerLevel", error.Message);
        Assert.DoesNotContain("ImageChannels", error.Message);
        Assert.DoesNotContain("System.Int32[]", error.Message);
    }

    [Fact]
    public void Given_the_bundled_model_file_When_loaded_with_this_build_Then_it_predicts_the_noise_it_predicted_when_this_test_was_written()
    {
        // Given: the bundled model, and two seeded noisy images at t = 10 and t = 500 (a change to the network's names,
        // layout or arithmetic that still loads the file would change these numbers, not fail the load)
        var path = Path.Combine(TestSetup.RepositoryRoot(), "models", "mnist.ddim");
        var (network, schedule, _) = ModelFile.LoadNetwork(path);
        using var _ = network;
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var x = randn([2, 1, 28, 28], generator: generator);
        var t = tensor(new long[] { 10, 500 });

        // When
        Tensor eps;
        using (no_grad())
        {
            eps = network.forward(x, t).to(ScalarType.Float64);
        }

        // Then: per image, the mean and the mean square of ε̂, and one pixel (to 1e-4: CPUs differ in the last bits)
        Assert.Equal(1000, schedule.T);
        double[] actual = [.. Enumerable.Range(0, 2).SelectMany(i => new[] { eps[i].mean().item<double>(), eps[i].square().mean().item<double>(), eps[i, 0, 14, 14].item<double>() })];
        double[] expected = [0.38239316, 2.91041275, -0.82158190, 0.21576068, 1.09916275, -1.25035942];
        Assert.True(actual.Zip(expected).All(p => Math.Abs(p.First - p.Second) < 1e-4), $"ε̂ summaries [{string.Join(", ", actual.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}]");
    }

    [Theory]
    [InlineData(12, new[] { 2, 4 }, 8, "BaseChannels = 12 and BaseChannels·multiplier (got 12)")] // the first skip has 12 channels
    [InlineData(8, new[] { 1, 1, 1, 1, 1, 1 }, 4, "more than a 28-pixel image has room for: it is down to one pixel after 4 halvings")]
    public void Given_a_shape_that_cannot_be_built_When_validated_Then_a_clear_error(int baseChannels, int[] multipliers, int groups, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => new UNetConfig(BaseChannels: baseChannels, ChannelMultipliers: multipliers, Groups: groups).Validate());
        Assert.Contains(expected, error.Message);
    }
}
