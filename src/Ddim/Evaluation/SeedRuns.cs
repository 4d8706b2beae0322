using System.Globalization;
using Ddim.Data;
using Ddim.Sampling;

namespace Ddim.Evaluation;

/// <summary>The spread of one score over several seeds.</summary>
/// <param name="Count">How many values (seeds).</param>
/// <param name="Mean">Their mean.</param>
/// <param name="StandardDeviation">Their sample standard deviation (the 1/(n − 1) estimate): how far one seed's value strays.</param>
/// <param name="Min">The smallest value.</param>
/// <param name="Max">The largest value.</param>
public sealed record Spread(int Count, double Mean, double StandardDeviation, double Min, double Max)
{
    /// <summary>The standard error of <see cref="Mean"/>, SD/√n: how far the mean of this many seeds strays.</summary>
    public double StandardError => StandardDeviation / Math.Sqrt(Count);

    /// <summary>"mean ± SD", both written with <paramref name="format"/> in the invariant culture, as the tables print a spread.</summary>
    public string ToString(string format) =>
        $"{Mean.ToString(format, CultureInfo.InvariantCulture)} ± {StandardDeviation.ToString(format, CultureInfo.InvariantCulture)}";

    /// <summary>The spread of two or more values.</summary>
    public static Spread Of(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count < 2)
        {
            throw new ArgumentException($"A spread needs at least two values; got {values.Count}.", nameof(values));
        }

        var mean = values.Average();
        var variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        return new Spread(values.Count, mean, Math.Sqrt(variance), values.Min(), values.Max());
    }

    /// <summary>The spread of values that may be missing (e.g. manifold scores at tiny N); null when any is.</summary>
    public static Spread? OfAll(IEnumerable<double?> values)
    {
        var list = values.ToList();
        return list.Any(v => v is null) ? null : Of([.. list.Select(v => v!.Value)]);
    }
}

/// <summary>One seed of a <see cref="SeedRuns"/> evaluation.</summary>
/// <param name="Seed">The seed: it picks x_T and every noise draw of the samples, and the floor's real images.</param>
/// <param name="Report">The samples' and the floor's scores at that seed.</param>
/// <param name="Reused">True when the samples' scores were read from a store (an earlier, stopped run) rather than made now.</param>
public sealed record SeedRun(long Seed, EvalReport Report, bool Reused = false);

/// <summary>
/// The spread over seeds of every score of one sampler configuration. At N = 1,000 one FID moves by several points
/// from one seed to the next (as the floor does from one draw of real images to the next), so a comparison of
/// samplers, or a target such as "FID at most 2× the floor", is judged on the mean over seeds and its standard error,
/// not on one seed. <see cref="FloorRatio"/>'s spread is over the seeds with the floor draws' mean held fixed; that
/// mean has an uncertainty of its own (about 6% with 20 draws at N = 1,000).
/// </summary>
/// <param name="Runs">The seeds' reports, in the order run.</param>
public sealed record SeedSummary(IReadOnlyList<SeedRun> Runs)
{
    /// <summary>The samples' FID.</summary>
    public Spread Fid => Of(r => r.Report.Samples.Fid);

    /// <summary>The real-data floor's FID at each seed (N real training images, a seeded choice).</summary>
    public Spread FloorFid => Of(r => r.Report.Floor.Fid);

    /// <summary>The samples' FID over the floor's, seed by seed (<see cref="EvalReport.FloorRatio"/>: over the mean of the floor draws when there are any).</summary>
    public Spread FloorRatio => Of(r => r.Report.FloorRatio);

    /// <summary>The samples' FID μ (the mean-shift part); null where a seed lacks it.</summary>
    public Spread? FidMean => Spread.OfAll(Runs.Select(r => r.Report.Samples.FidMean));

    /// <summary>The samples' precision; null where a seed lacks manifold scores.</summary>
    public Spread? Precision => Spread.OfAll(Runs.Select(r => r.Report.Samples.Manifold?.Precision));

    /// <summary>The samples' recall; null where a seed lacks manifold scores.</summary>
    public Spread? Recall => Spread.OfAll(Runs.Select(r => r.Report.Samples.Manifold?.Recall));

    /// <summary>The samples' density; null where a seed lacks manifold scores.</summary>
    public Spread? Density => Spread.OfAll(Runs.Select(r => r.Report.Samples.Manifold?.Density));

    /// <summary>The samples' coverage; null where a seed lacks manifold scores.</summary>
    public Spread? Coverage => Spread.OfAll(Runs.Select(r => r.Report.Samples.Manifold?.Coverage));

    /// <summary>The share of samples classified with confidence above the threshold.</summary>
    public Spread ConfidentShare => Of(r => r.Report.Samples.ConfidentShare);

    /// <summary>The samples' class balance, KL from uniform.</summary>
    public Spread ClassKl => Of(r => r.Report.Samples.ClassKl);

    private Spread Of(Func<SeedRun, double> score) => Spread.Of([.. Runs.Select(score)]);
}

/// <summary>Evaluates one sampler configuration at several seeds, each as <c>ddim eval --seed K</c> would.</summary>
public static class SeedRuns
{
    /// <summary>
    /// Checks a list of seeds: at least two (one seed has no spread: use <see cref="Evaluator.Evaluate"/>), none twice,
    /// none negative. Throws <see cref="ArgumentException"/> naming <c>--seeds</c>.
    /// </summary>
    public static void Validate(IReadOnlyList<long> seeds)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        if (seeds.Count < 2)
        {
            throw new ArgumentException($"The seed list (--seeds) needs at least two seeds to measure a spread, e.g. --seeds 0,1,2,3; got {seeds.Count}. For one seed use --seed.");
        }

        if (seeds.Distinct().Count() != seeds.Count)
        {
            throw new ArgumentException($"The seed list (--seeds) must not repeat a seed (the same seed gives the same images); got {string.Join(",", seeds)}.");
        }

        if (seeds.Any(s => s < 0))
        {
            throw new ArgumentException($"The seed list (--seeds) takes seeds of 0 or more; got {string.Join(",", seeds)}.");
        }
    }

    /// <summary>
    /// The cell store of each seed of a run at N = <paramref name="count"/> on <paramref name="device"/> with
    /// <paramref name="model"/>: <c>DIRECTORY/nN-DEVICE/MODEL/seed-K/</c>, one file per configuration, so that runs of
    /// other configurations share the folder, and runs at another N, on another device or of another model never meet
    /// each other's cells. A cell made from other inputs in the same folder (another judge or reference:
    /// <paramref name="fingerprint"/> of the seed) is refused with a message naming the file, which is kept. Cells of
    /// the layout before model folders, <c>DIRECTORY/nN-DEVICE/seed-K/</c>, are still read where they are this run's.
    /// </summary>
    /// <param name="directory">The run's folder of cells (the CLI's RESULTS-DIR/NAME.cells).</param>
    /// <param name="count">N.</param>
    /// <param name="device">The device and precision, e.g. <c>cpu</c> or <c>cuda-bf16</c>.</param>
    /// <param name="model">A folder name for the model, e.g. <c>model-</c> and the start of its SHA-256.</param>
    /// <param name="fingerprint">Everything a seed's scores depend on besides the settings, by seed.</param>
    public static Func<long, SweepCellStore> CellStores(string directory, int count, string device, string model, Func<long, string> fingerprint)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentNullException.ThrowIfNull(fingerprint);
        if (model.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
        {
            throw new ArgumentException($"The model's folder name '{model}' is not a valid file name.", nameof(model));
        }

        var shared = Path.Combine(directory, FormattableString.Invariant($"n{count}-{device}"));
        return seed => new SweepCellStore(
            Path.Combine(shared, model, FormattableString.Invariant($"seed-{seed}")),
            fingerprint(seed),
            "Its scores are kept; give this run another --name or --results-dir.",
            fallbackDirectory: Path.Combine(shared, FormattableString.Invariant($"seed-{seed}"))); // the layout before model folders: read, never written
    }

    /// <summary>
    /// Runs <paramref name="settings"/> at each seed in turn: the floor of that seed, then its samples. Seed K gives
    /// exactly what <see cref="Evaluator.Evaluate"/> gives with <see cref="EvalOptions.Seed"/> = K; the floor draws
    /// (<see cref="EvalOptions.FloorDraws"/>), the same for every seed, are scored once, first.
    /// With <paramref name="storeOf"/>, each seed's samples are saved as a cell of that seed's store as they finish
    /// (the store's fingerprint must name the seed). When <paramref name="resume"/> is true, a saved cell is reused
    /// instead of run again, and the floor (a few seconds) is scored anew; otherwise a saved cell for these settings
    /// is an error before any work: saved scores are never overwritten without being asked.
    /// </summary>
    /// <param name="evaluator">Scores the images.</param>
    /// <param name="sampler">The model and its schedule.</param>
    /// <param name="settings">The one configuration.</param>
    /// <param name="floorSource">Where the floor's real images come from (the training split).</param>
    /// <param name="options">N and batch size; its seed is replaced by each of <paramref name="seeds"/>.</param>
    /// <param name="seeds">Two or more distinct seeds, run in this order.</param>
    /// <param name="starting">Told each seed (index, total) before it runs.</param>
    /// <param name="finished">Told each seed's run after it finishes (reused ones too).</param>
    /// <param name="imagesDone">Images done within the current seed.</param>
    /// <param name="cancel">Stops between seeds.</param>
    /// <param name="storeOf">The cell store of a seed, or null for none.</param>
    /// <param name="resume">Reuse saved cells.</param>
    /// <param name="machine">Recorded in each saved cell.</param>
    public static SeedSummary Run(
        Evaluator evaluator,
        ImageSampler sampler,
        SampleSettings settings,
        ImageDataset floorSource,
        EvalOptions options,
        IReadOnlyList<long> seeds,
        Action<long, int, int>? starting = null,
        Action<SeedRun>? finished = null,
        Action<int>? imagesDone = null,
        CancellationToken cancel = default,
        Func<long, SweepCellStore>? storeOf = null,
        bool resume = false,
        string? machine = null)
    {
        Validate(seeds);
        options.Validate();
        settings.Validate(sampler.Schedule);

        // Read (and check) every saved cell before any work, so that a mismatch or a refusal costs nothing.
        var stores = seeds.Select(s => storeOf?.Invoke(s)).ToArray();
        var saved = stores.Select(store => store?.TryLoad(settings)).ToArray();
        if (!resume && saved.Select((cell, i) => cell is null ? null : stores[i]!.SavedPath(settings)).FirstOrDefault(p => p is not null) is { } existing)
        {
            throw new InvalidOperationException(
                $"{existing} holds the scores of {settings} saved by an earlier run. Add --resume to reuse them (they must come from the same " +
                "model, judge, N, seed and device), or delete that file to run it again.");
        }

        var calls = settings.NetworkCalls(sampler.Schedule);
        var draws = evaluator.FloorDrawsFor(floorSource, options.Count, options.FloorDraws, cancel); // a stop asked for now ends the run before its first seed
        var runs = new List<SeedRun>();
        for (var i = 0; i < seeds.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            starting?.Invoke(seeds[i], i, seeds.Count);
            var seeded = options with { Seed = seeds[i] };
            var floor = evaluator.ScoreReal(floorSource, seeded.Count, seeded.Seed);
            var samples = saved[i]?.Score;
            if (samples is null)
            {
                samples = evaluator.ScoreSamples(sampler, settings, seeded, imagesDone);
                stores[i]?.Save(new SweepCell(settings, calls, samples, BatchSize: sampler.WholeGroups(options.BatchSize)), machine ?? SweepContext.ThisMachine());
            }

            var run = new SeedRun(seeds[i], new EvalReport(settings, calls, samples, floor, evaluator.Reference.Count, draws), saved[i] is not null);
            runs.Add(run);
            finished?.Invoke(run);
        }

        return new SeedSummary(runs);
    }
}
