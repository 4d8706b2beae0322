namespace Ddim.Imaging;

/// <summary>
/// A minimal animated-GIF (GIF89a) encoder for 8-bit grey frames: a 256-level grey palette, LZW compression,
/// and a looping animation. SkiaSharp decodes GIFs but cannot write them.
/// </summary>
public static class GifWriter
{
    /// <summary>
    /// Encodes grey frames (each height·width bytes, row-major) with a per-frame delay in 1/100 s. Height comes before
    /// width, as everywhere in Imaging (<see cref="ImageGrid.Compose"/> returns them in this order).
    /// </summary>
    public static byte[] Encode(IReadOnlyList<byte[]> frames, int height, int width, int delayCentiseconds = 10, bool loop = true)
    {
        if (frames.Count == 0)
        {
            throw new ArgumentException("A GIF needs at least one frame.", nameof(frames));
        }

        if (width is < 1 or > ushort.MaxValue || height is < 1 or > ushort.MaxValue)
        {
            throw new ArgumentException($"GIF frames must be 1…65535 pixels a side; got height {height}, width {width}.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(delayCentiseconds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(delayCentiseconds, ushort.MaxValue);

        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write("GIF89a"u8);
        w.Write((ushort)width);
        w.Write((ushort)height);
        w.Write((byte)0xF7); // global colour table, 8 bits per primary, 256 entries
        w.Write((byte)0);
        w.Write((byte)0);
        for (var i = 0; i < 256; i++)
        {
            w.Write((byte)i);
            w.Write((byte)i);
            w.Write((byte)i);
        }

        if (loop)
        {
            w.Write([0x21, 0xFF, 0x0B]);
            w.Write("NETSCAPE2.0"u8);
            w.Write([0x03, 0x01, 0x00, 0x00, 0x00]);
        }

        foreach (var frame in frames)
        {
            if (frame.LongLength != (long)width * height)
            {
                throw new ArgumentException($"Every frame must have {(long)width * height} bytes; got {frame.LongLength}.");
            }

            w.Write([0x21, 0xF9, 0x04, 0x00]); // graphic control extension
            w.Write((ushort)delayCentiseconds);
            w.Write([0x00, 0x00]);
            w.Write((byte)0x2C); // image descriptor
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write((ushort)width);
            w.Write((ushort)height);
            w.Write((byte)0);
            w.Write((byte)8); // LZW minimum code size
            var data = Lzw(frame);
            for (var i = 0; i < data.Length; i += 255)
            {
                var n = Math.Min(255, data.Length - i);
                w.Write((byte)n);
                w.Write(data, i, n);
            }

            w.Write((byte)0);
        }

        w.Write((byte)0x3B);
        w.Flush();
        return ms.ToArray();
    }

    // Variable-width LZW as GIF wants it: clear code 256, end code 257, codes up to 12 bits, reset when full.
    private static byte[] Lzw(byte[] pixels)
    {
        const int clear = 256, end = 257, maxCode = 4095;
        var output = new List<byte>();
        int bitBuffer = 0, bitCount = 0, codeSize = 9, next = 258;
        var table = new Dictionary<int, int>();

        void Emit(int code)
        {
            bitBuffer |= code << bitCount;
            bitCount += codeSize;
            while (bitCount >= 8)
            {
                output.Add((byte)(bitBuffer & 0xFF));
                bitBuffer >>= 8;
                bitCount -= 8;
            }
        }

        Emit(clear);
        var prefix = pixels[0];
        int current = prefix;
        for (var i = 1; i < pixels.Length; i++)
        {
            var key = (current << 8) | pixels[i];
            if (table.TryGetValue(key, out var code))
            {
                current = code;
                continue;
            }

            Emit(current);
            if (next <= maxCode)
            {
                table[key] = next++;
                if (next > (1 << codeSize) && codeSize < 12)
                {
                    codeSize++;
                }
            }
            else
            {
                Emit(clear);
                table.Clear();
                next = 258;
                codeSize = 9;
            }

            current = pixels[i];
        }

        Emit(current);

        // The decoder adds one more table entry after the last code; widen the end code as it will expect.
        if (next <= maxCode && next + 1 > (1 << codeSize) && codeSize < 12)
        {
            codeSize++;
        }

        Emit(end);
        if (bitCount > 0)
        {
            output.Add((byte)(bitBuffer & 0xFF));
        }

        return output.ToArray();
    }
}
