using System.Globalization;

namespace Ddim.Cli;

/// <summary>How the command line writes a span of time.</summary>
internal static class Durations
{
    /// <summary>"08:37:04" below a day, "1d 08:37:04" from a day on (train's ETA, info's training time).</summary>
    public static string Clock(TimeSpan span) =>
        (span.TotalDays >= 1 ? $"{(int)span.TotalDays}d " : string.Empty) + span.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
}
