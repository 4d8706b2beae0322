using System.Runtime.InteropServices;

namespace Ddim.Cli;

/// <summary>
/// For runs that save their work in units (training's checkpoint after a step, a sweep's cells, --seeds' seeds): the
/// first Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed; not on Windows, whose closing console cannot wait)
/// cancels <see cref="Token"/>, and the run stops once
/// the unit in progress is done and saved; a second signal of any of them ends the process at once. Commands without
/// units to save keep .NET's default: a signal ends them. So does a run whose stop is not yet armed (see
/// <see cref="Arm"/>): while it is still loading, there is nothing to save and nothing to wait for.
/// </summary>
internal sealed class GracefulStop : IDisposable
{
    private readonly CancellationTokenSource source;
    private readonly ConsoleCancelEventHandler onCtrlC;
    private readonly PosixSignalRegistration onSigterm;
    private readonly PosixSignalRegistration? onSighup;
    private volatile bool armed;

    /// <param name="outer">The command's own token (what <c>CliApp.Run</c> was given), linked in.</param>
    /// <param name="saving">What happens before the run stops, for the line the first signal prints ("the cell in progress is scored and saved").</param>
    /// <param name="armed">False for a run that loads first: signals end it at once until <see cref="Arm"/> is called.</param>
    public GracefulStop(CancellationToken outer, string saving, bool armed = true)
    {
        this.armed = armed;
        source = CancellationTokenSource.CreateLinkedTokenSource(outer);
        void Stop(string signal)
        {
            try
            {
                source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                return; // the run ended while the signal was arriving: nothing left to stop
            }

            try
            {
                Console.Error.WriteLine($"{signal}: stopping once {saving}. {(signal == "Ctrl-C" ? "Ctrl-C again" : $"Another {signal} or Ctrl-C")} stops at once, losing it.");
            }
            catch (IOException)
            {
                // a closed terminal (SIGHUP) has nowhere to write to; the stop goes on
            }
        }

        // SIGTERM and SIGHUP: the first is a graceful stop, a second one ends the process (the default action).
        void OnSignal(PosixSignalContext c, string name)
        {
            if (!this.armed || source.IsCancellationRequested)
            {
                return;
            }

            c.Cancel = true;
            Stop(name);
        }

        onCtrlC = (_, e) =>
        {
            if (!this.armed || source.IsCancellationRequested)
            {
                return; // not armed yet, or the second Ctrl-C: let it end the process
            }

            e.Cancel = true;
            Stop("Ctrl-C");
        };
        Console.CancelKeyPress += onCtrlC;
        onSigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => OnSignal(c, "SIGTERM"));
        // On Windows SIGHUP is the console closing, and the process ends as soon as the handler returns: no stop could
        // finish there, so it is left to end the run at once rather than promise a save.
        onSighup = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => OnSignal(c, "SIGHUP"));
    }

    /// <summary>From now on the first signal stops the run gracefully: call it when the first unit of work starts.</summary>
    public void Arm() => armed = true;

    /// <summary>Cancelled by the first Ctrl-C, SIGTERM or SIGHUP once armed, or by the command's own token.</summary>
    public CancellationToken Token => source.Token;

    /// <summary>Whether a stop was asked for, by a signal or by the command's own token.</summary>
    public bool Requested => source.IsCancellationRequested;

    /// <inheritdoc/>
    public void Dispose()
    {
        Console.CancelKeyPress -= onCtrlC;
        onSigterm.Dispose();
        onSighup?.Dispose();
        source.Dispose();
    }
}
