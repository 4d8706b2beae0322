using TorchSharp;

namespace Ddim.Cli;

/// <summary>Parses --device and explains what to do when CUDA is missing.</summary>
internal static class DeviceOption
{
    public static torch.Device Parse(string name) => name.ToLowerInvariant() switch
    {
        "cpu" => torch.CPU,
        "cuda" when torch.cuda.is_available() => torch.CUDA,
        "cuda" => throw new InvalidOperationException(
            "--device cuda: CUDA is not available. This build carries the CPU libtorch. On a machine with an NVIDIA GPU, train with scripts/train-cuda.sh (this CLI with a CUDA libtorch, e.g. PyTorch's), or reference libtorch-cuda-12.8-linux-x64 in src/Ddim/Ddim.csproj; else use --device cpu."),
        _ => throw new ArgumentException($"Unknown --device '{name}'; use cpu or cuda."),
    };
}
