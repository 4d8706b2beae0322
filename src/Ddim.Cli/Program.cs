if (!Spectre.Console.AnsiConsole.Profile.Capabilities.Interactive)
{
    // Redirected output (logs, CI): do not wrap lines at 80 columns.
    Spectre.Console.AnsiConsole.Profile.Width = 200;
}

return Ddim.Cli.CliApp.Run(args);
