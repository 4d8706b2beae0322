using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Ddim.Models;
using Ddim.Sampling;
using Ddim.Schedules;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Cli.Commands;

/// <summary>Sampling speed and memory of a model: DDIM S=10 and S=50, DDPM over all T, sampler overhead.</summary>
internal sealed class BenchCommand : Command<BenchCommand.Settings>
{
    public sealed class Settings : ModelSettingsBase
    {
        [CommandOption("-n|--num <N>")]
        [Description("Images per configuration (one batch), a multiple of 32 (the network's group of images). Default 64.")]
        public int Num { get; init; } = 64;

        [CommandOption("--repeat <R>")]
        [Description("Timed runs of each DDIM configuration; the report gives their median and range. DDPM (T calls) runs once. 1 to 100; default 3.")]
        public int Repeat { get; init; } = 3;

        [CommandOption("--skip-ddpm")]
        [Description("Skip the DDPM run (T network calls per image: minutes on a CPU).")]
        public bool SkipDdpm { get; init; }

        [CommandOption("--results <FILE.md>")]
        [Description("Also write the results as markdown, e.g. runs/bench.md (replaced if it exists, so not docs/results/bench.md: that is the curated record, with sections this report does not have).")]
        public string? Results { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Num is < 1 or > ImageSampler.MaxBatchSize)
        {
            throw new ArgumentException($"--num must be between 1 and {ImageSampler.MaxBatchSize:N0} (bench samples them as one batch); got {s.Num:N0}.");
        }

        if (s.Repeat is < 1 or > 100)
        {
            throw new ArgumentException($"--repeat must be between 1 and 100; got {s.Repeat}.");
        }

        ThreadsOption.Apply(s.Threads);
        if (s.Results is not null)
        {
            OutputPaths.RequireReportFile("--results", s.Results, ".md", "bench.md");
        }

        var modelPath = ModelLocator.Resolve(s.Model);
        using var sampler = ImageSampler.Load(modelPath, precision: s.ParsePrecision(torch.CPU));
        var modelSha256 = Provenance.FileSha256(modelPath); // the bytes timed, read now, not after minutes of runs
        if (sampler.Schedule.T < 50)
        {
            throw new ArgumentException($"bench times DDIM at S = 10 and S = 50, so it needs a model trained with T ≥ 50; {modelPath} has T = {sampler.Schedule.T}.");
        }

        if (sampler.WholeGroups(s.Num) != s.Num)
        {
            // The network runs on whole groups of images (FixedBatch), so another N would be timed as the next whole group's work.
            throw new ArgumentException($"--num must be a multiple of {sampler.GroupSize} (the network takes images in groups of {sampler.GroupSize}, so {s.Num} would cost as much as {sampler.WholeGroups(s.Num)}); got {s.Num}. Use {sampler.WholeGroups(s.Num)}.");
        }

        var rows = new List<Row>();

        // Warm up with a whole S = 10 run of the batch (first calls allocate and pick kernels, and a short warm-up left the
        // first timed configuration's steps slower than the later ones').
        sampler.Generate(s.Num, 0, new SampleSettings(Steps: 10), s.Num, (_, _) => { });
        double Time(SampleSettings settings)
        {
            var clock = Stopwatch.StartNew();
            sampler.Generate(s.Num, 0, settings, s.Num, (_, _) => { });
            return clock.Elapsed.TotalSeconds;
        }

        var configs = new List<(SampleSettings Settings, int Runs)> { (new(Steps: 10), s.Repeat), (new(Steps: 50), s.Repeat) };
        if (!s.SkipDdpm)
        {
            configs.Add((new SampleSettings(SamplerKind.Ddpm), 1)); // T steps: one run averages a thousand of them
        }

        foreach (var (config, runs) in configs)
        {
            var seconds = Enumerable.Range(0, runs).Select(_ => Time(config)).Order().ToArray();
            rows.Add(new Row(config.ToString(), config.NetworkCalls(sampler.Schedule), seconds));
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(config.ToString())}: {string.Join(", ", seconds.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} s[/]");
        }

        var peak = PeakRssBytes(); // VmHWM only rises: the peak over every run, each of s.Num images
        var (stepSeconds, forwardSeconds) = Overhead(sampler, s.Num);
        var text = Report(modelPath, modelSha256, sampler.Precision, s.Num, s.Repeat, rows, stepSeconds, forwardSeconds, peak);
        AnsiConsole.WriteLine(text);
        if (s.Results is not null)
        {
            Atomic.WriteAllText(s.Results, text);
            AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(s.Results)}[/].");
        }

        return 0;
    }

    /// <summary>
    /// The sampler's own cost per step: the median time of a whole S = 50 DDIM run around an instant denoiser (a
    /// precomputed ε̂), divided by its 50 steps (a last step, to ᾱ = 1, alone would not be a typical one), against one
    /// network forward pass from mid-noise at the same batch.
    /// </summary>
    private static (double Step, double Forward) Overhead(ImageSampler sampler, int batch)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = sampler.InitialNoise(1, 0, batch);
        var eps = torch.randn_like(x);
        var t = torch.full(batch, (long)(sampler.Schedule.T / 2), dtype: ScalarType.Int64); // t = 500 of T = 1000
        var table = Timetable.Create(Spacing.Seed, sampler.Schedule.T, 50); // T ≥ 50, checked before any timing
        NoisePredictor instant = (_, _) => eps.alias();
        double Median(Action a, int n)
        {
            a();
            var times = Enumerable.Range(0, n).Select(_ =>
            {
                var c = Stopwatch.StartNew();
                a();
                return c.Elapsed.TotalSeconds;
            }).Order().ToArray();
            return times[n / 2];
        }

        var step = Median(() => { using var inner = torch.NewDisposeScope(); DdimSampler.Sample(instant, x, sampler.Schedule, table); }, 21) / table.Count;
        var forward = Median(() => { using var inner = torch.NewDisposeScope(); sampler.Model(x, t); }, 11);
        return (step, forward);
    }

    private static long PeakRssBytes()
    {
        // VmHWM: the peak resident set size of this process so far (Linux).
        var line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) : null;
        return line is null ? Environment.WorkingSet : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>One configuration's timed runs, in seconds, sorted.</summary>
    internal sealed record Row(string Name, int Calls, double[] Seconds)
    {
        /// <summary>The middle run, or the mean of the middle two for an even number of runs.</summary>
        public double Median => Seconds.Length % 2 == 1
            ? Seconds[Seconds.Length / 2]
            : (Seconds[(Seconds.Length / 2) - 1] + Seconds[Seconds.Length / 2]) / 2;
    }

    private static string Report(string model, string modelSha256, NetworkPrecision precision, int num, int repeat, List<Row> rows, double step, double forward, long peak)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Sampling benchmark").AppendLine();
        sb.AppendLine(inv, $"`ddim bench --model {model} --num {num}{(repeat != 3 ? $" --repeat {repeat}" : string.Empty)}{(precision == NetworkPrecision.BFloat16 ? " --precision bf16" : string.Empty)}` on {MachineDescription()}; " +
                           $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, Ddim {BuildInfo.Version}, model SHA-256 {modelSha256[..12]}….").AppendLine();
        var ddpmRow = rows.Any(r => r.Name.StartsWith("DDPM", StringComparison.Ordinal));
        sb.AppendLine(inv, $"Wall times are the median of {repeat} run{(repeat == 1 ? string.Empty : "s")}{(ddpmRow ? " (DDPM: one run)" : string.Empty)}, after a warm-up run of DDIM S=10; the range is the fastest and slowest run.").AppendLine();
        sb.AppendLine("| sampler | network calls per image | wall time (s) | range (s) | images/s | ms per step |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var row in rows)
        {
            var range = row.Seconds.Length > 1 ? string.Create(inv, $"{row.Seconds[0]:F2}–{row.Seconds[^1]:F2}") : "—";
            sb.AppendLine(inv, $"| {row.Name} | {row.Calls} | {row.Median:F2} | {range} | {num / row.Median:F2} | {row.Median / row.Calls * 1000:F1} |");
        }

        sb.AppendLine();
        var ddim50 = rows.FirstOrDefault(r => r.Name.StartsWith("DDIM S=50", StringComparison.Ordinal));
        var ddpm = rows.FirstOrDefault(r => r.Name.StartsWith("DDPM", StringComparison.Ordinal));
        if (ddpm is not null && ddim50 is not null)
        {
            var slowest = ddim50.Seconds.Length > 1 ? string.Create(inv, $"; {ddpm.Median / ddim50.Seconds[^1]:F1}× against its slowest run") : string.Empty;
            sb.AppendLine(inv, $"- Wall-time speed-up of DDIM S=50 over DDPM (T = {ddpm.Calls}): **{ddpm.Median / ddim50.Median:F1}×** (DDPM's run against S=50's median{slowest}).");
        }

        sb.AppendLine(inv, $"- Sampler overhead per step (the mean DDIM update of an S = 50 run, batch {num}): {step * 1000:F3} ms, against {forward * 1000:F1} ms for one U-Net forward pass: **{step / forward * 100:F2}%**.");
        sb.AppendLine(inv, $"- Peak resident memory over these runs of {num} images each: **{peak / (1024.0 * 1024):F0} MiB** (whole process, libtorch included).");
        return sb.ToString();
    }

    internal static string MachineDescription()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return $"{cpu ?? RuntimeInformation.ProcessArchitecture.ToString()}, {Environment.ProcessorCount} cores, {torch.get_num_threads()} libtorch threads, {RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }
}
