using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>
/// Streams images through a <see cref="Judge"/> and keeps only what the scores need: the running feature
/// statistics (for FID), the features themselves (for the manifold scores: D float32 numbers, 512 bytes with the
/// bundled judge, per image), the histogram of predicted classes, and how many predictions were confident.
/// </summary>
public sealed class JudgeMeter
{
    private readonly long[] classCounts;
    private readonly List<float[]> featureBatches = [];

    /// <summary>Measures with <paramref name="judge"/>; a prediction is confident when its top softmax probability exceeds <paramref name="confidence"/>.</summary>
    public JudgeMeter(Judge judge, double confidence = 0.9)
    {
        if (confidence is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "The confidence threshold must be in [0, 1).");
        }

        Judge = judge;
        Confidence = confidence;
        Features = new FeatureStatistics(judge.Config.Features);
        classCounts = new long[judge.Config.Classes];
    }

    /// <summary>The judge.</summary>
    public Judge Judge { get; }

    /// <summary>The confidence threshold (0.9 by default).</summary>
    public double Confidence { get; }

    /// <summary>Running statistics of the judge's features.</summary>
    public FeatureStatistics Features { get; }

    /// <summary>Images measured so far.</summary>
    public long Count => Features.Count;

    /// <summary>How many images the judge assigned to each class.</summary>
    public IReadOnlyList<long> ClassCounts => classCounts;

    /// <summary>
    /// Images with a NaN pixel (a sampler that diverged): the clamp to [−1, 1] keeps NaN, so their features are NaN
    /// too, and no FID or manifold score of the set is defined (<see cref="Evaluator.Score"/> marks it diverged).
    /// </summary>
    public long NaNImages { get; private set; }

    /// <summary>Images whose top class probability exceeded <see cref="Confidence"/>.</summary>
    public long Confident { get; private set; }

    /// <summary>Share of images classified with confidence above the threshold.</summary>
    public double ConfidentShare => Count == 0 ? 0 : (double)Confident / Count;

    /// <summary>KL(histogram of predicted classes ‖ uniform), in nats (see <see cref="ClassBalance.KlFromUniform"/>).</summary>
    public double ClassKl => ClassBalance.KlFromUniform(classCounts);

    /// <summary>
    /// Measures a batch of images [B, C, H, W] in [−1, 1]. They are judged as they would be saved: clamped to
    /// [−1, 1] and rounded to 8 bits, like the real images they are compared with. The judge runs where its weights
    /// are (the CPU unless it was moved), whatever device the images are on.
    /// </summary>
    public void Add(Tensor images)
    {
        Judge.eval();
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var device = Judge.parameters().First().device;
        NaNImages += images.detach().isnan().flatten(1).any(1).sum().item<long>();
        var (features, logits) = Judge.FeaturesAndLogits(Quantize(images.detach().to(ScalarType.Float32).to(device)));
        Features.Add(features);
        featureBatches.Add(features.to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray());
        var (top, predicted) = logits.to(ScalarType.Float64).cpu().softmax(1).max(1);
        Confident += top.gt(Confidence).sum().item<long>();
        foreach (var c in predicted.to(ScalarType.Int32).data<int>().ToArray())
        {
            classCounts[c]++;
        }
    }

    /// <summary>Every feature vector measured so far, in order, as a new [N, D] float32 tensor (the caller disposes it).</summary>
    public Tensor FeatureMatrix()
    {
        var all = featureBatches.SelectMany(b => b).ToArray();
        return torch.tensor(all, [Count, Features.Dimension], dtype: ScalarType.Float32);
    }

    /// <summary>Rounds images in [−1, 1] to the 256 levels of an 8-bit image (and clamps them first).</summary>
    public static Tensor Quantize(Tensor images) => (((images.clamp(-1, 1) + 1) * 127.5).round() / 127.5) - 1;
}

/// <summary>How evenly a set of predictions covers the classes.</summary>
public static class ClassBalance
{
    /// <summary>
    /// KL(p ‖ u) = Σ pₖ·ln(K·pₖ) for the class frequencies p and the uniform u over K classes, in nats: 0 when
    /// every class is equally common, ln K (2.30 for 10 classes) when all predictions fall in one class; NaN when there
    /// are no predictions (no balance to speak of).
    /// </summary>
    public static double KlFromUniform(IReadOnlyList<long> counts)
    {
        var total = counts.Sum();
        if (total == 0)
        {
            return double.NaN;
        }

        var k = counts.Count;
        var kl = 0.0;
        foreach (var c in counts)
        {
            if (c > 0)
            {
                var p = (double)c / total;
                kl += p * Math.Log(k * p);
            }
        }

        return Math.Max(0, kl);
    }
}
