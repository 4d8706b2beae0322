using Ddim.Data;
using Ddim.Evaluation;
using Ddim.Imaging;
using Ddim.Sampling;

namespace Ddim.Tests;

public sealed class EvalEndToEndTests : OneTorchThread
{
    /// <summary>A random (untrained) 8×8 U-Net with T = 20, written as a model file.</summary>
    private static string TinyModel(TempFolder folder) => Tests.TinyModel.Write(folder.File("tiny.ddim"), timeSteps: 20, config: Tests.TinyModel.Synthetic8x8);

    /// <summary>The same sampler, counting its network calls (one per batch and step) in <paramref name="count"/>.</summary>
    private static ImageSampler Counted(ImageSampler inner, CallCount count) =>
        new((x, t) => { count.Value++; return inner.Model(x, t); }, inner.Schedule, 1, SyntheticDigits.Size, SyntheticDigits.Size);

    private sealed class CallCount
    {
        public int Value { get; set; }
    }

    [Fact]
    public void Given_a_tiny_model_and_a_tiny_judge_When_evaluated_Then_it_reports_samples_and_the_real_data_floor()
    {
        // Given
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel(folder));
        using var judge = SyntheticDigits.TrainedJudge();
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(120, 7, "synthetic-test"));
        var train = SyntheticDigits.Make(200, 8, "synthetic-train");
        var options = new EvalOptions(Count: 40, Seed: 3, BatchSize: 10); // batches of 32 (whole groups): 32 + 8, two progress reports
        var settings = new SampleSettings(SamplerKind.Ddim, Steps: 5, Eta: 0);
        var progress = new List<int>();

        // When
        var report = evaluator.Evaluate(sampler, settings, train, options, progress.Add);

        // Then
        Assert.Equal(5, report.NetworkCalls);
        Assert.Equal(120, report.ReferenceCount);
        Assert.Equal([32, 40], progress);
        foreach (var score in new[] { report.Samples, report.Floor })
        {
            Assert.Equal(40, score.Count);
            Assert.Equal(40, score.ClassCounts.Sum());
            Assert.True(double.IsFinite(score.Fid) && score.Fid >= 0, $"{score.Label}: FID {score.Fid}");
            Assert.NotNull(score.FidMean);
            Assert.InRange(score.FidMean.Value, 0, score.Fid + 1e-9); // the spread's part, the rest, is never negative (up to rounding)
            Assert.InRange(score.ConfidentShare, 0, 1);
            Assert.InRange(score.ClassKl, 0, Math.Log(SyntheticDigits.Classes) + 1e-12);
            Assert.NotNull(score.Manifold);
            Assert.Equal(40, score.Manifold.RealCount);
            Assert.InRange(score.Manifold.Precision, 0, 1);
            Assert.InRange(score.Manifold.Recall, 0, 1);
        }

        // A random network's "samples" are noise: far worse than real images.
        Assert.True(report.Samples.Fid > report.Floor.Fid, $"samples {report.Samples.Fid} vs floor {report.Floor.Fid}");
        Assert.True(report.Floor.ConfidentShare > report.Samples.ConfidentShare || report.Floor.ConfidentShare == 1);

        // Same seed, same numbers.
        var again = evaluator.Evaluate(sampler, settings, train, options);
        Assert.Equal(report.Samples.Fid, again.Samples.Fid);
        Assert.Equal(report.Floor.Fid, again.Floor.Fid);
        Assert.Equal(report.Samples.Manifold, again.Samples.Manifold);
        Assert.Equal(report.Floor.Manifold, again.Floor.Manifold);
        Assert.Equal(report.Samples.FidMean, again.Samples.FidMean);
    }

    [Fact]
    public void Given_more_images_than_reference_images_When_scored_Then_the_manifold_scores_compare_as_many_of_each()
    {
        // Given
        using var judge = SyntheticDigits.TrainedJudge();
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(30, 7, "synthetic-test"));
        var images = SyntheticDigits.Make(50, 8, "synthetic-more");

        // When
        var score = evaluator.ScoreImages(images, "more");

        // Then: FID uses all 50; the manifold scores 30 of them against all 30 reference images
        Assert.Equal(50, score.Count);
        Assert.NotNull(score.Manifold);
        Assert.Equal(30, score.Manifold.RealCount);
        Assert.InRange(score.Manifold.Precision, 0.5, 1);
        Assert.InRange(score.Manifold.Coverage, 0.5, 1);
        Assert.Equal(score.Manifold, evaluator.ScoreImages(images, "more").Manifold);
    }

    [Fact]
    public void Given_one_evaluator_When_sets_of_different_sizes_are_scored_in_turn_Then_each_gets_the_scores_a_fresh_evaluator_gives()
    {
        // Given: the evaluator keeps the reference manifold it fitted for the last N
        using var judge = SyntheticDigits.TrainedJudge();
        var reference = SyntheticDigits.Make(40, 7, "synthetic-test");
        var evaluator = new Evaluator(judge, reference);
        var large = SyntheticDigits.Make(24, 8, "synthetic-24");
        var small = SyntheticDigits.Make(12, 9, "synthetic-12");

        // When: N = 24, then 12, then 24 again
        var scores = new[] { large, small, large }.Select(images => evaluator.ScoreImages(images, images.Name).Manifold).ToArray();

        // Then
        var fresh = new[] { large, small, large }.Select(images => new Evaluator(judge, reference).ScoreImages(images, images.Name).Manifold).ToArray();
        Assert.Equal(fresh, scores);
        Assert.Equal([24, 12, 24], scores.Select(m => m!.RealCount));
        Assert.NotEqual(scores[0], scores[1]);
    }

    [Fact]
    public void Given_too_few_images_for_the_manifold_balls_When_scored_Then_FID_is_reported_and_the_manifold_scores_are_left_out()
    {
        // Given: 5 images, not more than the largest k
        using var judge = SyntheticDigits.TrainedJudge();
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(30, 7, "synthetic-test"));
        var images = SyntheticDigits.Make(ManifoldScores.LargestK, 8, "synthetic-few");

        // When
        var score = evaluator.ScoreImages(images, "few");

        // Then
        Assert.True(double.IsFinite(score.Fid));
        Assert.Null(score.Manifold);
    }

    [Fact]
    public void Given_samples_written_as_PNG_files_When_the_folder_and_the_tensor_are_scored_Then_both_score_as_the_samples_did_in_memory()
    {
        // Given: samples scored in memory, and the same samples written one PNG each (as ddim sample --out-dir does)
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel(folder));
        using var judge = SyntheticDigits.TrainedJudge(epochs: 1);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(60, 7, "synthetic-test"));
        var options = new EvalOptions(Count: 12, Seed: 5, BatchSize: 12);
        var settings = new SampleSettings(SamplerKind.Ddim, Steps: 4, Eta: 0);
        var inMemory = evaluator.ScoreSamples(sampler, settings, options);
        var pngs = folder.Folder("png");
        using var images = sampler.Generate(options.Count, options.Seed, settings);
        for (var i = 0; i < options.Count; i++)
        {
            using var image = images[i];
            File.WriteAllBytes(Path.Combine(pngs, $"{i:D5}.png"), ImageGrid.ToPng(image));
        }

        // When
        var fromFiles = evaluator.ScoreImages(ImageFolder.Load(pngs), "png");
        var fromTensor = new Evaluator(judge, SyntheticDigits.Make(60, 7, "synthetic-test"), judgeBatchSize: 5).ScoreImages(images, "tensor"); // 5 + 5 + 2

        // Then: the judge sees 8-bit images every way
        foreach (var score in new[] { fromFiles, fromTensor })
        {
            Assert.Equal(12, score.Count);
            Assert.Equal(inMemory.Fid, score.Fid, 1e-6);
            Assert.Equal(inMemory.ConfidentShare, score.ConfidentShare);
            Assert.Equal(inMemory.ClassCounts, score.ClassCounts);
        }

        // ... and bytes 0…255 given as a tensor are refused, not clamped to white
        using var bytes = ((images + 1) * 127.5).to(TorchSharp.torch.ScalarType.Byte);
        Assert.Contains("must be floating-point values in [−1, 1]; got Byte", Assert.Throws<ArgumentException>(() => evaluator.ScoreImages(bytes, "bytes")).Message);
    }

    [Fact]
    public void Given_a_tiny_model_When_a_small_sweep_runs_Then_it_writes_the_Table_1_markdown_and_a_PNG_plot()
    {
        // Given
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel(folder));
        using var judge = SyntheticDigits.TrainedJudge(epochs: 1);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(60, 7, "synthetic-test"));
        var plan = new SweepPlan([2, 5], [0.0, 1.0]);
        var options = new EvalOptions(Count: 8, Seed: 1, BatchSize: 8, FloorDraws: 4);
        var started = new List<string>();

        // When
        var result = Sweep.Run(evaluator, sampler, plan, SyntheticDigits.Make(40, 8), options, starting: (s, _, _) => started.Add(s.ToString()));
        var context = new SweepContext("ddim eval --sweep --sweep-steps 2,5 --num 8", "tiny.ddim", "judge.ddim", SweepContext.ThisMachine(), new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var (md, png) = SweepReport.Write(folder.File("results"), result, context);
        if (Environment.GetEnvironmentVariable("DDIM_KEEP_SWEEP") is { Length: > 0 } keep)
        {
            File.Copy(md, Path.Combine(keep, "sweep.md"), true);
            File.Copy(png!, Path.Combine(keep, "sweep.png"), true);
        }

        // Then: 3 rows (η = 0, η = 1, σ̂) × 2 columns + the DDPM cell over all T = 20 steps
        Assert.Equal(7, result.Cells.Count);
        Assert.Equal(7, started.Count);
        Assert.Equal(20, result.DdpmCell!.NetworkCalls);
        Assert.Equal(2, result.Find(2, 2)!.NetworkCalls);
        Assert.True(result.Find(2, 5)!.Settings.LargeVariance);
        Assert.All(result.Cells, c => Assert.True(double.IsFinite(c.Score.Fid)));

        var text = File.ReadAllText(md);
        Assert.Contains("|  | S = 2 | S = 5 | T = 20 (DDPM) |", text);
        Assert.Contains("| η = 0.0 |", text);
        Assert.Contains("| σ̂ |", text);
        Assert.Contains("ddim eval --sweep --sweep-steps 2,5 --num 8", text);
        Assert.Contains("Real-data floor", text);
        Assert.Contains("table1-mnist.png", text);
        Assert.Contains("### Precision / recall (k = 3", text);
        Assert.Contains("### Density / coverage (k = 5", text);
        Assert.Contains("### FID μ", text);
        Assert.NotNull(result.FloorDraws);
        Assert.Equal(4, result.FloorDraws.Fid.Count);
        Assert.Contains("Over 4 draws of 8 real training images", text);
        Assert.Contains(", precision / recall ", text);

        var bytes = File.ReadAllBytes(png!);
        Assert.True(bytes.Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);

        // And without a plot (where SkiaSharp's native library is missing): the same page, no image and no link to one.
        var (mdOnly, noPlot) = SweepReport.Write(folder.File("no-plot"), result, context, "table", plot: false);
        Assert.Null(noPlot);
        Assert.False(File.Exists(folder.File("no-plot/table.png")));
        var plain = File.ReadAllText(mdOnly);
        Assert.DoesNotContain(".png", plain);
        Assert.Contains("| η = 0.0 |", plain);

        // And a library caller in a culture with other separators gets the same page, byte for byte.
        var culture = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.GetCultureInfo("de-DE");
            Assert.Equal(SweepReport.Markdown(result, context, "table1-mnist.png"), text);
            Assert.Equal("de-DE", System.Globalization.CultureInfo.CurrentCulture.Name);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = culture;
        }
    }

    [Fact]
    public void Given_a_configuration_whose_sampler_diverges_When_a_sweep_runs_it_Then_the_cell_is_saved_as_diverged_and_the_sweep_goes_on()
    {
        // Given: a network that returns NaN at t = 12, a timestep of S = 3's timetable (19, 12, 5) and not of S = 2's (19, 9)
        using var folder = new TempFolder();
        using var inner = ImageSampler.Load(TinyModel(folder));
        var sampler = new ImageSampler(
            (x, t) => t[0].item<long>() == 12 ? TorchSharp.torch.full_like(x, double.NaN) : inner.Model(x, t), inner.Schedule, 1, SyntheticDigits.Size, SyntheticDigits.Size);
        using var judge = SyntheticDigits.TrainedJudge(epochs: 1);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(40, 7, "synthetic-test"));
        var plan = new SweepPlan([3, 2], [0.0], LargeVariance: false, Ddpm: false);
        var options = new EvalOptions(Count: 6, Seed: 2, BatchSize: 6);
        var store = new SweepCellStore(folder.File("cells"), "model A, N = 6");

        // When
        var result = Sweep.Run(evaluator, sampler, plan, SyntheticDigits.Make(30, 8), options, store: store);
        var reread = Sweep.Run(evaluator, sampler, plan, SyntheticDigits.Make(30, 8), options, store: store, resume: true);
        var context = new SweepContext("ddim eval --sweep", "tiny.ddim", "judge.ddim", "test machine", DateTime.UtcNow);

        // Then: S = 3 is diverged (FID NaN, no manifold scores, a label that says so), S = 2 after it was still scored
        var diverged = result.Find(0, 3)!.Score;
        Assert.True(diverged.Diverged);
        Assert.Null(diverged.Manifold);
        Assert.EndsWith("(diverged: 6 of 6 images NaN)", diverged.Label);
        Assert.False(result.Find(0, 2)!.Score.Diverged);
        Assert.True(double.IsFinite(result.Find(0, 2)!.Score.Fid));
        Assert.True(reread.Find(0, 3)!.Reused);
        Assert.True(reread.Find(0, 3)!.Score.Diverged);
        Assert.Contains("| η = 0.0 | diverged |", SweepReport.Markdown(result, context));
        Assert.True(SweepReport.Plot(result).Length > 1000);
    }

    [Fact]
    public void Given_a_set_with_some_NaN_images_When_judged_and_scored_Then_they_are_counted_and_the_score_is_diverged()
    {
        // Given: eight real-looking images, two of them with one NaN pixel
        using var judge = SyntheticDigits.TrainedJudge(epochs: 1);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(40, 7, "synthetic-test"));
        using var images = SyntheticDigits.Make(8, 3).ToTensor(TorchSharp.torch.CPU);
        images[1, 0, 2, 2] = TorchSharp.torch.tensor(double.NaN);
        images[6, 0, 0, 0] = TorchSharp.torch.tensor(double.NaN);
        var meter = new JudgeMeter(judge);

        // When
        meter.Add(images);
        var score = evaluator.Score("set", meter, TimeSpan.Zero, TimeSpan.Zero);

        // Then
        Assert.Equal(2, meter.NaNImages);
        Assert.True(score.Diverged);
        Assert.Equal("set (diverged: 2 of 8 images NaN)", score.Label);
        Assert.True(double.IsNaN(score.ConfidentShare));
        Assert.Null(score.Manifold);
    }

    [Fact]
    public void Given_cells_sampled_at_other_batch_sizes_When_the_sweep_reports_them_Then_each_size_is_named_with_its_cells()
    {
        // Given: a sweep run now at batch 64 that reused cells of a GPU run at 1,024 and of a run that did not record it
        var score = new QualityScore("x", 8, 1.0, 1.0, 0.0, new long[10], TimeSpan.FromSeconds(1), TimeSpan.Zero);
        var plan = new SweepPlan([10, 20], [0.0, 1.0], LargeVariance: false, Ddpm: false);
        SweepCell Cell(int row, int s, bool reused, int? batch) => new(plan.Cell(row, s), s, score, reused, batch);
        SweepResult Result(params SweepCell[] cells) =>
            new(plan, new EvalOptions(Count: 8, BatchSize: 64), 1000, cells, score, "ref", 10, TimeSpan.FromMinutes(1));

        // When
        var mixed = Result(Cell(0, 10, false, 64), Cell(0, 20, true, 1024), Cell(1, 10, true, 1024), Cell(1, 20, true, null));
        var same = Result(Cell(0, 10, false, 64), Cell(0, 20, true, 64));

        // Then
        Assert.Equal("64 (1 cell), 1,024 (2 cells), not recorded (1 cell)", mixed.BatchSizes());
        Assert.Equal("64", same.BatchSizes());
    }

    [Fact]
    public void Given_etas_that_differ_in_the_third_decimal_When_the_rows_are_labelled_Then_each_label_shows_its_own_eta()
    {
        // Given / When
        var plan = new SweepPlan([10], [0.0, 0.001, 0.2, 1.0]);

        // Then
        Assert.Equal(["η = 0.0", "η = 0.001", "η = 0.2", "η = 1.0", "σ̂"], plan.RowLabels);
    }

    [Fact]
    public void Given_a_sweep_stopped_after_two_cells_When_it_is_resumed_Then_only_the_others_run_and_the_scores_equal_an_uninterrupted_sweep()
    {
        // Given: a sweep whose cells are saved as they finish, cancelled once two cells are done
        using var folder = new TempFolder();
        using var inner = ImageSampler.Load(TinyModel(folder));
        var calls = new CallCount();
        var sampler = Counted(inner, calls);
        using var judge = SyntheticDigits.TrainedJudge(epochs: 1);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(40, 7, "synthetic-test"));
        var floorSource = SyntheticDigits.Make(30, 8);
        var plan = new SweepPlan([2, 3], [0.0, 1.0], LargeVariance: false, Ddpm: true);
        var options = new EvalOptions(Count: 6, Seed: 2, BatchSize: 6);
        var store = new SweepCellStore(folder.File("cells"), "model A, N = 6");
        using var cancel = new CancellationTokenSource();
        var done = 0;
        Assert.Throws<OperationCanceledException>(() => Sweep.Run(
            evaluator, sampler, plan, floorSource, options, finished: _ => { if (++done == 2) { cancel.Cancel(); } }, cancel: cancel.Token, store: store));
        var whole = Sweep.Run(evaluator, inner, plan, floorSource, options);

        // When
        calls.Value = 0;
        var ran = new List<string>();
        var resumed = Sweep.Run(evaluator, sampler, plan, floorSource, options, finished: c => { if (!c.Reused) { ran.Add(c.Settings.ToString()); } }, store: store, resume: true);

        // Then: the two saved cells are read back exactly, with the batch they ran at; the other three (2 + 3 + 20 calls on the one batch of 6) run now
        Assert.Equal(2, resumed.ReusedCount);
        Assert.All(resumed.Cells, c => Assert.Equal(resumed.Options.BatchSize, c.BatchSize));
        Assert.Equal(resumed.Options.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture), resumed.BatchSizes());
        Assert.Equal(3, ran.Count);
        Assert.Equal(2 + 3 + 20, calls.Value);
        Assert.Equal(whole.Cells.Select(c => c.Settings), resumed.Cells.Select(c => c.Settings));
        Assert.Equal(whole.Cells.Select(c => c.Score.Fid), resumed.Cells.Select(c => c.Score.Fid));
        Assert.Equal(whole.Cells.Select(c => c.Score.ClassCounts), resumed.Cells.Select(c => c.Score.ClassCounts));
        Assert.Equal(whole.Floor.Fid, resumed.Floor.Fid);
        var again = Sweep.Run(evaluator, sampler, plan, floorSource, options, store: store, resume: true);
        Assert.Equal(5, again.ReusedCount);
        Assert.Equal(resumed.Cells.Select(c => (c.Score.Fid, c.Score.ClassKl, c.Score.Elapsed, c.Score.JudgeTime)), again.Cells.Select(c => (c.Score.Fid, c.Score.ClassKl, c.Score.Elapsed, c.Score.JudgeTime)));
        var context = new SweepContext("ddim eval --sweep --resume", "tiny.ddim", "judge.ddim", "test machine", DateTime.UtcNow);
        Assert.Contains("reused 5 of 5 cells", SweepReport.Markdown(again, context));
        Assert.Contains("The T = 20 column is DDPM", SweepReport.Markdown(again, context));
        var withoutDdpm = Sweep.Run(evaluator, inner, plan with { Ddpm = false }, floorSource, options);
        Assert.Contains("left out of this run (--no-ddpm)", SweepReport.Markdown(withoutDdpm, context));

        // And a sweep without --resume never overwrites saved cells: it is refused before any work.
        calls.Value = 0;
        var refused = Assert.Throws<InvalidOperationException>(() => Sweep.Run(evaluator, sampler, plan, floorSource, options, store: store));
        Assert.Contains("holds 5 cell(s)", refused.Message);
        Assert.Contains("--resume", refused.Message);
        Assert.Equal(0, calls.Value);
        Assert.Equal(5, store.Count);
    }

    [Fact]
    public void Given_a_cell_When_saved_and_read_back_Then_its_file_name_is_stable_and_every_value_is_exact_NaN_included()
    {
        // Given
        using var folder = new TempFolder();
        var store = new SweepCellStore(folder.File("cells"), "model A");
        var settings = new SampleSettings(Steps: 50, Eta: 0.5, RederiveNoise: false);
        var score = new QualityScore("DDIM S=50 η=0.5", 4, double.NaN, 0.1 + 0.2, 1.0 / 3, [1, 2, 1, 0], TimeSpan.FromTicks(12_345_678_901), TimeSpan.FromTicks(7),
            new ManifoldScores(0.7 + 0.1, 2.0 / 3, 1.0 / 7, 0.3, 4), FidMean: 0.1 + 0.7);

        // When
        store.Save(new SweepCell(settings, 50, score), "test machine");
        var back = store.TryLoad(settings)!;

        // Then: the name is the one the committed cells (all with the kept ε̂) carry: a readable part and 8 hex digits of the settings' hash
        Assert.Equal("ddim-s50-eta0.5-d5200c7f.json", Path.GetFileName(store.PathOf(settings)));
        Assert.Equal("ddim-s10-eta0-d0c333a9.json", Path.GetFileName(store.PathOf(new SampleSettings(Steps: 10, RederiveNoise: false))));
        Assert.True(back.Reused);
        Assert.Equal(50, back.NetworkCalls);
        Assert.True(double.IsNaN(back.Score.Fid));
        Assert.Equal(score.ConfidentShare, back.Score.ConfidentShare);
        Assert.Equal(score.ClassKl, back.Score.ClassKl);
        Assert.Equal(score.ClassCounts, back.Score.ClassCounts);
        Assert.Equal(score.Elapsed, back.Score.Elapsed);
        Assert.Equal(score.JudgeTime, back.Score.JudgeTime);
        Assert.Equal(score.Manifold, back.Score.Manifold);
        Assert.Equal(score.FidMean, back.Score.FidMean);
        Assert.Null(store.TryLoad(new SampleSettings(Steps: 50, Eta: 1)));
    }

    [Fact]
    public void Given_a_cell_saved_before_the_manifold_scores_existed_When_read_back_Then_it_has_its_other_scores_and_no_manifold_scores()
    {
        // Given: a cell file as the committed ones are, without "Manifold" or "FidMean"
        using var folder = new TempFolder();
        var store = new SweepCellStore(folder.File("cells"), "model A");
        var settings = new SampleSettings(Steps: 10, RederiveNoise: false);
        Directory.CreateDirectory(store.Directory);
        File.WriteAllText(store.PathOf(settings), """
            { "Version": 1, "Fingerprint": "model A", "Settings": { "Steps": 10, "Eta": 0, "RederiveNoise": false }, "NetworkCalls": 10,
              "Score": { "Label": "DDIM S=10 η=0", "Count": 4, "Fid": 34.5, "ConfidentShare": 0.75, "ClassKl": 0.01, "ClassCounts": [1, 1, 2],
                         "Elapsed": "00:00:05.8301818", "JudgeTime": "00:00:00.9847819" },
              "Machine": "elsewhere", "FinishedUtc": "2026-11-27T08:33:20Z" }
            """);

        // When
        var back = store.TryLoad(settings)!;

        // Then
        Assert.Equal(34.5, back.Score.Fid);
        Assert.Null(back.Score.Manifold);
        Assert.Null(back.Score.FidMean);
    }

    [Fact]
    public void Given_cells_saved_with_the_kept_noise_When_looked_up_with_today_s_default_Then_only_the_configurations_it_changes_are_new_cells()
    {
        // Given: cells of the kind committed before re-deriving ε̂ became the default (RederiveNoise false)
        using var folder = new TempFolder();
        var store = new SweepCellStore(folder.File("cells"), "model A");
        var score = new QualityScore("x", 4, 1.5, 0.5, 0.1, [2, 2], TimeSpan.FromSeconds(1), TimeSpan.Zero);
        SampleSettings[] saved =
        [
            new(Steps: 10, RederiveNoise: false),
            new(SamplerKind.Ddpm, RederiveNoise: false),
            new(Steps: 10, Clip: false, RederiveNoise: false),
        ];
        foreach (var s in saved)
        {
            store.Save(new SweepCell(s, 10, score), "test machine");
        }

        // When / Then: clipped DDIM by default is another configuration, so another cell; the kept form finds its own
        Assert.True(new SampleSettings().RederiveNoise);
        Assert.Null(store.TryLoad(new SampleSettings(Steps: 10)));
        Assert.NotNull(store.TryLoad(new SampleSettings(Steps: 10, RederiveNoise: false)));

        // ... while DDPM, and DDIM without clipping, which the choice does not touch, find the saved cells under either spelling
        Assert.Equal(1.5, store.TryLoad(new SampleSettings(SamplerKind.Ddpm))!.Score.Fid);
        Assert.Equal(1.5, store.TryLoad(new SampleSettings(Steps: 10, Clip: false))!.Score.Fid);
        Assert.Equal(store.PathOf(new SampleSettings(SamplerKind.Ddpm)), store.PathOf(new SampleSettings(SamplerKind.Ddpm, RederiveNoise: false)));
        Assert.Equal(3, store.Count);
    }

    [Theory]
    [InlineData("model SHA-256 ab12, reference mnist-test (10,000), N = 10,000, seed 0, device cpu-bf16", "'device cpu' there, 'device cpu-bf16' here", "They were made with --precision fp32")]
    [InlineData("model SHA-256 cd34, reference mnist-test (10,000), N = 1,000, seed 0, device cpu", "'model SHA-256 ab12' there, 'model SHA-256 cd34' here; 'N = 10,000' there, 'N = 1,000' here", "Give this sweep another --name")]
    [InlineData("model SHA-256 ab12, device cpu", "'model SHA-256 ab12, reference mnist-test (10,000), N = 10,000, seed 0, device cpu' there, 'model SHA-256 ab12, device cpu' here", "Give this sweep another --name")]
    public void Given_a_cell_saved_from_other_inputs_When_looked_up_Then_the_error_names_only_the_inputs_that_differ(string current, string expected, string advice)
    {
        // Given: a cell saved by a float32 run at N = 10,000
        using var folder = new TempFolder();
        var settings = new SampleSettings(Steps: 10);
        var saved = new SweepCellStore(folder.File("cells"), "model SHA-256 ab12, reference mnist-test (10,000), N = 10,000, seed 0, device cpu");
        saved.Save(new SweepCell(settings, 10, new QualityScore("x", 4, 1.5, 0.5, 0.1, [2, 2], TimeSpan.FromSeconds(1), TimeSpan.Zero)), "test machine");

        // When: a run with other inputs looks it up
        var e = Assert.Throws<InvalidDataException>(() => new SweepCellStore(saved.Directory, current).TryLoad(settings));

        // Then: the message names what differs (each part, or both whole when their parts do not line up), and the way out
        Assert.Contains($"was made from other inputs than this run: {expected}. {advice}", e.Message);
    }

    [Theory]
    [InlineData("{ not json", "is not a readable sweep cell")]
    [InlineData("""{ "Version": 2, "Fingerprint": "model A", "Settings": { "Steps": 50, "Eta": 0.5 }, "NetworkCalls": 50 }""", "format version 2, not 1")]
    [InlineData("""{ "Version": 1, "Fingerprint": "model A", "Settings": { "Steps": 20, "Eta": 0.5 }, "NetworkCalls": 50 }""", "holds the cell of DDIM S=20")]
    [InlineData("""{ "Version": 1, "Fingerprint": "model A", "Settings": { "Steps": 50, "Eta": 0.5 }, "NetworkCalls": 50 }""", "it has no score")]
    public void Given_a_damaged_cell_file_When_a_sweep_resumes_Then_a_clear_error_says_which_file_and_what_is_wrong(string content, string expected)
    {
        using var folder = new TempFolder();
        var store = new SweepCellStore(folder.File("cells"), "model A");
        var settings = new SampleSettings(Steps: 50, Eta: 0.5);
        Directory.CreateDirectory(store.Directory);
        File.WriteAllText(store.PathOf(settings), content);

        var e = Assert.Throws<InvalidDataException>(() => store.TryLoad(settings));

        Assert.Contains(Path.GetFileName(store.PathOf(settings)), e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains("Delete it", e.Message);
    }

    [Fact]
    public void Given_a_sweep_with_saved_cells_When_it_reports_saved_cells_only_Then_nothing_is_sampled_and_a_missing_cell_is_a_clear_error()
    {
        // Given: a sweep of four cells, all saved
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel(folder));
        using var judge = new Judge(SyntheticDigits.TinyJudge);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(30, 7));
        var plan = new SweepPlan([2, 3], [0.0], LargeVariance: true, Ddpm: false);
        var options = new EvalOptions(Count: 4, BatchSize: 4);
        var store = new SweepCellStore(folder.File("cells"), "model A, device cuda");
        var whole = Sweep.Run(evaluator, sampler, plan, SyntheticDigits.Make(30, 8), options, store: store);
        var calls = new CallCount();
        var counting = Counted(sampler, calls);

        // When: every cell is saved
        var report = Sweep.Run(evaluator, counting, plan, SyntheticDigits.Make(30, 8), options, store: store, resume: true, savedOnly: true);

        // Then: all are read back, none is sampled
        Assert.Equal(0, calls.Value);
        Assert.Equal(whole.Cells.Count, report.ReusedCount);
        Assert.Equal(whole.Cells.Select(c => c.Score.Fid), report.Cells.Select(c => c.Score.Fid));

        // When: one cell is missing
        File.Delete(store.PathOf(plan.Configurations()[^1]));
        var e = Assert.Throws<InvalidOperationException>(() =>
            Sweep.Run(evaluator, counting, plan, SyntheticDigits.Make(30, 8), options, store: store, resume: true, savedOnly: true));

        // Then: the error names the missing cell and the way to finish it, and nothing ran
        Assert.Equal(0, calls.Value);
        Assert.Contains("1 of the sweep's 4 cells are not saved", e.Message);
        Assert.Contains(plan.Configurations()[^1].ToString(), e.Message);
        Assert.Contains("--resume on the device that made the others", e.Message);
        Assert.Throws<ArgumentException>(() => Sweep.Run(evaluator, counting, plan, SyntheticDigits.Make(30, 8), options, store: store, savedOnly: true));

        // And: cells asked for with another device's fingerprint get the caller's advice, not a suggestion to delete them
        var otherDevice = new SweepCellStore(store.Directory, "model A, device cpu", mismatchAdvice: "Check --cells-from.");
        var mismatch = Assert.Throws<InvalidDataException>(() =>
            Sweep.Run(evaluator, counting, plan, SyntheticDigits.Make(30, 8), options, store: otherDevice, resume: true, savedOnly: true));
        Assert.Contains("Check --cells-from.", mismatch.Message);
        Assert.Contains("'device cuda' there, 'device cpu' here", mismatch.Message);
        Assert.DoesNotContain("model A", mismatch.Message);
        Assert.DoesNotContain("delete", mismatch.Message);

        // And: without the caller's advice, cells of another device or precision get the option that uses them, not "delete"
        var defaults = new[] { "model A, device cpu", "model A, device cuda-bf16" }.Select(f => Assert.Throws<InvalidDataException>(() =>
            Sweep.Run(evaluator, counting, plan, SyntheticDigits.Make(30, 8), options, store: new SweepCellStore(store.Directory, f), resume: true)).Message).ToList();
        Assert.Contains("Run with --device cuda to add cells to them, or with --cells-from cuda and --resume to report them here", defaults[0]);
        Assert.Contains("They were made with --precision fp32: run with it to use them", defaults[1]);
        Assert.All(defaults, m => Assert.DoesNotContain("delete", m));

        // And: no cells at all points at the folder
        var empty = new SweepCellStore(folder.File("no-cells"), "model A, device cuda");
        var none = Assert.Throws<InvalidOperationException>(() =>
            Sweep.Run(evaluator, counting, plan, SyntheticDigits.Make(30, 8), options, store: empty, resume: true, savedOnly: true));
        Assert.Contains("No sweep cells are saved under", none.Message);
        Assert.Contains("--results-dir and --name", none.Message);
        Assert.Equal(0, calls.Value);
    }

    [Fact]
    public void Given_cells_saved_from_another_model_When_a_sweep_resumes_from_them_Then_a_clear_error_says_how_to_start_over()
    {
        // Given
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel(folder));
        using var judge = new Judge(SyntheticDigits.TinyJudge);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(30, 7));
        var plan = new SweepPlan([2], [0.0], LargeVariance: false, Ddpm: false);
        var options = new EvalOptions(Count: 4, BatchSize: 4);
        Sweep.Run(evaluator, sampler, plan, SyntheticDigits.Make(30, 8), options, store: new SweepCellStore(folder.File("cells"), "model A"));
        var calls = new CallCount();
        var counting = Counted(sampler, calls);

        // When
        var e = Assert.Throws<InvalidDataException>(() =>
            Sweep.Run(evaluator, counting, plan, SyntheticDigits.Make(30, 8), options, store: new SweepCellStore(folder.File("cells"), "model B"), resume: true));

        // Then: nothing ran, and the message names both inputs and the way out
        Assert.Equal(0, calls.Value);
        Assert.Contains("model A", e.Message);
        Assert.Contains("model B", e.Message);
        Assert.Contains("another --name", e.Message);
        Assert.Contains("to start over", e.Message);
    }

    [Fact]
    public void Given_sweep_steps_beyond_T_When_the_sweep_starts_Then_a_clear_error_names_the_option()
    {
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel(folder));
        using var judge = new Judge(SyntheticDigits.TinyJudge);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(30, 7));

        var e = Assert.Throws<ArgumentException>(() =>
            Sweep.Run(evaluator, sampler, new SweepPlan([10, 50], [0.0]), SyntheticDigits.Make(30, 8), new EvalOptions(Count: 4)));
        Assert.Contains("--sweep-steps", e.Message);
        Assert.Contains("T = 20", e.Message);
    }

    [Fact]
    public void Given_a_judge_for_other_images_When_a_model_is_evaluated_Then_a_clear_error_explains_the_mismatch()
    {
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel(folder));
        using var judge = new Judge(new JudgeConfig(ImageSize: 28));
        var reference = SyntheticDigits.Make(30, 7);

        var e = Assert.Throws<ArgumentException>(() => new Evaluator(judge, reference));
        Assert.Contains("1×28×28", e.Message);
    }

    [Fact]
    public void Given_more_images_than_the_floor_source_holds_When_evaluated_Then_a_clear_error_says_to_lower_num()
    {
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel(folder));
        using var judge = new Judge(SyntheticDigits.TinyJudge);
        var evaluator = new Evaluator(judge, SyntheticDigits.Make(30, 7));

        var e = Assert.Throws<ArgumentException>(() =>
            evaluator.Evaluate(sampler, new SampleSettings(Steps: 2), SyntheticDigits.Make(10, 8), new EvalOptions(Count: 11)));
        Assert.Contains("The real-data floor needs 2 … 10 images", e.Message);
        Assert.Contains("--num is 11. Lower --num.", e.Message);
    }
}
