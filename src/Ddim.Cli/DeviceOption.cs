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
            "--device cuda: CUDA is not available. This build references the CPU libtorch; reference libtorch-cuda-12.8-linux-x64 (or the Windows CUDA package) in src/Ddim/Ddim.csproj on a machine with an NVIDIA GPU, or use --device cpu."),
        _ => throw new ArgumentException($"Unknown --device '{name}'; use cpu or cuda."),
    };
}
