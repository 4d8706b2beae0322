using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Jobs;
using Ddim.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ddim.Bench;

/// <summary>One DDPM training step (forward, backward, AdamW) of the bundled model's U-Net at batch 64.</summary>
[SimpleJob(RuntimeMoniker.Net10_0, warmupCount: 2, iterationCount: 8)]
public class Training
{
    private UNet unet = null!;
    private AdamW optimizer = null!;
    private Tensor x = null!;
    private Tensor t = null!;
    private Tensor noise = null!;

    [GlobalSetup]
    public void Setup()
    {
        Ddim.Native.TorchRuntime.Initialize(); // BenchmarkDotNet runs this in a child process of its own
        torch.set_num_threads(Environment.ProcessorCount);
        unet = new UNet(new UNetConfig(Dropout: 0));
        unet.train();
        optimizer = optim.AdamW(unet.parameters(), 1e-4);
        var gen = new Generator(1);
        x = torch.randn([64, 1, 28, 28], generator: gen);
        t = torch.randint(1000, [64], generator: gen);
        noise = torch.randn([64, 1, 28, 28], generator: gen);
    }

    [Benchmark(Description = "training step, batch 64")]
    public void Step()
    {
        using var scope = torch.NewDisposeScope();
        var loss = nn.functional.mse_loss(unet.forward(x, t), noise);
        optimizer.zero_grad();
        loss.backward();
        nn.utils.clip_grad_norm_(unet.parameters(), 1.0);
        optimizer.step();
    }
}
