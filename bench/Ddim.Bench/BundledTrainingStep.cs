using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Jobs;
using Ddim.Models;
using Ddim.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ddim.Bench;

/// <summary>
/// Where a CPU training step of the bundled model's shape goes (base 56 channels, 5.0M parameters, batch 128, as in
/// <c>presets/mnist-cpu-phase3.json</c>), in float32 or in bfloat16 the way <see cref="Trainer"/> runs it: a bfloat16
/// working copy refreshed from the float32 weights, its gradients cast back for clipping, AdamW and the EMA.
/// </summary>
[SimpleJob(RuntimeMoniker.Net10_0, warmupCount: 2, iterationCount: 6)]
public class BundledTrainingStep
{
    private UNet model = null!;
    private UNet? working;
    private FlatParameters weights = null!;
    private FlatParameters? workingWeights;
    private FlatParameters emaWeights = null!;
    private UNet ema = null!;
    private AdamW optimizer = null!;
    private Tensor x = null!;
    private Tensor t = null!;
    private Tensor noise = null!;

    /// <summary>Forward and backward in bfloat16 (true, the CPU phase's preset) or float32.</summary>
    [Params(false, true)]
    public bool BFloat16 { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Ddim.Native.TorchRuntime.Initialize(); // BenchmarkDotNet runs this in a child process of its own
        torch.set_num_threads(Environment.ProcessorCount);
        var config = new UNetConfig(BaseChannels: 56, Dropout: 0);
        model = new UNet(config);
        ema = new UNet(config);
        weights = new FlatParameters(model);
        emaWeights = new FlatParameters(ema, gradients: false);
        if (BFloat16)
        {
            working = new UNet(config);
            working.to(ScalarType.BFloat16);
            workingWeights = new FlatParameters(working);
            working.train();
        }

        model.train();
        optimizer = optim.AdamW([weights.All], 1e-4);
        var gen = new Generator(1);
        x = torch.randn([128, 1, 28, 28], generator: gen);
        t = torch.randint(1000, [128], generator: gen);
        noise = torch.randn([128, 1, 28, 28], generator: gen);
    }

    [Benchmark(Description = "forward (autograd recording)")]
    public void Forward()
    {
        using var scope = torch.NewDisposeScope();
        Loss();
    }

    [Benchmark(Description = "whole step (forward, backward, clip, AdamW, EMA)")]
    public void Step()
    {
        using var scope = torch.NewDisposeScope();
        if (workingWeights is not null)
        {
            using (torch.no_grad())
            {
                workingWeights.All.copy_(weights.All);
            }

            workingWeights.Grad.zero_();
        }

        var loss = Loss();
        optimizer.zero_grad();
        loss.backward();
        if (workingWeights is not null)
        {
            weights.Grad.copy_(workingWeights.Grad);
        }

        nn.utils.clip_grad_norm_([weights.All], 1.0);
        optimizer.step();
        Trainer.UpdateEma(weights.All, emaWeights.All, 0.9995);
    }

    private Tensor Loss()
    {
        var net = working ?? model;
        var dtype = working is null ? ScalarType.Float32 : ScalarType.BFloat16;
        return nn.functional.mse_loss(net.forward(x.to(dtype), t).to(ScalarType.Float32), noise);
    }
}
