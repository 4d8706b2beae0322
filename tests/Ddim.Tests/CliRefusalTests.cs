using System.Text.Json.Nodes;
using Ddim.Cli.Commands;
using Ddim.Evaluation;
using Ddim.Imaging;
using Ddim.Sampling;
using Ddim.Training;
using TorchSharp;

namespace Ddim.Tests;

/// <summary>
/// Options a command would not use, outputs that would clobber or mix with other files, and files of the wrong kind:
/// each is refused with one line that says what to change, before any work, and nothing is written.
/// </summary>
public sealed class CliRefusalTests : OneTorchThread
{
    private static (int Code, string Error) Run(params string[] args) => CliRunner.Run(args);

    private static string OneLine(string error) => error.Replace("\n", " ", StringComparison.Ordinal);

    private static string Presets => Path.Combine(AppContext.BaseDirectory, "presets");

    [Theory]
    [InlineData("sample --sampler ddpm --steps 10", "--sampler ddpm runs all T steps with fresh noise at each, so --steps does not apply: leave it out.")]
    [InlineData("sample --sampler ddpm --eta 0.5 --keep-noise", "so --eta, --keep-noise do not apply: leave them out.")]
    [InlineData("sample --sampler ddpm --spacing leading", "so --spacing does not apply")]
    [InlineData("sample --trajectory-images 3", "give --trajectory too")]
    [InlineData("sample --trajectory-images 8", "give --trajectory too")]
    [InlineData("sample --large-variance --eta 0.5", "--large-variance draws the noise with the paper's σ̂, so --eta does not apply")]
    [InlineData("sample --sampler ddpm --steps 50", "so --steps does not apply")]
    [InlineData("sample --sampler ddpm --rederive-noise", "so --rederive-noise does not apply")]
    [InlineData("sample --sampler ddpm --eps-scale 1.005", "so --eps-scale does not apply")]
    [InlineData("sample --sampler ddpm --eta 0", "so --eta does not apply")] // an option that does not apply is refused at its default value too
    [InlineData("sample --sampler ddpm --spacing seed --steps 50", "so --steps, --spacing do not apply")]
    [InlineData("sample --ddpm-variance posterior", "--ddpm-variance sets the variance of --sampler ddpm (DDIM's noise is set by --eta or --large-variance): give it with --sampler ddpm, or leave it out.")]
    [InlineData("sample --sampler ddpm --ddpm-variance small", "Unknown --ddpm-variance 'small'; use beta or posterior.")]
    [InlineData("sample --large-variance --eta 0", "--large-variance draws the noise with the paper's σ̂, so --eta does not apply")]
    [InlineData("sample --seed -1", "--seed takes 0 or more; got -1.")]
    [InlineData("interpolate --seeds 3,-1", "--seeds takes 0 or more; got -1.")]
    [InlineData("interpolate --seeds 4,4", "--seeds must not repeat a seed (the same seed gives the same x_T); got 4,4.")]
    [InlineData("sample --precision fp16", "--precision must be fp32 or bf16 (got 'fp16').")]
    [InlineData("interpolate --precision half", "--precision must be fp32 or bf16 (got 'half').")]
    [InlineData("invert --steps 10 --steps-list 20", "Give --steps (one S) or --steps-list (several), not both.")]
    [InlineData("sample --num 4 --trajectory DIR/t.gif --trajectory-images 5", "--trajectory-images 5: the trajectory shows images of the first batch, at most min(--num, --batch-size rounded up to whole groups of 32) = 4.")]
    [InlineData("sample --trajectory DIR/t.gif --trajectory-images 0", "--trajectory-images must be at least 1; got 0.")]
    [InlineData("sample --threads 100000", "--threads must be between 1 and")]
    [InlineData("sample --num 2 --padding 100000", "Use a smaller --padding")]
    [InlineData("reconstruct --steps 10", "Unknown option 'steps'. 'ddim reconstruct --help' lists the options it takes.")]
    [InlineData("reconstruct --steps-list 10,10", "--steps-list names a step count twice (10,10); give each once.")]
    [InlineData("reconstruct --steps-list ,", "--steps-list is empty: give a comma-separated list, e.g. --steps-list 10,20,50.")]
    [InlineData("reconstruct --steps-list 10,0", "--steps-list: each S must be between 1 and T = 100 for this model; got 0.")]
    [InlineData("invert --steps 0", "--steps must be between 1 and T = 100 for this model; got 0.")]
    [InlineData("invert --spacing quad --steps 1", "At S = 1 the quad rule's only timestep is t = 0")]
    [InlineData("reconstruct --spacing uniform --steps-list 10,30", "is 34 steps, not 30. Take S = 25 (--steps-list)")]
    [InlineData("invert --spacing uniform --steps 30", "is 34 steps, not 30. Take S = 25 (--steps)")]
    [InlineData("invert --images some-folder --data-dir elsewhere", "--images names the folder of PNGs to invert, and --data-dir says where MNIST lives, so --data-dir does not apply: leave it out.")]
    [InlineData("reconstruct --num 2", "The default --steps-list (10,20,50,100,200) has S = 200, beyond T = 100 of this model: give --steps-list with S from 1 to 100.")]
    [InlineData("sample --num 2 --padding 2147483640", "Use a smaller --padding")] // no int overflow to a small grid
    [InlineData("sample --num 300 --batch-size 320 --steps 2 --trajectory DIR/t.png --trajectory-images 300", "A trajectory of 300 images would be 92×18002 pixels, over the 16384-pixel limit: lower --trajectory-images.")]
    [InlineData("sample --batch-size 2147483647", "The batch size (--batch-size) must be between 1 and 1,048,576; got 2,147,483,647.")]
    public void Given_an_option_the_command_would_ignore_When_it_runs_Then_it_is_refused_and_nothing_is_written(string command, string expected)
    {
        // Given: DIR/ names a path in this test's own folder, so a refusal that fails writes nothing into the working directory
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var output = folder.File("out.png");

        // When
        var (code, error) = Run([.. command.Split(' ').Select(o => o.StartsWith("DIR/", StringComparison.Ordinal) ? folder.File(o[4..]) : o), "--model", model, "--out", output]);

        // Then
        Assert.Equal(1, code);
        Assert.Contains(expected, OneLine(error));
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData("interpolate --eta 0.5", "eta", "interpolate")] // it decodes with deterministic DDIM: η is 0
    [InlineData("interpolate --seed 3", "seed", "interpolate")] // its x_T come from --seeds
    [InlineData("interpolate --sampler ddpm --large-variance", "sampler", "interpolate")]
    [InlineData("interpolate --eps-scale 1.005", "eps-scale", "interpolate")]
    [InlineData("invert --keep-noise", "keep-noise", "invert")] // inversion is unclipped: no ε̂ choice
    [InlineData("invert --eta 1 --eta-below 500", "eta", "invert")]
    [InlineData("reconstruct --no-clip", "no-clip", "reconstruct")]
    [InlineData("reconstruct --seed 0", "seed", "reconstruct")]
    public void Given_a_sampler_option_that_a_decoding_command_does_not_take_When_it_runs_Then_the_error_names_it_and_points_to_the_help(string command, string option, string name)
    {
        // Given: interpolate, invert and reconstruct take only the options they use, so their --help lists just those
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var output = folder.File("out.png");

        // When
        var (code, error) = Run([.. command.Split(' '), "--model", model, "--out", output]);

        // Then
        Assert.Equal(1, code);
        Assert.Equal($"error: Unknown option '{option}'. 'ddim {name} --help' lists the options it takes.", error.Trim());
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData("--num abc", "error: --num: 'abc' is not a whole number in range.")]
    [InlineData("-n 1.5", "error: -n: '1.5' is not a whole number in range.")]
    [InlineData("--seed 99999999999999999999", "error: --seed: '99999999999999999999' is not a whole number in range.")]
    [InlineData("--eta 0,5", "error: --eta: '0,5' is not a number (use a dot for decimals, e.g. 0.5).")]
    [InlineData("--num=abc", "error: --num: 'abc' is not a whole number in range.")]
    [InlineData("--steps x --num x", "error: --steps: 'x' is not a whole number in range.")]
    public void Given_a_value_that_is_not_a_number_When_parsed_Then_the_error_names_the_option(string option, string expected)
    {
        var (code, error) = Run(["sample", .. option.Split(' ')]);

        Assert.Equal(1, code);
        Assert.Equal(expected, error.Trim());
    }

    [Fact]
    public void Given_a_timestep_named_twice_When_loss_runs_Then_it_is_refused()
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        var (code, error) = Run("loss", "--model", model, "--timesteps", "5,5");

        Assert.Equal(1, code);
        Assert.Contains("--timesteps names a timestep twice (5,5); give each once.", error);
    }

    [Fact]
    public void Given_DDPM_without_clipping_When_sampled_Then_it_runs_and_differs_from_clipped_DDPM()
    {
        // Given: a random tiny model (T = 100), whose x̂0 lies far outside [−1, 1], so clipping changes DDPM's path
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        // When
        var (code, error) = Run("sample", "--model", model, "--sampler", "ddpm", "--no-clip", "--num", "1", "--out", folder.File("raw.png"));
        var (clipped, _) = Run("sample", "--model", model, "--sampler", "ddpm", "--num", "1", "--out", folder.File("clipped.png"));

        // Then
        Assert.True(code == 0, error);
        Assert.Equal(0, clipped);
        Assert.NotEqual(File.ReadAllBytes(folder.File("clipped.png")), File.ReadAllBytes(folder.File("raw.png")));
    }

    [Theory]
    [InlineData("reconstruct", "Without --images, reconstruct inverts MNIST test digits (1×28×28), and this model makes 3×32×32 images: give --images DIR")]
    [InlineData("invert", "Without --images, invert inverts MNIST test digits (1×28×28), and this model makes 3×32×32 images: give --images DIR")]
    [InlineData("loss", "--data mnist is 1×28×28 images, and the model makes 3×32×32: give --data DIR")]
    public void Given_a_colour_model_and_no_images_of_its_own_When_a_command_would_use_MNIST_Then_it_asks_for_them_before_fetching_any(string command, string expected)
    {
        // Given: a 3×32×32 model
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("rgb.ddim"), timeSteps: 1000, config: TinyModel.Config with { ImageChannels = 3, ImageSize = 32, AttentionResolutions = [16] });

        // When
        var (code, error) = Run(command, "--model", model, "--data-dir", folder.File("data"));

        // Then: said, and no data folder made (nothing was fetched)
        Assert.Equal(1, code);
        Assert.Contains(expected, OneLine(error));
        Assert.False(Directory.Exists(folder.File("data")));
    }

    [Theory]
    [InlineData("0", "got 0.")]
    [InlineData("2000000", "got 2,000,000.")] // not "--batch-size", which bench does not have
    public void Given_a_bench_num_out_of_range_When_run_Then_it_names_num_and_its_range(string num, string got)
    {
        var (code, error) = Run("bench", "--num", num);

        Assert.Equal(1, code);
        Assert.Contains($"--num must be between 1 and 1,048,576 (bench samples them as one batch); {got}", OneLine(error));
    }

    [Theory]
    [InlineData(new[] { 5.0 }, 5.0)]
    [InlineData(new[] { 4.0, 6.0 }, 5.0)] // the mean of the middle two, not the slower run
    [InlineData(new[] { 1.0, 4.0, 9.0 }, 4.0)]
    public void Given_sorted_runs_When_a_bench_row_takes_their_median_Then_odd_counts_take_the_middle_and_even_ones_the_mean_of_two(double[] seconds, double median)
    {
        Assert.Equal(median, new BenchCommand.Row("DDIM S=10", 10, seconds).Median);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("101")]
    public void Given_a_bench_repeat_out_of_range_When_run_Then_it_is_refused_with_the_range(string repeat)
    {
        var (code, error) = Run("bench", "--repeat", repeat);

        Assert.Equal(1, code);
        Assert.Contains($"--repeat must be between 1 and 100; got {repeat}.", OneLine(error));
    }

    [Theory]
    [InlineData("loss --json", "loss.json")]
    [InlineData("bench --results", "bench.md")]
    [InlineData("eval --json", "scores.json")]
    public void Given_a_folder_where_a_file_goes_When_run_Then_the_advice_names_a_file_of_the_right_kind(string command, string example)
    {
        // Given
        using var folder = new TempFolder();
        var target = folder.Folder("out" + Path.GetExtension(example));

        // When
        var (code, error) = Run([.. command.Split(' '), target]);

        // Then
        Assert.Equal(1, code);
        Assert.Contains($"Cannot write {target}: it is a folder. Give a file name such as {Path.Combine(target, example)}.", OneLine(error));
    }

    [Theory]
    [InlineData("info models/mnist.ddim --json", "--json needs a value (--json FILE), but nothing follows it.")]
    [InlineData("train --out --resume", "--out needs a value (--out DIR), but the next word is the option --resume.")]
    [InlineData("sample --num --steps 10", "--num needs a value (--num N), but the next word is the option --steps.")]
    [InlineData("compare -b x.json -a", "-a needs a value (-a FILES), but nothing follows it.")]
    [InlineData("sample --out", "--out needs a value (--out FILE.PNG), but nothing follows it.")]
    [InlineData("data fetch mnist --data-dir", "--data-dir needs a value (--data-dir DIR), but nothing follows it.")]
    public void Given_an_option_without_its_value_When_run_Then_refused_by_name_before_the_parser_fills_in_a_placeholder(string command, string expected)
    {
        var (code, error) = Run(command.Split(' '));

        Assert.Equal(1, code);
        Assert.Contains(expected, OneLine(error));
        Assert.DoesNotContain("__default_command", error);
    }

    [Fact]
    public void Given_the_registered_commands_When_their_options_are_collected_Then_each_has_its_own_and_a_value_after_dashdash_is_left_alone()
    {
        // The missing-value check finds each command's settings by its type's name: every command of the help must be there.
        var commands = Ddim.Cli.MissingValues.Collect();
        var (_, help) = CliRunner.RunCapturingOutput("--help");
        var listed = System.Text.RegularExpressions.Regex.Matches(help[help.IndexOf("COMMANDS:", StringComparison.Ordinal)..], @"^\s{4}([a-z][a-z-]*)\s", System.Text.RegularExpressions.RegexOptions.Multiline).Select(m => m.Groups[1].Value).Where(n => n != "data").ToList();

        Assert.NotEmpty(listed);
        Assert.All(listed, name => Assert.True(commands.ContainsKey(name), $"{name} has no settings in MissingValues"));
        Assert.True(commands.ContainsKey("data-fetch"));
        Assert.Equal("FILE.PNG", commands["sample"].Valued["--out"]); // Spectre keeps value names in capitals
        Assert.Equal("DIR", commands["train"].Valued["--out"]);
        Assert.Null(Ddim.Cli.MissingValues.Find(["sample", "--", "--out"]));
    }

    [Theory]
    [InlineData("loss --seed -2")]
    [InlineData("train-classifier --seed -2 --out DIR/judge.ddim")]
    public void Given_a_negative_seed_to_a_command_without_a_sampler_When_run_Then_the_same_rule_as_sample_and_eval(string command)
    {
        using var folder = new TempFolder();

        var (code, error) = Run([.. command.Split(' ').Select(o => o.Replace("DIR/", folder.Path + "/", StringComparison.Ordinal))]);

        Assert.Equal(1, code);
        Assert.Contains("--seed takes 0 or more; got -2.", OneLine(error));
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    [Theory]
    [InlineData("info MODEL --json MODEL", "--json MODEL: the file name must end with .json")]
    [InlineData("bench --model MODEL --skip-ddpm --results DIR/bench.json", "--results DIR/bench.json: the file name must end with .md")]
    public void Given_a_report_option_naming_a_file_of_another_kind_When_run_Then_refused_so_no_model_or_input_is_replaced(string command, string expected)
    {
        // Given: a model file (MODEL), the option read the wrong way round
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var before = File.ReadAllBytes(model);
        string Fill(string text) => text.Replace("MODEL", model, StringComparison.Ordinal).Replace("DIR/", folder.Path + "/", StringComparison.Ordinal);

        // When
        var (code, error) = Run(Fill(command).Split(' '));

        // Then
        Assert.Equal(1, code);
        Assert.Contains(Fill(expected), OneLine(error));
        Assert.Equal(before, File.ReadAllBytes(model));
    }

    [Fact]
    public void Given_DDPM_with_the_posterior_variance_When_sampled_Then_it_runs_differs_from_beta_and_repeats_its_bytes()
    {
        // Given: a random tiny model (T = 100)
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        // When: β̃_t twice, and β_t named at its default
        var (code, error) = Run("sample", "--model", model, "--sampler", "ddpm", "--ddpm-variance", "posterior", "--num", "2", "--out", folder.File("posterior.png"));
        var (again, _) = Run("sample", "--model", model, "--sampler", "ddpm", "--ddpm-variance", "posterior", "--num", "2", "--out", folder.File("again.png"));
        var (beta, _) = Run("sample", "--model", model, "--sampler", "ddpm", "--ddpm-variance", "beta", "--num", "2", "--out", folder.File("beta.png"));
        var (byDefault, _) = Run("sample", "--model", model, "--sampler", "ddpm", "--num", "2", "--out", folder.File("default.png"));

        // Then
        Assert.True(code == 0, error);
        Assert.Equal((0, 0, 0), (again, beta, byDefault));
        Assert.Equal(File.ReadAllBytes(folder.File("posterior.png")), File.ReadAllBytes(folder.File("again.png")));
        Assert.Equal(File.ReadAllBytes(folder.File("default.png")), File.ReadAllBytes(folder.File("beta.png")));
        Assert.NotEqual(File.ReadAllBytes(folder.File("beta.png")), File.ReadAllBytes(folder.File("posterior.png")));
    }

    [Fact]
    public void Given_grid_options_but_no_grid_When_sample_writes_only_a_folder_Then_it_refuses_and_creates_no_folder()
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        var (code, error) = Run("sample", "--model", model, "--out-dir", folder.File("each"), "--columns", "4");

        Assert.Equal(1, code);
        Assert.Contains("--columns and --padding shape the grid PNG, and --out-dir alone writes none", OneLine(error));
        Assert.False(Directory.Exists(folder.File("each")));
    }

    [Fact]
    public void Given_a_folder_with_earlier_PNGs_When_sample_writes_one_PNG_per_image_there_Then_it_refuses_to_mix_the_runs()
    {
        // Given: a folder that an earlier run of four images filled
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var each = folder.File("each");
        Assert.Equal(0, Run("sample", "--model", model, "--num", "4", "--steps", "2", "--out-dir", each).Code);
        var before = Directory.GetFiles(each).Select(File.ReadAllBytes).ToList();

        // When: a second, smaller run with another seed
        var (code, error) = Run("sample", "--model", model, "--num", "2", "--steps", "2", "--seed", "5", "--out-dir", each);

        // Then
        Assert.Equal(1, code);
        Assert.Contains($"--out-dir {each} already holds 4 PNG files", OneLine(error));
        Assert.Equal(before, Directory.GetFiles(each).Select(File.ReadAllBytes).ToList());
    }

    [Fact]
    public void Given_a_file_where_a_folder_belongs_When_sample_or_train_writes_there_Then_the_error_says_it_is_a_file()
    {
        // Given
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var file = folder.File("a.png");
        File.WriteAllBytes(file, [1]);

        // When
        var (sampleCode, sampleError) = Run("sample", "--model", model, "--out", Path.Combine(file, "x.png"));
        var (trainCode, trainError) = Run("train", "--preset", Path.Combine(Presets, "mnist.json"), "--out", file);

        // Then
        Assert.Equal((1, 1), (sampleCode, trainCode));
        Assert.Contains($"{file} is a file, not a folder", sampleError);
        Assert.Contains($"{file} is a file, not a folder", trainError);
    }

    [Fact]
    public void Given_a_run_folder_that_does_not_fit_the_request_When_train_starts_Then_refused_before_the_data_are_looked_for()
    {
        // Given: a folder with a checkpoint, an empty one, and data that do not exist (a real name would be downloaded)
        using var folder = new TempFolder();
        var run = folder.Folder("run");
        File.WriteAllBytes(Path.Combine(run, "checkpoint.ddim"), [1]);
        var empty = folder.Folder("empty");

        // When
        var (newCode, newError) = Run("train", "--preset", Path.Combine(Presets, "mnist.json"), "--out", run, "--data", folder.File("no-such-data"));
        var (resumeCode, resumeError) = Run("train", "--preset", Path.Combine(Presets, "mnist.json"), "--out", empty, "--data", folder.File("no-such-data"), "--resume");

        // Then: the folder is what is wrong, not the data
        Assert.Equal((1, 1), (newCode, resumeCode));
        Assert.Contains($"{run} already holds a checkpoint. Pass --resume to continue it", OneLine(newError));
        Assert.Contains($"--resume was given but there is no checkpoint at {Path.Combine(empty, "checkpoint.ddim")}", OneLine(resumeError));
    }

    [Fact]
    public void Given_a_model_or_a_judge_instead_of_a_checkpoint_When_exported_Then_the_error_says_what_the_file_is()
    {
        // Given
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"), timeSteps: 20);
        using (var net = new Judge(SyntheticDigits.TinyJudge))
        {
            net.Save(folder.File("judge.ddim"));
        }

        // When
        var (modelCode, modelError) = Run("export", "--checkpoint", model, "--out", folder.File("out.ddim"));
        var (judgeCode, judgeError) = Run("export", "--checkpoint", folder.File("judge.ddim"), "--out", folder.File("out.ddim"));

        // Then
        Assert.Equal((1, 1), (modelCode, judgeCode));
        Assert.Contains("is already a model, not a training checkpoint: it needs no export", OneLine(modelError));
        Assert.Contains("is a judge (ddim train-classifier), not a training checkpoint", OneLine(judgeError));
        Assert.False(File.Exists(folder.File("out.ddim")));
    }

    [Fact]
    public void Given_export_or_train_classifier_without_out_When_run_Then_they_refuse_instead_of_replacing_a_bundled_file()
    {
        // Given
        using var folder = new TempFolder();

        // When
        var (exportCode, exportError) = Run("export", "--checkpoint", folder.File("checkpoint.ddim"));
        var (judgeCode, judgeError) = Run("train-classifier", "--epochs", "1");
        var (missingCode, missingError) = Run("export", "--checkpoint", folder.File("none.ddim"), "--out", Path.Combine(folder.File("new"), "sub", "m.ddim"));
        var (pngCode, pngError) = Run("export", "--checkpoint", folder.File("none.ddim"), "--out", folder.File("m.png"));
        File.WriteAllText(folder.File("checkpoint.ddim"), "a checkpoint");
        var (selfCode, selfError) = Run("export", "--checkpoint", folder.File("checkpoint.ddim"), "--out", folder.File("checkpoint.ddim"));

        // Then
        Assert.Equal((1, 1, 1, 1, 1), (exportCode, judgeCode, missingCode, pngCode, selfCode));
        Assert.Contains("is the checkpoint itself: the model would replace it", selfError);
        Assert.Equal("a checkpoint", File.ReadAllText(folder.File("checkpoint.ddim")));
        Assert.Contains("Give --out FILE.ddim: where to write the model", exportError);
        Assert.Contains("Give --out FILE.ddim: where to write the judge", judgeError);
        Assert.Contains($"Checkpoint not found: {folder.File("none.ddim")}. Pass --checkpoint", missingError);
        Assert.Contains("must end with .ddim", pngError);
        Assert.False(Directory.Exists(folder.File("new")), "a refused run left the --out folder it would have written in");
    }

    [Fact]
    public void Given_DDPM_over_1000_steps_When_a_PNG_trajectory_is_asked_for_Then_it_is_refused_before_sampling_with_the_way_out()
    {
        // Given: a model with T = 1000, whose PNG strip (one column per step) would be 30,032 px wide
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"), timeSteps: 1000);

        // When
        var (code, error) = Run("sample", "--model", model, "--sampler", "ddpm", "--trajectory", folder.File("t.png"), "--out", folder.File("out.png"));

        // Then
        Assert.Equal(1, code);
        Assert.Contains("A trajectory PNG of 1000 steps would be 30032×482 pixels, over the 16384-pixel limit (one column per step): write a .gif instead (one frame per step), or sample with DDIM and --steps 545 or fewer (DDPM always runs all T steps).", OneLine(error));
        Assert.False(File.Exists(folder.File("out.png")));
    }

    [Fact]
    public void Given_256_pixel_images_When_a_64_point_interpolation_is_asked_for_Then_it_is_refused_before_sampling_with_the_most_points_that_fit()
    {
        // Given: a model of 256×256 images, whose 64-point row would be 64 × (256 + 2) + 2 = 16,514 px wide
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("big.ddim"), config: TinyModel.Config with { ImageSize = 256, AttentionResolutions = [] });

        // When
        var (code, error) = Run("interpolate", "--model", model, "--points", "64", "--steps", "2", "--out", folder.File("row.png"));

        // Then: refused before any sampling, with the largest --points that fits (63 × 258 + 2 = 16,256 px)
        Assert.Equal(1, code);
        Assert.Contains("64 points of 256×256 images make a 16514×260 picture, over the 16384-pixel limit; use --points 63 or fewer.", OneLine(error));
        Assert.False(File.Exists(folder.File("row.png")));
    }

    [Fact]
    public void Given_a_colour_model_When_a_GIF_trajectory_is_asked_for_Then_it_is_refused_before_sampling_with_the_way_out()
    {
        // Given: an RGB model, whose frames a grey GIF palette would turn grey
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("rgb.ddim"), config: TinyModel.Config with { ImageChannels = 3 });

        // When
        var (code, error) = Run("sample", "--model", model, "--steps", "2", "--num", "1", "--trajectory", folder.File("t.gif"), "--out", folder.File("out.png"));

        // Then
        Assert.Equal(1, code);
        Assert.Contains("A trajectory GIF is grey (its palette is 256 greys), and this model makes 3-channel colour images: write the trajectory as .png.", OneLine(error));
        Assert.False(File.Exists(folder.File("out.png")));
    }

    [Fact]
    public void Given_a_model_with_fewer_than_50_timesteps_When_bench_runs_Then_it_says_why_it_cannot_time_S_50()
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"), timeSteps: 20);

        var (code, error) = Run("bench", "--model", model, "--skip-ddpm", "--num", "1");

        Assert.Equal(1, code);
        Assert.Contains("bench times DDIM at S = 10 and S = 50, so it needs a model trained with T ≥ 50;", error);
        Assert.Contains("has T = 20.", OneLine(error));
    }

    [Fact]
    public void Given_a_model_with_T_100_When_bench_runs_Then_it_times_every_part_and_writes_its_report()
    {
        // Given: a tiny model with T = 100, where a step from t = 500 (the mid-noise of T = 1000) does not exist
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"), timeSteps: 100);

        // When
        var (code, error) = Run("bench", "--model", model, "--skip-ddpm", "--num", "32", "--results", folder.File("bench.md"));

        // Then
        Assert.True(code == 0, error);
        var report = File.ReadAllText(folder.File("bench.md"));
        Assert.Contains("Sampler overhead per step", report);
        Assert.Contains("| DDIM S=10", report);
        Assert.Contains("| DDIM S=50", report);
        Assert.Contains($"model SHA-256 {Ddim.Cli.Provenance.FileSha256(model)[..12]}…", report);
        Assert.Contains("Wall times are the median of 3 runs, after a warm-up run of DDIM S=10", report); // no DDPM row, so no word of it
        Assert.Matches(@"\| DDIM S=50[^|]*\| 50 \| \d+\.\d\d \| \d+\.\d\d–\d+\.\d\d \|", report);
    }

    [Fact]
    public void Given_a_number_of_images_that_is_not_whole_groups_When_bench_runs_Then_it_is_refused_before_timing_what_it_did_not_ask_for()
    {
        // Given: 40 images, which the network would run as two groups of 32 (64 images' work, timed as 40)
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"), timeSteps: 100);

        // When
        var (code, output) = CliRunner.RunCapturingOutput("bench", "--model", model, "--skip-ddpm", "--num", "40");

        // Then: refused, and nothing was timed (each timed configuration prints "NAME: 1.23 s")
        Assert.Equal(1, code);
        Assert.Contains("--num must be a multiple of 32 (the network takes images in groups of 32, so 40 would cost as much as 64); got 40. Use 64.", OneLine(output));
        Assert.DoesNotMatch(@"\d\.\d\d s", output);
    }

    [Fact]
    public void Given_a_judge_and_a_cut_short_file_When_info_reads_them_Then_it_names_the_judge_and_refuses_the_damaged_file()
    {
        // Given
        using var folder = new TempFolder();
        var judge = folder.File("judge.ddim");
        using (var net = new Judge(SyntheticDigits.TinyJudge))
        {
            net.Save(judge);
        }

        var cut = folder.File("cut.ddim");
        File.WriteAllBytes(cut, File.ReadAllBytes(judge)[..^10]);

        // When
        var (judgeCode, judgeInfo) = CliRunner.RunCapturingOutput("info", judge);
        var (cutCode, cutError) = Run("info", cut);

        // Then
        Assert.Equal((0, 1), (judgeCode, cutCode));
        Assert.Contains("a judge: the MNIST classifier whose features eval measures FID in", judgeInfo);
        Assert.Contains("is corrupt or truncated", cutError);
    }

    [Fact]
    public void Given_a_judge_or_a_cut_short_file_as_the_model_When_sample_runs_Then_the_error_names_what_it_is()
    {
        // Given
        using var folder = new TempFolder();
        var judge = folder.File("judge.ddim");
        using (var net = new Judge(SyntheticDigits.TinyJudge))
        {
            net.Save(judge);
        }

        var stub = folder.File("stub.ddim");
        File.WriteAllBytes(stub, File.ReadAllBytes(TinyModel.Write(folder.File("m.ddim")))[..12]);

        // When
        var (judgeCode, judgeError) = Run("sample", "--model", judge, "--out", folder.File("x.png"));
        var (stubCode, stubError) = Run("sample", "--model", stub, "--out", folder.File("x.png"));

        // Then
        Assert.Equal((1, 1), (judgeCode, stubCode));
        Assert.Contains($"{judge} is an MNIST judge (kind 'classifier'), not a diffusion model", judgeError);
        Assert.Contains($"{stub} is corrupt or truncated (12 bytes", stubError);
    }

    [Fact]
    public void Given_more_images_than_the_folder_holds_When_invert_runs_Then_it_says_so_instead_of_inverting_fewer()
    {
        // Given: two 28×28 PNGs
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var images = folder.Folder("images");
        for (var i = 0; i < 2; i++)
        {
            using var image = torch.zeros([1, 28, 28]);
            File.WriteAllBytes(Path.Combine(images, $"{i}.png"), ImageGrid.ToPng(image));
        }

        // When
        var (code, error) = Run("invert", "--model", model, "--images", images, "--num", "5", "--steps", "2", "--out", folder.File("r.png"));

        // Then
        Assert.Equal(1, code);
        Assert.Contains("has 2 images; --num is 5. Lower --num.", error);
    }

    [Fact]
    public void Given_a_preset_with_a_misspelt_key_or_an_unknown_choice_When_read_Then_the_error_names_it()
    {
        // Given
        using var folder = new TempFolder();
        var preset = JsonNode.Parse(File.ReadAllText(Path.Combine(Presets, "mnist.json")))!.AsObject();
        var misspelt = folder.File("misspelt.json");
        File.WriteAllText(misspelt, preset.DeepClone().AsObject().Also(p => p["Stpes"] = 10).ToJsonString());
        var badChoice = folder.File("choice.json");
        File.WriteAllText(badChoice, preset.DeepClone().AsObject().Also(p => p["Schedule"] = "Quadratic").ToJsonString());
        var numberedChoice = folder.File("number.json");
        File.WriteAllText(numberedChoice, preset.DeepClone().AsObject().Also(p => p["Schedule"] = 1).ToJsonString());

        // When
        var misspeltError = Assert.Throws<InvalidDataException>(() => TrainConfig.Load(misspelt));
        var choiceError = Assert.Throws<InvalidDataException>(() => TrainConfig.Load(badChoice));
        var numberError = Assert.Throws<InvalidDataException>(() => TrainConfig.Load(numberedChoice));

        // Then: a choice is taken by name only ("Schedule": 1 is not silently Cosine)
        Assert.Contains("unknown key 'Stpes' (did you mean 'Steps'?). The keys of a preset are: Model, Data, ", misspeltError.Message);
        Assert.DoesNotContain(".NET member", misspeltError.Message);
        Assert.Contains("at Schedule", choiceError.Message);
        Assert.Contains("It takes one of: Linear, Cosine.", choiceError.Message);
        Assert.Contains("It takes one of: Linear, Cosine.", numberError.Message);
    }

    [Fact]
    public void Given_the_committed_presets_When_read_strictly_Then_every_one_is_valid()
    {
        var presets = Directory.GetFiles(Presets, "*.json");

        Assert.NotEmpty(presets);
        Assert.All(presets, p => TrainConfig.Load(p).Validate());
    }

    [Fact]
    public void Given_a_decoding_far_outside_the_image_range_When_its_MSE_is_taken_Then_it_is_measured_as_an_image_at_most_1()
    {
        // Given: a black original (−1) and a decoding that strayed to +100 (shown white: +1)
        using var scope = torch.NewDisposeScope();
        var original = torch.full([1, 1, 2, 2], -1.0);
        var decoded = torch.full([1, 1, 2, 2], 100.0);

        // When
        var mse = ImageSampler.MeanSquaredError01(original, decoded);

        // Then
        Assert.Equal(1.0, mse, 12);
    }
}

internal static class JsonObjectExtensions
{
    /// <summary>Applies <paramref name="change"/> to <paramref name="node"/> and returns it, for one-line edits.</summary>
    public static JsonObject Also(this JsonObject node, Action<JsonObject> change)
    {
        change(node);
        return node;
    }
}
