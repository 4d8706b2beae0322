using System.ComponentModel;
using System.Diagnostics;
using Ddim.Data;
using Ddim.Imaging;
using Ddim.Sampling;
using Ddim.Schedules;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Cli.Commands;

/// <summary>`ddim reconstruct`: DDIM inversion and reconstruction of real test images at several S (paper §5.4, Table 2).</summary>
internal sealed class ReconstructCommand : Command<ReconstructCommand.Settings>
{
    /// <summary>The step counts reconstruct compares when --steps-list is left out (the paper's Table 2).</summary>
    private const string DefaultStepsList = "10,20,50,100,200";

    /// <summary>reconstruct's options; invert's add --steps (<see cref="InvertCommand.Settings"/>).</summary>
    public class Settings : TimetableSettingsBase
    {
        [CommandOption("--steps-list <S1,S2,…>")]
        [Description($"Step counts to compare (the paper's Table 2). Default {DefaultStepsList} (for invert, the one S of --steps).")]
        public string? StepsList { get; init; }

        [CommandOption("-n|--num <N>")]
        [Description("How many images to invert: the first N of the MNIST test split or of --images. Default 64, or all of a smaller --images folder.")]
        public int? Num { get; init; }

        [CommandOption("--data-dir <DIR>")]
        [Description(DataDirOption.Description)]
        public string? DataDir { get; init; }

        [CommandOption("--images <DIR>")]
        [Description("Invert these PNGs instead of MNIST test images.")]
        public string? Images { get; init; }

        [CommandOption("-o|--out <FILE.png>")]
        [Description("Originals and reconstructions, one row each (first 16 images). Default reconstruction.png.")]
        public string Out { get; init; } = "reconstruction.png";
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken) => Run(s, DefaultStepsList, fromSteps: false);

    /// <summary>
    /// Inverts and decodes the images at each S of --steps-list, or of <paramref name="defaultSteps"/> when it is left
    /// out: reconstruct's Table 2 list, or (<paramref name="fromSteps"/>) invert's --steps.
    /// </summary>
    internal static int Run(Settings s, string defaultSteps, bool fromSteps)
    {
        ThreadsOption.Apply(s.Threads);
        SamplerSettingsBase.Refuse("--images names the folder of PNGs to invert, and --data-dir says where MNIST lives", (s.Images is not null && s.DataDir is not null, "--data-dir"));
        var spacing = s.ParseTimetableOptions();
        var stepList = NumberList.ParseDistinct<int>(s.StepsList ?? defaultSteps, "--steps-list", "10,20,50", "a step count");
        if (s.Num < 1)
        {
            throw new ArgumentException($"--num must be at least 1; got {s.Num}.");
        }

        OutputPaths.RequireExtension(s.Out, ".png");
        OutputPaths.RequireWritableFile(s.Out, "reconstruction.png");
        ImageGrid.RequireNativeLibrary($"{(fromSteps ? "invert" : "reconstruct")} writes a PNG of the originals and their reconstructions"); // before the work
        using var sampler = s.LoadSampler(out _);
        var outside = stepList.Where(steps => steps < 1 || steps > sampler.Schedule.T).ToArray();
        if (outside.Length > 0)
        {
            // The message names what the S came from: --steps-list, invert's --steps, or reconstruct's default list.
            throw new ArgumentException(
                s.StepsList is not null ? $"--steps-list: each S must be between 1 and T = {sampler.Schedule.T} for this model; got {outside[0]}."
                : fromSteps ? $"--steps must be between 1 and T = {sampler.Schedule.T} for this model; got {outside[0]}."
                : $"The default --steps-list ({DefaultStepsList}) has S = {outside[0]}, beyond T = {sampler.Schedule.T} of this model: give --steps-list with S from 1 to {sampler.Schedule.T}.");
        }

        foreach (var steps in stepList)
        {
            Timetable.RequireExactSteps(spacing, sampler.Schedule.T, steps, fromSteps && s.StepsList is null ? "--steps" : "--steps-list"); // before any image is loaded: the table names each S
        }

        if (s.Images is null && !sampler.Shape.SequenceEqual(DatasetFetcher.KnownImageShape))
        {
            // Before fetching MNIST: its digits could not be this model's images anyway.
            throw new ArgumentException($"Without --images, {(fromSteps ? "invert" : "reconstruct")} inverts MNIST test digits (1×28×28), and this model makes {string.Join("×", sampler.Shape)} images: give --images DIR, a folder of PNGs of its own kind.");
        }

        var data = s.Images is not null
            ? ImageFolder.Load(s.Images, greyWhenChannelsEqual: sampler.Shape[0] == 1) // grey images another tool saved as RGB, for a grey model
            : DatasetFetcher.Load(DatasetFetcher.Mnist, train: false, s.DataDir);
        if (data.Channels != sampler.Shape[0] || data.Height != sampler.Shape[1] || data.Width != sampler.Shape[2])
        {
            throw new ArgumentException($"The images are {data.Channels}×{data.Height}×{data.Width} but the model makes {string.Join("×", sampler.Shape)}: give --images DIR with images of that size.");
        }

        if (s.Num > data.Count)
        {
            throw new ArgumentException($"'{data.Name}' has {data.Count:N0} images; --num is {s.Num:N0}. Lower --num.");
        }

        using var scope = torch.NewDisposeScope();
        var originals = data.Take(s.Num ?? Math.Min(64, data.Count)).ToTensor(sampler.Device);
        var shown = Math.Min(16, (int)originals.shape[0]);
        var rows = new List<Tensor> { originals[..shown] };
        var table = new Table().AddColumn("S").AddColumn("MSE per dimension (on [[0, 1]])").AddColumn("wall time");
        var batchSize = sampler.WholeGroups(s.BatchSize); // a batch pays for whole groups anyway
        var batches = (originals.shape[0] + batchSize - 1) / batchSize;
        foreach (var steps in stepList)
        {
            // One scope per S: only the shown rows outlive it, so memory does not grow with the number of S.
            using var stepScope = torch.NewDisposeScope();
            var timetable = Timetable.Create(spacing, sampler.Schedule.T, steps);
            var clock = Stopwatch.StartNew();
            var recon = ConsoleProgress.Run($"invert + decode, S={steps}", batches, advance =>
            {
                var parts = new List<Tensor>();
                for (var i = 0; i < originals.shape[0]; i += batchSize)
                {
                    var batch = originals[i..(int)Math.Min(originals.shape[0], i + batchSize)];
                    var (latents, reconstructions) = sampler.Reconstruct(batch, timetable);
                    latents.Dispose(); // only the reconstructions are scored
                    parts.Add(reconstructions);
                    advance(1);
                }

                var all = torch.cat(parts, 0);
                parts.ForEach(p => p.Dispose());
                return all;
            });
            var mse = ImageSampler.MeanSquaredError01(originals, recon);
            table.AddRow(steps.ToString(System.Globalization.CultureInfo.InvariantCulture), mse.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture), $"{clock.Elapsed.TotalSeconds:F1} s");
            rows.Add(recon[..shown].clone().MoveToOuterDisposeScope()); // a copy: a view would keep all of recon alive
        }

        AnsiConsole.MarkupLine($"DDIM inversion then decoding (η = 0, {spacing} spacing, no clipping) of {originals.shape[0]} {Markup.Escape(data.Name)} images{PrecisionOption.Note(sampler)}:");
        AnsiConsole.Write(table);
        Atomic.WriteAllBytes(s.Out, ImageGrid.Grid(torch.cat(rows, 0), columns: shown, padding: 2));
        AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(s.Out)}[/]: originals on the first row, then one row per S ({string.Join(", ", stepList)}).");
        return 0;
    }
}
