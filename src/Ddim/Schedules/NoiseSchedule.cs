using System.Collections.Immutable;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Schedules;

/// <summary>The family of a β schedule.</summary>
public enum ScheduleKind
{
    /// <summary>Ho et al. 2020: β linear in t.</summary>
    Linear,

    /// <summary>Nichol &amp; Dhariwal 2021: ᾱ follows a squared cosine.</summary>
    Cosine,
}

/// <summary>
/// An immutable DDPM noise schedule: β_t and ᾱ_t = ∏_{i≤t}(1 − β_i) for t = 0 … T−1, held in float64.
/// </summary>
/// <remarks>
/// Paper symbols: DDPM's β_t and ᾱ_t are the DDIM paper's (1 − α_t/α_{t−1}) and α_t. Timesteps are 0-based, and
/// t = −1 stands for "clean data" with ᾱ_{−1} = 1.
/// </remarks>
public sealed class NoiseSchedule
{
    private NoiseSchedule(ScheduleKind kind, ImmutableArray<double> betas, ImmutableSortedDictionary<string, double> parameters)
    {
        Kind = kind;
        Betas = betas;
        Parameters = parameters;
        var alphaBars = ImmutableArray.CreateBuilder<double>(betas.Length);
        var product = 1.0;
        foreach (var beta in betas)
        {
            product *= 1.0 - beta;
            alphaBars.Add(product);
        }

        AlphaBars = alphaBars.MoveToImmutable();
        if (!(1 - AlphaBars[0] >= MinFirstNoise))
        {
            // Clipped DDIM re-derives ε̂ = (x_t − √ᾱ_t·x̂0)/√(1 − ᾱ_t), and clipped DDPM divides by 1 − ᾱ_t: at t = 0 both
            // would divide by (nearly) 0 and turn the last step's images into NaN.
            throw new ArgumentOutOfRangeException(nameof(betas), FormattableString.Invariant(
                $"This {kind} schedule's first step adds no noise (1 − ᾱ_0 = {1 - AlphaBars[0]:G3}, below {MinFirstNoise}; {string.Join(", ", parameters.Select(p => $"{p.Key} {p.Value}"))}): ") +
                "sampling divides by it at t = 0. Raise the smallest β.");
        }

        if (!(AlphaBars[^1] >= MinAlphaBar))
        {
            // x̂0 divides by √ᾱ_t: a schedule whose noisiest steps have ᾱ at or near 0 gives NaN or ∞ images, not an error.
            var first = AlphaBars.IndexOf(AlphaBars.First(a => !(a >= MinAlphaBar)));
            throw new ArgumentOutOfRangeException(nameof(betas), FormattableString.Invariant(
                $"This {kind} schedule's ᾱ falls below {MinAlphaBar} at t = {first} of T = {betas.Length} ({string.Join(", ", parameters.Select(p => $"{p.Key} {p.Value}"))}): ") +
                "the noisiest steps would keep no trace of the image, and sampling would divide by √ᾱ ≈ 0. Lower T or the largest β.");
        }
    }

    /// <summary>
    /// The smallest ᾱ a schedule may reach (at t = T − 1): x̂0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t divides a float32 tensor by
    /// √ᾱ_t, which float32 holds (as a normal number, 1.2e-38 and up) down to ᾱ ≈ 1e-76; 1e-70 keeps a margin. The
    /// default linear schedule reaches it only at T ≈ 16,000, the default cosine schedule never.
    /// </summary>
    public const double MinAlphaBar = 1e-70;

    /// <summary>
    /// The least noise the first step may add, 1 − ᾱ_0: clipped sampling divides by it at t = 0 (float32 resolves 1 − ᾱ
    /// down to about 6e-8; 1e-12 only keeps the division finite). The default schedules' first step adds 1e-4 or more.
    /// </summary>
    public const double MinFirstNoise = 1e-12;

    /// <summary>Which family this schedule belongs to.</summary>
    public ScheduleKind Kind { get; }

    /// <summary>
    /// The parameters the schedule was made with, by name: <c>beta_start</c> and <c>beta_end</c> for
    /// <see cref="Linear"/>, <c>s</c> and <c>max_beta</c> for <see cref="Cosine"/>. With <see cref="Kind"/> and
    /// <see cref="T"/> they rebuild it (<see cref="Create(ScheduleKind, int, IReadOnlyDictionary{string, double})"/>).
    /// </summary>
    public ImmutableSortedDictionary<string, double> Parameters { get; }

    /// <summary>True when <see cref="Parameters"/> are the defaults of <see cref="Kind"/>.</summary>
    public bool HasDefaultParameters => Parameters.SequenceEqual(Create(Kind, T).Parameters);

    /// <summary>T, the number of training timesteps.</summary>
    public int T => Betas.Length;

    /// <summary>β_t for t = 0 … T−1 (DDPM eq. 2).</summary>
    public ImmutableArray<double> Betas { get; }

    /// <summary>ᾱ_t for t = 0 … T−1 (DDPM's ᾱ_t, the DDIM paper's α_t).</summary>
    public ImmutableArray<double> AlphaBars { get; }

    /// <summary>
    /// Linear β from <paramref name="betaStart"/> to <paramref name="betaEnd"/> over <paramref name="t"/> steps
    /// (Ho et al. 2020 use 1e-4 … 0.02, T = 1000).
    /// </summary>
    public static NoiseSchedule Linear(int t, double betaStart = 1e-4, double betaEnd = 0.02)
    {
        RequireT(t);
        if (!(betaStart > 0 && betaStart <= betaEnd && betaEnd < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(betaStart), $"Linear schedule needs 0 < betaStart ≤ betaEnd < 1; got {betaStart} and {betaEnd}.");
        }

        var betas = ImmutableArray.CreateBuilder<double>(t);
        for (var i = 0; i < t; i++)
        {
            // numpy.linspace: start + i·step, with the last point exactly betaEnd.
            betas.Add(i == t - 1 ? betaEnd : betaStart + (i * ((betaEnd - betaStart) / (t - 1))));
        }

        return new NoiseSchedule(ScheduleKind.Linear, betas.MoveToImmutable(), Named(("beta_start", betaStart), ("beta_end", betaEnd)));
    }

    /// <summary>
    /// Cosine schedule (Nichol &amp; Dhariwal 2021, eq. 17): f(t) = cos²(((t/T) + s)/(1 + s)·π/2),
    /// β_t = min(1 − f(t+1)/f(t), <paramref name="maxBeta"/>).
    /// </summary>
    public static NoiseSchedule Cosine(int t, double s = 0.008, double maxBeta = 0.999)
    {
        RequireT(t);
        if (!(s >= 0 && s <= 1) || !(maxBeta > 0 && maxBeta < 1))
        {
            // s is a small offset (0.008 in Nichol & Dhariwal); a huge one makes every β 0 and ᾱ 1, and ∞ makes them NaN.
            throw new ArgumentOutOfRangeException(nameof(s), $"Cosine schedule needs 0 ≤ s ≤ 1 and 0 < maxBeta < 1; got s = {s}, maxBeta = {maxBeta}.");
        }

        double F(int i) => Math.Pow(Math.Cos(((((double)i / t) + s) / (1 + s)) * Math.PI / 2), 2);
        var betas = ImmutableArray.CreateBuilder<double>(t);
        for (var i = 0; i < t; i++)
        {
            betas.Add(Math.Min(1 - (F(i + 1) / F(i)), maxBeta));
        }

        return new NoiseSchedule(ScheduleKind.Cosine, betas.MoveToImmutable(), Named(("s", s), ("max_beta", maxBeta)));
    }

    /// <summary>Builds a schedule by kind with its default parameters.</summary>
    public static NoiseSchedule Create(ScheduleKind kind, int t) => kind switch
    {
        ScheduleKind.Linear => Linear(t),
        ScheduleKind.Cosine => Cosine(t),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown schedule kind."),
    };

    /// <summary>
    /// Builds a schedule by kind with the named <paramref name="parameters"/> (<see cref="Parameters"/>'s names; one left
    /// out keeps its default).
    /// </summary>
    /// <exception cref="ArgumentException">A name the kind does not have.</exception>
    public static NoiseSchedule Create(ScheduleKind kind, int t, IReadOnlyDictionary<string, double> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var defaults = Create(kind, t).Parameters;
        if (parameters.Keys.FirstOrDefault(k => !defaults.ContainsKey(k)) is { } unknown)
        {
            throw new ArgumentException($"A {kind} schedule has no parameter '{unknown}'; it has {string.Join(" and ", defaults.Keys)}.", nameof(parameters));
        }

        double Get(string name) => parameters.TryGetValue(name, out var v) ? v : defaults[name];
        return kind == ScheduleKind.Linear ? Linear(t, Get("beta_start"), Get("beta_end")) : Cosine(t, Get("s"), Get("max_beta"));
    }

    private static ImmutableSortedDictionary<string, double> Named(params (string Name, double Value)[] values) =>
        values.ToImmutableSortedDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);

    /// <summary>ᾱ_t, with ᾱ_{−1} = 1 (the clean-data end of a DDIM run).</summary>
    public double AlphaBar(int t)
    {
        if (t == -1)
        {
            return 1.0;
        }

        if (t < 0 || t >= T)
        {
            throw new ArgumentOutOfRangeException(nameof(t), $"Timestep {t} is outside 0 … {T - 1} (or −1 for clean data).");
        }

        return AlphaBars[t];
    }

    /// <summary>ᾱ_t for all t as a 1-D tensor of the given dtype (computed in float64, then cast).</summary>
    public Tensor AlphaBarTensor(ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        using var f64 = torch.tensor(AlphaBars.ToArray(), dtype: ScalarType.Float64);
        return f64.to(dtype, device ?? CPU);
    }

    /// <summary>
    /// x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε: a sample of q(x_t | x_0) (DDPM eq. 4, reparameterised) for given noise ε, with
    /// ᾱ_t one per image, shaped [B, 1, …, 1], or one for all (a scalar tensor), to broadcast over <paramref name="x0"/>
    /// and <paramref name="noise"/>.
    /// </summary>
    public static Tensor Diffuse(Tensor x0, Tensor noise, Tensor alphaBar) => (alphaBar.sqrt() * x0) + ((1 - alphaBar).sqrt() * noise);

    private static void RequireT(int t)
    {
        if (t < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(t), $"A noise schedule needs T ≥ 2 timesteps; got {t}.");
        }
    }
}
