using Ddim.Models;

namespace Ddim.Cli;

/// <summary>Parses --precision: the number format the network runs in.</summary>
internal static class PrecisionOption
{
    /// <summary>Its help text for the commands that sample.</summary>
    public const string Description = "The network's number format: fp32 (default) or bf16, a bfloat16 copy of the network (the sampler's own arithmetic stays float32). bf16 sampled 1.9× faster on a CPU with native bfloat16 (AVX512-BF16) and is likely slower on others; its images differ from fp32's in the last bits of each step (docs/results/bf16.md).";

    public static NetworkPrecision Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "fp32" or "float32" => NetworkPrecision.Float32,
        "bf16" or "bfloat16" => NetworkPrecision.BFloat16,
        _ => throw new ArgumentException($"--precision must be fp32 or bf16 (got '{text}')."),
    };
}
