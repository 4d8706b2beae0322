namespace Ddim.Evaluation;

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

        // x and 1 − x are both formed from t: near t = 0, 1 − x taken as 1 minus a rounded x keeps only the digits
        // that t² left in it (at t = 10⁻⁶ the CDF was 10⁻¹¹ off).
        double nu = degreesOfFreedom;
        var tail = 0.5 * SpecialFunctions.RegularizedIncompleteBeta(nu / 2, 0.5, nu / (nu + (t * t)), t * t / (nu + (t * t)));
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
    public static double RegularizedIncompleteBeta(double a, double b, double x) => RegularizedIncompleteBeta(a, b, x, 1 - x);

    /// <summary>
    /// I_x(a, b) as <see cref="RegularizedIncompleteBeta(double, double, double)"/>, with 1 − x given by a caller that
    /// knows it to more digits than 1 minus a rounded x carries (x near 1).
    /// </summary>
    internal static double RegularizedIncompleteBeta(double a, double b, double x, double oneMinusX)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(a);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(b);
        if (x is < 0 or > 1 || double.IsNaN(x))
        {
            throw new ArgumentOutOfRangeException(nameof(x), x, "x must lie in [0, 1].");
        }

        if (x == 0 || oneMinusX == 0)
        {
            // (x can round to 1 while the given 1 − x is still a number: then the series below has work to do)
            return x == 0 ? 0 : 1;
        }

        // x^a (1 − x)^b / B(a, b), the factor in front of the continued fraction.
        var front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + (a * Math.Log(x)) + (b * Math.Log(oneMinusX)));
        return x < (a + 1) / (a + b + 2)
            ? front * ContinuedFraction(a, b, x) / a
            : 1 - (front * ContinuedFraction(b, a, oneMinusX) / b);
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
