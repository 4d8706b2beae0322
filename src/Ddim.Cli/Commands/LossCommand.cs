using System.ComponentModel;
using System.Globalization;
using System.Text.Json.Nodes;
using Ddim.Data;
using Ddim.Evaluation;
using Ddim.Models;
using Ddim.Sampling;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>`ddim loss`: the training objective on held-out images, per timestep, for one or more models side by side.</summary>
internal sealed class LossCommand : Command<LossCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <FILE>")]
        [Description("Model file (.ddim); repeat to compare several on the same images and noise: each model after the first gets its mean difference from the first ± a paired standard error. Default: the bundled models/mnist.ddim.")]
        public string[] Models { get; init; } = [];

        [CommandOption("--data <NAME|DIR>")]
        [Description("The images: mnist or fashion-mnist (their test split, held out; --split train for the training images), or a folder of same-size PNGs. Default mnist.")]
        public string Data { get; init; } = "mnist";

        [CommandOption("--split <SPLIT>")]
        [Description("With mnist or fashion-mnist: test (default, held out) or train (the images the model learned from). A train loss well below the test loss means the network overfits; equal losses mean it underfits, and more capacity or training is what helps.")]
        public string Split { get; init; } = "test";

        [CommandOption("--data-dir <DIR>")]
        [Description(DataDirOption.Description)]
        public string? DataDir { get; init; }

        [CommandOption("-n|--num <N>")]
        [Description("Images, chosen by --seed without replacement. Default 1000, or every image of a smaller folder.")]
        public int? Num { get; init; }

        [CommandOption("--timesteps <LIST>")]
        [Description("Timesteps to measure, comma-separated. Default 25,100,200,300,400,500,600,800 (for T = 1000; scaled to the model's T otherwise).")]
        public string? Timesteps { get; init; }

        [CommandOption("--seed <SEED>")]
        [Description("Chooses the images and draws the noise; the same seed and --timesteps measure every model on the same x_t (the noise of a column depends on its place in the list). Default 0.")]
        public long Seed { get; init; }

        [CommandOption("--batch-size <N>")]
        [Description("Images per batch (memory use; rounded up to whole groups of 32 images); results do not depend on it. Default 64.")]
        public int BatchSize { get; init; } = 64;

        [CommandOption("--device <DEVICE>")]
        [Description(DeviceOption.Description)]
        public string Device { get; init; } = "cpu";

        [CommandOption("--threads <N>")]
        [Description(ThreadsOption.Description)]
        public int? Threads { get; init; }

        [CommandOption("--precision <FORMAT>")]
        [Description("fp32 (default) or bf16: run each model as a bfloat16 copy, as 'sample --precision bf16' does, to measure what bfloat16 costs the noise estimate (same images and noise as fp32).")]
        public string? Precision { get; init; }

        [CommandOption("--json <FILE>")]
        [Description("Also write the losses as JSON.")]
        public string? Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        ThreadsOption.Apply(settings.Threads);
        SeedOption.Require(settings.Seed);
        var device = DeviceOption.Parse(settings.Device);
        var precision = PrecisionOption.Parse(settings.Precision);
        if (settings.Num is < 1)
        {
            throw new ArgumentException($"--num must be at least 1; got {settings.Num}.");
        }

        ImageSampler.RequireBatchSize(settings.BatchSize);

        if (settings.Json is not null)
        {
            OutputPaths.RequireReportFile("--json", settings.Json, ".json", "loss.json");
        }

        var train = settings.Split.ToLowerInvariant() switch
        {
            "test" => false,
            "train" => true,
            _ => throw new ArgumentException($"Unknown --split '{settings.Split}': use test or train."),
        };
        if (train && DatasetFetcher.TryFind(settings.Data) is null)
        {
            throw new ArgumentException($"--split train needs --data mnist or fashion-mnist (a folder of PNGs has no splits); got --data '{settings.Data}'.");
        }

        var asked = settings.Timesteps is { } list ? NumberList.ParseDistinct<int>(list, "--timesteps", "100,500,900", "a timestep") : null;

        // --- Load every model first (cheap), so that a bad file or a mismatch fails before any measuring.
        var paths = settings.Models.Length > 0 ? settings.Models : [ModelLocator.Resolve(null)];
        var models = new List<(string Path, string Text, ImageSampler Sampler)>();
        try
        {
            foreach (var path in paths)
            {
                var (network, schedule, file) = ModelFile.LoadNetwork(path, device, precision);
                models.Add((path, Provenance.DescribeModel(path, file, network), new ImageSampler(network, schedule)));
            }

            // The same x_t for every model needs the same ᾱ_t and image shape.
            var first = models[0].Sampler;
            static string Kind(ImageSampler s) => $"T = {s.Schedule.T}, {s.Schedule.Kind.ToString().ToLowerInvariant()} schedule, {string.Join("×", s.Shape)} images";
            if (models.FirstOrDefault(m => !m.Sampler.Schedule.AlphaBars.SequenceEqual(first.Schedule.AlphaBars) || !m.Sampler.Shape.SequenceEqual(first.Shape)) is { Path: { } other, Sampler: { } otherSampler })
            {
                throw new ArgumentException($"{other} ({Kind(otherSampler)}) does not match {models[0].Path} ({Kind(first)}): the loss compares models of one schedule and image shape.");
            }

            var timesteps = asked
                ?? HeldOutLoss.DefaultTimesteps(first.Schedule.T).ToArray();
            if (timesteps.Any(t => t < 0 || t >= first.Schedule.T))
            {
                throw new ArgumentException($"--timesteps must be in 0 … {first.Schedule.T - 1} (the model's T = {first.Schedule.T}); got {settings.Timesteps}.");
            }

            if (DatasetFetcher.TryFind(settings.Data) is not null && !first.Shape.SequenceEqual(DatasetFetcher.KnownImageShape))
            {
                // Before fetching it: MNIST's and Fashion-MNIST's images are 1×28×28.
                throw new ArgumentException($"--data {settings.Data} is 1×28×28 images, and the model makes {string.Join("×", first.Shape)}: give --data DIR, a folder of PNGs of its own kind.");
            }

            var data = ImageFolder.Resolve(settings.Data, settings.DataDir, train: train, greyWhenChannelsEqual: first.Shape[0] == 1);
            if (data.Channels != first.Shape[0] || data.Height != first.Shape[1] || data.Width != first.Shape[2])
            {
                throw new ArgumentException($"The images of '{data.Name}' are {data.Channels}×{data.Height}×{data.Width} but the model makes {string.Join("×", first.Shape)}: give --data DIR with images of that size.");
            }

            if (settings.Num > data.Count)
            {
                throw new ArgumentException($"'{data.Name}' has {data.Count:N0} images; --num is {settings.Num:N0}. Lower --num.");
            }

            var num = settings.Num ?? Math.Min(1000, data.Count);

            // --- Measure.
            using var x0 = Evaluator.Subset(data, num, settings.Seed).ToTensor(device);
            var perImage = ConsoleProgress.Run($"ε-MSE of {models.Count} model(s) at {timesteps.Length} timesteps × {num:N0} images", models.Count * timesteps.Length, advance =>
                models.Select(m =>
                    // The network runs on fixed groups of images (FixedBatch): batches of whole groups waste no padding.
                    HeldOutLoss.PerImage(m.Sampler.Model, x0, m.Sampler.Schedule, timesteps, settings.Seed, m.Sampler.WholeGroups(settings.BatchSize), () => advance(1)))
                .ToArray());

            Report(settings, num, train, data, timesteps, models.Select(m => (m.Path, m.Text)).ToArray(), perImage);
            return 0;
        }
        finally
        {
            foreach (var m in models)
            {
                m.Sampler.Network?.Dispose();
            }
        }
    }

    /// <summary>
    /// Each path's last folders and file name, as few as tell the paths apart: runs/a/model.ddim and runs/b/model.ddim
    /// are a/model.ddim and b/model.ddim, not model.ddim twice. Paths given twice keep their full form.
    /// </summary>
    internal static string[] ShortestDistinctLabels(IReadOnlyList<string> paths)
    {
        var parts = paths.Select(p => Path.GetFullPath(p).Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries)).ToArray();
        for (var k = 1; k <= parts.Max(p => p.Length); k++)
        {
            var labels = parts.Select(p => string.Join(Path.DirectorySeparatorChar, p.TakeLast(k))).ToArray();
            if (labels.Distinct().Count() == labels.Length)
            {
                return labels;
            }
        }

        return [.. paths];
    }

    private static void Report(Settings settings, int num, bool train, ImageDataset data, int[] timesteps, (string Path, string Text)[] models, double[][][] perImage)
    {
        static string F(double v) => v.ToString("0.00000", CultureInfo.InvariantCulture);
        var rows = perImage.Select(model => model.Select(t => t.Average()).ToArray()).ToArray();
        // Model i against the first on the same images and noise: the mean per-image difference and its standard error.
        var paired = perImage.Select((model, i) => i == 0 || num < 2 ? null : HeldOutLoss.Paired(perImage[0], model)).ToArray();
        var showPaired = paired.Any(p => p is not null); // two or more models, two or more images
        var table = new Table().AddColumn("model");
        foreach (var t in timesteps)
        {
            table.AddColumn(new TableColumn($"t={t}").RightAligned());
        }

        table.AddColumn(new TableColumn("mean over t").RightAligned()).AddColumn(new TableColumn("vs first").RightAligned());
        if (showPaired)
        {
            table.AddColumn(new TableColumn("Δ ± SE (paired)").RightAligned());
        }

        var baseline = rows[0].Average();
        var labels = ShortestDistinctLabels([.. models.Select(m => m.Path)]);
        for (var i = 0; i < models.Length; i++)
        {
            var mean = rows[i].Average();
            var change = i == 0 ? "" : (100 * ((mean / baseline) - 1)).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + "%";
            string[] difference = showPaired
                ? [paired[i] is { } d ? $"{d.Mean.ToString("+0.00000;-0.00000;0.00000", CultureInfo.InvariantCulture)} ± {F(d.StandardError)}" : ""]
                : [];
            table.AddRow([Markup.Escape(labels[i]), .. rows[i].Select(F), F(mean), change, .. difference]);
        }

        // Held out only where it is known to be: a named data set's test split. A folder may be the training images.
        var kind = train ? "Training-set ε-MSE" : DatasetFetcher.TryFind(settings.Data) is not null ? "Held-out ε-MSE" : "ε-MSE";
        AnsiConsole.MarkupLine($"{kind} ‖ε − ε̂‖²/D on {num:N0} images of {Markup.Escape(data.Name)} (seed {settings.Seed}; the same x_t for every model):");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]mean over t: the plain average of the listed timesteps' columns (not the training objective, which weighs every t alike). " +
                               (showPaired
                                   ? "Δ ± SE: the mean over the images of this model's per-image loss (averaged over the listed t) minus the first model's, ± its standard error (SD/√N of the per-image differences): " +
                                     "a |Δ| under about 2 SE is within what another draw of images could give.[/]"
                                   : "[/]"));
        if (settings.Json is { } json)
        {
            Provenance.WriteJson(json, new JsonObject
            {
                ["command"] = Provenance.CommandLine(),
                ["data"] = data.Name,
                ["num"] = num,
                ["seed"] = settings.Seed,
                ["timesteps"] = new JsonArray(timesteps.Select(t => (JsonNode)t).ToArray()),
                ["models"] = new JsonArray(models.Select((m, i) => (JsonNode)new JsonObject
                {
                    ["model"] = m.Text,
                    ["loss"] = new JsonArray(rows[i].Select(v => (JsonNode)v).ToArray()),
                    ["mean"] = rows[i].Average(), // over the listed timesteps
                    // Against the first model, paired image by image (null for the first, or for one image).
                    ["vs_first"] = paired[i] is { } d ? new JsonObject { ["difference"] = d.Mean, ["standard_error"] = d.StandardError, ["sd"] = d.StandardDeviation } : null,
                }).ToArray()),
            });
        }
    }
}
