using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Data;
using Ddim.Imaging;
using Ddim.Models;
using Ddim.Sampling;
using Ddim.Schedules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ddim.Training;

/// <summary>Progress of a training run, reported after every step.</summary>
/// <param name="Step">Steps done so far.</param>
/// <param name="TotalSteps">Steps planned.</param>
/// <param name="Loss">This step's loss.</param>
/// <param name="LearningRate">This step's learning rate.</param>
/// <param name="ImagesPerSecond">Throughput since this process started training.</param>
public sealed record TrainProgress(long Step, long TotalSteps, double Loss, double LearningRate, double ImagesPerSecond);

/// <summary>How a run ended.</summary>
/// <param name="Step">The step reached.</param>
/// <param name="Completed">True when all steps ran; false when cancelled (a checkpoint was saved).</param>
/// <param name="CheckpointPath">The latest checkpoint.</param>
/// <param name="ModelPath">The exported EMA model, when completed.</param>
public sealed record TrainResult(long Step, bool Completed, string CheckpointPath, string? ModelPath);

/// <summary>The loss or its gradient went NaN or infinite; the message names the checkpoint to start again from, if any.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>
/// DDPM training (Ho et al. 2020, Algorithm 1): x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε with t ~ U{0, …, T−1},
/// loss = ‖ε − ε_θ(x_t, t)‖², AdamW with warm-up and gradient clipping, and an EMA copy for sampling.
/// A run lives in one folder: checkpoint.ddim (and checkpoint.prev.ddim, the one before it), loss.jsonl, samples/, and
/// model.ddim at the end.
/// </summary>
public static class Trainer
{
    /// <summary>File name of the resumable checkpoint inside the run folder.</summary>
    public const string CheckpointFile = "checkpoint.ddim";

    /// <summary>
    /// File name of the checkpoint saved before the last one. A loss that turns NaN is only seen one step after the
    /// weights that cause it were saved, so the last checkpoint can hold them; this one is where to start again.
    /// </summary>
    public const string PreviousCheckpointFile = "checkpoint.prev.ddim";

    /// <summary>
    /// The error for a loss or gradient that is not finite at step <paramref name="step"/> + 1, naming the checkpoint to
    /// start again from: the last one, unless it was saved right before this step (its weights are the ones that just
    /// diverged), then the one before it.
    /// </summary>
    internal static TrainingDivergedException Divergence(string what, long step, string checkpointPath, string previousPath, long? checkpointStep)
    {
        string kept, start;
        if (!File.Exists(checkpointPath))
        {
            (kept, start) = ("No checkpoint had been saved yet. ", string.Empty);
        }
        else if (checkpointStep != step)
        {
            (kept, start) = ($"The last good checkpoint ({checkpointPath}) is kept. ", checkpointPath);
        }
        else if (TrainingCheckpoint.SavedStep(previousPath) < step)
        {
            (kept, start) = ($"The last checkpoint ({checkpointPath}) was saved right before this step, so it holds the weights that diverged; the one before it is kept ({previousPath}). ", previousPath);
        }
        else
        {
            (kept, start) = ($"The last checkpoint ({checkpointPath}) was saved right before this step, so it holds the weights that diverged, and no earlier one is kept. ", string.Empty);
        }

        return new TrainingDivergedException(
            $"{what} at step {step + 1}. {kept}" +
            "A resume must use the same preset and would diverge again, so lower LearningRate (or set a smaller, non-zero GradClip) " +
            "in the preset and start a new run in another --out folder" +
            (start.Length > 0 ? $", from that checkpoint's weights with --init-from {start}." : ", from random weights."));
    }

    /// <summary>File name of the exported EMA model inside the run folder.</summary>
    public const string ModelFileName = "model.ddim";

    // glibc keeps libtorch's freed activations in its arenas, so an untrimmed process grows; but trimming after every
    // step hands ~185k pages back that the next step faults in again (measured: 180k minor faults/s, a fifth of the CPU
    // time in the kernel). Trimming every few steps bounds the growth at a fraction of that cost.
    private const int TrimEvery = 20;

    /// <summary>Trains, or with <paramref name="resume"/> continues exactly from the folder's checkpoint.</summary>
    /// <remarks>
    /// It seeds torch's global generator (initial weights and dropout draw from it), or restores the checkpoint's state
    /// of it, and leaves it so: other code in the process that draws from the global generator draws on from there.
    /// </remarks>
    public static TrainResult Run(
        TrainConfig config,
        ImageDataset data,
        string outDir,
        bool resume = false,
        Action<TrainProgress>? progress = null,
        Action<string>? log = null,
        Device? device = null,
        CancellationToken cancel = default)
    {
        config.Validate();
        log ??= _ => { };
        device ??= CPU;
        RequireDataFitsModel(config.Model, data);
        if (config.SampleEvery > 0)
        {
            // Find out before the first step, not after hours of training.
            ImageGrid.RequireNativeLibrary($"SampleEvery = {config.SampleEvery} writes PNG sample grids", "set SampleEvery to 0 in the preset");
        }
        var checkpointPath = Path.Combine(outDir, CheckpointFile);
        var previousPath = Path.Combine(outDir, PreviousCheckpointFile);
        var logPath = Path.Combine(outDir, LossLog.FileName);
        var dataHash = data.Hash;

        // --- Set up: schedule, networks, optimiser, generators, data on the device.
        // Seed the global generator before building the networks: it draws their initial weights (and, later, dropout).
        var schedule = NoiseSchedule.Create(config.Schedule, config.TimeSteps);
        torch.random.manual_seed(config.Seed);
        using var model = new UNet(config.Model);
        using var ema = new UNet(config.Model);
        using var generator = new Generator((ulong)config.Seed); // CPU: see Draws
        CopyWeights(model, ema);
        ema.eval();

        // Mixed precision: a bfloat16 working copy runs forward and backward; the float32 model keeps the weights that
        // AdamW updates. Its own initial weights are never used, so building it must not draw from the global generator:
        // float32 and bfloat16 runs of one seed then draw the same dropout masks.
        using var working = config.Precision == NetworkPrecision.BFloat16 ? WithoutGlobalDraws(() => new UNet(config.Model)) : null;
        long step = 0;
        byte[]? optimizerState = null;

        (double Sum, int Count) logWindow = default; // the loss log's open window, carried by each checkpoint
        string? initHash = null;

        // Training time before this process: loss.jsonl's elapsed_s goes on across resumes.
        var elapsedBefore = TimeSpan.Zero;
        List<string> resumeNotes = [];

        RequireRunFolder(outDir, resume);
        if (resume)
        {
            (step, logWindow, config, initHash, optimizerState, elapsedBefore, resumeNotes) = TrainingCheckpoint.Restore(checkpointPath, config, dataHash, model, ema, generator);
        }
        else
        {
            if (config.DecayReplans is not null)
            {
                throw new ArgumentException("DecayReplans record how a resume re-planned a run's decay; a new run has none. Leave them out (null), or resume the run they belong to.", nameof(config));
            }

            if (config.InitFrom is { } source)
            {
                initHash = TrainingCheckpoint.InitializeFrom(source, config.Model, model, ema);
                log($"Starting from the weights of {source} (SHA-256 {initHash[..12]}…) with a fresh optimiser at step 0.");
            }
        }

        // Every check has passed: only now does the run folder come to exist (a refused run leaves nothing behind).
        Directory.CreateDirectory(outDir);

        // A process killed while saving (a SIGKILL skips the clean-up) leaves its temporary file; the file it was
        // replacing is whole, since each save is atomic.
        if (new[] { checkpointPath, previousPath, logPath, Path.Combine(outDir, ModelFileName) }.Sum(Atomic.RemoveLeftovers) is > 0 and var freed)
        {
            var size = freed >= 1_000_000 ? FormattableString.Invariant($"{freed / 1e6:0.#} MB") : FormattableString.Invariant($"{freed:N0} bytes");
            log($"Removed {size} of half-written files left by a process killed while saving them.");
        }

        // Weights are loaded on the CPU and moved once; the one-buffer views and the optimiser come after that, because
        // moving replaces the parameters' storage (and the optimiser keys its state by the parameter tensors).
        model.to(device);
        ema.to(device);
        working?.to(device).to(ScalarType.BFloat16);
        var forwardDtype = working is null ? ScalarType.Float32 : ScalarType.BFloat16;

        // Each network's weights (and gradients) as one buffer: clipping, AdamW and the EMA update are a few ops a step
        // instead of a few per parameter tensor (~240 in the U-Net), each of which a GPU would launch as a kernel.
        using var weights = new FlatParameters(model);
        using var emaWeights = new FlatParameters(ema, gradients: false);
        using var workingWeights = working is null ? null : new FlatParameters(working);
        // AdamW's own decay would reach every element of the one buffer, biases and GroupNorm's gains too; the decay is
        // applied below, masked to the matrices, exactly as AdamW applies it (θ ← θ − lr·λ·θ before the Adam update).
        using var optimizer = optim.AdamW([weights.All], lr: config.LearningRate, weight_decay: 0);
        using var decayMask = config.WeightDecay > 0 ? weights.MatrixMask() : null;
        var lossLog = new LossLog(logPath, config.LogEvery, logWindow);
        if (optimizerState is not null)
        {
            try
            {
                using var reader = new BinaryReader(new MemoryStream(optimizerState));
                weights.LoadAdamW(optimizer, reader);
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or EndOfStreamException)
            {
                throw new InvalidDataException(
                    $"{checkpointPath}: its optimiser state does not fit this network ({e.Message.Split('\n')[0]}). Restore the checkpoint from a copy, or start a new --out folder.", e);
            }

            // Only now, with the whole state loaded, does the resume touch the run folder.
            lossLog.TruncateTo(step);
            log($"Resumed from {checkpointPath} at step {step}.");
            resumeNotes.ForEach(log);
        }

        log($"U-Net with {model.ParameterCount:N0} parameters; {data.Count:N0} images; T = {schedule.T}; {config.Steps:N0} steps of {config.BatchSize}.");
        if (config.EmaDecayReachedAt is var reached && reached > config.Steps - 1)
        {
            log(FormattableString.Invariant($"EMA: with the warm-up (1 + s)/(10 + s) the decay reaches {config.EmaDecay} only at step {reached:N0}; this run's last step uses {config.EmaDecayAt(config.Steps - 1):0.#####}."));
        }

        if (working is not null)
        {
            log("Mixed precision: forward and backward in bfloat16; weights, AdamW and EMA in float32." + NetworkPrecisions.BFloat16Hint(device));
        }

        // t is drawn from tLow … tHigh − 1: all T steps, or the preset's TimestepRange.
        var (tLow, tHigh) = config.TimestepRange is [var lo, var hi] ? (lo, hi) : (0, schedule.T);
        if (config.TimestepRange is not null)
        {
            log($"Timesteps drawn from {tLow} … {tHigh - 1} only (TimestepRange): the loss is not comparable with a run over all of them.");
        }

        using var images = data.ToTensor(device);
        using var alphaBars = schedule.AlphaBarTensor(ScalarType.Float32, device);
        var clock = Stopwatch.StartNew();
        var startStep = step;

        // The state as it stands: the periodic, final and Ctrl-C checkpoints are the same save.
        // The step whose weights checkpoint.ddim holds; the one it replaces is kept as checkpoint.prev.ddim.
        long? checkpointStep = resume ? step : null;
        void Checkpoint() => Saving("the checkpoint", () =>
        {
            if (File.Exists(checkpointPath) && checkpointStep != step)
            {
                Atomic.Write(previousPath, copy =>
                {
                    using var last = File.OpenRead(checkpointPath);
                    last.CopyTo(copy);
                });
            }

            TrainingCheckpoint.Save(checkpointPath, config, schedule, data.Name, dataHash, initHash, step, lossLog.Window, elapsedBefore + clock.Elapsed, model, ema, weights, optimizer, generator);
            checkpointStep = step;
        });

        // A file of the run that cannot be written (a full disk, most often) stops it with what is kept: every write is
        // atomic, so the checkpoint saved before is whole.
        void Saving(string what, Action write)
        {
            try
            {
                write();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException(
                    $"Saving {what} of step {step} failed ({e.Message}). " +
                    (File.Exists(checkpointPath)
                        ? $"{checkpointPath} still holds the checkpoint saved before, whole: free some space (or fix the folder) and run the same command with --resume."
                        : "No checkpoint had been saved yet: free some space (or fix the folder) and start the run again."), e);
            }
        }

        // --- The loop: one DDPM step at a time, everything inside a dispose scope.
        model.train();
        working?.train();
        while (step < config.Steps)
        {
            if (cancel.IsCancellationRequested)
            {
                Checkpoint();
                log($"Interrupted: checkpoint saved at step {step} in {checkpointPath}. Continue with --resume.");
                return new TrainResult(step, false, checkpointPath, null);
            }

            double loss;
            var lr = config.LearningRateAt(step);
            using (var scope = torch.NewDisposeScope())
            {
                var index = Draws.Integers(data.Count, config.BatchSize, device, generator);
                var x0 = images.index_select(0, index);
                var t = Draws.Integers(tHigh - tLow, config.BatchSize, device, generator).add_(tLow);
                var noise = Draws.Normal(x0.shape, x0.dtype, device, generator);
                var abar = alphaBars.index_select(0, t).view(-1, 1, 1, 1);
                var xt = NoiseSchedule.Diffuse(x0, noise, abar);

                // The network that runs this step: the float32 model, or its bfloat16 copy refreshed from it.
                var net = working ?? model;
                if (workingWeights is not null)
                {
                    using (torch.no_grad())
                    {
                        workingWeights.All.copy_(weights.All);
                    }

                    workingWeights.Grad.zero_();
                }

                // Casts to a tensor's own dtype return it as it is, so the float32 path is unchanged.
                var lossTensor = nn.functional.mse_loss(net.forward(xt.to(forwardDtype), t).to(ScalarType.Float32), noise);

                loss = lossTensor.item<float>();
                TrainingDivergedException Diverged(string what) => Divergence(what, step, checkpointPath, previousPath, checkpointStep);
                if (!double.IsFinite(loss))
                {
                    throw Diverged($"The loss became {loss}");
                }

                optimizer.zero_grad();
                lossTensor.backward();
                if (workingWeights is not null)
                {
                    // ∂loss/∂θ from the bfloat16 copy, cast to float32 for the float32 weights.
                    weights.Grad.copy_(workingWeights.Grad);
                }

                // A finite loss can still have an infinite or NaN gradient, which the update would write into the
                // weights and the EMA (and the next checkpoint): stop before it, as for the loss.
                var gradientFinite = config.GradClip > 0
                    ? double.IsFinite(nn.utils.clip_grad_norm_([weights.All], config.GradClip))
                    : weights.Grad.isfinite().all().item<bool>();
                if (!gradientFinite)
                {
                    throw Diverged($"The loss was {loss} but its gradient was not finite");
                }

                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = lr;
                }

                if (decayMask is not null)
                {
                    using (torch.no_grad())
                    {
                        weights.All.sub_(weights.All.mul(decayMask).mul_(lr * config.WeightDecay));
                    }
                }

                optimizer.step();
                UpdateEma(weights.All, emaWeights.All, config.EmaDecayAt(step));
            }

            step++;
            if (step % TrimEvery == 0)
            {
                Native.NativeMemory.Trim();
            }

            var rate = (step - startStep) * config.BatchSize / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            progress?.Invoke(new TrainProgress(step, config.Steps, loss, lr, rate));
            lossLog.Add(loss);
            lossLog.WriteIfDue(step, config.Steps, lr, rate, elapsedBefore + clock.Elapsed);

            // The grid before the checkpoint: a process killed in between resumes from an earlier checkpoint and draws
            // this step's grid again, where the other order would leave it never drawn.
            if (config.SampleEvery > 0 && (step % config.SampleEvery == 0 || step == config.Steps))
            {
                var gridPath = Path.Combine(outDir, "samples", $"step-{step:D7}.png");
                var written = true;
                Saving("the sample grid", () => written = WriteSampleGrid(gridPath, ema, schedule, config, device)); // the EMA only: the trained network stays in train mode
                if (!written)
                {
                    log($"Step {step}: the EMA's sample grid holds NaN, so {gridPath} was not written (the loss is finite; watch it, and the next grid).");
                }
            }

            if (step % config.CheckpointEvery == 0 || step == config.Steps)
            {
                Checkpoint();
            }
        }

        var modelPath = Path.Combine(outDir, ModelFileName);
        ExportModel(modelPath, config, dataHash, initHash, step, ema, schedule, data.Name);
        log($"Done: {step} steps. EMA model written to {modelPath}.");
        return new TrainResult(step, true, checkpointPath, modelPath);
    }

    /// <summary>
    /// Refuses a run folder that does not fit the request, before any data is loaded: a resume needs its checkpoint, and a
    /// new run must not replace an earlier run's checkpoint, log or model. <see cref="Run"/> checks it too.
    /// </summary>
    public static void RequireRunFolder(string outDir, bool resume)
    {
        var checkpointPath = Path.Combine(outDir, CheckpointFile);
        if (resume)
        {
            if (!File.Exists(checkpointPath))
            {
                throw new FileNotFoundException($"--resume was given but there is no checkpoint at {checkpointPath}.", checkpointPath);
            }
        }
        else if (File.Exists(checkpointPath))
        {
            throw new InvalidOperationException($"{outDir} already holds a checkpoint. Pass --resume to continue it, or choose another --out folder.");
        }
        else if (new[] { LossLog.FileName, PreviousCheckpointFile, ModelFileName }.Select(f => Path.Combine(outDir, f)).FirstOrDefault(File.Exists) is { } earlier)
        {
            throw new InvalidOperationException($"{outDir} holds an earlier run's {Path.GetFileName(earlier)} but no checkpoint to resume: a new run would replace it. Choose another --out folder, or move that run's files away.");
        }
    }

    /// <summary>
    /// Writes one set of weights alone as an inference model file (what <c>ddim sample --model</c> reads): the EMA
    /// weights, or with <paramref name="raw"/> the optimiser's own (for comparing the two).
    /// <paramref name="initHash"/> is the SHA-256 of the <see cref="TrainConfig.InitFrom"/> file, when the run started from one.
    /// </summary>
    public static void ExportModel(string path, TrainConfig config, string dataHash, string? initHash, long step, UNet weights, NoiseSchedule schedule, string dataName, bool raw = false)
    {
        var training = new JsonObject
        {
            ["data"] = dataName,
            ["data_sha256"] = dataHash,
            ["steps"] = step,
            ["weights"] = raw ? "raw" : "ema",
            ["config"] = JsonSerializer.SerializeToNode(config, ModelFile.Json),
        };
        if (initHash is not null)
        {
            training[TrainingCheckpoint.InitHashKey] = initHash;
        }

        ModelFile.SaveNetwork(path, weights, schedule, training);
    }

    /// <summary>
    /// Samples a grid of 64 digits from the EMA model with DDIM (η = 0) from a fixed seed and writes it; returns false,
    /// writing nothing, when the samples hold NaN.
    /// </summary>
    public static bool WriteSampleGrid(string path, UNet ema, NoiseSchedule schedule, TrainConfig config, Device device)
    {
        using var scope = torch.NewDisposeScope();
        ema.eval();
        using var gen = new Generator(1234);
        var c = config.Model;
        var xT = Draws.Normal([64, c.ImageChannels, c.ImageSize, c.ImageSize], ScalarType.Float32, device, gen);
        var x0 = DdimSampler.Sample((x, t) => ema.forward(x, t), xT, schedule, Timetable.Create(Spacing.Seed, schedule.T, config.SampleSteps));
        if (x0.isnan().any().item<bool>())
        {
            // No pixel shows NaN. The loss and its gradient were finite, so training goes on (a resume would draw the same
            // grid from the same weights again): the run's log says so, and the next grid may be whole.
            return false;
        }

        Atomic.WriteAllBytes(path, ImageGrid.Grid(x0.cpu(), columns: 8));
        return true;
    }

    private static void RequireDataFitsModel(UNetConfig model, ImageDataset data)
    {
        if (data.Channels != model.ImageChannels || data.Height != model.ImageSize || data.Width != model.ImageSize)
        {
            throw new ArgumentException(
                data.Height != data.Width
                    ? $"The data are {data.Channels}×{data.Height}×{data.Width}, but the U-Net takes square images ({model.ImageSize}×{model.ImageSize}): crop or pad the images to a square, then set Model.ImageSize to their side."
                    : $"The data are {data.Channels}×{data.Height}×{data.Width} but the model expects {model.ImageChannels}×{model.ImageSize}×{model.ImageSize}; set Model.ImageChannels and Model.ImageSize to match.");
        }
    }

    private static T WithoutGlobalDraws<T>(Func<T> build)
    {
        using var state = torch.random.get_rng_state();
        var built = build();
        torch.random.set_rng_state(state);
        return built;
    }

    private static void CopyWeights(UNet from, UNet to)
    {
        using var noGrad = torch.no_grad();
        foreach (var (p, q) in from.parameters().Zip(to.parameters()))
        {
            q.copy_(p);
        }
    }

    /// <summary>θ_ema ← decay·θ_ema + (1 − decay)·θ, on two networks' weight buffers (<see cref="FlatParameters.All"/>).</summary>
    internal static void UpdateEma(Tensor weights, Tensor ema, double decay)
    {
        using var noGrad = torch.no_grad();
        ema.mul_(decay).add_(weights, alpha: 1 - decay);
    }
}
