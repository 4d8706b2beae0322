using System.ComponentModel;
using System.Globalization;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>`ddim invert`: reconstruct at one S (--steps), or at several (--steps-list).</summary>
internal sealed class InvertCommand : Command<InvertCommand.Settings>
{
    /// <summary>reconstruct's options and --steps.</summary>
    public sealed class Settings : ReconstructCommand.Settings
    {
        [CommandOption("--steps <S>")]
        [Description("DDIM steps S (1 … T; S = 1 only with --spacing seed or trailing, and uniform only at an S it runs exactly) of the inversion and the decoding. Default 50.")]
        public int? Steps { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Steps is not null && s.StepsList is not null)
        {
            throw new ArgumentException("Give --steps (one S) or --steps-list (several), not both.");
        }

        return ReconstructCommand.Run(s, (s.Steps ?? DecodeSettingsBase.DefaultSteps).ToString(CultureInfo.InvariantCulture), fromSteps: true);
    }
}
