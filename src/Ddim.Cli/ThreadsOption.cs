namespace Ddim.Cli;

/// <summary>The --threads option: how many CPU threads libtorch may use.</summary>
internal static class ThreadsOption
{
    /// <summary>Its help text.</summary>
    public const string Description = "CPU threads for libtorch, 1 … 4 × the cores (default: all cores; 1 is faster when other jobs share the cores).";

    public static void Apply(int? threads)
    {
        if (threads is not { } n)
        {
            return;
        }

        // Far more threads than cores only slow libtorch down (10 s for a 1 s job at 100,000), so cap it.
        var most = 4 * Environment.ProcessorCount;
        if (n < 1 || n > most)
        {
            throw new ArgumentException($"--threads must be between 1 and {most} (4 × this machine's {Environment.ProcessorCount} cores); got {n}.");
        }

        TorchSharp.torch.set_num_threads(n);
    }
}
