using Ddim.Data;
using Ddim.Evaluation;
using Ddim.Sampling;

namespace Ddim.Tests;

/// <summary><c>ddim eval --seeds</c>: one configuration at several seeds, and the spread of its scores.</summary>
public sealed class SeedRunsTests : OneTorchThread
{
    private static readonly SampleSettings Settings = new(SamplerKind.Ddim, Steps: 3, Eta: 1);

    /// <summary>A tiny trained judge fitted to a synthetic reference, and the floor's source: shared by the tests here (the judge lives for the test run).</summary>
    private static readonly Lazy<(Evaluator Evaluator, ImageDataset Train)> Scoring = new(() =>
        (new Evaluator(SyntheticDigits.TrainedJudge(epochs: 1), SyntheticDigits.Make(40, 7, "synthetic-test")), SyntheticDigits.Make(60, 8, "synthetic-train")));

    private static ImageSampler TinySampler(TempFolder folder) =>
        ImageSampler.Load(TinyModel.Write(folder.File("tiny.ddim"), timeSteps: 20, config: TinyModel.Synthetic8x8));

    [Fact]
    public void Given_known_values_When_their_spread_is_taken_Then_mean_sample_SD_standard_error_and_range_are_exact()
    {
        // Given
        double[] values = [4, 1, 3, 2];

        // When
        var spread = Spread.Of(values);

        // Then: SD uses 1/(n − 1): Σ(v − 2.5)² = 5, 5/3
        Assert.Equal(4, spread.Count);
        Assert.Equal(2.5, spread.Mean);
        Assert.Equal(Math.Sqrt(5.0 / 3.0), spread.StandardDeviation, 15);
        Assert.Equal(Math.Sqrt(5.0 / 3.0) / 2, spread.StandardError, 15);
        Assert.Equal(1, spread.Min);
        Assert.Equal(4, spread.Max);
        Assert.Equal(0, Spread.Of([7.0, 7.0]).StandardDeviation);
        Assert.Throws<ArgumentException>(() => Spread.Of([1.0]));
        Assert.Null(Spread.OfAll([1.0, null, 3.0]));
        Assert.Equal(spread, Spread.OfAll(values.Select(v => (double?)v)));
    }

    [Theory]
    [InlineData(new long[] { 3 }, "at least two seeds")]
    [InlineData(new long[] { }, "at least two seeds")]
    [InlineData(new long[] { 1, 2, 1 }, "must not repeat a seed")]
    [InlineData(new long[] { -1, 2 }, "seeds of 0 or more")]
    public void Given_seeds_without_a_spread_to_measure_When_checked_Then_a_clear_error_names_the_option(long[] seeds, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => SeedRuns.Validate(seeds));

        Assert.Contains("--seeds", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Given_a_tiny_model_When_run_at_several_seeds_Then_each_seed_scores_as_a_one_seed_eval_and_the_summary_is_their_spread()
    {
        // Given
        using var folder = new TempFolder();
        var sampler = TinySampler(folder);
        var (evaluator, train) = Scoring.Value;
        var options = new EvalOptions(Count: 12, Seed: 99, BatchSize: 12);
        var started = new List<(long Seed, int Index, int Total)>();

        // When
        var summary = SeedRuns.Run(evaluator, sampler, Settings, train, options, [5, 2, 9], starting: (s, i, n) => started.Add((s, i, n)));

        // Then: seed K is exactly 'ddim eval --seed K', in the order given
        Assert.Equal([(5L, 0, 3), (2L, 1, 3), (9L, 2, 3)], started);
        Assert.Equal([5L, 2L, 9L], summary.Runs.Select(r => r.Seed));
        foreach (var run in summary.Runs)
        {
            var one = evaluator.Evaluate(sampler, Settings, train, options with { Seed = run.Seed });
            Assert.Equal(one.Samples.Fid, run.Report.Samples.Fid);
            Assert.Equal(one.Samples.FidMean, run.Report.Samples.FidMean);
            Assert.Equal(one.Samples.Manifold, run.Report.Samples.Manifold);
            Assert.Equal(one.Floor.Fid, run.Report.Floor.Fid);
            Assert.Equal(one.NetworkCalls, run.Report.NetworkCalls);
            Assert.False(run.Reused);
        }

        // Seeds give different images, so the spread is real; the summary is the spread of the seeds' own values.
        var fids = summary.Runs.Select(r => r.Report.Samples.Fid).ToArray();
        Assert.Equal(3, fids.Distinct().Count());
        Assert.Equal(Spread.Of(fids), summary.Fid);
        Assert.Equal(Spread.Of([.. summary.Runs.Select(r => r.Report.Samples.Fid / r.Report.Floor.Fid)]), summary.FloorRatio);
        Assert.Equal(Spread.Of([.. summary.Runs.Select(r => r.Report.Floor.Fid)]), summary.FloorFid);
        Assert.Equal(Spread.Of([.. summary.Runs.Select(r => r.Report.Samples.Manifold!.Density)]), summary.Density);
        Assert.Equal(Spread.Of([.. summary.Runs.Select(r => r.Report.Samples.ClassKl)]), summary.ClassKl);
        Assert.NotNull(summary.FidMean);
        Assert.NotNull(summary.Coverage);
    }

    [Fact]
    public void Given_floor_draws_When_scored_Then_draw_k_is_seed_k_floor_and_ratios_divide_by_their_mean()
    {
        // Given
        using var folder = new TempFolder();
        var sampler = TinySampler(folder);
        var (evaluator, train) = Scoring.Value;
        var options = new EvalOptions(Count: 12, Seed: 1, BatchSize: 12, FloorDraws: 3);

        // When
        var draws = evaluator.ScoreFloorDraws(train, 12, 3);
        var report = evaluator.Evaluate(sampler, Settings, train, options);
        var seeds = SeedRuns.Run(evaluator, sampler, Settings, train, options, [1, 4]);

        // Then: draw k is exactly the floor 'ddim eval --seed k' scores
        var floors = Enumerable.Range(0, 3).Select(k => evaluator.ScoreReal(train, 12, k)).ToArray();
        Assert.Equal(Spread.Of([.. floors.Select(f => f.Fid)]), draws.Fid);
        Assert.Equal(Spread.Of([.. floors.Select(f => f.FidMean!.Value)]), draws.FidMean);
        Assert.Equal(12, draws.Count);

        // The report keeps its seed's own floor and divides by the draws' mean; without draws, by its own floor.
        Assert.Equal(draws, report.FloorDraws);
        Assert.Equal(floors[1].Fid, report.Floor.Fid);
        Assert.Equal(report.Samples.Fid / draws.Fid.Mean, report.FloorRatio);
        var plain = evaluator.Evaluate(sampler, Settings, train, options with { FloorDraws = 0 });
        Assert.Null(plain.FloorDraws);
        Assert.Equal(plain.Samples.Fid / plain.Floor.Fid, plain.FloorRatio);

        // Every seed of a --seeds run shares the one set of draws.
        Assert.All(seeds.Runs, r => Assert.Equal(draws, r.Report.FloorDraws));
        Assert.Equal(Spread.Of([.. seeds.Runs.Select(r => r.Report.Samples.Fid / draws.Fid.Mean)]), seeds.FloorRatio);
        Assert.Throws<ArgumentException>(() => evaluator.ScoreFloorDraws(train, 12, 1));
        using var stopped = new CancellationTokenSource();
        stopped.Cancel();
        Assert.Throws<OperationCanceledException>(() => evaluator.ScoreFloorDraws(train, 12, 3, stopped.Token)); // a Ctrl-C during the draws ends them
        Assert.Null(evaluator.FloorDrawsFor(train, train.Count, 20)); // every draw would be the whole split
        Assert.Null(evaluator.FloorDrawsFor(train, 12, 0));
        Assert.Contains("--floor-draws", Assert.Throws<ArgumentException>(() => (options with { FloorDraws = 1 }).Validate()).Message);
    }

    [Fact]
    public void Given_a_seeds_run_stopped_after_one_seed_When_it_is_resumed_Then_only_the_other_seeds_run_and_the_scores_equal_an_uninterrupted_run()
    {
        // Given: each seed's samples saved in a store of its own as they finish; stopped once the first seed is done
        using var folder = new TempFolder();
        var sampler = TinySampler(folder);
        var calls = 0;
        var counted = new ImageSampler((x, t) => { calls++; return sampler.Model(x, t); }, sampler.Schedule, 1, SyntheticDigits.Size, SyntheticDigits.Size);
        var (evaluator, train) = Scoring.Value;
        var options = new EvalOptions(Count: 8, BatchSize: 8);
        long[] seeds = [0, 1, 2];
        SweepCellStore StoreOf(long seed) => new(folder.File($"cells/seed-{seed}"), $"model A, N = 8, seed {seed}");
        using var cancel = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => SeedRuns.Run(
            evaluator, counted, Settings, train, options, seeds, finished: _ => cancel.Cancel(), cancel: cancel.Token, storeOf: StoreOf));
        var whole = SeedRuns.Run(evaluator, sampler, Settings, train, options, seeds);

        // When
        calls = 0;
        var resumed = SeedRuns.Run(evaluator, counted, Settings, train, options, seeds, storeOf: StoreOf, resume: true);

        // Then: seed 0 is read back exactly, seeds 1 and 2 run now (3 steps on one batch each)
        Assert.Equal([true, false, false], resumed.Runs.Select(r => r.Reused));
        Assert.Equal(2 * 3, calls);
        Assert.Equal(whole.Runs.Select(r => (r.Report.Samples.Fid, r.Report.Samples.FidMean, r.Report.Floor.Fid)), resumed.Runs.Select(r => (r.Report.Samples.Fid, r.Report.Samples.FidMean, r.Report.Floor.Fid)));
        Assert.Equal(whole.Runs.Select(r => r.Report.Samples.ClassCounts), resumed.Runs.Select(r => r.Report.Samples.ClassCounts));
        Assert.Equal(whole.Fid, resumed.Fid);

        // And without --resume, saved scores are never overwritten: refused before any sampling.
        calls = 0;
        var refused = Assert.Throws<InvalidOperationException>(() => SeedRuns.Run(evaluator, counted, Settings, train, options, seeds, storeOf: StoreOf));
        Assert.Contains("--resume", refused.Message);
        Assert.Contains("seed-0", refused.Message);
        Assert.Equal(0, calls);

        // Another configuration has cells of its own in the same stores.
        var other = SeedRuns.Run(evaluator, counted, Settings with { Eta = 0 }, train, options, [1, 2], storeOf: StoreOf);
        Assert.All(other.Runs, r => Assert.False(r.Reused));
    }

    [Fact]
    public void Given_seeds_saved_at_one_N_When_the_same_seeds_run_at_another_N_or_of_another_model_Then_each_runs_apart_and_another_judge_is_refused_by_file()
    {
        // Given: the CLI's layout, DIRECTORY/nN-DEVICE/MODEL/seed-K/, with seeds 0 and 1 of model A saved at N = 8
        using var folder = new TempFolder();
        var sampler = TinySampler(folder);
        var (evaluator, train) = Scoring.Value;
        var cells = folder.File("eval-seeds.cells");
        Func<long, SweepCellStore> Stores(int n, string model, string judge = "J") =>
            SeedRuns.CellStores(cells, n, "cpu", $"model-{model}", seed => $"model {model}, judge {judge}, N = {n}, seed {seed}");
        SeedRuns.Run(evaluator, sampler, Settings, train, new EvalOptions(Count: 8, BatchSize: 8), [0, 1], storeOf: Stores(8, "A"));

        // When: the same seeds and settings at N = 6, and of model B at N = 8, without --resume
        var atSix = SeedRuns.Run(evaluator, sampler, Settings, train, new EvalOptions(Count: 6, BatchSize: 6), [0, 1], storeOf: Stores(6, "A"));
        var ofB = SeedRuns.Run(evaluator, sampler, Settings, train, new EvalOptions(Count: 8, BatchSize: 8), [0, 1], storeOf: Stores(8, "B"));

        // Then: they run (nothing of A at N = 8 is in their way), each in its own folder
        Assert.All(atSix.Runs.Concat(ofB.Runs), r => Assert.False(r.Reused));
        Assert.True(Directory.Exists(Path.Combine(cells, "n8-cpu", "model-A", "seed-1")));
        Assert.True(Directory.Exists(Path.Combine(cells, "n6-cpu", "model-A", "seed-1")));
        Assert.True(Directory.Exists(Path.Combine(cells, "n8-cpu", "model-B", "seed-1")));

        // And model A scored by another judge is refused, naming the file and keeping it: another --name, not a deletion.
        var refused = Assert.Throws<InvalidDataException>(() =>
            SeedRuns.Run(evaluator, sampler, Settings, train, new EvalOptions(Count: 8, BatchSize: 8), [0, 1], storeOf: Stores(8, "A", judge: "K"), resume: true));
        Assert.Contains(Path.Combine("n8-cpu", "model-A", "seed-0"), refused.Message);
        Assert.Contains("Its scores are kept; give this run another --name or --results-dir.", refused.Message);
    }

    [Fact]
    public void Given_seeds_saved_in_the_layout_before_model_folders_When_resumed_Then_this_model_s_are_reused_and_another_model_s_are_passed_over()
    {
        // Given: seeds 0 and 1 of model A saved under DIRECTORY/n8-cpu/seed-K/, as runs before model folders saved them
        using var folder = new TempFolder();
        var sampler = TinySampler(folder);
        var (evaluator, train) = Scoring.Value;
        var cells = folder.File("eval-seeds.cells");
        static string Print(string model, long seed) => $"model {model}, N = 8, seed {seed}";
        SeedRuns.Run(evaluator, sampler, Settings, train, new EvalOptions(Count: 8, BatchSize: 8), [0, 1],
            storeOf: seed => new SweepCellStore(Path.Combine(cells, "n8-cpu", $"seed-{seed}"), Print("A", seed)));

        // When: model A resumes in today's layout; model B runs there too
        var ofA = SeedRuns.Run(evaluator, sampler, Settings, train, new EvalOptions(Count: 8, BatchSize: 8), [0, 1, 2],
            storeOf: SeedRuns.CellStores(cells, 8, "cpu", "model-A", seed => Print("A", seed)), resume: true);
        var ofB = SeedRuns.Run(evaluator, sampler, Settings, train, new EvalOptions(Count: 8, BatchSize: 8), [0, 1],
            storeOf: SeedRuns.CellStores(cells, 8, "cpu", "model-B", seed => Print("B", seed)), resume: true);

        // Then: A's two old seeds are read back, its new seed is saved in its model folder; B's seeds all run
        Assert.Equal([true, true, false], ofA.Runs.Select(r => r.Reused));
        Assert.True(Directory.Exists(Path.Combine(cells, "n8-cpu", "model-A", "seed-2")));
        Assert.All(ofB.Runs, r => Assert.False(r.Reused));
        Assert.True(Directory.Exists(Path.Combine(cells, "n8-cpu", "model-B", "seed-0")));

        // And without --resume, A's old seed is refused by the path it is really at
        var refused = Assert.Throws<InvalidOperationException>(() => SeedRuns.Run(evaluator, sampler, Settings, train, new EvalOptions(Count: 8, BatchSize: 8), [0, 1],
            storeOf: SeedRuns.CellStores(cells, 8, "cpu", "model-A", seed => Print("A", seed))));
        Assert.Contains(Path.Combine("n8-cpu", "seed-0"), refused.Message);
    }
}
