using Ddim.Cli;

namespace Ddim.Tests;

public class NumberListTests
{
    [Fact]
    public void Given_a_list_with_blanks_When_parsed_Then_the_numbers_come_back_in_order()
    {
        // Given / When
        var steps = NumberList.Parse<int>(" 10, 20,,50 ", "--steps-list", "10,20");
        var etas = NumberList.Parse<double>("0,0.2,1", "--sweep-etas", "0,1");

        // Then
        Assert.Equal([10, 20, 50], steps);
        Assert.Equal([0.0, 0.2, 1.0], etas);
    }

    [Fact]
    public void Given_a_culture_whose_decimal_mark_is_a_comma_When_a_list_is_parsed_Then_the_point_is_still_the_decimal_mark()
    {
        // Given: de-DE reads "0.2" as 2 (the point groups thousands) and writes 0,2
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.GetCultureInfo("de-DE");

            // When
            var etas = NumberList.Parse<double>("0,0.2,1", "--sweep-etas", "0,1");

            // Then
            Assert.Equal([0.0, 0.2, 1.0], etas);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }

    [Theory]
    [InlineData("10,x", "--steps-list: 'x' is not an integer. Give a comma-separated list, e.g. --steps-list 10,20.")]
    [InlineData("1.5", "--steps-list: '1.5' is not an integer.")]
    public void Given_a_bad_item_When_parsed_Then_the_error_names_the_option_and_an_example(string text, string expected)
    {
        // Given / When
        var error = Assert.Throws<ArgumentException>(() => NumberList.Parse<int>(text, "--steps-list", "10,20"));

        // Then
        Assert.StartsWith(expected, error.Message);
    }
}
