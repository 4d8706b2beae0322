using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Jobs;
using Ddim.Models;
using Ddim.Sampling;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Bench;

/// <summary>
/// What one DDIM step costs beyond the network. "Step around a trivial denoiser" minus "trivial denoiser alone" is
/// the sampler's overhead per step (each step timed as the mean over an S = 50 run, since the last step, to ᾱ = 1,
/// adds no noise and is not a typical one); compare it with "U-Net forward", here the default UNetConfig (1.6M
/// parameters; `ddim bench` times the bundled 5.0M-parameter model's own forward pass).
/// </summary>
[SimpleJob(RuntimeMoniker.Net10_0, warmupCount: 3, iterationCount: 10)]
[MemoryDiagnoser]
public class SamplerOverhead
{
    private NoiseSchedule schedule = null!;
    private Timetable fiftySteps = null!;
    private Tensor x = null!;
    private Tensor t = null!;
    private UNet unet = null!;
    private NoisePredictor trivial = null!;

    /// <summary>Batch size (64 is the sampling default).</summary>
    [Params(64)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Ddim.Native.TorchRuntime.Initialize(); // BenchmarkDotNet runs this in a child process of its own
        torch.set_num_threads(Environment.ProcessorCount);
        schedule = NoiseSchedule.Linear(1000);
        fiftySteps = Timetable.Create(Spacing.Seed, 1000, 50);
        x = torch.randn([Batch, 1, 28, 28], generator: new Generator(1));
        t = torch.full(Batch, 500L, dtype: ScalarType.Int64);
        unet = new UNet(new UNetConfig());
        unet.eval();

        // Trivial denoiser: one elementwise op, so its own cost is near the floor of any tensor call.
        trivial = (xt, _) => xt * 0.5;
    }

    [Benchmark(Description = "trivial denoiser alone")]
    public void DenoiserAlone()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        trivial(x, t);
    }

    [Benchmark(Description = "DDIM step (η=0, clip) around trivial denoiser", OperationsPerInvoke = 50)]
    public void DdimStepEta0()
    {
        using var scope = torch.NewDisposeScope();
        DdimSampler.Sample(trivial, x, schedule, fiftySteps);
    }

    [Benchmark(Description = "DDIM step (η=0.5) around trivial denoiser", OperationsPerInvoke = 50)]
    public void DdimStepEtaHalf()
    {
        using var scope = torch.NewDisposeScope();
        using var gen = new Generator(3);
        DdimSampler.Sample(trivial, x, schedule, fiftySteps, new DdimOptions(Eta: 0.5), new GeneratorNoise(gen));
    }

    [Benchmark(Description = "U-Net forward (1.6M params, 1×28×28)")]
    public void UNetForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        unet.forward(x, t);
    }
}
