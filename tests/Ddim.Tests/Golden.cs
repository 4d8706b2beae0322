using System.Text.Json;

namespace Ddim.Tests;

/// <summary>The independent float64 reference values (a copy of shared/reference/ddim_golden.json).</summary>
public static class Golden
{
    private static readonly Lazy<JsonElement> Root = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "ddim_golden.json"))).RootElement);

    public static IEnumerable<JsonElement> Items(string section) => Root.Value.GetProperty(section).EnumerateArray();

    public static TheoryData<int> Indices(string section)
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Root.Value.GetProperty(section).GetArrayLength(); i++)
        {
            data.Add(i);
        }

        return data;
    }

    public static JsonElement Item(string section, int index) => Root.Value.GetProperty(section)[index];

    public static double[] Doubles(this JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    public static int[] Ints(this JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static double[][] Rows(this JsonElement e) => e.EnumerateArray().Select(Doubles).ToArray();
}
