using System.ComponentModel;
using Ddim.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

internal sealed class DataFetchCommand : Command<DataFetchCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<NAME>")]
        [Description("mnist or fashion-mnist.")]
        public string Name { get; init; } = "mnist";

        [CommandOption("--data-dir <DIR>")]
        [Description(DataDirOption.Description)]
        public string? DataDir { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // No write check here: a read-only folder that already holds the verified files is fine (Ensure checks when it must write).
        var source = DatasetFetcher.Find(settings.Name);
        var folder = DatasetFetcher.Ensure(source, settings.DataDir, m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"));
        AnsiConsole.MarkupLine($"[green]{source.Name}[/] verified (SHA-256) in {Markup.Escape(folder)}");
        return 0;
    }
}
