using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Ddim.Native;

/// <summary>
/// Makes TorchSharp's native library load on hosts whose libstdc++ is older than GCC 13 (Debian 12 and friends).
/// </summary>
/// <remarks>
/// <para>
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> declares a dependency on the symbol version <c>GLIBCXX_3.4.32</c>
/// (libstdc++ of GCC 13). Debian 12 ships only 3.4.30, so <c>dlopen</c> refuses the library. The only symbol bound to
/// that version is <c>std::ios_base_library_init()</c>, which GCC 13 references from every translation unit that
/// includes &lt;iostream&gt; but which the library never calls.
/// </para>
/// <para>
/// The fix: in the application's own copy of the library (never the NuGet cache) set <c>VER_FLG_WEAK</c> on that one
/// version requirement. glibc's loader then accepts a host that lacks the version, and since the symbol is bound
/// lazily and never called, nothing else changes. The patch is applied only when (a) the host libstdc++ lacks the
/// version, and (b) every symbol bound to it is in <see cref="UnusedSymbols"/>; otherwise it is a no-op or a clear
/// error. The file is rewritten atomically (temp file, then rename).
/// </para>
/// </remarks>
internal static class LibStdCxxCompat
{
    /// <summary>The symbol version that GCC 13 introduced and that TorchSharp 0.107 requires.</summary>
    public const string Version = "GLIBCXX_3.4.32";

    /// <summary>Symbols known to be referenced, but never called, under <see cref="Version"/>.</summary>
    public static readonly IReadOnlyList<string> UnusedSymbols = ["_ZSt21ios_base_library_initv"];

    private const ushort VerFlgWeak = 0x2;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;
    private const uint ShtDynsym = 11;

    /// <summary>What <see cref="Apply"/> did to one file.</summary>
    public enum Outcome
    {
        /// <summary>The file does not require <see cref="Version"/>, or already marks it weak.</summary>
        NotNeeded,

        /// <summary>The version requirement was marked weak.</summary>
        Patched,
    }

    /// <summary>
    /// Patches TorchSharp's native library next to the running application when the host needs it. Call once,
    /// before the first TorchSharp call. Safe to call many times and on any OS (no-op off Linux).
    /// </summary>
    public static void EnsureForApplication()
    {
        if (!OperatingSystem.IsLinux() || (LoadedLibStdCxxHasVersion() ?? HostHasVersion(Version)))
        {
            return;
        }

        foreach (var path in CandidateLibraryPaths(AppContext.BaseDirectory))
        {
            if (File.Exists(path))
            {
                try
                {
                    Apply(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new IOException(
                        $"TorchSharp's native library {path} needs a one-byte patch on this host (its libstdc++ lacks {Version}), and this process cannot write it ({e.Message}). " +
                        $"Run any ddim command once as the owner of {Path.GetDirectoryName(path)}, or copy the application to a folder you can write, " +
                        $"or put a libstdc++.so.6 that has {Version} (GCC 13 or newer) in LD_LIBRARY_PATH.", e);
                }
                catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or OverflowException)
                {
                    throw new InvalidDataException($"TorchSharp's native library {path} is damaged (its ELF tables do not read: {e.Message}). Restore it: build or publish the application again.", e);
                }
            }
        }
    }

    /// <summary>
    /// Whether the libstdc++ this process has loaded (the one the loader will bind TorchSharp to, LD_PRELOAD and
    /// ld.so.conf included) defines <see cref="Version"/>: it does when it exports <c>std::ios_base_library_init()</c>,
    /// which came with it. Null when no libstdc++ can be loaded.
    /// </summary>
    public static bool? LoadedLibStdCxxHasVersion()
    {
        if (!NativeLibrary.TryLoad("libstdc++.so.6", out var handle))
        {
            return null;
        }

        return NativeLibrary.TryGetExport(handle, UnusedSymbols[0], out _);
    }

    /// <summary>Where the .NET host looks for <c>libLibTorchSharp.so</c> in an application folder.</summary>
    public static IEnumerable<string> CandidateLibraryPaths(string appDirectory)
    {
        yield return Path.Combine(appDirectory, "libLibTorchSharp.so");
        yield return Path.Combine(appDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", "libLibTorchSharp.so");
        yield return Path.Combine(appDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    /// <summary>True when a libstdc++ of this host defines the given symbol version.</summary>
    public static bool HostHasVersion(string version)
    {
        var needle = Encoding.ASCII.GetBytes(version + "\0");
        var dirs = (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib"]);
        var found = false;
        foreach (var dir in dirs)
        {
            var lib = Path.Combine(dir, "libstdc++.so.6");
            if (!File.Exists(lib))
            {
                continue;
            }

            found = true;
            if (File.ReadAllBytes(lib).AsSpan().IndexOf(needle) >= 0)
            {
                return true;
            }
        }

        // No libstdc++ found where we looked: do not guess, leave the library untouched.
        return !found;
    }

    /// <summary>
    /// Marks the <see cref="Version"/> requirement of an ELF64 little-endian shared library as weak, in place and
    /// atomically. Throws <see cref="InvalidOperationException"/> when a symbol other than
    /// <see cref="UnusedSymbols"/> needs that version, since then the library would really call into a newer libstdc++.
    /// </summary>
    public static Outcome Apply(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var outcome = Patch(bytes, path);
        if (outcome == Outcome.Patched)
        {
            Atomic.WriteAllBytes(path, bytes);
        }

        return outcome;
    }

    /// <summary>Patches an in-memory ELF image; see <see cref="Apply"/>.</summary>
    public static Outcome Patch(byte[] elf, string nameForErrors = "library")
    {
        var span = elf.AsSpan();
        if (elf.Length < 64 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
        {
            throw new InvalidDataException($"{nameForErrors} is not an ELF file.");
        }

        if (span[4] != 2 || span[5] != 1)
        {
            throw new InvalidDataException($"{nameForErrors} is not a 64-bit little-endian ELF file.");
        }

        var shoff = (long)ReadU64(span, 0x28);
        var shentsize = ReadU16(span, 0x3A);
        var shnum = ReadU16(span, 0x3C);
        if (shnum > 0 && shentsize < 64)
        {
            throw new InvalidDataException($"{nameForErrors} has section headers of {shentsize} bytes, not 64.");
        }

        var sections = new (uint Type, long Offset, long Size, uint Link, uint Info, long EntSize)[shnum];
        for (var i = 0; i < shnum; i++)
        {
            var h = span.Slice(checked((int)(shoff + (i * shentsize))), shentsize);
            sections[i] = (ReadU32(h, 4), (long)ReadU64(h, 0x18), (long)ReadU64(h, 0x20), ReadU32(h, 0x28), ReadU32(h, 0x2C), (long)ReadU64(h, 0x38));
        }

        var verneedIndex = Array.FindIndex(sections, s => s.Type == ShtGnuVerneed);
        if (verneedIndex < 0)
        {
            return Outcome.NotNeeded;
        }

        var verneed = sections[verneedIndex];
        if (verneed.Link >= sections.Length)
        {
            throw new InvalidDataException($"{nameForErrors}: its version-requirement section links to section {verneed.Link}, past its {sections.Length} sections.");
        }

        var strtab = sections[verneed.Link].Offset;
        ushort? versionIndex = null;
        int flagsOffset = -1;
        var vn = checked((int)verneed.Offset);
        for (var entry = 0; entry < verneed.Info; entry++) // sh_info: the number of Verneed entries
        {
            var cnt = ReadU16(span, vn + 2);
            var aux = vn + (int)ReadU32(span, vn + 8);
            for (var j = 0; j < cnt; j++)
            {
                if (ReadCString(span, strtab + ReadU32(span, aux + 8)) == Version)
                {
                    flagsOffset = aux + 4;
                    versionIndex = ReadU16(span, aux + 6);
                }

                aux += (int)ReadU32(span, aux + 12);
            }

            var next = ReadU32(span, vn + 12);
            if (next == 0)
            {
                break;
            }

            vn = checked(vn + (int)next);
        }

        if (versionIndex is null || (ReadU16(span, flagsOffset) & VerFlgWeak) != 0)
        {
            return Outcome.NotNeeded;
        }

        var users = SymbolsBoundTo(span, sections, versionIndex.Value, nameForErrors);
        var unexpected = users.Except(UnusedSymbols).ToList();
        if (unexpected.Count > 0)
        {
            throw new InvalidOperationException(
                $"{nameForErrors} calls {string.Join(", ", unexpected)} from {Version}, which this host's libstdc++ lacks. " +
                "Install a libstdc++ from GCC 13 or newer (for example Debian 13 or Ubuntu 24.04).");
        }

        BinaryPrimitives.WriteUInt16LittleEndian(span[flagsOffset..], (ushort)(ReadU16(span, flagsOffset) | VerFlgWeak));
        return Outcome.Patched;
    }

    private static List<string> SymbolsBoundTo(ReadOnlySpan<byte> span, (uint Type, long Offset, long Size, uint Link, uint Info, long EntSize)[] sections, ushort versionIndex, string nameForErrors)
    {
        var result = new List<string>();
        var dynsym = Array.Find(sections, s => s.Type == ShtDynsym);
        var versym = Array.Find(sections, s => s.Type == ShtGnuVersym);
        if (dynsym.EntSize == 0 || versym.Size == 0)
        {
            // Without the symbol tables nothing shows which symbols need the version: patching then would be a guess.
            throw new InvalidOperationException(
                $"{nameForErrors} needs {Version}, which this host's libstdc++ lacks, and has no dynamic symbol or symbol-version table to show which calls need it, so it cannot be made to load safely. " +
                "Install a libstdc++ from GCC 13 or newer (for example Debian 13 or Ubuntu 24.04).");
        }

        var names = sections[dynsym.Link].Offset;
        var count = dynsym.Size / dynsym.EntSize;
        for (var i = 0; i < count; i++)
        {
            var ver = ReadU16(span, (int)(versym.Offset + (2 * i))) & 0x7fff;
            if (ver == versionIndex)
            {
                result.Add(ReadCString(span, names + ReadU32(span, (int)(dynsym.Offset + (i * dynsym.EntSize)))));
            }
        }

        return result;
    }

    private static string ReadCString(ReadOnlySpan<byte> span, long offset)
    {
        var s = span[(int)offset..];
        return Encoding.ASCII.GetString(s[..s.IndexOf((byte)0)]);
    }

    private static ushort ReadU16(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt16LittleEndian(s[o..]);

    private static uint ReadU32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt32LittleEndian(s[o..]);

    private static ulong ReadU64(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt64LittleEndian(s[o..]);
}
