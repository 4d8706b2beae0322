using System.ComponentModel;
using Ddim.Sampling;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>
/// Options of every command that runs one DDIM timetable: the step count, beside the timetable rule, the device and
/// the batch size. invert (deterministic DDIM, unclipped) takes these alone; the classes derived from it add the
/// options their commands take, so a command's --help lists just those.
/// </summary>
internal class DecodeSettingsBase : TimetableSettingsBase
{
    /// <summary>S when --steps is left out.</summary>
    public const int DefaultSteps = 50;

    [CommandOption("--steps <S>")]
    [Description("DDIM steps S (1 … T). Default 50.")]
    public int? Steps { get; init; }

    /// <summary>
    /// The sampler settings these options give: deterministic DDIM at --steps and --spacing, without clipping (what
    /// invert runs). A clear error for an unknown --spacing or a --batch-size below 1.
    /// </summary>
    public virtual SampleSettings ToSampleSettings() =>
        new(SamplerKind.Ddim, Steps ?? DefaultSteps, Eta: 0, ParseTimetableOptions(), Clip: false);
}
