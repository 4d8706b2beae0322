using Ddim.Cli;
using Spectre.Console;

namespace Ddim.Tests;

/// <summary>Runs the ddim command line in-process and captures what it writes to stderr (and, if asked, to the console).</summary>
internal static class CliRunner
{
    public static (int Code, string Error) Run(params string[] args)
    {
        var saved = Console.Error;
        using var error = new StringWriter();
        Console.SetError(error);
        try
        {
            return (CliApp.Run(args), error.ToString());
        }
        finally
        {
            Console.SetError(saved);
        }
    }

    /// <summary>As <see cref="Run"/>, with what it writes to the console (no colours, lines unwrapped) before its stderr.</summary>
    public static (int Code, string Output) RunCapturingOutput(params string[] args)
    {
        var saved = AnsiConsole.Console;
        using var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 10_000;
        AnsiConsole.Console = console;
        try
        {
            var (code, error) = Run(args);
            return (code, output + error);
        }
        finally
        {
            AnsiConsole.Console = saved;
        }
    }
}
