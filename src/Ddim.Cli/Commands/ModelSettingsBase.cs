using System.ComponentModel;
using Ddim.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>Options shared by every command that loads a diffusion model: which file, how many CPU threads, and the network's number format.</summary>
internal class ModelSettingsBase : CommandSettings
{
    [CommandOption("--model <FILE>")]
    [Description("Model file (.ddim). Default: the bundled models/mnist.ddim.")]
    public string? Model { get; init; }

    [CommandOption("--threads <N>")]
    [Description(ThreadsOption.Description)]
    public int? Threads { get; init; }

    [CommandOption("--precision <FORMAT>")]
    [Description(PrecisionOption.Description)]
    public string? Precision { get; init; }

    /// <summary>
    /// The --precision to run the network in on <paramref name="device"/>: a clear error for an unknown format, and a
    /// warning where bfloat16 would run without native support (emulated, likely slower than float32).
    /// </summary>
    public NetworkPrecision ParsePrecision(TorchSharp.torch.Device device)
    {
        var precision = PrecisionOption.Parse(Precision);
        if (precision == NetworkPrecision.BFloat16 && NetworkPrecisions.BFloat16Hint(device) is { Length: > 0 } hint)
        {
            AnsiConsole.MarkupLine($"[yellow]warning:[/] --precision bf16:{Markup.Escape(hint)}");
        }

        return precision;
    }
}
