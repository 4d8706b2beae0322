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
        [Description("A training checkpoint (runs/NAME/checkpoint.ddim).")]
        public string Checkpoint { get; init; } = "runs/mnist/checkpoint.ddim";

        [CommandOption("--out <FILE>")]
        [Description("Where to write the model file.")]
        public string Out { get; init; } = "models/mnist.ddim";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var file = ModelFile.Load(settings.Checkpoint);
        if (file.Metadata["kind"]?.GetValue<string>() != "checkpoint")
        {
            throw new InvalidDataException($"{settings.Checkpoint} is not a training checkpoint.");
        }

        var config = file.Metadata["train"].Deserialize<TrainConfig>(ModelFile.Json)!;
        using var ema = new UNet(config.Model);
        ModelFile.Deserialize(ema, file.Sections["ema"], "checkpoint's EMA");
        var step = file.Metadata["step"]!.GetValue<long>();
        Trainer.ExportModel(settings.Out, config, file.Metadata["data_sha256"]!.GetValue<string>(), file.Metadata["init_from_sha256"]?.GetValue<string>(), step, ema, file.Schedule, config.Data);
        AnsiConsole.MarkupLine($"Exported the EMA weights at step {step} to [green]{Markup.Escape(settings.Out)}[/].");
        return 0;
    }
}
