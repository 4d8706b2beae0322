using Ddim.Data;

namespace Ddim.Tests;

public sealed class DatasetFetcherTests
{
    [Fact]
    public void Given_a_data_root_that_cannot_hold_the_data_When_fetching_Then_it_says_where_to_point_instead_of_blaming_the_sources()
    {
        // Given: a file where the data root should be (no source is tried, so no network is needed)
        using var folder = new TempFolder();
        var root = folder.File("not-a-folder");
        File.WriteAllText(root, "a file");

        // When
        var error = Assert.Throws<IOException>(() => DatasetFetcher.Ensure(DatasetFetcher.Mnist, root, tryMirrors: false));

        // Then
        Assert.Contains($"Cannot write the data to {Path.Combine(root, "mnist")}", error.Message);
        Assert.Contains("Set --data-dir or $DDIM_DATA to a folder this process can write to.", error.Message);
    }
}

/// <summary>The fetcher end to end on a made-up data set whose only source is a local "Debian" folder: no network.</summary>
public sealed class DatasetFetcherLocalTests
{
    private static readonly string[] Stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>Four small IDX files, their SHA-256s, and a source that finds them gzipped in <paramref name="packaged"/>.</summary>
    private static (DatasetSource Source, Dictionary<string, byte[]> Raw) MadeUp(string packaged)
    {
        var raw = new Dictionary<string, byte[]>();
        for (var i = 0; i < Stems.Length; i++)
        {
            var images = Stems[i].Contains("images", StringComparison.Ordinal);
            raw[Stems[i]] = images
                ? Idx.Encode([2, 3, 3], [.. Enumerable.Range(i, 18).Select(v => (byte)v)])
                : Idx.Encode([2], [(byte)i, (byte)(i + 1)]);
        }

        Directory.CreateDirectory(packaged);
        foreach (var (stem, bytes) in raw)
        {
            File.WriteAllBytes(Path.Combine(packaged, stem + ".gz"), IdxTests.Gzip(bytes));
        }

        var hashes = raw.ToDictionary(p => p.Key, p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(p.Value)));
        return (new DatasetSource("made-up", [], hashes, DebianFolder: packaged, DebianPackage: "dataset-made-up"), raw);
    }

    [Fact]
    public void Given_a_packaged_copy_When_fetched_Then_the_raw_files_are_written_verified_and_a_damaged_one_is_fetched_again()
    {
        // Given
        using var temp = new TempFolder();
        var (source, raw) = MadeUp(temp.Folder("packaged"));
        var root = temp.Folder("data");

        // When
        var folder = DatasetFetcher.Ensure(source, root, tryMirrors: false);
        File.WriteAllBytes(Path.Combine(folder, Stems[0]), [0, 0, 8, 1, 0, 0, 0, 0]); // damaged later
        var log = new List<string>();
        DatasetFetcher.Ensure(source, root, log.Add, tryMirrors: false);

        // Then: every file is there as the raw IDX bytes; only the damaged one was fetched again.
        Assert.All(Stems, stem => Assert.Equal(raw[stem], File.ReadAllBytes(Path.Combine(folder, stem))));
        Assert.Equal([$"made-up: fetching {Stems[0]} from Debian package dataset-made-up ({source.DebianFolder})"], log);
        Assert.Empty(Directory.GetFiles(folder, "*.ddim-tmp"));
    }

    [Fact]
    public void Given_gz_files_copied_into_the_data_folder_by_hand_When_fetched_Then_they_are_used_without_any_other_source()
    {
        // Given: the copies in the data folder, and a package folder that does not exist.
        using var temp = new TempFolder();
        var (source, raw) = MadeUp(temp.Folder("copies"));
        var folder = Path.Combine(temp.Folder("data"), source.Name);
        Directory.Move(source.DebianFolder!, folder);

        // When
        DatasetFetcher.Ensure(source, Path.GetDirectoryName(folder), tryMirrors: false);

        // Then
        Assert.All(Stems, stem => Assert.Equal(raw[stem], File.ReadAllBytes(Path.Combine(folder, stem))));
    }

    [Fact]
    public void Given_sources_that_serve_a_wrong_file_or_an_error_page_When_fetched_Then_the_error_tells_them_apart_and_names_the_files_to_copy()
    {
        // Given: the package holds another file's bytes for one stem, and an HTML page for another.
        using var temp = new TempFolder();
        var (source, raw) = MadeUp(temp.Folder("packaged"));
        File.WriteAllBytes(Path.Combine(source.DebianFolder!, Stems[0] + ".gz"), IdxTests.Gzip(raw[Stems[2]]));
        var root = temp.Folder("data");

        // When
        var wrong = Assert.Throws<InvalidOperationException>(() => DatasetFetcher.Ensure(source, root, tryMirrors: false));
        File.WriteAllText(Path.Combine(source.DebianFolder!, Stems[0] + ".gz"), "<!DOCTYPE html><html>Not Found</html>");
        var page = Assert.Throws<InvalidOperationException>(() => DatasetFetcher.Ensure(source, root, tryMirrors: false));

        // Then
        Assert.Contains("an IDX file, but its SHA-256", wrong.Message);
        Assert.Contains("bytes that are not an IDX file (they begin \"<!DOCTYPE html><html>Not", page.Message);
        Assert.Contains("run 'apt-get install dataset-made-up'", page.Message);
        Assert.Contains($"copy the four files {string.Join(", ", Stems)} (raw, or .gz as the mirrors serve them) into {Path.Combine(root, source.Name)}", page.Message);
    }
}
