using Ddim.Imaging;
using Ddim.Sampling;

namespace Ddim.Cli;

/// <summary>Keeps x_t and x̂0 of the first images at every step and writes them as a GIF or a PNG strip.</summary>
internal sealed class TrajectoryRecorder(int images)
{
    private readonly List<(byte[] X, byte[] X0)> steps = [];
    private byte[]? final;

    /// <summary>
    /// Refuses, before any sampling, a trajectory whose picture would exceed <see cref="ImageGrid.MaxSide"/> (a PNG strip
    /// is one column per step: DDPM's T = 1000 steps make it 30,032 px wide; a GIF frame one column per image), and a
    /// GIF of colour images, which its grey palette would turn grey. <paramref name="stepsFixed"/>: the sampler runs all T
    /// steps (DDPM), so the advice cannot be fewer steps.
    /// </summary>
    public static void RequireFits(string path, int images, int steps, int channels, int height, int width, bool stepsFixed = false)
    {
        var gif = IsGif(path);
        if (gif && channels != 1)
        {
            throw new ArgumentException($"A trajectory GIF is grey (its palette is 256 greys), and this model makes {channels}-channel colour images: write the trajectory as .png.");
        }

        var (cells, columns) = Layout(gif, images, steps);
        var (_, _, w, h) = ImageGrid.GridSize(cells, columns, Padding, height, width);
        if (w > ImageGrid.MaxSide || h > ImageGrid.MaxSide)
        {
            var maxSteps = ((ImageGrid.MaxSide - Padding) / (width + Padding)) - 1;
            var fewerSteps = stepsFixed ? $"sample with DDIM and --steps {maxSteps} or fewer (DDPM always runs all T steps)" : $"sample with at most {maxSteps} steps";
            throw new ArgumentException(gif || w <= ImageGrid.MaxSide
                ? $"A trajectory of {images} images would be {w}×{h} pixels, over the {ImageGrid.MaxSide}-pixel limit: lower --trajectory-images."
                : channels == 1
                ? $"A trajectory PNG of {steps} steps would be {w}×{h} pixels, over the {ImageGrid.MaxSide}-pixel limit (one column per step): write a .gif instead (one frame per step), or {fewerSteps}."
                : $"A trajectory PNG of {steps} steps would be {w}×{h} pixels, over the {ImageGrid.MaxSide}-pixel limit (one column per step): {fewerSteps} (a GIF would be grey, and this model makes colour images).");
        }
    }

    public void Record(SamplerStep step)
    {
        var n = Math.Min(images, (int)step.X.shape[0]);
        steps.Add((ImageGrid.ToBytes(step.X[..n]), ImageGrid.ToBytes(step.PredX0[..n])));
        if (step.Index == step.Count - 1)
        {
            final = ImageGrid.ToBytes(step.XNext[..n]);
        }
    }

    public void Save(string path, int c, int h, int w)
    {
        var per = c * h * w;
        var n = steps[0].X.Length / per;
        if (IsGif(path))
        {
            // One frame per step: top row x_t, bottom row x̂0; the last frame shows the result twice.
            var frames = steps.Select(s => Concat(s.X, s.X0)).Append(Concat(final!, final!)).ToList();
            var (frameCells, frameColumns) = Layout(gif: true, n, steps.Count);
            var greys = frames.Select(f => ImageGrid.Compose(f, frameCells, c, h, w, frameColumns, Padding, 64)).ToList(); // grey: RequireFits refused colour GIFs
            var delays = 20;
            Atomic.WriteAllBytes(path, GifWriter.Encode(greys.Select(g => g.Pixels).ToList(), greys[0].Height, greys[0].Width, delays));
            return;
        }

        // PNG strip: for each image, a row of x_t over the steps (then x_0) and a row of x̂0 over the steps.
        var (count, columns) = Layout(gif: false, n, steps.Count);
        var cells = new byte[count * per];
        for (var i = 0; i < n; i++)
        {
            for (var k = 0; k < columns; k++)
            {
                var x = k < steps.Count ? steps[k].X : final!;
                var x0 = k < steps.Count ? steps[k].X0 : final!;
                Array.Copy(x, i * per, cells, (((2 * i) * columns) + k) * per, per);
                Array.Copy(x0, i * per, cells, (((2 * i + 1) * columns) + k) * per, per);
            }
        }

        Atomic.WriteAllBytes(path, ImageGrid.Grid(cells, count, c, h, w, columns, Padding, 64));
    }

    /// <summary>Pixels between the pictures of a trajectory.</summary>
    private const int Padding = 2;

    private static bool IsGif(string path) => path.EndsWith(".gif", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The pictures of a trajectory and its columns: a GIF frame is x_t over x̂0 for each of the images (2n pictures in n
    /// columns); the PNG strip is, for each image, a row of x_t and a row of x̂0 over the steps and the result (S + 1 columns).
    /// </summary>
    private static (int Cells, int Columns) Layout(bool gif, int images, int steps) =>
        gif ? (2 * images, images) : (2 * images * (steps + 1), steps + 1);

    private static byte[] Concat(byte[] a, byte[] b) => [.. a, .. b];
}
