using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Data;
using Ddim.Models;
using Ddim.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public sealed class TrainerTests : OneTorchThread
{
    private static readonly UNetConfig TinyNet = new(
        ImageChannels: 1, ImageSize: 8, BaseChannels: 8, ChannelMultipliers: [1, 2], BlocksPerLevel: 1,
        AttentionResolutions: [4], Dropout: 0.1, Groups: 4);

    /// <summary>A tiny, fast run: T = 100, batches of 16, no sample grids, a log line every 4 steps.</summary>
    private static TrainConfig Tiny(int steps) => new(
        TinyNet, Data: "synthetic", TimeSteps: 100, Steps: steps, BatchSize: 16, LearningRate: 2e-3, WarmupSteps: 5,
        GradClip: 1.0, EmaDecay: 0.9, Seed: 42, LogEvery: 4, CheckpointEvery: 1000, SampleEvery: 0, SampleSteps: 10);

    /// <summary>64 images 1×8×8: a bright vertical or horizontal bar at a position that depends on the index.</summary>
    private static ImageDataset Bars(int count = 64, byte background = 0)
    {
        var pixels = new byte[count * 64];
        for (var n = 0; n < count; n++)
        {
            var at = (n / 2) % 8;
            for (var y = 0; y < 8; y++)
            {
                for (var x = 0; x < 8; x++)
                {
                    pixels[(n * 64) + (y * 8) + x] = (n % 2 == 0 ? x : y) == at ? (byte)255 : background;
                }
            }
        }

        return new ImageDataset("bars", pixels, count, 1, 8, 8);
    }

    private static List<double> Train(TrainConfig config, ImageDataset data, string dir, bool resume = false, int cancelAfter = 0, List<string>? log = null)
    {
        var losses = new List<double>();
        using var cancel = new CancellationTokenSource();
        Trainer.Run(config, data, dir, resume, progress: p =>
        {
            losses.Add(p.Loss);
            Assert.Equal(config.Steps, p.TotalSteps);
            if (p.Step == cancelAfter)
            {
                cancel.Cancel();
            }
        }, log: log is null ? null : log.Add, cancel: cancel.Token);
        return losses;
    }

    /// <summary>The deterministic fields of loss.jsonl (throughput and elapsed time are wall-clock).</summary>
    private static List<(long Step, double Loss, double Lr)> LossLog(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "loss.jsonl"))
            .Select(l => JsonNode.Parse(l)!)
            .Select(j => (j["step"]!.GetValue<long>(), j["loss"]!.GetValue<double>(), j["lr"]!.GetValue<double>()))
            .ToList();

    private static ModelFile Checkpoint(string dir) => ModelFile.Load(Path.Combine(dir, Trainer.CheckpointFile));

    [Fact]
    public void Given_a_tiny_synthetic_set_When_trained_for_60_steps_Then_the_loss_falls()
    {
        // Given
        using var dir = new TempFolder();

        // When
        var losses = Train(Tiny(60), Bars(), dir.Path);

        // Then: an untrained network predicts ε̂ = 0, so the loss starts near E[ε²] = 1.
        Assert.Equal(60, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        var first = losses.Take(10).Average();
        var last = losses.TakeLast(10).Average();
        Assert.InRange(first, 0.7, 1.3);
        Assert.True(last < 0.5 * first, $"mean loss of the first 10 steps {first:F4}, of the last 10 {last:F4}");
        Assert.Equal(60 / 4, LossLog(dir.Path).Count);
    }

    [Fact]
    public void Given_a_finished_run_When_its_checkpoint_is_loaded_into_fresh_networks_Then_everything_is_bit_exact()
    {
        // Given
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        var config = Tiny(6);
        Train(config, Bars(), dir.Path);

        // When
        var checkpoint = Checkpoint(dir.Path);
        var exported = ModelFile.Load(Path.Combine(dir.Path, Trainer.ModelFileName));
        using var ema = new UNet(checkpoint.ModelConfig);
        using var model = new UNet(checkpoint.ModelConfig);
        using var weights = new UNet(exported.ModelConfig);
        ModelFile.Deserialize(ema, checkpoint.Sections["ema"], "ema");
        ModelFile.Deserialize(model, checkpoint.Sections["model"], "model");
        ModelFile.Deserialize(weights, exported.Sections["weights"], "weights");

        // Then: re-saving reproduces the bytes, the export is the checkpoint's EMA, and the EMA is not the raw model.
        Assert.Equal("checkpoint", checkpoint.Metadata["kind"]!.GetValue<string>());
        Assert.Equal(6, checkpoint.Metadata["step"]!.GetValue<long>());
        Assert.Equal(Bars().Hash, checkpoint.Metadata["data_sha256"]!.GetValue<string>());
        Assert.Equal(checkpoint.Sections["ema"], ModelFile.Serialize(ema));
        Assert.Equal(checkpoint.Sections["model"], ModelFile.Serialize(model));
        Assert.Equal(checkpoint.Sections["ema"], exported.Sections["weights"]);
        foreach (var ((name, a), (_, b)) in ema.named_parameters().Zip(weights.named_parameters()))
        {
            Assert.True(a.eq(b).all().item<bool>(), $"{name} differs");
        }

        Assert.NotEqual(checkpoint.Sections["ema"], checkpoint.Sections["model"]);
        Assert.True(
            ema.parameters().Zip(model.parameters()).Any(p => !p.First.eq(p.Second).all().item<bool>()),
            "the EMA should lag the model after 6 steps with decay 0.9");
    }

    [Fact]
    public void Given_the_same_config_and_seed_When_trained_twice_Then_losses_and_weights_are_identical()
    {
        using var a = new TempFolder();
        using var b = new TempFolder();

        var first = Train(Tiny(8), Bars(), a.Path);
        var second = Train(Tiny(8), Bars(), b.Path);

        Assert.Equal(first, second);
        Assert.Equal(Checkpoint(a.Path).Sections["ema"], Checkpoint(b.Path).Sections["ema"]);
    }

    [Fact]
    public void Given_weight_decay_When_one_step_is_trained_Then_it_shrinks_the_matrices_as_AdamW_does_and_leaves_biases_and_norms_alone()
    {
        // Given: known starting weights θ0 (a one-step run's, so that no matrix is zero), and the same one-step run from
        // them without and with decay: the gradient, and so Adam's update u, is the same in both.
        using var start = new TempFolder();
        using var plain = new TempFolder();
        using var withDecay = new TempFolder();
        using var scope = NewDisposeScope();
        const double lambda = 25;
        Train(Tiny(1), Bars(), start.Path);
        var config = Tiny(1) with { InitFrom = Path.Combine(start.Path, Trainer.CheckpointFile) };
        Train(config, Bars(), plain.Path);

        // When
        Train(config with { WeightDecay = lambda }, Bars(), withDecay.Path);

        // Then: matrices lose exactly lr·λ·θ0, decayed before the update as AdamW does (decaying after it would take
        // lr·λ·(θ0 − u), about 4e-6 off here); 1-D parameters are bit-identical.
        using var theta0 = Network(Checkpoint(start.Path).Sections["model"]);
        using var a = Network(Checkpoint(plain.Path).Sections["model"]);
        using var b = Network(Checkpoint(withDecay.Path).Sections["model"]);
        var shrink = config.LearningRateAt(0) * lambda;
        var decayed = 0;
        foreach (var (((name, p), (_, q)), (_, p0)) in a.named_parameters().Zip(b.named_parameters()).Zip(theta0.named_parameters()))
        {
            if (p.dim() >= 2)
            {
                decayed += p.eq(q).all().item<bool>() ? 0 : 1;
                var expected = p0.mul(shrink);
                Assert.True((p - q - expected).abs().max().item<float>() < 5e-7, $"{name}: not θ0·lr·λ less");
            }
            else
            {
                Assert.True(p.eq(q).all().item<bool>(), $"{name} ({p.dim()}-D) was decayed");
            }
        }

        Assert.True(decayed > 10, $"{decayed} matrices decayed");
    }

    [Fact]
    public void Given_a_weight_decay_checkpoint_from_before_decay_skipped_biases_When_resumed_Then_refused_and_one_from_since_resumes()
    {
        // Given: a run with weight decay stopped at step 2, and a copy of its checkpoint without the mark of the masked decay.
        using var dir = new TempFolder();
        var config = Tiny(4) with { WeightDecay = 0.1 };
        Train(config, Bars(), dir.Path, cancelAfter: 2);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var old = Checkpoint(dir.Path);
        Assert.Equal("matrices", old.Metadata["weight_decay_on"]!.GetValue<string>());
        var since = File.ReadAllBytes(path);
        old.Metadata.Remove("weight_decay_on");
        old.Save(path);

        // When
        var error = Assert.Throws<InvalidDataException>(() => Train(config, Bars(), dir.Path, resume: true));
        File.WriteAllBytes(path, since);
        Train(config, Bars(), dir.Path, resume: true);

        // Then
        Assert.Contains("on every parameter", error.Message);
        Assert.Contains("--init-from", error.Message);
        Assert.Equal(4, Checkpoint(dir.Path).Metadata["step"]!.GetValue<long>());
    }

    [Fact]
    public void Given_a_timestep_range_When_trained_Then_all_timesteps_is_the_default_and_a_narrow_range_trains_differently()
    {
        using var a = new TempFolder();
        using var b = new TempFolder();
        using var c = new TempFolder();
        var config = Tiny(8);

        var uniform = Train(config, Bars(), a.Path);
        var allSteps = Train(config with { TimestepRange = [0, config.TimeSteps] }, Bars(), b.Path);
        var highNoise = Train(config with { TimestepRange = [config.TimeSteps - 2, config.TimeSteps] }, Bars(), c.Path);

        Assert.Equal(uniform, allSteps);
        Assert.Equal(Checkpoint(a.Path).Sections["ema"], Checkpoint(b.Path).Sections["ema"]);
        Assert.NotEqual(uniform, highNoise);
        Assert.Equal(new[] { config.TimeSteps - 2, config.TimeSteps }, ModelFile.Load(Path.Combine(c.Path, Trainer.CheckpointFile)).Metadata["train"]!["TimestepRange"]!.AsArray().Select(n => n!.GetValue<int>()));
    }

    [Fact]
    public void Given_bfloat16_precision_When_a_tiny_set_is_trained_Then_the_loss_falls_and_the_run_records_its_precision()
    {
        // Given
        using var dir = new TempFolder();
        var config = Tiny(60) with { Precision = NetworkPrecision.BFloat16 };

        // When
        var losses = Train(config, Bars(), dir.Path);

        // Then: it learns as float32 does, and the checkpoint and the model say how it was trained.
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        var first = losses.Take(10).Average();
        var last = losses.TakeLast(10).Average();
        Assert.True(last < 0.5 * first, $"mean loss of the first 10 steps {first:F4}, of the last 10 {last:F4}");
        Assert.Equal("BFloat16", Checkpoint(dir.Path).Metadata["train"]!["Precision"]!.GetValue<string>());
        var model = ModelFile.Load(Path.Combine(dir.Path, Trainer.ModelFileName));
        Assert.Equal("BFloat16", model.Metadata["training"]!["config"]!["Precision"]!.GetValue<string>());
    }

    [Fact]
    public void Given_bfloat16_precision_When_trained_beside_float32_Then_the_losses_are_close_but_not_equal()
    {
        using var a = new TempFolder();
        using var b = new TempFolder();

        var full = Train(Tiny(8), Bars(), a.Path);
        var mixed = Train(Tiny(8) with { Precision = NetworkPrecision.BFloat16 }, Bars(), b.Path);

        // Same batches, timesteps, noise and dropout masks; only the arithmetic differs (bfloat16 keeps 8 significant bits).
        Assert.NotEqual(full, mixed);
        Assert.All(full.Zip(mixed), p => Assert.True(Math.Abs(p.First - p.Second) < 0.05 * p.First, $"float32 {p.First:F5}, bfloat16 {p.Second:F5}"));

        // The dropout masks came from the same draws: the global generator (which drives dropout) ends where float32's did.
        Assert.Equal(Checkpoint(a.Path).Sections["rng_global"], Checkpoint(b.Path).Sections["rng_global"]);

        // Both save float32 weights (sections of the same size); a float32 run's files do not name its precision.
        foreach (var section in new[] { "model", "ema", "optimizer" })
        {
            Assert.Equal(Checkpoint(a.Path).Sections[section].Length, Checkpoint(b.Path).Sections[section].Length);
        }

        Assert.Null(Checkpoint(a.Path).Metadata["train"]!["Precision"]);
    }

    [Fact]
    public void Given_a_bfloat16_run_cancelled_and_resumed_When_compared_with_an_uninterrupted_one_Then_everything_is_identical()
    {
        using var straight = new TempFolder();
        using var resumed = new TempFolder();
        var config = Tiny(12) with { Precision = NetworkPrecision.BFloat16 };
        var expected = Train(config, Bars(), straight.Path);

        var losses = Train(config, Bars(), resumed.Path, cancelAfter: 7);
        losses.AddRange(Train(config, Bars(), resumed.Path, resume: true));

        Assert.Equal(expected, losses);
        Assert.Equal(LossLog(straight.Path), LossLog(resumed.Path));
        foreach (var section in new[] { "model", "ema", "optimizer", "rng", "rng_global" })
        {
            Assert.True(Checkpoint(straight.Path).Sections[section].AsSpan().SequenceEqual(Checkpoint(resumed.Path).Sections[section]), $"section '{section}' differs");
        }
    }

    [Fact]
    public void Given_a_float32_checkpoint_When_resumed_in_bfloat16_Then_made_with_another_configuration()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);

        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(4) with { Precision = NetworkPrecision.BFloat16 }, Bars(), dir.Path, resume: true));

        Assert.Contains("another configuration", error.Message);
    }

    public static TheoryData<string, int> Interruptions => new()
    {
        // Steps = 6 then Steps = 12: the first run ends (and logs) at 6, between two log lines (every 4 steps).
        { "shorter run", 6 },
        { "shorter run", 8 },

        // Ctrl-C after 7 steps, mid-way through a log window; after 4, right on a log line.
        { "cancelled", 7 },
        { "cancelled", 4 },
    };

    [Theory]
    [MemberData(nameof(Interruptions))]
    public void Given_a_run_interrupted_and_resumed_When_compared_with_an_uninterrupted_run_Then_losses_log_and_weights_are_identical(string how, int stopAt)
    {
        // Given: the uninterrupted run, 12 steps.
        const int n = 12;
        using var straight = new TempFolder();
        using var resumed = new TempFolder();
        var expected = Train(Tiny(n), Bars(), straight.Path);

        // When: the same run stopped after stopAt steps, then resumed to n in a fresh call.
        var before = how == "cancelled"
            ? Train(Tiny(n), Bars(), resumed.Path, cancelAfter: stopAt)
            : Train(Tiny(stopAt), Bars(), resumed.Path);
        Assert.Equal(stopAt, Checkpoint(resumed.Path).Metadata["step"]!.GetValue<long>());
        var after = Train(Tiny(n), Bars(), resumed.Path, resume: true);

        // Then: exactly the same numbers, not merely close ones.
        Assert.Equal(stopAt, before.Count);
        Assert.Equal(expected, before.Concat(after).ToList());
        Assert.Equal(LossLog(straight.Path), LossLog(resumed.Path));
        var a = Checkpoint(straight.Path);
        var b = Checkpoint(resumed.Path);
        Assert.Equal(n, b.Metadata["step"]!.GetValue<long>());
        foreach (var section in new[] { "model", "ema", "optimizer", "rng", "rng_global" })
        {
            Assert.True(a.Sections[section].AsSpan().SequenceEqual(b.Sections[section]), $"section '{section}' differs");
        }

        Assert.Equal(
            ModelFile.Load(Path.Combine(straight.Path, Trainer.ModelFileName)).Sections["weights"],
            ModelFile.Load(Path.Combine(resumed.Path, Trainer.ModelFileName)).Sections["weights"]);
    }

    [Fact]
    public void Given_a_run_killed_after_log_lines_its_last_checkpoint_lacks_When_resumed_Then_those_lines_go_and_it_equals_the_uninterrupted_run()
    {
        // Given: a run killed (no checkpoint on the way out) at step 10, after its log lines at 8 and 10, with its last
        // checkpoint at step 5: made from a run stopped at 10, whose checkpoint is replaced by the same run's at 5
        using var straight = new TempFolder();
        using var killed = new TempFolder();
        using var atFive = new TempFolder();
        var config = Tiny(12) with { LogEvery = 2 };
        var expected = Train(config, Bars(), straight.Path);
        Train(config, Bars(), killed.Path, cancelAfter: 10);
        var lost = Train(config, Bars(), atFive.Path, cancelAfter: 5);
        File.Copy(Path.Combine(atFive.Path, Trainer.CheckpointFile), Path.Combine(killed.Path, Trainer.CheckpointFile), overwrite: true);
        Assert.Equal([2L, 4, 6, 8, 10], LossLog(killed.Path).Select(l => l.Step));

        // When
        var losses = lost.Concat(Train(config, Bars(), killed.Path, resume: true)).ToList();

        // Then: steps 6–10 trained again, exactly as before; the log has each line once
        Assert.Equal(expected, losses);
        Assert.Equal(LossLog(straight.Path), LossLog(killed.Path));
        Assert.Equal(Checkpoint(straight.Path).Sections["ema"], Checkpoint(killed.Path).Sections["ema"]);
    }

    [Fact]
    public void Given_a_run_stopped_twice_between_log_lines_When_resumed_each_time_Then_it_equals_the_uninterrupted_run()
    {
        using var straight = new TempFolder();
        using var resumed = new TempFolder();
        var expected = Train(Tiny(12), Bars(), straight.Path);

        var losses = Train(Tiny(6), Bars(), resumed.Path);
        losses.AddRange(Train(Tiny(9), Bars(), resumed.Path, resume: true));
        Assert.Equal([4L, 8, 9], LossLog(resumed.Path).Select(l => l.Step));
        losses.AddRange(Train(Tiny(12), Bars(), resumed.Path, resume: true));

        Assert.Equal(expected, losses);
        Assert.Equal(LossLog(straight.Path), LossLog(resumed.Path));
        Assert.Equal(Checkpoint(straight.Path).Sections["ema"], Checkpoint(resumed.Path).Sections["ema"]);
    }

    [Fact]
    public void Given_a_finished_run_continued_and_stopped_before_its_next_log_line_When_resumed_Then_the_old_partial_line_is_still_replaced()
    {
        // Given: a run to 6 (lines 4 and a partial 6), continued to 12 but stopped after step 7 (checkpoint at 7, no new line)
        using var straight = new TempFolder();
        using var resumed = new TempFolder();
        var expected = Train(Tiny(12), Bars(), straight.Path);
        var losses = Train(Tiny(6), Bars(), resumed.Path);
        losses.AddRange(Train(Tiny(12), Bars(), resumed.Path, resume: true, cancelAfter: 7));
        Assert.Equal(7, Checkpoint(resumed.Path).Metadata["step"]!.GetValue<long>());

        // When
        losses.AddRange(Train(Tiny(12), Bars(), resumed.Path, resume: true));

        // Then: the log is the uninterrupted run's (4, 8, 12), without the stale partial line 6
        Assert.Equal(expected, losses);
        Assert.Equal(LossLog(straight.Path), LossLog(resumed.Path));
    }

    [Fact]
    public void Given_a_checkpoint_after_1000_s_of_training_When_resumed_Then_the_log_and_the_next_checkpoint_count_on_from_1000_s()
    {
        // Given: a run stopped at step 6, whose checkpoint says it had trained for 1,000 s
        using var dir = new TempFolder();
        Train(Tiny(6), Bars(), dir.Path);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var checkpoint = ModelFile.Load(path);
        Assert.True(checkpoint.Metadata["elapsed_s"]!.GetValue<double>() >= 0);
        checkpoint.Metadata["elapsed_s"] = 1000.0;
        checkpoint.Save(path);

        // When
        Train(Tiny(12), Bars(), dir.Path, resume: true);

        // Then: elapsed_s goes on from the checkpoint instead of restarting at 0
        var elapsed = File.ReadAllLines(Path.Combine(dir.Path, "loss.jsonl")).Select(l => (Step: JsonNode.Parse(l)!["step"]!.GetValue<long>(), Seconds: JsonNode.Parse(l)!["elapsed_s"]!.GetValue<double>())).ToList();
        Assert.Equal([4L, 8, 12], elapsed.Select(e => e.Step));
        Assert.All(elapsed.Skip(1), e => Assert.True(e.Seconds >= 1000, $"step {e.Step}: elapsed_s {e.Seconds}"));
        Assert.True(Checkpoint(dir.Path).Metadata["elapsed_s"]!.GetValue<double>() >= 1000);
    }

    [Fact]
    public void Given_a_checkpoint_saved_before_elapsed_time_was_kept_When_resumed_Then_it_counts_from_0_as_before()
    {
        // Given: a run cancelled at step 6 (its checkpoint keeps the time trained), then the key removed as in an older checkpoint
        using var dir = new TempFolder();
        Train(Tiny(12), Bars(), dir.Path, cancelAfter: 6);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var checkpoint = ModelFile.Load(path);
        var kept = checkpoint.Metadata["elapsed_s"]!.GetValue<double>();
        checkpoint.Metadata.Remove("elapsed_s");
        checkpoint.Save(path);

        // When
        Train(Tiny(12), Bars(), dir.Path, resume: true);

        // Then: the cancelled run had kept its time, and the older form resumes (its time restarts, as it always did)
        Assert.True(kept > 0, $"elapsed_s {kept}");
        Assert.Equal([4L, 8, 12], LossLog(dir.Path).Select(l => l.Step));
        Assert.True(Checkpoint(dir.Path).Metadata["elapsed_s"]!.GetValue<double>() >= 0);
    }

    [Fact]
    public void Given_a_finished_run_When_resumed_with_the_same_steps_Then_nothing_is_trained_and_the_log_is_kept()
    {
        using var dir = new TempFolder();
        Train(Tiny(6), Bars(), dir.Path);
        var log = LossLog(dir.Path);
        var ema = Checkpoint(dir.Path).Sections["ema"];

        var losses = Train(Tiny(6), Bars(), dir.Path, resume: true);

        Assert.Empty(losses);
        Assert.Equal([4L, 6], log.Select(l => l.Step));
        Assert.Equal(log, LossLog(dir.Path));
        Assert.Equal(ema, ModelFile.Load(Path.Combine(dir.Path, Trainer.ModelFileName)).Sections["weights"]);
    }

    [Fact]
    public void Given_EMA_weights_that_sample_NaN_When_the_sample_grid_is_drawn_Then_nothing_is_written_and_it_says_so()
    {
        // Given: a tiny EMA network with one weight NaN (a finite loss can come with such an EMA only rarely, but then
        // the grid must not stop the run: a resume would draw the same grid again)
        using var dir = new TempFolder();
        using var ema = new UNet(TinyNet);
        using (torch.no_grad())
        {
            ema.parameters().First().view(-1)[0] = torch.tensor(float.NaN);
        }

        var path = dir.File("samples/step-0000001.png");

        // When
        var written = Trainer.WriteSampleGrid(path, ema, Ddim.Schedules.NoiseSchedule.Linear(100), Tiny(6), CPU);

        // Then
        Assert.False(written);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Given_a_checkpoint_and_its_model_When_info_reads_them_Then_it_names_the_kind_the_step_the_training_and_the_sections()
    {
        // Given: a finished tiny run (its checkpoint and exported model)
        using var dir = new TempFolder();
        Train(Tiny(6), Bars(), dir.Path);
        var checkpoint = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var json = dir.File("info.json");

        // When
        var (checkpointCode, checkpointInfo) = CliRunner.RunCapturingOutput("info", checkpoint, "--json", json);
        var (modelCode, modelInfo) = CliRunner.RunCapturingOutput("info", Path.Combine(dir.Path, Trainer.ModelFileName));

        // Then
        Assert.Equal((0, 0), (checkpointCode, modelCode));
        Assert.Contains("a training checkpoint at step 6 of 6: model, EMA, AdamW moments and RNG state", checkpointInfo);
        Assert.Contains("6 steps on bars", checkpointInfo);
        Assert.Contains("attention at 4 px", checkpointInfo);
        Assert.Contains("optimizer", checkpointInfo);
        Assert.Contains("a trained model: its EMA weights", modelInfo);
        Assert.Contains("from random weights; batch 16", modelInfo);
        Assert.Contains("EMA 0.9 with warm-up (which reached only 0.4 by its last step)", modelInfo); // (1 + 5)/(10 + 5) at step 5
        var root = JsonNode.Parse(File.ReadAllText(json))!;
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(checkpoint))), root["sha256"]!.GetValue<string>());
        Assert.Equal("checkpoint", root["metadata"]!["kind"]!.GetValue<string>());
        Assert.Equal(6, root["metadata"]!["step"]!.GetValue<long>());
    }

    [Fact]
    public void Given_a_log_whose_last_line_was_torn_by_a_crash_When_resumed_Then_the_torn_line_goes_and_a_bad_earlier_line_is_a_clear_error()
    {
        // Given: a finished run, then half a line appended (a crash mid-append)
        using var dir = new TempFolder();
        Train(Tiny(6), Bars(), dir.Path);
        var log = LossLog(dir.Path);
        var path = Path.Combine(dir.Path, "loss.jsonl");
        File.AppendAllText(path, "{\"step\":8,\"lo");

        // When: resumed
        Train(Tiny(6), Bars(), dir.Path, resume: true);

        // Then: the torn line is gone and the rest kept; a bad line before the last is not guessed at
        Assert.Equal(log, LossLog(dir.Path));
        File.WriteAllText(path, "not json\n" + File.ReadAllText(path));
        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(6), Bars(), dir.Path, resume: true));
        Assert.Contains("loss.jsonl line 1 is not a log line", error.Message);
    }

    [Fact]
    public void Given_a_checkpoint_with_a_flipped_byte_When_resuming_Then_corrupt_or_truncated()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 3] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(4), Bars(), dir.Path, resume: true));

        Assert.Contains("corrupt or truncated", error.Message);
        Assert.Contains(Trainer.CheckpointFile, error.Message);
    }

    [Fact]
    public void Given_a_truncated_checkpoint_When_resuming_Then_corrupt_or_truncated()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(4), Bars(), dir.Path, resume: true));

        Assert.Contains("corrupt or truncated", error.Message);
    }

    [Fact]
    public void Given_a_checkpoint_whose_network_has_a_setting_this_build_does_not_know_When_resumed_or_exported_Then_both_refuse_it()
    {
        // Given: a checkpoint as a newer Ddim might write it, with a network setting in its training configuration
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var file = ModelFile.Load(path);
        file.Metadata["train"]!["Model"]!["SkipAfterAttention"] = true;
        file.Save(path);

        // When
        var resume = Assert.Throws<InvalidDataException>(() => Train(Tiny(3), Bars(), dir.Path, resume: true));
        var (exportCode, exportError) = CliRunner.Run("export", "--checkpoint", path, "--out", Path.Combine(dir.Path, "out.ddim"));

        // Then: neither drops the setting and goes on
        Assert.Contains("('train.Model') has a setting this Ddim does not know", resume.Message);
        Assert.Contains("written by a newer Ddim", resume.Message);
        Assert.Equal(1, exportCode);
        Assert.Contains("written by a newer Ddim", exportError);
        Assert.False(File.Exists(Path.Combine(dir.Path, "out.ddim")));
    }

    [Fact]
    public void Given_a_half_written_checkpoint_of_a_killed_process_When_resuming_Then_it_is_removed_and_one_of_a_live_process_is_kept()
    {
        // Given: beside the checkpoint, the temporary file of a save cut short in a process that no longer runs, and one
        // of this (running) process
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        var checkpoint = Path.GetFullPath(Path.Combine(dir.Path, Trainer.CheckpointFile));
        var dead = Atomic.TempPath(checkpoint, int.MaxValue);
        var live = Atomic.TempPath(checkpoint, Environment.ProcessId);
        File.WriteAllBytes(dead, new byte[1000]);
        File.WriteAllBytes(live, new byte[10]);
        var messages = new List<string>();

        // When
        Trainer.Run(Tiny(3), Bars(), dir.Path, resume: true, log: messages.Add);

        // Then
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(live));
        Assert.Contains(messages, m => m == "Removed 1,000 bytes of half-written files left by a process killed while saving them.");
    }

    [Fact]
    public void Given_a_checkpoint_that_cannot_be_written_When_training_Then_the_error_says_what_is_kept_and_how_to_go_on()
    {
        // Given: a folder standing where the checkpoint would go, so that the save's final rename fails as a full disk's would
        using var dir = new TempFolder();
        Directory.CreateDirectory(Path.Combine(dir.Path, Trainer.CheckpointFile));

        // When
        var error = Assert.Throws<IOException>(() => Train(Tiny(2) with { CheckpointEvery = 1 }, Bars(), dir.Path));

        // Then
        Assert.StartsWith("Saving the checkpoint of step 1 failed (", error.Message);
        Assert.EndsWith("No checkpoint had been saved yet: free some space (or fix the folder) and start the run again.", error.Message);
    }

    [Fact]
    public void Given_a_checkpoint_without_its_generator_state_When_resuming_Then_the_missing_section_is_named_with_the_way_out()
    {
        // Given: a checkpoint whose "rng" section was left out by whatever wrote it
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var file = ModelFile.Load(path);
        file.Sections.Remove("rng");
        file.Save(path);

        // When
        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(4), Bars(), dir.Path, resume: true));

        // Then
        Assert.Contains("has no 'rng' section, which an exact resume needs", error.Message);
        Assert.Contains($"--init-from {path}", error.Message);
    }

    [Fact]
    public void Given_a_checkpoint_of_another_model_config_When_resuming_Then_made_with_another_configuration()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        var wider = Tiny(4) with { Model = TinyNet with { BaseChannels = 16 } };

        var error = Assert.Throws<InvalidDataException>(() => Train(wider, Bars(), dir.Path, resume: true));

        Assert.Contains("was made with another configuration", error.Message);
        Assert.Contains("only Steps, CosineDecayFrom, CheckpointEvery, SampleEvery, SampleSteps may change", error.Message);
    }

    [Fact]
    public void Given_a_constant_rate_run_When_resumed_with_a_cosine_decay_from_its_step_Then_it_equals_a_straight_run_with_that_decay()
    {
        // Given: a straight 12-step run that decays from step 6, and a constant-rate run stopped at step 6.
        using var straight = new TempFolder();
        using var resumed = new TempFolder();
        var decaying = Tiny(12) with { CosineDecayFrom = 6 };
        var expected = Train(decaying, Bars(), straight.Path);
        var losses = Train(Tiny(6), Bars(), resumed.Path);

        // When: the second run is resumed with the decay added.
        losses.AddRange(Train(decaying, Bars(), resumed.Path, resume: true));

        // Then: the same losses, log and weights, bit for bit; the rate really fell.
        Assert.Equal(expected, losses);
        Assert.Equal(LossLog(straight.Path), LossLog(resumed.Path));
        Assert.Equal(Checkpoint(straight.Path).Sections["ema"], Checkpoint(resumed.Path).Sections["ema"]);
        Assert.True(LossLog(resumed.Path)[^1].Lr < 0.1 * 2e-3);
    }

    [Theory]
    [InlineData(null, 3, 12, 5, true)]   // a decay from 0-based step 3 first lowers step 4 (the 5th), before the checkpoint's 6
    [InlineData(4, 6, 8, 6, false)]      // moving a decay that has begun reshapes 0-based step 5 (the 6th)
    [InlineData(4, 2, 12, 4, false)]     // and so does moving it earlier (0-based step 3 decays then), with more Steps or not
    public void Given_a_checkpoint_at_step_6_When_resumed_with_a_learning_rate_curve_that_changes_a_step_taken_Then_a_clear_error(
        int? savedFrom, int newFrom, int newSteps, int firstChanged, bool canMoveTheDecay)
    {
        // Given: a run cancelled after 6 of its 8 steps.
        using var dir = new TempFolder();
        Train(Tiny(8) with { CosineDecayFrom = savedFrom }, Bars(), dir.Path, cancelAfter: 6);

        // When
        var error = Assert.Throws<InvalidDataException>(
            () => Train(Tiny(newSteps) with { CosineDecayFrom = newFrom }, Bars(), dir.Path, resume: true));

        // Then: the first step that would change is named (1-based, like the log), with what to do instead.
        Assert.Contains($"is at step 6, but this CosineDecayFrom would change the learning rate of step {firstChanged}, already taken", error.Message);
        Assert.Contains("Keep CosineDecayFrom = " + (savedFrom?.ToString() ?? "none") + " as saved", error.Message);
        Assert.Equal(canMoveTheDecay, error.Message.Contains("or set it to 6 or more"));
        Assert.Equal(!canMoveTheDecay, error.Message.Contains("Steps may still change"));
    }

    [Theory]
    [InlineData(16)]
    [InlineData(10)]
    public void Given_a_checkpoint_inside_the_decay_When_resumed_with_other_Steps_Then_the_decay_is_re_planned_from_the_rate_it_had_reached(int newSteps)
    {
        // Given: 12 steps decaying from 0-based step 4, stopped after 8
        using var dir = new TempFolder();
        var planned = Tiny(12) with { CosineDecayFrom = 4 };
        Train(planned, Bars(), dir.Path, cancelAfter: 8);
        var before = LossLog(dir.Path);

        // When: resumed with more (or fewer) Steps
        var messages = new List<string>();
        var losses = Train(planned with { Steps = newSteps }, Bars(), dir.Path, resume: true, log: messages);

        // Then: the checkpoint records the re-plan, the steps taken keep their rates, and the rate goes on falling
        // from where it was to near 0 at the new end
        var saved = Checkpoint(dir.Path).Metadata["train"]!.Deserialize<TrainConfig>(ModelFile.Json)!;
        Assert.Equal([new DecayReplan(8, 12)], saved.DecayReplans);
        Assert.Equal(newSteps, saved.Steps);
        Assert.Equal(newSteps - 8, losses.Count);
        var log = LossLog(dir.Path);
        Assert.Equal(before.Where(l => l.Step <= 8), log.Where(l => l.Step <= 8));
        var rates = Enumerable.Range(0, newSteps).Select(s => saved.LearningRateAt(s)).ToList();
        Assert.All(Enumerable.Range(0, 8), s => Assert.Equal(planned.LearningRateAt(s), rates[s]));
        Assert.All(Enumerable.Range(5, newSteps - 5), s => Assert.True(rates[s] < rates[s - 1]));
        Assert.Equal(1.0, rates[^1] / (planned.LearningRateAt(7) * CosineDecay.Factor(newSteps - 8, newSteps - 7)), 12);
        Assert.Equal(rates[newSteps - 1], log[^1].Lr);
        Assert.Contains($"The decay had begun, so it is re-planned: it was to end at step 12, now at {newSteps}; from step 8 the learning rate falls from ", string.Join("\n", messages));
        var (code, info) = CliRunner.RunCapturingOutput("info", Path.Combine(dir.Path, Trainer.CheckpointFile));
        Assert.True(code == 0, info);
        Assert.Contains($"half-cosine decay from step 4, re-planned at step 8 (it was to end at 12) to end at {newSteps}", info);
    }

    [Fact]
    public void Given_a_re_planned_run_stopped_again_When_resumed_without_new_Steps_Then_it_equals_the_re_planned_run_left_alone()
    {
        // Given: one run stopped at 8 of 12 and resumed to 16; another stopped at 8, resumed to 16, and stopped at 12
        using var once = new TempFolder();
        using var twice = new TempFolder();
        var planned = Tiny(12) with { CosineDecayFrom = 4 };
        var expected = Train(planned, Bars(), once.Path, cancelAfter: 8);
        expected.AddRange(Train(planned with { Steps = 16 }, Bars(), once.Path, resume: true));
        var losses = Train(planned, Bars(), twice.Path, cancelAfter: 8);
        losses.AddRange(Train(planned with { Steps = 16 }, Bars(), twice.Path, resume: true, cancelAfter: 12));

        // When: resumed with the same 16 Steps (the preset's run folder keeps its re-plan)
        losses.AddRange(Train(planned with { Steps = 16 }, Bars(), twice.Path, resume: true));

        // Then: the same losses, log and weights, bit for bit, and one re-plan on record
        Assert.Equal(expected, losses);
        Assert.Equal(LossLog(once.Path), LossLog(twice.Path));
        Assert.Equal(Checkpoint(once.Path).Sections["ema"], Checkpoint(twice.Path).Sections["ema"]);
        Assert.Single(Checkpoint(twice.Path).Metadata["train"]!["DecayReplans"]!.AsArray());
    }

    [Fact]
    public void Given_a_re_plan_stopped_before_its_first_step_When_resumed_with_other_Steps_Then_it_is_planned_again_from_the_same_point()
    {
        // Given: 12 steps decaying from 4, stopped at 8, resumed with a mistaken 300 Steps and stopped before any step
        using var typo = new TempFolder();
        using var direct = new TempFolder();
        using var original = new TempFolder();
        var planned = Tiny(12) with { CosineDecayFrom = 4 };
        var losses = Train(planned, Bars(), typo.Path, cancelAfter: 8);
        using (var stopNow = new CancellationTokenSource())
        {
            stopNow.Cancel();
            Trainer.Run(planned with { Steps = 300 }, Bars(), typo.Path, resume: true, cancel: stopNow.Token);
        }

        Assert.Equal([new DecayReplan(8, 12)], Checkpoint(typo.Path).Metadata["train"].Deserialize<TrainConfig>(ModelFile.Json)!.DecayReplans);
        var expected = Train(planned, Bars(), direct.Path, cancelAfter: 8);
        expected.AddRange(Train(planned with { Steps = 16 }, Bars(), direct.Path, resume: true));

        // When: resumed with the Steps meant
        losses.AddRange(Train(planned with { Steps = 16 }, Bars(), typo.Path, resume: true));

        // Then: one re-plan, from step 8's end of 12, as if the mistake had not been made
        Assert.Equal(expected, losses);
        Assert.Equal(Checkpoint(direct.Path).Sections["ema"], Checkpoint(typo.Path).Sections["ema"]);
        Assert.Equal([new DecayReplan(8, 12)], Checkpoint(typo.Path).Metadata["train"].Deserialize<TrainConfig>(ModelFile.Json)!.DecayReplans);

        // ... and back to the first plan, the re-plan goes: the run is the original one
        var first = Train(planned, Bars(), original.Path);
        using var back = new TempFolder();
        var again = Train(planned, Bars(), back.Path, cancelAfter: 8);
        using (var stopNow = new CancellationTokenSource())
        {
            stopNow.Cancel();
            Trainer.Run(planned with { Steps = 300 }, Bars(), back.Path, resume: true, cancel: stopNow.Token);
        }

        again.AddRange(Train(planned, Bars(), back.Path, resume: true));
        Assert.Equal(first, again);
        Assert.Null(Checkpoint(back.Path).Metadata["train"]!["DecayReplans"]);
        Assert.Equal(Checkpoint(original.Path).Sections["ema"], Checkpoint(back.Path).Sections["ema"]);
    }

    [Fact]
    public void Given_decay_re_plans_in_a_new_run_or_a_preset_When_read_Then_refused_as_a_resume_s_record()
    {
        // Given
        using var dir = new TempFolder();
        var config = Tiny(12) with { CosineDecayFrom = 4, DecayReplans = [new DecayReplan(8, 10)] };
        var preset = Path.Combine(dir.Path, "preset.json");
        File.WriteAllText(preset, JsonSerializer.Serialize(config, ModelFile.Json));

        // When
        var run = Assert.Throws<ArgumentException>(() => Train(config, Bars(), Path.Combine(dir.Path, "run")));
        var read = Assert.Throws<InvalidDataException>(() => TrainConfig.Load(preset));

        // Then
        Assert.StartsWith("DecayReplans record how a resume re-planned a run's decay; a new run has none.", run.Message);
        Assert.Contains("has DecayReplans, which a checkpoint keeps", read.Message);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "run")));
    }

    [Fact]
    public void Given_a_sample_grid_that_cannot_be_written_When_a_resumed_run_reaches_it_Then_the_error_says_the_checkpoint_before_is_whole()
    {
        // Given: a run at step 2, and a file standing where its samples folder would go
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        File.WriteAllText(Path.Combine(dir.Path, "samples"), "not a folder");

        // When
        var error = Assert.Throws<IOException>(() => Train(Tiny(4) with { SampleEvery = 3 }, Bars(), dir.Path, resume: true));

        // Then
        Assert.StartsWith("Saving the sample grid of step 3 failed (", error.Message);
        Assert.EndsWith($"{Path.Combine(dir.Path, Trainer.CheckpointFile)} still holds the checkpoint saved before, whole: free some space (or fix the folder) and run the same command with --resume.", error.Message);
        Assert.Equal(2, Checkpoint(dir.Path).Metadata["step"]!.GetValue<long>());
    }

    [Fact]
    public void Given_a_finished_or_decaying_run_When_resumed_with_Steps_that_add_nothing_Then_refused_with_what_to_do_instead()
    {
        // Given: a finished run, and a run stopped inside its decay
        using var finished = new TempFolder();
        using var stopped = new TempFolder();
        var planned = Tiny(8) with { CosineDecayFrom = 4 };
        Train(planned, Bars(), finished.Path);
        Train(planned, Bars(), stopped.Path, cancelAfter: 6);

        // When: the finished run is given more Steps, and the stopped one Steps where it stands
        var longer = Assert.Throws<InvalidDataException>(() => Train(planned with { Steps = 12 }, Bars(), finished.Path, resume: true));
        var here = Assert.Throws<InvalidDataException>(() => Train(planned with { Steps = 6 }, Bars(), stopped.Path, resume: true));

        // Then: a new phase from the finished run, an export of the stopped one
        Assert.Contains("finished its 8 steps", longer.Message);
        Assert.Contains($"--init-from {Path.Combine(finished.Path, Trainer.CheckpointFile)}", longer.Message);
        Assert.Contains("would end the run where it stands", here.Message);
        Assert.Contains("ddim export --checkpoint", here.Message);
    }

    [Fact]
    public void Given_a_stopped_run_When_resumed_with_other_checkpoint_and_sample_intervals_Then_it_trains_as_the_uninterrupted_run()
    {
        // Given
        using var straight = new TempFolder();
        using var resumed = new TempFolder();
        var expected = Train(Tiny(8), Bars(), straight.Path);
        var losses = Train(Tiny(8), Bars(), resumed.Path, cancelAfter: 4);

        // When: checkpoints every 2 steps and sample grids every 3, where the run had neither: a grid at step 6 has
        // training after it, which it must not disturb (its generator, the network's mode)
        losses.AddRange(Train(Tiny(8) with { CheckpointEvery = 2, SampleEvery = 3, SampleSteps = 5 }, Bars(), resumed.Path, resume: true));

        // Then: the same training; the grids were written, mid-run and at the end
        Assert.Equal(expected, losses);
        Assert.Equal(Checkpoint(straight.Path).Sections["ema"], Checkpoint(resumed.Path).Sections["ema"]);
        Assert.True(File.Exists(Path.Combine(resumed.Path, "samples", "step-0000006.png")));
        Assert.True(File.Exists(Path.Combine(resumed.Path, "samples", "step-0000008.png")));
    }

    [Fact]
    public void Given_a_checkpoint_before_the_decay_When_resumed_with_more_Steps_and_a_later_decay_Then_it_equals_a_straight_run_of_the_new_preset()
    {
        // Given: a run planned as 8 steps decaying from 6, stopped at step 5.
        using var straight = new TempFolder();
        using var resumed = new TempFolder();
        var longer = Tiny(12) with { CosineDecayFrom = 8 };
        var expected = Train(longer, Bars(), straight.Path);
        var losses = Train(Tiny(8) with { CosineDecayFrom = 6 }, Bars(), resumed.Path, cancelAfter: 5);

        // When: resumed with Steps and the decay's start both moved.
        var messages = new List<string>();
        losses.AddRange(Train(longer, Bars(), resumed.Path, resume: true, log: messages));

        // Then: said, and done as the new preset would have from the start
        Assert.Contains("CosineDecayFrom is 8 now, 6 in the checkpoint: the decay of this run starts there.", messages);
        Assert.Equal(expected, losses);
        Assert.Equal(Checkpoint(straight.Path).Sections["ema"], Checkpoint(resumed.Path).Sections["ema"]);
    }

    [Fact]
    public void Given_a_checkpoint_with_another_learning_rate_When_resuming_Then_made_with_another_configuration()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);

        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(4) with { LearningRate = 1e-3 }, Bars(), dir.Path, resume: true));

        Assert.Contains("was made with another configuration", error.Message);
    }

    [Fact]
    public void Given_a_checkpoint_trained_on_other_data_When_resuming_Then_trained_on_other_data()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);

        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(4), Bars(background: 1), dir.Path, resume: true));

        Assert.Contains("was trained on other data", error.Message);
    }

    [Fact]
    public void Given_a_checkpoint_whose_optimiser_state_is_damaged_When_resuming_Then_a_clear_error_and_the_log_is_untouched()
    {
        // Given: a finished 2-step run whose checkpoint (still checksummed) holds a garbled AdamW state
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        var checkpoint = Checkpoint(dir.Path);
        checkpoint.Sections["optimizer"] = [1, 2, 3];
        checkpoint.Save(Path.Combine(dir.Path, Trainer.CheckpointFile));
        File.AppendAllText(Path.Combine(dir.Path, "loss.jsonl"), "{\"step\":3,\"loss\":1,\"lr\":0.001}\n"); // past the checkpoint, as a killed run leaves: a resume would drop it
        var log = File.ReadAllText(Path.Combine(dir.Path, "loss.jsonl"));

        // When
        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(4), Bars(), dir.Path, resume: true));

        // Then
        Assert.Contains("optimiser state does not fit", error.Message);
        Assert.Contains(Trainer.CheckpointFile, error.Message);
        Assert.Equal(log, File.ReadAllText(Path.Combine(dir.Path, "loss.jsonl")));
    }

    [Fact]
    public void Given_an_exported_model_in_place_of_the_checkpoint_When_resuming_Then_not_a_training_checkpoint()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        File.Copy(Path.Combine(dir.Path, Trainer.ModelFileName), Path.Combine(dir.Path, Trainer.CheckpointFile), overwrite: true);

        var error = Assert.Throws<InvalidDataException>(() => Train(Tiny(4), Bars(), dir.Path, resume: true));

        Assert.Contains("is an exported model, not a training checkpoint", error.Message);
    }

    [Fact]
    public void Given_no_checkpoint_When_resuming_Then_FileNotFoundException()
    {
        using var dir = new TempFolder();

        var error = Assert.Throws<FileNotFoundException>(() => Train(Tiny(4), Bars(), dir.Path, resume: true));

        Assert.Contains("--resume was given but there is no checkpoint", error.Message);
        Assert.Equal(Path.Combine(dir.Path, Trainer.CheckpointFile), error.FileName);
    }

    [Fact]
    public void Given_a_folder_with_a_checkpoint_When_starting_a_new_run_without_resume_Then_refused_and_the_checkpoint_is_kept()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Path);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var before = File.ReadAllBytes(path);
        var log = File.ReadAllText(Path.Combine(dir.Path, "loss.jsonl"));

        var error = Assert.Throws<InvalidOperationException>(() => Train(Tiny(4), Bars(), dir.Path));

        Assert.Contains("already holds a checkpoint", error.Message);
        Assert.Contains("--resume", error.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(log, File.ReadAllText(Path.Combine(dir.Path, "loss.jsonl")));
    }

    [Fact]
    public void Given_data_of_another_size_than_the_model_When_training_Then_a_clear_error_before_any_file_is_written()
    {
        using var dir = new TempFolder();
        var out_ = Path.Combine(dir.Path, "run");
        var rgb = new ImageDataset("rgb", new byte[2 * 3 * 8 * 8], 2, 3, 8, 8);

        var error = Assert.Throws<ArgumentException>(() => Train(Tiny(2), rgb, out_));

        Assert.Contains("The data are 3×8×8 but the model expects 1×8×8", error.Message);
        Assert.False(Directory.Exists(out_));
    }

    [Fact]
    public void Given_a_learning_rate_so_large_that_the_loss_explodes_When_training_Then_TrainingDivergedException_and_the_last_checkpoint_is_unchanged()
    {
        // Given: step 1 is sane (an untrained network predicts ε̂ = 0), but its AdamW update moves every weight by ~1e30.
        using var dir = new TempFolder();
        var config = Tiny(1) with { LearningRate = 1e30, WarmupSteps = 0, GradClip = 0, CheckpointEvery = 1 };
        var first = Train(config, Bars(), dir.Path);
        var path = Path.Combine(dir.Path, Trainer.CheckpointFile);
        var before = File.ReadAllBytes(path);
        var log = File.ReadAllText(Path.Combine(dir.Path, "loss.jsonl"));

        // When: resumed, step 2 meets those weights.
        var losses = new List<double>();
        var error = Assert.Throws<TrainingDivergedException>(() =>
            Trainer.Run(config with { Steps = 10 }, Bars(), dir.Path, resume: true, progress: p => losses.Add(p.Loss)));

        // Then
        Assert.True(double.IsFinite(first.Single()));
        Assert.Empty(losses);
        Assert.Matches(@"^The loss became (NaN|∞|-∞|Infinity|-Infinity) at step 2\.", error.Message);
        Assert.Contains($"The last checkpoint ({path}) was saved right before this step, so it holds the weights that diverged, and no earlier one is kept.", error.Message);
        Assert.EndsWith("start a new run in another --out folder, from random weights.", error.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(log, File.ReadAllText(Path.Combine(dir.Path, "loss.jsonl")));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.ddim-tmp"));
    }

    [Theory]
    [InlineData(false, -1, 7, "No checkpoint had been saved yet. ", "from random weights.")]
    [InlineData(true, -1, 5, "The last good checkpoint (C) is kept. ", "from that checkpoint's weights with --init-from C.")]
    [InlineData(true, 4, 5, "The last good checkpoint (C) is kept. ", "from that checkpoint's weights with --init-from C.")]
    [InlineData(true, -1, 7, "The last checkpoint (C) was saved right before this step, so it holds the weights that diverged, and no earlier one is kept. ", "from random weights.")]
    [InlineData(true, 6, 7, "The last checkpoint (C) was saved right before this step, so it holds the weights that diverged; the one before it is kept (P). ", "from that checkpoint's weights with --init-from P.")]
    [InlineData(true, 7, 7, "The last checkpoint (C) was saved right before this step, so it holds the weights that diverged, and no earlier one is kept. ", "from random weights.")] // a save that failed after the copy
    public void Given_the_checkpoints_kept_When_the_loss_diverges_at_step_8_Then_the_advice_starts_from_one_whose_weights_did_not(bool last, long previousStep, long savedAt, string kept, string start)
    {
        // Given: checkpoint.ddim saved at step savedAt (7: right before step 8, so its weights are the ones that diverged),
        // and checkpoint.prev.ddim at previousStep (−1: none)
        using var dir = new TempFolder();
        var (c, p) = (dir.File(Trainer.CheckpointFile), dir.File(Trainer.PreviousCheckpointFile));
        foreach (var (step, path) in new[] { (last ? savedAt : -1, c), (previousStep, p) }.Where(f => f.Item1 >= 0))
        {
            new ModelFile(new JsonObject { ["kind"] = "checkpoint", ["step"] = step }).Save(path);
        }

        // When
        var error = Trainer.Divergence("The loss became NaN", 7, c, p, last ? savedAt : null);

        // Then
        Assert.Equal($"The loss became NaN at step 8. {kept.Replace("(C)", $"({c})").Replace("(P)", $"({p})")}A resume must use the same preset and would diverge again, so lower LearningRate (or set a smaller, non-zero GradClip) in the preset and start a new run in another --out folder, {start.Replace(" C.", $" {c}.").Replace(" P.", $" {p}.")}", error.Message);
    }

    [Fact]
    public void Given_a_checkpoint_every_step_When_cancelled_right_after_one_Then_the_interrupt_save_keeps_the_earlier_one_as_prev()
    {
        // Given / When: step 2's periodic save, then the cancellation's save of the same step
        using var dir = new TempFolder();
        Train(Tiny(5) with { CheckpointEvery = 1 }, Bars(), dir.Path, cancelAfter: 2);

        // Then: prev is step 1, not a copy of step 2
        Assert.Equal(2, Checkpoint(dir.Path).Metadata["step"]!.GetValue<long>());
        Assert.Equal(1, ModelFile.Load(dir.File(Trainer.PreviousCheckpointFile)).Metadata["step"]!.GetValue<long>());
    }

    [Fact]
    public void Given_a_folder_holding_only_an_earlier_runs_prev_checkpoint_When_a_new_run_starts_there_Then_it_is_refused()
    {
        // Given
        using var dir = new TempFolder();
        File.WriteAllText(dir.File(Trainer.PreviousCheckpointFile), "an old run's");

        // When
        var error = Assert.Throws<InvalidOperationException>(() => Train(Tiny(1), Bars(), dir.Path));

        // Then
        Assert.Contains("holds an earlier run's checkpoint.prev.ddim but no checkpoint to resume", error.Message);
    }

    [Fact]
    public void Given_a_checkpoint_saved_with_one_thread_When_resumed_with_two_Then_a_note_says_the_run_is_not_bit_exact()
    {
        // Given: a checkpoint at step 1, saved on one libtorch thread (this class's setting)
        using var dir = new TempFolder();
        Train(Tiny(1), Bars(), dir.Path);
        var sameThreads = new List<string>();
        Train(Tiny(2), Bars(), dir.Path, resume: true, log: sameThreads);
        var otherThreads = new List<string>();

        // When: resumed again, on two threads
        set_num_threads(2);
        try
        {
            Train(Tiny(3), Bars(), dir.Path, resume: true, log: otherThreads);
        }
        finally
        {
            set_num_threads(1);
        }

        // Then: only the resume on another thread count says so
        const string Note = "The checkpoint was saved by a process with 1 CPU threads and this one has 2: libtorch's CPU sums depend on the thread count";
        Assert.DoesNotContain(sameThreads, m => m.Contains("CPU threads", StringComparison.Ordinal));
        Assert.Contains(otherThreads, m => m.StartsWith(Note, StringComparison.Ordinal));
    }

    [Fact]
    public void Given_a_checkpoint_every_step_When_three_steps_run_Then_the_one_before_the_last_is_kept_beside_it()
    {
        // Given / When
        using var dir = new TempFolder();
        Train(Tiny(3) with { CheckpointEvery = 1 }, Bars(), dir.Path);

        // Then: checkpoint.ddim holds step 3, checkpoint.prev.ddim step 2, and no temporary file is left
        Assert.Equal(3, Checkpoint(dir.Path).Metadata["step"]!.GetValue<long>());
        Assert.Equal(2, ModelFile.Load(dir.File(Trainer.PreviousCheckpointFile)).Metadata["step"]!.GetValue<long>());
        Assert.Empty(Directory.GetFiles(dir.Path, "*.ddim-tmp"));
    }

    [Fact]
    public void Given_a_diverged_run_When_following_the_advice_in_a_new_folder_with_a_lower_learning_rate_Then_it_trains()
    {
        using var dir = new TempFolder();
        var config = Tiny(2) with { LearningRate = 1e30, WarmupSteps = 0, GradClip = 0 };
        Assert.Throws<TrainingDivergedException>(() => Train(config, Bars(), dir.Folder("a")));

        var losses = Train(config with { LearningRate = 1e-3 }, Bars(), dir.Folder("b"));

        Assert.Equal(2, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
    }

    [Fact]
    public void Given_a_cancellation_When_training_Then_a_resumable_checkpoint_and_no_exported_model()
    {
        using var dir = new TempFolder();
        using var cancel = new CancellationTokenSource();
        var messages = new List<string>();

        var result = Trainer.Run(Tiny(10), Bars(), dir.Path, progress: p =>
        {
            if (p.Step == 3)
            {
                cancel.Cancel();
            }
        }, log: messages.Add, cancel: cancel.Token);

        Assert.Equal(new TrainResult(3, false, Path.Combine(dir.Path, Trainer.CheckpointFile), null), result);
        Assert.Equal(3, Checkpoint(dir.Path).Metadata["step"]!.GetValue<long>());
        Assert.False(File.Exists(Path.Combine(dir.Path, Trainer.ModelFileName)));
        Assert.Contains(messages, m => m.Contains("Interrupted: checkpoint saved at step 3", StringComparison.Ordinal));
    }

    private static UNet Network(byte[] weights)
    {
        var network = new UNet(TinyNet);
        ModelFile.Deserialize(network, weights, "test");
        return network;
    }

    private static double MaxDifference(IEnumerable<Tensor> actual, IEnumerable<Tensor> expected) =>
        actual.Zip(expected).Max(p => (p.First - p.Second).abs().max().item<float>());

    private static string Sha256(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    [Theory]
    [InlineData(Trainer.CheckpointFile, "model", "ema")]
    [InlineData(Trainer.ModelFileName, "weights", "weights")]
    public void Given_a_finished_run_When_a_new_run_starts_from_its_file_Then_it_takes_those_weights_and_records_the_file_hash(
        string fileName, string networkSection, string emaSection)
    {
        // Given: a finished 6-step run.
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        Train(Tiny(6), Bars(), dir.Folder("first"));
        var source = Path.Combine(dir.Folder("first"), fileName);
        var sourceFile = ModelFile.Load(source);

        // When: a second run starts from it and takes one step with a vanishing learning rate and an EMA decay of ½.
        var second = Tiny(1) with { InitFrom = source, LearningRate = 1e-30, WarmupSteps = 0, EmaDecay = 0.5, EmaWarmup = false, Seed = 7 };
        Train(second, Bars(), dir.Folder("second"));

        // Then: its network is the source's (moved by ~1e-30 at most), its EMA is ½·(source EMA + source network),
        // the step count starts at 0 and the checkpoint and the exported model carry the source file's SHA-256.
        var checkpoint = Checkpoint(dir.Folder("second"));
        using var sourceNetwork = Network(sourceFile.Sections[networkSection]);
        using var sourceEma = Network(sourceFile.Sections[emaSection]);
        using var network = Network(checkpoint.Sections["model"]);
        using var ema = Network(checkpoint.Sections["ema"]);
        Assert.True(MaxDifference(sourceNetwork.parameters(), sourceEma.parameters()) > 0 || networkSection == "weights", "the source's EMA should lag its network");
        Assert.InRange(MaxDifference(network.parameters(), sourceNetwork.parameters()), 0, 1e-20);
        Assert.InRange(MaxDifference(ema.parameters(), sourceEma.parameters().Zip(sourceNetwork.parameters()).Select(p => (p.First + p.Second) / 2)), 0, 1e-6);
        Assert.Equal(1, checkpoint.Metadata["step"]!.GetValue<long>());
        Assert.Equal(Sha256(source), checkpoint.Metadata["init_from_sha256"]!.GetValue<string>());
        var exported = ModelFile.Load(Path.Combine(dir.Folder("second"), Trainer.ModelFileName));
        Assert.Equal(Sha256(source), exported.Metadata["training"]!["init_from_sha256"]!.GetValue<string>());
        Assert.Equal(source, exported.Metadata["training"]!["config"]!["InitFrom"]!.GetValue<string>());
    }

    [Fact]
    public void Given_a_run_started_from_a_checkpoint_When_interrupted_and_resumed_Then_it_equals_the_uninterrupted_run()
    {
        // Given: a finished run, and a second phase that starts from its checkpoint.
        using var dir = new TempFolder();
        Train(Tiny(6), Bars(), dir.Folder("first"));
        var source = Path.Combine(dir.Folder("first"), Trainer.CheckpointFile);
        var phase2 = Tiny(8) with { InitFrom = source, Seed = 7 };
        var expected = Train(phase2, Bars(), dir.Folder("straight"));

        // When: the second phase stops at step 3 and resumes from its own checkpoint, with InitFrom left out (as after
        // `ddim train --init-from X`, resumed with --resume alone).
        var losses = Train(phase2, Bars(), dir.Folder("resumed"), cancelAfter: 3);
        losses.AddRange(Train(phase2 with { InitFrom = null }, Bars(), dir.Folder("resumed"), resume: true));

        // Then: the same losses, log and weights, and the run still says where it started.
        Assert.Equal(expected, losses);
        Assert.Equal(LossLog(dir.Folder("straight")), LossLog(dir.Folder("resumed")));
        var resumed = Checkpoint(dir.Folder("resumed"));
        Assert.Equal(Checkpoint(dir.Folder("straight")).Sections["ema"], resumed.Sections["ema"]);
        Assert.Equal(Sha256(source), resumed.Metadata["init_from_sha256"]!.GetValue<string>());
        Assert.Equal(source, resumed.Metadata["train"]!["InitFrom"]!.GetValue<string>());
    }

    [Fact]
    public void Given_a_checkpoint_of_another_network_shape_When_a_new_run_starts_from_it_Then_a_clear_error_and_no_checkpoint()
    {
        using var dir = new TempFolder();
        Train(Tiny(2), Bars(), dir.Folder("first"));
        var wider = Tiny(2) with { Model = TinyNet with { BaseChannels = 16 }, InitFrom = Path.Combine(dir.Folder("first"), Trainer.CheckpointFile) };

        var error = Assert.Throws<InvalidDataException>(() => Train(wider, Bars(), dir.Folder("second")));

        Assert.Contains("holds a network of another shape than this preset's Model", error.Message);
        Assert.False(File.Exists(Path.Combine(dir.Folder("second"), Trainer.CheckpointFile)));
    }

    [Fact]
    public void Given_a_checkpoint_whose_network_writes_out_defaults_the_preset_leaves_out_When_a_new_run_starts_from_it_Then_it_is_the_same_shape()
    {
        // Given: a run whose Model names the middle attention at its default, and a preset that leaves it out (null): the
        // same network
        using var dir = new TempFolder();
        var spelled = TinyNet with { MiddleAttention = true };
        Train(Tiny(2) with { Model = spelled }, Bars(), dir.Folder("first"));
        var plain = Tiny(2) with { Model = TinyNet with { MiddleAttention = null }, InitFrom = Path.Combine(dir.Folder("first"), Trainer.CheckpointFile) };

        // When: a new run from it, then a resume of the first run with the shorter form of its own network
        var losses = Train(plain, Bars(), dir.Folder("second"));
        var resumed = Train(Tiny(4) with { Model = TinyNet with { MiddleAttention = null } }, Bars(), dir.Folder("first"), resume: true);

        // Then: both go ahead
        Assert.Equal(2, losses.Count);
        Assert.Equal(2, resumed.Count);
    }

    [Fact]
    public void Given_an_InitFrom_file_that_does_not_exist_When_training_Then_FileNotFoundException_naming_it()
    {
        using var dir = new TempFolder();
        var missing = dir.File("nowhere.ddim");

        var error = Assert.Throws<FileNotFoundException>(() => Train(Tiny(2) with { InitFrom = missing }, Bars(), dir.Folder("run")));

        Assert.Contains($"InitFrom names {missing}, which does not exist", error.Message);
        Assert.Equal(missing, error.FileName);
    }
}
