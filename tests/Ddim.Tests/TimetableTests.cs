using System.Globalization;
using System.Text.Json;
using Ddim.Schedules;

namespace Ddim.Tests;

public class TimetableTests
{
    public static TheoryData<int> Cases => Golden.Indices("timetables");

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_reference_timetable_When_built_by_its_rule_Then_every_timestep_matches(int index)
    {
        // Given
        var reference = Golden.Item("timetables", index);
        var spacing = Enum.Parse<Spacing>(reference.GetProperty("spacing").GetString()!, ignoreCase: true);

        // When
        var table = Timetable.Create(spacing, reference.GetProperty("T").GetInt32(), reference.GetProperty("S").GetInt32());

        // Then
        Assert.Equal(reference.GetProperty("timesteps").Ints(), table.Steps.ToArray());
    }

    [Fact]
    public void Given_a_timetable_When_paired_Then_each_t_meets_the_real_next_entry_and_the_last_goes_to_x0()
    {
        // Given: trailing T=1000 S=30 has uneven gaps (999, 966, 932, …), where t − T/S would be wrong.
        var table = Timetable.Create(Spacing.Trailing, 1000, 30);

        // When
        var pairs = table.Pairs().ToList();

        // Then
        Assert.Equal(30, pairs.Count);
        Assert.Equal(new TimetableStep(0, 999, 966), pairs[0]);
        Assert.Equal(new TimetableStep(1, 966, 932), pairs[1]);
        Assert.Equal(-1, pairs[^1].TNext);
        for (var i = 0; i + 1 < pairs.Count; i++)
        {
            Assert.Equal(pairs[i + 1].T, pairs[i].TNext);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1001)]
    public void Given_S_out_of_range_When_building_Then_a_clear_error(int s)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Timetable.Create(Spacing.Seed, 1000, s));
        Assert.Contains("between 1 and T = 1000", error.Message);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(100)]
    [InlineData(37)]
    public void Given_every_S_from_1_to_T_When_building_every_rule_Then_each_timestep_exists_and_the_rule_gives_S_of_them(int t)
    {
        // Given: every rule at every S (at T = 1000, numpy's arange gives trailing an extra −1 at S = 61, 103, 121, …)
        foreach (var spacing in Enum.GetValues<Spacing>())
        {
            for (var s = 1; s <= t; s++)
            {
                // When
                var steps = Timetable.Create(spacing, t, s).Steps;

                // Then: no timestep outside 0 … T − 1; S of them, descending, except where a rule says otherwise
                Assert.True(steps.All(x => x >= 0 && x < t), $"{spacing} S = {s}: [{string.Join(", ", steps)}]");
                if (spacing is not (Spacing.Uniform or Spacing.Quad))
                {
                    Assert.True(steps.Length == s, $"{spacing} S = {s}: {steps.Length} steps");
                    Assert.True(steps.Zip(steps.Skip(1)).All(p => p.First > p.Second), $"{spacing} S = {s}: not strictly descending");
                }
            }
        }

        Assert.Equal([999, 983, 966], Timetable.Create(Spacing.Trailing, 1000, 61).Steps.Take(3));
        Assert.Equal(15, Timetable.Create(Spacing.Trailing, 1000, 61).Steps[^1]);
    }

    [Fact]
    public void Given_every_S_at_T_1000_300_and_100_When_building_trailing_Then_it_is_numpys_arange_to_the_last_timestep()
    {
        // Given: numpy's own trailing timetables (diffusers' rule), one checksum Σ (i + 1)·t_i per S, made by numpy 1.24
        using var fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "trailing_numpy.json")));
        foreach (var t in new[] { 1000, 300, 100 })
        {
            var sums = fixture.RootElement.GetProperty(t.ToString(CultureInfo.InvariantCulture)).EnumerateArray().Select(e => e.GetInt64()).ToArray();
            for (var s = 1; s <= t; s++)
            {
                // When
                var steps = Timetable.Create(Spacing.Trailing, t, s).Steps;

                // Then: the same timesteps, including where numpy's rounded step moves a value off a .5 (S = 48, 96, …)
                Assert.True(steps.Select((x, i) => (long)(i + 1) * x).Sum() == sums[s - 1], $"T = {t}, S = {s}: [{string.Join(", ", steps)}]");
            }
        }

        // And: at T = 1000, S = 48, numpy's fourth value is 937.4999999999999, so 936 where T − 3·T/S = 937.5 would give 937
        Assert.Equal([999, 978, 957, 936, 916], Timetable.Create(Spacing.Trailing, 1000, 48).Steps.Take(5));
    }

    [Fact]
    public void Given_S_equal_T_When_building_every_rule_Then_it_works()
    {
        foreach (var spacing in Enum.GetValues<Spacing>())
        {
            var table = Timetable.Create(spacing, 300, 300);
            Assert.Equal(spacing == Spacing.Quad ? 240 : 299, table.Steps.Max()); // quad tops out at 0.8·T by design
            Assert.True(table.Steps.Min() >= 0);
        }
    }

    [Fact]
    public void Given_a_custom_list_When_valid_Then_kept_as_is()
    {
        var table = Timetable.Custom([999, 500, 10, 0], 1000);

        Assert.Equal([999, 500, 10, 0], table.Steps.ToArray());
    }

    [Fact]
    public void Given_a_custom_list_with_a_duplicate_When_building_Then_a_clear_error()
    {
        var error = Assert.Throws<ArgumentException>(() => Timetable.Custom([900, 500, 500, 0], 1000));
        Assert.Contains("appears twice", error.Message);
    }

    [Fact]
    public void Given_an_unsorted_custom_list_When_building_Then_a_clear_error()
    {
        var error = Assert.Throws<ArgumentException>(() => Timetable.Custom([100, 500, 0], 1000));
        Assert.Contains("descending", error.Message);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(-1)]
    public void Given_a_custom_timestep_out_of_range_When_building_Then_a_clear_error(int bad)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Timetable.Custom([bad], 1000));
        Assert.Contains("outside 0 … 999", error.Message);
    }

    [Fact]
    public void Given_an_empty_custom_list_When_building_Then_a_clear_error()
    {
        Assert.Throws<ArgumentException>(() => Timetable.Custom([], 1000));
    }
}
