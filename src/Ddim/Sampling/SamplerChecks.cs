using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>Argument checks and the network call shared by the samplers.</summary>
internal static class SamplerChecks
{
    public static void RequireMatching(Tensor x, NoiseSchedule schedule, int timetableT)
    {
        if (x.dtype != ScalarType.Float32 && x.dtype != ScalarType.Float64)
        {
            throw new ArgumentException($"Samplers work in float32 or float64; x_T is {x.dtype}.", nameof(x));
        }

        if (x.dim() < 1 || x.shape[0] < 1)
        {
            throw new ArgumentException("x_T must be a batch [B, …] with B ≥ 1.", nameof(x));
        }

        if (timetableT != schedule.T)
        {
            throw new ArgumentException($"The timetable was made for T = {timetableT} but the schedule has T = {schedule.T}.");
        }
    }

    /// <summary>ε̂ = model(x, t) with t broadcast over the batch; checks the shape of the answer.</summary>
    public static Tensor Predict(NoisePredictor model, Tensor x, int t)
    {
        using var tt = torch.full(x.shape[0], t, dtype: ScalarType.Int64, device: x.device);
        var eps = model(x, tt);
        if (!eps.shape.SequenceEqual(x.shape))
        {
            throw new InvalidOperationException($"The noise predictor returned shape [{string.Join(", ", eps.shape)}] for input [{string.Join(", ", x.shape)}].");
        }

        if (!SameDevice(eps, x))
        {
            throw new InvalidOperationException($"The noise predictor returned ε̂ on {eps.device} for x_t on {x.device}: have it answer on the input's device.");
        }

        return eps.dtype == x.dtype ? eps : eps.to(x.dtype);
    }

    /// <summary>
    /// The noise z for step <paramref name="index"/> from <paramref name="noise"/>, checked against x: its shape and
    /// device must match (a mismatch would fail deep in libtorch, or broadcast); another float dtype is cast to x's, so
    /// that a float64 source cannot turn a float32 run into float64 for the steps after it.
    /// </summary>
    public static Tensor NextNoise(INoiseSource noise, int index, Tensor x)
    {
        var z = noise.Next(index, x);
        if (!z.shape.SequenceEqual(x.shape) || !SameDevice(z, x))
        {
            throw new InvalidOperationException(
                $"The noise source gave z [{string.Join(", ", z.shape)}] on {z.device} for x [{string.Join(", ", x.shape)}] on {x.device} at step {index}: it must draw noise shaped like x, on x's device.");
        }

        return z.dtype == x.dtype ? z : z.to(x.dtype);
    }

    private static bool SameDevice(Tensor a, Tensor b) => a.device_type == b.device_type && a.device_index == b.device_index;
}
