using System.ComponentModel;
using Ddim.Sampling;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>
/// The decoding options plus clipping: whether x̂0 is clamped to [-1, 1], and whether ε̂ is then re-derived from it.
/// interpolate takes these alone; sample and eval add the stochastic sampler's options.
/// </summary>
internal class ClippedDecodeSettingsBase : DecodeSettingsBase
{
    [CommandOption("--no-clip")]
    [Description("Do not clamp x̂0 to [[-1, 1]] (clipping is on by default).")]
    public bool NoClip { get; init; }

    [CommandOption("--keep-noise")]
    [Description("DDIM: after clamping x̂0, keep the network's ε̂ in the direction term, as the reference tutorial and diffusers do. By default ε̂ is re-derived from the clamped x̂0, so each step is DDIM of the clipped denoiser and η = 1 over all T steps is clipped DDPM with variance β̃; keeping ε̂ drains an η = 0 trajectory, more so with more steps (docs/results/trajectory-energy.md).")]
    public bool KeepNoise { get; init; }

    [CommandOption("--rederive-noise")]
    [Description("DDIM: re-derive ε̂ from the clamped x̂0. The default now; accepted so that older DDIM commands still run.")]
    public bool RederiveNoise { get; init; }

    /// <summary>Deterministic DDIM at --steps and --spacing, clipped unless --no-clip, with the ε̂ choice applied.</summary>
    public override SampleSettings ToSampleSettings()
    {
        var settings = base.ToSampleSettings();
        if (KeepNoise && RederiveNoise)
        {
            throw new ArgumentException("--keep-noise and --rederive-noise contradict each other; give one (re-deriving is the default).");
        }

        if (NoClip && (KeepNoise || RederiveNoise))
        {
            throw new ArgumentException($"{(KeepNoise ? "--keep-noise" : "--rederive-noise")} chooses the ε̂ used after x̂0 is clamped, and --no-clip leaves x̂0 unclamped, so it does not apply: give one of them.");
        }

        return settings with { Clip = !NoClip, RederiveNoise = !KeepNoise };
    }
}
