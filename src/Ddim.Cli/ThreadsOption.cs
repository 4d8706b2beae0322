namespace Ddim.Cli;

/// <summary>The --threads option: how many CPU threads libtorch may use.</summary>
internal static class ThreadsOption
{
    /// <summary>Its help text.</summary>
    public const string Description = "CPU threads for libtorch (default: all cores; 1 is faster when other jobs share the cores).";

    public static void Apply(int? threads)
    {
        if (threads is not { } n)
        {
            return;
        }

        if (n < 1)
        {
            throw new ArgumentException($"--threads must be at least 1; got {n}.");
        }

        TorchSharp.torch.set_num_threads(n);
    }
}
