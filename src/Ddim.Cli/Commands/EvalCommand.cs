using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Data;
using Ddim.Evaluation;
using Ddim.Imaging;
using Ddim.Models;
using Ddim.Sampling;
using Ddim.Schedules;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

internal sealed class EvalCommand : Command<EvalCommand.Settings>
{
    /// <summary>The sweep's S values when --sweep-steps is left out (the paper's Table 1 columns).</summary>
    private const string DefaultSweepSteps = "10,20,50,100";

    /// <summary>The sweep's η rows when --sweep-etas is left out (the paper's Table 1 rows).</summary>
    private const string DefaultSweepEtas = "0,0.2,0.5,1";

    /// <summary>
    /// Where --sweep and --seeds save their cells and reports when --results-dir is left out: under runs/ (ignored by
    /// git), not docs/results, whose committed cells and tables a user's sweep would otherwise run into (it was
    /// docs/results until 2026-11-28; commands recorded before then need --results-dir docs/results).
    /// </summary>
    private const string DefaultResultsDir = "runs/eval";

    /// <summary>The default <c>--name</c> of the <c>--seeds</c> cell folder.</summary>
    private const string SeedCellsName = "eval-seeds";

    /// <summary>Images in the MNIST training split, the most a real floor can draw.</summary>
    private const int MnistTrainImages = 60000;

    public sealed class Settings : SamplerSettingsBase
    {
        [CommandOption("--judge <FILE>")]
        [Description("The MNIST judge (ddim train-classifier). Default: the bundled models/judge/judge.ddim.")]
        public string? Judge { get; init; }

        [CommandOption("-n|--num <N>")]
        [Description("Images to generate per configuration, and real images for the floor: at least 2. Default 1000; use 10000 for final numbers.")]
        public int? Num { get; init; }

        [CommandOption("--floor-draws <M>")]
        [Description("Also score M draws of N real training images (draw k is seed k's floor) and divide by their mean FID in ×floor: one draw's FID moves by as much as a sampler's does between seeds. Default 20 (seconds at N = 1,000); 0 divides by the seed's own draw only; 1 is refused (a mean of one draw has no spread).")]
        public int FloorDraws { get; init; } = 20;

        [CommandOption("--sweep")]
        [Description("Run the DDIM paper's Table 1 on MNIST: rows η (and σ̂), columns S, plus DDPM over all T; writes a markdown table and a PNG plot.")]
        public bool Sweep { get; init; }

        [CommandOption("--sweep-steps <LIST>")]
        [Description($"The sweep's S values, comma-separated (default {DefaultSweepSteps}).")]
        public string? SweepSteps { get; init; }

        [CommandOption("--sweep-etas <LIST>")]
        [Description($"The sweep's η rows, comma-separated (default {DefaultSweepEtas}).")]
        public string? SweepEtas { get; init; }

        [CommandOption("--no-large-variance")]
        [Description("Leave the σ̂ row out of the sweep.")]
        public bool NoLargeVariance { get; init; }

        [CommandOption("--no-ddpm")]
        [Description("Leave the DDPM cell (all T steps, the slowest) out of the sweep.")]
        public bool NoDdpm { get; init; }

        [CommandOption("--results-dir <DIR>")]
        [Description("Where the sweep writes NAME.md and NAME.png, and each finished cell (a sweep's, or a --seeds run's seed) under NAME.cells/. Default runs/eval.")]
        public string? ResultsDir { get; init; }

        [CommandOption("--seeds <LIST>")]
        [Description("Evaluate the configuration at each of these seeds (comma-separated, e.g. 0,1,2,3) and report every score's mean ± SD over them: at N = 1,000 one seed's FID can move by several points. Each seed's scores are saved under RESULTS-DIR/NAME.cells/nN-DEVICE/model-SHA/seed-K/ as it finishes (DEVICE: cpu or cuda, with -bf16 under --precision bf16; SHA: the start of the model's SHA-256; --resume reuses them).")]
        public string? Seeds { get; init; }

        [CommandOption("--resume")]
        [Description("With --sweep: reuse the cells that an earlier run of the same sweep saved under RESULTS-DIR/NAME.cells/ (same model, judge, N, seed and device) and run only the others. Every sweep saves each cell there as it finishes; without --resume that folder must be empty. With --seeds: reuse the seeds already saved for this configuration. Ctrl-C stops either once the cell or seed in progress is saved.")]
        public bool Resume { get; init; }

        [CommandOption("--cells-from <DEVICE>")]
        [Description("With --sweep --resume: report the cells that a run of the same sweep with --device DEVICE (cpu or cuda) saved, e.g. to draw the plot of a GPU sweep on a machine without a GPU. Nothing is sampled, so every cell must be saved already; the floor is scored here. Cells of a --precision bf16 sweep need --precision bf16 here too.")]
        public string? CellsFrom { get; init; }

        [CommandOption("--name <NAME>")]
        [Description("Base name of the sweep's files (default table1-mnist, or table1-mnist-bf16 with --precision bf16), or of the --seeds cell folder (default eval-seeds).")]
        public string? Name { get; init; }

        [CommandOption("--images <DIR>")]
        [Description("Score a folder of same-size PNG images instead of generating any (e.g. 'ddim sample --num 1000 --out-dir DIR', or another tool's samples): all of them are judged as 8-bit images, and the floor uses as many real images.")]
        public string? Images { get; init; }

        [CommandOption("--json <FILE>")]
        [Description("Also write the scores as JSON.")]
        public string? Json { get; init; }

        [CommandOption("--data-dir <DIR>")]
        [Description(DataDirOption.Description)]
        public string? DataDir { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (!settings.Sweep && settings.Seeds is null)
        {
            return Evaluate(settings, cancellationToken); // one configuration saves nothing until it is done: Ctrl-C ends it
        }

        // A sweep and --seeds save each cell or seed as it finishes: once they start, Ctrl-C lets the one in progress
        // finish first. While the model, judge and data load, Ctrl-C ends the run at once: there is nothing to save yet.
        var unit = settings.Sweep ? "cell" : "seed";
        using var stop = new GracefulStop(cancellationToken, $"the {unit} in progress is scored and saved", armed: false);
        try
        {
            return Evaluate(settings, stop.Token, stop.Arm);
        }
        catch (OperationCanceledException) when (stop.Requested)
        {
            AnsiConsole.MarkupLine($"[yellow]Stopped.[/] Every finished {unit} is saved; the same command with --resume goes on from them.");
            return 130;
        }
    }

    // startingWork: called when the loading is done and the first cell or seed (or its floor) is about to start.
    private static int Evaluate(Settings settings, CancellationToken cancellationToken, Action? startingWork = null)
    {
        ThreadsOption.Apply(settings.Threads);
        if (settings.Images is not null)
        {
            // First, so that no check of the sampler options (which --images does not use) speaks before this one.
            SamplerSettingsBase.Refuse(
                "--images scores a folder of existing images, every one of them (generate them first with 'ddim sample --out-dir DIR')",
                [
                    (settings.Sweep, "--sweep"),
                    (settings.Model is not null, "--model"),
                    (settings.Precision is not null, "--precision"),
                    (settings.Num is not null, "--num"),
                    .. settings.OptionsGiven(clipping: false, seed: true),
                    (settings.DeviceGiven is not null, "--device"),
                    (settings.BatchSizeGiven is not null, "--batch-size"),
                ]);
        }

        var options = new EvalOptions(settings.Num ?? 1000, settings.Seed ?? 0, settings.BatchSize, FloorDraws: settings.FloorDraws);
        options.Validate();
        var sampleSettings = ParseSampleSettings(settings);
        var seeds = settings.Seeds is null ? null : NumberList.Parse<long>(settings.Seeds, "--seeds", "0,1,2,3");
        if (seeds is not null)
        {
            if (settings.Sweep || settings.Images is not null)
            {
                throw new ArgumentException("--seeds evaluates one sampler configuration at several seeds; it does not combine with --sweep or --images. Run it once per configuration.");
            }

            if (settings.Seed is not null)
            {
                throw new ArgumentException("Give either --seed (one seed) or --seeds (several), not both.");
            }

            SeedRuns.Validate(seeds);
        }

        if (settings.Resume && !settings.Sweep && seeds is null)
        {
            throw new ArgumentException("--resume continues a stopped --sweep or --seeds run; a single seed has nothing to resume. Add --sweep or --seeds, or leave --resume out.");
        }

        if (!settings.Sweep)
        {
            SamplerSettingsBase.Refuse(
                "--sweep-steps, --sweep-etas, --no-large-variance and --no-ddpm shape a --sweep, and this run is none",
                (settings.SweepSteps is not null, "--sweep-steps"),
                (settings.SweepEtas is not null, "--sweep-etas"),
                (settings.NoLargeVariance, "--no-large-variance"),
                (settings.NoDdpm, "--no-ddpm"));
            if (seeds is null)
            {
                SamplerSettingsBase.Refuse(
                    "One configuration at one seed saves nothing under a results folder (--json FILE writes its scores)",
                    (settings.ResultsDir is not null, "--results-dir"),
                    (settings.Name is not null, "--name"));
            }
        }

        var cellsDevice = settings.CellsFrom?.ToLowerInvariant();
        if (cellsDevice is not (null or "cpu" or "cuda"))
        {
            throw new ArgumentException($"Unknown --cells-from '{settings.CellsFrom}'; use cpu or cuda, the --device of the run that saved the cells.");
        }

        if (settings.CellsFrom is not null && !(settings.Sweep && settings.Resume))
        {
            throw new ArgumentException("--cells-from reports the saved cells of a sweep: use it with --sweep --resume.");
        }

        var plan = settings.Sweep ? ParsePlan(settings, sampleSettings) : null;
        // A bfloat16 network's scores differ from float32's: its sweep report, sweep cells (default name) and seed cells
        // (nN-cpu-bf16/) go beside float32's, never over them, and its fingerprint names it.
        var precisionSuffix = PrecisionOption.Parse(settings.Precision) == NetworkPrecision.BFloat16 ? "-bf16" : string.Empty;
        var name = settings.Name ?? (seeds is null ? SweepReport.DefaultName + precisionSuffix : SeedCellsName);
        var resultsDir = settings.ResultsDir ?? DefaultResultsDir;
        if (name.Length == 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
        {
            throw new ArgumentException($"--name '{name}' is not a valid file name.");
        }

        if (plan is not null || seeds is not null)
        {
            // Before the floor and the first cell are scored, not when the first cell is saved.
            OutputPaths.RequireWritableFolder(resultsDir, "--results-dir", create: false);
        }

        if (plan is not null && settings.CellsFrom is not null)
        {
            SweepCellStore.RequireSavedCells(Path.Combine(resultsDir, name + ".cells")); // before the judge and the data load
        }

        var device = settings.ParseDevice();
        var precision = settings.Images is null ? settings.ParsePrecision(device) : NetworkPrecision.Float32;
        if (settings.Json is not null)
        {
            OutputPaths.RequireReportFile("--json", settings.Json, ".json", "scores.json");
        }

        if (settings.Images is { } folder)
        {
            return ScoreFolder(settings, folder, options.Seed);
        }

        // --- Load the model, the judge and the data; check they fit each other before any long work.
        var modelPath = ModelLocator.Resolve(settings.Model);
        var judgePath = ResolveJudge(settings);
        var (network, schedule, modelFile) = ModelFile.LoadNetwork(modelPath, device, precision);
        using var _ = network;
        var sampler = new ImageSampler(network, schedule);
        options = options with { BatchSize = sampler.WholeGroups(options.BatchSize) }; // the batch that really runs, as the reports and JSONs say
        if (plan is null)
        {
            sampleSettings.Validate(schedule);
        }
        else
        {
            plan.Validate(schedule);
        }

        using var judge = Ddim.Evaluation.Judge.Load(judgePath, out var judgeMetadata);
        Evaluator.RequireShape(judge, (int)sampler.Shape[0], (int)sampler.Shape[1], (int)sampler.Shape[2], "the model's images"); // before the reference is loaded
        var modelData = Provenance.TrainedOn(modelFile);
        if (modelData is not null && !modelData.Equals("mnist-train", StringComparison.OrdinalIgnoreCase))
        {
            AnsiConsole.MarkupLine($"[yellow]warning:[/] the model was trained on '{Markup.Escape(modelData)}', but the judge and the reference are MNIST; the scores will not mean much.");
        }

        var (evaluator, train) = LoadEvaluator(judge, settings.DataDir);
        var scored = ScoredWith.Of(modelPath, Provenance.DescribeModel(modelPath, modelFile, network), judgePath, Provenance.DescribeJudge(judgePath, judgeMetadata), evaluator.ReferenceName, evaluator.Reference.Count);
        AnsiConsole.MarkupLine($"[grey]Model:[/] {Markup.Escape(scored.Model!)}");
        AnsiConsole.MarkupLine($"[grey]Judge:[/] {Markup.Escape(scored.Judge)}");

        // Everything a saved cell's scores depend on besides its sampler settings: a cell is reused only where this matches.
        var deviceName = device.type.ToString().ToLowerInvariant() + precisionSuffix;
        string Fingerprint(long seed, string deviceName) => string.Create(CultureInfo.InvariantCulture,
            $"{scored.CellInputs}, N = {options.Count:N0}, seed {seed}, device {deviceName}");

        startingWork?.Invoke();
        if (seeds is not null)
        {
            return RunSeeds(settings, sampleSettings, seeds, options, evaluator, sampler, train, device, deviceName, Path.Combine(resultsDir, name + ".cells"), seed => Fingerprint(seed, deviceName), scored, cancellationToken);
        }

        if (plan is null)
        {
            var report = WithProgress($"{sampleSettings}", options.Count, tick => evaluator.Evaluate(sampler, sampleSettings, train, options, tick));
            if (report.Samples.Diverged)
            {
                AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(ScoreLine(report.Samples))}");
            }

            AnsiConsole.Write(ReportTable(report.Settings.ToString(), report.Samples, report.Floor, report.FloorDraws, report.NetworkCalls, options.Seed, evaluator));
            if (settings.Json is { } json)
            {
                Provenance.WriteJson(json, ReportJson(report, options, scored, device));
            }

            return 0;
        }

        // --- The sweep. Its plot needs SkiaSharp's native library: say before the cells run, not after, if it will be left out.
        var plotProblem = ImageGrid.NativeLibraryProblem();
        if (plotProblem is not null)
        {
            AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(plotProblem)}, so the sweep will write its table without the PNG plot. " +
                                   "Run the same command with --resume where it loads to add the plot from the saved cells.");
        }

        var configurations = plan.Configurations();
        var machine = SweepContext.ThisMachine(device);
        cellsDevice = cellsDevice is null ? deviceName : cellsDevice + precisionSuffix;

        // Each cell is saved as it finishes; --resume reuses those made from the same inputs.
        var store = new SweepCellStore(
            Path.Combine(resultsDir, name + ".cells"),
            Fingerprint(options.Seed, cellsDevice),
            settings.CellsFrom is null ? null : "Check that --cells-from names the --device that made them, that --precision is theirs, and that --model, --judge, --num and --seed are the sweep's; the saved cells are kept.");
        AnsiConsole.MarkupLine($"Sweep: {configurations.Count} configuration{(configurations.Count == 1 ? string.Empty : "s")} × {options.Count:N0} images; each cell is saved under [grey]{Markup.Escape(store.Directory)}[/]" +
                               (settings.Resume ? " and reused from there if an earlier run finished it." : " (--resume goes on from there if this run stops)."));
        if (settings.Resume && settings.CellsFrom is null)
        {
            var matched = configurations.Count(c => store.SavedPath(c) is not null);
            WarnOfUnmatchedCells(store.Directory, "cells", matched, configurations.Count, store.Count - matched);
        }

        var result = WithProgress("floor", options.Count, tick =>
            Evaluation.Sweep.Run(
                evaluator,
                sampler,
                plan,
                train,
                options,
                starting: (s, i, n) => Current = $"[{i + 1}/{n}] {s}",
                finished: cell => AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"{cell.Settings,-22} {ScoreLine(cell.Score)} {cell.Score.ImagesPerSecond,6:0.00} img/s{(cell.Reused ? " (saved earlier)" : string.Empty)}") +
                    (cell.Reused && cell.Score.Diverged ? $"; delete {store.PathOf(cell.Settings)} to run it again" : string.Empty))),
                imagesDone: tick,
                cancel: cancellationToken,
                store: store,
                resume: settings.Resume,
                machine: machine,
                savedOnly: settings.CellsFrom is not null));

        var reportMachine = settings.CellsFrom is null
            ? machine
            : $"the cells' own, made with --device {settings.CellsFrom}{(precision == NetworkPrecision.BFloat16 ? " --precision bf16" : string.Empty)} (each cell's file records its machine; the wall times are theirs); this page and its floor: {machine}";
        var sweepContext = new SweepContext(Provenance.CommandLine(), scored.Model!, scored.Judge, reportMachine, DateTime.UtcNow);
        var (md, png) = SweepReport.Write(resultsDir, result, sweepContext, name, plot: plotProblem is null);
        AnsiConsole.Write(SweepTable(result));
        AnsiConsole.MarkupLine(png is null ? $"Wrote [green]{Markup.Escape(md)}[/] (no plot: see the warning above)." : $"Wrote [green]{Markup.Escape(md)}[/] and [green]{Markup.Escape(png)}[/].");
        if (settings.Json is { } sweepJson)
        {
            Provenance.WriteJson(sweepJson, SweepJson(result, sweepContext, scored));
        }

        return 0;
    }

    /// <summary><c>--images</c>: judges a folder of PNGs against the reference, beside a real floor of the same size.</summary>
    private static int ScoreFolder(Settings settings, string folder, long seed)
    {
        var images = ImageFolder.Load(folder, greyWhenChannelsEqual: true); // grey digits another tool saved as RGB
        var judgePath = ResolveJudge(settings);
        using var judge = Ddim.Evaluation.Judge.Load(judgePath, out var judgeMetadata);

        // Check the folder against the judge and the floor's source before any data is loaded or judged.
        Evaluator.RequireShape(judge, images.Channels, images.Height, images.Width, $"the images in {folder}");

        if (images.Count is < 2 or > MnistTrainImages)
        {
            throw new ArgumentException($"--images needs 2 … {MnistTrainImages:N0} images (a covariance needs two; the real floor draws as many from the MNIST training split); {folder} holds {images.Count:N0}.");
        }

        var (evaluator, train) = LoadEvaluator(judge, settings.DataDir);
        var scoredWith = ScoredWith.Of(null, null, judgePath, Provenance.DescribeJudge(judgePath, judgeMetadata), evaluator.ReferenceName, evaluator.Reference.Count);
        AnsiConsole.MarkupLine($"[grey]Images:[/] {Markup.Escape(folder)} ({images.Count:N0} images, {images.Channels}×{images.Height}×{images.Width})");
        AnsiConsole.MarkupLine($"[grey]Judge:[/] {Markup.Escape(scoredWith.Judge)}");
        var floor = evaluator.ScoreReal(train, images.Count, seed);
        var draws = evaluator.FloorDrawsFor(train, images.Count, settings.FloorDraws);
        var scored = evaluator.ScoreImages(images, folder);
        AnsiConsole.Write(ReportTable(folder, scored, floor, draws, null, seed, evaluator));
        if (settings.Json is { } json)
        {
            Provenance.WriteJson(json, new JsonObject
            {
                ["command"] = Provenance.CommandLine(),
                ["images"] = folder,
                ["judge"] = scoredWith.Judge,
                ["scored_with"] = scoredWith.Json(),
                ["num"] = images.Count,
                ["seed"] = seed,
                ["samples"] = ScoreJson(scored),
                ["floor"] = ScoreJson(floor),
                ["floor_draws"] = FloorDrawsJson(draws),
                ["floor_ratio"] = FloorDraws.Ratio(scored.Fid, floor, draws),
                ["machine"] = SweepContext.ThisMachine(),
            });
        }

        return 0;
    }

    /// <summary><c>--seeds</c>: one configuration at several seeds, each saved as it finishes, then the mean ± SD of every score.</summary>
    private static int RunSeeds(
        Settings settings,
        SampleSettings sampleSettings,
        long[] seeds,
        EvalOptions options,
        Evaluator evaluator,
        ImageSampler sampler,
        ImageDataset train,
        TorchSharp.torch.Device device,
        string deviceName,
        string cellsDirectory,
        Func<long, string> fingerprint,
        ScoredWith scored,
        CancellationToken cancellationToken)
    {
        var machine = SweepContext.ThisMachine(device);
        AnsiConsole.MarkupLine($"{Markup.Escape(sampleSettings.ToString())} at {seeds.Length} seeds × {options.Count:N0} images; each seed's scores are saved under [grey]{Markup.Escape(cellsDirectory)}[/]" +
                               (settings.Resume ? " and reused from there if an earlier run finished it." : " (--resume goes on from there if this run stops)."));
        var storeOf = SeedRuns.CellStores(cellsDirectory, options.Count, deviceName, SeedModelFolder(scored), fingerprint);
        if (settings.Resume)
        {
            var matched = seeds.Count(seed => storeOf(seed).SavedPath(sampleSettings) is not null);
            WarnOfUnmatchedCells(Path.GetDirectoryName(storeOf(seeds[0]).Directory)!, "seeds", matched, seeds.Length, seeds.Sum(seed => storeOf(seed).Count) - matched);
        }

        var summary = WithProgress($"seed {seeds[0]}", options.Count, tick => SeedRuns.Run(
            evaluator,
            sampler,
            sampleSettings,
            train,
            options,
            seeds,
            starting: (seed, i, n) => Current = $"[{i + 1}/{n}] seed {seed}",
            finished: run => AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"seed {run.Seed,-4} {ScoreLine(run.Report.Samples)}; floor {run.Report.Floor.Fid:0.000}, {run.Report.FloorRatio:0.00}× the {(run.Report.FloorDraws is null ? "floor" : "mean floor")}{(run.Reused ? " (saved earlier)" : string.Empty)}"))),
            imagesDone: tick,
            cancel: cancellationToken,
            storeOf: storeOf,
            resume: settings.Resume,
            machine: machine));

        AnsiConsole.Write(SeedsTable(sampleSettings.ToString(), summary, options.Count, evaluator));
        if (settings.Json is { } json)
        {
            Provenance.WriteJson(json, SeedsJson(summary, options, scored, device));
        }

        return 0;
    }

    /// <summary>The folder of a model's seed cells: <c>model-</c> and the first 12 hex digits of its SHA-256.</summary>
    internal static string SeedModelFolder(ScoredWith scored) => "model-" + scored.ModelSha256![..12];

    private static Table SeedsTable(string title, SeedSummary summary, int count, Evaluator evaluator)
    {
        var fid = summary.Fid;
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"{Markup.Escape(title)}: N = {count:N0}, {summary.Runs.Count} seeds")
            .Caption($"[grey]FID against {Markup.Escape(evaluator.ReferenceName)} ({evaluator.Reference.Count:N0} images) in the judge's features; floor: N real training images chosen by the same seed. " +
                     $"mean ± SD: the mean over the seeds ± one seed's standard deviation (1/(n − 1)); the mean's standard error is SD/√n (FID: {Fmt(fid.StandardError, "0.000")}). " +
                     (summary.Runs[0].Report.FloorDraws is { } draws
                         ? $"×floor: each seed's FID over the mean floor of {draws.Fid.Count} draws, {SpreadCell(draws.Fid, "0.00")}. "
                         : "×floor: each seed's FID over its own floor. ") +
                     "Columns as in a one-seed 'ddim eval'; prec, recall, dens and cover meet the same N reference images at every seed (one fixed choice), so their SD leaves out how that choice moves them.[/]");
        table.AddColumn("seed");
        foreach (var column in new[] { "FID", "floor", "×floor", "FID μ", "prec", "recall", "dens", "cover", "conf", "KL", "time" })
        {
            table.AddColumn(new TableColumn(column).RightAligned());
        }

        foreach (var run in summary.Runs)
        {
            var s = run.Report.Samples;
            table.AddRow([
                run.Seed.ToString(CultureInfo.InvariantCulture) + (run.Reused ? " (saved)" : string.Empty),
                Fmt(s.Fid, "0.000"),
                Fmt(run.Report.Floor.Fid, "0.000"),
                Fmt(run.Report.FloorRatio, "0.00") + "×",
                FidMeanCell(s),
                .. ManifoldCells(s.Manifold),
                Fmt(s.ConfidentShare, "0.0%"),
                Fmt(s.ClassKl, "0.0000"),
                Fmt(s.SamplingTime.TotalSeconds, "0.0") + "s",
            ]);
        }

        table.AddRow([
            "[bold]mean ± SD[/]",
            SpreadCell(fid, "0.00"),
            SpreadCell(summary.FloorFid, "0.00"),
            SpreadCell(summary.FloorRatio, "0.00") + "×",
            SpreadCell(summary.FidMean, "0.00"),
            SpreadCell(summary.Precision, "0.000"),
            SpreadCell(summary.Recall, "0.000"),
            SpreadCell(summary.Density, "0.000"),
            SpreadCell(summary.Coverage, "0.000"),
            SpreadCell(summary.ConfidentShare, "0.0%"),
            SpreadCell(summary.ClassKl, "0.0000"),
            "",
        ]);
        return table;
    }

    /// <summary>A score on one line, as the sweep and <c>--seeds</c> print each result when it finishes.</summary>
    private static string ScoreLine(QualityScore s) => s.Diverged
        ? $"FID not defined for {s.Label}: the sampler diverged (--no-clip, or a damaged model?)"
        : string.Create(CultureInfo.InvariantCulture,
        $"FID {s.Fid,9:0.000}{(s.FidMean is { } mean ? $" (μ {mean:0.000})" : string.Empty)}{(s.Manifold is { } m ? $" P/R {m.Precision:0.000}/{m.Recall:0.000} D/C {m.Density:0.000}/{m.Coverage:0.000}" : string.Empty)} conf {s.ConfidentShare,6:0.0%} KL {s.ClassKl:0.000} {s.SamplingTime.TotalSeconds,6:0.0}s");

    /// <summary>"mean ± SD" as a table cell, or a dash where the score was not measured.</summary>
    private static string SpreadCell(Spread? spread, string format) => spread?.ToString(format) ?? "—";

    private static JsonObject? FloorDrawsJson(FloorDraws? draws) => draws is null ? null : new()
    {
        ["draws"] = draws.Fid.Count,
        ["fid"] = SpreadJson(draws.Fid),
        ["fid_mean"] = SpreadJson(draws.FidMean),
    };

    private static JsonObject? SpreadJson(Spread? s) => s is null ? null : new()
    {
        ["mean"] = s.Mean,
        ["sd"] = s.StandardDeviation,
        ["se"] = s.StandardError,
        ["min"] = s.Min,
        ["max"] = s.Max,
    };

    private static JsonObject SeedsJson(SeedSummary summary, EvalOptions options, ScoredWith scored, TorchSharp.torch.Device device) => new()
    {
        ["command"] = Provenance.CommandLine(),
        ["model"] = scored.Model,
        ["judge"] = scored.Judge,
        ["scored_with"] = scored.Json(),
        ["num"] = options.Count,
        ["seeds"] = new JsonArray(summary.Runs.Select(r => (JsonNode?)JsonValue.Create(r.Seed)).ToArray()),
        ["settings"] = summary.Runs[0].Report.Settings.ToString(),
        ["sampler_settings"] = SettingsJson(summary.Runs[0].Report.Settings),
        ["network_calls"] = summary.Runs[0].Report.NetworkCalls,
        ["floor_draws"] = FloorDrawsJson(summary.Runs[0].Report.FloorDraws),
        ["summary"] = new JsonObject
        {
            ["fid"] = SpreadJson(summary.Fid),
            ["floor_fid"] = SpreadJson(summary.FloorFid),
            ["floor_ratio"] = SpreadJson(summary.FloorRatio),
            ["fid_mean"] = SpreadJson(summary.FidMean),
            ["precision"] = SpreadJson(summary.Precision),
            ["recall"] = SpreadJson(summary.Recall),
            ["density"] = SpreadJson(summary.Density),
            ["coverage"] = SpreadJson(summary.Coverage),
            ["confident_share"] = SpreadJson(summary.ConfidentShare),
            ["class_kl"] = SpreadJson(summary.ClassKl),
        },
        ["runs"] = new JsonArray(summary.Runs.Select(r => (JsonNode?)new JsonObject
        {
            ["seed"] = r.Seed,
            ["samples"] = ScoreJson(r.Report.Samples),
            ["floor"] = ScoreJson(r.Report.Floor),
            ["reused"] = r.Reused,
        }).ToArray()),
        ["batch_size"] = options.BatchSize, // images per network call here (wall times depend on it; scores do not)
        ["machine"] = SweepContext.ThisMachine(device),
    };

    private static string ResolveJudge(Settings settings) =>
        ModelLocator.Resolve(settings.Judge, BundledModels.JudgePath, "--judge", "Pass --judge, or train one with 'ddim train-classifier --out runs/judge/judge.ddim' and pass --judge runs/judge/judge.ddim.");

    /// <summary>Loads MNIST (test split: the reference; train split: the floor's source) and fits the reference.</summary>
    private static (Evaluator Evaluator, ImageDataset Train) LoadEvaluator(Judge judge, string? dataDir)
    {
        void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        var test = DatasetFetcher.Load(DatasetFetcher.Mnist, train: false, dataDir, Log);
        var train = DatasetFetcher.Load(DatasetFetcher.Mnist, train: true, dataDir, Log);
        Log($"Judge features of the reference set ({test.Name}, {test.Count:N0} images)…");
        return (new Evaluator(judge, test), train);
    }

    /// <summary>The description of the configuration running now, shown by the progress display.</summary>
    private static string Current { get; set; } = string.Empty;

    private static SampleSettings ParseSampleSettings(Settings s)
    {
        if (s.Sweep)
        {
            // The sweep keeps the timetable rule, the clipping choices and the seed; it sets everything else per cell.
            // Said first, so that no advice about the options it refuses (e.g. "add --sampler ddpm") comes before it.
            s.RefuseAllBut("--sweep runs S from --sweep-steps and η from --sweep-etas (plus σ̂ and DDPM, whose variance is beta)", clipping: true, seed: true, "--spacing");
        }

        return s.ToSampleSettings();
    }

    private static SweepPlan ParsePlan(Settings s, SampleSettings sample)
    {
        var steps = NumberList.Parse<int>(s.SweepSteps ?? DefaultSweepSteps, "--sweep-steps", DefaultSweepSteps);
        var etas = NumberList.Parse<double>(s.SweepEtas ?? DefaultSweepEtas, "--sweep-etas", DefaultSweepEtas);
        return new SweepPlan(steps, etas, !s.NoLargeVariance, !s.NoDdpm, sample.Spacing, sample.Clip, sample.RederiveNoise);
    }

    /// <summary>
    /// The line a redirected eval (a log, nohup) prints at every tenth of a configuration's images: how many, and, once
    /// <paramref name="counted"/> images have been timed over <paramref name="elapsed"/> (from the configuration's first
    /// finished batch), the rate and the time left at it, e.g. "  DDIM S=10 η=0: 2,048/10,000 images (7.9 images/s, about 17 min left)".
    /// </summary>
    internal static string ProgressLine(string what, int done, int count, TimeSpan elapsed, int counted)
    {
        var head = string.Create(CultureInfo.InvariantCulture, $"  {what}: {done:N0}/{count:N0} images");
        if (counted <= 0 || elapsed <= TimeSpan.Zero)
        {
            return head;
        }

        var rate = counted / elapsed.TotalSeconds;
        var left = done >= count ? string.Empty : $", about {Duration((count - done) / rate)} left";
        return string.Create(CultureInfo.InvariantCulture, $"{head} ({rate:0.0} images/s{left})");

        static string Duration(double s) => s switch
        {
            < 90 => string.Create(CultureInfo.InvariantCulture, $"{s:0} s"),
            < 90 * 60 => string.Create(CultureInfo.InvariantCulture, $"{s / 60:0} min"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{s / 3600:0.0} h"),
        };
    }

    /// <summary>
    /// Turns the running count of finished images into a report at every tenth of a configuration's
    /// <paramref name="count"/>, with the time and images counted since that configuration's first finished batch, its
    /// baseline: before it come the floor's scoring and the network's warm-up, which are not sampling. A configuration's
    /// first count is at most the previous one's last (the counts start again), so each gets its own baseline.
    /// </summary>
    internal static Action<int> ProgressLines(int count, Func<TimeSpan> clock, Action<(int Done, TimeSpan Elapsed, int Counted)> report)
    {
        var (next, last, baseline, baseDone) = (0, int.MaxValue, TimeSpan.Zero, 0);
        return done =>
        {
            if (done <= last)
            {
                (next, baseline, baseDone) = (0, clock(), done);
            }

            last = done;
            if (done >= next || done == count)
            {
                next = done + Math.Max(1, count / 10);
                report((done, clock() - baseline, done - baseDone));
            }
        };
    }

    private static T WithProgress<T>(string description, int count, Func<Action<int>, T> work)
    {
        Current = description;
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            return work(ProgressLines(count, () => clock.Elapsed, done => Console.WriteLine(ProgressLine(Current, done.Done, count, done.Elapsed, done.Counted))));
        }

        return AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(description), maxValue: count);
                return work(done =>
                {
                    if (done < task.Value)
                    {
                        // A new configuration of the sweep started.
                        ctx.Refresh();
                    }

                    task.Description = Markup.Escape(Current);
                    task.Value = done;
                });
            });
    }

    /// <summary>Samples beside the floor; <paramref name="networkCalls"/> is null for images that were not generated here (no calls, no rate).</summary>
    private static Table ReportTable(string title, QualityScore s, QualityScore f, FloorDraws? draws, int? networkCalls, long seed, Evaluator evaluator)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"{Markup.Escape(title)}: N = {s.Count:N0}, seed {seed}")
            .Caption($"[grey]FID against {Markup.Escape(evaluator.ReferenceName)} ({evaluator.Reference.Count:N0} images) in the judge's features (not Inception); lower is better. " +
                     "FID μ: the part of FID due to the shift of the mean features alone; the rest is due to their spread. " +
                     $"Real floor: {f.Count:N0} real training images chosen by the seed, scored the same way{(draws is null ? "; ×floor divides by its FID" : $"; the floor's mean ± SD over {draws.Fid.Count} such draws (draw k is seed k's floor) is what ×floor divides by")}. prec / recall: share of the images inside the reference's manifold (fidelity) / of as many reference images inside theirs (diversity), k = {ManifoldScores.PrecisionRecallK}; " +
                     $"dens / cover: real balls per image over k (about 1 for real data) / share of reference images with an image in their ball, k = {ManifoldScores.DensityCoverageK}. " +
                     "conf: share with top probability > 0.9. KL: class balance (0 = uniform).[/]");
        table.AddColumn("");
        table.AddColumn(new TableColumn("FID").RightAligned());
        table.AddColumn(new TableColumn("×floor").RightAligned());
        table.AddColumn(new TableColumn("FID μ").RightAligned());
        table.AddColumn(new TableColumn("prec").RightAligned());
        table.AddColumn(new TableColumn("recall").RightAligned());
        table.AddColumn(new TableColumn("dens").RightAligned());
        table.AddColumn(new TableColumn("cover").RightAligned());
        table.AddColumn(new TableColumn("conf").RightAligned());
        table.AddColumn(new TableColumn("KL").RightAligned());
        table.AddColumn(new TableColumn("calls").RightAligned());
        table.AddColumn(new TableColumn("time").RightAligned());
        table.AddColumn(new TableColumn("img/s").RightAligned());
        table.AddRow([
            "[bold]samples[/]",
            Fmt(s.Fid, "0.000"),
            Fmt(FloorDraws.Ratio(s.Fid, f, draws), "0.00") + "×",
            FidMeanCell(s),
            .. ManifoldCells(s.Manifold),
            Fmt(s.ConfidentShare, "0.0%"),
            Fmt(s.ClassKl, "0.0000"),
            networkCalls is { } calls ? calls.ToString(CultureInfo.InvariantCulture) : "—",
            networkCalls is null ? "—" : Fmt(s.SamplingTime.TotalSeconds, "0.0") + "s",
            networkCalls is null ? "—" : Fmt(s.ImagesPerSecond, "0.00"),
        ]);
        table.AddRow(["real floor", Fmt(f.Fid, "0.000"), Fmt(FloorDraws.Ratio(f.Fid, f, draws), "0.00") + "×", FidMeanCell(f), .. ManifoldCells(f.Manifold), Fmt(f.ConfidentShare, "0.0%"), Fmt(f.ClassKl, "0.0000"), "—", "—", "—"]);
        if (draws is not null)
        {
            table.AddRow([$"real floor, {draws.Fid.Count} draws", SpreadCell(draws.Fid, "0.00"), "1.00×", SpreadCell(draws.FidMean, "0.00"), "—", "—", "—", "—", "—", "—", "—", "—", "—"]);
        }

        return table;
    }

    /// <summary>The FID's mean part as a table cell, or a dash where it was not recorded.</summary>
    private static string FidMeanCell(QualityScore s) => s.FidMean is { } mean ? Fmt(mean, "0.000") : "—";

    /// <summary>Precision, recall, density and coverage as table cells, or dashes where they were not measured.</summary>
    private static string[] ManifoldCells(ManifoldScores? m) => m is null
        ? ["—", "—", "—", "—"]
        : [Fmt(m.Precision, "0.000"), Fmt(m.Recall, "0.000"), Fmt(m.Density, "0.000"), Fmt(m.Coverage, "0.000")];

    private static Table SweepTable(SweepResult result)
    {
        var plan = result.Plan;
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"FID, N = {result.Options.Count:N0} (real-data floor {Fmt(result.Floor.Fid, "0.000")}{(result.FloorDraws is { } draws ? $"; over {draws.Fid.Count} draws {SpreadCell(draws.Fid, "0.00")}" : string.Empty)})");
        table.AddColumn("");
        foreach (var s in plan.Steps)
        {
            table.AddColumn(new TableColumn($"S = {s}").RightAligned());
        }

        if (plan.Ddpm)
        {
            table.AddColumn(new TableColumn($"T = {result.T} (DDPM)").RightAligned());
        }

        var labels = plan.RowLabels.ToList();
        if (plan.Ddpm && !plan.LargeVariance)
        {
            labels.Add("DDPM");
        }

        for (var row = 0; row < labels.Count; row++)
        {
            var cells = new List<string> { Markup.Escape(labels[row]) };
            cells.AddRange(plan.Steps.Select(s => result.Find(row, s) is { } c ? Fmt(c.Score.Fid, "0.000") : ""));
            if (plan.Ddpm)
            {
                cells.Add(row == labels.Count - 1 && result.DdpmCell is { } d ? Fmt(d.Score.Fid, "0.000") : "");
            }

            table.AddRow(cells.ToArray());
        }

        return table;
    }

    private static JsonObject ScoreJson(QualityScore s) => new()
    {
        ["label"] = s.Label,
        ["count"] = s.Count,
        ["fid"] = s.Fid,
        ["fid_mean"] = s.FidMean,
        ["precision"] = s.Manifold?.Precision,
        ["recall"] = s.Manifold?.Recall,
        ["density"] = s.Manifold?.Density,
        ["coverage"] = s.Manifold?.Coverage,
        ["confident_share"] = s.ConfidentShare,
        ["class_kl"] = s.ClassKl,
        ["class_counts"] = new JsonArray(s.ClassCounts.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
        ["sampling_seconds"] = Math.Round(s.SamplingTime.TotalSeconds, 3),
        ["judge_seconds"] = Math.Round(s.JudgeTime.TotalSeconds, 3),
        // The real floor samples nothing: no rate rather than a division by zero.
        ["images_per_second"] = s.SamplingTime > TimeSpan.Zero ? JsonValue.Create(Math.Round(s.ImagesPerSecond, 4)) : null,
    };

    /// <summary>
    /// What a --resume found: nothing of this run saved is a warning (it would quietly sample everything again, hours at
    /// N = 10,000), with how many cell files of other settings the folder holds (<paramref name="others"/>: most likely
    /// a changed default or option) and where matching cells usually are; part of it saved is a plain line, since
    /// folders are shared by configurations and a stopped run leaves part; all of it saved needs no word.
    /// </summary>
    private static void WarnOfUnmatchedCells(string directory, string unit, int matched, int total, int others)
    {
        if (ResumeNotice(directory, unit, matched, total, others) is ({ } text, var warning))
        {
            AnsiConsole.MarkupLine(warning ? $"[yellow]{Markup.Escape(text)}[/]" : $"[grey]{Markup.Escape(text)}[/]");
        }
    }

    /// <summary>The text of <see cref="WarnOfUnmatchedCells"/> and whether it is a warning; null text when all is saved.</summary>
    internal static (string? Text, bool Warning) ResumeNotice(string directory, string unit, int matched, int total, int others) =>
        matched == total ? (null, false)
        : matched > 0 ? ($"--resume: {matched} of this run's {total} {unit} are saved; the other {total - matched} are sampled now.", false)
        : ($"--resume: none of this run's {total} {unit} is saved under {directory}" +
           (others == 0 ? " (it holds no cells)" : $" (it holds {others} cell file{(others == 1 ? string.Empty : "s")} of other settings)") +
           ", so every one is sampled anew. If an earlier run saved them elsewhere, stop and point --results-dir (and --name) there; " +
           "cells saved before ε̂ was re-derived by default are found only with --keep-noise, cells of another device only with --cells-from (sweeps), " +
           "and a sweep's cells only with the plan and --spacing it ran.", true);

    /// <summary>Every sampler setting by name (clip, re-derived ε̂, …), so that a score file says what made it whatever the defaults were.</summary>
    internal static JsonNode? SettingsJson(SampleSettings settings) => JsonSerializer.SerializeToNode(settings.ToCanonical(), SettingsJsonOptions);

    // The project's JSON convention for records (ModelFile.Json: enums by name), without the derived read-only
    // properties (IsStochastic, DdimOptions) and with every setting written, null ones included.
    private static readonly JsonSerializerOptions SettingsJsonOptions = new(ModelFile.Json)
    {
        IgnoreReadOnlyProperties = true,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
    };

    private static JsonObject ReportJson(EvalReport report, EvalOptions options, ScoredWith scored, TorchSharp.torch.Device device) => new()
    {
        ["command"] = Provenance.CommandLine(),
        ["model"] = scored.Model,
        ["judge"] = scored.Judge,
        ["scored_with"] = scored.Json(),
        ["num"] = options.Count,
        ["seed"] = options.Seed,
        ["settings"] = report.Settings.ToString(),
        ["sampler_settings"] = SettingsJson(report.Settings),
        ["network_calls"] = report.NetworkCalls,
        ["samples"] = ScoreJson(report.Samples),
        ["floor"] = ScoreJson(report.Floor),
        ["floor_draws"] = FloorDrawsJson(report.FloorDraws),
        ["floor_ratio"] = report.FloorRatio,
        ["batch_size"] = options.BatchSize, // images per network call here (wall times depend on it; scores do not)
        ["machine"] = SweepContext.ThisMachine(device),
    };

    private static JsonObject SweepJson(SweepResult result, SweepContext context, ScoredWith scored) => new()
    {
        ["command"] = context.CommandLine,
        ["model"] = context.Model,
        ["judge"] = context.Judge,
        ["scored_with"] = scored.Json(),
        ["num"] = result.Options.Count,
        ["seed"] = result.Options.Seed,
        ["T"] = result.T,
        ["floor"] = ScoreJson(result.Floor),
        ["floor_draws"] = FloorDrawsJson(result.FloorDraws),
        ["cells"] = new JsonArray(result.Cells.Select(c => (JsonNode?)new JsonObject
        {
            ["settings"] = c.Settings.ToString(),
            ["sampler_settings"] = SettingsJson(c.Settings),
            ["sampler"] = c.Settings.Sampler.ToString(),
            ["steps"] = c.Settings.Sampler == SamplerKind.Ddpm ? result.T : c.Settings.Steps,
            ["eta"] = c.Settings.LargeVariance || c.Settings.Sampler == SamplerKind.Ddpm ? null : c.Settings.Eta,
            ["sigma_hat"] = c.Settings.LargeVariance,
            ["network_calls"] = c.NetworkCalls,
            ["score"] = ScoreJson(c.Score),
            ["reused"] = c.Reused,
            ["batch_size"] = c.BatchSize, // null: a cell saved before it was recorded
        }).ToArray()),
        ["batch_size"] = result.Options.BatchSize, // images per network call of the cells run now (each cell records its own)
        ["machine"] = context.Machine,
        ["finished_utc"] = context.FinishedUtc.ToString("O", CultureInfo.InvariantCulture),
    };

    private static string Fmt(double value, string format) => double.IsNaN(value) ? "—" : value.ToString(format, CultureInfo.InvariantCulture); // NaN: a diverged run's scores
}
