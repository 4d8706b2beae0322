using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Jobs;
using Ddim.Models;
using Ddim.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ddim.Bench;

/// <summary>
/// A DDPM training step, whole and in its two parts, at batch 64: the network's forward and backward pass, and the updates
/// (gradient clipping, AdamW, EMA), either tensor by tensor (several small ops on each of ~240 parameter tensors) or on
/// one buffer that holds them all (<see cref="FlatParameters"/>, what <see cref="Trainer"/> does). On a GPU every small
/// op is also a kernel launch (README, "Training on a GPU"); here the op count is measured on a tiny U-Net (base 8
/// channels), where it dominates, and on the 1.6M model's shape (base 32; the bundled 5.0M model has base 56), against the forward and backward pass.
/// </summary>
[SimpleJob(RuntimeMoniker.Net10_0, warmupCount: 2, iterationCount: 8)]
public class TrainingPhases
{
    private UNet unet = null!;
    private UNet ema = null!;
    private FlatParameters? weights;
    private FlatParameters? emaWeights;
    private AdamW optimizer = null!;
    private Tensor x = null!;
    private Tensor t = null!;
    private Tensor noise = null!;

    /// <summary>The U-Net's base channels: 8 (tiny, per-op cost dominates) or 32 (the 1.6M model's shape).</summary>
    [Params(8, 32)]
    public int BaseChannels { get; set; }

    /// <summary>Updates on one buffer (true, as training does) or tensor by tensor (false).</summary>
    [Params(false, true)]
    public bool OneBuffer { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Ddim.Native.TorchRuntime.Initialize(); // BenchmarkDotNet runs this in a child process of its own
        torch.set_num_threads(Environment.ProcessorCount);
        var config = new UNetConfig(BaseChannels: BaseChannels, Dropout: 0, Groups: Math.Min(8, BaseChannels));
        unet = new UNet(config);
        ema = new UNet(config);
        unet.train();
        if (OneBuffer)
        {
            weights = new FlatParameters(unet);
            emaWeights = new FlatParameters(ema);
            optimizer = optim.AdamW([weights.All], 1e-4);
        }
        else
        {
            optimizer = optim.AdamW(unet.parameters(), 1e-4);
        }

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
        if (weights is not null && emaWeights is not null)
        {
            nn.utils.clip_grad_norm_([weights.All], 1.0);
            optimizer.step();
            Trainer.UpdateEma(weights.All, emaWeights.All, 0.999);
            return;
        }

        nn.utils.clip_grad_norm_(unet.parameters(), 1.0);
        optimizer.step();
        using var noGrad = torch.no_grad();
        foreach (var (p, q) in unet.parameters().Zip(ema.parameters()))
        {
            q.mul_(0.999).add_(p, alpha: 0.001);
        }
    }
}
