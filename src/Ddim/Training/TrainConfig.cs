using System.Text.Json.Serialization;
using Ddim.Models;
using Ddim.Schedules;

namespace Ddim.Training;

/// <summary>
/// Everything that defines a training run. Saved inside every checkpoint; <see cref="Load"/> reads a preset file. The
/// defaults are a generic starting point; the runs this project made are its presets (presets/mnist.json, for one,
/// sets LearningRate 1e-3, WarmupSteps 200, 21,000 Steps, CosineDecayFrom 14,000 and Dropout 0).
/// </summary>
/// <param name="Model">The network's shape.</param>
/// <param name="Data">"mnist", "fashion-mnist", or a folder of same-size PNG images: what <c>ddim train</c> loads.
/// <see cref="Trainer.Run"/> trains on the dataset it is given whatever this says, and records this beside that
/// dataset's own name and SHA-256 (which a resume checks).</param>
/// <param name="Schedule">β schedule family (linear, as in DDPM/DDIM).</param>
/// <param name="TimeSteps">T, the number of diffusion steps (1000 in the papers).</param>
/// <param name="Steps">Total optimiser steps.</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="LearningRate">AdamW peak learning rate.</param>
/// <param name="WarmupSteps">Linear learning-rate warm-up from 0 over this many steps.</param>
/// <param name="WeightDecay">AdamW decoupled weight decay (θ ← θ − lr·λ·θ each step), on the convolution and linear weights only, not on biases or GroupNorm's gains and shifts. 0 in every preset.</param>
/// <param name="GradClip">Clip the global gradient norm to this value (0: off).</param>
/// <param name="EmaDecay">EMA decay of the weights used for sampling.</param>
/// <param name="EmaWarmup">When true the EMA decay is min(EmaDecay, (1+step)/(10+step)), so early EMA tracks the model; the warm-up reaches EmaDecay only at step (10·EmaDecay − 1)/(1 − EmaDecay) (17,990 for 0.9995), and the trainer says so when a run ends before.</param>
/// <param name="Seed">Seeds the generator for batches, timesteps and noise, and the global one (dropout).</param>
/// <param name="LogEvery">Write a loss-log line every N steps.</param>
/// <param name="CheckpointEvery">Save a checkpoint every N steps (and on Ctrl-C, and at the end).</param>
/// <param name="SampleEvery">Write a sample grid from the EMA model every N steps (0: never).</param>
/// <param name="SampleSteps">DDIM steps for those grids.</param>
/// <param name="CosineDecayFrom">
/// From this (0-based) step on, the learning rate is multiplied by ½·(1 + cos(π·(step − CosineDecayFrom)/(Steps −
/// CosineDecayFrom))): the full rate at CosineDecayFrom itself, falling towards 0 at Steps (the last step gets about
/// LearningRate·π²/(4·(Steps − CosineDecayFrom)²)). Null: constant after the warm-up. A resume may add or move it, and
/// change Steps, as long as the steps already taken keep their learning rates; a resume that changes Steps after the
/// decay has begun re-plans it instead (<see cref="DecayReplans"/>).
/// </param>
/// <param name="InitFrom">
/// Null: start from random weights. Otherwise a checkpoint (its network and EMA weights) or an exported model (its weights,
/// for both) that a new run starts from, e.g. a second phase after a finished run: step 0, a fresh optimiser and this
/// config's own warm-up and decay. The network shape must equal <see cref="Model"/> (Dropout may differ). Relative paths
/// are from the working folder; the file's SHA-256 is recorded in the run's checkpoints and model. Set
/// <see cref="EmaWarmup"/> to false to keep the file's EMA: with the warm-up the EMA restarts from the network. A resume
/// reads its own checkpoint and ignores this field (it keeps the value the run started with).
/// </param>
/// <param name="TimestepRange">
/// Null: t is drawn uniformly from 0 … TimeSteps − 1, the DDPM objective. [lo, hi]: uniformly from lo … hi − 1 only,
/// to fine-tune the network at some noise levels (e.g. the mid-noise steps where deterministic DDIM loses quality).
/// A model trained this way is accurate only there; use it for experiments, not as a general model.
/// </param>
/// <param name="Precision">
/// Number format of the forward and backward passes. <see cref="NetworkPrecision.BFloat16"/> is mixed precision: the
/// weights, gradients the optimiser sees, AdamW state and EMA stay float32. The default, Float32, is left out of saved
/// configurations, so files of float32 runs are as before.
/// </param>
/// <param name="DecayReplans">
/// Where resumes moved the end of a decay that had already begun, oldest first; null (left out of files) when none did.
/// The trainer writes these, not presets: a re-plan at step p keeps every rate before p and lets the rate fall from the
/// one step p − 1 had, along a new half-cosine, to 0 at the new end (<see cref="Steps"/>, or the next re-plan's
/// <see cref="DecayReplan.PreviousSteps"/>).
/// </param>
public sealed partial record TrainConfig(
    UNetConfig Model,
    string Data = "mnist",
    ScheduleKind Schedule = ScheduleKind.Linear,
    int TimeSteps = 1000,
    int Steps = 10000,
    int BatchSize = 64,
    double LearningRate = 5e-4,
    int WarmupSteps = 500,
    double WeightDecay = 0.0,
    double GradClip = 1.0,
    double EmaDecay = 0.999,
    bool EmaWarmup = true,
    long Seed = 0,
    int LogEvery = 50,
    int CheckpointEvery = 250,
    int SampleEvery = 1000,
    int SampleSteps = 50,
    int? CosineDecayFrom = null,
    string? InitFrom = null,
    int[]? TimestepRange = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] NetworkPrecision Precision = NetworkPrecision.Float32,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<DecayReplan>? DecayReplans = null)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the field to fix.</summary>
    public void Validate()
    {
        void Require(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentException($"Invalid training configuration: {message}");
            }
        }

        Require(Model is not null, "Model is missing: copy the \"Model\" block (channels, levels, attention) from presets/mnist.json.");
        Model!.Validate();

        // The U-Net adds attention where a level's feature maps have one of these sizes; a size no level has would
        // quietly add none. (Checked here, for new training runs, not when a saved model is loaded.)
        var sizes = Enumerable.Range(0, Model.Multipliers.Count).Select(level => Model.ImageSize >> level).ToList();
        Require(
            Model.Attention.All(sizes.Contains),
            $"Model.AttentionResolutions [{string.Join(", ", Model.Attention)}] names a size no level of this U-Net has: with ImageSize {Model.ImageSize} and " +
            $"{sizes.Count} levels its feature maps are {string.Join(", ", sizes)} pixels wide. Use sizes from that list, or [] for none (the middle block keeps its own unless MiddleAttention is false)" +
            (Model.AttentionResolutions is null ? " (left out, it is [7], the 28-pixel MNIST model's)." : "."));
        Require(Enum.IsDefined(Schedule), $"Schedule must be Linear or Cosine (got {Schedule}).");

        Require(TimeSteps >= 2, $"TimeSteps must be ≥ 2 (got {TimeSteps}).");
        Require(Steps >= 1, $"Steps must be ≥ 1 (got {Steps}).");
        Require(BatchSize >= 1, $"BatchSize must be ≥ 1 (got {BatchSize}).");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), $"LearningRate must be positive (got {LearningRate}).");
        Require(WarmupSteps >= 0, $"WarmupSteps must be ≥ 0 (got {WarmupSteps}).");
        Require(WeightDecay >= 0, $"WeightDecay must be ≥ 0 (got {WeightDecay}).");
        Require(GradClip >= 0, $"GradClip must be ≥ 0 (got {GradClip}).");
        Require(EmaDecay is >= 0 and < 1, $"EmaDecay must be in [0, 1) (got {EmaDecay}).");
        Require(LogEvery >= 1 && CheckpointEvery >= 1 && SampleEvery >= 0, "LogEvery and CheckpointEvery must be ≥ 1, SampleEvery ≥ 0.");
        Require(SampleSteps >= 1 && SampleSteps <= TimeSteps, $"SampleSteps must be in 1 … TimeSteps (got {SampleSteps}).");
        Require(
            CosineDecayFrom is null || (CosineDecayFrom >= 0 && CosineDecayFrom < Steps),
            $"CosineDecayFrom must be in 0 … Steps − 1 (got {CosineDecayFrom} with Steps = {Steps}): raise Steps (or --steps), " +
            "or lower CosineDecayFrom in the preset, or remove it for a constant learning rate.");
        Require(
            TimestepRange is null || (TimestepRange.Length == 2 && TimestepRange[0] >= 0 && TimestepRange[0] < TimestepRange[1] && TimestepRange[1] <= TimeSteps),
            $"TimestepRange must be [lo, hi] with 0 ≤ lo < hi ≤ TimeSteps = {TimeSteps}, t drawn from lo … hi − 1 (got [{string.Join(", ", TimestepRange ?? [])}]), or left out for all timesteps.");
        Require(Enum.IsDefined(Precision), $"Precision must be Float32 or BFloat16 (got {Precision}).");
        Require(InitFrom is null || InitFrom.Trim().Length > 0, "InitFrom must name a checkpoint or model file, or be left out (null) to start from random weights.");
        if (DecayReplans is { Count: > 0 } replans)
        {
            // Each stage's half-cosine needs a step count of at least 1: every re-plan after the one before, inside a
            // decay that had begun and not ended, and Steps after the last.
            Require(CosineDecayFrom is not null, "DecayReplans needs CosineDecayFrom: only a decay can be re-planned.");
            Require(replans.All(r => r is not null), "DecayReplans holds an empty (null) entry.");
            var after = CosineDecayFrom ?? 0;
            foreach (var r in replans)
            {
                Require(
                    r.AtStep > after && r.PreviousSteps > r.AtStep - 1,
                    $"DecayReplans: each re-plan must come after CosineDecayFrom and after the one before, inside the decay it re-plans (got AtStep {r.AtStep}, PreviousSteps {r.PreviousSteps} after step {after}). They are written by the trainer's resumes, oldest first.");
                after = (int)r.AtStep;
            }

            Require(Steps > after - 1, $"Steps = {Steps} ends before the last decay re-plan, at step {after}: Steps must be {after} or more.");
        }
    }

    /// <summary>
    /// Learning rate at a (0-based) step: LearningRate × the linear warm-up factor × (with CosineDecayFrom) the half-cosine
    /// factor. The two factors multiply, so a decay that starts inside the warm-up overlaps it.
    /// </summary>
    public double LearningRateAt(long step)
    {
        var warmup = WarmupSteps == 0 ? 1.0 : Math.Min(1.0, (step + 1.0) / WarmupSteps);
        return LearningRate * warmup * DecayFactorAt(step);
    }

    /// <summary>
    /// The decay's factor at a (0-based) step: 1 before <see cref="CosineDecayFrom"/>, then a half-cosine from 1 to 0 at
    /// <see cref="Steps"/>; after a re-plan at step p, the factor of step p − 1 times a half-cosine from there to the new end.
    /// </summary>
    public double DecayFactorAt(long step)
    {
        if (CosineDecayFrom is not { } from || step < from)
        {
            return 1.0;
        }

        // factor = scale · ½(1 + cos(π·(step − origin)/(end − origin))) within each stage.
        var (origin, scale) = ((long)from, 1.0);
        foreach (var replan in DecayReplans ?? [])
        {
            if (step < replan.AtStep)
            {
                return scale * CosineDecay.Factor(step - origin, replan.PreviousSteps - origin);
            }

            (origin, scale) = (replan.AtStep - 1, scale * CosineDecay.Factor(replan.AtStep - 1 - origin, replan.PreviousSteps - origin));
        }

        return scale * CosineDecay.Factor(step - origin, Steps - origin);
    }

    /// <summary>EMA decay at a (0-based) step.</summary>
    public double EmaDecayAt(long step) => EmaWarmup ? Math.Min(EmaDecay, (1.0 + step) / (10.0 + step)) : EmaDecay;

    /// <summary>
    /// The first step at which <see cref="EmaDecayAt"/> is <see cref="EmaDecay"/>: 0 without the warm-up, else
    /// (10·EmaDecay − 1)/(1 − EmaDecay) rounded up (17,990 for 0.9995), found by the rule itself so that rounding in
    /// that quotient cannot move it.
    /// </summary>
    public long EmaDecayReachedAt
    {
        get
        {
            var step = EmaWarmup ? Math.Max(0, (long)Math.Floor(((10 * EmaDecay) - 1) / (1 - EmaDecay)) - 1) : 0;
            while (EmaDecayAt(step) < EmaDecay)
            {
                step++;
            }

            return step;
        }
    }
}

/// <summary>A resume that moved the end of a learning-rate decay after it had begun (<see cref="TrainConfig.DecayReplans"/>).</summary>
/// <param name="AtStep">The first (0-based) step of the resumed run: the checkpoint's step.</param>
/// <param name="PreviousSteps">Where the decay was to end until then.</param>
public sealed record DecayReplan(long AtStep, int PreviousSteps);
