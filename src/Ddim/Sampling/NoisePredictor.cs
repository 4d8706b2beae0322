using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>
/// ε_θ(x_t, t): predicts the noise in a batch <paramref name="x"/> at integer timesteps <paramref name="t"/>
/// (int64, shape [B]). A trained network, or an analytic model in tests.
/// </summary>
/// <remarks>
/// The samplers call it inside each step's dispose scope, so every tensor it makes is freed when the step ends. A
/// tensor it keeps from one call to the next (a cache) must be taken out of that scope with
/// <c>DetachFromDisposeScope()</c>, and disposed by its owner.
/// </remarks>
/// <returns>A tensor shaped like <paramref name="x"/>.</returns>
public delegate Tensor NoisePredictor(Tensor x, Tensor t);

/// <summary>
/// What a sampler shows its observer after each step. The tensors are valid only during the call, and the call runs
/// inside the step's dispose scope, which frees whatever the observer makes too: keep a tensor with
/// <c>X.clone().DetachFromDisposeScope()</c> and dispose it yourself.
/// </summary>
/// <param name="Index">0-based step number.</param>
/// <param name="Count">Number of steps in the run.</param>
/// <param name="T">The timestep the step starts from (−1: clean data, as at inversion's first step).</param>
/// <param name="TNext">The timestep reached (−1: clean data).</param>
/// <param name="X">x_t, the input of this step.</param>
/// <param name="PredX0">x̂0, the model's estimate of clean data at this step (after clipping, if on).</param>
/// <param name="XNext">x_{t_next}, the output of this step.</param>
public sealed record SamplerStep(int Index, int Count, int T, int TNext, Tensor X, Tensor PredX0, Tensor XNext);

/// <summary>
/// Where the sampler's fresh Gaussian noise z comes from. Implementations must return a new tensor shaped like
/// the <c>like</c> tensor, in its dtype and device.
/// </summary>
/// <remarks>
/// Which steps ask differs by sampler, so that a seed's stream of draws lines up step by step: a stochastic DDIM run
/// asks at every one of its S steps, the last too (its σ is 0, so that z is unused) and the steps that
/// <see cref="DdimOptions.EtaBelow"/> makes deterministic; DDPM asks at its T − 1 steps from t &gt; 0, not at the
/// last. A <see cref="ReplayNoise"/> for DDIM therefore holds S tensors, and one for DDPM T − 1.
/// </remarks>
public interface INoiseSource
{
    /// <summary>The z of step <paramref name="stepIndex"/>.</summary>
    Tensor Next(int stepIndex, Tensor like);
}

/// <summary>Draws z ~ N(0, I) from a caller-seeded <see cref="Generator"/>.</summary>
/// <param name="generator">The generator; the caller owns and disposes it.</param>
public sealed class GeneratorNoise(Generator generator) : INoiseSource
{
    /// <inheritdoc />
    public Tensor Next(int stepIndex, Tensor like) =>
        Draws.Normal(like.shape, like.dtype, like.device, generator);
}

/// <summary>Replays noise supplied by the caller, one tensor per step (for matching a reference run).</summary>
/// <param name="noise">z for step 0, 1, …; each must have the shape of x.</param>
public sealed class ReplayNoise(IReadOnlyList<Tensor> noise) : INoiseSource
{
    /// <inheritdoc />
    public Tensor Next(int stepIndex, Tensor like)
    {
        if (stepIndex < 0 || stepIndex >= noise.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"The replayed noise has {noise.Count} tensors, for steps 0 … {noise.Count - 1}.");
        }

        if (noise[stepIndex].numel() != like.numel())
        {
            throw new ArgumentException($"The replayed noise of step {stepIndex} has {noise[stepIndex].numel()} values but x_t has {like.numel()} ([{string.Join(", ", like.shape)}]).", nameof(like));
        }

        return noise[stepIndex].to(like.dtype, like.device).reshape(like.shape);
    }
}
