namespace Ddim.Cli;

/// <summary>Checks output locations before any work is done, so a bad path fails in a second, not after sampling.</summary>
internal static class OutputPaths
{
    /// <summary>
    /// Checks that <paramref name="path"/> can be written: not a folder, and its folder writable or makeable. Nothing is
    /// created, so a run that fails later leaves no empty folder behind. <paramref name="example"/>: a file name of the
    /// kind this option writes, for the advice when the path is a folder.
    /// </summary>
    public static void RequireWritableFile(string path, string example)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new IOException($"Cannot write {path}: it is a folder. Give a file name such as {Path.Combine(path, example)}.");
        }

        RequireWritableFolder(Path.GetDirectoryName(full)!, path, create: false); // the write makes the folder (Atomic.Write)
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

        var probed = create ? folder : existing ?? folder;
        try
        {
            Atomic.ProbeFolder(probed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot write {forPath ?? folder}: {probed} is not a folder this process can write to{(e is UnauthorizedAccessException ? " (permission denied)" : string.Empty)}. Choose another output path.", e);
        }
    }

    /// <summary>
    /// The --out of a command that writes a .ddim file (export, train-classifier): required, so that nothing replaces a
    /// bundled file unless named, with the right extension and a writable folder. <paramref name="what"/>: "the model".
    /// </summary>
    public static string RequireDdimOut(string? path, string what, string example, string bundled)
    {
        var output = path ?? throw new ArgumentException($"Give --out FILE.ddim: where to write {what} (e.g. {example}; naming {bundled} replaces the bundled one).");
        RequireExtension(output, ".ddim");
        RequireWritableFile(output, Path.GetFileName(example));
        return output;
    }

    /// <summary>
    /// A --json (or other report) output: its extension must be <paramref name="extension"/>, so that an option read
    /// the wrong way round (<c>info --json models/mnist.ddim</c>) cannot replace a model, checkpoint or other input,
    /// and its folder must be writable.
    /// </summary>
    public static void RequireReportFile(string option, string path, string extension, string example)
    {
        if (!path.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"{option} {path}: the file name must end with {extension} ({option} names the file this command writes, e.g. {example}).");
        }

        RequireWritableFile(path, example);
    }

    public static void RequireExtension(string path, params string[] extensions)
    {
        if (!extensions.Any(x => path.EndsWith(x, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"{path}: the file name must end with {string.Join(" or ", extensions)}.");
        }
    }
}
