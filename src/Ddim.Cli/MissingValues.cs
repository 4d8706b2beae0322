using System.Reflection;
using Spectre.Console.Cli;

namespace Ddim.Cli;

/// <summary>
/// Finds an option given without its value (<c>info FILE --json</c>, <c>train --out --resume</c>). Spectre.Console.Cli
/// 0.57 does not refuse one: it hands the option the text "__default_command", so a run would write a file of that name
/// or fail with a puzzling message. The options that take values come from every command's settings.
/// </summary>
internal static class MissingValues
{
    private static readonly Lazy<(Dictionary<string, string> Valued, HashSet<string> All)> Options = new(Collect);

    /// <summary>The error for the first option in <paramref name="args"/> whose value is missing, or null.</summary>
    public static string? Find(IReadOnlyList<string> args)
    {
        var (valued, all) = Options.Value;
        for (var i = 0; i < args.Count; i++)
        {
            if (!valued.TryGetValue(args[i], out var valueName))
            {
                continue;
            }

            // A value may start with '-' (--eta-below -5 is a value, to be refused as a value); an option name may not.
            var next = i + 1 < args.Count ? args[i + 1] : null;
            if (next is null || all.Contains(next.Split('=')[0]))
            {
                return $"{args[i]} needs a value ({args[i]} {valueName}), but {(next is null ? "nothing follows it" : $"the next word is the option {next}")}.";
            }
        }

        return null;
    }

    /// <summary>Every option name of every command (long as --name, short as -n), and the value name of those that take one.</summary>
    internal static (Dictionary<string, string> Valued, HashSet<string> All) Collect()
    {
        var valued = new Dictionary<string, string>(StringComparer.Ordinal);
        var all = new HashSet<string>(StringComparer.Ordinal) { "-h", "--help", "-v", "--version" };
        var settings = typeof(MissingValues).Assembly.GetTypes().Where(t => typeof(CommandSettings).IsAssignableFrom(t) && !t.IsAbstract);
        foreach (var property in settings.SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance)))
        {
            if (property.GetCustomAttribute<CommandOptionAttribute>() is not { } option)
            {
                continue;
            }

            foreach (var name in option.LongNames.Select(n => "--" + n).Concat(option.ShortNames.Select(n => "-" + n)))
            {
                all.Add(name);
                if (option.ValueName is { } value && !option.ValueIsOptional)
                {
                    valued[name] = value;
                }
            }
        }

        return (valued, all);
    }
}
