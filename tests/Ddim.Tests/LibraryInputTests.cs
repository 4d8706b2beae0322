using Ddim.Data;
using Ddim.Evaluation;
using Ddim.Imaging;
using Ddim.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

/// <summary>Bad input to library calls gets an ArgumentException that says what is wrong, not an error from deep inside libtorch or .NET.</summary>
public sealed class LibraryInputTests : OneTorchThread
{
    private static ImageDataset Four() => new("four", new byte[4 * 2 * 2], 4, 1, 2, 2);

    public static TheoryData<string, Action, string> Calls => new()
    {
        { "slerp of two shapes", () => Interpolation.Slerp(zeros(1, 1, 4, 4), zeros(2, 1, 4, 4), 0.5), "same shape; got [1, 1, 4, 4] and [2, 1, 4, 4]" },
        { "line between batches", () => Interpolation.Line(zeros(2, 1, 4, 4), zeros(2, 1, 4, 4), 3), "two single images [1, …]; got [2, 1, 4, 4]" },
        { "replay of too little noise", () => new ReplayNoise([zeros(3)]).Next(0, zeros(2, 2)), "has 3 values but x_t has 4" },
        { "replay past its end", () => new ReplayNoise([zeros(4)]).Next(1, zeros(2, 2)), "for steps 0 … 0" },
        { "dataset without pixels", () => _ = new ImageDataset("x", null!, 1, 1, 1, 1), "pixels" },
        { "pick outside", () => Four().Pick([0, 4]), "0 … 3" },
        { "pick nothing", () => Four().Pick([]), "at least one index" },
        { "take none", () => Four().Take(0), "must be greater than or equal to '1'" },
        { "grid of the wrong length", () => ImageGrid.Grid(new byte[10], 2, 1, 2, 2, columns: 2, padding: 1), "10 bytes are not 2 images" },
        { "grid of 2 channels", () => ImageGrid.Grid(new byte[16], 2, 2, 2, 2, columns: 2, padding: 1), "C = 1 or 3" },
        { "FID of one image", () => FrechetDistance.Compute(zeros(1, 3), zeros(5, 3)), "at least 2 feature vectors (rows)" },
        { "error of two shapes", () => ImageSampler.MeanSquaredError01(zeros(10, 1, 2, 2), zeros(1, 1, 2, 2)), "same shape; got [10, 1, 2, 2] and [1, 1, 2, 2]" },
        { "DDPM variance of no kind", () => DdpmSampler.Sample((x, _) => x, zeros(1, 1, 2, 2), Ddim.Schedules.NoiseSchedule.Linear(10), new ReplayNoise([]), new DdpmOptions((DdpmVariance)7)), "must be Beta or Posterior" },
    };

    [Theory]
    [MemberData(nameof(Calls))]
    public void Given_bad_input_When_a_library_call_gets_it_Then_an_ArgumentException_says_what_is_wrong(string what, Action call, string phrase)
    {
        // Given / When
        using var scope = NewDisposeScope();
        var error = Assert.ThrowsAny<ArgumentException>(call);

        // Then
        Assert.True(error.Message.Contains(phrase, StringComparison.Ordinal), $"{what}: {error.Message}");
    }

    [Fact]
    public void Given_a_noise_source_of_another_shape_or_dtype_When_a_stochastic_run_draws_from_it_Then_a_clear_error_or_x_keeps_its_dtype()
    {
        // Given: a float32 x_T, and sources that answer with one value too few, or in float64
        using var scope = NewDisposeScope();
        var schedule = Ddim.Schedules.NoiseSchedule.Linear(10);
        var timetable = Ddim.Schedules.Timetable.Create(Ddim.Schedules.Spacing.Trailing, 10, 5);
        var xT = zeros(2, 1, 2, 2);

        // When
        var error = Assert.Throws<InvalidOperationException>(() => DdimSampler.Sample((x, _) => x * 0, xT, schedule, timetable, new DdimOptions(Eta: 1), new Source(like => zeros(1, 1, 2, 2))));
        var x0 = DdimSampler.Sample((x, _) => x * 0, xT, schedule, timetable, new DdimOptions(Eta: 1), new Source(like => ones(like.shape, dtype: ScalarType.Float64)));
        var ddpm = DdpmSampler.Sample((x, _) => x * 0, xT, schedule, new Source(like => ones(like.shape, dtype: ScalarType.Float64)), new DdpmOptions());

        // Then
        Assert.Contains("The noise source gave z [1, 1, 2, 2] on cpu for x [2, 1, 2, 2] on cpu at step 0: it must draw noise shaped like x", error.Message);
        Assert.Equal((ScalarType.Float32, ScalarType.Float32), (x0.dtype, ddpm.dtype));
    }

    private sealed class Source(Func<Tensor, Tensor> draw) : INoiseSource
    {
        public Tensor Next(int stepIndex, Tensor like) => draw(like);
    }

    [Fact]
    public void Given_a_bfloat16_network_When_saved_as_a_model_file_Then_refused_with_what_to_save_instead()
    {
        // Given
        using var folder = new TempFolder();
        using var network = TinyModel.Network();
        network.to(ScalarType.BFloat16);

        // When
        var error = Assert.Throws<ArgumentException>(() => Ddim.Models.ModelFile.SaveNetwork(folder.File("m.ddim"), network, Ddim.Schedules.NoiseSchedule.Linear(10)));

        // Then
        Assert.Contains("Model files hold float32 weights; this network's are BFloat16. Save the float32 network", error.Message);
        Assert.False(File.Exists(folder.File("m.ddim")));
    }

    [Fact]
    public void Given_a_disposed_sampler_When_it_is_used_Then_ObjectDisposedException_not_a_dead_handle()
    {
        // Given: a sampler that loaded (and so owns) its network, disposed
        using var folder = new TempFolder();
        var sampler = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));
        sampler.Dispose();

        // When / Then
        Assert.Throws<ObjectDisposedException>(() => sampler.InitialNoise(1, 0, 1));
        Assert.Throws<ObjectDisposedException>(() => sampler.Generate(1, 1, new SampleSettings(Steps: 2)));
        Assert.Throws<ObjectDisposedException>(() => sampler.Decode(zeros(1, 1, 28, 28), new SampleSettings(Steps: 2)));
    }

    [Fact]
    public void Given_the_test_program_When_the_bundled_files_are_looked_up_Then_they_are_found_in_its_own_folder_and_a_missing_one_names_both_places()
    {
        // Given: the test program's folder, where the reference to Ddim copies models/ (the working directory may differ)
        var own = AppContext.BaseDirectory;

        // When
        var model = Ddim.Models.BundledModels.Mnist;
        var judge = Ddim.Models.BundledModels.Judge;
        var missing = Assert.Throws<FileNotFoundException>(() => Ddim.Models.BundledModels.Find("models/none.ddim"));

        // Then
        Assert.Equal(Path.Combine(own, "models/mnist.ddim"), model);
        Assert.Equal(Path.Combine(own, "models/judge/judge.ddim"), judge);
        Assert.Contains($"The bundled models/none.ddim was not found (looked in {Path.Combine(own, "models/none.ddim")} and {Path.GetFullPath("models/none.ddim")})", missing.Message);
    }
}
