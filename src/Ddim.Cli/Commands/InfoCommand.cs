using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Models;
using Ddim.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>
/// `ddim info FILE`: what a .ddim file is and holds, read from its own metadata after its checksum is verified: a
/// model, a training checkpoint or a judge; the network's shape and size; how and on what it was trained; its sections.
/// </summary>
internal sealed class InfoCommand : Command<InfoCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[FILE]")]
        [Description("A .ddim file: a model, a checkpoint or a judge. Default: the bundled models/mnist.ddim.")]
        public string? File { get; init; }

        [CommandOption("--json <FILE>")]
        [Description("Also write the file's SHA-256, sizes and whole metadata as JSON.")]
        public string? Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Json is not null)
        {
            OutputPaths.RequireReportFile("--json", settings.Json, ".json", "info.json");
        }

        var path = ModelLocator.Resolve(settings.File, option: "FILE", advice: "Name a .ddim file: 'ddim info runs/NAME/checkpoint.ddim'.");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No file {path}. Name a .ddim file that exists: a model, a checkpoint or a judge.", path);
        }
        var file = ModelFile.Load(path, out var sha256); // verifies the checksum: a damaged file is an error here too
        var bytes = new FileInfo(path).Length;
        var kind = file.Metadata["kind"]?.GetValue<string>() ?? "unknown";
        var rows = new List<(string Name, string Value)>();
        void Row(string name, string value) => rows.Add((name, value));

        Row("file", string.Create(CultureInfo.InvariantCulture, $"{path}, {bytes / 1e6:0.0} MB, SHA-256 {sha256} (checksum verified)"));
        Row("kind", Kind(kind, file.Metadata));
        if (kind is "model" or "checkpoint")
        {
            var config = file.ModelConfig;
            using var network = new UNet(config);
            Row("network", string.Create(CultureInfo.InvariantCulture,
                $"U-Net, {network.ParameterCount:N0} parameters: {config.ImageChannels}×{config.ImageSize}×{config.ImageSize} images, base {config.BaseChannels} channels × [{string.Join(", ", config.Multipliers)}], " +
                $"{config.BlocksPerLevel} block{(config.BlocksPerLevel == 1 ? string.Empty : "s")} per level, {Attention(config)}, dropout {config.Dropout}, {config.Groups} groups"));
            var schedule = file.Schedule;
            Row("schedule", string.Create(CultureInfo.InvariantCulture, $"{schedule.Kind}, T = {schedule.T}") +
                (schedule.HasDefaultParameters ? string.Empty : ", " + string.Join(", ", schedule.Parameters.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value}")))));
            var training = kind == "model" ? file.Metadata["training"] : file.Metadata;
            var train = (training?["config"] ?? file.Metadata["train"])?.Deserialize<TrainConfig>(ModelFile.Json);
            if (train is not null)
            {
                Row("training", Training(train, training!));
            }

            if (kind == "checkpoint")
            {
                var elapsed = file.Metadata["elapsed_s"]?.GetValue<double>() is { } s ? $", after {Durations.Clock(TimeSpan.FromSeconds(s))} of training" : string.Empty;
                var folder = Path.GetDirectoryName(path) is { Length: > 0 } d ? d : ".";
                Row("saved", $"{file.Metadata["saved_utc"]?.GetValue<string>() ?? "time not recorded"}{elapsed}; 'ddim train --preset PRESET --out {folder} --resume' goes on, 'ddim export --checkpoint {path} --out {Path.Combine(folder, "model.ddim")}' writes its model");
            }
        }
        else if (kind == Evaluation.Judge.FileKind)
        {
            var accuracy = file.Metadata["training"]?["test_accuracy"]?.GetValue<double>();
            Row("judge", (accuracy is { } a ? $"test accuracy {a.ToString("0.00%", CultureInfo.InvariantCulture)}; " : string.Empty) +
                         (file.Metadata["feature_space"]?.GetValue<string>() ?? "feature space not recorded"));
        }

        Row("sections", string.Join(", ", file.Sections.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key} {s.Value.Length / 1e6:0.00} MB"))));
        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
            rows.ForEach(r => grid.AddRow($"[grey]{r.Name}[/]", Markup.Escape(r.Value)));
            AnsiConsole.Write(grid);
        }
        else
        {
            // Piped or redirected: one plain line per row, without a grid's padding to the console width.
            var width = rows.Max(r => r.Name.Length);
            rows.ForEach(r => AnsiConsole.Profile.Out.Writer.WriteLine($"{r.Name.PadRight(width)}  {r.Value}")); // unwrapped
        }
        if (settings.Json is { } json)
        {
            Provenance.WriteJson(json, new JsonObject
            {
                ["file"] = path,
                ["bytes"] = bytes,
                ["sha256"] = sha256,
                ["sections"] = new JsonObject([.. file.Sections.Select(s => new KeyValuePair<string, JsonNode?>(s.Key, s.Value.Length))]),
                ["metadata"] = file.Metadata.DeepClone(),
            });
        }

        return 0;
    }

    /// <summary>Where the network has self-attention: "attention at 7 px and in the middle block", "… in the middle block only", "no attention".</summary>
    private static string Attention(UNetConfig config) => (config.Attention.Count, config.HasMiddleAttention) switch
    {
        (0, true) => "attention in the middle block only",
        (0, false) => "no attention",
        (_, var middle) => $"attention at {string.Join(", ", config.Attention)} px{(middle ? " and in the middle block" : ", none in the middle block")}",
    };

    private static string Kind(string kind, JsonObject metadata) => kind switch
    {
        "model" => metadata["training"]?["weights"]?.GetValue<string>() == "raw"
            ? "a trained model, the optimiser's raw weights (ddim export --weights raw)"
            : "a trained model: its EMA weights, which sample, eval and the other commands run",
        "checkpoint" => string.Create(CultureInfo.InvariantCulture,
            $"a training checkpoint at step {metadata["step"]?.GetValue<long>():N0} of {metadata["train"]?["Steps"]?.GetValue<long>():N0}: model, EMA, AdamW moments and RNG state"),
        Evaluation.Judge.FileKind => "a judge: the MNIST classifier whose features eval measures FID in",
        _ => $"'{kind}', which this version does not know",
    };

    /// <summary>The run that made the weights: data, steps, optimiser, schedule of the learning rate, EMA, precision, start.</summary>
    private static string Training(TrainConfig c, JsonNode training)
    {
        var steps = training["steps"]?.GetValue<long>() ?? training["step"]?.GetValue<long>();
        var data = training["data"]?.GetValue<string>() ?? c.Data;
        var dataSha = training["data_sha256"]?.GetValue<string>();
        var initSha = training["init_from_sha256"]?.GetValue<string>();
        var parts = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"{steps:N0} steps on {data}{(dataSha is null ? string.Empty : $" (SHA-256 {dataSha[..12]}…)")}"),
            c.InitFrom is null ? "from random weights" : $"starting from {c.InitFrom}{(initSha is null ? string.Empty : $" (SHA-256 {initSha[..12]}…)")}",
            string.Create(CultureInfo.InvariantCulture,
                $"batch {c.BatchSize}, AdamW lr {c.LearningRate} (warm-up {c.WarmupSteps}{(c.CosineDecayFrom is { } from ? $", half-cosine decay from step {from}{Replans(c)}" : ", then constant")}), weight decay {c.WeightDecay}, gradient clip {c.GradClip}"),
            string.Create(CultureInfo.InvariantCulture, $"EMA {c.EmaDecay}{(c.EmaWarmup ? " with warm-up" : string.Empty)}{EmaReached(c, steps)}"),
            c.Precision == NetworkPrecision.BFloat16 ? "bfloat16 mixed precision" : "float32",
            string.Create(CultureInfo.InvariantCulture, $"seed {c.Seed}"),
        };
        if (c.TimestepRange is [var lo, var hi])
        {
            parts.Add($"t only in [{lo}, {hi})");
        }

        return string.Join("; ", parts);
    }

    /// <summary>
    /// " (which reached only 0.99817 by its last step)" when the EMA warm-up (1 + s)/(10 + s) had not yet reached the
    /// decay the preset names at the weights' last step, or nothing.
    /// </summary>
    private static string EmaReached(TrainConfig c, long? steps)
    {
        if (steps is not > 0 || steps.Value - 1 >= c.EmaDecayReachedAt)
        {
            return string.Empty;
        }

        // Enough decimals that the value shown is below the target it fell short of (0.99949997, not 0.9995).
        var reached = c.EmaDecayAt(steps.Value - 1);
        var decimals = 5;
        while (decimals < 15 && Math.Round(reached, decimals) >= c.EmaDecay)
        {
            decimals++;
        }

        return string.Create(CultureInfo.InvariantCulture, $" (which reached only {reached.ToString("0." + new string('#', decimals), CultureInfo.InvariantCulture)} by its last step)");
    }

    /// <summary>", re-planned at step 4,400 (it was to end at 26,000) to end at 14,000", or nothing when the decay kept its first plan.</summary>
    private static string Replans(TrainConfig c) => c.DecayReplans is { Count: > 0 } replans
        ? string.Create(CultureInfo.InvariantCulture, $", re-planned at step {string.Join(", then at step ", replans.Select(r => FormattableString.Invariant($"{r.AtStep:N0} (it was to end at {r.PreviousSteps:N0})")))} to end at {c.Steps:N0}")
        : string.Empty;
}
