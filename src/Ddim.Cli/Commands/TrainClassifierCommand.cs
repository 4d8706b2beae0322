using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Data;
using Ddim.Evaluation;
using Ddim.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

internal sealed class TrainClassifierCommand : Command<TrainClassifierCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-o|--out <FILE.ddim>")]
        [Description("Where to write the judge (required; a training log is written beside it as NAME-training.log). Naming models/judge/judge.ddim replaces the bundled judge.")]
        public string? Out { get; init; }

        [CommandOption("--epochs <N>")]
        [Description("Passes over the MNIST training split (default 3).")]
        public int Epochs { get; init; } = 3;

        [CommandOption("--seed <N>")]
        [Description("Seeds the initial weights, shuffling and dropout: the same seed gives the same judge. Default 0.")]
        public long Seed { get; init; }

        [CommandOption("--batch-size <N>")]
        [Description("Images per step (default 128).")]
        public int BatchSize { get; init; } = 128;

        [CommandOption("--data-dir <DIR>")]
        [Description(DataDirOption.Description)]
        public string? DataDir { get; init; }

        [CommandOption("--threads <N>")]
        [Description(ThreadsOption.Description)]
        public int? Threads { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        ThreadsOption.Apply(settings.Threads);
        SeedOption.Require(settings.Seed);
        var config = new JudgeTrainConfig(new JudgeConfig(), settings.Epochs, settings.BatchSize, Seed: settings.Seed);
        config.Validate();
        var output = OutputPaths.RequireDdimOut(settings.Out, "the judge", "runs/judge/judge.ddim", BundledModels.JudgePath);
        var outDir = Path.GetDirectoryName(Path.GetFullPath(output))!;

        void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        var train = DatasetFetcher.Load(DatasetFetcher.Mnist, train: true, settings.DataDir, Log);
        var test = DatasetFetcher.Load(DatasetFetcher.Mnist, train: false, settings.DataDir, Log);

        var log = new StringBuilder();
        log.AppendLine($"# {Provenance.CommandLine()}");
        log.AppendLine($"# started {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC on {SweepContext.ThisMachine()}");
        log.AppendLine($"# config {JsonSerializer.Serialize(config, new JsonSerializerOptions(ModelFile.Json) { WriteIndented = false })}");
        log.AppendLine($"# data {train.Name} ({train.Count:N0} images, SHA-256 {train.Hash}); test {test.Name} ({test.Count:N0} images)");

        var clock = Stopwatch.StartNew();
        var nextReport = 0L;
        var judge = JudgeTrainer.Train(
            config,
            train,
            test,
            epochDone: e =>
            {
                var line = string.Create(CultureInfo.InvariantCulture,
                    $"epoch {e.Epoch}/{config.Epochs}: train loss {e.TrainLoss:0.0000}, train accuracy {e.TrainAccuracy:0.00%}, test accuracy {e.TestAccuracy:0.00%}, {e.Elapsed.TotalSeconds:0}s");
                log.AppendLine(line);
                AnsiConsole.MarkupLine(Markup.Escape(line));
            },
            stepDone: (step, total, loss) =>
            {
                if (step >= nextReport || step == total)
                {
                    nextReport = step + Math.Max(1, total / 20);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  step {step}/{total} loss {loss:0.0000} ({clock.Elapsed.TotalSeconds:0}s)"));
                }
            },
            cancel: cancellationToken);
        clock.Stop();

        var accuracy = JudgeTrainer.Accuracy(judge, test);
        var training = new JsonObject
        {
            ["data"] = train.Name,
            ["data_sha256"] = train.Hash,
            ["test_data"] = test.Name,
            ["test_accuracy"] = Math.Round(accuracy, 6),
            ["config"] = JsonSerializer.SerializeToNode(config, ModelFile.Json),
            ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1),
            ["machine"] = SweepContext.ThisMachine(),
            ["finished_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        judge.Save(output, training);
        var size = new FileInfo(output).Length;
        log.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"test accuracy {accuracy:0.00%} ({test.Count:N0} images); {judge.ParameterCount:N0} parameters; file {size / 1024.0:0} KiB; training took {clock.Elapsed.TotalMinutes:0.0} min"));
        var logPath = Path.Combine(outDir, Path.GetFileNameWithoutExtension(output) + "-training.log");
        Atomic.WriteAllText(logPath, log.ToString());

        var colour = accuracy >= 0.99 ? "green" : "yellow";
        AnsiConsole.MarkupLine($"Test accuracy [{colour}]{accuracy.ToString("0.00%", CultureInfo.InvariantCulture)}[/] on {test.Count:N0} images; judge written to [green]{Markup.Escape(output)}[/] ({size / 1024.0:0} KiB), log to {Markup.Escape(logPath)}.");
        if (accuracy < 0.99)
        {
            AnsiConsole.MarkupLine("[yellow]warning:[/] below the 99% the judge should reach; train longer (--epochs) or with another --seed.");
        }

        return 0;
    }
}
