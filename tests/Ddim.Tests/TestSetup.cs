using System.Runtime.CompilerServices;

namespace Ddim.Tests;

internal static class TestSetup
{
    /// <summary>
    /// $DDIM_DATA for the tests: a folder that cannot exist (below /dev/null), so a test that reaches for a real data
    /// set without its own --data-dir fails at once with "Cannot write the data to …", instead of reading this
    /// machine's cache (~/.cache/ddim/datasets) or downloading MNIST on a fresh one.
    /// </summary>
    internal const string NoDataSets = "/dev/null/ddim-tests-use-no-real-data";

#pragma warning disable CA2255 // The native TorchSharp library must be made loadable before any test touches torch.
    [ModuleInitializer]
    internal static void Init()
    {
        Ddim.Native.TorchRuntime.Initialize();
        Environment.SetEnvironmentVariable("DDIM_DATA", NoDataSets);
    }
#pragma warning restore CA2255
}
