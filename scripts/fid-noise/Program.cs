using System.Globalization;
using Ddim.Data;
using Ddim.Evaluation;
using TorchSharp;

// How much does one FID at N images move between draws, and does that depend on how far the images are from the
// reference? Real MNIST training images, distorted by a known amount, are scored against the test split at many
// seeds (seed k: Evaluator.Subset's k-th choice of N images, as the floor of 'ddim eval --seed k' chooses them).
//
//   dotnet run -c Release --project scripts/fid-noise -- KIND LEVELS DRAWS [N]
//
// KIND: none (the real-data floor), thicken (each pixel becomes max(p, a · its brightest 4-neighbour): bolder strokes),
// blur (p blended with its 3×3 mean by a). LEVELS: comma-separated a values. Run from the repository root.
if (args.Length < 3 || args[0] is not ("none" or "thicken" or "blur"))
{
    Console.Error.WriteLine("usage: fid-noise none|thicken|blur LEVELS DRAWS [N]   e.g. fid-noise thicken 0.1,0.2 20 1000");
    return 1;
}

torch.set_num_threads(1);
var kind = args[0];
var levels = args[1].Split(',').Select(a => double.Parse(a, CultureInfo.InvariantCulture)).ToArray();
var draws = int.Parse(args[2], CultureInfo.InvariantCulture);
var n = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1000;
using var judge = Judge.Load("models/judge/judge.ddim", out _);
var evaluator = new Evaluator(judge, DatasetFetcher.Load(DatasetFetcher.Mnist, train: false));
var train = DatasetFetcher.Load(DatasetFetcher.Mnist, train: true);

foreach (var a in levels)
{
    var fid = new List<double>();
    var mean = new List<double>();
    var density = new List<double>();
    for (var k = 0; k < draws; k++)
    {
        var draw = Evaluator.Subset(train, n, k);
        var images = new ImageDataset(draw.Name, Distort(draw, kind, a), draw.Count, draw.Channels, draw.Height, draw.Width, draw.Labels);
        var score = evaluator.ScoreImages(images, $"{kind} {a}");
        fid.Add(score.Fid);
        mean.Add(score.FidMean!.Value);
        density.Add(score.Manifold!.Density);
    }

    var (f, m, d) = (Spread.Of(fid), Spread.Of(mean), Spread.Of(density));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{kind} {a}: N = {n}, {draws} draws: FID {f.Mean:0.00} ± {f.StandardDeviation:0.00} ({f.Min:0.00} to {f.Max:0.00}), FID μ {m.Mean:0.00} ± {m.StandardDeviation:0.00}, density {d.Mean:0.000} ± {d.StandardDeviation:0.000}"));
}

return 0;

static byte[] Distort(ImageDataset images, string kind, double a)
{
    var (h, w) = (images.Height, images.Width);
    var source = images.Pixels;
    var result = new byte[source.Length];
    for (var o = 0; o < source.Length; o += h * w)
    {
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                double p = source[o + y * w + x], brightest = 0, sum = 0;
                var count = 0;
                for (var dy = -1; dy <= 1; dy++)
                {
                    for (var dx = -1; dx <= 1; dx++)
                    {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                        {
                            continue;
                        }

                        sum += source[o + yy * w + xx];
                        count++;
                        if (dx == 0 || dy == 0)
                        {
                            brightest = Math.Max(brightest, source[o + yy * w + xx]);
                        }
                    }
                }

                var q = kind switch { "thicken" => Math.Max(p, a * brightest), "blur" => (1 - a) * p + a * sum / count, _ => p };
                result[o + y * w + x] = (byte)Math.Clamp(Math.Round(q), 0, 255);
            }
        }
    }

    return result;
}
