using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Jobs;
using Ddim.Models;
using Ddim.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ddim.Bench;

/// <summary>
/// A DDPM training step, whole and in its two parts, at batch 64: the network's forward and backward pass, and the updates that
/// walk the parameter tensors one by one (gradient clipping, AdamW, EMA: several small ops per tensor). On a GPU the
/// second part's op count could matter more than its arithmetic (README, "Training on a GPU"); here it is measured
/// on a tiny U-Net (base 8 channels) and on the bundled shape (base 32), against the forward and backward pass.
/// </summary>
[SimpleJob(RuntimeMoniker.Net10_0, warmupCount: 2, iterationCount: 8)]
public class TrainingPhases
{
    private UNet unet = null!;
    private UNet ema = null!;
    private AdamW optimizer = null!;
    private Tensor x = null!;
    private Tensor t = null!;
    private Tensor noise = null!;

    /// <summary>The U-Net's base channels: 8 (tiny, per-op cost dominates) or 32 (the bundled model's shape).</summary>
    [Params(8, 32)]
    public int BaseChannels { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Ddim.Native.TorchRuntime.Initialize(); // BenchmarkDotNet runs this in a child process of its own
        torch.set_num_threads(Environment.ProcessorCount);
        var config = new UNetConfig(BaseChannels: BaseChannels, Dropout: 0, Groups: Math.Min(8, BaseChannels));
        unet = new UNet(config);
        ema = new UNet(config);
        unet.train();
        optimizer = optim.AdamW(unet.parameters(), 1e-4);
        var gen = new Generator(1);
        x = torch.randn([64, 1, 28, 28], generator: gen);
        t = torch.randint(1000, [64], generator: gen);
        noise = torch.randn([64, 1, 28, 28], generator: gen);
        ForwardBackward(); // the updates need gradients
    }

    [Benchmark(Description = "training step (forward, backward, clip, AdamW, EMA)")]
    public void Step()
    {
        ForwardBackward();
        ParameterUpdates();
    }

    [Benchmark(Description = "forward + backward")]
    public void ForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        var loss = nn.functional.mse_loss(unet.forward(x, t), noise);
        optimizer.zero_grad();
        loss.backward();
    }

    [Benchmark(Description = "clip + AdamW + EMA")]
    public void ParameterUpdates()
    {
        using var scope = torch.NewDisposeScope();
        nn.utils.clip_grad_norm_(unet.parameters(), 1.0);
        optimizer.step();
        Trainer.UpdateEma(unet, ema, 0.999);
    }
}
