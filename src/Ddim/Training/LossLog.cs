using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ddim.Training;

/// <summary>
/// A run's loss.jsonl: one line for each window of LogEvery steps (and one at the run's last step), with the window's
/// mean loss. The unfinished window travels in every checkpoint, so a resumed run writes the same lines as an
/// uninterrupted one.
/// </summary>
internal sealed class LossLog
{
    /// <summary>File name of the loss log inside the run folder.</summary>
    public const string FileName = "loss.jsonl";

    private readonly string path;
    private readonly int every;

    // True when the file's last line closed a partial window (a run that ended between two lines): the next line
    // completes that window and replaces it.
    private bool replaceLastLine;

    /// <summary>A log at <paramref name="path"/> whose open window holds <paramref name="window"/>.</summary>
    public LossLog(string path, int every, (double Sum, int Count) window = default)
    {
        this.path = path;
        this.every = every;
        Window = window;
    }

    /// <summary>The open window: the sum of its steps' losses and their number (saved in each checkpoint).</summary>
    public (double Sum, int Count) Window { get; private set; }

    /// <summary>Adds one step's loss to the open window.</summary>
    public void Add(double loss) => Window = (Window.Sum + loss, Window.Count + 1);

    /// <summary>
    /// Writes the open window's line when <paramref name="step"/> ends a window or the run
    /// (<paramref name="lastStep"/>). Only a full window closes: a run's last, partial one stays open, so a resume
    /// with more steps continues it.
    /// </summary>
    public void WriteIfDue(long step, long lastStep, double learningRate, double imagesPerSecond, TimeSpan elapsed)
    {
        var full = step % every == 0;
        if (!full && step != lastStep)
        {
            return;
        }

        if (replaceLastLine)
        {
            var lines = File.ReadAllLines(path);
            Atomic.WriteAllText(path, string.Concat(lines[..^1].Select(l => l + "\n")));
            replaceLastLine = false;
        }

        var line = new JsonObject
        {
            ["step"] = step,
            ["loss"] = Window.Sum / Window.Count,
            ["lr"] = learningRate,
            ["images_per_s"] = Math.Round(imagesPerSecond, 2),
            ["elapsed_s"] = Math.Round(elapsed.TotalSeconds, 1),
        };
        File.AppendAllText(path, line.ToJsonString() + "\n");
        if (full)
        {
            Window = (0, 0);
        }
    }

    /// <summary>
    /// For a resume from <paramref name="step"/>: keeps the lines up to that step, and remembers whether the last of
    /// them closed a partial window, which the resumed run's next line replaces.
    /// </summary>
    public void TruncateTo(long step)
    {
        if (!File.Exists(path))
        {
            return;
        }

        var lines = File.ReadAllLines(path);
        var last = Array.FindLastIndex(lines, l => l.Length > 0);
        var kept = new List<string>();
        for (var i = 0; i <= last; i++)
        {
            long? lineStep;
            try
            {
                lineStep = lines[i].Length == 0 ? null : JsonNode.Parse(lines[i])?["step"]?.GetValue<long>();
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                // The log is appended to, not rewritten, so a crash mid-append can tear its last line. That line is
                // past the checkpoint (which is saved after the line is written), so it goes like the other later lines.
                if (i == last)
                {
                    break;
                }

                throw new InvalidDataException($"{path} line {i + 1} is not a log line ({e.Message}). Delete that line (or fix it by hand) and resume.", e);
            }

            if (lineStep <= step)
            {
                kept.Add(lines[i]);
            }
        }

        Atomic.WriteAllText(path, string.Concat(kept.Select(l => l + "\n")));
        // Lines are written at multiples of LogEvery and at a run's last step, so a kept line at any other step is the
        // partial window of a run that ended there, never replaced since (even if a later checkpoint, before the next
        // line, is where this run resumes).
        replaceLastLine = kept.Count > 0 && JsonNode.Parse(kept[^1])!["step"]!.GetValue<long>() % every != 0;
    }
}
