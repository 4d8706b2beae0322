using System.Runtime.InteropServices;

namespace Ddim.Native;

/// <summary>
/// Hands freed native memory back to the operating system. libtorch frees its tensors through glibc's malloc, which
/// keeps freed pages in its arenas: sampling 10,000 images grew a process to 1.9 GB although each batch needs a few
/// hundred MB. Trimming after each batch keeps it flat (measured: 240 MB after 150 batches instead of 560 MB).
/// </summary>
internal static class NativeMemory
{
    private static bool unavailable = !OperatingSystem.IsLinux();

    /// <summary>Calls glibc's <c>malloc_trim(0)</c>; a no-op off glibc.</summary>
    public static void Trim()
    {
        if (unavailable)
        {
            return;
        }

        try
        {
            _ = MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            unavailable = true; // musl and other C libraries have no malloc_trim.
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
