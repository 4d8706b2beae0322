using TorchSharp;

namespace Ddim.Models;

/// <summary>Number format the network runs in: its forward pass when sampling, forward and backward when training.</summary>
public enum NetworkPrecision
{
    /// <summary>Everything in float32 (the default; bit-reproducible on a given machine and thread count).</summary>
    Float32,

    /// <summary>
    /// A bfloat16 copy of the network: a whole cast, not autocast, so x_t, GroupNorm, attention and the residual stream
    /// all run in bfloat16 (x_t at t near 0 carries its noise at about 1/128 relative precision). Training: mixed precision; its gradients are cast to float32 for clipping and
    /// AdamW on the float32 weights, which the EMA follows (1.5–1.7× faster than float32 on a 2-core AMD EPYC with
    /// AVX512-BF16; still deterministic and exactly resumable on one machine). Sampling: the network runs on bfloat16
    /// copies of x_t and its ε̂ is cast back to float32, so the sampler's own arithmetic (x̂0, σ, the update) stays
    /// float32. CPUs without native bfloat16 emulate it and are likely slower than float32.
    /// </summary>
    BFloat16,
}

/// <summary>What <see cref="NetworkPrecision"/> needs of the hardware.</summary>
public static class NetworkPrecisions
{
    /// <summary>The libtorch dtype of a precision.</summary>
    public static torch.ScalarType ScalarType(this NetworkPrecision precision) =>
        precision == NetworkPrecision.BFloat16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32;

    /// <summary>The precision <paramref name="network"/>'s weights are in; a clear error for a dtype that is neither.</summary>
    public static NetworkPrecision Of(UNet network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return network.parameters().First().dtype switch
        {
            torch.ScalarType.Float32 => NetworkPrecision.Float32,
            torch.ScalarType.BFloat16 => NetworkPrecision.BFloat16,
            var dtype => throw new ArgumentException($"Ddim runs networks in float32 or bfloat16 (see {nameof(NetworkPrecision)}); this one's weights are {dtype}.", nameof(network)),
        };
    }

    /// <summary>
    /// A warning, starting with a space, where bfloat16 would run on an x86 CPU without native bfloat16 instructions
    /// (read from /proc/cpuinfo's flags on Linux; other systems and architectures are not checked); empty otherwise.
    /// </summary>
    public static string BFloat16Hint(torch.Device device)
    {
        const string cpuInfo = "/proc/cpuinfo";
        if (device.type != DeviceType.CPU || !File.Exists(cpuInfo))
        {
            return "";
        }

        var flags = File.ReadLines(cpuInfo).FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
        if (flags is null)
        {
            return "";
        }

        var native = flags.Split(' ', ':', '\t').Any(f => f is "avx512_bf16" or "amx_bf16");
        return native ? "" : " This CPU has no native bfloat16 instructions (avx512_bf16, amx_bf16): float32 is likely faster here.";
    }
}
