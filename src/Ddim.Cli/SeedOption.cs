namespace Ddim.Cli;

/// <summary>One rule for every --seed and --seeds of the tool: seeds of 0 or more (as <c>ddim eval --seeds</c> has them).</summary>
internal static class SeedOption
{
    /// <summary>Refuses a negative seed, naming <paramref name="option"/>.</summary>
    public static void Require(long seed, string option = "--seed")
    {
        if (seed < 0)
        {
            throw new ArgumentException($"{option} takes 0 or more; got {seed}.");
        }
    }

    /// <summary>Refuses negative or repeated seeds in a list (the same seed gives the same noise).</summary>
    public static void RequireDistinct(IReadOnlyList<long> seeds, string option)
    {
        foreach (var seed in seeds)
        {
            Require(seed, option);
        }

        if (seeds.Distinct().Count() != seeds.Count)
        {
            throw new ArgumentException($"{option} must not repeat a seed (the same seed gives the same x_T); got {string.Join(",", seeds)}.");
        }
    }
}
