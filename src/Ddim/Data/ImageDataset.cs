using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Data;

/// <summary>
/// Images held in memory as bytes [N, C, H, W] (0..255), with optional labels. Training reads batches as floats
/// in [−1, 1]: x = 2·(byte/255) − 1.
/// </summary>
public sealed class ImageDataset
{
    /// <summary>Creates a dataset; <paramref name="pixels"/> has N·C·H·W bytes.</summary>
    /// <remarks>The dataset keeps <paramref name="pixels"/> itself, not a copy: change the array and you change the data (and its <see cref="Hash"/>).</remarks>
    public ImageDataset(string name, byte[] pixels, int count, int channels, int height, int width, byte[]? labels = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(pixels);
        if (count < 1 || channels < 1 || height < 1 || width < 1 || (double)count * channels * height * width != pixels.Length)
        {
            throw new ArgumentException($"Dataset '{name}': {pixels.Length} bytes do not make {count} images of {channels}×{height}×{width}.");
        }

        if (labels is not null && labels.Length != count)
        {
            throw new ArgumentException($"Dataset '{name}': {labels.Length} labels for {count} images.");
        }

        Name = name;
        Pixels = pixels;
        Count = count;
        Channels = channels;
        Height = height;
        Width = width;
        Labels = labels;
    }

    /// <summary>A short name, e.g. "mnist-train".</summary>
    public string Name { get; }

    /// <summary>The raw pixels, [N, C, H, W] row-major.</summary>
    public byte[] Pixels { get; }

    /// <summary>Labels, if the data set has them.</summary>
    public byte[]? Labels { get; }

    /// <summary>N.</summary>
    public int Count { get; }

    /// <summary>C.</summary>
    public int Channels { get; }

    /// <summary>H.</summary>
    public int Height { get; }

    /// <summary>W.</summary>
    public int Width { get; }

    /// <summary>SHA-256 of the pixels and shape, hex: identifies the training data inside checkpoints (computed on each read).</summary>
    public string Hash
    {
        get
        {
            using var sha = SHA256.Create();
            var header = System.Text.Encoding.ASCII.GetBytes($"{Count}x{Channels}x{Height}x{Width}");
            sha.TransformBlock(header, 0, header.Length, null, 0);
            sha.TransformFinalBlock(Pixels, 0, Pixels.Length);
            return Convert.ToHexStringLower(sha.Hash!);
        }
    }

    /// <summary>All images as a float32 tensor [N, C, H, W] in [−1, 1].</summary>
    public Tensor ToTensor(Device? device = null) => ToTensor(0, Count, device);

    /// <summary>
    /// Images <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1 as a float32 tensor
    /// [count, C, H, W] in [−1, 1]: byte b becomes b/127.5 − 1, so 0 is −1 and 255 is 1.
    /// </summary>
    public Tensor ToTensor(int start, int count, Device? device = null)
    {
        if (start < 0 || count < 0 || start > Count - count)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"Images {start} … {start + count - 1} are outside the {Count} images of '{Name}'.");
        }

        using var scope = torch.NewDisposeScope();
        var per = Channels * Height * Width;
        var bytes = torch.tensor(Pixels.AsSpan(start * per, count * per).ToArray(), [count, Channels, Height, Width], dtype: ScalarType.Byte);
        return ((bytes.to(ScalarType.Float32) / 127.5) - 1.0).to(device ?? CPU).MoveToOuterDisposeScope();
    }

    /// <summary>The images (and labels) at <paramref name="indices"/>, in that order, as a new dataset.</summary>
    public ImageDataset Pick(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Count == 0)
        {
            throw new ArgumentException("Pick needs at least one index.", nameof(indices));
        }

        foreach (var i in indices)
        {
            if (i < 0 || i >= Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"Every index must be in 0 … {Count - 1}, the images of '{Name}'.");
            }
        }

        var per = Channels * Height * Width;
        var pixels = new byte[(long)indices.Count * per];
        var labels = Labels is null ? null : new byte[indices.Count];
        for (var i = 0; i < indices.Count; i++)
        {
            Array.Copy(Pixels, (long)indices[i] * per, pixels, (long)i * per, per);
            if (labels is not null)
            {
                labels[i] = Labels![indices[i]];
            }
        }

        return new ImageDataset(Name, pixels, indices.Count, Channels, Height, Width, labels);
    }

    /// <summary>The first <paramref name="n"/> images (all of them when <paramref name="n"/> ≥ <see cref="Count"/>) as a new dataset.</summary>
    public ImageDataset Take(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        n = Math.Min(n, Count);
        var per = Channels * Height * Width;
        return new ImageDataset(Name, Pixels.AsSpan(0, n * per).ToArray(), n, Channels, Height, Width, Labels?.AsSpan(0, n).ToArray());
    }

    /// <summary>Builds a dataset from IDX image and (optional) label files, e.g. MNIST's.</summary>
    public static ImageDataset FromIdx(string name, string imagesPath, string? labelsPath = null)
    {
        var images = Idx.Read(imagesPath);
        if (images.Dimensions.Length != 3)
        {
            throw new InvalidDataException($"{imagesPath}: expected images of rank 3 [N, H, W], got rank {images.Dimensions.Length}.");
        }

        byte[]? labels = null;
        if (labelsPath is not null)
        {
            var l = Idx.Read(labelsPath);
            if (l.Dimensions.Length != 1 || l.Dimensions[0] != images.Dimensions[0])
            {
                throw new InvalidDataException($"{labelsPath}: {string.Join("×", l.Dimensions)} labels do not match {images.Dimensions[0]} images.");
            }

            labels = l.Data;
        }

        return new ImageDataset(name, images.Data, images.Dimensions[0], 1, images.Dimensions[1], images.Dimensions[2], labels);
    }
}
