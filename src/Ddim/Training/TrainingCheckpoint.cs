using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Models;
using Ddim.Schedules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ddim.Training;

/// <summary>
/// A training run's checkpoint.ddim: everything an exact resume needs (the network, its EMA, AdamW's moments, both
/// generators' states, the step, the configuration, the data's hash and the loss log's open window), the checks a
/// resume makes before it trusts one, and starting a new run from a checkpoint's or a model's weights (InitFrom).
/// </summary>
internal static class TrainingCheckpoint
{
    // Checkpoint and model metadata: the SHA-256 of the TrainConfig.InitFrom file a run started from.
    internal const string InitHashKey = "init_from_sha256";

    /// <summary>Checkpoint metadata: libtorch's CPU thread count in the process that saved it.</summary>
    private const string ThreadsKey = "torch_threads";

    /// <summary>Metadata of checkpoints whose weight decay skips biases and GroupNorm (all since it does, when WeightDecay &gt; 0).</summary>
    private const string DecayKey = "weight_decay_on";

    /// <summary>The sections <see cref="Save"/> writes, every one of which an exact resume reads.</summary>
    private static readonly string[] CheckpointSections = ["model", "ema", "optimizer", "rng", "rng_global"];

    /// <summary>
    /// The settings a resume may change: the learning-rate curve's future (checked against the steps taken), and when files
    /// are written (sample grids draw from a generator of their own). LogEvery stays: the checkpoint's unfinished log
    /// window is counted in it.
    /// </summary>
    private static readonly string[] ChangeableOnResume =
        [nameof(TrainConfig.Steps), nameof(TrainConfig.CosineDecayFrom), nameof(TrainConfig.CheckpointEvery), nameof(TrainConfig.SampleEvery), nameof(TrainConfig.SampleSteps)];

    /// <summary>The step a checkpoint file says it holds; null when there is none or it cannot be read.</summary>
    internal static long? SavedStep(string path)
    {
        try
        {
            return File.Exists(path) ? ModelFile.ReadMetadata(path)["step"]?.GetValue<long>() : null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    internal static void Save(string path, TrainConfig config, NoiseSchedule schedule, string dataName, string dataHash, string? initHash, long step, (double Sum, int Count) logWindow, TimeSpan elapsed, UNet model, UNet ema, FlatParameters weights, AdamW optimizer, Generator generator)
    {
        var file = new ModelFile(new JsonObject
        {
            ["kind"] = "checkpoint",
            ["model"] = JsonSerializer.SerializeToNode(config.Model, ModelFile.Json),
            ["schedule"] = ModelFile.ScheduleNode(schedule),
            ["train"] = JsonSerializer.SerializeToNode(config, ModelFile.Json),
            ["step"] = step,
            ["data"] = dataName,
            ["data_sha256"] = dataHash,
            ["log_window"] = new JsonObject { ["loss_sum"] = logWindow.Sum, ["steps"] = logWindow.Count },
            ["elapsed_s"] = elapsed.TotalSeconds,
            ["saved_utc"] = DateTime.UtcNow.ToString("O"),
        });
        if (model.parameters().First().device_type == DeviceType.CPU)
        {
            file.Metadata[ThreadsKey] = torch.get_num_threads(); // libtorch's CPU sums depend on it: see the resume note
        }

        if (config.WeightDecay > 0)
        {
            file.Metadata[DecayKey] = "matrices";
        }

        if (initHash is not null)
        {
            file.Metadata[InitHashKey] = initHash;
        }

        file.Sections["model"] = ModelFile.Serialize(model);
        file.Sections["ema"] = ModelFile.Serialize(ema);
        using (var ms = new MemoryStream())
        {
            using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                weights.SaveAdamW(optimizer, w);
            }

            file.Sections["optimizer"] = ms.ToArray();
        }

        file.Sections["rng"] = TensorBytes(generator.get_state());
        file.Sections["rng_global"] = TensorBytes(torch.random.get_rng_state());
        file.Save(path);
    }

    /// <summary>"Key: saved → given" for each setting that differs, nested ones as Model.BaseChannels.</summary>
    private static List<string> Differences(JsonObject saved, JsonObject given, string prefix = "")
    {
        var changed = new List<string>();
        foreach (var key in saved.Select(p => p.Key).Union(given.Select(p => p.Key)))
        {
            var (a, b) = (saved[key], given[key]);
            if (a is JsonObject sa && b is JsonObject gb)
            {
                changed.AddRange(Differences(sa, gb, $"{prefix}{key}."));
            }
            else if (!JsonNode.DeepEquals(a, b))
            {
                changed.Add($"{prefix}{key}: {a?.ToJsonString() ?? "null"} in the checkpoint, {b?.ToJsonString() ?? "null"} now");
            }
        }

        return changed;
    }

    /// <summary>
    /// Loads a checkpoint into the networks and the generators after checking it against <paramref name="config"/>, and
    /// returns the run's state with the configuration to continue with: <paramref name="config"/> with the checkpoint's
    /// InitFrom and decay re-plans, and a new re-plan when its Steps moves a decay that has begun; and notes saying what
    /// the resume changes, to be logged once the whole state has loaded.
    /// </summary>
    internal static (long Step, (double Sum, int Count) LogWindow, TrainConfig Config, string? InitHash, byte[] OptimizerState, TimeSpan Elapsed, List<string> Notes) Restore(string path, TrainConfig config, string dataHash, UNet model, UNet ema, Generator generator)
    {
        var file = ModelFile.Load(path); // Trainer.RequireRunFolder has checked that it exists
        if (file.Metadata["kind"]?.GetValue<string>() != "checkpoint")
        {
            throw new InvalidDataException($"{path} is an exported model, not a training checkpoint; it cannot be resumed.");
        }

        file.RequireKnownNetworkSettings(path); // the lenient read below would drop a newer network setting unseen
        var saved = file.Metadata["train"].Deserialize<TrainConfig>(ModelFile.Json)!;
        var step = file.Metadata["step"]!.GetValue<long>();

        // A resume may change the settings in ChangeableOnResume; InitFrom and DecayReplans are the run's own history.
        JsonObject Fixed(TrainConfig c)
        {
            // The network's settings written out, so that one left at its default (null) equals the default given.
            if (c.Model is { } m)
            {
                c = c with { Model = m with { ChannelMultipliers = [.. m.Multipliers], AttentionResolutions = [.. m.Attention], MiddleAttention = m.HasMiddleAttention } };
            }

            var node = JsonSerializer.SerializeToNode(c, ModelFile.Json)!.AsObject();
            foreach (var key in ChangeableOnResume.Append(nameof(TrainConfig.InitFrom)).Append(nameof(TrainConfig.DecayReplans)))
            {
                node.Remove(key);
            }

            return node;
        }

        if (Differences(Fixed(saved), Fixed(config)) is { Count: > 0 } changed)
        {
            throw new InvalidDataException($"{path} was made with another configuration: {string.Join("; ", changed)}. Resume with the same preset and the same --data and --precision, if the run was started with them (only {string.Join(", ", ChangeableOnResume)} may change; InitFrom is not used), or start a new --out folder.");
        }

        // The run's own history: where it started from, and how its decay was re-planned. What the resume changes is
        // said by the caller once every check has passed.
        var notes = new List<string>();
        if (file.Metadata[ThreadsKey]?.GetValue<int>() is { } threads && threads != torch.get_num_threads())
        {
            notes.Add($"The checkpoint was saved by a process with {threads} CPU threads and this one has {torch.get_num_threads()}: " +
                      "libtorch's CPU sums depend on the thread count, so the run goes on correctly but not bit for bit as one uninterrupted run would (--threads sets it).");
        }

        if (config.InitFrom is { } ignored && ignored != saved.InitFrom)
        {
            notes.Add($"InitFrom {ignored} is not used: a resumed run continues from its own checkpoint (this run started from {saved.InitFrom ?? "random weights"}).");
        }

        config = config with { InitFrom = saved.InitFrom, DecayReplans = saved.DecayReplans };
        var finished = step >= saved.Steps;

        if (saved.WeightDecay > 0 && file.Metadata[DecayKey] is null)
        {
            throw new InvalidDataException($"{path} was trained with WeightDecay {saved.WeightDecay} on every parameter, as Ddim did before it left biases and GroupNorm's gains and shifts out; a resume would not continue it exactly. Start a new run from it instead (InitFrom, or --init-from {path}) in another --out folder.");
        }

        if (config.Steps < step)
        {
            throw new InvalidDataException($"{path} is at step {step} already, past Steps = {config.Steps}. Resume with Steps (or --steps) {(finished ? $"of {step} or more" : $"above {step}")}; the checkpoint's Steps is {saved.Steps}.");
        }

        if (config.Steps == step && saved.Steps != step)
        {
            // Nothing would be trained and the checkpoint would keep its Steps, so the next resume would take them again.
            throw new InvalidDataException(
                $"{path} is at step {step}, and Steps = {step} would end the run where it stands, before its planned {saved.Steps:N0}. " +
                $"To use the model as it is, export it ('ddim export --checkpoint {path} --out {Path.Combine(Path.GetDirectoryName(path) ?? ".", Trainer.ModelFileName)}'); to go on, resume with Steps (or --steps) above {step}.");
        }

        // Steps and CosineDecayFrom shape the learning-rate curve; a resume may change its future, never its past. A new
        // Steps for a decay that has begun would reshape the steps taken, so the decay is re-planned from this step.
        if (config.Steps != saved.Steps && config.CosineDecayFrom == saved.CosineDecayFrom && saved.CosineDecayFrom is { } from && step - 1 > from)
        {
            if (finished)
            {
                throw new InvalidDataException(
                    $"{path} finished its {saved.Steps:N0} steps, and its learning rate had decayed to {saved.LearningRateAt(step - 1):G3}: a longer run would go on at that rate. " +
                    $"Train more as a new phase from it instead, in another --out folder with --init-from {path} (a fresh optimiser, and the preset's own warm-up and decay).");
            }

            // A run re-planned at this very step and stopped before taking one is planned again from the same point:
            // its re-plan keeps the end it had before (and goes when the new Steps is that end again).
            var replans = saved.DecayReplans ?? [];
            if (replans.Count > 0 && replans[^1].AtStep == step)
            {
                var last = replans[^1];
                replans = config.Steps == last.PreviousSteps ? replans.Take(replans.Count - 1).ToList() : replans;
            }
            else
            {
                replans = [.. replans, new DecayReplan(step, saved.Steps)];
            }

            config = config with { DecayReplans = replans.Count > 0 ? replans : null };
            config.Validate();
            notes.Add(FormattableString.Invariant(
                $"The decay had begun, so it is re-planned: it was to end at step {saved.Steps:N0}, now at {config.Steps:N0}; from step {step:N0} the learning rate falls from {config.LearningRateAt(step - 1):G4} (step {step:N0}'s) to 0 along a new half-cosine."));
        }
        else if (config.CosineDecayFrom != saved.CosineDecayFrom)
        {
            // Allowed only while no step taken has decayed (checked below); said, since the preset is where it comes from.
            notes.Add(config.CosineDecayFrom is { } now
                ? FormattableString.Invariant($"CosineDecayFrom is {now} now, {saved.CosineDecayFrom?.ToString(CultureInfo.InvariantCulture) ?? "none"} in the checkpoint: the decay of this run starts there.")
                : FormattableString.Invariant($"CosineDecayFrom is left out now ({saved.CosineDecayFrom} in the checkpoint): the learning rate stays constant after the warm-up."));
        }

        for (var s = 0L; s < step; s++)
        {
            if (saved.LearningRateAt(s) != config.LearningRateAt(s))
            {
                // Moving the decay's start to the checkpoint or later only helps when no step taken has decayed yet.
                var notDecayedYet = saved.CosineDecayFrom is not { } savedFrom || savedFrom >= step - 1;
                // (Steps alone never gets here: before the decay it changes no step taken, and after it the decay is re-planned.)
                throw new InvalidDataException(
                    $"{path} is at step {step}, but this CosineDecayFrom would change the learning rate of step {s + 1}, already taken " +
                    $"({saved.LearningRateAt(s):R} → {config.LearningRateAt(s):R}). Keep " +
                    $"CosineDecayFrom = {saved.CosineDecayFrom?.ToString(CultureInfo.InvariantCulture) ?? "none"} as saved" +
                    (notDecayedYet ? $", or set it to {step} or more" : finished ? " (the decay has begun)" : " (the decay has begun; Steps may still change, and the decay is then re-planned from the rate it has reached)") +
                    ", or start a new --out folder.");
            }
        }

        if (file.Metadata["data_sha256"]?.GetValue<string>() != dataHash)
        {
            throw new InvalidDataException($"{path} was trained on other data (SHA-256 differs). Resume with the same data set, or start a new --out folder.");
        }

        if (CheckpointSections.FirstOrDefault(name => !file.Sections.ContainsKey(name)) is { } missing)
        {
            throw new InvalidDataException(
                $"{path} has no '{missing}' section, which an exact resume needs (a checkpoint written by something other than this trainer?). " +
                $"Start a new run from its weights instead, in another --out folder with --init-from {path}.");
        }

        ModelFile.Deserialize(model, file.Sections["model"], "checkpoint's model");
        ModelFile.Deserialize(ema, file.Sections["ema"], "checkpoint's EMA");
        using var state = BytesTensor(file.Sections["rng"]);
        generator.set_state(state);
        using var global = BytesTensor(file.Sections["rng_global"]);
        torch.random.set_rng_state(global);
        var window = file.Metadata["log_window"];
        return (step, (window?["loss_sum"]?.GetValue<double>() ?? 0, window?["steps"]?.GetValue<int>() ?? 0), config, file.Metadata[InitHashKey]?.GetValue<string>(), file.Sections["optimizer"],
            TimeSpan.FromSeconds(file.Metadata["elapsed_s"]?.GetValue<double>() ?? 0), notes); // 0 s for checkpoints saved before it was kept
    }

    /// <summary>
    /// Fills both networks from <see cref="TrainConfig.InitFrom"/>: a checkpoint gives its network and its EMA, an exported
    /// model its weights to both. Returns the file's SHA-256.
    /// </summary>
    internal static string InitializeFrom(string path, UNetConfig expected, UNet model, UNet ema)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"InitFrom names {path}, which does not exist (relative paths are from {Environment.CurrentDirectory}). " +
                "Point InitFrom (or --init-from) at a checkpoint.ddim or an exported .ddim model, or leave it out to start from random weights.", path);
        }

        var file = ModelFile.Load(path, out var sha256);
        var kind = file.Metadata["kind"]?.GetValue<string>();
        if (kind is not ("checkpoint" or "model"))
        {
            throw new InvalidDataException($"InitFrom: {path} is neither a training checkpoint nor an exported model (kind '{kind}').");
        }

        // Dropout is no part of the shape: a second phase may change it. Compared as configurations (a setting left out
        // equals its default written out), shown as JSON.
        string Shape(UNetConfig c) => JsonSerializer.Serialize(c with { Dropout = 0 }, ModelFile.Json);
        UNetConfig saved;
        try
        {
            saved = file.ModelConfig;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException)
        {
            throw new InvalidDataException($"InitFrom: {path} holds no valid network configuration: {e.Message}", e);
        }

        if (saved with { Dropout = 0 } != expected with { Dropout = 0 })
        {
            throw new InvalidDataException(
                $"InitFrom: {path} holds a network of another shape than this preset's Model. Copy its Model into the preset, or start from random weights.\n" +
                $"Saved: {Shape(saved)}\nPreset: {Shape(expected)}");
        }

        var (networkSection, emaSection) = kind == "checkpoint" ? ("model", "ema") : ("weights", "weights");
        if (!file.Sections.ContainsKey(networkSection) || !file.Sections.ContainsKey(emaSection))
        {
            throw new InvalidDataException($"InitFrom: {path} lacks its '{networkSection}' or '{emaSection}' weights; point InitFrom at a checkpoint.ddim or an exported model.");
        }

        ModelFile.Deserialize(model, file.Sections[networkSection], $"'{networkSection}' section of {path}:");
        ModelFile.Deserialize(ema, file.Sections[emaSection], $"'{emaSection}' section of {path}:");
        return sha256;
    }

    private static byte[] TensorBytes(Tensor t)
    {
        using (t)
        using (var bytes = t.to(ScalarType.Byte))
        {
            return bytes.data<byte>().ToArray();
        }
    }

    private static Tensor BytesTensor(byte[] bytes) => torch.tensor(bytes, dtype: ScalarType.Byte);
}
