using Ddim.Schedules;

namespace Ddim.Sampling;

/// <summary>Settings of a DDIM run. Validated by <see cref="Validate()"/>.</summary>
/// <param name="Eta">
/// η of eq. 16: σ = η·√((1−ᾱ_next)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_next). 0 is deterministic DDIM, 1 is DDPM's posterior
/// variance. Must lie in [0, 1].
/// </param>
/// <param name="ClipDenoised">Clamp x̂0 to [−1, 1] before it is used (on by default, as in the reference tutorial).</param>
/// <param name="RederiveNoise">
/// After clipping, recompute ε̂ = (x_t − √ᾱ_t·x̂0)/√(1−ᾱ_t) so the direction term agrees with the clipped x̂0 (as GLIDE
/// does; diffusers' <c>use_clipped_model_output</c>). On by default: each step is then DDIM of the clipped denoiser, and
/// η = 1 over all T steps is DDPM with clipping and variance β̃_t. False keeps the network's ε̂, as the reference tutorial
/// and diffusers do by default; the part of x̂0 clamped away then leaves a deterministic trajectory for good, the more so
/// the more steps (docs/results/trajectory-energy.md). No effect without clipping.
/// </param>
/// <param name="LargeVariance">
/// The paper's σ̂ variant ("DDPM large variance", Table 1): the mean of η = 1 with noise of standard deviation
/// σ̂ = √(1 − ᾱ_t/ᾱ_next), as in the paper's code. <paramref name="Eta"/> is ignored. No noise is added on the
/// final step to x̂0.
/// </param>
/// <param name="EtaBelow">
/// When set, η applies only to the steps that start below this timestep (t &lt; EtaBelow); the steps from
/// t ≥ EtaBelow are deterministic (σ = 0). Eq. 12 allows any σ per step; this choice shows where along the
/// trajectory fresh noise matters (docs/results/eta-regions.md). Null: η at every step.
/// </param>
/// <param name="EpsScale">
/// λ of Epsilon Scaling (Ning et al. 2024, "Elucidating the exposure bias in diffusion models"): the network's ε̂ is
/// divided by λ before the step, ε̂ ← ε_θ(x_t, t)/λ, at every step. λ slightly above 1 counters exposure bias, the
/// mismatch between the x_t a network was trained on and the x_t its own sampler feeds it; on the bundled MNIST model
/// λ slightly below 1 helps deterministic DDIM instead (docs/results/eps-scale.md). Not in the DDIM paper, and it
/// changes what eq. 12 is given, not eq. 12. Null (the default): ε̂ as the network gives it.
/// </param>
public sealed record DdimOptions(double Eta = 0.0, bool ClipDenoised = true, bool RederiveNoise = true, bool LargeVariance = false, int? EtaBelow = null, double? EpsScale = null)
{
    /// <summary>Deterministic DDIM with clipping (and ε̂ re-derived from the clipped x̂0): η = 0.</summary>
    public static DdimOptions Deterministic { get; } = new();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> with a clear message for a bad η, λ or <see cref="EtaBelow"/>.</summary>
    public void Validate()
    {
        if (double.IsNaN(Eta) || Eta < 0 || Eta > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Eta), Eta, $"η must be between 0 (deterministic DDIM) and 1 (DDPM-like); got {Eta}.");
        }

        if (EpsScale is { } lambda && !(lambda >= MinEpsScale && lambda <= MaxEpsScale))
        {
            throw new ArgumentOutOfRangeException(nameof(EpsScale), lambda, FormattableString.Invariant(
                $"EpsScale λ (--eps-scale) must lie in [{MinEpsScale}, {MaxEpsScale}] (ε̂ is divided by it; useful values lie within a few hundredths of 1, e.g. 0.97 or 1.005); got {lambda}."));
        }

        if (EtaBelow is { } below)
        {
            if (below < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(EtaBelow), below, $"EtaBelow (--eta-below) must be a timestep of at least 1; got {below}.");
            }

            if (LargeVariance || Eta == 0)
            {
                throw new ArgumentException($"EtaBelow (--eta-below) limits η to the low-noise steps, so it needs η > 0 and no LargeVariance (--large-variance) (η = {Eta}{(LargeVariance ? ", σ̂" : "")}).", nameof(EtaBelow));
            }
        }
    }

    /// <summary>
    /// As <see cref="Validate()"/>, and checks <see cref="EtaBelow"/> against the steps that will run: the final step goes
    /// to ᾱ = 1 and a step between two equal timesteps stays put, where σ = 0 whatever η, so a limit at or below the
    /// smallest timestep of any other step leaves no step with noise, a run that would be η = 0 under another name
    /// (ArgumentOutOfRangeException, saying what to change).
    /// </summary>
    public void Validate(Timetable timetable)
    {
        ArgumentNullException.ThrowIfNull(timetable);
        Validate();
        if (EtaBelow is not { } limit || LargeVariance || Eta == 0)
        {
            return;
        }

        // A step adds noise only when it starts below the limit and moves to a smaller, real timestep: the last step
        // goes to x̂0 (ᾱ = 1, σ = 0), and a step between two equal timesteps (quad's repeated small t) has σ = 0 too.
        var noisy = timetable.Pairs().Where(p => p.TNext >= 0 && p.TNext < p.T).Select(p => p.T).ToList();
        if (!noisy.Any(t => t < limit))
        {
            throw new ArgumentOutOfRangeException(nameof(EtaBelow), limit, timetable.Count < 2
                ? "EtaBelow (--eta-below) leaves no step with noise at S = 1: the one step goes to x̂0, which never adds noise. Take S ≥ 2, or leave out --eta-below."
                : noisy.Count == 0
                ? $"EtaBelow (--eta-below) leaves no step with noise: with S = {timetable.Count} every step goes to x̂0 or repeats its timestep, and neither adds noise. Take more steps, or leave out --eta-below."
                : $"EtaBelow (--eta-below) {limit} leaves no step with noise: the steps that start below t = {limit} go to x̂0 or repeat their timestep, and neither adds noise. Take --eta-below above {noisy.Min()} (the smallest timestep whose step adds noise), or leave out --eta-below and give --eta 0 for a deterministic run.");
        }
    }

    /// <summary>The options of the step that starts at timestep <paramref name="t"/>: deterministic at t ≥ <see cref="EtaBelow"/>.</summary>
    public DdimOptions At(int t) => EtaBelow is { } below && t >= below ? this with { Eta = 0, EtaBelow = null } : this;

    /// <summary>The smallest λ <see cref="EpsScale"/> takes.</summary>
    public const double MinEpsScale = 0.9;

    /// <summary>The largest λ <see cref="EpsScale"/> takes.</summary>
    public const double MaxEpsScale = 1.1;

    /// <summary>True when a step draws fresh noise.</summary>
    public bool IsStochastic => LargeVariance || Eta > 0;
}
