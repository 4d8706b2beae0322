using Ddim.Models;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>
/// Generates images from a noise predictor, in batches, reproducibly: image i of seed s starts from the same x_T
/// and draws the same per-step noise whatever the batch size or the number of images asked for.
/// </summary>
/// <remarks>
/// A sampler made by <see cref="Load"/> owns the network it loaded, and disposing it frees the network's native
/// memory; one made from a network or a delegate leaves them to their owner, and disposing it frees nothing. Either
/// way a disposed sampler refuses further use (<see cref="ObjectDisposedException"/>).
/// </remarks>
public sealed class ImageSampler : IDisposable
{
    private bool ownsNetwork;
    private bool disposed;

    /// <summary>Wraps a noise predictor for images of shape [C, H, W] that takes x_t on <paramref name="device"/> (default: the CPU).</summary>
    public ImageSampler(NoisePredictor model, NoiseSchedule schedule, int channels, int height, int width, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(schedule);
        if (channels < 1 || height < 1 || width < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(channels), $"Images need at least one channel and pixel; got {channels}×{height}×{width}.");
        }

        Model = model;
        Schedule = schedule;
        Shape = [channels, height, width];
        Device = device ?? torch.CPU;
    }

    /// <summary>
    /// Wraps a trained <see cref="UNet"/> (put in eval mode), which stays the caller's to dispose: disposing this sampler
    /// does not free it (one from <see cref="Load"/> does). The network is called on fixed groups of
    /// <see cref="FixedBatch.DefaultSize"/> images, so results do not depend on the batch size. A network whose weights
    /// are bfloat16 (<see cref="Load"/> with <see cref="NetworkPrecision.BFloat16"/>) runs on bfloat16 copies of x_t,
    /// and its ε̂ comes back in x_t's dtype, so the sampler's own arithmetic keeps its precision.
    /// </summary>
    public ImageSampler(UNet network, NoiseSchedule schedule)
        : this(network, schedule, NetworkPrecisions.Of(network))
    {
    }

    private ImageSampler(UNet network, NoiseSchedule schedule, NetworkPrecision precision)
        : this(FixedBatch.Wrap(Forward(network, precision)), schedule, network.Config.ImageChannels, network.Config.ImageSize, network.Config.ImageSize, network.parameters().First().device)
    {
        network.eval();
        Network = network;
        GroupSize = FixedBatch.DefaultSize;
        Precision = precision;
    }

    /// <summary>
    /// The fixed number of images per network call (see <see cref="FixedBatch"/>), or 1 when the model is
    /// batch-invariant by itself. Batches are rounded up to a multiple of it, so padding is not wasted.
    /// </summary>
    public int GroupSize { get; } = 1;

    /// <summary>The most images one batch may hold: far beyond any memory, and safe from overflow when rounded up to whole groups.</summary>
    public const int MaxBatchSize = 1 << 20;

    /// <summary><paramref name="batchSize"/> (1 … <see cref="MaxBatchSize"/>) rounded up to a multiple of <see cref="GroupSize"/>: the images a batch pays for anyway.</summary>
    public int WholeGroups(int batchSize)
    {
        RequireBatchSize(batchSize);
        return (batchSize + GroupSize - 1) / GroupSize * GroupSize;
    }

    /// <summary>A clear error, naming --batch-size, for a batch size below 1 or above <see cref="MaxBatchSize"/>.</summary>
    public static void RequireBatchSize(int batchSize)
    {
        if (batchSize is < 1 or > MaxBatchSize)
        {
            throw new ArgumentException($"The batch size (--batch-size) must be between 1 and {MaxBatchSize:N0}; got {batchSize:N0}.", nameof(batchSize));
        }
    }

    /// <summary>The network, when this sampler wraps a <see cref="UNet"/>.</summary>
    public UNet? Network { get; }

    /// <summary>The number format the network runs in (float32 for a <see cref="NoisePredictor"/> given as such).</summary>
    public NetworkPrecision Precision { get; } = NetworkPrecision.Float32;

    /// <summary>ε_θ.</summary>
    public NoisePredictor Model { get; }

    /// <summary>The schedule the model was trained with.</summary>
    public NoiseSchedule Schedule { get; }

    /// <summary>[C, H, W] of one image.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>
    /// Where the sampler works: x_T and the step noise are drawn on the CPU from each image's generator (so a seed
    /// gives the same draws on every device) and moved here.
    /// </summary>
    public Device Device { get; }

    /// <summary>
    /// Loads a model file (see <see cref="ModelFile"/>) into a sampler on <paramref name="device"/> (default: the CPU),
    /// its network in <paramref name="precision"/>.
    /// </summary>
    public static ImageSampler Load(string modelPath, Device? device = null, NetworkPrecision precision = NetworkPrecision.Float32)
    {
        var (network, schedule, _) = ModelFile.LoadNetwork(modelPath, device, precision);
        try
        {
            return new ImageSampler(network, schedule) { ownsNetwork = true };
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Frees the network when this sampler loaded it (<see cref="Load"/>). The sampler is not usable afterwards.</summary>
    public void Dispose()
    {
        disposed = true;
        if (ownsNetwork)
        {
            Network?.Dispose();
            ownsNetwork = false;
        }
    }

    /// <summary>ε_θ of <paramref name="network"/> (weights in <paramref name="precision"/>), taking and giving x_t's dtype.</summary>
    private static NoisePredictor Forward(UNet network, NetworkPrecision precision) =>
        precision == NetworkPrecision.Float32
            ? (x, t) => network.forward(x, t)
            : (x, t) => network.forward(x.to(precision.ScalarType()), t).to(x.dtype);

    /// <summary>The seed of image <paramref name="index"/>'s own generator, derived from the run seed (SplitMix64).</summary>
    public static ulong ImageSeed(long seed, long index)
    {
        var z = unchecked((ulong)seed + (0x9E3779B97F4A7C15UL * (ulong)(index + 1)));
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>x_T ~ N(0, I) for images <paramref name="start"/> … start+count−1 of a seed, [count, C, H, W], on <see cref="Device"/>.</summary>
    public Tensor InitialNoise(long seed, long start, int count, ScalarType dtype = ScalarType.Float32)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var generators = Generators(seed, start, count);
        try
        {
            return Draw(generators, dtype);
        }
        finally
        {
            foreach (var g in generators)
            {
                g.Dispose();
            }
        }
    }

    /// <summary>
    /// The step noise of images <paramref name="start"/> … start+count−1 of a seed, drawn as <see cref="Generate(int, long, SampleSettings, int, Action{SamplerStep}?)"/>
    /// draws it: each image from its own generator, after that image's x_T. <c>Decode(InitialNoise(seed, start, count), settings, noise)</c>
    /// then gives Generate's images for stochastic settings too, and a decode of other x_T (an interpolation, say) gets
    /// per-image noise that does not depend on the batch. Its draws are used up as they are made: one decode per
    /// StepNoise (call it again for another). It owns its generators: dispose it when done.
    /// </summary>
    public PerImageNoise StepNoise(long seed, long start, int count)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var generators = Generators(seed, start, count);
        using (Draw(generators, ScalarType.Float32))
        {
            // x_T comes first from each generator, as in Generate: the step noise is what follows it.
        }

        return new PerImageNoise(generators, ownsGenerators: true);
    }

    /// <summary>Runs the chosen sampler from a given x_T [B, C, H, W]; stochastic settings draw noise from <paramref name="noise"/>.</summary>
    public Tensor Decode(Tensor xT, SampleSettings settings, INoiseSource? noise = null, Action<SamplerStep>? observer = null)
    {
        RequireImages(xT, nameof(xT));
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate(Schedule);
        if (settings.IsStochastic && noise is null)
        {
            throw new ArgumentException("These sampler settings are stochastic: pass a noise source.", nameof(noise));
        }

        return settings.Sampler == SamplerKind.Ddpm
            ? DdpmSampler.Sample(Model, xT, Schedule, noise!, new DdpmOptions(settings.DdpmVariance, settings.Clip), observer)
            : DdimSampler.Sample(Model, xT, Schedule, settings.Timetable(Schedule), settings.DdimOptions, noise, observer);
    }

    /// <summary>
    /// Generates <paramref name="count"/> images in batches of <paramref name="batchSize"/>, rounded up to whole groups
    /// (<see cref="WholeGroups"/>: 32 images for a U-Net), and hands each finished batch [b, C, H, W] (values in [−1, 1]
    /// when x̂0 is clipped, the default) to <paramref name="onBatch"/> with the index of its first image. The images do
    /// not depend on the batch size. <paramref name="onBatch"/> runs inside the batch's dispose scope: the batch, and any
    /// tensor made from it there, is freed when it returns, so memory does not grow with <paramref name="count"/>; keep
    /// one with <c>clone().DetachFromDisposeScope()</c> and dispose it yourself.
    /// </summary>
    public void Generate(
        int count,
        long seed,
        SampleSettings settings,
        int batchSize,
        Action<int, Tensor> onBatch,
        Action<SamplerStep>? observer = null,
        Action<int>? imagesDone = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(onBatch);
        settings.Validate(Schedule);
        if (count < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"The number of images must be at least 1; got {count}.");
        }

        if (batchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"The batch size must be at least 1; got {batchSize}.");
        }

        // Work in multiples of the network's group size: a batch of 7 would pay for a padded group of 32 anyway.
        batchSize = WholeGroups(batchSize);
        for (var start = 0; start < count; start += batchSize)
        {
            var b = Math.Min(batchSize, count - start);
            var generators = Generators(seed, start, b);
            try
            {
                using var scope = torch.NewDisposeScope();
                var xT = Draw(generators, ScalarType.Float32);
                var noise = settings.IsStochastic ? new PerImageNoise(generators) : null;
                var images = Decode(xT, settings, noise, observer);
                onBatch(start, images);
            }
            finally
            {
                foreach (var g in generators)
                {
                    g.Dispose();
                }
            }

            Native.NativeMemory.Trim();
            imagesDone?.Invoke(start + b);
        }
    }

    /// <summary>Generates all images into one tensor [count, C, H, W] (for small counts; see the streaming overload).</summary>
    public Tensor Generate(int count, long seed, SampleSettings settings, int batchSize = 64, Action<SamplerStep>? observer = null)
    {
        var parts = new List<Tensor>();
        try
        {
            Generate(count, seed, settings, batchSize, (_, batch) => parts.Add(batch.detach().clone().DetachFromDisposeScope()), observer);
            return torch.cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts)
            {
                p.Dispose();
            }
        }
    }

    /// <summary>
    /// DDIM inversion then decoding (paper §5.4): encodes clean images [B, C, H, W] in [−1, 1] to x_T with the η = 0
    /// update run forward over <paramref name="timetable"/>, then decodes x_T back with DDIM η = 0 (no clipping).
    /// </summary>
    /// <returns>The latents x_T and the reconstructions.</returns>
    public (Tensor Latents, Tensor Reconstructions) Reconstruct(Tensor images, Timetable timetable)
    {
        RequireImages(images, nameof(images));
        using var scope = torch.NewDisposeScope();
        var latents = DdimSampler.Invert(Model, images, Schedule, timetable);
        var decoded = DdimSampler.Sample(Model, latents, Schedule, timetable, new DdimOptions(Eta: 0, ClipDenoised: false));
        return (latents.MoveToOuterDisposeScope(), decoded.MoveToOuterDisposeScope());
    }

    /// <summary>A clear error, before any network call, for a batch the network cannot take: libtorch's would come from deep inside it, or none at all for a wrong size.</summary>
    private void RequireImages(Tensor x, string name)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(x, name);
        if (x.dim() != 4 || x.shape[0] < 1 || !x.shape.Skip(1).SequenceEqual(Shape))
        {
            throw new ArgumentException($"{name} must be a batch of images [B, {string.Join(", ", Shape)}] (this model's shape), B ≥ 1; got [{string.Join(", ", x.shape)}].", name);
        }

        // "cuda" without an index means the current GPU: only two explicit indices can disagree.
        if (x.device_type != Device.type || (x.device_index >= 0 && Device.index >= 0 && x.device_index != Device.index))
        {
            throw new ArgumentException($"{name} is on {x.device} but the model runs on {Device}: move it with .to(sampler.Device).", name);
        }

        if (Network is not null && Precision == NetworkPrecision.Float32 && x.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"{name} is {x.dtype} but the network takes float32: convert it with .to(ScalarType.Float32).", name);
        }
    }

    /// <summary>
    /// Per-dimension mean squared error between two image batches as images: each clamped to [−1, 1] and mapped to
    /// [0, 1] (the paper's Table 2), so the figure is at most 1 however far a decoding strays.
    /// </summary>
    public static double MeanSquaredError01(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.shape.SequenceEqual(b.shape))
        {
            throw new ArgumentException($"The two batches must have the same shape; got [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}].", nameof(b));
        }

        using var scope = torch.NewDisposeScope();
        var d = (a.to(ScalarType.Float64).clamp(-1, 1) - b.to(ScalarType.Float64, a.device).clamp(-1, 1)) / 2;
        return d.square().mean().item<double>();
    }

    private Generator[] Generators(long seed, long start, int count) =>
        Enumerable.Range(0, count).Select(i => new Generator(ImageSeed(seed, start + i))).ToArray();

    private Tensor Draw(Generator[] generators, ScalarType dtype) =>
        DrawEach(generators, new long[] { 1 }.Concat(Shape).ToArray(), dtype, Device);

    /// <summary>
    /// One standard normal draw of shape <paramref name="one"/> [1, …] from each image's generator, stacked on the CPU
    /// and moved to <paramref name="device"/> in one copy.
    /// </summary>
    internal static Tensor DrawEach(Generator[] generators, long[] one, ScalarType dtype, Device device)
    {
        using var scope = torch.NewDisposeScope();
        return Draws.OnDevice(torch.cat(generators.Select(g => torch.randn(one, dtype: dtype, generator: g)).ToArray(), 0), device).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Step noise drawn image by image, each image from its own generator, so batching does not change the draws; see
/// <see cref="ImageSampler.StepNoise"/>. One made by StepNoise owns its generators: dispose it when done.
/// </summary>
public sealed class PerImageNoise : INoiseSource, IDisposable
{
    private readonly Generator[] generators;
    private readonly bool ownsGenerators;
    private bool disposed;

    internal PerImageNoise(Generator[] generators, bool ownsGenerators = false)
    {
        this.generators = generators;
        this.ownsGenerators = ownsGenerators;
    }

    /// <inheritdoc />
    public Tensor Next(int stepIndex, Tensor like)
    {
        // A disposed generator's handle is null, and libtorch would then draw from its global generator, unseeded.
        ObjectDisposedException.ThrowIf(disposed, this);
        if (like.shape[0] != generators.Length)
        {
            throw new ArgumentException($"This noise is for {generators.Length} images; x_t has {like.shape[0]}.", nameof(like));
        }

        var one = like.shape.ToArray();
        one[0] = 1;
        return ImageSampler.DrawEach(generators, one, like.dtype, like.device);
    }

    /// <summary>Frees the generators, if this noise owns them. It draws nothing afterwards.</summary>
    public void Dispose()
    {
        disposed = true;
        if (ownsGenerators)
        {
            foreach (var g in generators)
            {
                g.Dispose();
            }
        }
    }
}
