using System.Reflection;
using Spectre.Console.Cli;

namespace Ddim.Cli;

/// <summary>
/// Finds an option given without its value (<c>info FILE --json</c>, <c>train --out --resume</c>). Spectre.Console.Cli
/// 0.57 does not refuse one: it hands the option the text "__default_command", so a run would write a file of that name
/// or fail with a puzzling message. Each command's options come from its settings (the nested Settings of XyzCommand,
/// whose command is xyz, or "data fetch" for DataFetchCommand).
/// </summary>
internal static class MissingValues
{
    private static readonly Lazy<Dictionary<string, Options>> Commands = new(Collect);

    /// <summary>The error for the first option in <paramref name="args"/> whose value is missing, or null.</summary>
    public static string? Find(IReadOnlyList<string> args)
    {
        var words = args.TakeWhile(a => !a.StartsWith('-')).ToList();
        var name = words.Count >= 2 && Commands.Value.ContainsKey($"{words[0]}-{words[1]}") ? $"{words[0]}-{words[1]}" : words.FirstOrDefault();
        if (name is null || !Commands.Value.TryGetValue(name, out var options))
        {
            return null; // no command, or an unknown one: the parser says so
        }

        for (var i = 0; i < args.Count && args[i] != "--"; i++)
        {
            if (!options.Valued.TryGetValue(args[i], out var valueName))
            {
                continue;
            }

            // A value may start with '-' (--eta-below -5 is a value, to be refused as a value); an option name may not.
            var next = i + 1 < args.Count ? args[i + 1] : null;
            if (next is null || options.All.Contains(next.Split('=')[0]))
            {
                return $"{args[i]} needs a value ({args[i]} {valueName}), but {(next is null ? "nothing follows it" : $"the next word is the option {next}")}.";
            }
        }

        return null;
    }

    /// <summary>Each command's option names (long as --name, short as -n), and the value name of those that take one.</summary>
    internal static Dictionary<string, Options> Collect()
    {
        var commands = new Dictionary<string, Options>(StringComparer.Ordinal);
        foreach (var settings in typeof(MissingValues).Assembly.GetTypes().Where(t => typeof(CommandSettings).IsAssignableFrom(t) && !t.IsAbstract && t.DeclaringType is not null))
        {
            var options = new Options(new Dictionary<string, string>(StringComparer.Ordinal), new HashSet<string>(StringComparer.Ordinal) { "-h", "--help" });
            foreach (var property in settings.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (property.GetCustomAttribute<CommandOptionAttribute>() is not { } option)
                {
                    continue;
                }

                foreach (var name in option.LongNames.Select(n => "--" + n).Concat(option.ShortNames.Select(n => "-" + n)))
                {
                    options.All.Add(name);
                    if (option.ValueName is { } value && !option.ValueIsOptional)
                    {
                        options.Valued[name] = value;
                    }
                }
            }

            commands[CommandName(settings.DeclaringType!)] = options;
        }

        return commands;
    }

    /// <summary>TrainClassifierCommand → "train-classifier"; DataFetchCommand → "data-fetch" (the words "data fetch").</summary>
    internal static string CommandName(Type command) =>
        string.Concat(command.Name.Replace("Command", string.Empty, StringComparison.Ordinal).Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : string.Empty) + char.ToLowerInvariant(c) : c.ToString()));

    /// <summary>One command's options: those that take a value (with its name, e.g. FILE), and all.</summary>
    internal sealed record Options(Dictionary<string, string> Valued, HashSet<string> All);
}
