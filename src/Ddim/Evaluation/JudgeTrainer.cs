using System.Diagnostics;
using Ddim.Data;
using Ddim.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>How to train a <see cref="Judge"/>.</summary>
/// <param name="Model">The judge's shape.</param>
/// <param name="Epochs">Passes over the training set.</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="LearningRate">Adam's peak learning rate; it decays to 0 along a half cosine over all steps.</param>
/// <param name="Seed">Seeds the initial weights, the shuffling and dropout: the same seed gives the same weights.</param>
public sealed record JudgeTrainConfig(JudgeConfig Model, int Epochs = 3, int BatchSize = 128, double LearningRate = 2e-3, long Seed = 0)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the option to change.</summary>
    public void Validate()
    {
        Model.Validate();
        if (Epochs < 1)
        {
            throw new ArgumentException($"Epochs (--epochs) must be at least 1; got {Epochs}.");
        }

        Sampling.ImageSampler.RequireBatchSize(BatchSize);

        if (!(LearningRate > 0) || !double.IsFinite(LearningRate))
        {
            throw new ArgumentException($"The learning rate must be positive; got {LearningRate}.");
        }
    }

    /// <summary>Learning rate at a (0-based) step out of <paramref name="totalSteps"/>: ½·lr·(1 + cos(π·step/total)).</summary>
    public double LearningRateAt(long step, long totalSteps) => LearningRate * CosineDecay.Factor(step, Math.Max(totalSteps, 1));
}

/// <summary>The end of one training epoch.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="TrainLoss">Mean cross-entropy over the epoch.</param>
/// <param name="TrainAccuracy">Share of training images classified right during the epoch (dropout on).</param>
/// <param name="TestAccuracy">Accuracy on the test set after the epoch, when one was given.</param>
/// <param name="Elapsed">Time since training started.</param>
public sealed record JudgeEpoch(int Epoch, double TrainLoss, double TrainAccuracy, double? TestAccuracy, TimeSpan Elapsed);

/// <summary>Trains the <see cref="Judge"/> with cross-entropy and Adam, and measures its accuracy.</summary>
public static class JudgeTrainer
{
    /// <summary>
    /// Trains a judge on labelled <paramref name="train"/> images and reports each epoch (with the accuracy on
    /// <paramref name="test"/> when given). Deterministic given <see cref="JudgeTrainConfig.Seed"/> (on one machine
    /// and thread count). The judge comes back in eval mode.
    /// </summary>
    public static Judge Train(
        JudgeTrainConfig config,
        ImageDataset train,
        ImageDataset? test = null,
        Action<JudgeEpoch>? epochDone = null,
        Action<long, long, double>? stepDone = null,
        CancellationToken cancel = default)
    {
        config.Validate();
        RequireFits(config.Model, train);
        if (test is not null)
        {
            RequireFits(config.Model, test);
        }

        // --- Set up: seeded weights, shuffling generator, all images and labels as tensors.
        torch.random.manual_seed(config.Seed);
        var judge = new Judge(config.Model);
        using var generator = new Generator((ulong)config.Seed);
        using var optimizer = optim.Adam(judge.parameters(), lr: config.LearningRate);
        using var images = train.ToTensor();
        using var labelBytes = torch.tensor(train.Labels!, dtype: ScalarType.Byte);
        using var labels = labelBytes.to(ScalarType.Int64);
        var stepsPerEpoch = (train.Count + config.BatchSize - 1) / config.BatchSize;
        var totalSteps = (long)stepsPerEpoch * config.Epochs;
        var clock = Stopwatch.StartNew();
        long step = 0;

        for (var epoch = 1; epoch <= config.Epochs; epoch++)
        {
            judge.train();
            using var order = torch.randperm(train.Count, generator: generator);
            double lossSum = 0;
            long correct = 0;
            for (var start = 0; start < train.Count; start += config.BatchSize)
            {
                cancel.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var index = order[start..Math.Min(start + config.BatchSize, train.Count)];
                var x = images.index_select(0, index);
                var y = labels.index_select(0, index);
                var logits = judge.forward(x);
                var loss = nn.functional.cross_entropy(logits, y);

                optimizer.zero_grad();
                loss.backward();
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = config.LearningRateAt(step, totalSteps);
                }

                optimizer.step();
                var lossValue = loss.item<float>();
                lossSum += lossValue * x.shape[0];
                correct += logits.argmax(1).eq(y).sum().item<long>();
                step++;
                stepDone?.Invoke(step, totalSteps, lossValue);
            }

            judge.eval();
            var testAccuracy = test is null ? (double?)null : Accuracy(judge, test);
            epochDone?.Invoke(new JudgeEpoch(epoch, lossSum / train.Count, (double)correct / train.Count, testAccuracy, clock.Elapsed));
        }

        judge.eval();
        return judge;
    }

    /// <summary>Share of labelled images the judge classifies right (in eval mode, in batches).</summary>
    public static double Accuracy(Judge judge, ImageDataset data, int batchSize = 500)
    {
        RequireFits(judge.Config, data);
        var predictions = Predict(judge, data, batchSize);
        var right = 0L;
        for (var i = 0; i < data.Count; i++)
        {
            right += predictions[i] == data.Labels![i] ? 1 : 0;
        }

        return (double)right / data.Count;
    }

    /// <summary>The predicted class of every image of <paramref name="data"/>.</summary>
    public static int[] Predict(Judge judge, ImageDataset data, int batchSize = 500)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        judge.eval();
        using var noGrad = torch.no_grad();
        var result = new int[data.Count];
        foreach (var (start, batch) in Batches(data, batchSize))
        {
            using var scope = torch.NewDisposeScope();
            var predicted = judge.forward(batch).argmax(1).to(ScalarType.Int32).data<int>().ToArray();
            predicted.CopyTo(result, start);
            batch.Dispose();
        }

        return result;
    }

    /// <summary>
    /// The images of a data set as float tensors [b, C, H, W] in [−1, 1], <paramref name="batchSize"/> at a time
    /// (<see cref="ImageDataset.ToTensor(int, int, Device?)"/>). The caller disposes each batch.
    /// </summary>
    internal static IEnumerable<(int Start, Tensor Batch)> Batches(ImageDataset data, int batchSize)
    {
        for (var start = 0; start < data.Count; start += batchSize)
        {
            yield return (start, data.ToTensor(start, Math.Min(batchSize, data.Count - start)));
        }
    }

    private static void RequireFits(JudgeConfig config, ImageDataset data)
    {
        if (data.Channels != config.ImageChannels || data.Height != config.ImageSize || data.Width != config.ImageSize)
        {
            throw new ArgumentException(
                $"The data '{data.Name}' are {data.Channels}×{data.Height}×{data.Width} but the judge takes {config.ImageChannels}×{config.ImageSize}×{config.ImageSize}.");
        }

        if (data.Labels is null)
        {
            throw new ArgumentException($"The data '{data.Name}' have no labels; the judge needs labelled images.");
        }

        var max = data.Labels.Max();
        if (max >= config.Classes)
        {
            throw new ArgumentException($"The data '{data.Name}' have label {max}, but the judge has {config.Classes} classes.");
        }
    }
}
