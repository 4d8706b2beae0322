using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Models;

/// <summary>
/// Ddim's single-file container for checkpoints and trained models:
/// <c>"DDIMFILE" · u32 version · JSON metadata · named binary sections · SHA-256 of all that precedes it</c>.
/// Sections hold TorchSharp state dicts ("model", "ema", "optimizer", …). Written atomically; a truncated or
/// altered file fails its checksum and gets a clear error.
/// </summary>
public sealed class ModelFile
{
    /// <summary>Current format version.</summary>
    public const int FormatVersion = 1;

    private static readonly byte[] Magic = "DDIMFILE"u8.ToArray();

    /// <summary>
    /// JSON options used for every piece of metadata (enums as strings, indented). Read-only, since every file Ddim
    /// writes depends on them; derive a copy with <c>new JsonSerializerOptions(ModelFile.Json)</c> to change one.
    /// </summary>
    public static readonly JsonSerializerOptions Json = ReadOnly(new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    });

    private static JsonSerializerOptions ReadOnly(JsonSerializerOptions options)
    {
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>Creates an empty container with the given metadata.</summary>
    public ModelFile(JsonObject metadata) => Metadata = metadata;

    /// <summary>Free-form metadata: "kind", "model" (UNetConfig), "schedule", training details.</summary>
    public JsonObject Metadata { get; }

    /// <summary>Named binary sections.</summary>
    public Dictionary<string, byte[]> Sections { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The network's shape, from metadata "model". Read strictly: a setting this Ddim does not know may change what the
    /// network computes without changing its weights' names or shapes, so it is an error, not a default kept silently.
    /// </summary>
    /// <exception cref="InvalidDataException">The entry is missing, not a network configuration, or holds a setting this Ddim does not know.</exception>
    public UNetConfig ModelConfig => ReadNetworkConfig(Metadata["model"] ?? throw new InvalidDataException("The model file has no 'model' configuration."), "model");

    /// <summary>
    /// Checks every network configuration the file holds ("model", and a checkpoint's training configuration's
    /// "Model", which export and resume build from) as <see cref="ModelConfig"/> reads it; <paramref name="path"/> names
    /// the file in the error.
    /// </summary>
    /// <exception cref="InvalidDataException">A configuration holds a setting this Ddim does not know, or is not one.</exception>
    public void RequireKnownNetworkSettings(string path)
    {
        try
        {
            foreach (var (node, where) in new[] { (Metadata["model"], "model"), (Metadata["train"]?["Model"], "train.Model") })
            {
                if (node is not null)
                {
                    ReadNetworkConfig(node, where);
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private static UNetConfig ReadNetworkConfig(JsonNode node, string where)
    {
        try
        {
            return node.Deserialize<UNetConfig>(StrictJson) ?? throw new InvalidDataException($"The file's '{where}' configuration is empty.");
        }
        catch (JsonException e) when (e.Message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"The file's network configuration ('{where}') has a setting this Ddim does not know ({e.Message.Split(" Path:")[0]}): it was written by a newer Ddim. Update Ddim to use it.", e);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The file's network configuration ('{where}') is not valid: {e.Message.Split(" Path:")[0]}", e);
        }
    }

    private static readonly JsonSerializerOptions StrictJson = ReadOnly(new(Json) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow });

    /// <summary>The noise schedule the network was trained with, from metadata "schedule".</summary>
    /// <exception cref="InvalidDataException">The entry is missing or names no schedule this Ddim can build.</exception>
    public NoiseSchedule Schedule
    {
        get
        {
            var s = Metadata["schedule"] as JsonObject ?? throw new InvalidDataException("The model file has no 'schedule'.");
            try
            {
                var kind = Enum.Parse<ScheduleKind>(s["kind"]?.GetValue<string>() ?? throw new FormatException("it names no 'kind'."), ignoreCase: true);
                var t = s["T"]?.GetValue<int>() ?? throw new FormatException("it gives no 'T'.");
                return s["parameters"] is JsonObject parameters
                    ? NoiseSchedule.Create(kind, t, parameters.ToDictionary(p => p.Key, p => p.Value!.GetValue<double>()))
                    : NoiseSchedule.Create(kind, t);
            }
            catch (Exception e) when (e is NullReferenceException or ArgumentException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"The model file's 'schedule' ({s.ToJsonString()}) is not one this Ddim can build: {e.Message}", e);
            }
        }
    }

    /// <summary>Metadata for a schedule: its kind and T, and its parameters when they are not its kind's defaults.</summary>
    public static JsonObject ScheduleNode(NoiseSchedule schedule)
    {
        var node = new JsonObject { ["kind"] = schedule.Kind.ToString(), ["T"] = schedule.T };
        if (!schedule.HasDefaultParameters)
        {
            node["parameters"] = new JsonObject(schedule.Parameters.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
        }

        return node;
    }

    /// <summary>Serialises a module's parameters and buffers.</summary>
    public static byte[] Serialize(nn.Module module)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            module.save(w);
        }

        return ms.ToArray();
    }

    /// <summary>Loads parameters saved by <see cref="Serialize"/> into a module of the same shape.</summary>
    public static void Deserialize(nn.Module module, byte[] bytes, string what)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes));
            module.load(r, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException or IOException)
        {
            throw new InvalidDataException($"The {what} weights do not fit this network: {e.Message}", e);
        }
    }

    /// <summary>Writes the file atomically.</summary>
    public void Save(string path)
    {
        Atomic.Write(path, stream =>
        {
            using var body = new MemoryStream();
            using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(FormatVersion);
                w.Write(Metadata.ToJsonString(Json));
                w.Write(Sections.Count);
                foreach (var (name, bytes) in Sections)
                {
                    w.Write(name);
                    w.Write((long)bytes.Length);
                    w.Write(bytes);
                }
            }

            var all = body.GetBuffer().AsSpan(0, (int)body.Length); // no second copy of a checkpoint's tens of megabytes
            stream.Write(all);
            stream.Write(SHA256.HashData(all));
        });
    }

    /// <summary>Reads and verifies a file. Errors say what is wrong and what to do.</summary>
    public static ModelFile Load(string path) => Load(path, out _, hash: false);

    /// <summary>Reads and verifies a file, and gives the SHA-256 (lower-case hex) of the very bytes it read.</summary>
    public static ModelFile Load(string path, out string sha256) => Load(path, out sha256, hash: true);

    private static ModelFile Load(string path, out string sha256, bool hash)
    {
        RequireExists(path);

        // The magic first, from the file's first bytes: a large file of another kind is refused before it is read whole.
        using (var head = File.OpenRead(path))
        {
            var start = new byte[Magic.Length];
            RequireMagic(start.AsSpan(0, head.ReadAtLeast(start, start.Length, throwOnEndOfStream: false)), path);
            if (head.Length > Array.MaxLength)
            {
                throw new InvalidDataException($"{path} is {head.Length:N0} bytes, more than a model file can hold; it is damaged or not a model file.");
            }
        }

        var all = File.ReadAllBytes(path);
        sha256 = hash ? Convert.ToHexStringLower(SHA256.HashData(all)) : "";

        if (all.Length < Magic.Length + 36)
        {
            throw new InvalidDataException($"{path} is corrupt or truncated ({all.Length} bytes, shorter than any model file). Restore it, or train/copy it again.");
        }

        var body = all.AsSpan(0, all.Length - 32);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(all.AsSpan(all.Length - 32)))
        {
            throw new InvalidDataException($"{path} is corrupt or truncated (its SHA-256 checksum does not match). Restore it, or train/copy it again.");
        }

        using var r = new BinaryReader(new MemoryStream(all, 0, body.Length, writable: false), Encoding.UTF8);
        r.ReadBytes(Magic.Length); // checked above
        var file = new ModelFile(ReadHeader(r, path));
        // The checksum matched, so only a faulty writer can have made the layout below wrong: still an error that says so.
        string Damaged(string what) => $"{path} has a valid checksum but {what}: it was written wrongly. Train or copy it again.";
        try
        {
            var count = r.ReadInt32();
            if (count < 0)
            {
                throw new InvalidDataException(Damaged($"a negative section count ({count})"));
            }

            for (var i = 0; i < count; i++)
            {
                var name = r.ReadString();
                var length = r.ReadInt64();
                if (length < 0 || length > r.BaseStream.Length - r.BaseStream.Position)
                {
                    throw new InvalidDataException(Damaged($"section '{name}' claims {length:N0} bytes where {r.BaseStream.Length - r.BaseStream.Position:N0} remain"));
                }

                file.Sections[name] = r.ReadBytes((int)length);
            }
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException)
        {
            throw new InvalidDataException(Damaged("it ends inside a section"), e);
        }

        if (r.BaseStream.Position != r.BaseStream.Length)
        {
            throw new InvalidDataException(Damaged($"{r.BaseStream.Length - r.BaseStream.Position:N0} bytes follow its last section"));
        }

        return file;
    }

    /// <summary>
    /// Reads a file's metadata alone: the header, without the weights or the checksum, so a large checkpoint costs a few
    /// kilobytes. Use it only to decide something that a full <see cref="Load(string)"/> checks afterwards.
    /// </summary>
    /// <exception cref="InvalidDataException">Not a model file, another format version, or cut short in its header.</exception>
    public static JsonObject ReadMetadata(string path)
    {
        RequireExists(path);

        using var r = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
        try
        {
            RequireMagic(r.ReadBytes(Magic.Length), path);
            return ReadHeader(r, path);
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException)
        {
            throw new InvalidDataException($"{path} is corrupt or truncated (it ends inside its header). Restore it, or train/copy it again.", e);
        }
    }

    /// <summary>A missing file is a FileNotFoundException that says where a relative path was looked up and which commands write .ddim files.</summary>
    private static void RequireExists(string path)
    {
        if (!File.Exists(path))
        {
            var from = Path.IsPathRooted(path) ? string.Empty : $" (relative to {Environment.CurrentDirectory})";
            throw new FileNotFoundException($"Model file not found: {path}{from}. Check the path: a .ddim file written by 'ddim train', 'ddim export' or 'ddim train-classifier'.", path);
        }
    }

    /// <summary>Throws unless <paramref name="start"/>, a file's first bytes, is the magic DDIMFILE.</summary>
    private static void RequireMagic(ReadOnlySpan<byte> start, string path)
    {
        if (!start.SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{path} is not a Ddim model file (it does not start with DDIMFILE).");
        }
    }

    /// <summary>The format version and the metadata, read after the magic bytes.</summary>
    private static JsonObject ReadHeader(BinaryReader r, string path)
    {
        var version = r.ReadInt32();
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"{path} has format version {version}; this Ddim reads version {FormatVersion}.");
        }

        try
        {
            return JsonNode.Parse(r.ReadString()) as JsonObject ?? throw new InvalidDataException($"{path}: metadata is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: its metadata is not valid JSON, although its checksum matches (written by a faulty tool?): {e.Message}", e);
        }
    }

    /// <summary>
    /// Saves <paramref name="network"/>'s float32 weights with its config and
    /// <paramref name="schedule"/> as a model file that <see cref="LoadNetwork"/>, <see cref="Sampling.ImageSampler.Load"/>
    /// and every <c>ddim</c> command read, atomically. <paramref name="training"/>, if given, is stored as the file's
    /// "training" record (what the network was trained on; <c>ddim info</c> shows it).
    /// </summary>
    public static void SaveNetwork(string path, UNet network, NoiseSchedule schedule, JsonObject? training = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(schedule);
        if (network.parameters().FirstOrDefault(p => p.dtype != ScalarType.Float32) is { } other)
        {
            throw new ArgumentException($"Model files hold float32 weights; this network's are {other.dtype}. Save the float32 network (a bfloat16 copy is made from it when loading with NetworkPrecision.BFloat16).", nameof(network));
        }

        var metadata = new JsonObject
        {
            ["kind"] = "model",
            ["model"] = JsonSerializer.SerializeToNode(network.Config, Json),
            ["schedule"] = ScheduleNode(schedule),
        };
        if (training is not null)
        {
            metadata["training"] = training;
        }

        var file = new ModelFile(metadata);
        file.Sections["weights"] = Serialize(network);
        file.Save(path);
    }

    /// <summary>
    /// Loads a network for inference: builds a <see cref="UNet"/> from the stored config and fills it with the
    /// EMA weights ("ema", or "weights" in exported models, else "model"). The network is in eval mode, on
    /// <paramref name="device"/> (default: the CPU), its weights in <paramref name="precision"/>'s dtype.
    /// </summary>
    public static (UNet Network, NoiseSchedule Schedule, ModelFile File) LoadNetwork(string path, Device? device = null, NetworkPrecision precision = NetworkPrecision.Float32)
    {
        var file = Load(path);
        if (file.Metadata["kind"]?.GetValue<string>() == Evaluation.Judge.FileKind)
        {
            throw new InvalidDataException($"{path} is an MNIST judge (kind '{Evaluation.Judge.FileKind}'), not a diffusion model. Pass --model with a model file such as models/mnist.ddim; a judge goes to 'ddim eval --judge'.");
        }

        UNetConfig config;
        try
        {
            config = file.ModelConfig;
            config.Validate();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: the stored network configuration is invalid: {e.Message}", e);
        }

        var section = new[] { "weights", "ema", "model" }.FirstOrDefault(file.Sections.ContainsKey)
            ?? throw new InvalidDataException($"{path} holds no network weights.");
        NoiseSchedule schedule;
        try
        {
            schedule = file.Schedule; // before the network is built: nothing to free when it fails
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }

        var network = new UNet(config);
        try
        {
            Deserialize(network, file.Sections[section], $"'{section}' section of {path}:");
            network.eval();
            if (device is not null)
            {
                network.to(device);
            }

            if (precision != NetworkPrecision.Float32)
            {
                network.to(precision.ScalarType());
            }
        }
        catch
        {
            network.Dispose();
            throw;
        }

        return (network, schedule, file);
    }
}
