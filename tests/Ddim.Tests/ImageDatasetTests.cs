using Ddim.Data;

namespace Ddim.Tests;

public class ImageDatasetTests
{
    [Theory]
    [InlineData(1, 0, 8, 8, 0)]
    [InlineData(1, 1, 0, 8, 0)]
    [InlineData(1, -1, -8, 8, 64)]
    [InlineData(0, 1, 8, 8, 0)]
    [InlineData(2, 1, 8, 8, 64)]
    public void Given_a_shape_that_does_not_describe_the_bytes_When_constructing_Then_ArgumentException(int count, int channels, int height, int width, int bytes)
    {
        var error = Assert.Throws<ArgumentException>(() => new ImageDataset("x", new byte[bytes], count, channels, height, width));

        Assert.Contains($"{bytes} bytes do not make {count} images of {channels}×{height}×{width}", error.Message);
    }

    [Fact]
    public void Given_labels_of_another_count_When_constructing_Then_ArgumentException()
    {
        var error = Assert.Throws<ArgumentException>(() => new ImageDataset("x", new byte[8], 2, 1, 2, 2, [1]));

        Assert.Contains("1 labels for 2 images", error.Message);
    }

    [Fact]
    public void Given_two_datasets_When_hashed_Then_the_hash_follows_pixels_and_shape_and_take_keeps_the_first_images()
    {
        var pixels = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        var a = new ImageDataset("a", pixels, 4, 1, 2, 2, [0, 1, 2, 3]);
        var sameBytesOtherShape = new ImageDataset("b", pixels, 4, 1, 1, 4);
        var otherPixel = new ImageDataset("c", pixels.Select((p, i) => i == 15 ? (byte)99 : p).ToArray(), 4, 1, 2, 2);

        var first = a.Take(2);

        Assert.Equal(64, a.Hash.Length);
        Assert.Equal(a.Hash, new ImageDataset("renamed", pixels.ToArray(), 4, 1, 2, 2).Hash);
        Assert.NotEqual(a.Hash, sameBytesOtherShape.Hash);
        Assert.NotEqual(a.Hash, otherPixel.Hash);
        Assert.Equal((2, 1, 2, 2), (first.Count, first.Channels, first.Height, first.Width));
        Assert.Equal(pixels[..8], first.Pixels);
        Assert.Equal([0, 1], first.Labels);
        Assert.Equal(4, a.Take(10).Count);
    }
}
