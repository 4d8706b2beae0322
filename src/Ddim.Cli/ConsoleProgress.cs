using Spectre.Console;

namespace Ddim.Cli;

/// <summary>A progress bar on a terminal; when output is redirected (a CI log, nohup), a plain line at every tenth of the work.</summary>
internal static class ConsoleProgress
{
    public static T Run<T>(string label, double total, Func<Action<double>, T> body)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            double done = 0, next = total / 10;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            return body(n =>
            {
                done += n;
                if (total > 0 && done >= next)
                {
                    next = done + (total / 10);
                    Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"  {label}: {Math.Min(100, 100 * done / total):0}% ({clock.Elapsed.TotalSeconds:0} s)"));
                }
            });
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
