using System.ComponentModel;
using Ddim.Sampling;
using Ddim.Schedules;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>Options shared by every command that runs a sampler.</summary>
internal class SamplerSettingsBase : ModelSettingsBase
{
    /// <summary>S when --steps is left out.</summary>
    public const int DefaultSteps = 50;

    [CommandOption("--steps <S>")]
    [Description("DDIM steps S (1 … T). Default 50.")]
    public int? Steps { get; init; }

    [CommandOption("--eta <ETA>")]
    [Description("DDIM η in [[0, 1]]: 0 is deterministic, 1 is DDPM-like. Default 0.")]
    public double? Eta { get; init; }

    [CommandOption("--spacing <RULE>")]
    [Description("Timetable rule: seed, leading, trailing, linspace, uniform, quad. Default seed.")]
    public string? Spacing { get; init; }

    [CommandOption("--sampler <KIND>")]
    [Description("ddim (default) or ddpm (all T steps).")]
    public string? Sampler { get; init; }

    [CommandOption("--large-variance")]
    [Description("DDIM with the paper's σ̂ (DDPM's larger variance) in place of η: give no --eta with it.")]
    public bool LargeVariance { get; init; }

    [CommandOption("--no-clip")]
    [Description("Do not clamp x̂0 to [[-1, 1]] (clipping is on by default).")]
    public bool NoClip { get; init; }

    [CommandOption("--keep-noise")]
    [Description("DDIM: after clamping x̂0, keep the network's ε̂ in the direction term, as the reference tutorial and diffusers do. By default ε̂ is re-derived from the clamped x̂0, so each step is DDIM of the clipped denoiser and η = 1 over all T steps is clipped DDPM with variance β̃; keeping ε̂ drains an η = 0 trajectory, more so with more steps (docs/results/trajectory-energy.md).")]
    public bool KeepNoise { get; init; }

    [CommandOption("--rederive-noise")]
    [Description("DDIM: re-derive ε̂ from the clamped x̂0. The default now; accepted so that older DDIM commands still run.")]
    public bool RederiveNoise { get; init; }

    [CommandOption("--eta-below <T>")]
    [Description("DDIM: apply η only to the steps that start below timestep T; the steps from t ≥ T are deterministic (e.g. --eta 1 --eta-below 500). Shows where along the trajectory fresh noise matters.")]
    public int? EtaBelow { get; init; }

    [CommandOption("--eps-scale <LAMBDA>")]
    [Description("DDIM: divide the network's ε̂ by λ at every step (Epsilon Scaling, Ning et al. 2024), in [[0.9, 1.1]]. The paper uses λ a little above 1; on the bundled model λ below 1 helps η = 0 instead, most at S = 10 (e.g. 0.97; docs/results/eps-scale.md). Not part of DDIM; off by default.")]
    public double? EpsScale { get; init; }

    [CommandOption("--seed <SEED>")]
    [Description("Random seed; the same seed gives the same images. Default 0.")]
    public long? Seed { get; init; }

    [CommandOption("--device <DEVICE>")]
    [Description(DeviceOption.Description + " x_T and the noise are drawn on the CPU either way, so a seed gives the same draws; the network's arithmetic may differ in the last bits.")]
    public string Device { get; init; } = "cpu";

    [CommandOption("--batch-size <N>")]
    [Description("Images per batch (memory use); results do not depend on it. Default 64.")]
    public int BatchSize { get; init; } = 64;

    /// <summary>The --device to sample on; a clear error when it is unknown or CUDA is missing.</summary>
    public TorchSharp.torch.Device ParseDevice() => DeviceOption.Parse(Device);

    public SampleSettings ToSampleSettings()
    {
        var sampler = (Sampler ?? "ddim").ToLowerInvariant() switch
        {
            "ddim" => SamplerKind.Ddim,
            "ddpm" => SamplerKind.Ddpm,
            _ => throw new ArgumentException($"Unknown --sampler '{Sampler}'; use ddim or ddpm."),
        };
        var spacing = ParseSpacing();
        if (KeepNoise && RederiveNoise)
        {
            throw new ArgumentException("--keep-noise and --rederive-noise contradict each other; give one (re-deriving is the default).");
        }

        if (BatchSize < 1)
        {
            throw new ArgumentException($"--batch-size must be at least 1; got {BatchSize}.");
        }

        if (Seed < 0)
        {
            // --seeds refuses negative seeds too: one rule for both.
            throw new ArgumentException($"--seed takes 0 or more; got {Seed}.");
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

        return new SampleSettings(sampler, Steps ?? DefaultSteps, Eta ?? 0, spacing, !NoClip, LargeVariance, RederiveNoise: !KeepNoise, EtaBelow: EtaBelow, EpsScale: EpsScale);
    }

    /// <summary>
    /// Refuses the sampler options of a command that decodes with deterministic DDIM at --steps and --spacing (rather
    /// than ignoring the others): <paramref name="what"/> says what the command does instead. <paramref name="clipping"/>:
    /// whether it clips x̂0 (so --no-clip, --keep-noise and --rederive-noise apply); <paramref name="seed"/>: whether it
    /// draws from --seed.
    /// </summary>
    public void RefuseUnused(string what, bool clipping, bool seed) => RefuseAllBut(what, clipping, seed, "--steps", "--spacing");

    /// <summary>
    /// Refuses --sampler and every sampler option but <paramref name="kept"/> (and the clipping and --seed choices, as
    /// <see cref="RefuseUnused"/> describes): one list of options serves every mode that sets some of them itself.
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
        (!seed && Seed is not null, "--seed"),
    ];

    private Spacing ParseSpacing() =>
        Spacing is null ? Schedules.Spacing.Seed
        : Enum.TryParse<Spacing>(Spacing, ignoreCase: true, out var spacing) && !int.TryParse(Spacing, out _)
            ? spacing
            : throw new ArgumentException($"Unknown --spacing '{Spacing}'; use one of {string.Join(", ", Enum.GetNames<Spacing>().Select(n => n.ToLowerInvariant()))}.");

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
