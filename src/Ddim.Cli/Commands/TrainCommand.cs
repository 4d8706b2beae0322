using System.ComponentModel;
using Ddim.Data;
using Ddim.Models;
using Ddim.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

internal sealed class TrainCommand : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--preset <FILE>")]
        [Description("Training configuration (JSON). Default presets/mnist.json.")]
        public string Preset { get; init; } = "presets/mnist.json";

        [CommandOption("-o|--out <DIR>")]
        [Description("Run folder: checkpoint.ddim (and checkpoint.prev.ddim, the one before it), loss.jsonl, samples/, model.ddim. Default runs/mnist.")]
        public string Out { get; init; } = "runs/mnist";

        [CommandOption("--data <NAME|DIR>")]
        [Description("Override the preset's data: mnist, fashion-mnist, or a folder of same-size PNGs.")]
        public string? Data { get; init; }

        [CommandOption("--data-dir <DIR>")]
        [Description(DataDirOption.Description)]
        public string? DataDir { get; init; }

        [CommandOption("--steps <N>")]
        [Description("Override the preset's total number of steps (with CosineDecayFrom, this also moves the end of the decay; on a resume after the decay has begun, the decay is re-planned: the learning rate falls from the one it has reached to 0 at the new end, and the checkpoint records where).")]
        public int? Steps { get; init; }

        [CommandOption("--init-from <FILE>")]
        [Description("Start a new run from the weights of a checkpoint or .ddim model (overrides the preset's InitFrom): step 0, a fresh optimiser, the preset's own warm-up and decay.")]
        public string? InitFrom { get; init; }

        [CommandOption("--precision <FORMAT>")]
        [Description("Override the preset's Precision: fp32, or bf16 (mixed precision: 1.5–1.7× faster here, on a CPU with native bfloat16, slower on others). A resume must keep the run's own.")]
        public string? Precision { get; init; }

        [CommandOption("--resume")]
        [Description("Continue exactly from the run folder's checkpoint.")]
        public bool Resume { get; init; }

        [CommandOption("--device <DEVICE>")]
        [Description(DeviceOption.Description)]
        public string Device { get; init; } = "cpu";

        [CommandOption("--threads <N>")]
        [Description(ThreadsOption.Description)]
        public int? Threads { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var device = DeviceOption.Parse(settings.Device);
        ThreadsOption.Apply(settings.Threads);

        if (!File.Exists(settings.Preset))
        {
            throw new FileNotFoundException($"Preset {settings.Preset} not found. Pass --preset with a JSON training configuration (see presets/).");
        }

        var config = TrainConfig.Load(settings.Preset);

        config = config with
        {
            Data = settings.Data ?? config.Data,
            Steps = settings.Steps ?? config.Steps,
            InitFrom = settings.InitFrom ?? config.InitFrom,
            Precision = settings.Precision is { } p ? PrecisionOption.Parse(p) : config.Precision,
        };
        void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");

        // A resume continues the saved run, with its Steps (a --steps override may have set them) unless --steps is given again.
        if (settings.Resume && settings.Steps is null && SavedSteps(settings.Out) is { } savedSteps && savedSteps != config.Steps)
        {
            Log($"Resuming with Steps = {savedSteps:N0}, as saved in the checkpoint (the preset says {config.Steps:N0}; give --steps to change it).");
            config = config with { Steps = savedSteps };
        }

        config.Validate(); // before any data is fetched or loaded; the trainer checks again, for callers of the library
        OutputPaths.RequireWritableFolder(settings.Out, create: false);
        Trainer.RequireRunFolder(settings.Out, settings.Resume); // before the data, which a fresh machine would download first
        var data = ImageFolder.Resolve(config.Data, settings.DataDir, Log, greyWhenChannelsEqual: config.Model.ImageChannels == 1);

        using var stop = new GracefulStop(cancellationToken, "the step in progress is done and the checkpoint saved");

        TrainResult result;
        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            result = AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: config.Steps);
                    return Trainer.Run(config, data, settings.Out, settings.Resume, p =>
                    {
                        task.Value = p.Step;
                        task.Description = $"step {p.Step}/{p.TotalSteps} step loss {p.Loss:F4} {p.ImagesPerSecond:F0} img/s";
                    }, Log, device, stop.Token);
                });
        }
        else
        {
            var started = DateTime.UtcNow;
            result = Trainer.Run(config, data, settings.Out, settings.Resume, p =>
            {
                if (p.Step % config.LogEvery == 0)
                {
                    var left = TimeSpan.FromSeconds((p.TotalSteps - p.Step) * config.BatchSize / Math.Max(p.ImagesPerSecond, 1e-9));
                    Console.WriteLine($"step {p.Step}/{p.TotalSteps} this step's loss {p.Loss:F4} (loss.jsonl logs the mean of {config.LogEvery} steps) lr {p.LearningRate:G3} {p.ImagesPerSecond:F1} img/s ETA {Durations.Clock(left)}");
                }
            }, Log, device, stop.Token);
        }

        // The trainer's last log line says where the model or the checkpoint went.
        return result.Completed ? 0 : 130;
    }

    /// <summary>The Steps a run folder's checkpoint was saved with, or null when there is none to read (the trainer then says why).</summary>
    private static int? SavedSteps(string runFolder)
    {
        var path = Path.Combine(runFolder, Trainer.CheckpointFile);
        try
        {
            return File.Exists(path) ? ModelFile.ReadMetadata(path)["train"]?["Steps"]?.GetValue<int>() : null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
