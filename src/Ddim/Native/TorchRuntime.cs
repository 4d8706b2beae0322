using System.Runtime.CompilerServices;

namespace Ddim.Native;

/// <summary>Prepares the native TorchSharp runtime before its first use.</summary>
public static class TorchRuntime
{
    private static readonly Lazy<bool> Initialized = new(() =>
    {
        LibStdCxxCompat.EnsureForApplication();
        return true;
    });

    /// <summary>
    /// Runs the host compatibility step (<see cref="LibStdCxxCompat"/>) once. The Ddim assembly calls this from its
    /// module initializer; call it yourself first if your code touches <c>TorchSharp.torch</c> before any Ddim type.
    /// </summary>
    public static void Initialize() => _ = Initialized.Value;

#pragma warning disable CA2255 // A library module initializer is deliberate: the native library must be fixed before TorchSharp loads it.
    [ModuleInitializer]
    internal static void OnModuleLoad()
    {
        try
        {
            Initialize();
        }
        catch (Exception)
        {
            // Not here: a module initializer's exception is an unreadable crash. The Lazy keeps it, and the next
            // Initialize() throws it where it can be read: the CLI's first line, and the UNet and Judge constructors
            // (every network Ddim builds or loads), for code that uses the library.
        }
    }
#pragma warning restore CA2255
}
