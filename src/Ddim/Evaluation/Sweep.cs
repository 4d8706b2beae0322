using System.Diagnostics;
using Ddim.Data;
using Ddim.Sampling;
using Ddim.Schedules;

namespace Ddim.Evaluation;

/// <summary>
/// Which configurations a sweep runs, in the layout of the DDIM paper's Table 1: one row per η (plus σ̂),
/// one column per number of steps S, and one cell for DDPM over all T steps.
/// </summary>
/// <param name="Steps">The columns: DDIM's S values.</param>
/// <param name="Etas">The η rows.</param>
/// <param name="LargeVariance">Add the σ̂ row (DDPM's larger variance σ̂_τᵢ = √(1 − α_τᵢ/α_τᵢ₋₁), η ignored).</param>
/// <param name="Ddpm">Add the DDPM cell: ancestral sampling over all T steps with σ_t² = β_t (σ̂ at S = T; with clipping, only when DDIM re-derives ε̂, as by default).</param>
/// <param name="Spacing">How DDIM picks its S timesteps.</param>
/// <param name="Clip">Clamp x̂0 to [−1, 1] while sampling.</param>
/// <param name="RederiveNoise">With clipping, DDIM re-derives ε̂ from the clipped x̂0 (the default); false keeps the network's ε̂.</param>
public sealed record SweepPlan(
    IReadOnlyList<int> Steps,
    IReadOnlyList<double> Etas,
    bool LargeVariance = true,
    bool Ddpm = true,
    Spacing Spacing = Spacing.Seed,
    bool Clip = true,
    bool RederiveNoise = true)
{
    /// <summary>The paper's Table 1: η ∈ {0, 0.2, 0.5, 1} and σ̂, S ∈ {10, 20, 50, 100}, and DDPM over all T.</summary>
    public static SweepPlan Table1 { get; } = new([10, 20, 50, 100], [0.0, 0.2, 0.5, 1.0]);

    /// <summary>The row labels, top to bottom: "η = 0.0", …, "σ̂"; every digit of η is shown, so no two rows share a label.</summary>
    public IReadOnlyList<string> RowLabels =>
        [.. Etas.Select(e => "η = " + e.ToString("0.0###############", System.Globalization.CultureInfo.InvariantCulture)), .. LargeVariance ? new[] { "σ̂" } : []];

    /// <summary>The DDIM settings of a row (index into <see cref="RowLabels"/>) and column S.</summary>
    public SampleSettings Cell(int row, int steps) => row < Etas.Count
        ? new SampleSettings(SamplerKind.Ddim, steps, Etas[row], Spacing, Clip, RederiveNoise: RederiveNoise)
        : new SampleSettings(SamplerKind.Ddim, steps, 0, Spacing, Clip, LargeVariance: true, RederiveNoise: RederiveNoise);

    /// <summary>The DDPM settings of the extra cell.</summary>
    public SampleSettings DdpmCell => new(SamplerKind.Ddpm, Clip: Clip, DdpmVariance: DdpmVariance.Beta);

    /// <summary>Every configuration, row by row, then the DDPM cell.</summary>
    public IReadOnlyList<SampleSettings> Configurations()
    {
        var list = new List<SampleSettings>();
        for (var row = 0; row < RowLabels.Count; row++)
        {
            list.AddRange(Steps.Select(s => Cell(row, s)));
        }

        if (Ddpm)
        {
            list.Add(DdpmCell);
        }

        return list;
    }

    /// <summary>Checks the plan against a model's schedule; throws <see cref="ArgumentException"/> saying what to change.</summary>
    public void Validate(NoiseSchedule schedule)
    {
        if (Steps.Count == 0 && !Ddpm)
        {
            throw new ArgumentException("The sweep has nothing to run: give at least one S in Steps (--sweep-steps), or keep the DDPM cell.");
        }

        if (Steps.Count > 0 && RowLabels.Count == 0)
        {
            throw new ArgumentException("The sweep has no rows: give at least one η in Etas (--sweep-etas), or keep the σ̂ row.");
        }

        foreach (var s in Steps)
        {
            if (s < 1 || s > schedule.T)
            {
                throw new ArgumentException($"Every S in Steps (--sweep-steps) must be between 1 and T = {schedule.T} for this model; got {s}.");
            }
        }

        foreach (var e in Etas)
        {
            if (!(e >= 0 && e <= 1))
            {
                throw new ArgumentException($"Every η in Etas (--sweep-etas) must be in [0, 1]; got {e}.");
            }
        }

        if (Steps.Distinct().Count() != Steps.Count || Etas.Distinct().Count() != Etas.Count)
        {
            throw new ArgumentException("Steps and Etas (--sweep-steps, --sweep-etas) must not repeat a value.");
        }

        foreach (var s in Steps)
        {
            Timetable.RequireExactSteps(Spacing, schedule.T, s, "--sweep-steps"); // first, to name the sweep's own option
        }

        foreach (var configuration in Configurations())
        {
            configuration.Validate(schedule); // every cell's own checks (e.g. the spacing rule at its S) before the first cell runs
        }
    }
}

/// <summary>One configuration of a sweep and its scores.</summary>
/// <param name="Settings">The sampler settings.</param>
/// <param name="NetworkCalls">Network evaluations per image.</param>
/// <param name="Score">The scores (FID, confidence, balance, wall time).</param>
/// <param name="Reused">True when the cell was read from a <see cref="SweepCellStore"/> (an earlier, stopped run of the sweep) rather than run now.</param>
/// <param name="BatchSize">Images per network call when it was sampled (its wall time depends on it, its scores do not); null for a cell saved before it was recorded.</param>
public sealed record SweepCell(SampleSettings Settings, int NetworkCalls, QualityScore Score, bool Reused = false, int? BatchSize = null);

/// <summary>A finished sweep.</summary>
/// <param name="Plan">What was run.</param>
/// <param name="Options">N, seed, batch size.</param>
/// <param name="T">The model's number of diffusion steps.</param>
/// <param name="Cells">Every configuration's scores, in the plan's order.</param>
/// <param name="Floor">The real-data floor at the same N.</param>
/// <param name="ReferenceName">The reference set (the MNIST test split).</param>
/// <param name="ReferenceCount">Its size.</param>
/// <param name="Elapsed">Wall time of the whole sweep.</param>
/// <param name="FloorDraws">The floor over many draws of N real images, when asked for (<see cref="EvalOptions.FloorDraws"/>).</param>
public sealed record SweepResult(
    SweepPlan Plan,
    EvalOptions Options,
    int T,
    IReadOnlyList<SweepCell> Cells,
    QualityScore Floor,
    string ReferenceName,
    long ReferenceCount,
    TimeSpan Elapsed,
    FloorDraws? FloorDraws = null)
{
    /// <summary>The cell of a row and S, if it was run.</summary>
    public SweepCell? Find(int row, int steps)
    {
        var wanted = Plan.Cell(row, steps);
        return Cells.FirstOrDefault(c => c.Settings == wanted);
    }

    /// <summary>The DDPM cell, if it was run.</summary>
    public SweepCell? DdpmCell => Cells.FirstOrDefault(c => c.Settings.Sampler == SamplerKind.Ddpm);

    /// <summary>How many cells came from an earlier run of the sweep (<see cref="SweepCell.Reused"/>).</summary>
    public int ReusedCount => Cells.Count(c => c.Reused);

    /// <summary>
    /// The batch sizes the cells were sampled at, for the reports: "64" when every cell ran at this run's
    /// <see cref="EvalOptions.BatchSize"/>, else each size with its number of cells, e.g. "1,024 (16 cells), not recorded (4 cells)".
    /// </summary>
    public string BatchSizes()
    {
        var groups = Cells.GroupBy(c => c.BatchSize).OrderBy(g => g.Key ?? int.MaxValue).ToList();
        return groups is [{ Key: { } only }] && only == Options.BatchSize
            ? only.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)
            : string.Join(", ", groups.Select(g => (g.Key is { } size ? size.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) : "not recorded") + $" ({g.Count()} cell{(g.Count() == 1 ? string.Empty : "s")})"));
    }
}

/// <summary>Runs a <see cref="SweepPlan"/>: every configuration from the same seeds (so the same x_T), scored by one evaluator.</summary>
public static class Sweep
{
    /// <summary>
    /// Scores the real-data floor, then every configuration in turn. <paramref name="starting"/> is told each
    /// configuration (index, total) before it runs, <paramref name="finished"/> its cell after (reused cells too);
    /// <paramref name="imagesDone"/> reports images done within the current configuration.
    /// With a <paramref name="store"/>, each cell is saved there as it finishes. When <paramref name="resume"/> is true,
    /// cells already saved there are reused instead of run again (all of them are read, and checked, before any work
    /// starts); otherwise the store must be empty: saved cells are never overwritten or deleted without being asked.
    /// With <paramref name="savedOnly"/> (which needs <paramref name="resume"/>), nothing is sampled: every cell must be
    /// saved already, and the result is the report of those cells beside a floor scored here, e.g. to draw the plot of a
    /// sweep that ran on another device.
    /// </summary>
    public static SweepResult Run(
        Evaluator evaluator,
        ImageSampler sampler,
        SweepPlan plan,
        ImageDataset floorSource,
        EvalOptions options,
        Action<SampleSettings, int, int>? starting = null,
        Action<SweepCell>? finished = null,
        Action<int>? imagesDone = null,
        CancellationToken cancel = default,
        SweepCellStore? store = null,
        bool resume = false,
        string? machine = null,
        bool savedOnly = false)
    {
        options.Validate();
        options = options with { BatchSize = sampler.WholeGroups(options.BatchSize) }; // the batch that really runs, as the result reports it
        plan.Validate(sampler.Schedule);
        if (savedOnly && !(resume && store is not null))
        {
            throw new ArgumentException("A sweep of saved cells only needs a cell store to resume from.", nameof(savedOnly));
        }

        var clock = Stopwatch.StartNew();
        var configurations = plan.Configurations();
        if (store is not null && !resume && store.Count is > 0 and var count)
        {
            throw new InvalidOperationException(
                $"{store.Directory} holds {count} cell(s) saved by an earlier sweep. Add --resume to reuse them (they must come from the same model, " +
                "judge, N, seed and device), give this sweep another --name or --results-dir, or delete that folder to start over.");
        }

        var saved = resume && store is not null ? configurations.Select(store.TryLoad).ToArray() : new SweepCell?[configurations.Count];
        if (savedOnly)
        {
            SweepCellStore.RequireSavedCells(store!.Directory);
        }

        if (savedOnly && configurations.Where((_, i) => saved[i] is null).ToList() is { Count: > 0 } missing)
        {
            throw new InvalidOperationException(
                $"{missing.Count} of the sweep's {configurations.Count} cells are not saved under {store!.Directory} " +
                $"({string.Join(", ", missing.Take(4))}{(missing.Count > 4 ? ", …" : string.Empty)}), and this run only reports saved cells. " +
                "Ask for the plan the saved sweep ran (--sweep-steps, --sweep-etas, --no-large-variance, --no-ddpm; --keep-noise for a sweep saved " +
                "before ε̂ was re-derived from the clipped x̂0 by default), " +
                "or finish the missing cells with the same sweep and --resume on the device that made the others.");
        }

        var floor = evaluator.ScoreReal(floorSource, options.Count, options.Seed);
        var draws = evaluator.FloorDrawsFor(floorSource, options.Count, options.FloorDraws, cancel); // a stop asked for now ends the run before its first cell
        var cells = new List<SweepCell>();
        for (var i = 0; i < configurations.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var settings = configurations[i];
            starting?.Invoke(settings, i, configurations.Count);
            // Looked up again: another process sharing the store (the GPU job runs four sweeps at once) may have saved it since.
            var cell = saved[i] ?? (resume ? store?.TryLoad(settings) : null);
            if (cell is null)
            {
                var score = evaluator.ScoreSamples(sampler, settings, options, imagesDone);
                cell = new SweepCell(settings, settings.NetworkCalls(sampler.Schedule), score, BatchSize: options.BatchSize);
                store?.Save(cell, machine ?? SweepContext.ThisMachine());
            }

            cells.Add(cell);
            finished?.Invoke(cell);
        }

        return new SweepResult(plan, options, sampler.Schedule.T, cells, floor, evaluator.ReferenceName, evaluator.Reference.Count, clock.Elapsed, draws);
    }
}
