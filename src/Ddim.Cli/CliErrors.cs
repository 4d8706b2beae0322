namespace Ddim.Cli;

/// <summary>Turns exceptions into one clear line on stderr, without a stack trace, and an exit code.</summary>
internal static class CliErrors
{
    public static int Report(Exception e, IReadOnlyList<string>? args = null)
    {
        var inner = e is Spectre.Console.Cli.CommandRuntimeException or System.Reflection.TargetInvocationException && e.InnerException is not null ? e.InnerException : e;
        var message = inner switch
        {
            Spectre.Console.Cli.CommandParseException or Spectre.Console.Cli.CommandRuntimeException => inner.Message,
            ArgumentException a => WithoutParameterName(a),
            InvalidDataException or InvalidOperationException or FileNotFoundException or DirectoryNotFoundException
                or UnauthorizedAccessException or IOException or NotSupportedException or Ddim.Training.TrainingDivergedException => inner.Message,
            // A type initializer that failed (a native library that would not load, say) hides the cause inside.
            TypeInitializationException { InnerException: { } cause } => $"{inner.Message} {cause.GetBaseException().GetType().Name}: {Ddim.Native.NativeErrors.Cause(cause.GetBaseException())}",
            _ => $"{inner.GetType().Name}: {Ddim.Native.NativeErrors.WithoutBacktrace(inner.Message)}",
        };
        message = BadNumber(message, args) ?? message;
        if (inner is Spectre.Console.Cli.CommandParseException && message.StartsWith("Unknown option", StringComparison.Ordinal) && CommandName(args) is { } command)
        {
            // Each command takes only the options it uses (interpolate has no --eta): point to the list.
            message += $" 'ddim {command} --help' lists the options it takes.";
        }

        if (inner is Spectre.Console.Cli.CommandParseException && StrayFile(message, args) is { } file)
        {
            // compare -a evals/a-seed*.json unquoted: the shell gives -a the first file, and the rest look like commands.
            message += $" {file} is a file after an option's one value: if the shell expanded a pattern there, quote the pattern " +
                       "(-a 'evals/a-seed*.json'), give the files as one comma-separated list, or repeat the option for each.";
        }

        // Plain text on stderr: no markup parsing, no wrapping at the terminal width.
        Console.Error.WriteLine($"error: {message}");
        if (Environment.GetEnvironmentVariable("DDIM_DEBUG") == "1")
        {
            Console.Error.WriteLine(inner);
        }

        return 1;
    }

    // Spectre.Console.Cli says "abc is not a valid value for Int32." without the option: find it in the arguments.
    private static string? BadNumber(string message, IReadOnlyList<string>? args)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, @"^(?<value>.*) is not a valid value for (?<type>Int32|Int64|Double|Single)\.$");
        if (!match.Success)
        {
            return null;
        }

        // The first place the value is given: after its option (--num abc) or inside it (--num=abc).
        var value = match.Groups["value"].Value;
        var option = "an option";
        for (var i = 0; args is not null && i < args.Count; i++)
        {
            if (args[i] == value && i > 0 && args[i - 1].StartsWith('-'))
            {
                option = args[i - 1];
                break;
            }

            if (args[i].StartsWith('-') && args[i].EndsWith("=" + value, StringComparison.Ordinal))
            {
                option = args[i][..^(value.Length + 1)];
                break;
            }
        }

        return match.Groups["type"].Value is "Int32" or "Int64"
            ? $"{option}: '{value}' is not a whole number in range."
            : $"{option}: '{value}' is not a number{(value.Contains(',', StringComparison.Ordinal) ? " (use a dot for decimals, e.g. 0.5)" : string.Empty)}.";
    }

    // compare's "Unknown command 'x'." where x is an existing file: the name of that file, else null.
    private static string? StrayFile(string message, IReadOnlyList<string>? args)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, @"^Unknown command '(?<word>[^']+)'");
        var word = match.Groups["word"].Value;
        return match.Success && File.Exists(word) && args is { Count: > 0 } && args[0] == "compare" ? word : null;
    }

    // The command the arguments name: its first word, or two for the data branch ("data fetch").
    private static string? CommandName(IReadOnlyList<string>? args)
    {
        var words = args?.TakeWhile(a => !a.StartsWith('-')).ToList() ?? [];
        return words.Count == 0 ? null : string.Join(' ', words.Take(words[0] == "data" ? 2 : 1));
    }

    // ArgumentException.Message appends " (Parameter 'x')" and "Actual value was …": noise for a user.
    private static string WithoutParameterName(ArgumentException e)
    {
        var m = e.Message;
        var cut = m.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return cut >= 0 ? m[..cut] : m.Split('\n')[0];
    }
}
