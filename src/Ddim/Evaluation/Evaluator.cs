using System.Diagnostics;
using Ddim.Data;
using Ddim.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>The scores of one set of images (generated, or real for the floor) against the reference set.</summary>
/// <param name="Label">What was scored, e.g. "DDIM S=50 η=0" or "real (mnist-train)".</param>
/// <param name="Count">Images scored.</param>
/// <param name="Fid">Fréchet distance to the reference set in the judge's feature space.</param>
/// <param name="ConfidentShare">Share of images whose top class probability exceeded the threshold (0.9).</param>
/// <param name="ClassKl">KL(predicted-class histogram ‖ uniform), nats.</param>
/// <param name="ClassCounts">Images per predicted class.</param>
/// <param name="Elapsed">Wall time to produce and judge the images.</param>
/// <param name="JudgeTime">The part of <paramref name="Elapsed"/> spent judging them.</param>
/// <param name="Manifold">
/// Precision, recall, density and coverage against as many reference images (fidelity and diversity apart); null
/// where they were not measured (scores saved before they existed, or too few images).
/// </param>
/// <param name="FidMean">
/// The part of <paramref name="Fid"/> due to the mean shift alone, ‖μ − μ_ref‖² (<see cref="FrechetTerms.Mean"/>); the
/// rest is due to the spread. Null for scores saved before it was recorded.
/// </param>
public sealed record QualityScore(
    string Label,
    int Count,
    double Fid,
    double ConfidentShare,
    double ClassKl,
    IReadOnlyList<long> ClassCounts,
    TimeSpan Elapsed,
    TimeSpan JudgeTime,
    ManifoldScores? Manifold = null,
    double? FidMean = null)
{
    /// <summary>Wall time spent producing the images (sampling), without judging them.</summary>
    public TimeSpan SamplingTime => Elapsed - JudgeTime;

    /// <summary>Images produced per second of <see cref="SamplingTime"/>.</summary>
    public double ImagesPerSecond => Count / Math.Max(SamplingTime.TotalSeconds, 1e-9);

    /// <summary>True when some images had NaN pixels (the sampler diverged): <see cref="Fid"/> is then NaN and <see cref="Label"/> says how many.</summary>
    public bool Diverged => double.IsNaN(Fid);
}

/// <summary>What <c>ddim eval</c> asks for.</summary>
/// <param name="Count">N, the number of images generated (and of real images for the floor).</param>
/// <param name="Seed">Seeds the samples (image i of a seed is always the same image) and the floor's choice of real images.</param>
/// <param name="BatchSize">Images generated at a time; memory depends on this, not on N.</param>
/// <param name="FloorDraws">
/// How many draws of N real images the floor is also averaged over (<see cref="Evaluator.ScoreFloorDraws"/>); 0 for
/// none, else at least 2. One draw's FID moves as much as a sampler's from seed to seed, so a ratio to the floor
/// should divide by the mean of many draws.
/// </param>
/// <remarks>The threshold of a confident classification belongs to the <see cref="Evaluator"/>, which meters the reference with it.</remarks>
public sealed record EvalOptions(int Count = 1000, long Seed = 0, int BatchSize = 64, int FloorDraws = 0)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the option to change.</summary>
    public void Validate()
    {
        if (Count < 2)
        {
            throw new ArgumentException($"Count (--num) must be at least 2 (a covariance needs two images); got {Count}. Use 1000 for quick checks and 10000 for final numbers.");
        }

        ImageSampler.RequireBatchSize(BatchSize);

        if (FloorDraws is < 0 or 1)
        {
            throw new ArgumentException($"FloorDraws (--floor-draws) must be 0 (only the seed's own floor) or at least 2 (a mean and its spread); got {FloorDraws}. 20 costs seconds at N = 1,000.");
        }
    }
}

/// <summary>One <c>ddim eval</c> run: the samples' scores, the real-data floor at the same N, and the settings.</summary>
/// <param name="Settings">The sampler settings.</param>
/// <param name="NetworkCalls">Network evaluations per image.</param>
/// <param name="Samples">Scores of the generated images.</param>
/// <param name="Floor">Scores of N real training images: the best FID to expect at this N.</param>
/// <param name="ReferenceCount">Images in the reference set (the MNIST test split: 10,000).</param>
/// <param name="FloorDraws">The floor over many draws of N real images, when asked for (<see cref="EvalOptions.FloorDraws"/>).</param>
public sealed record EvalReport(SampleSettings Settings, int NetworkCalls, QualityScore Samples, QualityScore Floor, long ReferenceCount, FloorDraws? FloorDraws = null)
{
    /// <summary>
    /// The samples' FID over the floor's: over the mean of the <see cref="FloorDraws"/> when there are any, else over
    /// <see cref="Floor"/>, the one draw of this seed.
    /// </summary>
    public double FloorRatio => Evaluation.FloorDraws.Ratio(Samples.Fid, Floor, FloorDraws);
}

/// <summary>
/// The real-data floor as an expectation: the FID of N real training images against the reference, over many seeded
/// draws of them (draw k is the floor of seed k). At N = 1,000 one draw's FID moved between 5.6 and 17.3 over 50
/// draws (the bundled judge, MNIST), as much as a sampler's FID moves between seeds.
/// </summary>
/// <param name="Count">N, the images in each draw.</param>
/// <param name="Fid">The draws' FID.</param>
/// <param name="FidMean">The draws' FID μ (mean-shift part).</param>
public sealed record FloorDraws(int Count, Spread Fid, Spread FidMean)
{
    /// <summary>
    /// <paramref name="fid"/> over the floor: over the mean of <paramref name="draws"/> when there are any, else over
    /// <paramref name="floor"/>, one draw.
    /// </summary>
    public static double Ratio(double fid, QualityScore floor, FloorDraws? draws) => fid / (draws?.Fid.Mean ?? floor.Fid);
}

/// <summary>
/// Scores image sets against a reference set with a <see cref="Judge"/>: FID in the judge's feature space,
/// fidelity and diversity apart (<see cref="ManifoldScores"/>), the share of confident classifications, and the
/// class balance. The reference statistics are computed once, so one evaluator serves a whole sweep.
/// </summary>
public sealed class Evaluator
{
    /// <summary>Seeds the fixed choice of reference images (and of a larger set's images) that the manifold scores compare.</summary>
    private const long ManifoldReferenceSeed = 0;

    private readonly int judgeBatchSize;
    private readonly float[] referenceFeatures;
    private readonly Lock manifoldLock = new();
    private RealManifold? manifoldReference;

    /// <summary>Fits the reference Gaussian (e.g. to the MNIST test split) with <paramref name="judge"/>.</summary>
    public Evaluator(Judge judge, ImageDataset reference, double confidence = 0.9, int judgeBatchSize = 500)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(judgeBatchSize, 1);
        RequireShape(judge, reference.Channels, reference.Height, reference.Width, $"the reference data '{reference.Name}'");
        Judge = judge;
        Confidence = confidence;
        this.judgeBatchSize = judgeBatchSize;
        ReferenceName = reference.Name;
        var meter = new JudgeMeter(judge, confidence);
        foreach (var (_, batch) in JudgeTrainer.Batches(reference, judgeBatchSize))
        {
            using (batch)
            {
                meter.Add(batch);
            }
        }

        Reference = meter.Features.ToGaussian();
        using var features = meter.FeatureMatrix();
        referenceFeatures = features.data<float>().ToArray();
    }

    /// <summary>The judge.</summary>
    public Judge Judge { get; }

    /// <summary>The confidence threshold.</summary>
    public double Confidence { get; }

    /// <summary>The reference set's name.</summary>
    public string ReferenceName { get; }

    /// <summary>The Gaussian fitted to the reference set's features.</summary>
    public GaussianFit Reference { get; }

    /// <summary>
    /// Generates <see cref="EvalOptions.Count"/> images with <paramref name="settings"/>, scores them, and scores
    /// as many real images from <paramref name="floorSource"/> (the training split) for the floor.
    /// </summary>
    public EvalReport Evaluate(ImageSampler sampler, SampleSettings settings, ImageDataset floorSource, EvalOptions options, Action<int>? imagesDone = null)
    {
        options.Validate();
        settings.Validate(sampler.Schedule);
        var floor = ScoreReal(floorSource, options.Count, options.Seed);
        var draws = FloorDrawsFor(floorSource, options.Count, options.FloorDraws);
        var samples = ScoreSamples(sampler, settings, options, imagesDone);
        return new EvalReport(settings, settings.NetworkCalls(sampler.Schedule), samples, floor, Reference.Count, draws);
    }

    /// <summary>
    /// The FID of <paramref name="draws"/> draws of <paramref name="count"/> real images from <paramref name="real"/>,
    /// draw k chosen as <see cref="ScoreReal"/> chooses seed k's, so at one N every configuration and seed is divided
    /// by the same mean. FID only (the manifold scores cost N² each): each draw costs the judge's pass over N images.
    /// <paramref name="cancel"/> is checked between draws.
    /// </summary>
    public FloorDraws ScoreFloorDraws(ImageDataset real, int count, int draws, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(real);
        if (draws < 2)
        {
            throw new ArgumentException($"A floor over draws needs at least 2 of them; got {draws}.", nameof(draws));
        }

        RequireFloorCount(real, count);
        var terms = Enumerable.Range(0, draws)
            .Select(k =>
            {
                cancel.ThrowIfCancellationRequested();
                return FrechetDistance.Terms(Measure(Subset(real, count, k)).Features.ToGaussian(), Reference);
            })
            .ToList();
        return new FloorDraws(count, Spread.Of([.. terms.Select(t => t.Total)]), Spread.Of([.. terms.Select(t => t.Mean)]));
    }

    /// <summary>Generates and scores images, streaming: each batch is judged and dropped.</summary>
    public QualityScore ScoreSamples(ImageSampler sampler, SampleSettings settings, EvalOptions options, Action<int>? imagesDone = null)
    {
        options.Validate();
        RequireShape(Judge, (int)sampler.Shape[0], (int)sampler.Shape[1], (int)sampler.Shape[2], "the model's images");
        var meter = new JudgeMeter(Judge, Confidence);
        var judging = new Stopwatch();
        var clock = Stopwatch.StartNew();
        sampler.Generate(options.Count, options.Seed, settings, options.BatchSize, (_, batch) =>
        {
            if (batch.device_type == DeviceType.CUDA)
            {
                torch.cuda.synchronize(); // the sampling still queued on the GPU is sampling time, not judging time
            }

            judging.Start();
            meter.Add(batch);
            judging.Stop();
        }, imagesDone: imagesDone);
        clock.Stop();
        return Score(settings.ToString(), meter, clock.Elapsed, judging.Elapsed);
    }

    /// <summary>
    /// The floor draws that <see cref="EvalOptions.FloorDraws"/> asks for: none when it is 0, and none when N is the
    /// whole of <paramref name="real"/>, where every draw would be the same images (the floor itself, with no spread).
    /// </summary>
    public FloorDraws? FloorDrawsFor(ImageDataset real, int count, int draws, CancellationToken cancel = default) =>
        draws == 0 || count >= real.Count ? null : ScoreFloorDraws(real, count, draws, cancel);

    /// <summary>
    /// Scores <paramref name="count"/> real images drawn without replacement from <paramref name="real"/> (a seeded
    /// choice): the real-data floor, i.e. the FID a perfect generator would get at this N.
    /// </summary>
    public QualityScore ScoreReal(ImageDataset real, int count, long seed)
    {
        RequireFloorCount(real, count);
        return ScoreImages(Subset(real, count, seed), $"real ({real.Name})");
    }

    private static void RequireFloorCount(ImageDataset real, int count)
    {
        if (count < 2 || count > real.Count)
        {
            throw new ArgumentException($"The real-data floor needs 2 … {real.Count} images from '{real.Name}'; --num is {count}. Lower --num.");
        }
    }

    /// <summary>
    /// Scores every image of a set as it is, e.g. a folder of PNGs written by <c>ddim sample --out-dir</c> or by
    /// another tool: 8-bit images, as FID is usually computed.
    /// </summary>
    public QualityScore ScoreImages(ImageDataset images, string label)
    {
        if (images.Count < 2)
        {
            throw new ArgumentException($"Scoring '{images.Name}' needs at least 2 images (a covariance needs two); it has {images.Count}.");
        }

        RequireShape(Judge, images.Channels, images.Height, images.Width, $"the images of '{images.Name}'");
        var clock = Stopwatch.StartNew();
        var meter = Measure(images);
        clock.Stop();
        return Score(label, meter, clock.Elapsed, clock.Elapsed);
    }

    /// <summary>
    /// Scores a batch of images [N, C, H, W] in [−1, 1] held in memory, e.g. what <see cref="ImageSampler.Generate(int, long, SampleSettings, int, Action{SamplerStep}?)"/>
    /// returns, exactly as the same images saved as PNGs would score: clamped and rounded to 8 bits, judged in batches.
    /// </summary>
    public QualityScore ScoreImages(Tensor images, string label)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[0] < 2)
        {
            throw new ArgumentException($"Scoring needs a batch of at least 2 images [N, C, H, W] (a covariance needs two); got [{string.Join(", ", images.shape)}].", nameof(images));
        }

        if (!images.is_floating_point())
        {
            throw new ArgumentException($"The images must be floating-point values in [−1, 1]; got {images.dtype}. Map bytes 0…255 with x / 127.5 − 1 first.", nameof(images));
        }

        RequireShape(Judge, (int)images.shape[1], (int)images.shape[2], (int)images.shape[3], $"the images of '{label}'");
        var clock = Stopwatch.StartNew();
        var meter = new JudgeMeter(Judge, Confidence);
        for (long start = 0; start < images.shape[0]; start += judgeBatchSize)
        {
            using var batch = images.narrow(0, start, Math.Min(judgeBatchSize, images.shape[0] - start));
            meter.Add(batch);
        }

        clock.Stop();
        return Score(label, meter, clock.Elapsed, clock.Elapsed);
    }

    /// <summary>Runs the judge over every image of a set.</summary>
    private JudgeMeter Measure(ImageDataset images)
    {
        var meter = new JudgeMeter(Judge, Confidence);
        foreach (var (_, batch) in JudgeTrainer.Batches(images, judgeBatchSize))
        {
            using (batch)
            {
                meter.Add(batch);
            }
        }

        return meter;
    }

    /// <summary>
    /// Scores whatever a meter has measured against the reference set. Images with NaN pixels (a sampler that
    /// diverged) leave FID and the manifold scores undefined: the score then has FID NaN, no manifold scores, NaN
    /// confidence and class balance (a NaN image's class is no class: its counts are kept as the judge's argmax gave
    /// them, NaN images in class 0), and a label that says how many images diverged (<see cref="QualityScore.Diverged"/>), so that a sweep records the
    /// cell and goes on instead of stopping.
    /// </summary>
    public QualityScore Score(string label, JudgeMeter meter, TimeSpan elapsed, TimeSpan judgeTime)
    {
        if (meter.NaNImages > 0)
        {
            return new(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{label} (diverged: {meter.NaNImages:N0} of {meter.Count:N0} images NaN)"),
                (int)meter.Count, double.NaN, double.NaN, double.NaN, meter.ClassCounts.ToArray(), elapsed, judgeTime, null, double.NaN);
        }

        var fid = FrechetDistance.Terms(meter.Features.ToGaussian(), Reference);
        return new(label, (int)meter.Count, fid.Total, meter.ConfidentShare, meter.ClassKl, meter.ClassCounts.ToArray(), elapsed, judgeTime, Manifold(meter), fid.Mean);
    }

    /// <summary>
    /// The manifold scores of a meter's images against as many reference images, chosen by a fixed seed so that
    /// every set of N images, the floor included, meets the same ones. A set larger than the reference is scored by
    /// as many of its images (a seeded choice too): the papers compare sets of equal size, and the cost grows as N².
    /// </summary>
    private ManifoldScores? Manifold(JudgeMeter meter)
    {
        var n = (int)Math.Min(meter.Count, Reference.Count);
        if (n <= ManifoldScores.LargestK)
        {
            return null;
        }

        using var scope = torch.NewDisposeScope();
        return ManifoldReference(n).Score(SeededRows(meter.FeatureMatrix(), n));
    }

    /// <summary>
    /// The manifold of <paramref name="n"/> reference images chosen by <see cref="ManifoldReferenceSeed"/>, fitted on
    /// first use and kept while N stays the same (the floor and every cell of a sweep share one N).
    /// </summary>
    private RealManifold ManifoldReference(int n)
    {
        lock (manifoldLock)
        {
            if (manifoldReference?.Count != n)
            {
                using var scope = torch.NewDisposeScope();
                manifoldReference = RealManifold.Fit(SeededRows(torch.tensor(referenceFeatures, [Reference.Count, Judge.Config.Features], dtype: ScalarType.Float32), n));
            }

            return manifoldReference;
        }
    }

    /// <summary><paramref name="n"/> rows of <paramref name="features"/> [N, D] chosen by <see cref="ManifoldReferenceSeed"/>, in their order; all of them when N = n.</summary>
    private static Tensor SeededRows(Tensor features, int n)
    {
        var total = (int)features.shape[0];
        return n < total
            ? features.index_select(0, torch.tensor(ChooseIndices(total, n, ManifoldReferenceSeed).Select(i => (long)i).ToArray()))
            : features;
    }

    /// <summary><paramref name="count"/> images of <paramref name="data"/> chosen without replacement by a seeded permutation, in their original order.</summary>
    public static ImageDataset Subset(ImageDataset data, int count, long seed)
    {
        if (count >= data.Count)
        {
            return data;
        }

        return data.Pick(ChooseIndices(data.Count, count, seed));
    }

    /// <summary><paramref name="count"/> of the indices 0 … <paramref name="total"/> − 1, chosen without replacement by a seeded permutation, ascending.</summary>
    private static int[] ChooseIndices(int total, int count, long seed)
    {
        int[] chosen;
        using (var generator = new Generator((ulong)seed))
        using (var order = torch.randperm(total, generator: generator))
        using (var head = order[..count])
        using (var ints = head.to(ScalarType.Int32))
        {
            chosen = ints.data<int>().ToArray();
        }

        Array.Sort(chosen);
        return chosen;
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="what"/> (C×H×W images) is what the judge takes.</summary>
    public static void RequireShape(Judge judge, int channels, int height, int width, string what)
    {
        var c = judge.Config;
        if (channels != c.ImageChannels || height != c.ImageSize || width != c.ImageSize)
        {
            throw new ArgumentException(
                $"The judge takes {c.ImageChannels}×{c.ImageSize}×{c.ImageSize} images but {what} are {channels}×{height}×{width}. The judge and the reference set are MNIST's, so eval scores {c.ImageChannels}×{c.ImageSize}×{c.ImageSize} images only; compare other models with 'ddim loss --data DIR'.");
        }
    }
}
