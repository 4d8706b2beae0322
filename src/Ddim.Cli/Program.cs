using Ddim.Cli;
using Ddim.Cli.Commands;
using Spectre.Console.Cli;

Ddim.Native.TorchRuntime.Initialize();
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("ddim");
    config.SetApplicationVersion(typeof(Ddim.Atomic).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
    config.SetExceptionHandler((e, _) => CliErrors.Report(e));
    config.AddBranch("data", data =>
    {
        data.SetDescription("Fetch and verify data sets.");
        data.AddCommand<DataFetchCommand>("fetch").WithDescription("Download MNIST or Fashion-MNIST and check their SHA-256.").WithExample("data", "fetch", "mnist");
    });
    config.AddCommand<TrainCommand>("train").WithDescription("Train a U-Net noise predictor (DDPM objective) from a preset.")
        .WithExample("train", "--preset", "presets/mnist.json", "--out", "runs/mnist");
    config.AddCommand<ExportCommand>("export").WithDescription("Write the EMA weights of a training checkpoint as a model file.");
});
return app.Run(args);
