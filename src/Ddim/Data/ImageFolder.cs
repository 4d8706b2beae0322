using Ddim.Imaging;

namespace Ddim.Data;

/// <summary>A folder of same-size PNG images as a data set (grey when every image is grey, else RGB).</summary>
public static class ImageFolder
{
    /// <summary>The PNG files directly in <paramref name="folder"/>, whatever the case of their extension (a.PNG too): the files <see cref="Load"/> reads.</summary>
    public static IEnumerable<string> PngFiles(string folder) =>
        Directory.EnumerateFiles(folder, "*.png", new EnumerationOptions { MatchCasing = MatchCasing.CaseInsensitive });

    /// <summary>Loads every *.png in <paramref name="folder"/> (sorted by name, not recursive).</summary>
    /// <param name="folder">The folder of same-size PNGs.</param>
    /// <param name="greyWhenChannelsEqual">
    /// Read RGB images whose R, G and B are equal everywhere as grey, as many tools save grey images (for a judge or a
    /// network that takes one channel: eval --images, invert --images, and train and loss for a grey model). Off by
    /// default: the channels as stored (a colour model's data).
    /// </param>
    public static ImageDataset Load(string folder, bool greyWhenChannelsEqual = false)
    {
        if (File.Exists(folder))
        {
            throw new InvalidDataException($"{folder} is a file; give the folder that holds the PNG images.");
        }

        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Data folder {folder} does not exist.");
        }

        var files = PngFiles(folder).Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0)
        {
            throw new InvalidDataException($"{folder} holds no .png images.");
        }

        (byte[] Pixels, int Height, int Width, int Channels) Decode(string f)
        {
            try
            {
                return ImageGrid.DecodePng(File.ReadAllBytes(f));
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException)
            {
                throw new InvalidDataException($"{f} is not a readable PNG: {e.Message}", e);
            }
        }

        // Sized from the first image before the others are decoded (decoding them all first would hold about that much).
        var first = Decode(files[0]);
        RequireFitsInMemory(files.Length, first.Channels, first.Height, first.Width);
        var decoded = files.Skip(1).Select(Decode).Prepend(first).ToArray();
        var (h, w) = (decoded[0].Height, decoded[0].Width);
        for (var i = 0; i < decoded.Length; i++)
        {
            if (decoded[i].Height != h || decoded[i].Width != w)
            {
                throw new InvalidDataException($"{files[i]} is {decoded[i].Width}×{decoded[i].Height} but {files[0]} is {w}×{h}; all images must have the same size.");
            }
        }

        // Grey when every image is (and, if asked, when an RGB one has R = G = B everywhere).
        bool IsGrey((byte[] Pixels, int Height, int Width, int Channels) d) =>
            d.Channels == 1 || (greyWhenChannelsEqual && Enumerable.Range(0, d.Height * d.Width).All(p =>
                d.Pixels[p * d.Channels] == d.Pixels[(p * d.Channels) + 1] && d.Pixels[p * d.Channels] == d.Pixels[(p * d.Channels) + 2]));
        var channels = decoded.All(IsGrey) ? 1 : 3;
        RequireFitsInMemory(decoded.Length, channels, h, w);
        var pixels = new byte[(long)decoded.Length * channels * h * w];
        for (var n = 0; n < decoded.Length; n++)
        {
            var d = decoded[n];
            for (var c = 0; c < channels; c++)
            {
                for (var p = 0; p < h * w; p++)
                {
                    // [H, W, C] → [C, H, W]; a grey image in an RGB set is repeated over the channels, and a grey set takes channel 0.
                    pixels[(((long)n * channels) + c) * h * w + p] = d.Pixels[(p * d.Channels) + (d.Channels == 1 ? 0 : c)];
                }
            }
        }

        return new ImageDataset(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), pixels, decoded.Length, channels, h, w); // "." has a name too
    }

    /// <summary>
    /// Resolves a data spec: a known data set name (its train split, or its test split when <paramref name="train"/> is
    /// false) wins over a folder of the same name; anything else must be a folder of PNGs (used whole), read as
    /// <see cref="Load"/> reads it with <paramref name="greyWhenChannelsEqual"/> (true for a grey model: grey images
    /// another tool saved as RGB or with a palette are grey to it).
    /// </summary>
    public static ImageDataset Resolve(string spec, string? dataRoot = null, Action<string>? log = null, bool train = true, bool greyWhenChannelsEqual = false)
    {
        var known = DatasetFetcher.TryFind(spec);
        if (known is not null)
        {
            if (Directory.Exists(spec))
            {
                log?.Invoke($"'{spec}' names the {known.Name} data set; the folder {spec} in the working directory is not read (write ./{spec} for it).");
            }

            return DatasetFetcher.Load(known, train, dataRoot, log);
        }

        if (dataRoot is not null && (Directory.Exists(spec) || File.Exists(spec)))
        {
            throw new ArgumentException($"The data {spec} is a folder of images, and a data root (--data-dir) says where the named data sets ({string.Join(", ", DatasetFetcher.Known.Select(k => k.Name))}) live, so it does not apply: leave it out.");
        }

        return Directory.Exists(spec) || File.Exists(spec) ? Load(spec, greyWhenChannelsEqual) : throw new ArgumentException(
            $"Unknown data '{spec}': use {string.Join(", ", DatasetFetcher.Known.Select(k => k.Name))}{(train ? "" : " (their test split)")}, or the path of a folder of same-size PNG images " +
            $"(there is no folder {Path.GetFullPath(spec)}; a relative path is taken from the working directory, {Environment.CurrentDirectory}).");
    }

    /// <summary>A clear error for a set larger than one array can hold (the data live in one byte array).</summary>
    private static void RequireFitsInMemory(int count, int channels, int height, int width)
    {
        var size = (long)count * channels * height * width;
        if (size > Array.MaxLength)
        {
            throw new InvalidDataException(
                $"{count:N0} images of {channels}×{height}×{width} are {size / 1e9:0.00} GB, over the {Array.MaxLength / 1e9:0.00} GB one data set can hold in memory; use fewer or smaller images.");
        }
    }
}
