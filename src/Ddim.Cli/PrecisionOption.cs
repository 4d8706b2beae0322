using Ddim.Models;

namespace Ddim.Cli;

/// <summary>Parses --precision: the number format the network runs in.</summary>
internal static class PrecisionOption
{
    /// <summary>Its help text for the commands that sample.</summary>
    public const string Description = "The network's number format: fp32 (default) or bf16, a bfloat16 copy of the network (the sampler's own arithmetic stays float32). On a CPU with native bfloat16 (AVX512-BF16) bf16 ran the network 1.9× faster; others emulate it and are likely slower. bfloat16 keeps 8 significant bits, so images differ slightly from fp32's and scores are not comparable with fp32's (docs/results/bf16.md).";

    /// <summary>" (network in bfloat16)" where <paramref name="sampler"/> runs one, for a command's closing line; empty otherwise.</summary>
    public static string Note(Ddim.Sampling.ImageSampler sampler) => sampler.Precision == NetworkPrecision.BFloat16 ? " (network in bfloat16)" : string.Empty;

    public static NetworkPrecision Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "fp32" or "float32" => NetworkPrecision.Float32,
        "bf16" or "bfloat16" => NetworkPrecision.BFloat16,
        _ => throw new ArgumentException($"--precision must be fp32 or bf16 (got '{text}')."),
    };
}
