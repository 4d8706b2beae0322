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

    /// <summary>
    /// Checks that files can be written in <paramref name="folder"/>. With <paramref name="create"/> false a missing
    /// folder is not made: the nearest existing folder above it must be writable instead, so a later error leaves
    /// nothing behind.
    /// </summary>
    public static void RequireWritableFolder(string folder, string? forPath = null, bool create = true)
    {
        // A file where a folder should be (samples.png/x.png) is a different mistake from a read-only folder.
        var existing = (string?)null;
        for (var at = Path.GetFullPath(folder); !string.IsNullOrEmpty(at); at = Path.GetDirectoryName(at))
        {
            if (File.Exists(at))
            {
                throw new IOException($"Cannot write {forPath ?? folder}: {at} is a file, not a folder. Choose another output path.");
            }

            existing ??= Directory.Exists(at) ? at : null;
        }

        try
        {
            var probeIn = create ? folder : existing ?? folder;
            Directory.CreateDirectory(probeIn);
            var probe = Path.Combine(probeIn, $".ddim-write-test-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot write {forPath ?? folder}: the folder {folder} cannot be created or written to{(e is UnauthorizedAccessException ? " (permission denied)" : string.Empty)}. Choose another output path.", e);
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
