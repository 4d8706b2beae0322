using System.Text.Json.Serialization;
using Ddim.Schedules;

namespace Ddim.Sampling;

/// <summary>Which reverse process generates the images.</summary>
public enum SamplerKind
{
    /// <summary>DDIM over a short timetable (eq. 12).</summary>
    Ddim,

    /// <summary>
    /// DDPM ancestral sampling over all T steps: with <see cref="SampleSettings.Clip"/> (the default) the clipped
    /// posterior-mean form of Ho et al.'s code, without it Algorithm 2 as printed (<see cref="DdpmOptions.ClipDenoised"/>).
    /// </summary>
    Ddpm,
}

/// <summary>A user's sampling choices, validated with clear messages.</summary>
/// <param name="Sampler">DDIM or DDPM.</param>
/// <param name="Steps">S, DDIM's number of steps (ignored by DDPM, which always runs T).</param>
/// <param name="Eta">DDIM's η in [0, 1].</param>
/// <param name="Spacing">How DDIM picks its S timesteps.</param>
/// <param name="Clip">Clamp x̂0 to [−1, 1] (for DDPM too, whose own <see cref="DdpmOptions"/> default is off). With it the
/// images come out in [−1, 1]; without it they can stray outside.</param>
/// <param name="LargeVariance">DDIM with the paper's σ̂ (η is then ignored).</param>
/// <param name="DdpmVariance">DDPM's σ_t²: β_t or β̃_t.</param>
/// <param name="RederiveNoise">DDIM with clipping: recompute ε̂ from the clipped x̂0 (the default; <see cref="DdimOptions.RederiveNoise"/>). False keeps the network's ε̂, as the reference tutorial does.</param>
/// <param name="EtaBelow">DDIM: η only at steps from t &lt; EtaBelow, deterministic above (<see cref="DdimOptions.EtaBelow"/>).</param>
/// <param name="EpsScale">DDIM: divide ε̂ by this λ at every step (<see cref="DdimOptions.EpsScale"/>); null leaves ε̂ as it is.</param>
public sealed record SampleSettings(
    SamplerKind Sampler = SamplerKind.Ddim,
    int Steps = 50,
    double Eta = 0.0,
    Spacing Spacing = Spacing.Seed,
    bool Clip = true,
    bool LargeVariance = false,
    DdpmVariance DdpmVariance = DdpmVariance.Beta,
    bool RederiveNoise = true,
    int? EtaBelow = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] // absent when off: older score files and cell names stay as they were
    double? EpsScale = null)
{
    /// <summary>True when runs draw fresh noise at each step (so the result depends on the seed beyond x_T).</summary>
    public bool IsStochastic => Sampler == SamplerKind.Ddpm || LargeVariance || Eta > 0;

    /// <summary>Network calls per image.</summary>
    public int NetworkCalls(NoiseSchedule schedule) => Sampler == SamplerKind.Ddpm ? schedule.T : Timetable(schedule).Count;

    /// <summary>The DDIM timetable for a schedule.</summary>
    public Timetable Timetable(NoiseSchedule schedule) => Schedules.Timetable.Create(Spacing, schedule.T, Steps);

    /// <summary>Checks the settings against a schedule; throws <see cref="ArgumentException"/> saying what to change.</summary>
    public void Validate(NoiseSchedule schedule)
    {
        if (Sampler == SamplerKind.Ddim && (Steps < 1 || Steps > schedule.T))
        {
            throw new ArgumentOutOfRangeException(nameof(Steps), Steps, $"Steps (--steps) must be between 1 and T = {schedule.T} for this model; got {Steps}.");
        }

        if (EtaBelow is { } below && (Sampler != SamplerKind.Ddim || below > schedule.T))
        {
            throw new ArgumentOutOfRangeException(nameof(EtaBelow), below, Sampler != SamplerKind.Ddim
                ? "EtaBelow (--eta-below) is a DDIM option; DDPM is stochastic at every step."
                : $"EtaBelow (--eta-below) must be between 1 and T = {schedule.T} for this model; got {below}.");
        }

        if (EpsScale is not null && Sampler != SamplerKind.Ddim)
        {
            throw new ArgumentException("EpsScale (--eps-scale) is a DDIM option.", nameof(EpsScale));
        }

        // A setting the chosen sampler ignores would make two labels and two cell names for one run: refused, not ignored.
        if (Sampler == SamplerKind.Ddpm && (Eta != 0 || LargeVariance || Spacing != Spacing.Seed))
        {
            string[] given = [.. new[] { Eta != 0 ? $"Eta (--eta) {Eta}" : null, LargeVariance ? "LargeVariance (--large-variance)" : null, Spacing != Spacing.Seed ? $"Spacing (--spacing) {Spacing}" : null }.OfType<string>()];
            throw new ArgumentException($"{string.Join(", ", given)}: DDIM settings, which DDPM would ignore (it runs all T steps with its own variance, DdpmVariance). Leave them at their defaults.", nameof(Sampler));
        }

        if (Sampler == SamplerKind.Ddim && DdpmVariance != DdpmVariance.Beta)
        {
            throw new ArgumentException($"DdpmVariance is a DDPM setting (got {DdpmVariance}); DDIM's noise is set by Eta or LargeVariance. Leave it at Beta.", nameof(DdpmVariance));
        }

        if (Sampler == SamplerKind.Ddim)
        {
            Schedules.Timetable.RequireExactSteps(Spacing, schedule.T, Steps); // S = 1 from t = 0, uniform overrunning S
            DdimOptions.Validate(Timetable(schedule)); // with the timetable: an --eta-below that leaves no noisy step is refused
        }
        else
        {
            DdimOptions.Validate();
        }
    }

    /// <summary>
    /// The same settings with <see cref="RederiveNoise"/> false where it changes nothing (DDPM, or DDIM without
    /// clipping) and DDPM's ignored <see cref="Steps"/> at its default, so that two spellings of one configuration
    /// compare equal (the sweep's cell store keys on this).
    /// </summary>
    public SampleSettings ToCanonical()
    {
        var canonical = NoiseChoiceMatters || !RederiveNoise ? this : this with { RederiveNoise = false };
        // DDPM runs all T steps whatever Steps says: one step count (the default, which every saved DDPM cell has).
        return Sampler == SamplerKind.Ddpm && Steps != Default.Steps ? canonical with { Steps = Default.Steps } : canonical;
    }

    private static readonly SampleSettings Default = new();

    /// <summary>True when <see cref="RederiveNoise"/> matters: DDIM with clipping.</summary>
    private bool NoiseChoiceMatters => Sampler == SamplerKind.Ddim && Clip;

    /// <summary>The DDIM options these settings ask for.</summary>
    public DdimOptions DdimOptions => new(Eta, Clip, RederiveNoise, LargeVariance, EtaBelow, EpsScale);

    /// <summary>
    /// A short human-readable label, e.g. "DDIM S=50 η=0", with any non-default choices in brackets. Before re-derived
    /// ε̂ became the default, a clipped DDIM label without brackets meant the kept ε̂ and the other form was marked
    /// "(re-derived ε̂)": read the scores in docs/results made then that way.
    /// </summary>
    public override string ToString()
    {
        var label = Sampler == SamplerKind.Ddpm
            ? $"DDPM T ({DdpmVariance})"
            : LargeVariance ? $"DDIM S={Steps} σ̂" : $"DDIM S={Steps} η={Eta.ToString("0.###############", System.Globalization.CultureInfo.InvariantCulture)}";
        var extras = new List<string>();
        if (Sampler == SamplerKind.Ddim && Spacing != Spacing.Seed)
        {
            extras.Add($"{Spacing.ToString().ToLowerInvariant()} spacing");
        }

        if (!Clip)
        {
            extras.Add("no clip");
        }

        if (NoiseChoiceMatters && !RederiveNoise)
        {
            extras.Add("kept ε̂");
        }

        if (Sampler == SamplerKind.Ddim && EtaBelow is { } below)
        {
            extras.Add($"η only below t={below}");
        }

        if (Sampler == SamplerKind.Ddim && EpsScale is { } lambda)
        {
            extras.Add(FormattableString.Invariant($"ε̂/{lambda:0.####}"));
        }

        return extras.Count == 0 ? label : $"{label} ({string.Join(", ", extras)})";
    }
}
