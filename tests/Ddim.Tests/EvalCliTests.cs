using Ddim.Cli;
using Ddim.Cli.Commands;
using Ddim.Evaluation;
using Ddim.Imaging;
using Ddim.Sampling;
using TorchSharp;

namespace Ddim.Tests;

/// <summary>ddim eval and train-classifier on bad input: one clear line, exit code 1, before any data is loaded.</summary>
public sealed class EvalCliTests : OneTorchThread
{
    private static (int Code, string Error) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void Given_a_score_file_with_NaN_and_infinity_When_written_Then_they_become_null_and_the_rest_is_kept()
    {
        // Given: a diverged cell's FID (NaN) and a ratio over it, nested in objects and arrays
        using var folder = new TempFolder();
        var json = new System.Text.Json.Nodes.JsonObject
        {
            ["fid"] = double.NaN,
            ["ratio"] = double.PositiveInfinity,
            ["ok"] = 1.5,
            ["cells"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["fid"] = double.NegativeInfinity, ["label"] = "x" }, 2.0, double.NaN),
        };

        // When
        Provenance.WriteJson(folder.File("s.json"), json);

        // Then
        var back = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(folder.File("s.json")))!;
        Assert.Null(back["fid"]);
        Assert.Null(back["ratio"]);
        Assert.Equal(1.5, back["ok"]!.GetValue<double>());
        Assert.Null(back["cells"]![0]!["fid"]);
        Assert.Equal("x", back["cells"]![0]!["label"]!.GetValue<string>());
        Assert.Equal(2.0, back["cells"]![1]!.GetValue<double>());
        Assert.Null(back["cells"]![2]);
    }

    [Theory]
    [InlineData("--num 1", "Count (--num) must be at least 2")]
    [InlineData("--sampler foo", "Unknown --sampler 'foo'")]
    [InlineData("--ddpm-variance big", "Unknown --ddpm-variance 'big'")]
    [InlineData("--steps 101", "Steps (--steps) must be between 1 and T = 100")]
    [InlineData("--batch-size 0", "The batch size (--batch-size) must be between 1 and 1,048,576; got 0")]
    [InlineData("--eta 1 --eta-below 101", "EtaBelow (--eta-below) must be between 1 and T = 100")]
    [InlineData("--eta-below 50", "EtaBelow (--eta-below) limits η to the low-noise steps, so it needs η > 0")]
    [InlineData("--steps 10 --eta 1 --eta-below 19", "EtaBelow (--eta-below) 19 leaves no step with noise: the steps that start below t = 19 go to x̂0 or repeat their timestep, and neither adds noise. Take --eta-below above 19 (the smallest timestep whose step adds noise)")] // timesteps 99, 89, …, 19, 9
    [InlineData("--steps 1 --eta 1 --eta-below 50", "EtaBelow (--eta-below) leaves no step with noise at S = 1")]
    [InlineData("--sampler ddpm --eta 1 --eta-below 50", "--sampler ddpm runs all T steps with fresh noise at each, so --eta, --eta-below do not apply")]
    [InlineData("--sweep --eta 1 --eta-below 50", "(plus σ̂ and DDPM, whose variance is beta), so --eta, --eta-below do not apply")]
    [InlineData("--sweep --eps-scale 1.005", "(plus σ̂ and DDPM, whose variance is beta), so --eps-scale does not apply")]
    [InlineData("--sweep --spacing leading --sweep-steps 1,10", "At S = 1 the leading rule's only timestep is t = 0")] // refused before the floor and the first cell
    [InlineData("--spacing uniform --steps 30", "is 34 steps, not 30. Take S = 25 (--steps)")] // T = 100: range(0, 100, 3)
    [InlineData("--sweep --spacing uniform --sweep-steps 10,30", "is 34 steps, not 30. Take S = 25 (--sweep-steps)")]
    [InlineData("--seed -3", "--seed takes 0 or more; got -3.")]
    [InlineData("--sweep --steps 10 --eta 0.5", "--sweep runs S from --sweep-steps and η from --sweep-etas (plus σ̂ and DDPM, whose variance is beta), so --steps, --eta do not apply")]
    [InlineData("--sweep --large-variance", "so --large-variance does not apply")]
    [InlineData("--sweep-etas 0.5 --no-ddpm", "--sweep-steps, --sweep-etas, --no-large-variance and --no-ddpm shape a --sweep, and this run is none, so --sweep-etas, --no-ddpm do not apply")]
    [InlineData("--results-dir somewhere", "One configuration at one seed saves nothing under a results folder (--json FILE writes its scores), so --results-dir does not apply")]
    [InlineData("--ddpm-variance posterior", "--ddpm-variance sets the variance of --sampler ddpm (DDIM's noise is set by --eta or --large-variance): give it with --sampler ddpm, or leave it out.")]
    [InlineData("--sweep --sampler ddpm --ddpm-variance posterior", "(plus σ̂ and DDPM, whose variance is beta), so --sampler, --ddpm-variance do not apply: leave them out.")]
    [InlineData("--sweep --ddpm-variance posterior", "so --ddpm-variance does not apply")] // not "give it with --sampler ddpm", which the sweep refuses too
    [InlineData("--sweep --large-variance --eta 0.5", "so --eta, --large-variance do not apply")] // both at once, not one after the other
    [InlineData("--threads 0", "--threads must be between 1 and")]
    [InlineData("--keep-noise --rederive-noise", "--keep-noise and --rederive-noise contradict each other")]
    [InlineData("--no-clip --keep-noise", "--keep-noise chooses the ε̂ used after x̂0 is clamped, and --no-clip leaves x̂0 unclamped")]
    [InlineData("--no-clip --rederive-noise", "--rederive-noise chooses the ε̂ used after x̂0 is clamped")]
    [InlineData("--sweep --sweep-steps 10,x", "--sweep-steps: 'x' is not an integer")]
    [InlineData("--sweep --sweep-steps 10,500", "Every S in Steps (--sweep-steps) must be between 1 and T = 100")]
    [InlineData("--sweep --sweep-etas 0,1.5", "Every η in Etas (--sweep-etas) must be in [0, 1]")]
    [InlineData("--sweep --sweep-steps 10,10", "must not repeat")]
    [InlineData("--resume", "--resume continues a stopped --sweep")]
    [InlineData("--sweep --cells-from cuda", "--cells-from reports the saved cells of a sweep: use it with --sweep --resume")]
    [InlineData("--sweep --resume --cells-from gpu", "Unknown --cells-from 'gpu'; use cpu or cuda")]
    [InlineData("--cells-from gpu", "Unknown --cells-from 'gpu'; use cpu or cuda")]
    [InlineData("--seeds 3", "The seed list (--seeds) needs at least two seeds")]
    [InlineData("--floor-draws 1", "FloorDraws (--floor-draws) must be 0 (only the seed's own floor) or at least 2")]
    [InlineData("--seeds 0,x", "--seeds: 'x' is not an integer")]
    [InlineData("--seeds 0,1,0", "The seed list (--seeds) must not repeat a seed")]
    [InlineData("--seeds 0,1 --seed 2", "Give either --seed (one seed) or --seeds (several)")]
    [InlineData("--seeds 0,1 --seed 0", "Give either --seed (one seed) or --seeds (several)")] // refused at the default too
    [InlineData("--ddpm-variance beta", "--ddpm-variance sets the variance of --sampler ddpm")]
    [InlineData("--sweep --sampler ddim", "(plus σ̂ and DDPM, whose variance is beta), so --sampler does not apply")]
    [InlineData("--seeds 0,1 --sweep", "--seeds evaluates one sampler configuration at several seeds; it does not combine with --sweep")]
    [InlineData("--seeds 0,1 --name a/b", "--name 'a/b' is not a valid file name")]
    [InlineData("--seeds 0,1 --resume --name a/b", "--name 'a/b' is not a valid file name")] // --resume goes with --seeds
    [InlineData("--precision fp16", "--precision must be fp32 or bf16 (got 'fp16').")]
    [InlineData("--seeds 0,1 --results-dir MODEL", "is a file, not a folder.")] // MODEL: the model file's path; refused before any scoring
    [InlineData("--sweep --resume --cells-from cpu --precision bf16 --results-dir DIR/nowhere --num 10 --sweep-steps 2", "nowhere/table1-mnist-bf16.cells, and this run only reports saved cells")] // a bf16 sweep's own folder (DIR: the test's folder)
    public void Given_bad_eval_options_When_run_Then_one_clear_error_and_exit_code_1(string options, string expected)
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var judge = folder.File("judge.ddim");
        using (var j = new Judge(new JudgeConfig(Channels1: 2, Channels2: 2, Features: 4)))
        {
            j.Save(judge);
        }

        var (code, error) = Run(["eval", "--model", model, "--judge", judge, .. options.Split(' ').Select(o => o == "MODEL" ? model : o.StartsWith("DIR/", StringComparison.Ordinal) ? folder.File(o[4..]) : o)]);

        Assert.Equal(1, code);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error);
    }

    [Theory]
    [InlineData(2048, 259.4, 1984, "  DDIM S=10 η=0: 2,048/10,000 images (7.6 images/s, about 17 min left)")]
    [InlineData(9000, 30, 9000, "  DDIM S=10 η=0: 9,000/10,000 images (300.0 images/s, about 3 s left)")]
    [InlineData(1000, 100, 1000, "  DDIM S=10 η=0: 1,000/10,000 images (10.0 images/s, about 15 min left)")]
    [InlineData(100, 100, 100, "  DDIM S=10 η=0: 100/10,000 images (1.0 images/s, about 2.8 h left)")]
    [InlineData(10000, 1266, 9936, "  DDIM S=10 η=0: 10,000/10,000 images (7.8 images/s)")]
    [InlineData(64, 0, 0, "  DDIM S=10 η=0: 64/10,000 images")] // the baseline: nothing timed yet
    public void Given_a_redirected_eval_When_progress_is_printed_Then_each_line_gives_the_rate_and_the_time_left(int done, double seconds, int counted, string expected)
    {
        // Given / When
        var line = EvalCommand.ProgressLine("DDIM S=10 η=0", done, 10000, TimeSpan.FromSeconds(seconds), counted);

        // Then
        Assert.Equal(expected, line);
    }

    [Fact]
    public void Given_two_configurations_after_a_slow_start_When_progress_is_counted_Then_each_rate_runs_from_its_own_first_batch()
    {
        // Given: 100 images a configuration in batches of 20, 1 s a batch; 150 s of floor scoring before the first batch
        var now = TimeSpan.FromSeconds(150);
        var reports = new List<(int Done, TimeSpan Elapsed, int Counted)>();
        var advance = EvalCommand.ProgressLines(100, () => now, reports.Add);

        // When
        foreach (var _ in new[] { 1, 2 })
        {
            for (var done = 20; done <= 100; done += 20)
            {
                now += TimeSpan.FromSeconds(1);
                advance(done);
            }
        }

        // Then: each configuration's first line is its baseline (nothing timed), the others 20 images a second
        Assert.Equal(10, reports.Count);
        Assert.All(new[] { reports[0], reports[5] }, r => Assert.Equal((20, TimeSpan.Zero, 0), r));
        Assert.All(reports.Where((_, i) => i % 5 != 0), r => Assert.Equal(20.0, r.Counted / r.Elapsed.TotalSeconds, 9));
    }

    [Theory]
    [InlineData(0, 0, true, "--resume: none of this run's 5 cells is saved under D (it holds no cells), so every one is sampled anew.")]
    [InlineData(0, 1, true, "--resume: none of this run's 5 cells is saved under D (it holds 1 cell file of other settings), so every one is sampled anew.")]
    [InlineData(1, 8, false, "--resume: 1 of this run's 5 cells are saved; the other 4 are sampled now.")] // a folder shared with other configurations
    [InlineData(5, 3, false, null)] // everything found
    public void Given_a_resume_When_its_saved_cells_are_counted_Then_only_finding_none_is_a_warning(int matched, int others, bool warning, string? expected)
    {
        // Given / When
        var (text, isWarning) = EvalCommand.ResumeNotice("D", "cells", matched, 5, others);

        // Then
        Assert.Equal(warning, isWarning);
        if (expected is null)
        {
            Assert.Null(text);
        }
        else
        {
            Assert.StartsWith(expected, text);
        }

        Assert.Equal(warning, text?.Contains("--keep-noise", StringComparison.Ordinal) ?? false);
    }

    [Fact]
    public void Given_a_diffusion_model_passed_as_the_judge_When_eval_runs_Then_it_says_to_pass_a_judge()
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        var (code, error) = Run("eval", "--model", model, "--judge", model);

        Assert.Equal(1, code);
        Assert.Contains("is not a judge", error);
    }

    [Theory]
    [InlineData("--sweep")]
    [InlineData("--model")]
    [InlineData("--num 10")]
    [InlineData("--steps 20")]
    [InlineData("--eta 1")]
    [InlineData("--eps-scale 0.97")]
    [InlineData("--steps 50")] // the defaults too: with --images no sampler option applies
    [InlineData("--spacing seed")]
    [InlineData("--no-clip")]
    [InlineData("--sampler ddpm --ddpm-variance posterior")]
    [InlineData("--ddpm-variance beta")] // --images speaks first: no advice about DDPM that --images would then refuse
    [InlineData("--sampler ddpm --steps 50")]
    [InlineData("--large-variance --eta 0")]
    [InlineData("--precision bf16")]
    [InlineData("--device cpu")] // the judge runs on the CPU whatever --device says
    [InlineData("--batch-size 64")]
    public void Given_images_to_score_with_options_for_generating_When_eval_runs_Then_it_says_they_do_not_combine(string option)
    {
        using var folder = new TempFolder();
        var extra = option == "--model" ? new[] { option, TinyModel.Write(folder.File("m.ddim")) } : option.Split(' ');

        var (code, error) = Run(["eval", "--images", folder.Path, .. extra]);

        Assert.Equal(1, code);
        Assert.Contains("--images scores a folder of existing images", error);
    }

    [Fact]
    public void Given_images_to_score_with_several_options_for_generating_When_eval_runs_Then_one_error_names_them_all()
    {
        // Given
        using var folder = new TempFolder();

        // When
        var (code, error) = Run("eval", "--images", folder.Path, "--num", "5", "--sampler", "ddpm", "--steps", "50", "--ddpm-variance", "posterior", "--no-clip");

        // Then
        Assert.Equal(1, code);
        Assert.Contains("so --num, --sampler, --steps, --no-clip, --ddpm-variance do not apply: leave them out.", error.Replace("\n", " ", StringComparison.Ordinal));
    }

    [Fact]
    public void Given_sampler_settings_When_written_to_a_score_file_Then_every_choice_is_named_whatever_the_defaults()
    {
        // When
        var rederived = EvalCommand.SettingsJson(new SampleSettings(Steps: 10))!;
        var kept = EvalCommand.SettingsJson(new SampleSettings(Steps: 10, RederiveNoise: false))!;
        var ddpm = EvalCommand.SettingsJson(new SampleSettings(SamplerKind.Ddpm))!;
        var scaled = EvalCommand.SettingsJson(new SampleSettings(Steps: 10, EpsScale: 0.97))!;

        // Then: the flags are spelt out (the label "DDIM S=10 η=0" meant the kept ε̂ before re-deriving became the default)
        Assert.Equal("Ddim", (string?)rederived["Sampler"]);
        Assert.Equal(10, (int)rederived["Steps"]!);
        Assert.True((bool)rederived["Clip"]!);
        Assert.True((bool)rederived["RederiveNoise"]!);
        Assert.False((bool)kept["RederiveNoise"]!);
        Assert.False((bool)ddpm["RederiveNoise"]!); // no effect on DDPM: the canonical form
        Assert.Null(rederived["IsStochastic"]);

        // --eps-scale is written only when given, so score files made without it keep their form
        Assert.False(rederived.AsObject().ContainsKey("EpsScale"));
        Assert.Equal(0.97, (double)scaled["EpsScale"]!);
    }

    [Theory]
    [InlineData("""{"training":{"data":"mnist","config":{"Data":"./mnist"}}}""", "mnist")] // a folder of PNGs named mnist
    [InlineData("""{"data":"fashion-mnist-train"}""", "fashion-mnist-train")] // a checkpoint records its data at the top
    [InlineData("""{"train":{"Data":"fashion-mnist"}}""", "fashion-mnist-train")] // an older checkpoint: only its configuration says
    [InlineData("""{"training":{"data":"mnist-train"}}""", null)]
    [InlineData("""{"training":{"data":"mnist","config":{"Data":"mnist"}}}""", null)] // exported from an older MNIST checkpoint
    public void Given_what_a_model_says_it_was_trained_on_When_eval_runs_Then_it_warns_unless_that_is_MNIST(string metadata, string? warned)
    {
        // Given
        using var folder = new TempFolder();
        var path = TinyModel.Write(folder.File("m.ddim"));
        var file = Ddim.Models.ModelFile.Load(path);
        foreach (var (key, value) in System.Text.Json.Nodes.JsonNode.Parse(metadata)!.AsObject().ToList())
        {
            file.Metadata[key] = value!.DeepClone();
        }

        file.Save(path);

        // When: the run stops later, at the data (the tests have none)
        var (_, output) = CliRunner.RunCapturingOutput("eval", "--model", path, "--num", "10");

        // Then
        var text = output.Replace("\n", " ", StringComparison.Ordinal);
        if (warned is null)
        {
            Assert.DoesNotContain("warning: the model was trained on", text);
        }
        else
        {
            Assert.Contains($"warning: the model was trained on '{warned}', but the judge and the reference are MNIST", text);
        }
    }

    [Theory]
    [InlineData(8, 3, "The judge takes 1×28×28 images but")]
    [InlineData(28, 1, "--images needs 2 … 60,000 images")]
    public void Given_a_folder_the_judge_cannot_score_When_eval_runs_Then_a_clear_error_before_any_data_is_loaded(int size, int count, string expected)
    {
        using var folder = new TempFolder();
        var images = folder.Folder("images");
        for (var i = 0; i < count; i++)
        {
            using var image = torch.zeros([1, size, size]);
            File.WriteAllBytes(Path.Combine(images, $"{i}.png"), ImageGrid.ToPng(image));
        }

        var judge = folder.File("judge.ddim");
        using (var j = new Judge(new JudgeConfig(Channels1: 2, Channels2: 2, Features: 4)))
        {
            j.Save(judge);
        }

        var (code, error) = Run("eval", "--images", images, "--judge", judge, "--data-dir", folder.File("no-data-here"));

        Assert.Equal(1, code);
        Assert.Contains(expected, error);
        Assert.False(Directory.Exists(folder.File("no-data-here")), "the data were looked for (fetching makes the data folder)");
    }

    [Theory]
    [InlineData("--epochs 0", "Epochs (--epochs) must be at least 1")]
    [InlineData("--batch-size 0", "The batch size (--batch-size) must be between 1 and 1,048,576; got 0")]
    public void Given_bad_train_classifier_options_When_run_Then_one_clear_error(string options, string expected)
    {
        using var folder = new TempFolder();

        var (code, error) = Run(["train-classifier", "--out", folder.File("j.ddim"), .. options.Split(' ')]);

        Assert.Equal(1, code);
        Assert.Contains(expected, error);
    }
}
