using System.Globalization;
using Ddim.Data;
using Ddim.Models;
using Ddim.Sampling;
using static TorchSharp.torch;

// Does a DDIM trajectory stay on the marginals the network was trained on? Under q(x_t | x0) the mean square of x_t
// per pixel is E[x_t²] = ᾱ_t·E[x0²] + (1 − ᾱ_t), with E[x0²] from the training images; an exact probability-flow ODE
// keeps it at every t. This prints the sampled mean of x_t² over the expected one at every 100th timestep, for
// several step counts S and three ways of treating x̂0: clipped to [−1, 1] with ε̂ kept (--keep-noise, the reference
// tutorial's), clipped with ε̂ re-derived from it (the default since this study), and not clipped (--no-clip, the DDIM
// paper's code).
//
//   dotnet run -c Release --project scripts/trajectory-energy -- [MODEL] [STEPS] [ETA] [COUNT]
//
// Defaults: models/mnist.ddim, S = 10,50,200, η = 0, 64 images of seed 0. Run from the repository root.
var modelPath = args.Length > 0 ? args[0] : "models/mnist.ddim";
var stepCounts = (args.Length > 1 ? args[1] : "10,50,200").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
var eta = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 0.0;
var count = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 64;

var sampler = ImageSampler.Load(modelPath);
var train = DatasetFetcher.Load(DatasetFetcher.Mnist, train: true);
double x0Square;
using (NewDisposeScope())
{
    x0Square = train.ToTensor().to(ScalarType.Float64).square().mean().item<double>(); // the training images as the network saw them
}

var pixels = (double)count * sampler.Shape.Aggregate(1L, (a, b) => a * b);
(string Name, bool Clip, bool Rederive)[] variants = [("clip", true, false), ("clip+rederive", true, true), ("no clip", false, false)];
int[] shown = [999, 899, 799, 699, 599, 499, 399, 299, 199, 99];

var columns = new List<string>();
var cells = new Dictionary<(int T, int Column), double>();
var finals = new List<double>();
foreach (var steps in stepCounts)
{
    foreach (var (name, clip, rederive) in variants)
    {
        var column = columns.Count;
        columns.Add($"S={steps} {name}");
        var sums = new Dictionary<int, double>();
        double final = 0;
        var settings = new SampleSettings(Steps: steps, Eta: eta, Clip: clip, RederiveNoise: rederive);
        sampler.Generate(count, 0, settings, 64, (_, images) => final += images.clamp(-1, 1).square().sum().item<float>(), observer: step =>
        {
            sums[step.T] = sums.GetValueOrDefault(step.T) + step.X.square().sum().item<float>();
        });
        foreach (var t in shown.Where(sums.ContainsKey))
        {
            var alphaBar = sampler.Schedule.AlphaBar(t);
            cells[(t, column)] = sums[t] / pixels / ((alphaBar * x0Square) + (1 - alphaBar));
        }

        finals.Add(final / pixels / x0Square);
        Console.Error.WriteLine($"{columns[^1]} done");
    }
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{modelPath}, η = {eta}, {count} images of seed 0; E[x0²] of the training images = {x0Square:0.0000}. Sampled E[x_t²] over the training marginal's:"));
Console.WriteLine();
Console.WriteLine($"| t | {string.Join(" | ", columns)} |");
Console.WriteLine($"| ---: |{string.Concat(Enumerable.Repeat(" ---: |", columns.Count))}");
foreach (var t in shown)
{
    var row = Enumerable.Range(0, columns.Count).Select(c => cells.TryGetValue((t, c), out var v) ? v.ToString("0.000", CultureInfo.InvariantCulture) : "");
    Console.WriteLine($"| {t} | {string.Join(" | ", row)} |");
}

Console.WriteLine($"| x0 (clamped output) | {string.Join(" | ", finals.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))} |");
return 0;
