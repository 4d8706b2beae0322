using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;

namespace Ddim.Data;

/// <summary>An IDX array (LeCun's MNIST format) of unsigned bytes: its dimensions and its data, row-major.</summary>
/// <param name="Dimensions">Sizes of each dimension, e.g. [60000, 28, 28] for images or [60000] for labels.</param>
/// <param name="Data">The values, row-major.</param>
public sealed record IdxArray(int[] Dimensions, byte[] Data);

/// <summary>Reads IDX files, raw or gzip-compressed, with strict checks.</summary>
public static class Idx
{
    private const int UnsignedByte = 0x08;

    /// <summary>Reads an IDX file; gzip is detected from its first two bytes.</summary>
    /// <exception cref="InvalidDataException">The file is truncated, corrupt, or not an unsigned-byte IDX file.</exception>
    public static IdxArray Read(string path)
    {
        try
        {
            return Parse(ReadMaybeGzip(File.ReadAllBytes(path)), path);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Decompresses <paramref name="bytes"/> when they start with the gzip magic 1f 8b.</summary>
    public static byte[] ReadMaybeGzip(byte[] bytes)
    {
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b)
        {
            return bytes;
        }

        const string corrupt = "the gzip stream is truncated or corrupt; delete the file and fetch it again.";
        byte[] data;
        try
        {
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gz.CopyTo(output);
            data = output.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new InvalidDataException(corrupt, e);
        }

        // GZipStream misses some cuts: in the 8-byte trailer (CRC-32, ISIZE), or a few bytes after the header. An IDX .gz is
        // one gzip member, so its last 4 bytes must be the data's length mod 2^32 (RFC 1952, ISIZE).
        if (bytes.Length < 18 || BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)) != (uint)data.Length)
        {
            throw new InvalidDataException(corrupt[..^1] + " (or it holds several gzip members, as 'cat a.gz b.gz' makes, which this check of one member's size cannot vouch for: decompress it with gunzip first).");
        }

        return data;
    }

    /// <summary>Parses an uncompressed IDX image.</summary>
    public static IdxArray Parse(ReadOnlySpan<byte> bytes, string name = "IDX data")
    {
        if (bytes.Length < 4 || bytes[0] != 0 || bytes[1] != 0)
        {
            throw new InvalidDataException($"{name}: not an IDX file (bad magic number).");
        }

        if (bytes[2] != UnsignedByte)
        {
            throw new InvalidDataException($"{name}: IDX element type 0x{bytes[2]:x2} is not supported (only unsigned bytes, 0x08).");
        }

        int rank = bytes[3];
        if (rank < 1 || bytes.Length < 4 + (4 * rank))
        {
            throw new InvalidDataException($"{name}: truncated IDX header (rank {rank}).");
        }

        var dims = new int[rank];
        // BigInteger: up to 255 dimensions of 2^31 − 1 overflow a long (2^21·2^21·2^22 would wrap to 0 and "match" an empty payload).
        BigInteger count = BigInteger.One;
        for (var i = 0; i < rank; i++)
        {
            var d = BinaryPrimitives.ReadInt32BigEndian(bytes[(4 + (4 * i))..]);
            if (d <= 0)
            {
                throw new InvalidDataException($"{name}: dimension {i} is {d}; IDX dimensions must be positive.");
            }

            dims[i] = d;
            count *= d;
        }

        var payload = bytes[(4 + (4 * rank))..];
        if (payload.Length != count)
        {
            throw new InvalidDataException(
                $"{name}: the header promises {count} values ({string.Join("×", dims)}) but the file holds {payload.Length}; it is {(payload.Length < count ? "truncated" : "longer than its header says")}.");
        }

        return new IdxArray(dims, payload.ToArray());
    }

    /// <summary>
    /// Encodes an unsigned-byte IDX file's bytes (used by tests and tools); what it returns, <see cref="Parse"/> reads back.
    /// Throws <see cref="ArgumentException"/> for dimensions that are not 1 to 255 positive sizes whose product is
    /// <paramref name="data"/>'s length.
    /// </summary>
    public static byte[] Encode(int[] dims, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(dims);
        ArgumentNullException.ThrowIfNull(data);
        if (dims.Length is < 1 or > 255 || dims.Any(d => d <= 0))
        {
            throw new ArgumentException($"IDX takes 1 to 255 positive dimensions; got [{string.Join(", ", dims)}].", nameof(dims));
        }

        if (dims.Aggregate(BigInteger.One, (product, d) => product * d) != data.Length)
        {
            throw new ArgumentException($"The dimensions {string.Join("×", dims)} make {dims.Aggregate(BigInteger.One, (product, d) => product * d)} values, but {data.Length} were given.", nameof(data));
        }

        var bytes = new byte[4 + (4 * dims.Length) + data.Length];
        bytes[2] = UnsignedByte;
        bytes[3] = (byte)dims.Length;
        for (var i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + (4 * i)), dims[i]);
        }

        data.CopyTo(bytes, 4 + (4 * dims.Length));
        return bytes;
    }
}
