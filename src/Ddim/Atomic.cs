namespace Ddim;

/// <summary>Atomic file writes: write a temporary file beside the target, then rename it over the target.</summary>
internal static class Atomic
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> so that readers see the old or the new file, never half of one.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var data = bytes.ToArray();
        Write(path, s => s.Write(data));
    }

    /// <summary>Writes text atomically (UTF-8).</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Creates <paramref name="folder"/> if needed and proves this process can write there, by writing and removing an
    /// empty probe file: IOException or UnauthorizedAccessException when it cannot, before any long work is done.
    /// </summary>
    public static void ProbeFolder(string folder)
    {
        Directory.CreateDirectory(folder);
        var probe = Path.Combine(folder, $".ddim-write-test-{Environment.ProcessId}");
        File.WriteAllBytes(probe, []);
        File.Delete(probe);
    }

    /// <summary>Lets <paramref name="write"/> fill a temporary file, flushes it to disk, then renames it to <paramref name="path"/>,
    /// making its folder first if needed. A file it replaces keeps its permissions (on Unix). On failure the temporary
    /// file is removed and the target is untouched.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir); // made when the file is written, not when the path is checked: a failed run leaves no empty folder

        var temp = TempPath(full, Environment.ProcessId);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            if (!OperatingSystem.IsWindows() && File.Exists(full))
            {
                KeepMode(full, temp);
            }

            MoveOver(temp, full);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Renames <paramref name="temp"/> over <paramref name="full"/>. On Windows a file another process holds open for a
    /// moment (a reader, an antivirus scan) cannot be replaced: a few tries, a little apart, before giving up.
    /// </summary>
    private static void MoveOver(string temp, string full)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                File.Move(temp, full, overwrite: true);
                return;
            }
            catch (Exception e) when (OperatingSystem.IsWindows() && attempt < 5 && e is IOException or UnauthorizedAccessException)
            {
                Thread.Sleep(100 * attempt);
            }
        }
    }

    /// <summary>
    /// Removes the temporary files that <see cref="Write"/> left beside <paramref name="path"/> in processes that were
    /// killed mid-write (a SIGKILL skips the clean-up); those of processes still running are kept. Returns the bytes freed.
    /// </summary>
    public static long RemoveLeftovers(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir))
        {
            return 0;
        }

        long freed = 0;
        foreach (var temp in Directory.EnumerateFiles(dir, $".{Path.GetFileName(full)}.*{TempSuffix}"))
        {
            if (TempWriter(full, temp) is not { } pid || IsRunning(pid))
            {
                continue;
            }

            try
            {
                var size = new FileInfo(temp).Length;
                File.Delete(temp);
                freed += size;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: a leftover that cannot be removed costs disk space, nothing else.
            }
        }

        return freed;
    }

    private const string TempSuffix = ".ddim-tmp";

    /// <summary>The temporary file that process <paramref name="pid"/> writes before renaming it to <paramref name="fullPath"/>:
    /// <c>.NAME.PID.GUID.ddim-tmp</c> beside it, hidden, unique, and naming its writer.</summary>
    internal static string TempPath(string fullPath, int pid) =>
        Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{pid}.{Guid.NewGuid():N}{TempSuffix}");

    /// <summary>The process that wrote <paramref name="temp"/>, when it is a <see cref="TempPath"/> of <paramref name="fullPath"/>;
    /// otherwise null.</summary>
    internal static int? TempWriter(string fullPath, string temp)
    {
        var name = Path.GetFileName(temp);
        var prefix = $".{Path.GetFileName(fullPath)}.";
        if (name.Length < prefix.Length + TempSuffix.Length || !name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(TempSuffix, StringComparison.Ordinal))
        {
            return null;
        }

        var parts = name[prefix.Length..^TempSuffix.Length].Split('.');
        return parts.Length == 2 && int.TryParse(parts[0], out var pid) && Guid.TryParseExact(parts[1], "N", out _) ? pid : null;
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Gives <paramref name="temp"/> the read, write and execute bits of the file it will replace (a patched library stays
    /// executable, a file shared with a group stays shared); best effort: a target whose mode cannot be read (a dangling
    /// link) leaves the new file with the default mode, as before.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void KeepMode(string target, string temp)
    {
        try
        {
            const UnixFileMode permissions = (UnixFileMode)0x1FF; // rwxrwxrwx, without setuid, setgid or sticky
            File.SetUnixFileMode(temp, File.GetUnixFileMode(target) & permissions);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
        }
    }
}
