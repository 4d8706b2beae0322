using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ddim.Sampling;

namespace Ddim.Evaluation;

/// <summary>
/// A folder holding each finished cell of a sweep as its own JSON file, so that a sweep that stops (Ctrl-C, a session
/// ending, a crash) can go on where it stopped: a sweep at N = 10,000 runs for hours. A cell is reused only when
/// everything its scores depend on besides the sampler settings is the same: that is the <see cref="Fingerprint"/>
/// (model and judge bytes, reference set, N, seed, device), which the caller composes.
/// </summary>
public sealed class SweepCellStore
{
    private const int Version = 1;

    // The file names hash this serialisation of the settings, so it must not depend on the platform (NewLine) or on
    // what SampleSettings derives from its values (read-only properties); NaN is a possible FID and must not throw.
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NewLine = "\n",
        IgnoreReadOnlyProperties = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly string? mismatchAdvice;
    private readonly string? fallbackDirectory;

    /// <summary>Opens (without creating) the store in <paramref name="directory"/>.</summary>
    /// <param name="directory">The folder of cell files; created on the first save.</param>
    /// <param name="fingerprint">Everything the scores depend on besides the settings, as text (e.g. model and judge SHA-256, N, seed, device).</param>
    /// <param name="mismatchAdvice">
    /// What the error for a cell made with another fingerprint tells the user to do. By default: for cells that differ
    /// only in their device or precision, the option that uses them; otherwise give the sweep another --name or
    /// --results-dir, or delete the folder to start over.
    /// </param>
    /// <param name="fallbackDirectory">
    /// A folder of an older layout whose cells are read, never written, where <paramref name="directory"/> lacks one; a
    /// cell there made from other inputs is not this run's (that layout mixed them) and is passed over quietly.
    /// </param>
    public SweepCellStore(string directory, string fingerprint, string? mismatchAdvice = null, string? fallbackDirectory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentException.ThrowIfNullOrWhiteSpace(fingerprint);
        Directory = directory;
        Fingerprint = fingerprint;
        this.mismatchAdvice = mismatchAdvice;
        this.fallbackDirectory = fallbackDirectory;
    }

    /// <summary>The folder of cell files.</summary>
    public string Directory { get; }

    /// <summary>What the cells' scores depend on besides their settings; a cell made with another fingerprint is never reused.</summary>
    public string Fingerprint { get; }

    /// <summary>
    /// The file that holds (or will hold) the cell of <paramref name="settings"/>: a readable name plus a hash of every
    /// setting, e.g. <c>ddim-s50-eta0.5-3f2a9c1b.json</c>. The hash is of <see cref="SampleSettings.ToCanonical"/>, so a
    /// choice that changes nothing (re-deriving ε̂ for DDPM or without clipping) does not make another cell; the cells
    /// saved before re-derived ε̂ became the default keep their names.
    /// </summary>
    public string PathOf(SampleSettings settings) => PathIn(Directory, settings);

    private static string PathIn(string directory, SampleSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings = settings.ToCanonical();
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(settings, Json))))[..8];
        var name = settings.Sampler == SamplerKind.Ddpm
            ? $"ddpm-{settings.DdpmVariance.ToString().ToLowerInvariant()}"
            : settings.LargeVariance
                ? $"ddim-s{settings.Steps}-sigmahat"
                : FormattableString.Invariant($"ddim-s{settings.Steps}-eta{settings.Eta:0.###}");
        return System.IO.Path.Combine(directory, $"{name}-{hash}.json");
    }

    /// <summary>
    /// The saved cell of <paramref name="settings"/>, or null when there is none. A cell saved with another fingerprint,
    /// or a file that cannot be read, is an error that says what to do: scores from other inputs are never mixed in.
    /// </summary>
    public SweepCell? TryLoad(SampleSettings settings)
    {
        var path = PathOf(settings);
        if (File.Exists(path))
        {
            return Load(path, settings, quietMismatch: false);
        }

        return FallbackFile(settings) is { } old ? Load(old, settings, quietMismatch: true) : null;
    }

    /// <summary>
    /// The file <see cref="TryLoad"/> reads for <paramref name="settings"/>: the folder's own when it exists (whoever made
    /// it: <see cref="TryLoad"/> then checks it), else the fallback folder's when it holds this run's cell; null when
    /// neither does.
    /// </summary>
    public string? SavedPath(SampleSettings settings) =>
        PathOf(settings) is var own && File.Exists(own) ? own
        : FallbackFile(settings) is { } old && Load(old, settings, quietMismatch: true) is not null ? old
        : null;

    /// <summary>The fallback folder's file of <paramref name="settings"/>, when there is such a folder and file.</summary>
    private string? FallbackFile(SampleSettings settings) =>
        fallbackDirectory is not null && PathIn(fallbackDirectory, settings) is var old && File.Exists(old) ? old : null;

    private SweepCell? Load(string path, SampleSettings settings, bool quietMismatch)
    {
        CellFile? file;
        try
        {
            file = JsonSerializer.Deserialize<CellFile>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a readable sweep cell ({e.Message}). Delete it, and that cell is run again.", e);
        }

        var problem = file is null ? "it is empty"
            : file.Version != Version ? $"it has format version {file.Version}, not {Version}"
            : file.Settings?.ToCanonical() != settings.ToCanonical() ? $"it holds the cell of {file.Settings}, not of {settings}"
            : file.Score is null ? "it has no score"
            : null;
        if (problem is not null)
        {
            throw new InvalidDataException($"{path} cannot be reused: {problem}. Delete it, and that cell is run again.");
        }

        var saved = file!;
        if (saved.Fingerprint != Fingerprint)
        {
            if (quietMismatch)
            {
                return null;
            }

            throw new InvalidDataException(
                $"{path} was made from other inputs than this run: {DescribeDifference(saved.Fingerprint, Fingerprint)}. " +
                (mismatchAdvice ?? OtherDeviceAdvice(saved.Fingerprint, Fingerprint) ??
                 $"Give this sweep another --name (or --results-dir), or delete {Directory} to start over."));
        }

        return new SweepCell(settings, saved.NetworkCalls, saved.Score!.ToScore(), Reused: true, BatchSize: saved.BatchSize);
    }

    /// <summary>How many cell files the folder holds (of any sweep).</summary>
    public int Count => CellCount(Directory);

    /// <summary>
    /// For a run that only reports saved cells: throws when <paramref name="directory"/> holds none, before anything
    /// is loaded or scored.
    /// </summary>
    public static void RequireSavedCells(string directory)
    {
        if (CellCount(directory) == 0)
        {
            throw new InvalidOperationException($"No sweep cells are saved under {directory}, and this run only reports saved cells: check --results-dir and --name.");
        }
    }

    private static int CellCount(string directory) =>
        System.IO.Directory.Exists(directory) ? System.IO.Directory.EnumerateFiles(directory, "*.json").Count() : 0;

    /// <summary>Saves a finished cell (atomically), replacing any earlier file of the same settings.</summary>
    public void Save(SweepCell cell, string machine)
    {
        ArgumentNullException.ThrowIfNull(cell);
        var file = new CellFile(Version, Fingerprint, cell.Settings.ToCanonical(), cell.NetworkCalls, ScoreRecord.From(cell.Score), machine, DateTime.UtcNow, BuildInfo.Version, cell.BatchSize);
        Atomic.WriteAllText(PathOf(cell.Settings), JsonSerializer.Serialize(file, Json) + "\n");
    }

    /// <summary>
    /// The parts of two fingerprints that differ, e.g. <c>'device cpu-bf16' there, 'device cpu' here</c>, so that the
    /// user sees what to change without comparing two SHA-256s by eye; the whole of both when their parts do not line up.
    /// </summary>
    private static string DescribeDifference(string saved, string current) =>
        string.Join("; ", DifferingParts(saved, current).Select(pair => $"'{pair.First}' there, '{pair.Second}' here"));

    /// <summary>
    /// When only the device part differs ("device cuda" against "device cpu", "device cpu-bf16" against "device cpu"),
    /// the saved cells are good and this run most likely forgot an option: say which, rather than "delete the folder".
    /// </summary>
    private static string? OtherDeviceAdvice(string saved, string current)
    {
        const string prefix = "device ";
        if (DifferingParts(saved, current) is not [var (there, here)] || !there.StartsWith(prefix, StringComparison.Ordinal) || !here.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var (savedDevice, savedBf16) = (there[prefix.Length..].Split('-')[0], there.EndsWith("-bf16", StringComparison.Ordinal));
        var precision = savedBf16 != here.EndsWith("-bf16", StringComparison.Ordinal) ? $" --precision {(savedBf16 ? "bf16" : "fp32")}" : string.Empty;
        return savedDevice != here[prefix.Length..].Split('-')[0]
            ? $"Run with --device {savedDevice}{precision} to add cells to them, or with --cells-from {savedDevice}{precision} and --resume to report them here; the saved cells are kept."
            : $"They were made with --precision {(savedBf16 ? "bf16" : "fp32")}: run with it to use them; the saved cells are kept.";
    }

    /// <summary>The parts of two fingerprints that differ (the whole of each when they have different parts).</summary>
    private static List<(string First, string Second)> DifferingParts(string saved, string current)
    {
        // Parts are joined by ", "; a number such as 10,000 has no space after its comma, so it stays one part.
        var savedParts = saved.Split(", ");
        var currentParts = current.Split(", ");
        return savedParts.Length == currentParts.Length
            ? savedParts.Zip(currentParts).Where(pair => pair.First != pair.Second).ToList()
            : [(saved, current)];
    }

    /// <remarks>Cells saved before the Ddim build or the batch size were recorded have no <c>Code</c> or <c>BatchSize</c>.</remarks>
    private sealed record CellFile(int Version, string Fingerprint, SampleSettings Settings, int NetworkCalls, ScoreRecord? Score, string Machine, DateTime FinishedUtc, string? Code = null, int? BatchSize = null);

    /// <summary>A <see cref="QualityScore"/> as stored; doubles and times are written so that they read back exactly.</summary>
    /// <remarks>Cells saved before the manifold scores or the FID's mean part existed have no <c>Manifold</c> or <c>FidMean</c>, and read back without them.</remarks>
    private sealed record ScoreRecord(string Label, int Count, double Fid, double ConfidentShare, double ClassKl, long[] ClassCounts, TimeSpan Elapsed, TimeSpan JudgeTime, ManifoldScores? Manifold, double? FidMean)
    {
        public static ScoreRecord From(QualityScore s) =>
            new(s.Label, s.Count, s.Fid, s.ConfidentShare, s.ClassKl, [.. s.ClassCounts], s.Elapsed, s.JudgeTime, s.Manifold, s.FidMean);

        public QualityScore ToScore() => new(Label, Count, Fid, ConfidentShare, ClassKl, ClassCounts, Elapsed, JudgeTime, Manifold, FidMean);
    }
}
