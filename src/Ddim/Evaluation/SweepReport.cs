using System.Globalization;
using System.Text;
using Ddim.Sampling;
using ScottPlot;

namespace Ddim.Evaluation;

/// <summary>Where a sweep's numbers come from, written beside them so they can be reproduced.</summary>
/// <param name="CommandLine">The exact command that produced the results.</param>
/// <param name="Model">The model file, and whatever is known about its training (e.g. "models/mnist.ddim (40,000 steps)").</param>
/// <param name="Judge">The judge file and its test accuracy.</param>
/// <param name="Machine">The machine it ran on (cores, OS, threads).</param>
/// <param name="FinishedUtc">When the sweep finished.</param>
public sealed record SweepContext(string CommandLine, string Model, string Judge, string Machine, DateTime FinishedUtc)
{
    /// <summary>
    /// A description of this machine: logical cores, OS, .NET, libtorch threads, and the CUDA device when the network
    /// ran on one (<paramref name="device"/>), since wall times mean little without it.
    /// </summary>
    public static string ThisMachine(TorchSharp.torch.Device? device = null) =>
        $"{Environment.ProcessorCount} logical CPU cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription.Trim()}, " +
        $".NET {Environment.Version}, libtorch with {TorchSharp.torch.get_num_threads() switch { 1 => "1 CPU thread", var n => $"{n} CPU threads" }}" +
        (device is { type: TorchSharp.DeviceType.CUDA } ? $"; network on CUDA device {Math.Max(device.index, 0)} of {TorchSharp.torch.cuda.device_count()}" : string.Empty);
}

/// <summary>Writes a sweep as a markdown page (the paper's Table 1 layout) and a PNG plot of FID against S.</summary>
public static class SweepReport
{
    /// <summary>The base name of the files written by <see cref="Write"/>.</summary>
    public const string DefaultName = "table1-mnist";

    /// <summary>
    /// Writes <c>NAME.md</c> and, unless <paramref name="plot"/> is false, <c>NAME.png</c> into
    /// <paramref name="directory"/> (created if needed), atomically. Returns the paths written (Plot null without a plot).
    /// </summary>
    public static (string Markdown, string? Plot) Write(string directory, SweepResult result, SweepContext context, string name = DefaultName, bool plot = true)
    {
        var md = Path.Combine(directory, name + ".md");
        string? png = null;
        if (plot)
        {
            png = Path.Combine(directory, name + ".png");
            Atomic.WriteAllBytes(png, Plot(result));
        }

        Atomic.WriteAllText(md, Markdown(result, context, plot ? name + ".png" : null));
        return (md, png);
    }

    /// <summary>The markdown page: FID table, wall-time table, confidence and balance tables, floor, provenance; its numbers in the invariant culture.</summary>
    public static string Markdown(SweepResult result, SweepContext context, string? plotFile = null) =>
        InvariantCulture(() => MarkdownPage(result, context, plotFile));

    /// <summary>
    /// Runs <paramref name="make"/> with the invariant culture as the thread's current one, so that every number it
    /// formats, ScottPlot's tick labels included, reads the same on every machine ("10,000", "0.0057").
    /// </summary>
    private static T InvariantCulture<T>(Func<T> make)
    {
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            return make();
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    private static string MarkdownPage(SweepResult result, SweepContext context, string? plotFile)
    {
        var plan = result.Plan;
        var n = result.Options.Count;
        var sb = new StringBuilder();
        sb.AppendLine("# DDIM Table 1 on MNIST");
        sb.AppendLine();
        sb.AppendLine($"FID of {n:N0} generated images against the {result.ReferenceCount:N0} images of {result.ReferenceName}, in the feature space of the " +
                      "project's MNIST judge (its penultimate layer; Inception-v3 features are not available here, so these numbers compare " +
                      "samplers and models with each other, not with published FIDs). Lower is better.");
        sb.AppendLine();
        sb.AppendLine($"**Real-data floor** ({n:N0} real training images against the same reference): FID **{F(result.Floor.Fid)}**, " +
                      $"confident {P(result.Floor.ConfidentShare)}, class KL {result.Floor.ClassKl:0.0000}" +
                      (result.Floor.Manifold is { } fm ? $", precision / recall {PrecisionAndRecall(fm)}, density / coverage {DensityAndCoverage(fm)}." : "."));
        sb.AppendLine();
        if (result.FloorDraws is { } draws)
        {
            sb.AppendLine($"Over {draws.Fid.Count} draws of {n:N0} real training images (draw k is seed k's floor; `--floor-draws`), the floor's FID is " +
                          $"{F(draws.Fid.Mean)} ± {F(draws.Fid.StandardDeviation)} (mean ± SD; {F(draws.Fid.Min)} to {F(draws.Fid.Max)}). A cell's FID moves from seed to seed by at least " +
                          "that much, and more as its FID grows (about as √FID), so at one seed per cell, differences between cells of that size are noise.");
            sb.AppendLine();
        }
        if (plotFile is not null)
        {
            sb.AppendLine($"![FID against S]({plotFile})");
            sb.AppendLine();
        }

        Table(sb, "FID", result, c => F(c.Score.Fid));
        if (result.Cells.Any(c => c.Score.FidMean is not null))
        {
            Table(sb, "FID μ: the part of FID due to the shift of the mean features alone (— for cells saved before it was recorded)", result,
                c => c.Score.FidMean is { } mean ? F(mean) : "—");
        }

        Table(sb, "Sampling wall time, seconds (images/s)", result, c => $"{c.Score.SamplingTime.TotalSeconds:0.0} ({c.Score.ImagesPerSecond:0.00})");
        Table(sb, "Share of samples classified with confidence > 0.9", result, c => P(c.Score.ConfidentShare));
        Table(sb, "Class balance: KL(predicted classes ‖ uniform), nats", result, c => double.IsNaN(c.Score.ClassKl) ? "—" : c.Score.ClassKl.ToString("0.0000", CultureInfo.InvariantCulture));
        if (result.Cells.Any(c => c.Score.Manifold is not null))
        {
            Table(sb, $"Precision / recall (k = {ManifoldScores.PrecisionRecallK}; fidelity / diversity, higher is better; — for cells saved before they were measured)", result,
                c => c.Score.Manifold is { } m ? PrecisionAndRecall(m) : "—");
            Table(sb, $"Density / coverage (k = {ManifoldScores.DensityCoverageK}; about 1 / the floor's for real data; — for cells saved before they were measured)", result,
                c => c.Score.Manifold is { } m ? DensityAndCoverage(m) : "—");
        }

        sb.AppendLine("Rows: DDIM with σ_τᵢ = η·√((1 − α_τᵢ₋₁)/(1 − α_τᵢ))·√(1 − α_τᵢ/α_τᵢ₋₁) (η = 0 is deterministic), and σ̂ = √(1 − α_τᵢ/α_τᵢ₋₁). " +
                      $"Columns: S, the number of sampling steps ({plan.Spacing} spacing{(!plan.Clip ? string.Empty : plan.RederiveNoise ? ", x̂0 clipped to [−1, 1] and ε̂ re-derived from it" : ", x̂0 clipped to [−1, 1], the network's ε̂ kept")}). " +
                      (plan.Ddpm
                          ? $"The T = {result.T} column is DDPM ancestral sampling over all T steps with σ_t² = β_t, which is σ̂ at S = T{(plan.Clip && !plan.RederiveNoise ? " except in how clipping acts: DDPM's posterior mean uses the clipped x̂0 throughout, where this sweep's DDIM keeps the network's ε̂" : string.Empty)}. "
                          : $"DDPM over all T = {result.T} steps was left out of this run (--no-ddpm). ") +
                      "Every configuration starts from the same x_T per image (same seed). Wall time is sampling only (judging excluded), on the machine below.");
        sb.AppendLine();
        sb.AppendLine("## Provenance");
        sb.AppendLine();
        sb.AppendLine($"- Model: {context.Model}");
        sb.AppendLine($"- Judge: {context.Judge}");
        sb.AppendLine($"- N = {n:N0} samples per configuration, seed {result.Options.Seed}, batch size {result.BatchSizes()} (wall times depend on it, scores do not)");
        sb.AppendLine($"- Machine: {context.Machine}");
        if (result.ReusedCount > 0)
        {
            var all = result.Cells.Sum(c => c.Score.Elapsed.TotalMinutes);
            var thisRun = result.Elapsed.TotalMinutes < 1 ? $"{result.Elapsed.TotalSeconds:0} s" : $"{result.Elapsed.TotalMinutes:0.0} min";
            sb.AppendLine($"- Total wall time: {thisRun} for this run, which reused {result.ReusedCount} of {result.Cells.Count} cells " +
                          $"saved by an earlier run of the same sweep (--resume; each cell's file records the machine it ran on); {all:0.0} min for all cells' sampling and judging; finished {context.FinishedUtc:yyyy-MM-dd HH:mm} UTC");
        }
        else
        {
            sb.AppendLine($"- Total wall time: {result.Elapsed.TotalMinutes:0.0} min; finished {context.FinishedUtc:yyyy-MM-dd HH:mm} UTC");
        }
        sb.AppendLine();
        sb.AppendLine("Produced by:");
        sb.AppendLine();
        sb.AppendLine("```sh");
        sb.AppendLine(context.CommandLine);
        sb.AppendLine("```");
        return sb.ToString();
    }

    /// <summary>
    /// A PNG: FID against S (log scale), one line per η row, the DDPM cell at S = T, and the real-data floor (the mean over
    /// the floor's draws with a band of ± one SD, when it was drawn more than once; else the seed's own draw).
    /// </summary>
    public static byte[] Plot(SweepResult result, int width = 1000, int height = 560) =>
        InvariantCulture(() => PlotPng(result, width, height));

    private static byte[] PlotPng(SweepResult result, int width, int height)
    {
        var plan = result.Plan;

        // ScottPlot's texts take their family from Fonts.Default when they are made, with their own weights (a bold
        // title and axis labels): set it to an installed sans family before the plot is.
        if (PlotFont() is { } font)
        {
            Fonts.Default = font;
        }

        using var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var xs = plan.Steps.Select(s => Math.Log10(s)).ToArray();
        for (var row = 0; row < plan.RowLabels.Count && plan.Steps.Count > 0; row++)
        {
            var ys = plan.Steps.Select(s => result.Find(row, s)?.Score.Fid ?? double.NaN).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = plan.RowLabels[row];
            line.Color = palette.GetColor(row);
            line.LineWidth = 2;
            line.MarkerSize = 8;
        }

        var ticks = plan.Steps.Select(s => (double)s).ToList();
        if (result.DdpmCell is { } ddpm)
        {
            var marker = plot.Add.Marker(Math.Log10(result.T), ddpm.Score.Fid, MarkerShape.FilledDiamond, 14, Colors.Black);
            marker.LegendText = $"DDPM, all T = {result.T} steps";
            ticks.Add(result.T);
        }

        // The floor's mean over its draws (what eval's "× floor" divides by), shaded ± one SD: how far one draw of N real
        // images strays. A cell's FID moves more from seed to seed, about as √FID (fid-noise.md). Without draws, the
        // seed's own draw.
        var draws = result.FloorDraws?.Fid;
        var floorFid = draws?.Mean ?? result.Floor.Fid;
        if (draws is not null)
        {
            var band = plot.Add.VerticalSpan(draws.Mean - draws.StandardDeviation, draws.Mean + draws.StandardDeviation);
            band.FillStyle.Color = Colors.Gray.WithAlpha(0.18);
            band.LineStyle.Width = 0;
            band.LegendText = "± 1 SD of one floor draw";
        }

        var floor = plot.Add.HorizontalLine(floorFid);
        floor.LegendText = $"real-data floor (N = {result.Options.Count:N0}{(draws is null ? string.Empty : $", mean of {draws.Count} draws")})";
        floor.Color = Colors.Gray;
        floor.LinePattern = LinePattern.Dashed;
        floor.LineWidth = 1.5f;

        var positions = ticks.Select(Math.Log10).ToArray();
        var labels = ticks.Select(t => t.ToString("0", CultureInfo.InvariantCulture)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, labels);
        var lo = positions.Min();
        var hi = positions.Max();
        var pad = Math.Max(0.08, (hi - lo) * 0.06);
        plot.Axes.SetLimitsX(lo - pad, hi + pad);
        var fids = result.Cells.Select(c => c.Score.Fid).Append(floorFid + (draws?.StandardDeviation ?? 0)).Where(double.IsFinite).ToArray();
        plot.Axes.SetLimitsY(0, fids.Length == 0 ? 1 : fids.Max() * 1.08);
        plot.Title($"MNIST: FID (judge features) against sampling steps S, N = {result.Options.Count:N0}");
        plot.XLabel("S, sampling steps (log scale)");
        plot.YLabel("FID (lower is better)");
        plot.ShowLegend(Edge.Right);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>
    /// A sans-serif family for the plot's text. SkiaSharp's Linux library here is its build without fontconfig (so the
    /// host installs nothing for it), and nothing maps "sans-serif": its default is whichever family it finds first
    /// (DejaVu Serif on Debian). The first of these that is installed, else that default; with no fonts at all the plot
    /// is drawn without its text. (Looked up when a plot is drawn: the table is written without SkiaSharp.)
    /// </summary>
    private static string? PlotFont() => new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica", "FreeSans" }.FirstOrDefault(Installed);

    private static bool Installed(string family)
    {
        using var typeface = SkiaSharp.SKFontManager.Default.MatchFamily(family);
        return typeface?.FamilyName == family;
    }

    private static void Table(StringBuilder sb, string title, SweepResult result, Func<SweepCell, string> format)
    {
        var plan = result.Plan;
        sb.AppendLine($"### {title}");
        sb.AppendLine();
        var header = new List<string> { string.Empty };
        header.AddRange(plan.Steps.Select(s => $"S = {s}"));
        if (plan.Ddpm)
        {
            header.Add($"T = {result.T} (DDPM)");
        }

        sb.AppendLine("| " + string.Join(" | ", header) + " |");
        sb.AppendLine("|" + string.Concat(header.Select((_, i) => i == 0 ? ":---|" : "---:|")));
        var rows = plan.RowLabels.Count;
        for (var row = 0; row < rows; row++)
        {
            var cells = new List<string> { plan.RowLabels[row] };
            cells.AddRange(plan.Steps.Select(s => result.Find(row, s) is { } c ? format(c) : "—"));
            if (plan.Ddpm)
            {
                // The DDPM cell sits in the σ̂ row: σ̂ at S = T is DDPM's σ_t² = β_t (exactly so without clipping or with ε̂ re-derived).
                cells.Add(plan.LargeVariance && row == rows - 1 && result.DdpmCell is { } d ? format(d) : string.Empty);
            }

            sb.AppendLine("| " + string.Join(" | ", cells) + " |");
        }

        if (plan.Ddpm && !plan.LargeVariance && result.DdpmCell is { } alone)
        {
            var cells = new List<string> { "DDPM (σ_t² = β_t)" };
            cells.AddRange(plan.Steps.Select(_ => string.Empty));
            cells.Add(format(alone));
            sb.AppendLine("| " + string.Join(" | ", cells) + " |");
        }

        sb.AppendLine();
    }

    private static string F(double fid) => double.IsNaN(fid) ? "diverged" : fid.ToString(fid < 10 ? "0.000" : "0.00", CultureInfo.InvariantCulture);

    private static string P(double share) => double.IsNaN(share) ? "—" : share.ToString("0.0%", CultureInfo.InvariantCulture); // NaN: a diverged cell

    private static string PrecisionAndRecall(ManifoldScores m) => string.Create(CultureInfo.InvariantCulture, $"{m.Precision:0.000} / {m.Recall:0.000}");

    private static string DensityAndCoverage(ManifoldScores m) => string.Create(CultureInfo.InvariantCulture, $"{m.Density:0.000} / {m.Coverage:0.000}");
}
