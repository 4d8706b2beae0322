using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>
/// DDIM (Song, Meng &amp; Ermon 2020): the generalised, non-Markovian sampler of eq. 12 over a timetable τ.
/// Stateless: every input is an argument.
/// </summary>
public static class DdimSampler
{
    /// <summary>
    /// σ_τi of eq. 16: η·√((1−ᾱ_next)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_next); 0 for the step to x̂0 (ᾱ_next = 1) whatever η. A
    /// stochastic step from ᾱ_t = 1 (x_0 itself) has no σ: ArgumentOutOfRangeException.
    /// </summary>
    public static double Sigma(double alphaBarT, double alphaBarNext, double eta)
    {
        if (eta == 0 || alphaBarNext >= 1)
        {
            return 0.0;
        }

        if (alphaBarT >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(alphaBarT), alphaBarT, $"A stochastic step (η = {eta}) from ᾱ_t = 1 has no σ (eq. 16 divides by 1 − ᾱ_t): from x_0 only the deterministic step (η = 0) is defined.");
        }

        return eta * Math.Sqrt((1 - alphaBarNext) / (1 - alphaBarT) * (1 - (alphaBarT / alphaBarNext)));
    }

    /// <summary>
    /// One update of eq. 12, from x_t to x_next:
    /// x̂0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t, then x_next = √ᾱ_next·x̂0 + √(1−ᾱ_next−σ²)·ε̂ + σ·z.
    /// Works in either direction; with η = 0 and ᾱ_next &lt; ᾱ_t it is the inversion step of §5.4.
    /// </summary>
    /// <param name="x">x_t.</param>
    /// <param name="eps">ε̂ = ε_θ(x_t, t).</param>
    /// <param name="alphaBarT">ᾱ_t (the paper's α_τi).</param>
    /// <param name="alphaBarNext">ᾱ_next (the paper's α_τi−1); 1 for the step to x̂0.</param>
    /// <param name="options">η, clipping and variance. <see cref="DdimOptions.EpsScale"/> and
    /// <see cref="DdimOptions.EtaBelow"/> are not applied here, since a step does not know its timestep, but by
    /// <see cref="Sample"/>: a direct caller passes ε̂/λ as <paramref name="eps"/> and <c>options.At(t)</c> as the options.</param>
    /// <param name="z">Fresh noise, needed only when the step is stochastic.</param>
    /// <returns>x_next and x̂0 (after clipping, if on).</returns>
    /// <exception cref="ArgumentOutOfRangeException">
    /// Bad options (<see cref="DdimOptions.Validate()"/>), an ᾱ outside (0, 1], ᾱ_t = 1 (clean data, the start of an
    /// inversion) for a step that would divide by 1 − ᾱ_t (a stochastic one, or one that re-derives ε̂ after clipping),
    /// or a stochastic step toward more noise (ᾱ_next &lt; ᾱ_t), whose σ would be the root of a negative number.
    /// </exception>
    public static (Tensor XNext, Tensor PredX0) Step(Tensor x, Tensor eps, double alphaBarT, double alphaBarNext, DdimOptions options, Tensor? z)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!(alphaBarT > 0 && alphaBarT <= 1) || !(alphaBarNext > 0 && alphaBarNext <= 1))
        {
            throw new ArgumentOutOfRangeException(alphaBarT is > 0 and <= 1 ? nameof(alphaBarNext) : nameof(alphaBarT),
                $"ᾱ_t and ᾱ_next must be in (0, 1] (1 stands for clean data); got {alphaBarT} and {alphaBarNext}.");
        }

        if (alphaBarT == 1 && (options.IsStochastic || (options.ClipDenoised && options.RederiveNoise)))
        {
            throw new ArgumentOutOfRangeException(nameof(alphaBarT), alphaBarT,
                "ᾱ_t = 1 (clean data) has no noise: only a deterministic step that keeps ε̂ can start there (DDIM inversion's first step).");
        }

        if (options.IsStochastic && alphaBarNext < alphaBarT)
        {
            throw new ArgumentOutOfRangeException(nameof(alphaBarNext), alphaBarNext,
                $"A stochastic step (η > 0 or σ̂) goes toward clean data, ᾱ_next ≥ ᾱ_t; got ᾱ_t = {alphaBarT} and ᾱ_next = {alphaBarNext}. Only η = 0 runs the other way (inversion).");
        }

        return StepUnchecked(x, eps, alphaBarT, alphaBarNext, options, z);
    }

    /// <summary>
    /// <see cref="Step"/> without its checks, for <see cref="Sample"/> and <see cref="Invert"/>, whose options are
    /// validated once per run and whose ᾱ come from a schedule in the right order: not again at every step.
    /// </summary>
    private static (Tensor XNext, Tensor PredX0) StepUnchecked(Tensor x, Tensor eps, double alphaBarT, double alphaBarNext, DdimOptions options, Tensor? z)
    {
        var sqrtAbar = Math.Sqrt(alphaBarT);
        var sqrtOneMinusAbar = Math.Sqrt(1 - alphaBarT);

        // x̂0 = f_θ(x_t) of eq. 9: the "predicted x0".
        var predX0 = (x - (sqrtOneMinusAbar * eps)) / sqrtAbar;
        if (options.ClipDenoised)
        {
            predX0 = predX0.clamp(-1.0, 1.0);
            if (options.RederiveNoise)
            {
                eps = (x - (sqrtAbar * predX0)) / sqrtOneMinusAbar;
            }
        }

        // σ in the direction term (eq. 12) and σ of the added noise; they differ only for the σ̂ variant.
        double sigmaInDirection, sigmaOfNoise;
        if (options.LargeVariance)
        {
            sigmaInDirection = Sigma(alphaBarT, alphaBarNext, 1.0);
            sigmaOfNoise = alphaBarNext >= 1.0 ? 0.0 : Math.Sqrt(1 - (alphaBarT / alphaBarNext));
        }
        else
        {
            sigmaInDirection = sigmaOfNoise = Sigma(alphaBarT, alphaBarNext, options.Eta);
        }

        // "Direction pointing to x_t": √(1 − ᾱ_next − σ²)·ε̂ (clamped at 0 against rounding).
        var direction = Math.Sqrt(Math.Max(0.0, 1 - alphaBarNext - (sigmaInDirection * sigmaInDirection)));
        var xNext = (Math.Sqrt(alphaBarNext) * predX0) + (direction * eps);
        if (sigmaOfNoise > 0)
        {
            if (z is null)
            {
                throw new ArgumentNullException(nameof(z), "This step is stochastic (η > 0 or σ̂) and needs noise z.");
            }

            xNext += sigmaOfNoise * z;
        }

        return (xNext, predX0);
    }

    /// <summary>
    /// Runs DDIM from x_T down the timetable and returns x_0. The result has the dtype and device of
    /// <paramref name="xT"/>, which is not modified or disposed.
    /// </summary>
    /// <param name="model">ε_θ.</param>
    /// <param name="xT">Starting noise, [B, …].</param>
    /// <param name="schedule">The training schedule (ᾱ).</param>
    /// <param name="timetable">τ: the descending timesteps to visit.</param>
    /// <param name="options">η and clipping; <see cref="DdimOptions.Deterministic"/> when null.</param>
    /// <param name="noise">Source of z; required when η &gt; 0 or σ̂ is used, never touched when η = 0.</param>
    /// <param name="observer">Called after every step.</param>
    public static Tensor Sample(
        NoisePredictor model,
        Tensor xT,
        NoiseSchedule schedule,
        Timetable timetable,
        DdimOptions? options = null,
        INoiseSource? noise = null,
        Action<SamplerStep>? observer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(xT);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(timetable);
        options ??= DdimOptions.Deterministic;
        options.Validate(timetable);
        SamplerChecks.RequireMatching(xT, schedule, timetable.TrainingSteps);
        if (options.IsStochastic && noise is null)
        {
            throw new ArgumentException("η > 0 (or σ̂) makes DDIM stochastic: pass a noise source, e.g. new GeneratorNoise(new torch.Generator(seed)).", nameof(noise));
        }

        using var noGrad = torch.no_grad();
        var x = xT;
        foreach (var step in timetable.Pairs())
        {
            using var scope = torch.NewDisposeScope();
            var eps = SamplerChecks.Predict(model, x, step.T);
            if (options.EpsScale is { } lambda)
            {
                // Epsilon Scaling: ε̂ = ε_θ(x_t, t)/λ goes into eq. 12 (DdimOptions.EpsScale).
                eps = eps / lambda;
            }

            var z = options.IsStochastic ? SamplerChecks.NextNoise(noise!, step.Index, x) : null;
            var (xNext, predX0) = StepUnchecked(x, eps, schedule.AlphaBar(step.T), schedule.AlphaBar(step.TNext), options.At(step.T), z);
            observer?.Invoke(new SamplerStep(step.Index, timetable.Count, step.T, step.TNext, x, predX0, xNext));
            xNext.MoveToOuterDisposeScope();
            if (!ReferenceEquals(x, xT))
            {
                x.Dispose();
            }

            x = xNext;
        }

        return ReferenceEquals(x, xT) ? xT.clone() : x;
    }

    /// <summary>
    /// DDIM inversion (paper §5.4): runs the η = 0 update forward in time, from clean x_0 through the timetable
    /// in ascending order, to the latent at the timetable's top entry (x_T for spacings that start at T − 1; 0.8·T
    /// for quad, T − T/S for leading), which DDIM over the same timetable decodes back to x_0 (up to discretisation
    /// error). No clipping is applied.
    /// </summary>
    public static Tensor Invert(NoisePredictor model, Tensor x0, NoiseSchedule schedule, Timetable timetable, Action<SamplerStep>? observer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x0);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(timetable);
        SamplerChecks.RequireMatching(x0, schedule, timetable.TrainingSteps);

        // Ascending: (−1 → τ_1), (τ_1 → τ_2), …; ε̂ is evaluated at the current point, the explicit scheme of §5.4.
        var ascending = timetable.Steps.Reverse().ToArray();
        var options = new DdimOptions(Eta: 0, ClipDenoised: false);
        using var noGrad = torch.no_grad();
        var x = x0;
        for (var i = 0; i < ascending.Length; i++)
        {
            using var scope = torch.NewDisposeScope();
            var from = i == 0 ? -1 : ascending[i - 1];
            var to = ascending[i];

            // The clean end (t = −1, ᾱ = 1) has no network timestep: ε̂ is taken at t = 0 there.
            var eps = SamplerChecks.Predict(model, x, Math.Max(from, 0));
            var (xNext, predX0) = StepUnchecked(x, eps, schedule.AlphaBar(from), schedule.AlphaBar(to), options, null);
            observer?.Invoke(new SamplerStep(i, ascending.Length, from, to, x, predX0, xNext));
            xNext.MoveToOuterDisposeScope();
            if (!ReferenceEquals(x, x0))
            {
                x.Dispose();
            }

            x = xNext;
        }

        return x;
    }
}
