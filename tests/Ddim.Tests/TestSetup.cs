using System.Runtime.CompilerServices;

namespace Ddim.Tests;

internal static class TestSetup
{
#pragma warning disable CA2255 // The native TorchSharp library must be made loadable before any test touches torch.
    [ModuleInitializer]
    internal static void Init()
    {
        Ddim.Native.TorchRuntime.Initialize();

        // Messages format numbers in the current culture (1,048,576); the tests pin English text, so they run in the
        // invariant culture whatever the machine's (the CLI itself runs with invariant globalization).
        System.Globalization.CultureInfo.DefaultThreadCurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
        System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;

        // $DDIM_DATA below a file, which no OS can make a folder of: a test that reaches for a real data set without
        // its own --data-dir fails at once ("Cannot write the data to …") instead of reading this machine's cache
        // (~/.cache/ddim/datasets) or downloading MNIST on a fresh one.
        var blocker = Path.Combine(Path.GetTempPath(), $"ddim-tests-use-no-real-data-{Environment.ProcessId}");
        File.WriteAllText(blocker, "A file, so that $DDIM_DATA below it cannot be created: tests must not use real data sets.\n");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(blocker);
        Environment.SetEnvironmentVariable("DDIM_DATA", Path.Combine(blocker, "datasets"));
    }
#pragma warning restore CA2255

    /// <summary>The checkout the tests were built from (the folder that holds Ddim.slnx).</summary>
    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Ddim.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Ddim.slnx above {AppContext.BaseDirectory}: these tests read files of the checkout they were built from.");
    }
}
