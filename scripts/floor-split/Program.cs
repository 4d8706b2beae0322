using System.Globalization;
using Ddim.Data;
using Ddim.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

// The real-data floor of 'ddim eval' is N *training* images against the test split, and the judge was trained on the
// training images. Is that floor lower (optimistic) than one of digits the judge never saw? Each split cuts the 10,000
// test images at random into a reference of 10,000 − N and a held-out set of N; the held-out set and several random
// draws of N training images are each scored against that reference, in the judge's features, as FID and confident share.
//
//   dotnet run -c Release --project scripts/floor-split -- [N] [SPLITS] [DRAWS]     (defaults 5000 5 4; from the repository root)
var inv = CultureInfo.InvariantCulture;
var n = args.Length > 0 ? int.Parse(args[0], inv) : 5000;
var splits = args.Length > 1 ? int.Parse(args[1], inv) : 5;
var draws = args.Length > 2 ? int.Parse(args[2], inv) : 4;
using var judge = Judge.Load("models/judge/judge.ddim", out _);
judge.eval();
var test = DatasetFetcher.Load(DatasetFetcher.Mnist, train: false);
var train = DatasetFetcher.Load(DatasetFetcher.Mnist, train: true);
if (n < 2 || n > test.Count - 2)
{
    Console.Error.WriteLine($"N must be between 2 and {test.Count - 2}.");
    return 1;
}

using var noGrad = no_grad();
using var testImages = test.ToTensor();
using var trainImages = train.ToTensor();

(GaussianFit Fit, double Confident) Score(Tensor images, long[] chosen)
{
    var meter = new JudgeMeter(judge);
    foreach (var chunk in chosen.Chunk(500))
    {
        using var scope = NewDisposeScope();
        meter.Add(images.index_select(0, tensor(chunk)));
    }

    return (meter.Features.ToGaussian(), meter.ConfidentShare);
}

long[] Permutation(long count, ulong seed)
{
    using var generator = new Generator(seed);
    using var perm = randperm(count, generator: generator);
    return perm.data<long>().ToArray();
}

var differences = new List<double>();
Console.WriteLine($"N = {n:N0}; reference: the other {test.Count - n:N0} test images of each split; {draws} draws of training images per split");
for (var split = 0; split < splits; split++)
{
    var perm = Permutation(test.Count, 100 + (ulong)split);
    var (reference, _) = Score(testImages, perm[n..]);
    var (heldOut, heldConfident) = Score(testImages, perm[..n]);
    var heldFid = FrechetDistance.Compute(heldOut, reference);
    var trainFids = new List<double>();
    var trainConfident = new List<double>();
    for (var k = 0; k < draws; k++)
    {
        var (drawn, confident) = Score(trainImages, Permutation(train.Count, 1000 + (10 * (ulong)split) + (ulong)k)[..n]);
        trainFids.Add(FrechetDistance.Compute(drawn, reference));
        trainConfident.Add(confident);
    }

    differences.Add(trainFids.Average() - heldFid);
    Console.WriteLine(string.Create(inv,
        $"split {split}: held-out test FID {heldFid:F3} (confident {heldConfident:P2}); training draws FID {string.Join(", ", trainFids.Select(f => f.ToString("F3", inv)))}, mean {trainFids.Average():F3} (confident {trainConfident.Average():P2}); training − held-out {differences[^1]:+0.000;−0.000}"));
}

var mean = differences.Average();
var sd = Math.Sqrt(differences.Sum(d => (d - mean) * (d - mean)) / Math.Max(1, differences.Count - 1));
Console.WriteLine(string.Create(inv, $"training − held-out FID over {splits} splits: {mean:+0.000;−0.000} ± {sd / Math.Sqrt(differences.Count):0.000} (standard error)"));
return 0;
