using TorchSharp;

namespace Ddim.Cli;

/// <summary>Parses --device and explains what to do when CUDA is missing.</summary>
internal static class DeviceOption
{
    /// <summary>Its help text.</summary>
    public const string Description = "cpu (default) or cuda.";

    public static torch.Device Parse(string name) => name.ToLowerInvariant() switch
    {
        "cpu" => torch.CPU,
        "cuda" when torch.cuda.is_available() => torch.CUDA,
        "cuda" => throw new InvalidOperationException(
            "--device cuda: CUDA is not available: either this build runs on the CPU libtorch that the NuGet build carries (on a machine with an NVIDIA GPU, run the command through scripts/cuda.sh, which runs this CLI with a CUDA libtorch such as PyTorch's), or no GPU or driver is visible (check nvidia-smi). Else use --device cpu."),
        _ => throw new ArgumentException($"Unknown --device '{name}'; use cpu or cuda."),
    };
}
