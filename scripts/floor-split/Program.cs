using System.Globalization;
using Ddim.Data;
using Ddim.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

// The real-data floor of 'ddim eval' is N *training* images against the test split, and the judge was trained on the
// training images. Is that floor lower (optimistic) than one of digits the judge never saw? Two ways to look:
//
// test-halves: each split cuts the 10,000 test images at random into a reference of 10,000 − N and a held-out set of N;
//   the held-out set and several random draws of N training images are each scored against that reference, with the
//   bundled judge. (The held-out digits share their writers with the reference, the training images do not: MNIST's
//   two splits come from different writers, so this mixes any judge effect with a writer effect.)
// held-out-judge: a judge like the bundled one (3 epochs, seed 0) is trained on a random 50,000 of the training images;
//   draws of N from those it saw and from the 10,000 it did not (same writers) are each scored against the whole test
//   split with it. Only having been seen differs. About 20 minutes on 2 cores for the judge.
//
//   dotnet run -c Release --project scripts/floor-split -- test-halves [N] [SPLITS] [DRAWS]   (defaults 5000 5 4)
//   dotnet run -c Release --project scripts/floor-split -- held-out-judge [N] [DRAWS]         (defaults 5000 5)
// From the repository root.
var inv = CultureInfo.InvariantCulture;
var mode = args.Length > 0 ? args[0] : "test-halves";
if (mode is not ("test-halves" or "held-out-judge"))
{
    Console.Error.WriteLine("usage: floor-split test-halves [N] [SPLITS] [DRAWS] | held-out-judge [N] [DRAWS]");
    return 1;
}

var n = args.Length > 1 ? int.Parse(args[1], inv) : 5000;
var splits = mode == "test-halves" && args.Length > 2 ? int.Parse(args[2], inv) : 5;
var draws = args.Length > (mode == "test-halves" ? 3 : 2) ? int.Parse(args[mode == "test-halves" ? 3 : 2], inv) : (mode == "test-halves" ? 4 : 5);
var test = DatasetFetcher.Load(DatasetFetcher.Mnist, train: false);
var train = DatasetFetcher.Load(DatasetFetcher.Mnist, train: true);
if (n < 2 || n > test.Count - 2)
{
    Console.Error.WriteLine($"N must be between 2 and {test.Count - 2}.");
    return 1;
}

if (mode == "held-out-judge")
{
    return HeldOutJudge();
}

using var judge = Judge.Load("models/judge/judge.ddim", out _);
judge.eval();
using var noGrad = no_grad();
using var testImages = test.ToTensor();
using var trainImages = train.ToTensor();

(GaussianFit Fit, double Confident) Score(Tensor images, long[] chosen) => ScoreWith(judge, images, chosen);

(GaussianFit Fit, double Confident) ScoreWith(Judge judge, Tensor images, long[] chosen)
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

int HeldOutJudge()
{
    const int seenCount = 50_000;
    var order = Permutation(train.Count, 7);
    var seen = train.Pick([.. order[..seenCount].Select(i => (int)i)]);
    var unseen = train.Pick([.. order[seenCount..].Select(i => (int)i)]);
    Console.WriteLine($"Training a judge (3 epochs, seed 0) on {seen.Count:N0} training images; {unseen.Count:N0} held out.");
    var clock = System.Diagnostics.Stopwatch.StartNew();
    using var heldOutJudge = JudgeTrainer.Train(new JudgeTrainConfig(new JudgeConfig()), seen, test,
        epochDone: e => Console.WriteLine(string.Create(inv, $"epoch {e.Epoch}: test accuracy {e.TestAccuracy:P2} ({clock.Elapsed.TotalMinutes:F1} min)")));
    heldOutJudge.eval();
    using var noGrad = no_grad();
    using var testAll = test.ToTensor();
    using var seenAll = seen.ToTensor();
    using var unseenAll = unseen.ToTensor();
    var (reference, _) = ScoreWith(heldOutJudge, testAll, [.. Enumerable.Range(0, test.Count).Select(i => (long)i)]);
    var differences = new List<double>();
    Console.WriteLine($"N = {n:N0} against all {test.Count:N0} test images, in the held-out judge's features:");
    for (var k = 0; k < draws; k++)
    {
        var (seenFit, seenConfident) = ScoreWith(heldOutJudge, seenAll, Permutation(seen.Count, 2000 + (ulong)k)[..n]);
        var (unseenFit, unseenConfident) = ScoreWith(heldOutJudge, unseenAll, Permutation(unseen.Count, 3000 + (ulong)k)[..n]);
        var seenFid = FrechetDistance.Compute(seenFit, reference);
        var unseenFid = FrechetDistance.Compute(unseenFit, reference);
        differences.Add(seenFid - unseenFid);
        Console.WriteLine(string.Create(inv,
            $"draw {k}: seen FID {seenFid:F3} (confident {seenConfident:P2}), unseen FID {unseenFid:F3} (confident {unseenConfident:P2}); seen − unseen {differences[^1]:+0.000;−0.000}"));
    }

    var m = differences.Average();
    var spread = Math.Sqrt(differences.Sum(d => (d - m) * (d - m)) / Math.Max(1, differences.Count - 1));
    Console.WriteLine(string.Create(inv, $"seen − unseen FID over {draws} draws: {m:+0.000;−0.000} ± {spread / Math.Sqrt(differences.Count):0.000} (standard error)"));
    return 0;
}
