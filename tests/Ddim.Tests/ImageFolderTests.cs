using Ddim.Data;
using Ddim.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public class ImageFolderTests
{
    /// <summary>Writes bytes [C, H, W] (0..255) as a PNG through the model-space path ([−1, 1]).</summary>
    private static void WritePng(string path, byte[] chw, int c, int h, int w)
    {
        using var scope = NewDisposeScope();
        var x = (tensor(chw, [c, h, w], dtype: ScalarType.Byte).to(ScalarType.Float32) / 127.5) - 1.0;
        File.WriteAllBytes(path, ImageGrid.ToPng(x));
    }

    private static byte[] Pattern(int n, int seed) => Enumerable.Range(0, n).Select(i => (byte)((i * 53) + (seed * 17))).ToArray();

    [Fact]
    public void Given_three_grey_PNGs_When_loaded_Then_a_1_channel_dataset_in_name_order_with_exact_pixels()
    {
        // Given: names out of order on purpose; a non-PNG file is ignored.
        using var dir = new TempFolder();
        var folder = dir.Folder("digits");
        var images = Enumerable.Range(0, 3).Select(i => Pattern(6 * 5, i)).ToArray();
        WritePng(Path.Combine(folder, "b.png"), images[1], 1, 6, 5);
        WritePng(Path.Combine(folder, "a.png"), images[0], 1, 6, 5);
        WritePng(Path.Combine(folder, "c.png"), images[2], 1, 6, 5);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not an image");

        // When
        var set = ImageFolder.Load(folder);

        // Then
        Assert.Equal("digits", set.Name);
        Assert.Equal((3, 1, 6, 5), (set.Count, set.Channels, set.Height, set.Width));
        Assert.Equal(images.SelectMany(b => b).ToArray(), set.Pixels);
        Assert.Null(set.Labels);
    }

    [Fact]
    public void Given_RGB_PNGs_When_loaded_Then_a_3_channel_CHW_dataset_and_a_tensor_in_minus_1_to_1()
    {
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        var a = Pattern(3 * 4 * 4, 1);
        var b = Pattern(3 * 4 * 4, 2);
        a[0] = 0;
        a[1] = 255;
        WritePng(dir.File("0.png"), a, 3, 4, 4);
        WritePng(dir.File("1.png"), b, 3, 4, 4);

        var set = ImageFolder.Load(dir.Path + Path.DirectorySeparatorChar);

        Assert.Equal((2, 3, 4, 4), (set.Count, set.Channels, set.Height, set.Width));
        Assert.Equal(a.Concat(b).ToArray(), set.Pixels);
        Assert.Equal(Path.GetFileName(dir.Path), set.Name);
        var x = set.ToTensor();
        Assert.Equal([2L, 3, 4, 4], x.shape);
        Assert.Equal(-1f, x[0, 0, 0, 0].item<float>());
        Assert.Equal(1f, x[0, 0, 0, 1].item<float>());
    }

    [Fact]
    public void Given_grey_images_saved_as_RGB_with_equal_channels_When_loaded_for_a_grey_judge_Then_a_1_channel_dataset_else_as_stored()
    {
        // Given: grey digits as another tool may save them, RGB with R = G = B, beside a grey PNG
        using var dir = new TempFolder();
        var grey = Pattern(3 * 2, 5);
        WritePng(dir.File("a.png"), [.. grey, .. grey, .. grey], 3, 3, 2);
        WritePng(dir.File("b.png"), grey, 1, 3, 2);

        // When
        var set = ImageFolder.Load(dir.Path, greyWhenChannelsEqual: true);
        var stored = ImageFolder.Load(dir.Path);
        var forGreyModel = ImageFolder.Resolve(dir.Path, greyWhenChannelsEqual: true); // as train and loss read it for a grey model

        // Then: one channel, the same pixels; by default (a colour model's data) the channels as stored
        Assert.Equal((2, 1), (set.Count, set.Channels));
        Assert.Equal(grey.Concat(grey).ToArray(), set.Pixels);
        Assert.Equal(3, stored.Channels);
        Assert.Equal(set.Pixels, forGreyModel.Pixels);
        Assert.Equal(1, forGreyModel.Channels);
    }

    [Fact]
    public void Given_a_grey_and_an_RGB_PNG_When_loaded_Then_the_grey_one_is_repeated_over_3_channels()
    {
        using var dir = new TempFolder();
        var grey = Pattern(2 * 2, 3);
        var rgb = Pattern(3 * 2 * 2, 4);
        WritePng(dir.File("a.png"), grey, 1, 2, 2);
        WritePng(dir.File("b.png"), rgb, 3, 2, 2);

        var set = ImageFolder.Load(dir.Path);

        Assert.Equal((2, 3), (set.Count, set.Channels));
        Assert.Equal(grey.Concat(grey).Concat(grey).Concat(rgb).ToArray(), set.Pixels);
    }

    [Fact]
    public void Given_PNGs_of_different_sizes_When_loaded_Then_all_images_must_have_the_same_size()
    {
        using var dir = new TempFolder();
        WritePng(dir.File("a.png"), Pattern(4 * 4, 0), 1, 4, 4);
        WritePng(dir.File("b.png"), Pattern(4 * 5, 0), 1, 4, 5);

        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));

        Assert.Contains("b.png is 5×4 but", error.Message);
        Assert.Contains("a.png is 4×4", error.Message);
        Assert.Contains("all images must have the same size", error.Message);
    }

    [Fact]
    public void Given_an_empty_folder_When_loaded_Then_it_holds_no_png_images()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("readme.txt"), "no images here");

        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));

        Assert.Contains("holds no .png images", error.Message);
    }

    [Fact]
    public void Given_a_missing_folder_When_loaded_Then_does_not_exist()
    {
        using var dir = new TempFolder();

        var error = Assert.Throws<DirectoryNotFoundException>(() => ImageFolder.Load(dir.File("nope")));

        Assert.Contains("does not exist", error.Message);
    }

    [Fact]
    public void Given_a_png_file_that_is_not_an_image_When_loaded_Then_not_a_readable_PNG()
    {
        using var dir = new TempFolder();
        WritePng(dir.File("a.png"), Pattern(4, 0), 1, 2, 2);
        File.WriteAllBytes(dir.File("b.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);

        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));

        Assert.Contains("b.png is not a readable PNG", error.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Given_a_PNG_cut_short_in_its_pixel_data_When_loaded_Then_truncated_instead_of_black_rows(int channels)
    {
        // Given: a 32×32 image of varied pixels, cut to 60% of its bytes (inside its pixel data)
        using var dir = new TempFolder();
        var bytes = Enumerable.Range(0, channels * 32 * 32).Select(i => (byte)((i * 7919) % 251)).ToArray();
        WritePng(dir.File("b.png"), bytes, channels, 32, 32);
        var whole = File.ReadAllBytes(dir.File("b.png"));
        File.WriteAllBytes(dir.File("a.png"), whole[..(whole.Length * 6 / 10)]); // a.png, cut; b.png, whole

        // When
        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));

        // Then
        Assert.Contains("a.png is not a readable PNG: it is truncated (its pixel data stop early)", error.Message);
    }

    [Theory]
    [InlineData(0)] // grey
    [InlineData(2)] // RGB
    public void Given_a_16_bit_PNG_When_decoded_Then_it_is_read_at_8_bits_by_its_high_bytes(byte colourType)
    {
        // Given: a 1×6 16-bit PNG, made by hand (Skia writes no 16-bit PNGs); 0x10A0 and 0x00FF would round up, not down
        ushort[] values = [0x0000, 0x10A0, 0x8080, 0xFFFF, 0x00FF, 0x7FFF];
        var samples = colourType == 0 ? values : values.SelectMany(v => new[] { v, v, v }).ToArray();
        var png = Png16(width: values.Length, colourType, samples);

        // When
        var (pixels, height, width, channels) = ImageGrid.DecodePng(png);

        // Then: as the summary says, each value keeps its high byte
        Assert.Equal((1, 6, colourType == 0 ? 1 : 3), (height, width, channels));
        byte[] high = [0, 16, 128, 255, 0, 127];
        Assert.Equal(colourType == 0 ? high : high.SelectMany(b => new[] { b, b, b }).ToArray(), pixels);
    }

    [Fact]
    public void Given_a_PNG_header_claiming_more_than_MaxSide_pixels_When_decoded_Then_refused_before_any_pixels_are_allocated()
    {
        // Given: a few bytes whose header claims a row 20,000 pixels wide (a small file can claim gigabytes)
        var png = Png16(width: 20_000, colourType: 0, samples: [0]);

        // When
        var error = Assert.Throws<InvalidDataException>(() => ImageGrid.DecodePng(png));

        // Then
        Assert.Contains("it claims 20000×1 pixels, more than the 16,384 a side", error.Message);
    }

    [Fact]
    public void Given_images_of_which_one_holds_NaN_When_turned_into_pixels_Then_refused_instead_of_written_black()
    {
        // Given: two 1×2×2 images, the second with one NaN (a diverged sampler)
        using var images = torch.zeros(2, 1, 2, 2);
        images[1, 0, 1, 0] = torch.tensor(float.NaN);

        // When
        var error = Assert.Throws<ArgumentException>(() => ImageGrid.ToBytes(images));

        // Then: the images without NaN still convert
        Assert.Contains("1 of these 2 images holds NaN values", error.Message);
        Assert.Equal(Enumerable.Repeat((byte)128, 4), ImageGrid.ToBytes(images[..1]));
    }

    /// <summary>A one-row PNG of 16-bit samples (colour type 0 grey or 2 RGB), written chunk by chunk.</summary>
    private static byte[] Png16(int width, byte colourType, ushort[] samples)
    {
        var row = new byte[1 + (samples.Length * 2)]; // filter type 0, then big-endian samples
        for (var i = 0; i < samples.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(row.AsSpan(1 + (2 * i)), samples[i]);
        }

        using var deflated = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(deflated, System.IO.Compression.CompressionLevel.Optimal))
        {
            z.Write(row);
        }

        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 1);
        header[8] = 16;
        header[9] = colourType;
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        foreach (var (type, data) in new[] { ("IHDR", header), ("IDAT", deflated.ToArray()), ("IEND", Array.Empty<byte>()) })
        {
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            var field = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(field, data.Length);
            png.Write(field);
            png.Write(typed);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(field, Crc32(typed));
            png.Write(field);
        }

        return png.ToArray();
    }

    /// <summary>The CRC-32 (polynomial 0xEDB88320) a PNG chunk ends with.</summary>
    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return ~crc;
    }

    [Fact]
    public void Given_a_PNG_with_transparent_pixels_When_loaded_Then_a_clear_error_instead_of_guessed_colours()
    {
        // Given: a 2×2 RGBA image, one pixel half transparent
        using var dir = new TempFolder();
        using (var bitmap = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(2, 2, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Unpremul)))
        {
            bitmap.Erase(new SkiaSharp.SKColor(200, 100, 50, 255));
            bitmap.SetPixel(1, 1, new SkiaSharp.SKColor(200, 100, 50, 128));
            using var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(dir.File("a.png"), data.ToArray());
        }

        // When
        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));

        // Then
        Assert.Contains("a.png is not a readable PNG: it has transparent pixels", error.Message);
    }

    [Fact]
    public void Given_PNGs_named_in_capitals_When_loaded_Then_they_count_as_PNGs()
    {
        using var dir = new TempFolder();
        WritePng(dir.File("a.PNG"), Pattern(4, 0), 1, 2, 2);
        WritePng(dir.File("b.png"), Pattern(4, 1), 1, 2, 2);

        var set = ImageFolder.Load(dir.Path);

        Assert.Equal(2, set.Count);
    }

    [Fact]
    public void Given_a_folder_of_images_and_a_data_root_When_resolved_Then_the_data_root_is_refused_as_not_applying()
    {
        using var dir = new TempFolder();
        WritePng(dir.File("a.png"), Pattern(4, 0), 1, 2, 2);

        var error = Assert.Throws<ArgumentException>(() => ImageFolder.Resolve(dir.Path, dataRoot: dir.File("datasets")));

        Assert.Contains("is a folder of images, and a data root (--data-dir) says where the named data sets", error.Message);
    }
}
