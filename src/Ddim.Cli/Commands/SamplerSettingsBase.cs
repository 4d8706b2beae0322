using System.ComponentModel;
using Ddim.Sampling;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>
/// Options of the commands that run any sampler (sample and eval): the decoding and clipping options, plus η, the
/// sampler kind, DDPM's variance, σ̂, where η applies, ε̂ scaling and the seed.
/// </summary>
internal class SamplerSettingsBase : ClippedDecodeSettingsBase
{
    [CommandOption("--eta <ETA>")]
    [Description("DDIM η in [[0, 1]]: 0 is deterministic, 1 is DDPM-like. Default 0.")]
    public double? Eta { get; init; }

    [CommandOption("--sampler <KIND>")]
    [Description("ddim (default) or ddpm (all T steps).")]
    public string? Sampler { get; init; }

    [CommandOption("--ddpm-variance <NAME>")]
    [Description("With --sampler ddpm, its σ_t²: beta (β_t, the DDPM paper's default) or posterior (β̃_t, the true posterior variance; DDIM with η = 1 over all T steps is DDPM with this one).")]
    public string? DdpmVariance { get; init; }

    [CommandOption("--large-variance")]
    [Description("DDIM with the paper's σ̂ (DDPM's larger variance) in place of η: give no --eta with it.")]
    public bool LargeVariance { get; init; }

    [CommandOption("--eta-below <T>")]
    [Description("DDIM: apply η only to the steps that start below timestep T; the steps from t ≥ T are deterministic (e.g. --eta 1 --eta-below 500). The final step, to x̂0, never adds noise (nor does a step between two equal timesteps, as quad repeats them), so T must lie above the smallest timestep of a step that does. Shows where along the trajectory fresh noise matters.")]
    public int? EtaBelow { get; init; }

    [CommandOption("--eps-scale <LAMBDA>")]
    [Description("DDIM: divide the network's ε̂ by λ at every step (Epsilon Scaling, Ning et al. 2024), in [[0.9, 1.1]]. The paper uses λ a little above 1; on the bundled model λ below 1 helps η = 0 instead, most at S = 10 (e.g. 0.97; docs/results/eps-scale.md). Not part of DDIM; off by default.")]
    public double? EpsScale { get; init; }

    [CommandOption("--seed <SEED>")]
    [Description("Random seed; the same seed gives the same images. Default 0.")]
    public long? Seed { get; init; }

    /// <summary>The sampler these options describe; a clear error for an unknown value or options that contradict.</summary>
    public override SampleSettings ToSampleSettings()
    {
        var sampler = (Sampler ?? "ddim").ToLowerInvariant() switch
        {
            "ddim" => SamplerKind.Ddim,
            "ddpm" => SamplerKind.Ddpm,
            _ => throw new ArgumentException($"Unknown --sampler '{Sampler}'; use ddim or ddpm."),
        };
        var variance = (DdpmVariance ?? "beta").ToLowerInvariant() switch
        {
            "beta" => Ddim.Sampling.DdpmVariance.Beta,
            "posterior" => Ddim.Sampling.DdpmVariance.Posterior,
            _ => throw new ArgumentException($"Unknown --ddpm-variance '{DdpmVariance}'; use beta or posterior."),
        };
        if (DdpmVariance is not null && sampler != SamplerKind.Ddpm)
        {
            throw new ArgumentException("--ddpm-variance sets the variance of --sampler ddpm (DDIM's noise is set by --eta or --large-variance): give it with --sampler ddpm, or leave it out.");
        }

        var settings = base.ToSampleSettings();
        if (Seed is { } seed)
        {
            SeedOption.Require(seed); // --seeds refuses negative seeds too: one rule for both
        }

        if (sampler == SamplerKind.Ddpm)
        {
            // DDPM clips x̂0 too (--no-clip applies), but has no step count, η, timetable or ε̂ choice.
            Refuse("--sampler ddpm runs all T steps with fresh noise at each", SamplerOptions(clipApplies: true, noiseChoiceApplies: false));
        }

        if (LargeVariance && Eta is not null)
        {
            throw new ArgumentException("--large-variance draws the noise with the paper's σ̂, so --eta does not apply: leave it out.");
        }

        return settings with { Sampler = sampler, Eta = Eta ?? 0, LargeVariance = LargeVariance, EtaBelow = EtaBelow, EpsScale = EpsScale, DdpmVariance = variance };
    }

    /// <summary>
    /// Refuses --sampler and every sampler option but <paramref name="kept"/>, for a mode that sets the sampler itself
    /// (rather than ignoring the options): <paramref name="what"/> says what it does instead. <paramref name="clipping"/>:
    /// whether the mode clips x̂0 (so --no-clip, --keep-noise and --rederive-noise apply); <paramref name="seed"/>:
    /// whether it draws from --seed. One list of options serves every such mode.
    /// </summary>
    public void RefuseAllBut(string what, bool clipping, bool seed, params string[] kept) => Refuse(what, OptionsGiven(clipping, seed, kept));

    /// <summary>
    /// --sampler and every sampler option but <paramref name="kept"/>, each with whether it was given, for
    /// <see cref="Refuse"/>: <see cref="RefuseAllBut"/>'s list, for a caller that refuses options of its own beside them.
    /// </summary>
    public (bool Given, string Name)[] OptionsGiven(bool clipping, bool seed, params string[] kept) =>
    [
        (Sampler is not null, "--sampler"),
        .. SamplerOptions(clipping, clipping).Where(o => !kept.Contains(o.Name)),
        (DdpmVariance is not null && !kept.Contains("--ddpm-variance"), "--ddpm-variance"),
        (!seed && Seed is not null, "--seed"),
    ];

    /// <summary>
    /// Each sampler option with whether it was given at all: one that does not apply is refused even at its default
    /// value (`--sampler ddpm --eta 0` is as contradictory as `--eta 1`). --no-clip counts only where
    /// <paramref name="clipApplies"/> is false, and the ε̂ choice (--keep-noise, --rederive-noise) only where
    /// <paramref name="noiseChoiceApplies"/> is false.
    /// </summary>
    private (bool Given, string Name)[] SamplerOptions(bool clipApplies, bool noiseChoiceApplies) =>
    [
        (Steps is not null, "--steps"),
        (Eta is not null, "--eta"),
        (Spacing is not null, "--spacing"),
        (LargeVariance, "--large-variance"),
        (EtaBelow is not null, "--eta-below"),
        (EpsScale is not null, "--eps-scale"),
        (!clipApplies && NoClip, "--no-clip"),
        (!noiseChoiceApplies && KeepNoise, "--keep-noise"),
        (!noiseChoiceApplies && RederiveNoise, "--rederive-noise"),
    ];

    /// <summary>
    /// Throws when any of <paramref name="options"/> was given: "<paramref name="what"/>, so --x does not apply: leave it
    /// out." Each option comes with whether it was given, so a caller lists the options a mode does not use in one place.
    /// </summary>
    public static void Refuse(string what, params (bool Given, string Name)[] options)
    {
        var given = options.Where(o => o.Given).Select(o => o.Name).ToList();
        if (given.Count > 0)
        {
            throw new ArgumentException($"{what}, so {string.Join(", ", given)} {(given.Count == 1 ? "does" : "do")} not apply: leave {(given.Count == 1 ? "it" : "them")} out.");
        }
    }
}
