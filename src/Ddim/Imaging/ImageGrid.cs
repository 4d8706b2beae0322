using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Imaging;

/// <summary>Turns model-space images ([−1, 1]) into bytes and PNG files, alone or as a grid.</summary>
public static class ImageGrid
{
    /// <summary>The largest grid side, in pixels, that we agree to render in memory.</summary>
    public const int MaxSide = 16384;

    /// <summary>
    /// Throws a clear <see cref="InvalidOperationException"/> when SkiaSharp's native library (which PNG grids and the
    /// sweep's plot need) cannot be loaded here. Call it before long work whose end writes images, so that a library
    /// that will not load is found before the work, not after it. (On Linux it is SkiaSharp's build without system
    /// dependencies, so this is rare.)
    /// </summary>
    /// <param name="need">What needs it, for the message ("SampleEvery = 500 writes PNG sample grids").</param>
    /// <param name="alternative">How to do without it, for the message ("set SampleEvery to 0 in the preset"), if there is a way.</param>
    public static void RequireNativeLibrary(string need, string? alternative = null)
    {
        if (NativeLibraryProblem() is { } problem)
        {
            throw new InvalidOperationException($"{need}, but {problem}.{(alternative is null ? string.Empty : $" Fix that, or {alternative}.")}");
        }
    }

    /// <summary>Why SkiaSharp's native library cannot be used here ("SkiaSharp's native library cannot be used here (…)"), or null when it can.</summary>
    public static string? NativeLibraryProblem()
    {
        try
        {
            Grid(new byte[1], count: 1, channels: 1, height: 1, width: 1, columns: 1, padding: 0);
            return null;
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return $"SkiaSharp's native library cannot be used here ({Native.NativeErrors.Cause(e.GetBaseException())})";
        }
    }

    /// <summary>
    /// Maps [−1, 1] to 0..255: round((clamp(x, −1, 1) + 1)·127.5). Input [B, C, H, W] on any device; output bytes [B, H, W, C].
    /// Images that hold NaN (a diverged sampler or model) are refused: no pixel value can show NaN, and the cast would
    /// make them black images that look like output.
    /// </summary>
    public static byte[] ToBytes(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var values = images.detach().cpu().to(ScalarType.Float32);
        if (values.dim() > 0 && values.numel() > 0 && values.isnan().flatten(1).any(1).sum().item<long>() is > 0 and var broken)
        {
            throw new ArgumentException(
                $"{broken} of these {values.shape[0]} images {(broken == 1 ? "holds" : "hold")} NaN values: the sampler or the model diverged, and no pixel can show NaN, so none of them is written. " +
                "Check the model with 'ddim eval' (it counts diverged images), or sample with other settings.");
        }

        var scaled = ((values.clamp(-1, 1) + 1) * 127.5).round().to(ScalarType.Byte);
        return scaled.permute(0, 2, 3, 1).contiguous().data<byte>().ToArray();
    }

    /// <summary>Encodes one image [C, H, W] or [1, C, H, W] as PNG.</summary>
    public static byte[] ToPng(Tensor image)
    {
        if (image.dim() != 3)
        {
            return Grid(image, columns: 1, padding: 0);
        }

        using var batch = image.unsqueeze(0);
        return Grid(batch, columns: 1, padding: 0);
    }

    /// <summary>
    /// Lays out images [B, C, H, W] in [−1, 1] in rows of <paramref name="columns"/>, separated by
    /// <paramref name="padding"/> pixels of <paramref name="background"/> (0..255), and encodes them as PNG.
    /// </summary>
    public static byte[] Grid(Tensor images, int columns = 8, int padding = 2, byte background = 0)
    {
        if (images.dim() != 4)
        {
            throw new ArgumentException($"Expected images [B, C, H, W]; got shape [{string.Join(", ", images.shape)}].");
        }

        var (b, c, h, w) = ((int)images.shape[0], (int)images.shape[1], (int)images.shape[2], (int)images.shape[3]);
        if (c is not (1 or 3))
        {
            throw new ArgumentException($"Images need 1 or 3 channels; got {c}.");
        }

        var pixels = ToBytes(images);
        return Grid(pixels, b, c, h, w, columns, padding, background);
    }

    /// <summary>
    /// The layout of <paramref name="count"/> images in at most <paramref name="columns"/> columns: the columns and rows
    /// used, and the grid's size in pixels, in 64-bit arithmetic (a huge padding must not wrap to a small size).
    /// </summary>
    public static (int Columns, int Rows, long Width, long Height) GridSize(int count, int columns, int padding, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        var cols = Math.Min(columns, count);
        var rows = (count + cols - 1) / cols;
        return (cols, rows, (cols * ((long)width + padding)) + padding, (rows * ((long)height + padding)) + padding);
    }

    /// <summary>Grid from bytes [B, H, W, C] (C = 1 or 3), encoded as PNG.</summary>
    public static byte[] Grid(byte[] pixels, int count, int channels, int height, int width, int columns, int padding, byte background = 0)
    {
        var (grid, gridH, gridW) = Compose(pixels, count, channels, height, width, columns, padding, background);
        var colorType = channels == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888;
        var buffer = grid;
        if (channels == 3)
        {
            // Skia has no packed RGB format: widen to RGBA, opaque.
            buffer = new byte[gridW * gridH * 4];
            for (int i = 0, j = 0; i < grid.Length; i += 3, j += 4)
            {
                buffer[j] = grid[i];
                buffer[j + 1] = grid[i + 1];
                buffer[j + 2] = grid[i + 2];
                buffer[j + 3] = 255;
            }
        }

        using var bitmap = new SKBitmap(new SKImageInfo(gridW, gridH, colorType, SKAlphaType.Opaque));
        System.Runtime.InteropServices.Marshal.Copy(buffer, 0, bitmap.GetPixels(), buffer.Length);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>
    /// The grid's pixels without encoding them: bytes [B, H, W, C] (C = 1 or 3) laid out as <see cref="GridSize"/> says,
    /// returned as bytes [gridH, gridW, C] with the grid's size. <see cref="Grid(byte[], int, int, int, int, int, int, byte)"/>
    /// encodes this as PNG; a GIF frame uses it as it is.
    /// </summary>
    public static (byte[] Pixels, int Height, int Width) Compose(byte[] pixels, int count, int channels, int height, int width, int columns, int padding, byte background = 0)
    {
        if (columns < 1 || padding < 0)
        {
            throw new ArgumentException($"A grid needs at least 1 column and padding ≥ 0; got columns = {columns}, padding = {padding}.");
        }

        ArgumentNullException.ThrowIfNull(pixels);
        if (channels is not (1 or 3) || count < 1 || height < 1 || width < 1 || (long)count * height * width * channels != pixels.Length)
        {
            throw new ArgumentException($"{pixels.Length} bytes are not {count} images [H, W, C] of {height}×{width}×{channels} with C = 1 or 3.", nameof(pixels));
        }

        (columns, _, var gridW, var gridH) = GridSize(count, columns, padding, height, width);
        if (gridW > MaxSide || gridH > MaxSide)
        {
            throw new ArgumentException($"A {gridW}×{gridH} grid is too large (limit {MaxSide} pixels a side); use more columns, fewer images, or --out-dir for one file per image.");
        }

        var buffer = new byte[gridW * gridH * channels];
        Array.Fill(buffer, background);
        var row = width * channels;
        for (var n = 0; n < count; n++)
        {
            var x0 = padding + ((n % columns) * (width + padding));
            var y0 = padding + ((n / columns) * (height + padding));
            for (var y = 0; y < height; y++)
            {
                Array.Copy(pixels, (((long)n * height) + y) * row, buffer, ((((y0 + y) * gridW) + x0) * channels), row);
            }
        }

        return (buffer, (int)gridH, (int)gridW);
    }

    /// <summary>
    /// Decodes a PNG into bytes [H, W, C] (C = 1 for grey images, else 3) with its size. A 16-bit PNG is read at 8 bits:
    /// Skia keeps each value's high byte (truncation, not rounding), so a pixel can read up to 1/255 low.
    /// </summary>
    public static (byte[] Pixels, int Height, int Width, int Channels) DecodePng(byte[] png)
    {
        ArgumentNullException.ThrowIfNull(png);

        // Through the codec, not SKBitmap.Decode: that one returns a file cut short as a whole image, its missing rows
        // filled with 0, where the codec says IncompleteInput.
        using var data = SKData.CreateCopy(png);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException("not a decodable image (not a PNG, or its header is damaged).");
        if (codec.EncodedFormat != SKEncodedImageFormat.Png)
        {
            // Skia decodes other formats too; a JPEG's pixels are not the ones it was made from, and a GIF is its first frame.
            throw new InvalidDataException($"it is a {codec.EncodedFormat.ToString().ToUpperInvariant()} image, not a PNG: convert it to PNG first.");
        }

        if (codec.Info.Width > MaxSide || codec.Info.Height > MaxSide)
        {
            // Checked before the pixels are allocated: a few bytes of header can claim gigabytes.
            throw new InvalidDataException($"it claims {codec.Info.Width}×{codec.Info.Height} pixels, more than the {MaxSide:N0} a side that Ddim reads or writes.");
        }

        var grey = codec.Info.ColorType == SKColorType.Gray8;
        var target = new SKImageInfo(codec.Info.Width, codec.Info.Height, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, grey ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(target);
        var outcome = codec.GetPixels(target, bitmap.GetPixels());
        if (outcome != SKCodecResult.Success)
        {
            throw new InvalidDataException(outcome == SKCodecResult.IncompleteInput
                ? "it is truncated (its pixel data stop early): copy or download it again."
                : $"its pixels do not decode ({outcome}): the file is damaged.");
        }

        var channels = grey ? 1 : 3;
        var raw = bitmap.Bytes;
        if (!grey)
        {
            // Transparency cannot be kept, and how the transparent pixels would look is a guess (Skia premultiplies).
            for (var i = 3; i < raw.Length; i += 4)
            {
                if (raw[i] != 255)
                {
                    throw new InvalidDataException("it has transparent pixels (an alpha channel below 255): flatten it onto a background first.");
                }
            }
        }

        var result = new byte[bitmap.Width * bitmap.Height * channels];
        for (var i = 0; i < bitmap.Width * bitmap.Height; i++)
        {
            for (var k = 0; k < channels; k++)
            {
                result[(i * channels) + k] = raw[(i * (grey ? 1 : 4)) + k];
            }
        }

        return (result, bitmap.Height, bitmap.Width, channels);
    }
}
