namespace Ddim.Native;

/// <summary>Makes native libraries' error messages readable: the line that names the cause, without C++ backtraces.</summary>
internal static class NativeErrors
{
    /// <summary>
    /// The informative part of a failed native load: .NET's first line is generic ("Unable to load shared library
    /// 'libSkiaSharp' …"), and the missing dependency ("libfontconfig.so.1: cannot open shared object file") is on a
    /// later line. Gives that line when there is one, else the first.
    /// </summary>
    public static string Cause(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var lines = e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var first = lines.Length > 0 ? lines[0] : e.Message;
        var missing = lines.FirstOrDefault(l => l.Contains("cannot open shared object file", StringComparison.Ordinal));
        return missing is null || missing == first ? first : $"{first} {missing}";
    }

    /// <summary>A libtorch error without the C++ backtrace TorchSharp appends ("Exception raised from …", "frame #0: …").</summary>
    public static string WithoutBacktrace(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var cut = message.IndexOf("Exception raised from", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }
}
