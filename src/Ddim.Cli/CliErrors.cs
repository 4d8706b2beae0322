namespace Ddim.Cli;

/// <summary>Turns exceptions into one clear line on stderr, without a stack trace, and an exit code.</summary>
internal static class CliErrors
{
    public static int Report(Exception e)
    {
        var inner = e is Spectre.Console.Cli.CommandRuntimeException or System.Reflection.TargetInvocationException && e.InnerException is not null ? e.InnerException : e;
        var message = inner switch
        {
            Spectre.Console.Cli.CommandParseException or Spectre.Console.Cli.CommandRuntimeException => inner.Message,
            ArgumentException a => WithoutParameterName(a),
            InvalidDataException or InvalidOperationException or FileNotFoundException or DirectoryNotFoundException
                or UnauthorizedAccessException or IOException or NotSupportedException or Ddim.Training.TrainingDivergedException => inner.Message,
            // A type initializer that failed (a native library that would not load, say) hides the cause inside.
            TypeInitializationException { InnerException: { } cause } => $"{inner.Message} {cause.GetBaseException().GetType().Name}: {cause.GetBaseException().Message.Split('\n')[0]}",
            _ => $"{inner.GetType().Name}: {inner.Message}",
        };
        // Plain text on stderr: no markup parsing, no wrapping at the terminal width.
        Console.Error.WriteLine($"error: {message}");
        if (Environment.GetEnvironmentVariable("DDIM_DEBUG") == "1")
        {
            Console.Error.WriteLine(inner);
        }

        return 1;
    }

    // ArgumentException.Message appends " (Parameter 'x')" and "Actual value was …": noise for a user.
    private static string WithoutParameterName(ArgumentException e)
    {
        var m = e.Message;
        var cut = m.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return cut >= 0 ? m[..cut] : m.Split('\n')[0];
    }
}
