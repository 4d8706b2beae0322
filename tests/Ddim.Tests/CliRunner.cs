using Ddim.Cli;

namespace Ddim.Tests;

/// <summary>Runs the ddim command line in-process and captures what it writes to stderr.</summary>
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
}
