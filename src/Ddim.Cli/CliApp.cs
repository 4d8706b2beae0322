using Ddim.Cli.Commands;
using Spectre.Console.Cli;

namespace Ddim.Cli;

/// <summary>The <c>ddim</c> command line: every command and its examples.</summary>
public static class CliApp
{
    /// <summary>Runs the command line with <paramref name="args"/> and returns the exit code (0 on success).</summary>
    public static int Run(string[] args) => Run(args, console: null);

    /// <summary>
    /// As <see cref="Run(string[])"/>, with the parser's output (help, version) written to <paramref name="console"/>
    /// when given; <paramref name="cancel"/> asks train, eval --sweep and eval --seeds to stop as a first Ctrl-C does.
    /// </summary>
    internal static int Run(string[] args, Spectre.Console.IAnsiConsole? console, CancellationToken cancel = default) =>
        Run(args, console, cancel, Ddim.Native.TorchRuntime.Initialize);

    /// <summary>As <see cref="Run(string[], Spectre.Console.IAnsiConsole?, CancellationToken)"/>, with the native runtime prepared by <paramref name="initializeRuntime"/> (tests make it fail).</summary>
    internal static int Run(string[] args, Spectre.Console.IAnsiConsole? console, CancellationToken cancel, Action initializeRuntime)
    {
        Exception? runtimeError = null;
        try
        {
            initializeRuntime();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException)
        {
            // The host's libstdc++ patch could not be made (a read-only install, say). Help and the commands that never
            // load TorchSharp still work; any other command stops before it starts, with this one-line error.
            runtimeError = e;
        }

        if (MissingValues.Find(args) is { } missing)
        {
            return CliErrors.Report(new ArgumentException(missing), args);
        }

        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("ddim");
            if (runtimeError is not null)
            {
                config.SetInterceptor(new RuntimeUnavailable(runtimeError));
            }

            if (console is not null)
            {
                config.ConfigureConsole(console);
            }

            config.SetApplicationVersion(typeof(Ddim.Atomic).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
            config.SetExceptionHandler((e, _) => CliErrors.Report(e, args));

            // An unknown or misspelt option (--stpes 10) is an error, not silently ignored.
            config.UseStrictParsing();
            config.AddBranch("data", data =>
            {
                data.SetDescription("Fetch and verify data sets.");
                data.AddCommand<DataFetchCommand>("fetch").WithDescription("Download MNIST or Fashion-MNIST and check their SHA-256.").WithExample("data", "fetch", "mnist");
            });
            config.AddCommand<TrainCommand>("train").WithDescription("Train a U-Net noise predictor (DDPM objective) from a preset.")
                .WithExample("train", "--preset", "presets/mnist.json", "--out", "runs/mnist");
            config.AddCommand<SampleCommand>("sample").WithDescription("Generate images with DDIM (or DDPM) from a trained model.")
                .WithExample("sample", "--num", "64", "--steps", "50", "--out", "digits.png")
                .WithExample("sample", "--steps", "20", "--trajectory", "denoise.gif");
            config.AddCommand<InterpolateCommand>("interpolate").WithDescription("Slerp between the x_T of two (or four) seeds and decode with DDIM η = 0 (paper §5.3).")
                .WithExample("interpolate", "--seeds", "3,7", "--points", "10", "--out", "row.png")
                .WithExample("interpolate", "--seeds", "1,2,3,4", "--points", "8", "--out", "grid.png");
            config.AddCommand<InvertCommand>("invert").WithDescription("DDIM-invert real test images to x_T, decode them back, and print the MSE (paper §5.4).")
                .WithExample("invert", "--steps", "50", "--num", "64");
            config.AddCommand<ReconstructCommand>("reconstruct").WithDescription("The paper's Table 2 on MNIST: reconstruction MSE for several S, with image pairs.")
                .WithExample("reconstruct", "--steps-list", "10,20,50,100,200");
            config.AddCommand<BenchCommand>("bench").WithDescription("Sampling speed and memory on the CPU: DDIM S=10 and S=50, DDPM over all T, the sampler's overhead per step.")
                .WithExample("bench", "--results", "runs/bench.md");
            config.AddCommand<ExportCommand>("export").WithDescription("Write the EMA weights of a training checkpoint as a model file.")
                .WithExample("export", "--checkpoint", "runs/mnist/checkpoint.ddim", "--out", "runs/mnist/model.ddim");
            config.AddCommand<TrainClassifierCommand>("train-classifier").WithDescription("Train the MNIST judge (a small CNN) whose features ddim eval measures FID in, on the CPU.")
                .WithExample("train-classifier", "--out", "runs/judge/judge.ddim", "--epochs", "3", "--seed", "0");
            config.AddCommand<EvalCommand>("eval").WithDescription("Score a model's samples: FID (judge features), confident share, class balance, wall time; --seeds gives mean ± SD over seeds; --sweep runs the DDIM paper's Table 1.")
                .WithExample("eval", "--steps", "50", "--eta", "0", "--num", "1000")
                .WithExample("eval", "--steps", "50", "--eta", "0", "--seeds", "0,1,2,3")
                .WithExample("eval", "--sweep", "--num", "10000");
            config.AddCommand<InfoCommand>("info").WithDescription("What a .ddim file is and holds: a model, checkpoint or judge; its network, training, sections and SHA-256.")
                .WithExample("info", "models/mnist.ddim");
            config.AddCommand<CompareCommand>("compare").WithDescription("Compare two configurations' eval scores seed by seed: is A better than B? (paired t-test, with the sign and signed-rank tests).")
                .WithExample("compare", "-a", "'evals/s10-e0-seed*.json'", "-b", "'evals/s10-e1-seed*.json'");
            config.AddCommand<LossCommand>("loss").WithDescription("The training objective (ε-MSE) on held-out images at chosen timesteps, for one or more models on the same noise: compares training runs in minutes.")
                .WithExample("loss", "--model", "models/mnist.ddim", "--model", "runs/mnist/model.ddim");
        });
        return app.Run(args, cancel);
    }

    /// <summary>Stops every command that needs TorchSharp's native library, when it could not be prepared, with the reason.</summary>
    private sealed class RuntimeUnavailable(Exception error) : ICommandInterceptor
    {
        public void Intercept(CommandContext context, CommandSettings settings)
        {
            // data fetch and compare read and write files only.
            if (settings is not (DataFetchCommand.Settings or CompareCommand.Settings))
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
            }
        }
    }
}
