using System.Runtime.CompilerServices;

namespace Ddim.Tests;

internal static class TestSetup
{
#pragma warning disable CA2255 // The native TorchSharp library must be made loadable before any test touches torch.
    [ModuleInitializer]
    internal static void Init() => Ddim.Native.TorchRuntime.Initialize();
#pragma warning restore CA2255
}
