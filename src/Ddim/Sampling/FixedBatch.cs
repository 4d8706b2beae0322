using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>
/// Makes a network's answers independent of how images are batched. libtorch's CPU convolutions pick their
/// algorithm by batch size, so the same image can come out a few ulps different in a batch of 1, 3 or 64.
/// This wrapper always calls the network with exactly <c>size</c> images (the last group padded with zeros and
/// the padding dropped), so each image's ε̂ is the same bits whatever the caller's batch size.
/// </summary>
public static class FixedBatch
{
    /// <summary>The group size used by <see cref="ImageSampler"/> for trained networks.</summary>
    public const int DefaultSize = 32;

    /// <summary>Wraps <paramref name="model"/> so it is always called on groups of <paramref name="size"/> images.</summary>
    public static NoisePredictor Wrap(NoisePredictor model, int size = DefaultSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        return (x, t) =>
        {
            var n = (int)x.shape[0];
            if (n == size)
            {
                return model(x, t);
            }

            using var scope = torch.NewDisposeScope();
            var outputs = new List<Tensor>();
            for (var start = 0; start < n; start += size)
            {
                var count = Math.Min(size, n - start);
                var xs = x[start..(start + count)];
                var ts = t[start..(start + count)];
                if (count < size)
                {
                    var padShape = x.shape.ToArray();
                    padShape[0] = size - count;
                    xs = torch.cat([xs, torch.zeros(padShape, dtype: x.dtype, device: x.device)], 0);
                    ts = torch.cat([ts, ts[..1].expand(size - count)], 0);
                }

                outputs.Add(model(xs, ts)[..count]);
            }

            return torch.cat(outputs, 0).MoveToOuterDisposeScope();
        };
    }
}
