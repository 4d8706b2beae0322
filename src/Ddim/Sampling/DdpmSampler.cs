using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>The variance of DDPM's reverse step (Ho et al. 2020, §3.2).</summary>
public enum DdpmVariance
{
    /// <summary>σ_t² = β_t ("fixed large").</summary>
    Beta,

    /// <summary>σ_t² = β̃_t = β_t·(1−ᾱ_{t−1})/(1−ᾱ_t) ("fixed small", the true posterior variance).</summary>
    Posterior,
}

/// <summary>
/// Settings of a DDPM ancestral run. Unlike <see cref="DdimOptions"/>, clipping is off by default here (Algorithm 2 as
/// printed), so its images can stray outside [−1, 1]; <see cref="SampleSettings"/> turns it on for both samplers.
/// </summary>
/// <param name="Variance">σ_t²: β_t or β̃_t.</param>
/// <param name="ClipDenoised">
/// Clamp x̂0 to [−1, 1] and use the posterior mean μ̃(x_t, x̂0), as Ho et al.'s code does. Off: Algorithm 2 as printed.
/// </param>
public sealed record DdpmOptions(DdpmVariance Variance = DdpmVariance.Beta, bool ClipDenoised = false);

/// <summary>DDPM ancestral sampling over all T steps (Ho et al. 2020, Algorithm 2).</summary>
public static class DdpmSampler
{
    /// <summary>
    /// Runs t = T−1 … 0: x_{t−1} = (x_t − β_t/√(1−ᾱ_t)·ε̂)/√(1−β_t) + σ_t·z, with no noise at t = 0.
    /// Step k (t = T−1−k) draws its z from <paramref name="noise"/> with index k.
    /// </summary>
    public static Tensor Sample(
        NoisePredictor model,
        Tensor xT,
        NoiseSchedule schedule,
        INoiseSource noise,
        DdpmOptions? options = null,
        Action<SamplerStep>? observer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(xT);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(noise);
        options ??= new DdpmOptions();
        if (!Enum.IsDefined(options.Variance))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Variance, "DdpmOptions.Variance must be Beta or Posterior.");
        }

        SamplerChecks.RequireMatching(xT, schedule, schedule.T);

        using var noGrad = torch.no_grad();
        var x = xT;
        for (var t = schedule.T - 1; t >= 0; t--)
        {
            using var scope = torch.NewDisposeScope();
            var k = schedule.T - 1 - t;
            var beta = schedule.Betas[t];
            var abar = schedule.AlphaBar(t);
            var abarPrev = schedule.AlphaBar(t - 1);
            var eps = SamplerChecks.Predict(model, x, t);
            var predX0 = (x - (Math.Sqrt(1 - abar) * eps)) / Math.Sqrt(abar);
            Tensor mean;
            if (options.ClipDenoised)
            {
                // μ̃_t(x_t, x̂0) = √ᾱ_{t−1}·β_t/(1−ᾱ_t)·x̂0 + √(1−β_t)·(1−ᾱ_{t−1})/(1−ᾱ_t)·x_t (DDPM eq. 7).
                predX0 = predX0.clamp(-1.0, 1.0);
                mean = (Math.Sqrt(abarPrev) * beta / (1 - abar) * predX0) + (Math.Sqrt(1 - beta) * (1 - abarPrev) / (1 - abar) * x);
            }
            else
            {
                mean = (x - (beta / Math.Sqrt(1 - abar) * eps)) / Math.Sqrt(1 - beta);
            }

            var xNext = mean;
            if (t > 0)
            {
                var variance = options.Variance == DdpmVariance.Beta ? beta : beta * (1 - abarPrev) / (1 - abar);
                xNext = mean + (Math.Sqrt(variance) * SamplerChecks.NextNoise(noise, k, x));
            }

            observer?.Invoke(new SamplerStep(k, schedule.T, t, t - 1, x, predX0, xNext));
            xNext.MoveToOuterDisposeScope();
            if (!ReferenceEquals(x, xT))
            {
                x.Dispose();
            }

            x = xNext;
        }

        return x;
    }
}
