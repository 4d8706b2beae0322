namespace Ddim.Cli;

/// <summary>
/// For runs that stop between units of work (a sweep's cells, --seeds' seeds): the first Ctrl-C asks the run to stop
/// after the unit in progress, which is then saved as usual; a second Ctrl-C ends the process at once.
/// </summary>
internal sealed class CtrlCStop : IDisposable
{
    private readonly CancellationTokenSource source;
    private readonly ConsoleCancelEventHandler handler;

    /// <param name="outer">The command's own token, linked in.</param>
    /// <param name="unit">What is finished before stopping, for the message ("cell", "seed").</param>
    public CtrlCStop(CancellationToken outer, string unit)
    {
        source = CancellationTokenSource.CreateLinkedTokenSource(outer);
        handler = (_, e) =>
        {
            if (source.IsCancellationRequested)
            {
                return; // the second Ctrl-C: let it end the process
            }

            e.Cancel = true;
            source.Cancel();
            Console.Error.WriteLine($"Stopping after the {unit} in progress (it will be saved); Ctrl-C again stops at once.");
        };
        Console.CancelKeyPress += handler;
    }

    /// <summary>Cancelled by the first Ctrl-C (or by the command's own token).</summary>
    public CancellationToken Token => source.Token;

    /// <summary>Whether a stop was asked for.</summary>
    public bool Requested => source.IsCancellationRequested;

    public void Dispose()
    {
        Console.CancelKeyPress -= handler;
        source.Dispose();
    }
}
