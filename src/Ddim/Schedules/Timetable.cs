using System.Collections.Immutable;

namespace Ddim.Schedules;

/// <summary>How a sampler picks its S timesteps out of the T training steps.</summary>
public enum Spacing
{
    /// <summary>
    /// The reference tutorial: <c>linspace(−1, T−1, S+1)</c> truncated to int, reversed, −1 dropped. Each point is
    /// numpy's float64 linspace rounded to float32, then truncated; torch's float32 linspace, which builds its points in
    /// float32 (differently on its scalar and vector paths), can give a timestep one lower at some S: an emulation of
    /// its scalar kernel differs at 84 values of S for T = 1000, the first S = 26, but not at S = 10, 30 or 50, which
    /// the golden reference pins.
    /// </summary>
    Seed,

    /// <summary>diffusers "leading": <c>arange(0, S)·(T // S)</c>, reversed.</summary>
    Leading,

    /// <summary>diffusers "trailing": <c>round(arange(T, 0, −T/S)) − 1</c>, its first S values (arange's rounding can add a spurious −1).</summary>
    Trailing,

    /// <summary>diffusers "linspace": <c>round(linspace(0, T−1, S))</c>, reversed.</summary>
    Linspace,

    /// <summary>
    /// DDIM paper code, skip_type "uniform": <c>range(0, T, T // S)</c>, reversed. It gives more than S steps unless the
    /// stride lands just so (334 at S = 300, T = 1000); <see cref="Sampling.SampleSettings.Validate"/> refuses such S.
    /// </summary>
    Uniform,

    /// <summary>DDIM paper code, skip_type "quad": <c>int(linspace(0, √(0.8·T), S)²)</c>, reversed (may repeat small t).</summary>
    Quad,
}

/// <summary>One DDIM update: from timestep <see cref="T"/> to <see cref="TNext"/> (−1 means "to x̂0", ᾱ = 1).</summary>
/// <param name="Index">0-based position in the timetable.</param>
/// <param name="T">τ_i, the current timestep.</param>
/// <param name="TNext">τ_{i−1} in the paper's notation: the real next entry of the timetable, or −1 after the last.</param>
public readonly record struct TimetableStep(int Index, int T, int TNext);

/// <summary>
/// A DDIM timetable: a descending list of timesteps τ_S &gt; … &gt; τ_1 (the paper's sub-sequence τ, §4.2); only
/// <see cref="Spacing.Quad"/> can repeat its smallest timesteps, as the paper's code does.
/// Each step pairs an entry with the real next entry, never with t − T/S, and the last entry goes to x̂0.
/// </summary>
public sealed class Timetable
{
    private Timetable(ImmutableArray<int> steps, int trainingSteps)
    {
        Steps = steps;
        TrainingSteps = trainingSteps;
    }

    /// <summary>The timesteps, in the order the sampler visits them (descending).</summary>
    public ImmutableArray<int> Steps { get; }

    /// <summary>T of the schedule this timetable indexes into.</summary>
    public int TrainingSteps { get; }

    /// <summary>The number of network calls, which can differ from the requested S for <see cref="Spacing.Uniform"/>.</summary>
    public int Count => Steps.Length;

    /// <summary>The (t, t_next) pairs in visiting order; the last has t_next = −1.</summary>
    public IEnumerable<TimetableStep> Pairs()
    {
        for (var i = 0; i < Steps.Length; i++)
        {
            yield return new TimetableStep(i, Steps[i], i + 1 < Steps.Length ? Steps[i + 1] : -1);
        }
    }

    /// <summary>All T steps, T−1 … 0: the DDPM timetable.</summary>
    public static Timetable Full(int trainingSteps) => Create(Spacing.Leading, trainingSteps, trainingSteps);

    /// <summary>
    /// Builds the timetable of a spacing rule. S is the requested number of steps, 1 ≤ S ≤ T. Every rule is reproduced
    /// as it is, even where the result is not an S-step run from t ≈ T − 1: at S = 1 leading, linspace, uniform and quad
    /// give [0] (a sampler would return nearly its input noise), and uniform can give more than S steps (334 at S = 300).
    /// <see cref="RequireExactSteps"/> refuses those S with advice; <see cref="Sampling.SampleSettings"/> calls it.
    /// </summary>
    public static Timetable Create(Spacing spacing, int trainingSteps, int steps)
    {
        if (trainingSteps < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(trainingSteps), $"T must be at least 2; got {trainingSteps}.");
        }

        if (steps < 1 || steps > trainingSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(steps), $"The number of sampling steps S must be between 1 and T = {trainingSteps}; got {steps}.");
        }

        int tt = trainingSteps, s = steps;
        IEnumerable<int> ascending = spacing switch
        {
            // linspace(−1, T−1, S+1) evaluated like numpy (float64) then cast to float32, truncated toward zero.
            Spacing.Seed => Enumerable.Range(1, s).Select(i => (int)(float)LinspacePoint(-1, tt - 1, s + 1, i)),
            Spacing.Leading => Enumerable.Range(0, s).Select(i => i * (tt / s)),
            Spacing.Trailing => TrailingAscending(tt, s),
            Spacing.Linspace => Enumerable.Range(0, s).Select(i => (int)Math.Round(LinspacePoint(0, tt - 1, s, i), MidpointRounding.ToEven)),
            Spacing.Uniform => Enumerable.Range(0, UniformCount(tt, s)).Select(i => i * (tt / s)),
            Spacing.Quad => Enumerable.Range(0, s).Select(i => (int)Math.Pow(LinspacePoint(0, Math.Sqrt(tt * 0.8), s, i), 2)),
            _ => throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "Unknown spacing rule."),
        };

        // The rules are reproduced exactly, including "quad"'s repeated small timesteps for large S; only trailing's
        // spurious extra −1 is left out (TrailingAscending).
        var list = ascending.Reverse().ToImmutableArray();
        if (list.Any(t => t < 0 || t >= tt))
        {
            throw new InvalidOperationException($"The {spacing} rule gave a timestep outside 0 … {tt - 1} for S = {s}, T = {tt} ([{string.Join(", ", list)}]); this is a bug in Ddim, please report it.");
        }

        return new Timetable(list, trainingSteps);
    }

    /// <summary>
    /// Whether <see cref="Spacing.Leading"/>'s first timestep (S − 1)·(T // S) lies more than a stride below where it lies
    /// when S divides T (T − T // S), that is T mod S above T // S, and also more than T/5 below T − 1. (S = 2 … 4 start
    /// at t = 500 … 750 by the rule's own pattern, S dividing T, and pass.)
    /// </summary>
    private static bool LeadingFallsShort(int trainingSteps, int steps) =>
        trainingSteps % steps > trainingSteps / steps && (steps - 1) * (trainingSteps / steps) < trainingSteps - 1 - (trainingSteps / 5);

    /// <summary>The S ≥ 2 nearest to <paramref name="steps"/> (searched outward, the lower first) that <paramref name="fits"/>.</summary>
    private static int NearestSteps(int trainingSteps, int steps, Func<int, bool> fits) =>
        Enumerable.Range(1, trainingSteps).SelectMany(d => new[] { steps - d, steps + d }).First(s => s >= 2 && s <= trainingSteps && fits(s));

    /// <summary>The number of timesteps of <see cref="Spacing.Uniform"/>'s <c>range(0, T, T // S)</c>.</summary>
    private static int UniformCount(int trainingSteps, int steps) => ((trainingSteps - 1) / (trainingSteps / steps)) + 1;

    /// <summary>
    /// Refuses (ArgumentOutOfRangeException, saying what to take instead) an S whose timetable would not be the S-step run
    /// that labels and tables name: one step of a rule that starts at t = 0 (leading, linspace, uniform and quad at
    /// S = 1, which would take pure noise for nearly clean data), <see cref="Spacing.Uniform"/> at an S its stride
    /// overruns (334 steps at S = 300, T = 1000), and <see cref="Spacing.Leading"/> at an S that does not divide T and
    /// whose first timestep falls more than T/5 below T − 1 (at T = 1000: S = 251–267, 334–400 and 501–799; S = 400
    /// starts at t = 798, so pure noise would stand for an x_t whose image part is six times that of x_999).
    /// <see cref="Create"/> itself reproduces every rule as it is.
    /// </summary>
    /// <param name="spacing">The rule.</param>
    /// <param name="trainingSteps">T.</param>
    /// <param name="steps">S.</param>
    /// <param name="stepsOption">The option the S came from, named in the advice: --steps, --steps-list or --sweep-steps.</param>
    public static void RequireExactSteps(Spacing spacing, int trainingSteps, int steps, string stepsOption = "--steps")
    {
        var table = Create(spacing, trainingSteps, steps);
        var rule = spacing.ToString().ToLowerInvariant();
        if (table.Steps[0] == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(steps), steps,
                $"At S = {steps} the {rule} rule's only timestep is t = 0, so the run would take the pure noise x_T for nearly clean data. Take S = 2 or more ({stepsOption}), or the seed or trailing rule (--spacing): their one step starts at t = T − 1.");
        }

        if (spacing == Spacing.Leading && LeadingFallsShort(trainingSteps, steps))
        {
            var nearest = NearestSteps(trainingSteps, steps, s => !LeadingFallsShort(trainingSteps, s));
            throw new ArgumentOutOfRangeException(nameof(steps), steps,
                $"The leading rule takes t = i·(T // S), which at S = {steps} and T = {trainingSteps} starts at t = {table.Steps[0]}, far below T − 1 = {trainingSteps - 1}: " +
                $"the pure noise x_T would stand for an x_t that still holds part of the image. Take S = {nearest} ({stepsOption}), the nearest S that starts within T/5 of the top, or the trailing rule (--spacing).");
        }

        if (spacing == Spacing.Uniform && table.Count != steps)
        {
            var nearest = NearestSteps(trainingSteps, steps, s => UniformCount(trainingSteps, s) == s); // its stride lands just so
            throw new ArgumentOutOfRangeException(nameof(steps), steps,
                $"The uniform rule takes every (T // S)-th timestep, which at S = {steps} and T = {trainingSteps} is {table.Count} steps, not {steps}. Take S = {nearest} ({stepsOption}), the nearest S it runs exactly, or another rule (--spacing).");
        }
    }

    /// <summary>
    /// An explicit timetable. The list must be strictly descending, without duplicates, within 0 … T−1.
    /// </summary>
    public static Timetable Custom(IEnumerable<int> steps, int trainingSteps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var list = steps.ToImmutableArray();
        if (list.Length == 0)
        {
            throw new ArgumentException("A custom timetable needs at least one timestep.", nameof(steps));
        }

        foreach (var t in list)
        {
            if (t < 0 || t >= trainingSteps)
            {
                throw new ArgumentOutOfRangeException(nameof(steps), $"Timestep {t} is outside 0 … {trainingSteps - 1} (T = {trainingSteps}).");
            }
        }

        for (var i = 1; i < list.Length; i++)
        {
            if (list[i] == list[i - 1])
            {
                throw new ArgumentException($"Timestep {list[i]} appears twice; each timestep may be used once.", nameof(steps));
            }

            if (list[i] > list[i - 1])
            {
                throw new ArgumentException($"Timesteps must be in descending order (the order the sampler visits them); {list[i - 1]} is followed by {list[i]}.", nameof(steps));
            }
        }

        return new Timetable(list, trainingSteps);
    }

    /// <inheritdoc />
    public override string ToString() => $"[{string.Join(", ", Steps)}] of T = {TrainingSteps}";

    // numpy.linspace(start, stop, num)[i]: start + i·((stop − start)/(num − 1)), the last point exactly stop.
    private static double LinspacePoint(double start, double stop, int num, int i) =>
        num == 1 ? start : i == num - 1 ? stop : start + (i * ((stop - start) / (num - 1)));

    private static IEnumerable<int> TrailingAscending(int tt, int s)
    {
        // round(numpy.arange(T, 0, −T/S)) − 1, as diffusers' "trailing". numpy fills element i ≥ 2 as T + i·Δ with
        // Δ = (T − T/S) − T, its second element minus its first: a rounded step, so a value that T − i·(T/S) would put
        // on a .5 lands just beside it (937.4999999999999 at T = 1000, S = 48, i = 3: 936, not 937; 50 values of S at
        // T = 1000 differ so). The length is ceil(T / (T/S)), which rounding makes S + 1 for some S (61, 103, 121, …
        // at T = 1000): the extra value is about 1e-13, rounded to 0, minus 1 = −1, a timestep that does not exist (ᾱ = 1
        // on both sides of a step from it: 0/0 in the sampler). The rule means S steps, so exactly S values are taken.
        var second = tt - ((double)tt / s);
        var delta = second - tt;
        double Value(int i) => i switch { 0 => tt, 1 => second, _ => tt + (i * delta) };
        return Enumerable.Range(0, s).Select(i => (int)Math.Round(Value(i), MidpointRounding.ToEven) - 1).Reverse();
    }
}
