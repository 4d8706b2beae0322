using Spectre.Console;

namespace Ddim.Cli;

/// <summary>A progress bar on a terminal; silence (the caller prints a summary) when output is redirected.</summary>
internal static class ConsoleProgress
{
    public static T Run<T>(string label, double total, Func<Action<double>, T> body)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            return body(_ => { });
        }

        return AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: total);
                return body(n => task.Increment(n));
            });
    }
}
