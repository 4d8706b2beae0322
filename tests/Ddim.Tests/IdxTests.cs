using System.Buffers.Binary;
using System.IO.Compression;
using Ddim.Data;

namespace Ddim.Tests;

public class IdxTests
{
    private static byte[] Pattern(int n) => Enumerable.Range(0, n).Select(i => (byte)((i * 37) + 11)).ToArray();

    /// <summary><paramref name="raw"/> gzipped, as the MNIST mirrors serve their files.</summary>
    internal static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true))
        {
            gz.Write(raw);
        }

        return ms.ToArray();
    }

    private static InvalidDataException ReadFails(TempFolder dir, byte[] bytes, string name = "bad.idx")
    {
        var path = dir.File(name);
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.StartsWith(path, error.Message);
        return error;
    }

    [Fact]
    public void Given_a_raw_IDX_file_When_read_Then_dimensions_and_bytes_round_trip()
    {
        // Given
        using var dir = new TempFolder();
        var data = Pattern(5 * 3 * 4);
        var path = dir.File("images.idx");
        File.WriteAllBytes(path, Idx.Encode([5, 3, 4], data));

        // When
        var idx = Idx.Read(path);

        // Then
        Assert.Equal([5, 3, 4], idx.Dimensions);
        Assert.Equal(data, idx.Data);
    }

    [Fact]
    public void Given_a_gzip_IDX_file_When_read_Then_it_is_decompressed_transparently()
    {
        using var dir = new TempFolder();
        var data = Pattern(7 * 2 * 2);
        var path = dir.File("images.idx.gz");
        File.WriteAllBytes(path, Gzip(Idx.Encode([7, 2, 2], data)));

        var idx = Idx.Read(path);

        Assert.Equal([7, 2, 2], idx.Dimensions);
        Assert.Equal(data, idx.Data);
    }

    [Fact]
    public void Given_image_and_label_files_When_loaded_as_a_dataset_Then_shape_pixels_labels_and_float_range_match()
    {
        // Given
        using var dir = new TempFolder();
        using var scope = TorchSharp.torch.NewDisposeScope();
        var pixels = new byte[] { 0, 255, 128, 1, 2, 3, 4, 5 };
        File.WriteAllBytes(dir.File("img.gz"), Gzip(Idx.Encode([2, 2, 2], pixels)));
        File.WriteAllBytes(dir.File("lbl"), Idx.Encode([2], [7, 3]));

        // When
        var set = ImageDataset.FromIdx("tiny", dir.File("img.gz"), dir.File("lbl"));

        // Then
        Assert.Equal((2, 1, 2, 2), (set.Count, set.Channels, set.Height, set.Width));
        Assert.Equal(pixels, set.Pixels);
        Assert.Equal([7, 3], set.Labels);
        var x = set.ToTensor();
        Assert.Equal([2L, 1, 2, 2], x.shape);
        Assert.Equal(-1f, x[0, 0, 0, 0].item<float>());
        Assert.Equal(1f, x[0, 0, 0, 1].item<float>());
        Assert.Equal((float)((128 / 127.5) - 1), x[0, 0, 1, 0].item<float>(), 1e-6f);
    }

    [Fact]
    public void Given_a_dataset_When_a_range_of_it_is_made_a_tensor_Then_it_equals_that_slice_of_the_whole_and_a_range_past_the_end_is_refused()
    {
        // Given
        using var scope = TorchSharp.torch.NewDisposeScope();
        var set = new ImageDataset("tiny", Pattern(5 * 2 * 3 * 3), 5, 2, 3, 3);

        // When
        var whole = set.ToTensor();
        var part = set.ToTensor(1, 3);

        // Then
        Assert.Equal([3L, 2, 3, 3], part.shape);
        Assert.True(part.eq(whole.narrow(0, 1, 3)).all().item<bool>());
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => set.ToTensor(3, 3));
        Assert.Contains("Images 3 … 5 are outside the 5 images of 'tiny'", error.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    public void Given_a_payload_shorter_than_the_header_promises_When_read_Then_truncated(int missing)
    {
        using var dir = new TempFolder();
        var bytes = Idx.Encode([4, 2, 2], Pattern(16));

        var error = ReadFails(dir, bytes[..^missing]);

        Assert.Contains("truncated", error.Message);
        Assert.Contains("promises 16 values", error.Message);
        Assert.Contains($"holds {16 - missing}", error.Message);
    }

    [Fact]
    public void Given_a_payload_longer_than_the_header_says_When_read_Then_a_clear_error()
    {
        using var dir = new TempFolder();
        var bytes = Idx.Encode([4, 2, 2], Pattern(16)).Concat(new byte[] { 9 }).ToArray();

        var error = ReadFails(dir, bytes);

        Assert.Contains("longer than its header says", error.Message);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(9)]
    [InlineData(15)]
    public void Given_a_header_cut_short_When_read_Then_truncated_header_or_bad_magic(int keep)
    {
        using var dir = new TempFolder();
        var bytes = Idx.Encode([4, 2, 2], Pattern(16))[..keep];

        var error = ReadFails(dir, bytes);

        // Under 4 bytes even the magic number is incomplete; from 4 bytes on, the dimension list is.
        Assert.Contains(keep < 4 ? "bad magic number" : "truncated IDX header", error.Message);
    }

    [Fact]
    public void Given_an_empty_file_When_read_Then_not_an_IDX_file()
    {
        using var dir = new TempFolder();

        var error = ReadFails(dir, []);

        Assert.Contains("not an IDX file", error.Message);
    }

    [Theory]
    [InlineData(0, 0x01)]
    [InlineData(1, 0x08)]
    public void Given_a_bad_magic_number_When_read_Then_not_an_IDX_file(int index, byte value)
    {
        using var dir = new TempFolder();
        var bytes = Idx.Encode([2, 2], Pattern(4));
        bytes[index] = value;

        var error = ReadFails(dir, bytes);

        Assert.Contains("not an IDX file (bad magic number)", error.Message);
    }

    [Theory]
    [InlineData(0x09, "0x09")]
    [InlineData(0x0D, "0x0d")]
    public void Given_an_element_type_other_than_unsigned_byte_When_read_Then_unsupported(byte type, string shown)
    {
        using var dir = new TempFolder();
        var bytes = Idx.Encode([2, 2], Pattern(4));
        bytes[2] = type;

        var error = ReadFails(dir, bytes);

        Assert.Contains($"element type {shown} is not supported", error.Message);
    }

    [Fact]
    public void Given_rank_0_When_read_Then_truncated_header()
    {
        using var dir = new TempFolder();

        var error = ReadFails(dir, [0, 0, 8, 0, 1, 2, 3]);

        Assert.Contains("rank 0", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Given_a_non_positive_dimension_When_read_Then_dimensions_must_be_positive(int dim)
    {
        using var dir = new TempFolder();
        var bytes = Idx.Encode([3, 2, 2], Pattern(12));
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4), dim);

        var error = ReadFails(dir, bytes);

        Assert.Contains($"dimension 1 is {dim}", error.Message);
        Assert.Contains("must be positive", error.Message);
    }

    [Theory]
    [InlineData(new[] { 2, 0 }, 0, "1 to 255 positive dimensions; got [2, 0]")]
    [InlineData(new[] { 2, 3 }, 5, "The dimensions 2×3 make 6 values, but 5 were given")]
    public void Given_dimensions_that_do_not_fit_the_data_When_encoded_Then_refused_instead_of_a_file_Parse_would_reject(int[] dims, int length, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => Idx.Encode(dims, new byte[length]));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Given_dimensions_whose_product_overflows_64_bits_When_read_Then_truncated_not_an_empty_array()
    {
        // 2^21 · 2^21 · 2^22 = 2^64 wraps to 0 in 64-bit arithmetic, which would "match" an empty payload.
        using var dir = new TempFolder();
        var bytes = Idx.Encode([1, 1, 1], [0])[..16]; // the header alone; Encode refuses such sizes, so they are written here
        int[] dims = [1 << 21, 1 << 21, 1 << 22];
        for (var i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + (4 * i)), dims[i]);
        }

        var error = ReadFails(dir, bytes);

        Assert.Contains("promises 18446744073709551616 values", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Given_a_gzip_file_with_a_flipped_byte_When_read_Then_corrupt_gzip()
    {
        using var dir = new TempFolder();
        var gz = Gzip(Idx.Encode([16, 8, 8], Pattern(16 * 8 * 8)));
        gz[gz.Length / 2] ^= 0xFF;

        var error = ReadFails(dir, gz, "bad.gz");

        Assert.Contains("gzip stream is truncated or corrupt", error.Message);
    }

    [Fact]
    public void Given_a_gzip_file_whose_checksum_trailer_is_wrong_When_read_Then_corrupt_gzip()
    {
        using var dir = new TempFolder();
        var gz = Gzip(Idx.Encode([16, 8, 8], Pattern(16 * 8 * 8)));
        gz[^6] ^= 0x01; // inside the CRC-32 of the uncompressed data

        var error = ReadFails(dir, gz, "bad.gz");

        Assert.Contains("gzip stream is truncated or corrupt", error.Message);
    }

    [Fact]
    public void Given_a_gzip_file_cut_anywhere_When_read_Then_always_a_clear_error()
    {
        // Given: every cut that leaves the 2-byte gzip magic, including inside the 8-byte trailer (CRC-32, size)
        // and just after the 10-byte header.
        using var dir = new TempFolder();
        var gz = Gzip(Idx.Encode([16, 8, 8], Pattern(16 * 8 * 8)));
        var path = dir.File("cut.gz");

        for (var cut = 1; cut <= gz.Length - 2; cut++)
        {
            // When
            File.WriteAllBytes(path, gz[..^cut]);
            var error = Assert.Throws<InvalidDataException>(() => Idx.Read(path));

            // Then
            Assert.StartsWith(path, error.Message);
            Assert.True(error.Message.Contains("gzip stream is truncated or corrupt", StringComparison.Ordinal), $"cut {cut} of {gz.Length}: {error.Message}");
        }
    }

    [Fact]
    public void Given_labels_whose_count_differs_from_the_images_When_loading_a_dataset_Then_they_do_not_match()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("img"), Idx.Encode([3, 2, 2], Pattern(12)));
        File.WriteAllBytes(dir.File("lbl"), Idx.Encode([4], [1, 2, 3, 4]));

        var error = Assert.Throws<InvalidDataException>(() => ImageDataset.FromIdx("x", dir.File("img"), dir.File("lbl")));

        Assert.Contains(dir.File("lbl"), error.Message);
        Assert.Contains("4 labels do not match 3 images", error.Message);
    }

    [Fact]
    public void Given_images_of_rank_2_When_loading_a_dataset_Then_rank_3_is_required()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("img"), Idx.Encode([3, 4], Pattern(12)));

        var error = Assert.Throws<InvalidDataException>(() => ImageDataset.FromIdx("x", dir.File("img")));

        Assert.Contains("expected images of rank 3", error.Message);
    }
}
