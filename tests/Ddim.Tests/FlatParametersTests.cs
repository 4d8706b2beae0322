using Ddim.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ddim.Tests;

public sealed class FlatParametersTests : OneTorchThread
{
    /// <summary>Gives every parameter of <paramref name="net"/> a seeded random gradient, written in place.</summary>
    private static void RandomGradients(nn.Module net, ulong seed)
    {
        using var gen = new Generator(seed);
        using var noGrad = torch.no_grad();
        foreach (var p in net.parameters())
        {
            using var g = torch.randn(p.shape, generator: gen);
            if (p.grad is { } grad)
            {
                grad.copy_(g);
            }
            else
            {
                p.grad = g.clone();
            }
        }
    }

    private static byte[] Save(Action<BinaryWriter> save)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            save(w);
        }

        return ms.ToArray();
    }

    [Fact]
    public void Given_a_U_Net_When_its_parameters_are_flattened_Then_it_computes_the_same_and_the_buffer_is_its_weights()
    {
        // Given
        using var net = TinyModel.Network(seed: 3);
        using var x = torch.randn([2, 1, 28, 28], generator: new Generator(5));
        using var t = torch.tensor(new long[] { 10, 90 });
        using var before = net.forward(x, t).detach();

        // When
        using var flat = new FlatParameters(net);

        // Then
        using (var after = net.forward(x, t))
        {
            Assert.True(before.allclose(after, rtol: 0, atol: 0));
        }

        Assert.Equal(net.ParameterCount, flat.All.numel());
        using (torch.no_grad())
        {
            flat.All.zero_();
        }

        Assert.All(net.parameters(), p => Assert.Equal(0f, p.abs().sum().item<float>()));
    }

    [Fact]
    public void Given_a_backward_pass_When_parameters_are_flattened_Then_the_gradients_land_in_the_one_buffer()
    {
        // Given
        using var net = TinyModel.Network(seed: 4);
        using var flat = new FlatParameters(net);
        using var x = torch.randn([2, 1, 28, 28], generator: new Generator(6));
        using var t = torch.tensor(new long[] { 3, 50 });

        // When
        net.forward(x, t).square().sum().backward();

        // Then: every parameter's gradient is its slice of the buffer, and nothing is left out.
        var sumOfParts = net.parameters().Sum(p => p.grad!.abs().sum().item<float>());
        Assert.True(sumOfParts > 0);
        Assert.Equal(1.0, flat.Grad.abs().sum().item<float>() / sumOfParts, 1e-5);

        // And each gradient is a view of the buffer, not a copy: zeroing the buffer zeroes every one of them
        using (torch.no_grad())
        {
            flat.Grad.zero_();
        }

        Assert.All(net.named_parameters(), p => Assert.True(p.parameter.grad!.abs().sum().item<float>() == 0, $"{p.name}'s gradient is not in the buffer"));
    }

    [Fact]
    public void Given_flattened_parameters_When_two_backward_passes_run_with_the_optimisers_zero_grad_between_Then_the_gradients_stay_in_the_buffer()
    {
        // Given
        using var net = TinyModel.Network(seed: 5);
        using var flat = new FlatParameters(net);
        using var optimizer = optim.AdamW([flat.All], lr: 1e-3);
        using var x = torch.randn([2, 1, 28, 28], generator: new Generator(7));
        using var t = torch.tensor(new long[] { 20, 70 });
        net.forward(x, t).square().sum().backward();
        using var first = flat.Grad.clone();

        // When
        optimizer.zero_grad();
        Assert.Equal(0f, flat.Grad.abs().sum().item<float>());
        net.forward(x, t).square().sum().backward();

        // Then: the same gradient again (not twice it, not lost to a new tensor), and still one per parameter slice.
        Assert.True(first.allclose(flat.Grad, rtol: 1e-5, atol: 1e-7));
        Assert.Equal(1.0, net.parameters().Sum(p => p.grad!.abs().sum().item<float>()) / flat.Grad.abs().sum().item<float>(), 1e-5);
    }

    [Fact]
    public void Given_an_EMA_copy_When_flattened_without_gradients_Then_it_has_no_gradient_buffer()
    {
        using var net = TinyModel.Network(seed: 6);
        using var flat = new FlatParameters(net, gradients: false);

        Assert.Throws<InvalidOperationException>(() => flat.Grad);
        Assert.All(net.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void Given_an_AdamW_state_whose_parameters_took_different_numbers_of_steps_When_loaded_into_one_buffer_Then_a_clear_error()
    {
        // Given: AdamW skips parameters without a gradient, so their step counts fall behind.
        using var net = TinyModel.Network(seed: 10);
        using var perParameter = optim.AdamW(net.parameters(), lr: 1e-3);
        RandomGradients(net, 1);
        perParameter.step();
        net.parameters().First().grad = null;
        perParameter.step();
        var saved = Save(perParameter.save_state_dict);

        // When
        using var flat = new FlatParameters(net);
        using var optimizer = optim.AdamW([flat.All], lr: 1e-3);
        var e = Assert.Throws<InvalidDataException>(() => flat.LoadAdamW(optimizer, new BinaryReader(new MemoryStream(saved))));

        // Then
        Assert.Contains("different step counts", e.Message);
    }

    [Fact]
    public void Given_an_AdamW_state_per_parameter_When_loaded_into_one_buffer_and_saved_Then_the_bytes_are_the_same()
    {
        // Given: an AdamW over the parameters one by one, after three steps (the layout old checkpoints hold).
        using var net = TinyModel.Network(seed: 7);
        using var perParameter = optim.AdamW(net.parameters(), lr: 1e-3, weight_decay: 0.01);
        for (var i = 0; i < 3; i++)
        {
            RandomGradients(net, (ulong)i);
            perParameter.step();
        }

        perParameter.ParamGroups.First().LearningRate = 4.2e-4;
        var saved = Save(perParameter.save_state_dict);

        // When
        using var flat = new FlatParameters(net);
        using var optimizer = optim.AdamW([flat.All], lr: 1e-3, weight_decay: 0.01);
        flat.LoadAdamW(optimizer, new BinaryReader(new MemoryStream(saved)));

        // Then
        Assert.Equal(4.2e-4, optimizer.ParamGroups.First().LearningRate);
        Assert.Equal(saved, Save(w => flat.SaveAdamW(optimizer, w)));
    }

    [Fact]
    public void Given_the_same_state_and_gradients_When_AdamW_steps_on_one_buffer_Then_the_weights_match_a_step_per_parameter()
    {
        // Given: two copies of one network and one AdamW state, after two steps, for each.
        using var a = TinyModel.Network(seed: 8);
        using var b = TinyModel.Network(seed: 8);
        using var perParameter = optim.AdamW(a.parameters(), lr: 1e-3, weight_decay: 0.01);
        for (var i = 0; i < 2; i++)
        {
            RandomGradients(a, (ulong)i);
            perParameter.step();
        }

        using (torch.no_grad())
        {
            foreach (var (p, q) in a.parameters().Zip(b.parameters()))
            {
                q.copy_(p);
            }
        }

        using var flat = new FlatParameters(b);
        using var optimizer = optim.AdamW([flat.All], lr: 1e-3, weight_decay: 0.01);
        flat.LoadAdamW(optimizer, new BinaryReader(new MemoryStream(Save(perParameter.save_state_dict))));

        // When: one more step with the same gradients.
        RandomGradients(a, 99);
        RandomGradients(b, 99);
        perParameter.step();
        optimizer.step();

        // Then: the same element-wise arithmetic (last-bit differences allowed where vector and scalar code paths meet).
        foreach (var (p, q) in a.parameters().Zip(b.parameters()))
        {
            Assert.True(p.allclose(q, rtol: 1e-6, atol: 1e-9));
        }
    }

    [Fact]
    public void Given_parameters_of_two_dtypes_When_flattened_Then_a_clear_error()
    {
        using var net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2, dtype: ScalarType.Float64));

        var e = Assert.Throws<ArgumentException>(() => new FlatParameters(net));
        Assert.Contains("one dtype and device", e.Message);
    }
}
