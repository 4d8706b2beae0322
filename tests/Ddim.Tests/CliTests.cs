using System.Security.Cryptography;
using System.Text.Json;
using Ddim.Cli;
using Ddim.Cli.Commands;
using Ddim.Imaging;
using Ddim.Models;
using Ddim.Training;
using TorchSharp;

namespace Ddim.Tests;

/// <summary>The ddim command line, run in-process on a tiny random model.</summary>
public sealed class CliTests : OneTorchThread
{
    private static (int Code, string Error) Run(params string[] args) => CliRunner.Run(args);

    [Theory]
    [InlineData("")]
    [InlineData("sample")]
    [InlineData("interpolate")]
    [InlineData("invert")]
    [InlineData("reconstruct")]
    [InlineData("train")]
    [InlineData("export")]
    [InlineData("bench")]
    [InlineData("eval")]
    [InlineData("loss")]
    [InlineData("train-classifier")]
    [InlineData("data fetch")]
    [InlineData("info")]
    [InlineData("compare")]
    public void Given_any_command_When_asked_for_help_Then_it_renders_without_error(string command)
    {
        var (code, error) = Run([.. command.Split(' ', StringSplitOptions.RemoveEmptyEntries), "--help"]);

        Assert.True(code == 0, error); // the error says why, should it fail
        Assert.Equal(string.Empty, error);
    }

    [Theory]
    [InlineData(6380, "01:46:20")]
    [InlineData(0.4, "00:00:00")]
    [InlineData(117424, "1d 08:37:04")]
    [InlineData(2 * 86400, "2d 00:00:00")]
    public void Given_a_span_of_time_When_the_command_line_writes_it_Then_it_reads_as_a_clock_with_days_in_front(double seconds, string expected) =>
        Assert.Equal(expected, Ddim.Cli.Durations.Clock(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void Given_a_native_runtime_that_cannot_be_prepared_When_commands_run_Then_help_and_file_only_commands_work_and_the_rest_say_why()
    {
        // Given: the libstdc++ patch failing as on a read-only install
        static void ReadOnlyInstall() => throw new IOException("TorchSharp's native library needs a one-byte patch on this host, and this process cannot write it.");
        static (int Code, string Output, string Error) RunWith(params string[] args) => CliRunner.RunWithRuntime(ReadOnlyInstall, args);

        // When
        var help = RunWith("--help");
        var sampleHelp = RunWith("sample", "--help");
        var sample = RunWith("sample", "--num", "1", "--out", Path.Combine(Path.GetTempPath(), $"never-{Guid.NewGuid():N}.png"));
        var compare = RunWith("compare", "-a", "no-such-a.json", "-b", "no-such-b.json");

        // Then: help renders; sample stops with the patch's error; compare gets as far as its own input checks
        Assert.True(help.Code == 0, help.Error);
        Assert.Contains("sample", help.Output);
        Assert.True(sampleHelp.Code == 0, sampleHelp.Error);
        Assert.Contains("--steps", sampleHelp.Output);
        Assert.NotEqual(0, sample.Code);
        Assert.Equal("error: TorchSharp's native library needs a one-byte patch on this host, and this process cannot write it.", sample.Error.Trim());
        Assert.NotEqual(0, compare.Code);
        Assert.Contains("-a: no file no-such-a.json", compare.Error);
    }

    [Theory]
    [InlineData("sample", "--steps --spacing --no-clip --keep-noise --eta --sampler --large-variance --eta-below --eps-scale --seed --precision", "")]
    [InlineData("eval", "--steps --spacing --no-clip --eta --sampler --eps-scale --seed --precision", "")]
    [InlineData("bench", "--model --threads --precision", "--steps --eta --seed")]
    [InlineData("interpolate", "--steps --spacing --no-clip --keep-noise --rederive-noise --seeds", "--eta --sampler --large-variance --eta-below --eps-scale --seed ")]
    [InlineData("invert", "--steps --spacing --steps-list --images --precision", "--eta --sampler --large-variance --eta-below --eps-scale --seed --no-clip --keep-noise --rederive-noise")]
    [InlineData("reconstruct", "--spacing --steps-list --images --precision", "--steps --eta --sampler --seed --no-clip --keep-noise --rederive-noise")]
    public void Given_a_command_When_asked_for_help_Then_it_lists_the_options_it_takes_and_none_it_would_refuse(string command, string listed, string absent)
    {
        // Given: help written to a console of the test's own
        using var output = new StringWriter();
        var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(output) });

        // When
        var code = Ddim.Cli.CliApp.Run([command, "--help"], console);

        // Then: each option on a line of its own ("--seed " with its space, so that --seeds does not count)
        Assert.Equal(0, code);
        var help = output.ToString();
        Assert.All(listed.Split(' ', StringSplitOptions.RemoveEmptyEntries), o => Assert.Contains($" {o} ", help, StringComparison.Ordinal));
        Assert.All(absent.Split(' ', StringSplitOptions.RemoveEmptyEntries), o => Assert.DoesNotContain($" {o} ", help, StringComparison.Ordinal));
    }

    [Fact]
    public void Given_a_misspelt_option_When_sample_runs_Then_it_fails_instead_of_running_with_the_defaults()
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var output = folder.File("out.png");

        var (typo, _) = Run("sample", "--model", model, "--num", "1", "--stpes", "2", "--out", output);
        Assert.NotEqual(0, typo);
        Assert.False(File.Exists(output));

        var (spelt, error) = Run("sample", "--model", model, "--num", "1", "--steps", "2", "--out", output);
        Assert.Equal(0, spelt);
        Assert.Equal(string.Empty, error);
        Assert.True(File.Exists(output));
    }

    [Fact]
    public void Given_a_model_When_sample_writes_a_grid_and_a_folder_Then_valid_PNGs_of_the_stated_size()
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        var (code, error) = Run("sample", "--model", model, "--num", "5", "--steps", "3", "--out", folder.File("g.png"), "--columns", "5", "--padding", "1");
        var (code2, _) = Run("sample", "--model", model, "--num", "3", "--steps", "3", "--out-dir", folder.File("each"), "--trajectory", folder.File("t.gif"));

        Assert.True(code == 0, error);
        Assert.Equal(0, code2);
        var grid = ImageGrid.DecodePng(File.ReadAllBytes(folder.File("g.png")));
        Assert.Equal(((5 * 29) + 1, 28 + 2), (grid.Width, grid.Height));
        Assert.Equal(new[] { "00000.png", "00001.png", "00002.png" }, Directory.GetFiles(folder.File("each")).Select(f => Path.GetFileName(f)).Order().ToArray());
        var single = ImageGrid.DecodePng(File.ReadAllBytes(folder.File("each/00001.png")));
        Assert.Equal((28, 28), (single.Width, single.Height));
        using var frame = SkiaSharp.SKBitmap.Decode(File.ReadAllBytes(folder.File("t.gif"))); // the GIF's first frame
        Assert.Equal(((3 * 30) + 2, (2 * 30) + 2), (frame.Width, frame.Height)); // x_t over x̂0 for each of the 3 images, 2 px apart
        Assert.Equal(64, frame.GetPixel(0, 0).Red); // the grey padding
        Assert.Contains("it is a GIF image, not a PNG", Assert.Throws<InvalidDataException>(() => ImageGrid.DecodePng(File.ReadAllBytes(folder.File("t.gif")))).Message);
    }

    [Fact]
    public void Given_precision_bf16_When_sample_and_interpolate_run_Then_they_write_their_PNGs_and_the_same_seed_gives_the_same_bytes()
    {
        // Given
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        // When
        var first = Run("sample", "--model", model, "--num", "3", "--steps", "3", "--precision", "bf16", "--out", folder.File("a.png"));
        var second = Run("sample", "--model", model, "--num", "3", "--steps", "3", "--precision", "bf16", "--batch-size", "2", "--out", folder.File("b.png"));
        var row = Run("interpolate", "--model", model, "--points", "3", "--steps", "3", "--precision", "bf16", "--out", folder.File("row.png"));

        // Then
        Assert.True(first.Code == 0, first.Error);
        Assert.True(second.Code == 0, second.Error);
        Assert.True(row.Code == 0, row.Error);
        Assert.Equal(File.ReadAllBytes(folder.File("a.png")), File.ReadAllBytes(folder.File("b.png")));
        Assert.True(File.Exists(folder.File("row.png")));
    }

    [Fact]
    public void Given_eta_0_When_sample_runs_with_two_batch_sizes_Then_the_files_are_byte_identical()
    {
        // Given: 40 images, one batch of 64 against batches of 32 and 8 (the grid and the folder are filled batch by batch)
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        // When
        var one = Run("sample", "--model", model, "--num", "40", "--steps", "3", "--seed", "11", "--batch-size", "64", "--out", folder.File("a.png"), "--out-dir", folder.File("one"));
        var two = Run("sample", "--model", model, "--num", "40", "--steps", "3", "--seed", "11", "--batch-size", "32", "--out", folder.File("b.png"), "--out-dir", folder.File("two"));

        // Then: the same grid, and the same 40 files, whatever the batches
        Assert.True(one.Code == 0, one.Error);
        Assert.True(two.Code == 0, two.Error);
        Assert.Equal(File.ReadAllBytes(folder.File("a.png")), File.ReadAllBytes(folder.File("b.png")));
        var names = Directory.GetFiles(folder.File("one")).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"{i:D5}.png"), names);
        Assert.All(names, name => Assert.Equal(File.ReadAllBytes(Path.Combine(folder.File("one"), name!)), File.ReadAllBytes(Path.Combine(folder.File("two"), name!))));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(folder.File("one"), "00000.png")), File.ReadAllBytes(Path.Combine(folder.File("one"), "00039.png")));
    }

    [Fact]
    public void Given_the_noise_options_When_sample_runs_Then_rederive_noise_is_the_default_and_keep_noise_gives_other_images()
    {
        // Given: a random tiny model, whose x̂0 lies far outside [−1, 1], so clipping is active
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        string[] common = ["sample", "--model", model, "--num", "4", "--steps", "3", "--seed", "5"];

        // When
        Run([.. common, "--out", folder.File("default.png")]);
        Run([.. common, "--rederive-noise", "--out", folder.File("rederived.png")]);
        Run([.. common, "--keep-noise", "--out", folder.File("kept.png")]);

        // Then
        Assert.Equal(File.ReadAllBytes(folder.File("default.png")), File.ReadAllBytes(folder.File("rederived.png")));
        Assert.NotEqual(File.ReadAllBytes(folder.File("default.png")), File.ReadAllBytes(folder.File("kept.png")));
    }

    [Theory]
    [InlineData("--steps 0", "Steps (--steps) must be between 1 and T = 100")]
    [InlineData("--steps -3", "Steps (--steps) must be between 1 and T = 100")]
    [InlineData("--steps 101", "Steps (--steps) must be between 1 and T = 100")]
    [InlineData("--eta 1.5", "η must be between 0")]
    [InlineData("--eta -0.1", "η must be between 0")]
    [InlineData("--num 0", "--num must be at least 1")]
    [InlineData("--spacing bogus", "Unknown --spacing 'bogus'")]
    [InlineData("--spacing leading,trailing", "Unknown --spacing 'leading,trailing'")] // not Leading | Trailing, which is Linspace
    [InlineData("--spacing 2", "Unknown --spacing '2'")]
    [InlineData("--sampler euler", "Unknown --sampler 'euler'")]
    [InlineData("--num 100000 --columns 1", "over the 16384-pixel limit")]
    [InlineData("--out MODEL/x.png", "Cannot write MODEL/x.png")] // below a file: no OS can make that folder
    [InlineData("--out grid.jpg", "must end with .png")]
    public void Given_bad_input_When_sample_runs_Then_a_clear_error_and_no_stack_trace(string extra, string expected)
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var args = new[] { "sample", "--model", model, "--out", folder.File("x.png") }.Concat(extra.Replace("MODEL", model, StringComparison.Ordinal).Split(' ')).ToArray();

        var (code, error) = Run(args);

        Assert.Equal(1, code);
        Assert.Contains(expected.Replace("MODEL", model, StringComparison.Ordinal), error.Replace("\n", " ", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", error);
        Assert.False(File.Exists(folder.File("x.png")));
    }

    [Fact]
    public void Given_a_missing_corrupt_or_wrong_model_When_sample_runs_Then_a_clear_error()
    {
        using var folder = new TempFolder();
        var corrupt = folder.File("corrupt.ddim");
        File.WriteAllBytes(corrupt, File.ReadAllBytes(TinyModel.Write(folder.File("m.ddim")))[..500]);
        File.WriteAllText(folder.File("text.ddim"), "hello");

        Assert.Contains("Model file not found", Run("sample", "--model", folder.File("none.ddim")).Error);
        Assert.Contains("corrupt or truncated", Run("sample", "--model", corrupt).Error);
        Assert.Contains("not a Ddim model file", Run("sample", "--model", folder.File("text.ddim")).Error);
    }

    [Theory]
    [InlineData("train", "cuda", "--device cuda: CUDA is not available")]
    [InlineData("sample", "cuda", "--device cuda: CUDA is not available")]
    [InlineData("eval", "cuda", "--device cuda: CUDA is not available")]
    [InlineData("interpolate", "cuda", "--device cuda: CUDA is not available")]
    [InlineData("reconstruct", "cuda", "--device cuda: CUDA is not available")]
    [InlineData("loss", "cuda", "--device cuda: CUDA is not available")]
    [InlineData("sample", "tpu", "Unknown --device 'tpu'; use cpu or cuda.")]
    public void Given_a_CPU_build_When_a_command_asks_for_an_unavailable_device_Then_a_clear_error_before_any_work(string command, string device, string expected)
    {
        // Given: a tiny model (train reads a preset instead, and fails on the device before opening it).
        using var folder = new TempFolder();
        string[] source = command == "train" ? ["--preset", "presets/none.json"] : ["--model", TinyModel.Write(folder.File("m.ddim"))];

        // When
        var (code, error) = Run([command, "--device", device, .. source]);

        // Then
        Assert.Equal(1, code);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Given_a_preset_When_train_is_given_precision_bf16_or_a_bad_value_Then_the_run_records_it_or_a_clear_error()
    {
        // Given: a tiny preset over four 8×8 PNGs.
        using var folder = new TempFolder();
        var preset = TinyPngPreset(folder, 4);

        // When
        var (code, error) = Run("train", "--preset", preset, "--out", folder.File("run"), "--precision", "bf16", "--threads", "1");
        var (badCode, badError) = Run("train", "--preset", preset, "--out", folder.File("bad"), "--precision", "fp16");

        // Then
        Assert.True(code == 0, error);
        var model = ModelFile.Load(Path.Combine(folder.File("run"), "model.ddim"));
        Assert.Equal("BFloat16", model.Metadata["training"]!["config"]!["Precision"]!.GetValue<string>());
        Assert.Equal(1, badCode);
        Assert.Contains("--precision must be fp32 or bf16 (got 'fp16')", badError);
        Assert.False(Directory.Exists(folder.File("bad")));
    }

    [Fact]
    public void Given_a_train_run_asked_to_stop_When_it_starts_Then_it_saves_a_checkpoint_exits_130_and_resume_finishes_it()
    {
        // Given: a tiny preset
        using var folder = new TempFolder();
        var preset = TinyPngPreset(folder, 4);
        var run = folder.File("run");

        // When: a stop is asked for before the first step (as a Ctrl-C would), then the run is resumed
        var (code, output) = TrainStoppedAtOnce(preset, run);
        var (resumedCode, resumedError) = Run("train", "--preset", preset, "--out", run, "--resume", "--threads", "1");

        // Then: the checkpoint of step 0 is what --resume continues from
        Assert.True(code == 130, output);
        Assert.Contains("Interrupted: checkpoint saved at step 0", output);
        Assert.True(resumedCode == 0, resumedError);
        Assert.True(File.Exists(Path.Combine(run, "model.ddim")));
    }

    [Fact]
    public void Given_models_of_the_same_file_name_When_loss_labels_its_rows_Then_each_label_names_its_run()
    {
        // Given / When
        var labels = LossCommand.ShortestDistinctLabels(["runs/a/model.ddim", "runs/b/model.ddim", "models/mnist.ddim"]);
        var deeper = LossCommand.ShortestDistinctLabels(["x/run/model.ddim", "y/run/model.ddim"]);

        // Then
        Assert.Equal([Path.Combine("a", "model.ddim"), Path.Combine("b", "model.ddim"), Path.Combine("models", "mnist.ddim")], labels); // one depth for all
        Assert.Equal([Path.Combine("x", "run", "model.ddim"), Path.Combine("y", "run", "model.ddim")], deeper);
        Assert.Equal(["m.ddim", "m.ddim"], LossCommand.ShortestDistinctLabels(["m.ddim", "m.ddim"])); // the same file twice: as given
    }

    [Fact]
    public void Given_a_run_started_with_steps_and_stopped_When_resumed_without_steps_Then_it_keeps_the_saved_steps()
    {
        // Given: a preset of 2 steps, started with --steps 4 and stopped at once
        using var folder = new TempFolder();
        var preset = TinyPngPreset(folder, 4);
        var run = folder.File("run");
        Assert.Equal(130, TrainStoppedAtOnce(preset, run, "--steps", "4").Code);

        // When: resumed as the interrupt message says, without --steps
        var (code, output) = CliRunner.RunCapturingOutput("train", "--preset", preset, "--out", run, "--resume", "--threads", "1");

        // Then: the run's own 4 steps, not the preset's 2 (whose learning-rate curve the checkpoint would refuse)
        Assert.True(code == 0, output);
        Assert.Contains("Resuming with Steps = 4, as saved in the checkpoint (the preset says 2; give --steps to change it).", output);
        Assert.Equal(4, ModelFile.Load(Path.Combine(run, "model.ddim")).Metadata["training"]!["config"]!["Steps"]!.GetValue<int>());
    }

    [Fact]
    public void Given_a_failed_type_initializer_When_reported_Then_the_line_names_its_cause()
    {
        // Given: what .NET says when a native library will not load (SkiaSharp's fontconfig build without libfontconfig1, say): the cause is on a later line
        var cause = new DllNotFoundException(
            "Unable to load shared library 'libSkiaSharp' or one of its dependencies. In order to help diagnose loading problems, consider setting the LD_DEBUG environment variable: \n" +
            "/app/libSkiaSharp.so: libfontconfig.so.1: cannot open shared object file: No such file or directory\n" +
            "/app/liblibSkiaSharp.so: cannot open shared object file: No such file or directory");
        var failure = new TypeInitializationException("SkiaSharp.SKImageInfo", new TypeInitializationException("SkiaSharp.SkiaApi", cause));
        var saved = Console.Error;
        using var error = new StringWriter();
        Console.SetError(error);

        // When
        int code;
        try
        {
            code = CliErrors.Report(failure);
        }
        finally
        {
            Console.SetError(saved);
        }

        // Then
        Assert.Equal(1, code);
        Assert.Contains("SkiaSharp.SKImageInfo", error.ToString());
        Assert.Contains("DllNotFoundException: Unable to load shared library 'libSkiaSharp' or one of its dependencies.", error.ToString());
        Assert.Contains("/app/libSkiaSharp.so: libfontconfig.so.1: cannot open shared object file", error.ToString());
        Assert.Single(error.ToString().Trim().Split('\n'));
    }

    [Fact]
    public void Given_a_libtorch_error_with_its_CPP_backtrace_When_reported_Then_one_line_without_the_backtrace()
    {
        // Given: TorchSharp's message for a libtorch error carries the C++ frames
        var failure = new System.Runtime.InteropServices.ExternalException("CUDA out of memory. Tried to allocate 2.00 GiB\nException raised from malloc at /pytorch/c10/cuda/CUDACachingAllocator.cpp:1234 (most recent call first):\nframe #0: c10::Error::Error(...) + 0x9c");
        var saved = Console.Error;
        using var error = new StringWriter();
        Console.SetError(error);

        // When
        try
        {
            CliErrors.Report(failure);
        }
        finally
        {
            Console.SetError(saved);
        }

        // Then
        Assert.Equal("error: ExternalException: CUDA out of memory. Tried to allocate 2.00 GiB", error.ToString().Trim());
    }

    [Fact]
    public void Given_two_seeds_When_interpolate_runs_Then_a_row_PNG_is_written()
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));

        var (code, error) = Run("interpolate", "--model", model, "--seeds", "1,2", "--points", "4", "--steps", "3", "--out", folder.File("row.png"));

        Assert.True(code == 0, error);
        var png = ImageGrid.DecodePng(File.ReadAllBytes(folder.File("row.png")));
        Assert.Equal(((4 * 30) + 2, 32), (png.Width, png.Height));
        Assert.Contains("--seeds takes 2 seeds", Run("interpolate", "--model", model, "--seeds", "1,2,3").Error);
    }

    [Fact]
    public void Given_a_folder_of_images_When_reconstruct_runs_Then_pairs_are_written()
    {
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var images = folder.Folder("imgs");
        using (var scope = TorchSharp.torch.NewDisposeScope())
        {
            for (var i = 0; i < 3; i++)
            {
                File.WriteAllBytes(Path.Combine(images, $"{i}.png"), ImageGrid.ToPng(TorchSharp.torch.rand(1, 28, 28) * 2 - 1));
            }
        }

        var (code, error) = Run("reconstruct", "--model", model, "--images", images, "--steps-list", "2,4", "--out", folder.File("r.png"));

        Assert.True(code == 0, error);
        var png = ImageGrid.DecodePng(File.ReadAllBytes(folder.File("r.png")));
        Assert.Equal(((3 * 30) + 2, (3 * 30) + 2), (png.Width, png.Height));
    }

    [Fact]
    public void Given_a_checkpoint_When_train_runs_with_init_from_and_the_checkpoint_is_exported_Then_the_model_names_its_source_hash_and_weights()
    {
        // Given: a folder of eight 8×8 PNGs, a tiny preset for it, and a finished run of that preset.
        using var folder = new TempFolder();
        var preset = TinyPngPreset(folder, 8);
        Assert.Equal(0, Run("train", "--preset", preset, "--out", folder.File("first"), "--threads", "1").Code);
        var source = Path.Combine(folder.File("first"), "checkpoint.ddim");

        // When: a new run starts from it on the command line, and its checkpoint is exported.
        var (code, error) = Run("train", "--preset", preset, "--out", folder.File("second"), "--init-from", source, "--steps", "1", "--threads", "1");
        var checkpoint = Path.Combine(folder.File("second"), "checkpoint.ddim");
        var (exportCode, exportError) = Run("export", "--checkpoint", checkpoint, "--out", folder.File("m.ddim"));
        var (rawCode, rawError) = Run("export", "--checkpoint", checkpoint, "--out", Path.Combine(folder.File("exported"), "raw.ddim"), "--weights", "raw"); // a folder made by the write

        // Then
        Assert.True(code == 0, error);
        Assert.True(exportCode == 0, exportError);
        Assert.True(rawCode == 0, rawError);
        var model = ModelFile.Load(folder.File("m.ddim"));
        var training = model.Metadata["training"]!;
        Assert.Equal(source, training["config"]!["InitFrom"]!.GetValue<string>());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(source))), training["init_from_sha256"]!.GetValue<string>());

        // The EMA weights by default; --weights raw writes the optimiser's own, and says so.
        var saved = ModelFile.Load(checkpoint);
        var raw = ModelFile.Load(Path.Combine(folder.File("exported"), "raw.ddim"));
        Assert.Equal("ema", training["weights"]!.GetValue<string>());
        Assert.Equal("raw", raw.Metadata["training"]!["weights"]!.GetValue<string>());
        Assert.Equal(saved.Sections["ema"], model.Sections["weights"]);
        Assert.Equal(saved.Sections["model"], raw.Sections["weights"]);
        Assert.NotEqual(model.Sections["weights"], raw.Sections["weights"]);
        Assert.Contains("Unknown --weights 'best'", Run("export", "--checkpoint", checkpoint, "--out", folder.File("x.ddim"), "--weights", "best").Error);
    }

    [Fact]
    public void Given_two_copies_of_a_model_When_loss_compares_them_Then_equal_rows_in_the_JSON_and_clear_errors_for_bad_input()
    {
        // Given: a tiny model (28×28, T = 100) and six random 28×28 PNGs as held-out data.
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var copy = folder.File("copy.ddim");
        File.Copy(model, copy);
        var images = folder.Folder("held-out");
        for (var i = 0; i < 6; i++)
        {
            using var generator = new torch.Generator((ulong)i + 1);
            using var image = torch.rand([1, 28, 28], generator: generator);
            File.WriteAllBytes(Path.Combine(images, $"{i}.png"), ImageGrid.ToPng(image));
        }

        // When
        var (code, error) = Run("loss", "--model", model, "--model", copy, "--data", images, "--num", "5", "--timesteps", "10,60", "--json", folder.File("loss.json"));

        // Then: one row per model, one value per timestep, the same for both copies.
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(File.ReadAllText(folder.File("loss.json")));
        var rows = json.RootElement.GetProperty("models").EnumerateArray().Select(m => m.GetProperty("loss").EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        Assert.Equal(2, rows.Length);
        Assert.Equal(2, rows[0].Length);
        Assert.Equal(rows[0], rows[1]);
        Assert.All(rows[0], v => Assert.True(v > 0));

        // And: --precision bf16 measures the same x_t through a bfloat16 copy: near float32's loss, not equal to it
        var (bfCode, bfError) = Run("loss", "--model", model, "--data", images, "--num", "5", "--timesteps", "10,60", "--precision", "bf16", "--json", folder.File("loss-bf16.json"));
        Assert.True(bfCode == 0, bfError);
        using var bfJson = JsonDocument.Parse(File.ReadAllText(folder.File("loss-bf16.json")));
        var bf = bfJson.RootElement.GetProperty("models")[0].GetProperty("loss").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.NotEqual(rows[0], bf);
        Assert.All(bf.Zip(rows[0]), p => Assert.InRange(p.First / p.Second, 0.9, 1.1));
        Assert.Contains("--precision must be fp32 or bf16", Run("loss", "--model", model, "--data", images, "--precision", "fp8").Error);
        Assert.Contains("--timesteps must be in 0 … 99", Run("loss", "--model", model, "--data", images, "--num", "5", "--timesteps", "100").Error);
        Assert.Contains("has 6 images; --num is 7", Run("loss", "--model", model, "--data", images, "--num", "7").Error);
        Assert.Contains("Unknown data", Run("loss", "--model", model, "--data", folder.File("none")).Error);
        Assert.Contains("Unknown --split 'dev'", Run("loss", "--model", model, "--data", images, "--split", "dev").Error);
        Assert.Contains("--split train needs --data mnist or fashion-mnist (a folder of PNGs has no splits)", Run("loss", "--model", model, "--data", images, "--split", "train").Error);
        Assert.Contains("does not match", Run("loss", "--model", model, "--model", TinyModel.Write(folder.File("t50.ddim"), timeSteps: 50), "--data", images, "--num", "5").Error);
    }

    [Fact]
    public void Given_a_model_with_T_100_When_loss_uses_the_default_timesteps_Then_they_are_scaled_to_its_T()
    {
        // Given
        using var folder = new TempFolder();
        var model = TinyModel.Write(folder.File("m.ddim"));
        var images = folder.Folder("held-out");
        using (var image = torch.zeros([1, 28, 28]))
        {
            File.WriteAllBytes(Path.Combine(images, "0.png"), ImageGrid.ToPng(image));
        }

        // When
        var (code, error) = Run("loss", "--model", model, "--data", images, "--num", "1", "--json", folder.File("loss.json"));

        // Then: 25, 100, …, 800 of T = 1000 become 2, 10, …, 80 of T = 100.
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(File.ReadAllText(folder.File("loss.json")));
        Assert.Equal([2, 10, 20, 30, 40, 50, 60, 80], json.RootElement.GetProperty("timesteps").EnumerateArray().Select(t => t.GetInt32()).ToArray());
    }

    [Fact]
    public void Given_a_finished_tiny_run_When_it_is_resumed_wrongly_or_a_new_run_targets_its_folder_Then_each_is_refused_and_the_run_is_kept()
    {
        // Given: a finished two-step run
        using var folder = new TempFolder();
        var (preset, run) = FinishedTinyRun(folder);
        File.AppendAllText(Path.Combine(run, "loss.jsonl"), "{\"step\":3,\"loss\":1,\"lr\":0.001}\n"); // past the checkpoint: a resume that went ahead would drop it
        var log = File.ReadAllBytes(Path.Combine(run, "loss.jsonl"));
        var checkpointBytes = File.ReadAllBytes(Path.Combine(run, "checkpoint.ddim"));
        var modelBytes = File.ReadAllBytes(Path.Combine(run, "model.ddim"));
        File.Move(Path.Combine(run, "checkpoint.ddim"), folder.File("checkpoint.ddim"));

        // When: a new run into the folder whose checkpoint is gone; then, checkpoint back, resumes that would rewind or change it
        var (overCode, overError) = Run("train", "--preset", preset, "--out", run);
        File.Move(folder.File("checkpoint.ddim"), Path.Combine(run, "checkpoint.ddim"));
        var (backCode, backError) = Run("train", "--preset", preset, "--out", run, "--resume", "--steps", "1");
        var changed = folder.File("changed.json");
        var edited = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(preset))!;
        edited["LearningRate"] = 0.001;
        File.WriteAllText(changed, edited.ToJsonString());
        var (lrCode, lrError) = Run("train", "--preset", changed, "--out", run, "--resume");

        // Then
        Assert.Equal((1, 1, 1), (overCode, backCode, lrCode));
        Assert.Contains("holds an earlier run's loss.jsonl but no checkpoint to resume", overError);
        Assert.Contains("is at step 2 already, past Steps = 1", backError);
        Assert.Contains("LearningRate: 0.0005 in the checkpoint, 0.001 now", lrError);
        Assert.Equal(log, File.ReadAllBytes(Path.Combine(run, "loss.jsonl")));
        Assert.Equal(checkpointBytes, File.ReadAllBytes(Path.Combine(run, "checkpoint.ddim")));
        Assert.Equal(modelBytes, File.ReadAllBytes(Path.Combine(run, "model.ddim")));
    }

    [Fact]
    public void Given_a_run_refused_before_its_first_step_When_train_stops_Then_no_run_folder_is_left_behind()
    {
        using var folder = new TempFolder();
        var preset = TinyPngPreset(folder, 4);

        var (initCode, initError) = Run("train", "--preset", preset, "--out", folder.File("a"), "--init-from", folder.File("none.ddim"));
        var (resumeCode, resumeError) = Run("train", "--preset", preset, "--out", folder.File("b"), "--resume");

        Assert.Equal((1, 1), (initCode, resumeCode));
        Assert.Contains("none.ddim", initError);
        Assert.Contains("there is no checkpoint", resumeError);
        Assert.False(Directory.Exists(folder.File("a")));
        Assert.False(Directory.Exists(folder.File("b")));
    }

    [Fact]
    public void Given_a_run_When_its_checkpoint_is_exported_Then_the_model_names_the_same_data_as_the_one_training_wrote()
    {
        using var folder = new TempFolder();
        var (_, run) = FinishedTinyRun(folder);

        var (code, error) = Run("export", "--checkpoint", Path.Combine(run, "checkpoint.ddim"), "--out", folder.File("exported.ddim"));

        Assert.True(code == 0, error);
        string DataOf(string path) => ModelFile.Load(path).Metadata["training"]!["data"]!.GetValue<string>();
        Assert.Equal(DataOf(Path.Combine(run, "model.ddim")), DataOf(folder.File("exported.ddim")));
    }

    /// <summary>Trains the tiny preset of <see cref="TinyPngPreset"/> to its end in folder/run; returns the preset and the run folder.</summary>
    private static (string Preset, string Run) FinishedTinyRun(TempFolder folder)
    {
        var preset = TinyPngPreset(folder, 4);
        var run = folder.File("run");
        var (code, error) = Run("train", "--preset", preset, "--out", run, "--threads", "1");
        Assert.True(code == 0, error);
        return (preset, run);
    }

    /// <summary>Writes <paramref name="count"/> random 8×8 PNGs into folder/images and a tiny two-step preset over them; returns the preset's path.</summary>
    /// <summary>Runs train with a stop asked for before its first step, as a Ctrl-C would: it saves step 0's checkpoint.</summary>
    private static (int Code, string Output) TrainStoppedAtOnce(string preset, string run, params string[] extra)
    {
        using var stopped = new CancellationTokenSource();
        stopped.Cancel();
        return CliRunner.RunCancelled(stopped.Token, ["train", "--preset", preset, "--out", run, "--threads", "1", .. extra]);
    }

    private static string TinyPngPreset(TempFolder folder, int count)
    {
        var images = folder.Folder("images");
        for (var i = 0; i < count; i++)
        {
            using var generator = new torch.Generator((ulong)i + 1);
            using var image = torch.rand([1, 8, 8], generator: generator);
            File.WriteAllBytes(Path.Combine(images, $"{i}.png"), ImageGrid.ToPng(image));
        }

        var preset = folder.File("tiny.json");
        File.WriteAllText(preset, JsonSerializer.Serialize(new TrainConfig(
            new UNetConfig(ImageChannels: 1, ImageSize: 8, BaseChannels: 8, ChannelMultipliers: [1, 2], BlocksPerLevel: 1, AttentionResolutions: [], Dropout: 0, Groups: 4),
            Data: images, TimeSteps: 50, Steps: 2, BatchSize: 4, WarmupSteps: 1, SampleEvery: 0, SampleSteps: 5), ModelFile.Json));
        return preset;
    }
}
