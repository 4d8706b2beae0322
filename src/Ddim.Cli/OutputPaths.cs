namespace Ddim.Cli;

/// <summary>Checks output locations before any work is done, so a bad path fails in a second, not after sampling.</summary>
internal static class OutputPaths
{
    public static void RequireWritableFile(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new IOException($"Cannot write {path}: it is a folder. Give a file name such as {Path.Combine(path, "samples.png")}.");
        }

        RequireWritableFolder(Path.GetDirectoryName(full)!, path);
    }

    public static void RequireWritableFolder(string folder, string? forPath = null)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".ddim-write-test-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot write {forPath ?? folder}: the folder {folder} is not writable ({e.GetType().Name}). Choose another output path.", e);
        }
    }

    public static void RequireExtension(string path, params string[] extensions)
    {
        if (!extensions.Any(x => path.EndsWith(x, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"{path}: the file name must end with {string.Join(" or ", extensions)}.");
        }
    }
}
