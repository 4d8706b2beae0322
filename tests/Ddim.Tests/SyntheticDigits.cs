using Ddim.Data;
using Ddim.Evaluation;

namespace Ddim.Tests;

/// <summary>
/// A tiny, easily separable stand-in for MNIST: 8×8 grey images of three classes — a horizontal bar, a vertical
/// bar, or a 3×3 square — at random positions over a faint noisy background.
/// </summary>
internal static class SyntheticDigits
{
    public const int Size = 8;
    public const int Classes = 3;

    public static JudgeConfig TinyJudge => new(ImageChannels: 1, ImageSize: Size, Classes: Classes, Channels1: 4, Channels2: 8, Features: 16, Dropout: 0.1);

    public static ImageDataset Make(int count, int seed, string name = "synthetic")
    {
        var random = new Random(seed);
        var pixels = new byte[count * Size * Size];
        var labels = new byte[count];
        for (var i = 0; i < count; i++)
        {
            var label = i % Classes;
            labels[i] = (byte)label;
            var image = pixels.AsSpan(i * Size * Size, Size * Size);
            for (var p = 0; p < image.Length; p++)
            {
                image[p] = (byte)random.Next(0, 40);
            }

            var a = random.Next(1, Size - 3);
            var b = random.Next(1, Size - 3);
            for (var k = 0; k < 6; k++)
            {
                switch (label)
                {
                    case 0:
                        image[(a * Size) + 1 + k] = (byte)random.Next(200, 256);
                        break;
                    case 1:
                        image[((1 + k) * Size) + b] = (byte)random.Next(200, 256);
                        break;
                    default:
                        image[((a + (k % 3)) * Size) + b + (k / 3)] = (byte)random.Next(200, 256);
                        image[((a + (k % 3)) * Size) + b + 2] = (byte)random.Next(200, 256);
                        break;
                }
            }
        }

        return new ImageDataset(name, pixels, count, 1, Size, Size, labels);
    }

    /// <summary>A tiny judge trained for a few quick epochs on <see cref="Make"/> data.</summary>
    public static Judge TrainedJudge(int epochs = 3, long seed = 0) =>
        JudgeTrainer.Train(new JudgeTrainConfig(TinyJudge, epochs, BatchSize: 32, LearningRate: 1e-2, Seed: seed), Make(300, 1, "synthetic-train"));
}
