using Ddim.Sampling;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>
/// The DDPM training objective measured on held-out images at chosen timesteps: L_t = ‖ε − ε_θ(x_t, t)‖² / D with
/// x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε (Ho et al. 2020, eq. 14, one t at a time). The noise comes from one seed, so every model
/// given the same images and seed is measured on exactly the same x_t. Training logs cannot be compared across runs
/// with other batch sizes, noise or t draws; this can, in minutes per model on a CPU, where an FID takes far longer.
/// </summary>
public static class HeldOutLoss
{
    /// <summary>
    /// The timesteps measured by default: 25, 100, 200, 300, 400, 500, 600, 800 for T = 1000 (dense where deterministic
    /// DDIM is most sensitive), scaled to other T (rounded, at most T − 1, without repeats).
    /// </summary>
    public static IReadOnlyList<int> DefaultTimesteps(int t) =>
        new[] { 25, 100, 200, 300, 400, 500, 600, 800 }.Select(s => Math.Min(t - 1, (int)Math.Round(s * t / 1000.0))).Distinct().ToArray();

    /// <summary>
    /// L_t for each of <paramref name="timesteps"/>, averaged over the images <paramref name="x0"/> [N, C, H, W] in
    /// [−1, 1] and their dimensions: the mean of <see cref="PerImage"/>'s rows.
    /// </summary>
    public static double[] ByTimestep(NoisePredictor model, Tensor x0, NoiseSchedule schedule, IReadOnlyList<int> timesteps, long seed, int batchSize = 64, Action? timestepDone = null) =>
        [.. PerImage(model, x0, schedule, timesteps, seed, batchSize, timestepDone).Select(row => row.Average())];

    /// <summary>
    /// L_t of each image for each of <paramref name="timesteps"/>: [timestep][image], each averaged over the image's
    /// dimensions, for images <paramref name="x0"/> [N, C, H, W] in [−1, 1]. For timestep k the noise ε [N, C, H, W] is
    /// the k-th draw of <c>Generator(seed)</c> (made on the CPU, then moved to x0's device), so the result does not
    /// depend on <paramref name="batchSize"/>, nor on which other models are measured: two models' losses of one image
    /// pair up, and their difference's spread over the images gives a paired standard error (<see cref="Paired"/>).
    /// <paramref name="timestepDone"/>, if given, is called after each timestep (for progress).
    /// </summary>
    public static double[][] PerImage(NoisePredictor model, Tensor x0, NoiseSchedule schedule, IReadOnlyList<int> timesteps, long seed, int batchSize = 64, Action? timestepDone = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x0);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(timesteps);
        if (x0.dim() < 2 || x0.shape[0] < 1)
        {
            throw new ArgumentException($"Held-out loss needs a batch of at least one image [N, …]; got shape [{string.Join(", ", x0.shape)}].", nameof(x0));
        }

        if (timesteps.Count == 0 || timesteps.Any(t => t < 0 || t >= schedule.T))
        {
            throw new ArgumentOutOfRangeException(nameof(timesteps), $"Timesteps must be in 0 … {schedule.T - 1} (the model's T = {schedule.T}); got [{string.Join(", ", timesteps)}].");
        }

        if (batchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"The batch size must be at least 1; got {batchSize}.");
        }

        using var noGrad = torch.no_grad();
        using var generator = new Generator((ulong)seed);
        using var alphaBars = schedule.AlphaBarTensor(x0.dtype, x0.device);
        var n = (int)x0.shape[0];
        var losses = new double[timesteps.Count][];
        for (var k = 0; k < timesteps.Count; k++)
        {
            using var scope = torch.NewDisposeScope();
            var noise = Draws.Normal(x0.shape, x0.dtype, x0.device, generator);
            var alphaBar = alphaBars[timesteps[k]]; // one ᾱ_t for the whole batch: broadcasts as [1, …, 1] would
            losses[k] = new double[n];
            for (var i = 0; i < n; i += batchSize)
            {
                using var batchScope = torch.NewDisposeScope();
                var end = Math.Min(n, i + batchSize);
                var (x, eps) = (x0[i..end], noise[i..end]);
                var xt = NoiseSchedule.Diffuse(x, eps, alphaBar);
                var predicted = SamplerChecks.Predict(model, xt, timesteps[k]);
                using var perImage = (predicted - eps).to(ScalarType.Float64).square().flatten(1).mean([1]).cpu();
                perImage.data<double>().CopyTo(losses[k].AsSpan(i, end - i));
            }

            timestepDone?.Invoke();
        }

        return losses;
    }

    /// <summary>
    /// Model B against model A on the same images and noise (<see cref="PerImage"/> of each): the mean over the images
    /// of B's loss minus A's, each image's loss averaged over the listed timesteps, with that mean's standard error,
    /// SD/√N of the per-image differences. The images are the sample, so the error says how far another draw of N
    /// images (and their noise) could move the difference; it does not cover other choices of timesteps.
    /// </summary>
    public static Spread Paired(double[][] a, double[][] b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Length == 0 || a.Length != b.Length || a.Zip(b).Any(p => p.First.Length != p.Second.Length) || a.Any(row => row.Length != a[0].Length))
        {
            throw new ArgumentException("Paired losses need the same timesteps and images for both models ([timestep][image] of one shape).", nameof(b));
        }

        var images = a[0].Length;
        if (images < 2)
        {
            throw new ArgumentException($"A paired standard error needs at least two images; got {images}.", nameof(a));
        }

        return Spread.Of([.. Enumerable.Range(0, images).Select(i => b.Average(row => row[i]) - a.Average(row => row[i]))]);
    }
}
