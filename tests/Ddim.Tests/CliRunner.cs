using Ddim.Cli;
using Spectre.Console;

namespace Ddim.Tests;

/// <summary>
/// Runs the ddim command line in-process and captures what it writes to stderr (and, if asked, to the console). Every
/// run gets a console of its own, restored afterwards, so that no run depends on the state another left in the
/// process-wide <see cref="AnsiConsole.Console"/>.
/// </summary>
internal static class CliRunner
{
    public static (int Code, string Error) Run(params string[] args)
    {
        var (code, _, error) = RunCapturing(args, default);
        return (code, error);
    }

    /// <summary>As <see cref="Run"/>, with a token that asks the command to stop as a first Ctrl-C does.</summary>
    public static (int Code, string Output) RunCancelled(CancellationToken cancel, params string[] args)
    {
        var (code, output, error) = RunCapturing(args, cancel);
        return (code, output + error);
    }

    /// <summary>As <see cref="Run"/>, with what it writes to the console (no colours, lines unwrapped) before its stderr.</summary>
    public static (int Code, string Output) RunCapturingOutput(params string[] args)
    {
        var (code, output, error) = RunCapturing(args, default);
        return (code, output + error);
    }

    /// <summary>As <see cref="Run"/>, with the native runtime prepared by <paramref name="initializeRuntime"/> (which may fail on purpose).</summary>
    public static (int Code, string Output, string Error) RunWithRuntime(Action initializeRuntime, params string[] args) => RunCapturing(args, default, initializeRuntime);

    private static (int Code, string Output, string Error) RunCapturing(string[] args, CancellationToken cancel, Action? initializeRuntime = null)
    {
        var savedConsole = AnsiConsole.Console;
        var savedError = Console.Error;
        using var output = new StringWriter();
        using var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 10_000;
        AnsiConsole.Console = console;
        Console.SetError(error);
        try
        {
            // The parser's own output (help) goes to this console too: Spectre.Console.Cli otherwise keeps the first console it saw.
            var code = initializeRuntime is null ? CliApp.Run(args, console, cancel) : CliApp.Run(args, console, cancel, initializeRuntime);
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            AnsiConsole.Console = savedConsole;
            Console.SetError(savedError);
        }
    }
}
