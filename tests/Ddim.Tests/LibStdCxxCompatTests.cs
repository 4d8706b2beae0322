using System.Buffers.Binary;
using System.Text;
using Ddim.Native;
using Xunit.Abstractions;

namespace Ddim.Tests;

public class LibStdCxxCompatTests(ITestOutputHelper output)
{
    /// <summary>TorchSharp's unpatched native library in the NuGet cache, or null where there is none.</summary>
    private static string? CachedLibrary()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (string.IsNullOrEmpty(packages))
        {
            packages = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        }

        // On Linux the restore put it there; a missing file is a failure to say, not a test to pass in silence.
        var path = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        return File.Exists(path) ? path : throw new FileNotFoundException(
            $"TorchSharp 0.107.0's linux-x64 native library is not at {path}: these tests read the unpatched original from the NuGet packages folder ($NUGET_PACKAGES or ~/.nuget/packages).");
    }

    /// <summary><see cref="CachedLibrary"/>, saying in the test's output that the test is skipped where there is none (off Linux).</summary>
    private string? LibraryOrSkip()
    {
        var cached = CachedLibrary();
        if (cached is null)
        {
            output.WriteLine("Skipped: not Linux.");
        }

        return cached;
    }

    /// <summary>
    /// Offset of vna_flags in the Vernaux entry that names <paramref name="version"/>, found by walking
    /// SHT_GNU_verneed directly (an independent reading of the ELF layout, not the library's).
    /// </summary>
    private static int VernauxFlagsOffset(byte[] elf, string version)
    {
        ulong U64(int o) => BinaryPrimitives.ReadUInt64LittleEndian(elf.AsSpan(o));
        uint U32(int o) => BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(o));
        ushort U16(int o) => BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(o));

        int shoff = (int)U64(0x28), shentsize = U16(0x3A), shnum = U16(0x3C);
        for (var i = 0; i < shnum; i++)
        {
            var sh = shoff + (i * shentsize);
            if (U32(sh + 4) != 0x6ffffffe)
            {
                continue;
            }

            var strtab = (int)U64(shoff + ((int)U32(sh + 0x28) * shentsize) + 0x18);
            var entries = (int)U32(sh + 0x2C); // sh_info: number of Verneed entries
            var vn = (int)U64(sh + 0x18);
            for (var e = 0; e < entries; e++, vn += (int)U32(vn + 12))
            {
                var aux = vn + (int)U32(vn + 8);
                for (var a = 0; a < U16(vn + 2); a++, aux += (int)U32(aux + 12))
                {
                    var nameAt = strtab + (int)U32(aux + 8);
                    var name = Encoding.ASCII.GetString(elf, nameAt, Array.IndexOf(elf, (byte)0, nameAt) - nameAt);
                    if (name == version)
                    {
                        return aux + 4;
                    }
                }
            }
        }

        throw new InvalidOperationException($"No version requirement {version} found.");
    }

    [Fact]
    public void Given_a_copy_of_TorchSharps_native_library_When_applied_twice_Then_patched_once_in_exactly_the_weak_flag_of_GLIBCXX_3_4_32()
    {
        // Given: a copy (the NuGet cache itself is never touched).
        if (LibraryOrSkip() is not { } cached)
        {
            return;
        }

        using var dir = new TempFolder();
        var copy = dir.File("libLibTorchSharp.so");
        File.Copy(cached, copy);
        var original = File.ReadAllBytes(copy);
        var flags = VernauxFlagsOffset(original, LibStdCxxCompat.Version);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(original.AsSpan(flags)) & 0x2);

        // When
        var first = LibStdCxxCompat.Apply(copy);
        var patched = File.ReadAllBytes(copy);
        var second = LibStdCxxCompat.Apply(copy);

        // Then
        Assert.Equal(LibStdCxxCompat.Outcome.Patched, first);
        Assert.Equal(LibStdCxxCompat.Outcome.NotNeeded, second);
        Assert.Equal(patched, File.ReadAllBytes(copy));
        Assert.Equal(original.Length, patched.Length);
        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToArray();
        Assert.NotEmpty(changed);
        Assert.All(changed, i => Assert.InRange(i, flags, flags + 1));
        Assert.Equal(
            BinaryPrimitives.ReadUInt16LittleEndian(original.AsSpan(flags)) | 0x2,
            BinaryPrimitives.ReadUInt16LittleEndian(patched.AsSpan(flags)));
        Assert.Equal(original, File.ReadAllBytes(cached));
        Assert.Equal(["libLibTorchSharp.so"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Given_a_library_with_its_own_permissions_When_patched_Then_the_patched_file_keeps_them()
    {
        // Given: a copy readable by everyone and executable by its owner, as the NuGet file is.
        if (LibraryOrSkip() is not { } cached || OperatingSystem.IsWindows())
        {
            return;
        }

        using var dir = new TempFolder();
        var copy = dir.File("libLibTorchSharp.so");
        File.Copy(cached, copy);
        const UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        File.SetUnixFileMode(copy, mode);

        // When
        var outcome = LibStdCxxCompat.Apply(copy);

        // Then: the atomic rename did not leave the new file with the process's default mode.
        Assert.Equal(LibStdCxxCompat.Outcome.Patched, outcome);
        Assert.Equal(mode, File.GetUnixFileMode(copy));
    }

    [Fact]
    public void Given_a_library_whose_version_section_links_past_its_sections_When_patched_Then_a_clear_InvalidDataException()
    {
        // Given: the real library with the version-requirement section's sh_link set past the last section.
        if (LibraryOrSkip() is not { } cached)
        {
            return;
        }

        var bytes = File.ReadAllBytes(cached);
        var shoff = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x28));
        var shentsize = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3A));
        var shnum = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3C));
        var header = Enumerable.Range(0, shnum).Select(i => shoff + (i * shentsize))
            .Single(h => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(h + 4)) == 0x6ffffffe); // SHT_GNU_verneed
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(header + 0x28), (uint)shnum + 5);

        // When
        var error = Assert.Throws<InvalidDataException>(() => LibStdCxxCompat.Patch(bytes, "bad.so"));

        // Then
        Assert.Contains($"bad.so: its version-requirement section links to section {shnum + 5}, past its {shnum} sections.", error.Message);
    }

    [Fact]
    public void Given_a_library_cut_inside_its_tables_When_patched_Then_an_error_not_a_wrong_patch()
    {
        // Given: the first 64 KiB of the real library, whose section headers lie past the cut.
        if (LibraryOrSkip() is not { } cached)
        {
            return;
        }

        var cut = File.ReadAllBytes(cached)[..65536];

        // When
        var error = Record.Exception(() => LibStdCxxCompat.Patch(cut, "cut.so"));

        // Then: an error of reading, of the kinds EnsureForApplication reports as a damaged library, never a patched image.
        Assert.True(error is ArgumentException or IndexOutOfRangeException or OverflowException or InvalidDataException, $"{error?.GetType().Name}: {error?.Message}");
    }

    [Fact]
    public void Given_the_patched_image_in_memory_When_patched_again_Then_not_needed_and_bytes_unchanged()
    {
        if (LibraryOrSkip() is not { } cached)
        {
            return;
        }

        var bytes = File.ReadAllBytes(cached);
        Assert.Equal(LibStdCxxCompat.Outcome.Patched, LibStdCxxCompat.Patch(bytes));
        var once = bytes.ToArray();

        Assert.Equal(LibStdCxxCompat.Outcome.NotNeeded, LibStdCxxCompat.Patch(bytes));
        Assert.Equal(once, bytes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(200)]
    public void Given_bytes_that_are_not_ELF_When_patched_Then_not_an_ELF_file(int length)
    {
        var bytes = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();

        var error = Assert.Throws<InvalidDataException>(() => LibStdCxxCompat.Patch(bytes, "thing.so"));

        Assert.Equal("thing.so is not an ELF file.", error.Message);
    }

    [Fact]
    public void Given_a_32_bit_ELF_header_When_patched_Then_not_a_64_bit_little_endian_ELF()
    {
        var bytes = new byte[64];
        "\u007fELF"u8.CopyTo(bytes);
        bytes[4] = 1; // ELFCLASS32
        bytes[5] = 1;

        var error = Assert.Throws<InvalidDataException>(() => LibStdCxxCompat.Patch(bytes, "old.so"));

        Assert.Contains("not a 64-bit little-endian ELF", error.Message);
    }

    [Fact]
    public void Given_this_Linux_host_When_asking_for_symbol_versions_Then_ancient_ones_exist_and_future_ones_do_not()
    {
        if (!OperatingSystem.IsLinux())
        {
            output.WriteLine("Skipped: not Linux.");
            return;
        }

        // GLIBCXX_3.4 (GCC 3.4) is in every libstdc++.so.6; there is no "GLIBCXX_3.4.0", and the match is exact,
        // so neither it nor a prefix of a longer name ("GLIBCXX_3.4.3" of "GLIBCXX_3.4.30") can be found by accident.
        Assert.True(LibStdCxxCompat.HostHasVersion("GLIBCXX_3.4"));
        Assert.True(LibStdCxxCompat.HostHasVersion("GLIBCXX_3.4.1"));
        Assert.False(LibStdCxxCompat.HostHasVersion("GLIBCXX_3.4.0"));
        Assert.False(LibStdCxxCompat.HostHasVersion("GLIBCXX_3.4.")); // a prefix of every later version
        Assert.False(LibStdCxxCompat.HostHasVersion("GLIBCXX_9.9.99"));

        // The check that decides the patch asks the libstdc++ this process has loaded; where only the system's copy
        // is in play (as here), it agrees with reading that copy's bytes.
        Assert.Equal(LibStdCxxCompat.HostHasVersion(LibStdCxxCompat.Version), LibStdCxxCompat.LoadedLibStdCxxHasVersion());
    }

    [Fact]
    public void Given_an_application_folder_When_listing_candidates_Then_the_folder_itself_comes_first_and_linux_x64_is_included()
    {
        var paths = LibStdCxxCompat.CandidateLibraryPaths("/app").ToList();

        Assert.Equal(Path.Combine("/app", "libLibTorchSharp.so"), paths[0]);
        Assert.Contains(Path.Combine("/app", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"), paths);
    }
}
