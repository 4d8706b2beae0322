using System.ComponentModel;
using Ddim.Sampling;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>
/// Options of every command that samples along one DDIM timetable: the step count, beside the timetable rule, the
/// device and the batch size. The classes derived from it add the options their commands take (clipping, then the
/// stochastic sampler's), so a command's --help lists just those.
/// </summary>
internal class DecodeSettingsBase : TimetableSettingsBase
{
    /// <summary>S when --steps is left out.</summary>
    public const int DefaultSteps = 50;

    [CommandOption("--steps <S>")]
    [Description("DDIM steps S (1 … T; S = 1 only with --spacing seed or trailing, and uniform only at an S it runs exactly). Default 50.")]
    public int? Steps { get; init; }

    /// <summary>
    /// The sampler settings these options give: deterministic DDIM at --steps and --spacing, without clipping (derived
    /// classes add clipping and the rest). A clear error for an unknown --spacing or a --batch-size outside 1 … 2^20.
    /// </summary>
    public virtual SampleSettings ToSampleSettings() =>
        new(SamplerKind.Ddim, Steps ?? DefaultSteps, Eta: 0, ParseTimetableOptions(), Clip: false);
}
