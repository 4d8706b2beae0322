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

    /// <summary>
    /// As <see cref="Parse"/>, for a list of things to measure once each (<c>--timesteps</c>, <c>--steps-list</c>):
    /// an empty list, or a number given twice, is refused. <paramref name="what"/> names one item ("a timestep").
    /// </summary>
    public static T[] ParseDistinct<T>(string text, string option, string example, string what)
        where T : IParsable<T>
    {
        var items = Parse<T>(text, option, example);
        if (items.Length == 0)
        {
            throw new ArgumentException($"{option} is empty: give a comma-separated list, e.g. {option} {example}.");
        }

        if (items.Distinct().Count() != items.Length)
        {
            throw new ArgumentException($"{option} names {what} twice ({text}); give each once.");
        }

        return items;
    }
}
