using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>
/// Seeded random draws on any device. TorchSharp's <see cref="Generator"/> is a CPU generator whatever device it is
/// given (its native constructor ignores the device, and libtorch's CUDA kernels refuse a CPU generator), so every draw
/// is made on the CPU from the caller's generator and then moved. One seed gives the same numbers on every device.
/// </summary>
public static class Draws
{
    /// <summary>Standard normal values of the given shape and dtype on <paramref name="device"/>.</summary>
    public static Tensor Normal(long[] shape, ScalarType dtype, Device device, Generator generator) =>
        OnDevice(torch.randn(shape, dtype: dtype, device: CPU, generator: generator), device);

    /// <summary><paramref name="count"/> integers drawn uniformly from [0, <paramref name="high"/>), as int64 on <paramref name="device"/>.</summary>
    public static Tensor Integers(long high, long count, Device device, Generator generator) =>
        OnDevice(torch.randint(high, [count], dtype: ScalarType.Int64, device: CPU, generator: generator), device);

    /// <summary>A tensor drawn on the CPU, as it is on the CPU, else moved to <paramref name="device"/> (the CPU copy is disposed).</summary>
    internal static Tensor OnDevice(Tensor cpu, Device device)
    {
        if (device.type == DeviceType.CPU)
        {
            return cpu;
        }

        using (cpu)
        {
            return cpu.to(device);
        }
    }
}
