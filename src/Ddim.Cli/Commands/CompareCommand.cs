using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Evaluation;
using Ddim.Models;
using Ddim.Sampling;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>
/// `ddim compare`: two configurations' eval JSONs, paired by seed, and whether A scores better than B (a paired
/// t-test, with the sign and signed-rank tests beside it). It reads files only: the scoring was done by `ddim eval`.
/// </summary>
internal sealed class CompareCommand : Command<CompareCommand.Settings>
{
    // The scores an eval JSON holds per seed, under "samples", and which way is better.
    private static readonly Dictionary<string, (string Key, bool LowerIsBetter)> Scores = new(StringComparer.OrdinalIgnoreCase)
    {
        ["fid"] = ("fid", true),
        ["fid-mean"] = ("fid_mean", true),
        ["precision"] = ("precision", false),
        ["recall"] = ("recall", false),
        ["density"] = ("density", false),
        ["coverage"] = ("coverage", false),
        ["confident"] = ("confident_share", false),
        ["class-kl"] = ("class_kl", true),
    };

    public sealed class Settings : CommandSettings
    {
        [CommandOption("-a|--first <FILES>")]
        [Description("Configuration A's score files, written by 'ddim eval --json' (one seed each, or a --seeds run): paths, comma-separated, or a quoted pattern with * or ? in the file name, such as 'evals/s10-e0-seed*.json'; repeat the option to add more. All of a side's files must record one sampler configuration and one model (files too old to record them are only checked by their labels). The verdict is for 'A is better': swap -a and -b to test the other way.")]
        public string[] A { get; init; } = [];

        [CommandOption("-b|--second <FILES>")]
        [Description("Configuration B's score files, the same way; B must have been scored at the same seeds and N as A.")]
        public string[] B { get; init; } = [];

        [CommandOption("--score <NAME>")]
        [Description("The score to compare: fid (default), fid-mean, precision, recall, density, coverage, confident or class-kl. class-kl counts lower as better, which holds down to real digits' own level (the floor's class_kl, 0.0015–0.003 at N = 10,000), not below it.")]
        public string Score { get; init; } = "fid";

        [CommandOption("--alpha <P>")]
        [Description("The one-sided level at which the paired t-test's verdict is given, above 0 and at most 0.5. Default 0.05.")]
        public double Alpha { get; init; } = 0.05;

        [CommandOption("--json <FILE>")]
        [Description("Also write the pairs and the tests as JSON.")]
        public string? Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (!Scores.TryGetValue(settings.Score, out var score))
        {
            throw new ArgumentException($"Unknown --score '{settings.Score}'; use one of {string.Join(", ", Scores.Keys)}.");
        }

        if (!(settings.Alpha > 0 && settings.Alpha <= 0.5))
        {
            throw new ArgumentException($"--alpha must be above 0 and at most 0.5 (a one-sided level such as 0.05); got {settings.Alpha.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (settings.Json is not null)
        {
            OutputPaths.RequireReportFile("--json", settings.Json, ".json", "compare.json");
        }

        var a = ScoreSet.Read("-a", settings.A, score.Key);
        var b = ScoreSet.Read("-b", settings.B, score.Key);
        if (a.Files.Select(Path.GetFullPath).Intersect(b.Files.Select(Path.GetFullPath)).FirstOrDefault() is { } both)
        {
            throw new ArgumentException($"{both} is given to both -a and -b: a score compared with itself differs by nothing, and the tests have no spread to work with. Give B the files of the other configuration.");
        }

        if (settings.Json is not null && a.Files.Concat(b.Files).FirstOrDefault(f => Path.GetFullPath(f) == Path.GetFullPath(settings.Json)) is { } input)
        {
            throw new ArgumentException($"--json {settings.Json} is one of the score files compared ({input}): writing the comparison there would replace it. Give --json another file.");
        }

        if (a.Num != b.Num)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A was scored with N = {a.Num:N0} images per seed and B with N = {b.Num:N0}; scores at different N are not comparable. Compare runs made with the same --num."));
        }

        var onlyA = a.BySeed.Keys.Except(b.BySeed.Keys).Order().ToList();
        var onlyB = b.BySeed.Keys.Except(a.BySeed.Keys).Order().ToList();
        if (onlyA.Count > 0 || onlyB.Count > 0)
        {
            var missing = string.Join("; ", new[]
            {
                onlyA.Count > 0 ? $"{Seeds(onlyA)} only in A" : null,
                onlyB.Count > 0 ? $"{Seeds(onlyB)} only in B" : null,
            }.Where(s => s is not null));
            throw new ArgumentException($"The comparison is seed by seed, so A and B need the same seeds ({missing}). Score the missing seeds with 'ddim eval --seed K --json FILE', or leave those files out.");
        }

        var unrecorded = RequireOneJudgeAndReference(a, b);
        var pairs = a.BySeed.Keys.Order().Select(seed => new ScorePair(seed, a.BySeed[seed], b.BySeed[seed])).ToList();
        var comparison = PairedComparison.Of(pairs, score.LowerIsBetter);
        Report(comparison, a, b, settings, unrecorded);
        if (settings.Json is { } json)
        {
            Provenance.WriteJson(json, Json(comparison, a, b, settings));
        }

        return 0;
    }

    /// <summary>
    /// Refuses A and B if their files name two judges or two reference sets by content ("scored_with", written since
    /// 2026-11-28): FIDs from two judges are distances in two feature spaces. Returns how many files record neither.
    /// </summary>
    private static int RequireOneJudgeAndReference(ScoreSet a, ScoreSet b)
    {
        var inputs = a.Inputs.Concat(b.Inputs).ToList();
        foreach (var (what, value, change) in new (string, Func<FileInputs, string?>, string)[]
                 {
                     ("judge", f => f.JudgeSha256, "rescore one side with the other's --judge"),
                     ("reference set", f => f.Reference, "rescore one side against the other's reference"),
                 })
        {
            var distinct = inputs.Where(f => value(f) is not null).GroupBy(value).ToList();
            if (distinct.Count > 1)
            {
                var examples = string.Join(" but ", distinct.Take(2).Select(g => $"{g.First().File} by {Short(g.Key!)}"));
                throw new InvalidDataException($"A and B must be scored by one {what}, and these files were not ({examples}): scores from two {what}s are not comparable. Compare files scored alike, or {change}.");
            }
        }

        return inputs.Count(f => f.JudgeSha256 is null);
    }

    private static void Report(PairedComparison c, ScoreSet a, ScoreSet b, Settings settings, int unrecorded)
    {
        var better = c.LowerIsBetter ? "lower is better" : "higher is better";
        AnsiConsole.MarkupLine($"A: [bold]{Markup.Escape(a.Label)}[/], model {Markup.Escape(a.Model)}");
        AnsiConsole.MarkupLine($"B: [bold]{Markup.Escape(b.Label)}[/], model {Markup.Escape(b.Model)}");
        AnsiConsole.MarkupLine(Markup.Escape(ModelBytes(a, b)));
        if (unrecorded > 0)
        {
            AnsiConsole.MarkupLine($"[grey]{unrecorded} of the {a.Files.Count + b.Files.Count} files record no SHA-256 of their model and judge (written before eval recorded them), so their judge is not checked.[/]");
        }

        var table = new Table().RoundedBorder()
            .AddColumn("seed")
            .AddColumn(new TableColumn($"A {settings.Score}").RightAligned())
            .AddColumn(new TableColumn($"B {settings.Score}").RightAligned())
            .AddColumn(new TableColumn("A − B").RightAligned());
        foreach (var p in c.Pairs)
        {
            table.AddRow(p.Seed.ToString(CultureInfo.InvariantCulture), F(p.A, "0.000"), F(p.B, "0.000"), F(p.Difference, "+0.000;−0.000;0.000"));
        }

        table.AddRow("mean ± SD", c.A.ToString("0.000"), c.B.ToString("0.000"),
            $"{F(c.Difference.Mean, "+0.000;−0.000;0.000")} ± {F(c.Difference.StandardDeviation, "0.000")}");
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{settings.Score} ({better}), N = {a.Num:N0} per seed, {c.Pairs.Count} seeds. Mean of A − B: {F(c.Difference.Mean, "+0.000;−0.000;0.000")}, standard error {F(c.Difference.StandardError, "0.000")}."));
        AnsiConsole.WriteLine(double.IsNaN(c.T)
            ? $"Paired t-test: none, as every difference is the same ({F(c.Difference.Mean, "+0.000;−0.000;0.000")}), so the differences have no spread to test against; the sign and signed-rank tests below still apply."
            : string.Create(CultureInfo.InvariantCulture, $"Paired t-test: t = {F(c.T, "0.000;−0.000")} on {c.DegreesOfFreedom} degrees of freedom; one-sided p = {P(c.OneSidedP)} for A better, two-sided p = {P(c.TwoSidedP)}."));
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"A better at {c.ABetter} of {c.Pairs.Count} seeds{(c.Ties > 0 ? $" ({c.Ties} tied)" : string.Empty)}: sign test p = {P(c.SignTestP)}; Wilcoxon signed-rank p = {P(c.WilcoxonP)} (both exact, one-sided)."));
        var alpha = settings.Alpha.ToString(CultureInfo.InvariantCulture);
        AnsiConsole.MarkupLine(double.IsNaN(c.T)
            ? "[yellow]No verdict[/] from the paired t-test, which has no t here: read the sign and signed-rank p-values above."
            : c.ShowsABetter(settings.Alpha)
                ? $"[green]A is better than B[/] at one-sided α = {alpha} (paired t-test)."
                : $"[yellow]Not shown[/] that A is better than B at one-sided α = {alpha} (paired t-test).");
    }

    private static JsonObject Json(PairedComparison c, ScoreSet a, ScoreSet b, Settings settings) => new()
    {
        ["command"] = Provenance.CommandLine(),
        ["score"] = settings.Score.ToLowerInvariant(),
        ["lower_is_better"] = c.LowerIsBetter,
        ["num"] = a.Num,
        ["judge_sha256"] = a.Inputs.Concat(b.Inputs).Select(f => f.JudgeSha256).FirstOrDefault(h => h is not null),
        ["a"] = new JsonObject { ["settings"] = a.Label, ["model"] = a.Model, ["model_sha256"] = a.ModelSha256, ["files"] = new JsonArray([.. a.Files.Select(f => (JsonNode?)JsonValue.Create(f))]) },
        ["b"] = new JsonObject { ["settings"] = b.Label, ["model"] = b.Model, ["model_sha256"] = b.ModelSha256, ["files"] = new JsonArray([.. b.Files.Select(f => (JsonNode?)JsonValue.Create(f))]) },
        ["pairs"] = new JsonArray([.. c.Pairs.Select(p => (JsonNode?)new JsonObject { ["seed"] = p.Seed, ["a"] = p.A, ["b"] = p.B, ["difference"] = p.Difference })]),
        ["difference"] = new JsonObject { ["mean"] = c.Difference.Mean, ["sd"] = c.Difference.StandardDeviation, ["se"] = c.Difference.StandardError },
        ["t"] = double.IsFinite(c.T) ? c.T : null,
        ["degrees_of_freedom"] = c.DegreesOfFreedom,
        ["p_one_sided"] = Finite(c.OneSidedP),
        ["p_two_sided"] = Finite(c.TwoSidedP),
        ["a_better_seeds"] = c.ABetter,
        ["b_better_seeds"] = c.BBetter,
        ["tied_seeds"] = c.Ties,
        ["sign_test_p"] = c.SignTestP,
        ["wilcoxon_p"] = c.WilcoxonP,
        ["alpha"] = settings.Alpha,
        ["a_better"] = double.IsNaN(c.T) ? null : c.ShowsABetter(settings.Alpha), // null: no t-test, so no verdict
    };

    /// <summary>Whether A and B ran the same model bytes, as far as their files say.</summary>
    private static string ModelBytes(ScoreSet a, ScoreSet b) => (a.ModelSha256, b.ModelSha256) switch
    {
        ({ } x, { } y) when x == y => $"Models: A and B ran the same model file (SHA-256 {Short(x)}).",
        ({ } x, { } y) => $"Models: A ran {Short(x)} and B {Short(y)} (SHA-256): two different model files.",
        _ => "Models: not every file records its model's SHA-256, so whether A and B ran the same bytes is not known.", // a side with two hashes is refused when read
    };

    private static string Short(string sha256) => sha256.Length > 12 ? sha256[..12] + "…" : sha256;

    private static string Seeds(IReadOnlyList<long> seeds) => (seeds.Count == 1 ? "seed " : "seeds ") + string.Join(", ", seeds);

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private static string F(double value, string format) => double.IsNaN(value) ? "—" : value.ToString(format, CultureInfo.InvariantCulture);

    private static string P(double p) => double.IsNaN(p) ? "—" : p < 0.0001 ? "< 0.0001" : p.ToString("0.0000", CultureInfo.InvariantCulture);

    /// <summary>What one file says it was scored with ("scored_with", and its canonical "sampler_settings"); null in files written before eval recorded them.</summary>
    private sealed record FileInputs(string File, string? ModelSha256, string? JudgeSha256, string? Reference, SampleSettings? Sampler);

    /// <summary>One side's scores by seed, read from eval JSONs.</summary>
    private sealed record ScoreSet(string Label, string Model, int Num, IReadOnlyDictionary<long, double> BySeed, IReadOnlyList<string> Files, IReadOnlyList<FileInputs> Inputs)
    {
        /// <summary>The side's one model SHA-256, or null where a file lacks it or the files name several.</summary>
        public string? ModelSha256 => Inputs.All(f => f.ModelSha256 is not null) && Inputs.Select(f => f.ModelSha256).Distinct().Count() == 1 ? Inputs[0].ModelSha256 : null;

        public static ScoreSet Read(string option, IReadOnlyList<string> specs, string key)
        {
            var files = Expand(option, specs);
            var bySeed = new Dictionary<long, double>();
            var labels = new List<string>();
            var models = new List<string>();
            var inputs = new List<FileInputs>();
            int? num = null;
            foreach (var file in files)
            {
                JsonNode root;
                try
                {
                    root = JsonNode.Parse(File.ReadAllText(file)) ?? throw new JsonException("it is empty");
                }
                catch (JsonException e)
                {
                    throw new InvalidDataException($"{file} is not readable JSON ({e.Message}). {option} takes the files that 'ddim eval --json' writes.", e);
                }

                if (root is JsonObject top && top["images"] is not null && top["settings"] is null)
                {
                    throw new InvalidDataException($"{file} scores a folder of images ('ddim eval --images'): its seed picks only the floor's real images, not the samples, so it cannot be paired by seed. Compare runs that sampled their images, 'ddim eval --seed K' or '--seeds'.");
                }

                int fileNum;
                List<(long Seed, double? Value)> seedScores;
                try
                {
                    fileNum = root["num"]?.GetValue<int>() ?? throw new InvalidDataException("it has no num");
                    var runs = root["runs"] is JsonArray array ? [.. array.Select(r => r ?? throw new InvalidDataException("a run is empty"))] : new List<JsonNode> { root };
                    seedScores = [.. runs.Select(r => (
                        r["seed"]?.GetValue<long>() ?? throw new InvalidDataException("a score has no seed"),
                        (r["samples"] ?? throw new InvalidDataException("a score has no samples"))[key]?.GetValue<double>()))];
                    labels.Add(root["settings"]?.GetValue<string>() ?? throw new InvalidDataException("it has no settings"));
                    models.Add(root["model"]?.GetValue<string>() ?? "model not recorded");
                    var with = root["scored_with"];
                    var sampler = root["sampler_settings"] is { } node ? node.Deserialize<SampleSettings>(ModelFile.Json)?.ToCanonical() : null;
                    inputs.Add(new FileInputs(file, with?["model_sha256"]?.GetValue<string>(), with?["judge_sha256"]?.GetValue<string>(), with?["reference"]?.GetValue<string>(), sampler));
                }
                catch (Exception e) when (e is InvalidDataException or InvalidOperationException or FormatException or JsonException)
                {
                    throw new InvalidDataException($"{file} is not an eval score file ({e.Message}). {option} takes the files that 'ddim eval --json' writes, with --seed or --seeds, not --sweep.", e);
                }

                if (seedScores.Count == 0)
                {
                    throw new InvalidDataException($"{file} holds no seeds' scores.");
                }

                if (num is not null && fileNum != num)
                {
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{option}'s files were scored at different N ({num:N0} and {fileNum:N0}, in {file}); give each side runs of one --num."));
                }

                num = fileNum;
                foreach (var (seed, value) in seedScores)
                {
                    if (value is null)
                    {
                        throw new InvalidDataException($"{file} has no '{key}' for seed {seed} (a run whose sampler diverged has no FID, manifold scores, confidence or class balance; manifold scores are left out at tiny N, and older files lack some scores).");
                    }

                    if (!bySeed.TryAdd(seed, value.Value))
                    {
                        throw new InvalidDataException($"Seed {seed} appears twice among {option}'s files (again in {file}); give each seed once.");
                    }
                }
            }

            // Files that record their sampler settings and model bytes (every file eval writes now) must agree on them:
            // a pattern that also caught another configuration's or model's files would pair the wrong scores.
            // Older files record neither; they are left out of this check (the label warning below still reads them).
            var withSettings = inputs.Where(f => f.Sampler is not null).ToList();
            if (withSettings.Select(f => f.Sampler).Distinct().Count() is > 1 and var configurations)
            {
                throw new InvalidDataException(
                    $"{option}'s files ran {configurations} sampler configurations ({string.Join("; ", withSettings.GroupBy(f => f.Sampler).Select(g => $"{g.Key} in {Path.GetFileName(g.First().File)}{(g.Count() > 1 ? $" and {g.Count() - 1} more" : string.Empty)}"))}): " +
                    "each side is one configuration at several seeds. Give each side the files of one.");
            }

            var withModel = inputs.Where(f => f.ModelSha256 is not null).ToList();
            if (withModel.Select(f => f.ModelSha256).Distinct().Count() is > 1 and var modelCount)
            {
                throw new InvalidDataException(
                    $"{option}'s files come from {modelCount} models ({string.Join("; ", withModel.GroupBy(f => f.ModelSha256).Select(g => $"SHA-256 {Short(g.Key!)} in {Path.GetFileName(g.First().File)}{(g.Count() > 1 ? $" and {g.Count() - 1} more" : string.Empty)}"))}): " +
                    "each side is one model's scores. Give each side the files of one model.");
            }

            var distinct = labels.Distinct().ToList();
            if (distinct.Count > 1)
            {
                // Older files name the same settings differently (e.g. "(re-derived ε̂)" before it was the default), so this is a warning, not an error.
                AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(option)}'s files name {distinct.Count} settings: {Markup.Escape(string.Join("; ", distinct))}. Check that they are one configuration.");
            }

            // A model is recorded as "PATH (parameters, T, training steps, data)"; the same model run from two folders is one model.
            var described = models.Select(m => m.IndexOf(" (", StringComparison.Ordinal) is var cut and > 0 ? $"{Path.GetFileName(m[..cut])}{m[cut..]}" : m).Distinct().ToList();
            if (described.Count > 1)
            {
                AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(option)}'s files come from {described.Count} models: {Markup.Escape(string.Join("; ", described))}.");
            }

            return new ScoreSet(distinct[0], described.Count == 1 ? described[0] : $"{described.Count} models", num!.Value, bySeed, files, inputs);
        }

        /// <summary>The files named by the option's values: paths, comma-separated lists, and patterns with * or ? in the file name.</summary>
        private static List<string> Expand(string option, IReadOnlyList<string> specs)
        {
            // No option at all and an option of blanks or commas only are one mistake.
            var names = specs.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            if (names.Count == 0)
            {
                throw new ArgumentException($"{option} names no file; give it the eval JSON files of that configuration ('ddim eval --json FILE', one per seed or one --seeds run).");
            }

            var files = new List<string>();

            foreach (var spec in names)
            {
                var name = Path.GetFileName(spec);
                if (name.IndexOfAny(['*', '?']) < 0)
                {
                    if (!File.Exists(spec))
                    {
                        throw new FileNotFoundException($"{option}: no file {spec}.", spec);
                    }

                    files.Add(spec);
                    continue;
                }

                var directory = Path.GetDirectoryName(spec) is { Length: > 0 } d ? d : ".";
                var matches = Directory.Exists(directory) ? Directory.GetFiles(directory, name).Order(StringComparer.Ordinal).ToList() : [];
                if (matches.Count == 0)
                {
                    throw new FileNotFoundException($"{option}: no file matches {spec}.", spec);
                }

                files.AddRange(matches);
            }

            return [.. files.Distinct()];
        }
    }
}
