using System.Text.Json.Nodes;
using Ddim.Evaluation;
using Ddim.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public sealed class JudgeTests : OneTorchThread
{
    [Fact]
    public void Given_a_small_separable_synthetic_set_When_the_judge_trains_a_few_epochs_Then_test_accuracy_is_well_above_chance()
    {
        // Given
        var test = SyntheticDigits.Make(150, 2, "synthetic-test");
        var epochs = new List<JudgeEpoch>();

        // When
        using var judge = JudgeTrainer.Train(
            new JudgeTrainConfig(SyntheticDigits.TinyJudge, Epochs: 3, BatchSize: 32, LearningRate: 1e-2, Seed: 0),
            SyntheticDigits.Make(300, 1, "synthetic-train"),
            test,
            epochDone: epochs.Add);
        var accuracy = JudgeTrainer.Accuracy(judge, test);

        // Then: chance is 1/3
        Assert.True(accuracy >= 0.9, $"accuracy {accuracy:P1}");
        Assert.Equal(3, epochs.Count);
        Assert.Equal(accuracy, epochs[^1].TestAccuracy!.Value, 1e-12);
    }

    [Fact]
    public void Given_the_same_seed_When_the_judge_is_trained_twice_Then_the_weights_are_identical_and_another_seed_differs()
    {
        byte[] Weights(long seed)
        {
            using var judge = SyntheticDigits.TrainedJudge(epochs: 1, seed: seed);
            return ModelFile.Serialize(judge);
        }

        Assert.Equal(Weights(5), Weights(5));
        Assert.NotEqual(Weights(5), Weights(6));
    }

    [Fact]
    public void Given_a_saved_judge_When_loaded_Then_it_gives_the_same_features_and_keeps_its_metadata()
    {
        // Given
        using var folder = new TempFolder();
        using var judge = SyntheticDigits.TrainedJudge(epochs: 1);
        var path = folder.File("judge.ddim");
        judge.Save(path, new JsonObject { ["test_accuracy"] = 0.5 });
        using var scope = NewDisposeScope();
        var images = SyntheticDigits.Make(10, 3).ToTensor();

        // When
        using var loaded = Judge.Load(path, out var metadata);

        // Then
        using (no_grad())
        {
            Assert.True(judge.Features(images).eq(loaded.Features(images)).all().item<bool>());
        }

        Assert.Equal(Judge.FileKind, metadata["kind"]!.GetValue<string>());
        Assert.Equal(0.5, metadata["training"]!["test_accuracy"]!.GetValue<double>());
        Assert.Equal(SyntheticDigits.TinyJudge, loaded.Config);
    }

    [Fact]
    public void Given_a_file_that_is_not_a_judge_When_loaded_as_one_Then_a_clear_error_says_what_to_pass()
    {
        using var folder = new TempFolder();
        var path = folder.File("model.ddim");
        new ModelFile(new JsonObject { ["kind"] = "model" }).Save(path);

        var e = Assert.Throws<InvalidDataException>(() => Judge.Load(path));
        Assert.Contains("not a judge", e.Message);
        Assert.Contains("--judge", e.Message);
        Assert.Contains("--judge", Assert.Throws<FileNotFoundException>(() => Judge.Load(folder.File("missing.ddim"))).Message);
    }

    [Fact]
    public void Given_images_of_the_wrong_size_When_judged_Then_a_clear_error_names_the_expected_shape()
    {
        using var judge = new Judge(SyntheticDigits.TinyJudge);
        using var images = zeros(2, 1, 28, 28);

        var e = Assert.Throws<ArgumentException>(() => judge.Features(images));
        Assert.Contains("[B, 1, 8, 8]", e.Message);
    }

    [Fact]
    public void Given_real_8_bit_images_When_quantized_for_judging_Then_they_are_unchanged()
    {
        using var scope = NewDisposeScope();
        var images = SyntheticDigits.Make(20, 4).ToTensor();

        Assert.True(JudgeMeter.Quantize(images).eq(images).all().item<bool>());
    }

    [Fact]
    public void Given_generated_values_off_the_8_bit_grid_When_quantized_Then_they_are_clamped_and_rounded_to_the_nearest_level()
    {
        // Given: out of range on both sides, and two values between levels (0.003 → level 127.88 → 128; 0.9 → 242.25 → 242)
        using var scope = NewDisposeScope();
        var images = tensor(new float[] { -1.5f, 0.003f, 0.9f, 1.2f }).reshape(1, 1, 2, 2);

        // When
        var quantized = JudgeMeter.Quantize(images).flatten().data<float>().ToArray();

        // Then: level k of 0 … 255 is k/127.5 − 1
        Assert.Equal(new[] { -1f, (128 / 127.5f) - 1, (242 / 127.5f) - 1, 1f }, quantized, (a, b) => Math.Abs(a - b) < 1e-6);
    }
}
