using System.Globalization;

namespace Ddim.Cli;

/// <summary>Parses comma-separated number options such as <c>--steps-list 10,20,50</c> or <c>--seeds 1,2</c>.</summary>
internal static class NumberList
{
    /// <summary>
    /// The numbers in <paramref name="text"/> (culture-invariant; blanks and empty items ignored). A bad item gets an
    /// error naming <paramref name="option"/> with <paramref name="example"/> as a correct value.
    /// </summary>
    public static T[] Parse<T>(string text, string option, string example)
        where T : IParsable<T>
    {
        var kind = typeof(T) == typeof(double) || typeof(T) == typeof(float) ? "a number" : "an integer";
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(item => T.TryParse(item, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new ArgumentException($"{option}: '{item}' is not {kind}. Give a comma-separated list, e.g. {option} {example}."))
            .ToArray();
    }
}
