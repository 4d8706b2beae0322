using System.ComponentModel;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>Options shared by every command that loads a diffusion model: which file, and how many CPU threads.</summary>
internal class ModelSettingsBase : CommandSettings
{
    [CommandOption("--model <FILE>")]
    [Description("Model file (.ddim). Default: the bundled models/mnist.ddim.")]
    public string? Model { get; init; }

    [CommandOption("--threads <N>")]
    [Description(ThreadsOption.Description)]
    public int? Threads { get; init; }
}
