using System.Globalization;

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
/// seed share its x_T and its real images, so each seed's difference d_k = A_k − B_k leaves out what the seed shifts in
/// both alike. That makes it steadier than either score only where the two move together from seed to seed, which
/// the data must show (at S = 10, N = 10,000 the η = 0 and η = 1 FIDs did not: SD 0.98 and 1.40, their difference's
/// 1.86; README, "Quality and speed"). The paired t-test on the differences is the main verdict, with two tests that
/// assume less beside it (the sign test: only which of the two won at each seed; the Wilcoxon signed-rank test: the
/// order of the differences' sizes).
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

        // Differences are compared for equality at 12 decimals: scores such as precision are counts over N, whose equal
        // differences can miss each other in the last bits.
        var rounded = pairs.Select(p => Math.Round(p.Difference, 12)).ToList();

        // t = d̄ / (s_d / √n) on n − 1 degrees of freedom. Identical differences have no spread to test against
        // (s_d = 0, or a few ulps of rounding), so they get no t and no p: ±∞ and p = 0 would declare a winner from
        // two seeds that agree, where the sign and signed-rank tests below still say how much the seeds show.
        T = rounded.Distinct().Count() > 1 ? Difference.Mean / Difference.StandardError : double.NaN;
        // Both p-values as lower tails, P(T ≤ x), never as 1 − P(T ≤ x), which loses a small p's digits to cancellation.
        OneSidedP = StudentT.Cdf(lowerIsBetter ? T : -T, DegreesOfFreedom);
        TwoSidedP = Math.Min(1, 2 * StudentT.Cdf(-Math.Abs(T), DegreesOfFreedom));

        ABetter = rounded.Count(IsABetter);
        BBetter = rounded.Count(d => d != 0 && !IsABetter(d));
        Ties = pairs.Count - ABetter - BBetter;

        // Sign test: under "no difference" each untied seed is a fair coin; p = P(A wins at least ABetter of them).
        var untied = rounded.Where(d => d != 0).ToList();
        SignTestP = RandomSubsetSum.UpperTail([.. untied.Select(_ => 1)], ABetter);

        // Wilcoxon signed-rank: rank the untied |d_k| (ties share their mean rank, so ranks are doubled to stay
        // integers); under "no difference" each rank's sign is a fair coin; p = P(A's rank sum at least as large).
        var doubledRanks = DoubledRanks([.. untied.Select(Math.Abs)]);
        var observed = untied.Select((d, i) => IsABetter(d) ? doubledRanks[i] : 0).Sum();
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

    /// <summary>The paired t statistic, mean(A − B) / its standard error; NaN when every difference is the same (no spread to test against).</summary>
    public double T { get; }

    /// <summary>n − 1.</summary>
    public int DegreesOfFreedom => Pairs.Count - 1;

    /// <summary>The paired t-test's one-sided p-value for "A is better than B" (swap A and B to test the other way); NaN where <see cref="T"/> is.</summary>
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
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Seed {bad.Seed} has a score that is not a finite number (A {bad.A}, B {bad.B})."), nameof(pairs));
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
