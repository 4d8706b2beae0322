using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Data;
using Ddim.Models;
using Spectre.Console;

namespace Ddim.Cli;

/// <summary>What result files record about how they were made: the command line, the model, file hashes; and how they are written.</summary>
internal static class Provenance
{
    /// <summary>The command as typed, e.g. "ddim eval --sweep --num 10000", quoting arguments with spaces.</summary>
    public static string CommandLine() =>
        "ddim " + string.Join(" ", Environment.GetCommandLineArgs().Skip(1).Select(a =>
            a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./=,:+@".Contains(c)) ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));

    /// <summary>
    /// The data a model or checkpoint was trained on, as the trainer names it: "mnist-train" or "fashion-mnist-train" for
    /// a known data set's training split, else the PNG folder's name; null when the file does not say. A model file
    /// records it under "training", a checkpoint at the top; files written before either did are read from their
    /// training configuration's Data, where a known name always meant that data set (and an export of such a checkpoint
    /// recorded that name as it was, "mnist"; a folder named mnist is told apart by its Data, a path).
    /// </summary>
    public static string? TrainedOn(ModelFile file)
    {
        var recorded = (file.Metadata["training"]?["data"] ?? file.Metadata["data"])?.GetValue<string>();
        var configured = (file.Metadata["training"]?["config"] ?? file.Metadata["train"])?["Data"]?.GetValue<string>();
        return recorded is null ? (configured is null ? null : TrainingSplitName(configured))
            : configured is not null && string.Equals(recorded, configured, StringComparison.OrdinalIgnoreCase) ? TrainingSplitName(configured)
            : recorded;
    }

    /// <summary>"mnist" (a known data set, as a config names it) → "mnist-train"; anything else as it is.</summary>
    public static string TrainingSplitName(string data) => DatasetFetcher.TryFind(data) is { } known ? $"{known.Name}-train" : data;

    /// <summary>A model file and what its metadata says of its training, e.g. "models/mnist.ddim (1,623,169 parameters, T = 1000, …)".</summary>
    public static string DescribeModel(string path, ModelFile file, UNet network)
    {
        var steps = file.Metadata["training"]?["steps"]?.GetValue<long>() ?? file.Metadata["step"]?.GetValue<long>();
        var data = TrainedOn(file);
        var initFrom = (file.Metadata["training"]?["config"] ?? file.Metadata["train"])?["InitFrom"]?.GetValue<string>();
        var parts = new List<string> { $"{network.ParameterCount:N0} parameters", $"T = {file.Schedule.T}" };
        if (steps is { } s)
        {
            // A run that started from another's weights (InitFrom) counts only its own steps.
            parts.Add(initFrom is null ? $"{s:N0} training steps" : $"{s:N0} training steps after starting from {initFrom}");
        }

        if (data is not null)
        {
            parts.Add($"data {data}");
        }

        if (file.Metadata["training"]?["weights"]?.GetValue<string>() == "raw")
        {
            parts.Add("raw (non-EMA) weights");
        }

        if ((file.Metadata["training"]?["config"] ?? file.Metadata["train"])?["TimestepRange"] is JsonArray { Count: 2 } range)
        {
            parts.Add($"trained on t ∈ [{range[0]}, {range[1]}) only");
        }

        if (NetworkPrecisions.Of(network) == NetworkPrecision.BFloat16)
        {
            parts.Add("network run in bfloat16");
        }

        return $"{path} ({string.Join(", ", parts)})";
    }

    /// <summary>A judge file and its test accuracy, e.g. "models/judge/judge.ddim (test accuracy 99.46%)".</summary>
    public static string DescribeJudge(string path, JsonObject metadata)
    {
        var accuracy = metadata["training"]?["test_accuracy"]?.GetValue<double>();
        return accuracy is { } a ? $"{path} (test accuracy {a.ToString("0.00%", CultureInfo.InvariantCulture)})" : path;
    }

    /// <summary>SHA-256 of a file, lower-case hex.</summary>
    /// <remarks>Eval JSONs record the model's and the judge's (<see cref="ScoredWith"/>), so that 'ddim compare' can check files by their bytes, not their paths.</remarks>
    public static string FileSha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    /// <summary>Writes a result JSON atomically (indented), with the Ddim build that made it ("ddim_version"), and says so.</summary>
    public static void WriteJson(string path, JsonObject json)
    {
        json.TryAdd("ddim_version", BuildInfo.Version);
        NullNonFinite(json); // JSON has no NaN or ∞ (a diverged sampler's FID): null, rather than an exception at the end of a long run
        Atomic.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(path)}[/].");
    }

    /// <summary>Replaces every NaN or ±∞ number in <paramref name="node"/>'s tree with null.</summary>
    internal static void NullNonFinite(JsonNode? node)
    {
        static bool NonFinite(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) && !double.IsFinite(d);
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToList())
                {
                    if (NonFinite(o[key]))
                    {
                        o[key] = null;
                    }
                    else
                    {
                        NullNonFinite(o[key]);
                    }
                }

                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    if (NonFinite(a[i]))
                    {
                        a[i] = null;
                    }
                    else
                    {
                        NullNonFinite(a[i]);
                    }
                }

                break;
        }
    }
}

/// <summary>
/// What an eval score was made with: the model and the judge, as described to a reader and by their SHA-256, and the
/// reference set. Every eval JSON records it under "scored_with", so that 'ddim compare' can refuse files scored by
/// two judges or against two references (their FIDs are distances in different spaces) and say whether two
/// configurations ran the same model bytes, wherever the files were.
/// </summary>
/// <param name="Model">"PATH (parameters, T, training …)", or null when a folder of images was scored.</param>
/// <param name="Judge">"PATH (test accuracy …)".</param>
/// <param name="ModelSha256">The model file's SHA-256 (lower-case hex), or null with <paramref name="Model"/>.</param>
/// <param name="JudgeSha256">The judge file's SHA-256.</param>
/// <param name="Reference">The reference set and its size, e.g. "mnist-test (10,000)".</param>
internal sealed record ScoredWith(string? Model, string Judge, string? ModelSha256, string JudgeSha256, string Reference)
{
    /// <summary>Reads the two files' hashes (about 0.1 s for the bundled model) and describes them.</summary>
    public static ScoredWith Of(string? modelPath, string? model, string judgePath, string judge, string referenceName, long referenceCount) => new(
        model,
        judge,
        modelPath is null ? null : Provenance.FileSha256(modelPath),
        Provenance.FileSha256(judgePath),
        string.Create(CultureInfo.InvariantCulture, $"{referenceName} ({referenceCount:N0})"));

    /// <summary>The inputs a saved cell or seed is reused for, besides N, the seed and the device: the same string as before these were recorded in JSON, so that cells saved then still match.</summary>
    public string CellInputs => $"model SHA-256 {ModelSha256}, judge SHA-256 {JudgeSha256}, reference {Reference}";

    /// <summary>The "scored_with" object of an eval JSON.</summary>
    public JsonObject Json() => new()
    {
        ["model_sha256"] = ModelSha256,
        ["judge_sha256"] = JudgeSha256,
        ["reference"] = Reference,
    };
}
