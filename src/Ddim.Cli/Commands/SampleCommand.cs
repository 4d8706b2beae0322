using System.ComponentModel;
using System.Diagnostics;
using Ddim.Data;
using Ddim.Imaging;
using Ddim.Sampling;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;

namespace Ddim.Cli.Commands;

internal sealed class SampleCommand : Command<SampleCommand.Settings>
{
    public sealed class Settings : SamplerSettingsBase
    {
        [CommandOption("-n|--num <N>")]
        [Description("Number of images. Default 64.")]
        public int Num { get; init; } = 64;

        [CommandOption("-o|--out <FILE.png>")]
        [Description("Write all images as one grid PNG (default samples.png unless --out-dir is given).")]
        public string? Out { get; init; }

        [CommandOption("--out-dir <DIR>")]
        [Description("Write one PNG per image (00000.png, 00001.png, …), streamed batch by batch, into a folder that holds no PNGs yet.")]
        public string? OutDir { get; init; }

        [CommandOption("--columns <N>")]
        [Description("Grid columns. Default 8, or √N for more than 64 images.")]
        public int? Columns { get; init; }

        [CommandOption("--padding <PX>")]
        [Description("Pixels between grid cells. Default 2.")]
        public int? Padding { get; init; }

        [CommandOption("--trajectory <FILE>")]
        [Description("Also write how DDIM denoises the first images: x_t and x̂0 at every step, as .gif (animation, grey models only) or .png (strip).")]
        public string? Trajectory { get; init; }

        [CommandOption("--trajectory-images <N>")]
        [Description("How many images --trajectory shows (at most one batch). Default 8.")]
        public int? TrajectoryImages { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        ThreadsOption.Apply(s.Threads);
        // Check everything cheap before any sampling starts.
        var settings = s.ToSampleSettings();
        if (s.Num < 1)
        {
            throw new ArgumentException($"--num must be at least 1; got {s.Num}.");
        }

        var gridPath = s.Out ?? (s.OutDir is null ? "samples.png" : null);
        if (gridPath is null && (s.Columns is not null || s.Padding is not null))
        {
            throw new ArgumentException("--columns and --padding shape the grid PNG, and --out-dir alone writes none: add --out FILE.png for a grid too, or leave them out.");
        }

        if (s.Trajectory is null && s.TrajectoryImages is not null)
        {
            throw new ArgumentException("--trajectory-images sets how many images --trajectory FILE shows; give --trajectory too, or leave it out.");
        }

        if (s.TrajectoryImages < 1)
        {
            throw new ArgumentException($"--trajectory-images must be at least 1; got {s.TrajectoryImages}.");
        }

        var columns = s.Columns ?? (s.Num > 64 ? (int)Math.Ceiling(Math.Sqrt(s.Num)) : 8);
        var padding = s.Padding ?? 2;
        using var sampler = s.LoadSampler(out var modelPath);
        var batchSize = sampler.WholeGroups(s.BatchSize); // what Generate runs: whole groups of the network's fixed batch
        var firstBatchSize = Math.Min(s.Num, batchSize); // the trajectory's images come from it
        settings.Validate(sampler.Schedule);
        var (c, h, w) = ((int)sampler.Shape[0], (int)sampler.Shape[1], (int)sampler.Shape[2]);
        if (gridPath is not null)
        {
            OutputPaths.RequireExtension(gridPath, ".png");
            OutputPaths.RequireWritableFile(gridPath, "samples.png");
            GridCheck(s.Num, columns, padding, h, w);
        }

        if (s.Trajectory is not null)
        {
            OutputPaths.RequireExtension(s.Trajectory, ".gif", ".png");
            OutputPaths.RequireWritableFile(s.Trajectory, "denoise.gif");
            if (s.TrajectoryImages > firstBatchSize)
            {
                throw new ArgumentException($"--trajectory-images {s.TrajectoryImages}: the trajectory shows images of the first batch, at most min(--num, --batch-size rounded up to whole groups of {sampler.GroupSize}) = {firstBatchSize}.");
            }

            TrajectoryRecorder.RequireFits(s.Trajectory, TrajectoryImages(s, firstBatchSize), settings.NetworkCalls(sampler.Schedule), c, h, w, stepsFixed: settings.Sampler == SamplerKind.Ddpm);
        }

        ImageGrid.RequireNativeLibrary("sample writes PNG images"); // before the sampling, not after it

        // Last, as it creates the folder: every other check has passed.
        if (s.OutDir is not null)
        {
            OutputPaths.RequireWritableFolder(s.OutDir);
            var earlier = ImageFolder.PngFiles(s.OutDir).Count(); // the files 'ddim eval --images' would score
            if (earlier > 0)
            {
                throw new IOException($"--out-dir {s.OutDir} already holds {earlier:N0} PNG files: this run's images would mix with them (and 'ddim eval --images' scores every PNG there). Empty it or choose a new folder.");
            }
        }

        var trajectory = s.Trajectory is null ? null : new TrajectoryRecorder(TrajectoryImages(s, firstBatchSize));

        // Sample, streaming batch by batch.
        var pixels = gridPath is not null ? new byte[(long)s.Num * c * h * w] : null;
        var callsPerBatch = settings.NetworkCalls(sampler.Schedule);
        var batches = (s.Num + batchSize - 1) / batchSize;
        var clock = Stopwatch.StartNew();
        ConsoleProgress.Run($"{settings} · {s.Num} images", (double)batches * callsPerBatch, advance =>
        {
            var firstBatch = true;
            sampler.Generate(s.Num, s.Seed ?? 0, settings, batchSize, (start, batch) =>
            {
                byte[] bytes;
                try
                {
                    bytes = ImageGrid.ToBytes(batch);
                }
                catch (ArgumentException e) when (s.OutDir is not null && start > 0)
                {
                    throw new InvalidOperationException($"{e.Message} The {start:N0} images before them are in {s.OutDir}; empty it before a new run.", e);
                }

                if (pixels is not null)
                {
                    bytes.CopyTo(pixels, (long)start * c * h * w);
                }

                if (s.OutDir is not null)
                {
                    var per = c * h * w;
                    for (var i = 0; i < batch.shape[0]; i++)
                    {
                        Atomic.WriteAllBytes(Path.Combine(s.OutDir, $"{start + i:D5}.png"), ImageGrid.Grid(bytes[(i * per)..((i + 1) * per)], 1, c, h, w, 1, 0));
                    }
                }

                firstBatch = false;
            }, observer: step =>
            {
                advance(1);
                if (firstBatch)
                {
                    trajectory?.Record(step);
                }
            });
            return 0;
        });
        var seconds = clock.Elapsed.TotalSeconds;

        if (gridPath is not null)
        {
            Atomic.WriteAllBytes(gridPath, ImageGrid.Grid(pixels!, s.Num, c, h, w, columns, padding));
            AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(gridPath)}[/] ({s.Num} images, {Math.Min(columns, s.Num)} columns).");
        }

        if (s.OutDir is not null)
        {
            AnsiConsole.MarkupLine($"Wrote [green]{s.Num}[/] PNGs to [green]{Markup.Escape(s.OutDir)}[/].");
        }

        if (trajectory is not null)
        {
            trajectory.Save(s.Trajectory!, c, h, w);
            AnsiConsole.MarkupLine($"Wrote the trajectory to [green]{Markup.Escape(s.Trajectory!)}[/].");
        }

        var perStep = seconds / (batches * (double)callsPerBatch);
        AnsiConsole.MarkupLine(
            $"{Markup.Escape(settings.ToString())} of {Markup.Escape(modelPath)}{PrecisionOption.Note(sampler)}: {s.Num} images in [bold]{seconds:F2} s[/] — {perStep * 1000:F1} ms per step (batch ≤ {batchSize}), {s.Num / seconds:F2} images/s, threads {torch.get_num_threads()}.");
        return 0;
    }

    /// <summary>The images a trajectory shows: --trajectory-images, or up to 8 of the first batch.</summary>
    private static int TrajectoryImages(Settings s, int firstBatchSize) => s.TrajectoryImages ?? Math.Min(8, firstBatchSize);

    internal static void GridCheck(int count, int columns, int padding, int h, int w)
    {
        if (columns < 1 || padding < 0)
        {
            throw new ArgumentException($"--columns must be ≥ 1 and --padding ≥ 0; got {columns} and {padding}.");
        }

        var (cols, _, gw, gh) = ImageGrid.GridSize(count, columns, padding, h, w);
        if (gw > ImageGrid.MaxSide || gh > ImageGrid.MaxSide)
        {
            throw new ArgumentException($"A grid of {count} images in {cols} columns would be {gw}×{gh} pixels, over the {ImageGrid.MaxSide}-pixel limit. {(gw > ImageGrid.MaxSide && gh > ImageGrid.MaxSide ? "Use a smaller --padding, fewer images" : gw > ImageGrid.MaxSide ? "Use fewer --columns, a smaller --padding" : "Use more --columns, a smaller --padding, fewer images")}, or --out-dir for one file per image.");
        }
    }
}
