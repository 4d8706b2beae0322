using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Jobs;
using Ddim.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Bench;

/// <summary>
/// What the manifold scores (precision, recall, density, coverage) cost <c>ddim eval</c> per scored set, on N
/// judge-like features (128-d, non-negative like the judge's ReLU outputs): comparing from scratch (fit the real set's
/// balls, then score) against scoring with the real set fitted once, as <see cref="Evaluator"/> does for the floor and
/// every cell of a sweep.
/// </summary>
[SimpleJob(RuntimeMoniker.Net10_0, warmupCount: 2, iterationCount: 6)]
public class ManifoldScoring
{
    private Tensor real = null!;
    private Tensor generated = null!;
    private RealManifold fitted = null!;

    /// <summary>Images per set (1,000 is <c>ddim eval</c>'s default N; 4,000 spans several chunks of rows).</summary>
    [Params(1000, 4000)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Ddim.Native.TorchRuntime.Initialize(); // BenchmarkDotNet runs this in a child process of its own
        torch.set_num_threads(Environment.ProcessorCount);
        using var scope = torch.NewDisposeScope();
        using var generator = new Generator(1);
        real = torch.randn([N, 128], generator: generator).relu().MoveToOuterDisposeScope();
        generated = (torch.randn([N, 128], generator: generator) * 1.1).relu().MoveToOuterDisposeScope();
        fitted = RealManifold.Fit(real);
    }

    [Benchmark(Baseline = true, Description = "from scratch (fit the real set, then score)")]
    public ManifoldScores FromScratch() => ManifoldScores.Compute(real, generated);

    [Benchmark(Description = "fit the real set only")]
    public RealManifold Fit() => RealManifold.Fit(real);

    [Benchmark(Description = "score against the fitted real set")]
    public ManifoldScores ScoreFitted() => fitted.Score(generated);

    [GlobalCleanup]
    public void Cleanup()
    {
        real.Dispose();
        generated.Dispose();
    }
}
