using Ddim.Data;

namespace Ddim.Tests;

public sealed class DatasetFetcherTests
{
    [Fact]
    public void Given_a_data_root_that_cannot_hold_the_data_When_fetching_Then_it_says_where_to_point_instead_of_blaming_the_sources()
    {
        // Given: a file where the data root should be (no source is tried, so no network is needed)
        using var folder = new TempFolder();
        var root = folder.File("not-a-folder");
        File.WriteAllText(root, "a file");

        // When
        var error = Assert.Throws<IOException>(() => DatasetFetcher.Ensure(DatasetFetcher.Mnist, root, tryMirrors: false));

        // Then
        Assert.Contains($"Cannot write the data to {Path.Combine(root, "mnist")}", error.Message);
        Assert.Contains("Set --data-dir or $DDIM_DATA to a folder this process can write to.", error.Message);
    }
}
