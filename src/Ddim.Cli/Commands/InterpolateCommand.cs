using System.ComponentModel;
using Ddim.Imaging;
using Ddim.Sampling;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;

namespace Ddim.Cli.Commands;

internal sealed class InterpolateCommand : Command<InterpolateCommand.Settings>
{
    /// <summary>Pixels between the pictures.</summary>
    private const int Padding = 2;

    public sealed class Settings : ClippedDecodeSettingsBase
    {
        [CommandOption("--seeds <S1,S2[,S3,S4]>")]
        [Description("Two seeds for a row, or four corner seeds (top-left, top-right, bottom-left, bottom-right) for a grid. Default 1,2.")]
        public string Seeds { get; init; } = "1,2";

        [CommandOption("--points <N>")]
        [Description("Points along each line, ends included: 2 to 64. Default 10.")]
        public int Points { get; init; } = 10;

        [CommandOption("-o|--out <FILE.png>")]
        [Description("Output PNG. Default interpolation.png.")]
        public string Out { get; init; } = "interpolation.png";
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        ThreadsOption.Apply(s.Threads);
        var settings = s.ToSampleSettings();
        var seeds = NumberList.Parse<long>(s.Seeds, "--seeds", "1,2");
        if (seeds.Length is not (2 or 4))
        {
            throw new ArgumentException($"--seeds takes 2 seeds (a row) or 4 (a grid); got {seeds.Length}.");
        }

        SeedOption.RequireDistinct(seeds, "--seeds");

        if (s.Points < 2 || s.Points > 64)
        {
            throw new ArgumentException($"--points must be between 2 and 64; got {s.Points}.");
        }

        OutputPaths.RequireExtension(s.Out, ".png");
        OutputPaths.RequireWritableFile(s.Out, "interpolation.png");
        ImageGrid.RequireNativeLibrary("interpolate writes a PNG"); // before the sampling, not after it
        using var sampler = s.LoadSampler(out _);
        settings.Validate(sampler.Schedule);
        RequireGridFits(s.Points, seeds.Length == 4 ? s.Points : 1, (int)sampler.Shape[^2], (int)sampler.Shape[^1]);

        using var scope = torch.NewDisposeScope();
        var corners = seeds.Select(seed => sampler.InitialNoise(seed, 0, 1)).ToArray();
        var latents = seeds.Length == 2
            ? Interpolation.Line(corners[0], corners[1], s.Points)
            : Interpolation.Grid(corners[0], corners[1], corners[2], corners[3], s.Points);
        var total = (long)latents.shape[0];
        var batchSize = sampler.WholeGroups(s.BatchSize); // a batch pays for whole groups anyway
        var images = ConsoleProgress.Run($"DDIM S={settings.Steps} η=0 · {total} latents", (double)settings.NetworkCalls(sampler.Schedule) * Math.Ceiling(total / (double)batchSize), advance =>
        {
            var parts = new List<TorchSharp.torch.Tensor>();
            for (var i = 0; i < total; i += batchSize)
            {
                var batch = latents[i..(int)Math.Min(total, i + batchSize)];
                parts.Add(sampler.Decode(batch, settings, observer: _ => advance(1)));
            }

            return TorchSharp.torch.cat(parts, 0);
        });
        Atomic.WriteAllBytes(s.Out, ImageGrid.Grid(images, columns: s.Points, padding: Padding));
        AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(s.Out)}[/]: {(seeds.Length == 2 ? $"1×{s.Points} row" : $"{s.Points}×{s.Points} grid")} from seeds {string.Join(", ", seeds)} (slerp of x_T, DDIM S={settings.Steps}, η = 0){PrecisionOption.Note(sampler)}.");
        return 0;
    }

    /// <summary>Refuses, before any sampling, a row or grid of this model's images wider than <see cref="ImageGrid.MaxSide"/>.</summary>
    internal static void RequireGridFits(int points, int rows, int height, int width)
    {
        var (_, _, w, h) = ImageGrid.GridSize(points * rows, points, Padding, height, width);
        if (w > ImageGrid.MaxSide || h > ImageGrid.MaxSide)
        {
            var most = (ImageGrid.MaxSide - Padding) / (Math.Max(height, width) + Padding);
            throw new ArgumentException($"{points} points of {height}×{width} images make a {w}×{h} picture, over the {ImageGrid.MaxSide}-pixel limit; use --points {most} or fewer.");
        }
    }
}
