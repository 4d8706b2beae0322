namespace Ddim.Evaluation;

/// <summary>One seed's score under configuration A and under configuration B (same x_T, same real-image draw).</summary>
/// <param name="Seed">The seed both scores were made with.</param>
/// <param name="A">Configuration A's score at that seed.</param>
/// <param name="B">Configuration B's score at that seed.</param>
public sealed record ScorePair(long Seed, double A, double B)
{
    /// <summary>A − B.</summary>
    public double Difference => A - B;
}

/// <summary>
/// Two sampler configurations scored at the same seeds, compared seed by seed: does A score better than B? At one seed
/// an FID moves by more than the gap between two good samplers (docs/results/fid-noise.md), but the two scores of a
/// seed share its x_T and its real images, so their difference is steadier than either: the paired t-test on the
/// differences d_k = A_k − B_k is the main verdict, with two tests that assume less beside it (the sign test: only
/// which of the two won at each seed; the Wilcoxon signed-rank test: the order of the differences' sizes).
/// All p-values are exact for their test (Student's t for the t-test, enumeration for the other two), one-sided for
/// "A is better" unless named two-sided.
/// </summary>
public sealed record PairedComparison
{
    private PairedComparison(IReadOnlyList<ScorePair> pairs, bool lowerIsBetter)
    {
        Pairs = pairs;
        LowerIsBetter = lowerIsBetter;
        A = Spread.Of([.. pairs.Select(p => p.A)]);
        B = Spread.Of([.. pairs.Select(p => p.B)]);
        Difference = Spread.Of([.. pairs.Select(p => p.Difference)]);

        // t = d̄ / (s_d / √n) on n − 1 degrees of freedom; identical differences (s_d = 0) give ±∞, or no t at all when they are all 0.
        T = Difference.StandardDeviation > 0 ? Difference.Mean / Difference.StandardError
            : Difference.Mean == 0 ? double.NaN
            : double.CopySign(double.PositiveInfinity, Difference.Mean);
        var below = StudentT.Cdf(T, DegreesOfFreedom);
        OneSidedP = lowerIsBetter ? below : 1 - below;
        TwoSidedP = double.IsNaN(below) ? double.NaN : Math.Min(1, 2 * Math.Min(below, 1 - below));

        ABetter = pairs.Count(p => IsABetter(p.Difference));
        BBetter = pairs.Count(p => p.Difference != 0 && !IsABetter(p.Difference));
        Ties = pairs.Count - ABetter - BBetter;

        // Sign test: under "no difference" each untied seed is a fair coin; p = P(A wins at least ABetter of them).
        var untied = pairs.Where(p => p.Difference != 0).ToList();
        SignTestP = RandomSubsetSum.UpperTail([.. untied.Select(_ => 1)], ABetter);

        // Wilcoxon signed-rank: rank the untied |d_k| (ties share their mean rank, so ranks are doubled to stay
        // integers); under "no difference" each rank's sign is a fair coin; p = P(A's rank sum at least as large).
        var doubledRanks = DoubledRanks([.. untied.Select(p => Math.Abs(p.Difference))]);
        var observed = untied.Select((p, i) => IsABetter(p.Difference) ? doubledRanks[i] : 0).Sum();
        WilcoxonP = RandomSubsetSum.UpperTail(doubledRanks, observed);

        bool IsABetter(double d) => lowerIsBetter ? d < 0 : d > 0;
    }

    /// <summary>The seeds' score pairs, in the order given.</summary>
    public IReadOnlyList<ScorePair> Pairs { get; }

    /// <summary>True for scores where lower is better (FID, class KL); false for precision, recall, density, coverage, confidence.</summary>
    public bool LowerIsBetter { get; }

    /// <summary>A's scores over the seeds.</summary>
    public Spread A { get; }

    /// <summary>B's scores over the seeds.</summary>
    public Spread B { get; }

    /// <summary>The differences A − B over the seeds: their mean, SD and standard error.</summary>
    public Spread Difference { get; }

    /// <summary>The paired t statistic, mean(A − B) / its standard error; NaN when every difference is 0.</summary>
    public double T { get; }

    /// <summary>n − 1.</summary>
    public int DegreesOfFreedom => Pairs.Count - 1;

    /// <summary>The paired t-test's one-sided p-value for "A is better than B".</summary>
    public double OneSidedP { get; }

    /// <summary>The paired t-test's two-sided p-value for "A and B differ".</summary>
    public double TwoSidedP { get; }

    /// <summary>At how many seeds A scored better.</summary>
    public int ABetter { get; }

    /// <summary>At how many seeds B scored better.</summary>
    public int BBetter { get; }

    /// <summary>At how many seeds the two scores were equal (left out of the sign and signed-rank tests).</summary>
    public int Ties { get; }

    /// <summary>The sign test's exact one-sided p-value for "A is better".</summary>
    public double SignTestP { get; }

    /// <summary>The Wilcoxon signed-rank test's exact one-sided p-value for "A is better".</summary>
    public double WilcoxonP { get; }

    /// <summary>Whether the paired t-test shows A better than B at one-sided level <paramref name="alpha"/>.</summary>
    public bool ShowsABetter(double alpha) => OneSidedP <= alpha;

    /// <summary>Compares A and B over <paramref name="pairs"/> (at least two seeds, each once).</summary>
    public static PairedComparison Of(IReadOnlyList<ScorePair> pairs, bool lowerIsBetter)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Count < 2)
        {
            throw new ArgumentException($"A paired comparison needs at least two seeds scored under both configurations; got {pairs.Count}.", nameof(pairs));
        }

        if (pairs.GroupBy(p => p.Seed).FirstOrDefault(g => g.Count() > 1) is { } repeated)
        {
            throw new ArgumentException($"Seed {repeated.Key} is given {repeated.Count()} times; each seed must be one pair.", nameof(pairs));
        }

        if (pairs.FirstOrDefault(p => !double.IsFinite(p.A) || !double.IsFinite(p.B)) is { } bad)
        {
            throw new ArgumentException($"Seed {bad.Seed} has a score that is not a finite number (A {bad.A}, B {bad.B}).", nameof(pairs));
        }

        return new PairedComparison(pairs, lowerIsBetter);
    }

    /// <summary>Twice the ranks of <paramref name="values"/> (1 = smallest), tied values sharing their mean rank.</summary>
    private static int[] DoubledRanks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new int[values.Count];
        for (var start = 0; start < order.Length;)
        {
            var end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]])
            {
                end++;
            }

            // Ranks start + 1 … end + 1 share their mean; doubled, (start + 1) + (end + 1) is an integer.
            for (var k = start; k <= end; k++)
            {
                ranks[order[k]] = start + end + 2;
            }

            start = end + 1;
        }

        return ranks;
    }
}

/// <summary>Student's t distribution.</summary>
public static class StudentT
{
    /// <summary>
    /// P(T ≤ <paramref name="t"/>) for T with <paramref name="degreesOfFreedom"/> degrees of freedom:
    /// ½·I_x(ν/2, ½) with x = ν/(ν + t²) for t ≤ 0, and 1 minus that for t &gt; 0 (I the regularized incomplete beta function).
    /// </summary>
    public static double Cdf(double t, int degreesOfFreedom)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(degreesOfFreedom, 1);
        if (double.IsNaN(t))
        {
            return double.NaN;
        }

        if (double.IsInfinity(t))
        {
            return t > 0 ? 1 : 0;
        }

        double nu = degreesOfFreedom;
        var tail = 0.5 * SpecialFunctions.RegularizedIncompleteBeta(nu / 2, 0.5, nu / (nu + t * t));
        return t <= 0 ? tail : 1 - tail;
    }
}

/// <summary>The special functions the tests' distributions need.</summary>
public static class SpecialFunctions
{
    // Lanczos' approximation with g = 7 and nine coefficients: ln Γ(x) to about 15 significant digits for x > 0.
    private static readonly double[] Lanczos =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];

    /// <summary>ln Γ(<paramref name="x"/>) for x &gt; 0.</summary>
    public static double LogGamma(double x)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(x);
        if (x < 0.5)
        {
            // Reflection, Γ(x)·Γ(1 − x) = π / sin(πx), keeps the series where it is accurate.
            return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1 - x);
        }

        x -= 1;
        var sum = Lanczos[0];
        for (var i = 1; i < Lanczos.Length; i++)
        {
            sum += Lanczos[i] / (x + i);
        }

        var t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    /// <summary>
    /// The regularized incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b), for a, b &gt; 0 and 0 ≤ x ≤ 1,
    /// by its continued fraction (evaluated with Lentz's method on whichever side of the mean converges fast).
    /// </summary>
    public static double RegularizedIncompleteBeta(double a, double b, double x)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(a);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(b);
        if (x is < 0 or > 1 || double.IsNaN(x))
        {
            throw new ArgumentOutOfRangeException(nameof(x), x, "x must lie in [0, 1].");
        }

        if (x == 0 || x == 1)
        {
            return x;
        }

        // x^a (1 − x)^b / B(a, b), the factor in front of the continued fraction.
        var front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + (a * Math.Log(x)) + (b * Math.Log(1 - x)));
        return x < (a + 1) / (a + b + 2)
            ? front * ContinuedFraction(a, b, x) / a
            : 1 - (front * ContinuedFraction(b, a, 1 - x) / b);
    }

    private static double ContinuedFraction(double a, double b, double x)
    {
        const double Tiny = 1e-300;
        const double Tolerance = 1e-15;
        var c = 1.0;
        var d = 1 - ((a + b) * x / (a + 1));
        d = 1 / (Math.Abs(d) < Tiny ? Tiny : d);
        var h = d;
        for (var m = 1; m <= 1000; m++)
        {
            // The even term d_2m, then the odd term d_2m+1, of the fraction 1/(1 + d_1/(1 + d_2/(1 + …))).
            foreach (var coefficient in new[]
                     {
                         m * (b - m) * x / ((a + (2 * m) - 1) * (a + (2 * m))),
                         -(a + m) * (a + b + m) * x / ((a + (2 * m)) * (a + (2 * m) + 1)),
                     })
            {
                d = 1 + (coefficient * d);
                d = 1 / (Math.Abs(d) < Tiny ? Tiny : d);
                c = 1 + (coefficient / c);
                c = Math.Abs(c) < Tiny ? Tiny : c;
                h *= d * c;
            }

            if (Math.Abs((d * c) - 1) < Tolerance)
            {
                return h;
            }
        }

        throw new InvalidOperationException($"The incomplete beta function's continued fraction did not converge for a = {a}, b = {b}, x = {x}.");
    }
}

/// <summary>The exact null distribution behind the sign and signed-rank tests.</summary>
internal static class RandomSubsetSum
{
    /// <summary>
    /// P(S ≥ <paramref name="observed"/>) where S is the sum of a random subset of <paramref name="weights"/>, each
    /// weight in it with probability ½ independently (1 when there are no weights and <paramref name="observed"/> ≤ 0).
    /// </summary>
    public static double UpperTail(IReadOnlyList<int> weights, int observed)
    {
        var total = weights.Sum();
        var probability = new double[total + 1];
        probability[0] = 1;
        var reach = 0;
        foreach (var w in weights)
        {
            // Add w to half the subsets: descending, so that each weight is used at most once.
            for (var s = reach; s >= 0; s--)
            {
                var half = probability[s] / 2;
                probability[s] = half;
                probability[s + w] += half;
            }

            reach += w;
        }

        return probability.Skip(Math.Max(0, observed)).Sum();
    }
}
