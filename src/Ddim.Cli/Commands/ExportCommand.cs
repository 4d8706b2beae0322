using System.ComponentModel;
using System.Text.Json;
using Ddim.Models;
using Ddim.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

internal sealed class ExportCommand : Command<ExportCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--checkpoint <FILE>")]
        [Description("A training checkpoint (runs/NAME/checkpoint.ddim). Default runs/mnist/checkpoint.ddim.")]
        public string Checkpoint { get; init; } = "runs/mnist/checkpoint.ddim";

        [CommandOption("-o|--out <FILE.ddim>")]
        [Description("Where to write the model file (required: the bundled models/mnist.ddim is replaced only when you name it).")]
        public string? Out { get; init; }

        [CommandOption("--weights <WHICH>")]
        [Description("ema (default: the averaged weights that sampling uses) or raw (the optimiser's own weights at that step, to compare).")]
        public string Weights { get; init; } = "ema";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var raw = settings.Weights.ToLowerInvariant() switch
        {
            "ema" => false,
            "raw" => true,
            _ => throw new ArgumentException($"Unknown --weights '{settings.Weights}'; use ema or raw."),
        };
        var output = OutputPaths.RequireDdimOut(settings.Out, "the model", "runs/mnist/model.ddim", BundledModels.MnistPath);
        if (!File.Exists(settings.Checkpoint))
        {
            throw new FileNotFoundException($"Checkpoint not found: {settings.Checkpoint}. Pass --checkpoint with the checkpoint.ddim that 'ddim train --out DIR' wrote in DIR.", settings.Checkpoint);
        }

        // Windows' and macOS's usual file systems ignore case: Checkpoint.ddim is checkpoint.ddim there.
        var pathComparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (string.Equals(Path.GetFullPath(output), Path.GetFullPath(settings.Checkpoint), pathComparison))
        {
            throw new ArgumentException($"--out {settings.Out} is the checkpoint itself: the model would replace it, and the run could not be resumed. Choose another --out, e.g. {Path.Combine(Path.GetDirectoryName(settings.Checkpoint) is { Length: > 0 } d ? d : ".", "model.ddim")}.");
        }

        var file = ModelFile.Load(settings.Checkpoint);
        if (file.Metadata["kind"]?.GetValue<string>() != "checkpoint")
        {
            throw new InvalidDataException(file.Metadata["kind"]?.GetValue<string>() switch
            {
                "model" => $"{settings.Checkpoint} is already a model, not a training checkpoint: it needs no export, and sample, eval and the other commands take it as --model.",
                Ddim.Evaluation.Judge.FileKind => $"{settings.Checkpoint} is a judge (ddim train-classifier), not a training checkpoint: export takes a run's checkpoint.ddim (ddim train --out DIR writes DIR/checkpoint.ddim).",
                var kind => $"{settings.Checkpoint} is not a training checkpoint (its kind is '{kind ?? "none"}'): export takes a run's checkpoint.ddim (ddim train --out DIR writes DIR/checkpoint.ddim).",
            });
        }

        file.RequireKnownNetworkSettings(settings.Checkpoint); // read leniently below, the network's shape would drop a newer setting unseen
        var config = file.Metadata["train"].Deserialize<TrainConfig>(ModelFile.Json)!;
        using var weights = new UNet(config.Model);
        ModelFile.Deserialize(weights, file.Sections[raw ? "model" : "ema"], raw ? "checkpoint's model" : "checkpoint's EMA");
        var step = file.Metadata["step"]!.GetValue<long>();
        Trainer.ExportModel(output, config, file.Metadata["data_sha256"]!.GetValue<string>(), file.Metadata["init_from_sha256"]?.GetValue<string>(), step, weights, file.Schedule, Provenance.TrainedOn(file) ?? config.Data, raw);
        AnsiConsole.MarkupLine($"Exported the {(raw ? "raw" : "EMA")} weights at step {step} to [green]{Markup.Escape(output)}[/].");
        return 0;
    }
}
