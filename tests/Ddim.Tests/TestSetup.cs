using System.Runtime.CompilerServices;

namespace Ddim.Tests;

internal static class TestSetup
{
    /// <summary>
    /// $DDIM_DATA for the tests: a folder below a file, which cannot be made on any OS, so a test that reaches for a
    /// real data set without its own --data-dir fails at once with "Cannot write the data to …", instead of reading
    /// this machine's cache (~/.cache/ddim/datasets) or downloading MNIST on a fresh one.
    /// </summary>
    internal static string NoDataSets { get; private set; } = string.Empty;

#pragma warning disable CA2255 // The native TorchSharp library must be made loadable before any test touches torch.
    [ModuleInitializer]
    internal static void Init()
    {
        Ddim.Native.TorchRuntime.Initialize();
        var blocker = Path.Combine(Path.GetTempPath(), $"ddim-tests-use-no-real-data-{Environment.ProcessId}");
        File.WriteAllText(blocker, "A file, so that $DDIM_DATA below it cannot be created: tests must not use real data sets.\n");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(blocker);
        NoDataSets = Path.Combine(blocker, "datasets");
        Environment.SetEnvironmentVariable("DDIM_DATA", NoDataSets);
    }
#pragma warning restore CA2255
}
