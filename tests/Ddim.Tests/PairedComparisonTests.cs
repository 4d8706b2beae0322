using System.Text.Json.Nodes;
using Ddim.Cli.Commands;
using Ddim.Evaluation;
using Ddim.Sampling;
using Ddim.Schedules;

namespace Ddim.Tests;

/// <summary>
/// <c>ddim compare</c>: two configurations scored at the same seeds, the paired t-test and the exact sign and
/// signed-rank tests, checked against closed forms, hand counts and an independent computation.
/// </summary>
public sealed class PairedComparisonTests : OneTorchThread
{
    // The bundled model's S = 10 FIDs at N = 10,000, seeds 0–6 (README): η = 0 as A, η = 1 as B.
    private static readonly ScorePair[] SevenSeeds =
    [
        new(0, 21.172, 19.486), new(1, 22.472, 23.021), new(2, 20.080, 23.428), new(3, 19.353, 21.755),
        new(4, 20.245, 21.526), new(5, 19.580, 22.533), new(6, 21.170, 19.775),
    ];

    [Theory]
    [InlineData(-3.0)]
    [InlineData(-0.4)]
    [InlineData(0.0)]
    [InlineData(1.7)]
    [InlineData(25.0)]
    public void Given_one_and_two_degrees_of_freedom_When_the_t_CDF_is_taken_Then_it_matches_their_closed_forms(double t)
    {
        // Given: ν = 1 is the Cauchy distribution, ½ + atan(t)/π; ν = 2 has F(t) = ½ + t / (2√(2 + t²))
        var cauchy = 0.5 + (Math.Atan(t) / Math.PI);
        var two = 0.5 + (t / (2 * Math.Sqrt(2 + (t * t))));

        // When / Then
        Assert.Equal(cauchy, StudentT.Cdf(t, 1), 12);
        Assert.Equal(two, StudentT.Cdf(t, 2), 12);
    }

    [Theory]
    [InlineData(-1e-6)]
    [InlineData(-1e-4)]
    [InlineData(1e-5)]
    [InlineData(-3e-9)]
    public void Given_t_near_zero_When_the_t_CDF_is_taken_Then_it_keeps_every_digit_of_the_closed_forms(double t)
    {
        // Given: here 1 − ν/(ν + t²) taken from a rounded ν/(ν + t²) keeps only a few digits of t²/(ν + t²)
        var cauchy = 0.5 + (Math.Atan(t) / Math.PI);
        var two = 0.5 + (t / (2 * Math.Sqrt(2 + (t * t))));

        // When / Then: to 15 decimals (it was 10⁻¹¹ off at t = −10⁻⁶)
        Assert.Equal(cauchy, StudentT.Cdf(t, 1), 15);
        Assert.Equal(two, StudentT.Cdf(t, 2), 15);
    }

    [Theory]
    [InlineData(6, 1.943180281)]
    [InlineData(12, 1.782287556)]
    [InlineData(30, 1.697260887)]
    public void Given_the_tabulated_5_percent_critical_value_When_the_t_CDF_is_taken_there_Then_it_is_0_05(int degreesOfFreedom, double critical)
    {
        Assert.Equal(0.05, StudentT.Cdf(-critical, degreesOfFreedom), 8);
        Assert.Equal(0.95, StudentT.Cdf(critical, degreesOfFreedom), 8);
        Assert.Equal(0, StudentT.Cdf(double.NegativeInfinity, degreesOfFreedom));
        Assert.True(double.IsNaN(StudentT.Cdf(double.NaN, degreesOfFreedom)));
    }

    [Fact]
    public void Given_known_values_When_the_special_functions_are_taken_Then_they_match_closed_forms()
    {
        Assert.Equal(Math.Log(24), SpecialFunctions.LogGamma(5), 13);
        Assert.Equal(0.5 * Math.Log(Math.PI), SpecialFunctions.LogGamma(0.5), 13);
        Assert.Equal(Math.Log(Math.Sqrt(Math.PI) / 2), SpecialFunctions.LogGamma(1.5), 13);
        Assert.Equal(Math.Log(Math.PI / Math.Sin(Math.PI * 0.1)) - SpecialFunctions.LogGamma(0.9), SpecialFunctions.LogGamma(0.1), 12);

        // I_x(1, 1) = x; I_x(2, 1) = x²; I_x(a, b) = 1 − I_(1−x)(b, a)
        Assert.Equal(0.3, SpecialFunctions.RegularizedIncompleteBeta(1, 1, 0.3), 14);
        Assert.Equal(0.49, SpecialFunctions.RegularizedIncompleteBeta(2, 1, 0.7), 14);
        Assert.Equal(1 - SpecialFunctions.RegularizedIncompleteBeta(0.5, 3.5, 0.8), SpecialFunctions.RegularizedIncompleteBeta(3.5, 0.5, 0.2), 14);
        Assert.Throws<ArgumentOutOfRangeException>(() => SpecialFunctions.RegularizedIncompleteBeta(1, 1, 1.5));
    }

    [Fact]
    public void Given_the_seven_seeds_of_the_S_10_target_When_compared_Then_the_tests_give_the_README_s_figures()
    {
        // When
        var c = PairedComparison.Of(SevenSeeds, lowerIsBetter: true);

        // Then: the mean difference and its standard error as computed by hand, t = d̄ / SE on 6 degrees of freedom
        var d = SevenSeeds.Select(p => p.A - p.B).ToArray();
        var mean = d.Average();
        var se = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / 6) / Math.Sqrt(7);
        Assert.Equal(mean, c.Difference.Mean, 12);
        Assert.Equal(mean / se, c.T, 12);
        Assert.Equal(6, c.DegreesOfFreedom);
        Assert.Equal(-1.394, c.T, 3);
        Assert.Equal(0.1064, c.OneSidedP, 4);          // scipy.stats.t.cdf(-1.3937, 6)
        Assert.Equal(2 * c.OneSidedP, c.TwoSidedP, 14);
        Assert.False(c.ShowsABetter(0.05));
        Assert.True(c.ShowsABetter(0.15));

        // ... η = 0 better at five seeds: sign test P(X ≥ 5 | 7, ½) = (21 + 7 + 1)/128
        Assert.Equal((5, 2, 0), (c.ABetter, c.BBetter, c.Ties));
        Assert.Equal(29.0 / 128, c.SignTestP, 15);

        // ... signed ranks: η = 1 better at seeds 6 and 0, ranks 3 and 4 of 7 by |d|, so A's rank sum is 28 − 7 = 21;
        // 19 of the 128 sign patterns put a rank sum of 7 or less on B's side
        Assert.Equal(19.0 / 128, c.WilcoxonP, 15);
    }

    [Fact]
    public void Given_ties_and_a_score_where_higher_is_better_When_compared_Then_tied_seeds_drop_out_and_tied_sizes_share_a_rank()
    {
        // Given: precision (higher is better); A wins by 0.25 twice, loses by 0.25 once, ties once (all exact in binary)
        ScorePair[] pairs = [new(0, 0.75, 0.5), new(1, 0.5, 0.25), new(2, 0.25, 0.5), new(3, 0.875, 0.875)];

        // When
        var c = PairedComparison.Of(pairs, lowerIsBetter: false);

        // Then: three untied seeds, all |d| equal (one shared rank); A's side holds two of them: P(at least 2 of 3) = ½
        Assert.Equal((2, 1, 1), (c.ABetter, c.BBetter, c.Ties));
        Assert.Equal(0.5, c.SignTestP, 12);
        Assert.Equal(0.5, c.WilcoxonP, 12);
        Assert.True(c.T > 0);
        Assert.Equal(1 - StudentT.Cdf(c.T, 3), c.OneSidedP, 14);
    }

    [Fact]
    public void Given_shares_of_N_whose_equal_differences_differ_in_the_last_bits_When_compared_Then_they_still_tie_in_rank()
    {
        // Given: precision as counts over N = 1,000; A wins by 10/1000 at seed 0 and loses by 10/1000 at seed 1, two
        // differences that floating point spells differently (0.010000000000000009 and 0.009999999999999953)
        ScorePair[] pairs = [new(0, 0.700, 0.690), new(1, 0.334, 0.344), new(2, 0.840, 0.820)];
        Assert.NotEqual(Math.Abs(pairs[0].Difference), Math.Abs(pairs[1].Difference));

        // When
        var c = PairedComparison.Of(pairs, lowerIsBetter: false);

        // Then: ranks 1.5, 1.5 and 3 (doubled 3, 3, 6), A's sum 9; P(S ≥ 9) over the 8 sign patterns = 3/8
        // (ranked by their last bits instead, seed 0 would outrank seed 1: A's sum 10, p = 2/8)
        Assert.Equal(3.0 / 8, c.WilcoxonP, 15);
    }

    [Fact]
    public void Given_A_far_ahead_or_equally_ahead_at_every_seed_When_compared_Then_the_tails_keep_their_digits()
    {
        // Given: higher is better and A ahead by a lot, with a little spread (t ≈ 20 on 30 degrees of freedom)
        var pairs = Enumerable.Range(0, 31).Select(k => new ScorePair(k, 0.9 + (0.001 * (k % 3)), 0.8)).ToList();

        // When
        var c = PairedComparison.Of(pairs, lowerIsBetter: false);

        // Then: the one-sided p is the tiny upper tail itself, not 1 − (1 − tail) = 0, and the two-sided p is twice it
        Assert.True(c.T > 15);
        Assert.True(c.OneSidedP is > 0 and < 1e-15, $"{c.OneSidedP}");
        Assert.Equal(2, c.TwoSidedP / c.OneSidedP, 12);

    }

    [Fact]
    public void Given_the_same_difference_at_every_seed_When_compared_Then_there_is_no_t_and_no_verdict_but_the_rank_tests_still_speak()
    {
        // Given: A lower by exactly 1 at both seeds, and precisions whose equal differences (0.003) differ in the last bits
        ScorePair[] same = [new(0, 1, 2), new(1, 3, 4)];
        ScorePair[] shares = [new(0, 0.803, 0.800), new(1, 0.813, 0.810), new(2, 0.903, 0.900)]; // 0.0030000000000000027, 0.0029999999999998916, …

        // When
        var c = PairedComparison.Of(same, lowerIsBetter: true);
        var s = PairedComparison.Of(shares, lowerIsBetter: false);

        // Then: no spread to test against, so no t, no p and no "A is better" (it used to be t = −∞ and p = 0)
        Assert.True(double.IsNaN(c.T) && double.IsNaN(c.OneSidedP) && double.IsNaN(c.TwoSidedP));
        Assert.False(c.ShowsABetter(0.05));
        Assert.Equal(0.25, c.SignTestP, 12);
        Assert.True(double.IsNaN(s.T), $"t = {s.T}");
        Assert.False(s.ShowsABetter(0.05));
        Assert.Equal(0.125, s.WilcoxonP, 12);
    }

    [Fact]
    public void Given_pairs_that_cannot_be_compared_When_compared_Then_the_error_says_why()
    {
        Assert.Contains("at least two seeds", Assert.Throws<ArgumentException>(() => PairedComparison.Of([new(0, 1, 2)], true)).Message);
        Assert.Contains("Seed 3 is given 2 times", Assert.Throws<ArgumentException>(() => PairedComparison.Of([new(3, 1, 2), new(3, 1, 2)], true)).Message);
        Assert.Contains("not a finite number", Assert.Throws<ArgumentException>(() => PairedComparison.Of([new(0, 1, 2), new(1, double.NaN, 2)], true)).Message);

        // Identical scores: no t, no verdict, and nothing thrown
        var same = PairedComparison.Of([new(0, 1, 1), new(1, 2, 2)], true);
        Assert.True(double.IsNaN(same.T));
        Assert.False(same.ShowsABetter(0.05));
        Assert.Equal(2, same.Ties);
    }

    [Fact]
    public void Given_a_pattern_the_shell_expanded_When_compare_runs_Then_the_error_says_to_quote_it()
    {
        // Given: -a a-seed*.json unquoted, which the shell turns into two files
        using var folder = new TempFolder();
        WriteSingle(folder.File("a-seed0.json"), 0, 10);
        WriteSingle(folder.File("a-seed1.json"), 1, 11);

        // When
        var (code, error) = CliRunner.Run("compare", "-a", folder.File("a-seed0.json"), folder.File("a-seed1.json"), "-b", folder.File("b.json"));

        // Then
        Assert.Equal(1, code);
        Assert.Contains($"Unknown command '{folder.File("a-seed1.json")}'", error);
        Assert.Contains("quote the pattern (-a 'evals/a-seed*.json'), give the files as one comma-separated list, or repeat the option for each.", error);
    }

    [Fact]
    public void Given_eval_JSONs_of_two_configurations_When_compare_runs_Then_it_pairs_them_by_seed_and_writes_the_tests()
    {
        // Given: A as single-seed files (seeds 0–3), B as one --seeds file listing the same seeds in another order
        using var folder = new TempFolder();
        for (var k = 0; k < 4; k++)
        {
            WriteSingle(folder.File($"a-seed{k}.json"), k, SevenSeeds[k].A);
        }

        WriteSeeds(folder.File("b.json"), [.. SevenSeeds.Take(4).Reverse().Select(p => (p.Seed, p.B))]);
        var json = folder.File("out/compare.json");

        // When
        var (code, error) = CliRunner.Run("compare", "-a", Path.Combine(folder.Path, "a-seed*.json"), "-b", folder.File("b.json"), "--json", json);

        // Then
        Assert.True(code == 0, error);
        var root = JsonNode.Parse(File.ReadAllText(json))!;
        var expected = PairedComparison.Of([.. SevenSeeds.Take(4)], lowerIsBetter: true);
        Assert.Equal([0L, 1, 2, 3], root["pairs"]!.AsArray().Select(p => p!["seed"]!.GetValue<long>()));
        Assert.Equal(expected.T, root["t"]!.GetValue<double>(), 12);
        Assert.Equal(expected.OneSidedP, root["p_one_sided"]!.GetValue<double>(), 12);
        Assert.Equal(expected.WilcoxonP, root["wilcoxon_p"]!.GetValue<double>(), 12);
        Assert.Equal(3, root["a_better_seeds"]!.GetValue<int>());
        Assert.Equal("DDIM S=10 η=0", root["a"]!["settings"]!.GetValue<string>());
        Assert.Equal(4, root["a"]!["files"]!.AsArray().Count);
        Assert.False(root["a_better"]!.GetValue<bool>());

        // And: --json naming one of the compared files is refused, and the file kept
        var before = File.ReadAllBytes(folder.File("b.json"));
        var (ownCode, ownError) = CliRunner.Run("compare", "-a", Path.Combine(folder.Path, "a-seed*.json"), "-b", folder.File("b.json"), "--json", folder.File("b.json"));
        Assert.Equal(1, ownCode);
        Assert.Contains("is one of the score files compared", ownError);
        Assert.Equal(before, File.ReadAllBytes(folder.File("b.json")));
    }

    [Fact]
    public void Given_files_that_record_their_model_and_judge_hashes_When_compare_runs_Then_it_says_whether_the_models_are_the_same_bytes()
    {
        // Given: A and B scored by one judge; B's first two seeds with A's model file, its last two with another
        using var folder = new TempFolder();
        for (var k = 0; k < 4; k++)
        {
            WriteSingle(folder.File($"a-seed{k}.json"), k, SevenSeeds[k].A, scoredWith: ("aaaa", "jjjj", "mnist-test (10,000)"));
            WriteSingle(folder.File($"rerun-seed{k}.json"), k, SevenSeeds[k].A, scoredWith: ("aaaa", "jjjj", "mnist-test (10,000)"));
            WriteSingle(folder.File($"b-seed{k}.json"), k, SevenSeeds[k].B, eta: 1, scoredWith: (k < 2 ? "aaaa" : "bbbb", "jjjj", "mnist-test (10,000)"));
            WriteSingle(folder.File($"old-seed{k}.json"), k, SevenSeeds[k].B, eta: 1);
            WriteSingle(folder.File($"c-seed{k}.json"), k, SevenSeeds[k].B, eta: 1, scoredWith: ("cccc", "jjjj", "mnist-test (10,000)"));
        }

        var same = folder.File("same.json");
        var mixed = folder.File("mixed.json");

        // When: A against a rerun of itself (the same bytes), against another model, against the mixed B, and against files that record no hashes
        var (code, output) = CliRunner.RunCapturingOutput("compare", "-a", Path.Combine(folder.Path, "a-seed*.json"), "-b", Path.Combine(folder.Path, "rerun-seed*.json"), "--json", same);
        var (otherCode, otherOutput) = CliRunner.RunCapturingOutput("compare", "-a", Path.Combine(folder.Path, "a-seed*.json"), "-b", Path.Combine(folder.Path, "c-seed*.json"));
        var (mixedCode, mixedOutput) = CliRunner.RunCapturingOutput("compare", "-a", Path.Combine(folder.Path, "a-seed*.json"), "-b", Path.Combine(folder.Path, "b-seed*.json"), "--json", mixed);
        var (oldCode, oldOutput) = CliRunner.RunCapturingOutput("compare", "-a", Path.Combine(folder.Path, "a-seed*.json"), "-b", Path.Combine(folder.Path, "old-seed*.json"));

        // Then: the same bytes are named as such; B's two model files are refused (its seeds would pair the wrong scores); unrecorded hashes are said
        Assert.True(code == 0, output);
        Assert.Contains("Models: A and B ran the same model file (SHA-256 aaaa).", output);
        Assert.Equal(0, otherCode);
        Assert.Contains("Models: A ran aaaa and B cccc (SHA-256): two different model files.", otherOutput);
        var root = JsonNode.Parse(File.ReadAllText(same))!;
        Assert.Equal("aaaa", root["a"]!["model_sha256"]!.GetValue<string>());
        Assert.Equal("aaaa", root["b"]!["model_sha256"]!.GetValue<string>());
        Assert.Equal("jjjj", root["judge_sha256"]!.GetValue<string>());
        Assert.Equal(1, mixedCode);
        Assert.Contains("-b's files come from 2 models (SHA-256 aaaa in b-seed0.json and 1 more; SHA-256 bbbb in b-seed2.json and 1 more): each side is one model's scores.", mixedOutput);
        Assert.False(File.Exists(mixed));
        Assert.Contains("whether A and B ran the same bytes is not known", oldOutput);
        Assert.Equal(0, oldCode);
        Assert.Contains("4 of the 8 files record no SHA-256", oldOutput);
    }

    [Fact]
    public void Given_one_side_whose_files_record_two_sampler_configurations_When_compare_runs_Then_it_is_refused_and_a_setting_that_changes_nothing_is_not()
    {
        // Given: X at seeds 0–3, two of them with --spacing leading; A at the same seeds with one spacing; B with the
        // network's ε̂ kept at seed 0 only, which the DDPM sampler ignores (its canonical settings are one)
        using var folder = new TempFolder();
        for (var k = 0; k < 4; k++)
        {
            WriteSingle(folder.File($"x-seed{k}.json"), k, SevenSeeds[k].A, sampler: new SampleSettings(Steps: 10, Spacing: k < 2 ? Spacing.Seed : Spacing.Leading));
            WriteSingle(folder.File($"a-seed{k}.json"), k, SevenSeeds[k].A, sampler: new SampleSettings(Steps: 10));
            WriteSingle(folder.File($"b-seed{k}.json"), k, SevenSeeds[k].B, sampler: new SampleSettings(SamplerKind.Ddpm, RederiveNoise: k != 0));
        }

        // When
        var (code, error) = CliRunner.Run("compare", "-a", Path.Combine(folder.Path, "x-seed*.json"), "-b", Path.Combine(folder.Path, "b-seed*.json"));
        var (sameCode, sameError) = CliRunner.Run("compare", "-a", Path.Combine(folder.Path, "a-seed*.json"), "-b", Path.Combine(folder.Path, "b-seed*.json"));

        // Then
        Assert.Equal(1, code);
        Assert.Contains("-a's files ran 2 sampler configurations (", error);
        Assert.Contains("in x-seed0.json and 1 more", error);
        Assert.Contains("each side is one configuration at several seeds. Give each side the files of one.", error);
        Assert.True(sameCode == 0, sameError);
    }

    [Theory]
    [InlineData("seeds", "seed 3 only in A")]
    [InlineData("seeds2", "seeds 2, 3 only in A")]
    [InlineData("num", "N = 1,000 images per seed and B with N = 10,000")]
    [InlineData("score", "Unknown --score 'sharpness'")]
    [InlineData("alpha", "--alpha must be above 0 and at most 0.5")]
    [InlineData("missing", "no file matches")]
    [InlineData("sweep", "is not an eval score file (it has no num)")]
    [InlineData("typed", "is not an eval score file (")]
    [InlineData("images", "scores a folder of images")]
    [InlineData("empty", "-a names no file")]
    [InlineData("judge", "A and B must be scored by one judge, and these files were not (")]
    [InlineData("reference", "A and B must be scored by one reference set")]
    [InlineData("itself", "b-seed0.json is given to both -a and -b")]
    public void Given_files_that_do_not_pair_up_When_compare_runs_Then_it_refuses_with_what_to_change(string problem, string expected)
    {
        // Given: A at seeds 0–3, B at seeds 0–2 (or another N, or a bad option)
        using var folder = new TempFolder();
        for (var k = 0; k < 4; k++)
        {
            WriteSingle(folder.File($"a-seed{k}.json"), k, 20 + k, num: problem == "num" ? 1000 : 10000, scoredWith: ("m", "j", "mnist-test (10,000)"));
            if (problem switch { "seeds" => k < 3, "seeds2" => k < 2, _ => true })
            {
                // A judge or reference that differs in one file of B is enough to refuse.
                WriteSingle(folder.File($"b-seed{k}.json"), k, 21 + k, eta: 1, scoredWith: ("m", problem == "judge" && k == 2 ? "j2" : "j", problem == "reference" && k == 1 ? "fashion-mnist-test (10,000)" : "mnist-test (10,000)"));
            }
        }

        File.WriteAllText(folder.File("sweep.json"), """{ "command": "ddim eval --sweep", "rows": [] }""");
        File.WriteAllText(folder.File("typed.json"), """{ "num": "many", "seed": 0, "settings": "x", "samples": { "fid": 1 } }""");
        File.WriteAllText(folder.File("images.json"), """{ "images": "samples/", "num": 1000, "seed": 0, "samples": { "fid": 1 } }""");
        string[] args = problem switch
        {
            "score" => ["--score", "sharpness"],
            "alpha" => ["--alpha", "0.9"],
            _ => [],
        };
        var a = problem switch
        {
            "missing" => folder.File("c-seed*.json"),
            "sweep" => folder.File("sweep.json"),
            "typed" => folder.File("typed.json"),
            "images" => folder.File("images.json"),
            "empty" => " , ",
            "itself" => folder.File("b-seed0.json"),
            _ => Path.Combine(folder.Path, "a-seed*.json"),
        };

        // When
        var (code, error) = CliRunner.Run(["compare", "-a", a, "-b", Path.Combine(folder.Path, "b-seed*.json"), .. args]);

        // Then
        Assert.NotEqual(0, code);
        Assert.Contains(expected, error);
    }

    private static void WriteSingle(string path, long seed, double fid, int num = 10000, int eta = 0, (string Model, string Judge, string Reference)? scoredWith = null, SampleSettings? sampler = null) =>
        File.WriteAllText(path, new JsonObject
        {
            ["command"] = "ddim eval",
            ["model"] = "/somewhere/models/mnist.ddim (4,956,001 parameters, T = 1000)",
            ["scored_with"] = scoredWith is { } w ? new JsonObject { ["model_sha256"] = w.Model, ["judge_sha256"] = w.Judge, ["reference"] = w.Reference } : null,
            ["num"] = num,
            ["seed"] = seed,
            ["settings"] = $"DDIM S=10 η={eta}",
            ["sampler_settings"] = sampler is null ? null : EvalCommand.SettingsJson(sampler),
            ["samples"] = new JsonObject { ["fid"] = fid, ["precision"] = 0.8 },
        }.ToJsonString());

    private static void WriteSeeds(string path, IEnumerable<(long Seed, double Fid)> runs) =>
        File.WriteAllText(path, new JsonObject
        {
            ["command"] = "ddim eval --seeds",
            ["model"] = "/elsewhere/models/mnist.ddim (4,956,001 parameters, T = 1000)",
            ["num"] = 10000,
            ["settings"] = "DDIM S=10 η=1",
            ["runs"] = new JsonArray([.. runs.Select(r => (JsonNode?)new JsonObject { ["seed"] = r.Seed, ["samples"] = new JsonObject { ["fid"] = r.Fid } })]),
        }.ToJsonString());
}
