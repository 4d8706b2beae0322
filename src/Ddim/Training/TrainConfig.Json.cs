using System.Text.Json;
using System.Text.RegularExpressions;
using Ddim.Models;

namespace Ddim.Training;

/// <summary>Reading a preset: a <see cref="TrainConfig"/> saved as JSON (presets/*.json).</summary>
public sealed partial record TrainConfig
{
    /// <summary>
    /// Reads a preset strictly: an unknown key (a misspelt "Stpes") is an error, not a default silently kept, and a
    /// bad value names its place and, for a choice, the values it takes.
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Not a valid training configuration (the message says where and why).</exception>
    public static TrainConfig Load(string path)
    {
        try
        {
            var config = JsonSerializer.Deserialize<TrainConfig>(File.ReadAllText(path), PresetJson)
                ?? throw new InvalidDataException($"Preset {path} is empty (null). Compare it with presets/mnist.json.");
            return config.DecayReplans is null ? config : throw new InvalidDataException(
                $"Preset {path} has DecayReplans, which a checkpoint keeps to record how resumes re-planned its run's decay; a preset does not take them. " +
                "Remove the key (to re-plan a decay, resume the run with --steps).");
        }
        catch (JsonException e)
        {
            var place = e.Path is { Length: > 1 } at ? $" at {at[2..]} (line {e.LineNumber + 1})" : string.Empty;
            var choices = ChoicesAt(e.Path) is { } names ? $" It takes one of: {names}." : string.Empty;
            var what = UnknownKey(e.Message) ?? e.Message.Split(" Path:")[0];
            throw new InvalidDataException($"Preset {path} is not a valid training configuration{place}: {what}{choices} Compare it with presets/mnist.json.", e);
        }
    }

    /// <summary>
    /// For System.Text.Json's "The JSON property 'X' could not be mapped to any .NET member contained in type 'T'": the
    /// key, the nearest key T has (a misspelling such as "BatchSise"), and T's keys; null for any other message.
    /// </summary>
    private static string? UnknownKey(string message)
    {
        var match = Regex.Match(message, "^The JSON property '(?<key>[^']+)' could not be mapped to any .NET member contained in type '(?<type>[^']+)'");
        if (!match.Success || typeof(TrainConfig).Assembly.GetType(match.Groups["type"].Value) is not { } type)
        {
            return null;
        }

        var key = match.Groups["key"].Value;
        var keys = type.GetProperties().Where(p => p.CanWrite).Select(p => p.Name).ToList();
        var (nearest, distance) = keys.Select(k => (k, EditDistance(k.ToLowerInvariant(), key.ToLowerInvariant()))).MinBy(pair => pair.Item2);
        var guess = nearest is not null && distance <= Math.Max(2, key.Length / 4) ? $" (did you mean '{nearest}'?)" : string.Empty;
        return $"unknown key '{key}'{guess}. The keys {(type == typeof(TrainConfig) ? "of a preset" : $"of {type.Name}")} are: {string.Join(", ", keys)}.";
    }

    // Levenshtein distance: insertions, deletions and substitutions.
    private static int EditDistance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }

        return row[b.Length];
    }

    private static readonly JsonSerializerOptions PresetJson = PresetOptions();

    /// <summary>ModelFile's JSON, strict: no unknown keys, and a choice such as "Schedule" only by name ("Schedule": 1 would silently be Cosine).</summary>
    private static JsonSerializerOptions PresetOptions()
    {
        var options = new JsonSerializerOptions(ModelFile.Json) { UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow };
        options.Converters.Clear();
        options.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter(allowIntegerValues: false));
        return options;
    }

    /// <summary>The names an enum-typed preset key takes, for a JSON path such as "$.Schedule" or "$.Model.X".</summary>
    private static string? ChoicesAt(string? jsonPath)
    {
        var type = typeof(TrainConfig);
        foreach (var key in (jsonPath ?? string.Empty).TrimStart('$').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            type = type.GetProperty(key)?.PropertyType is { } next ? Nullable.GetUnderlyingType(next) ?? next : null;
            if (type is null)
            {
                return null;
            }
        }

        return type.IsEnum ? string.Join(", ", Enum.GetNames(type)) : null;
    }
}
