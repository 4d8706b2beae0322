namespace Ddim.Cli;

/// <summary>The --threads option: how many CPU threads libtorch may use.</summary>
internal static class ThreadsOption
{
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
