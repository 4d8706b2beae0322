using Ddim.Imaging;
using Ddim.Models;
using Ddim.Sampling;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public sealed class SamplingApiTests : OneTorchThread
{
    [Fact]
    public void Given_images_the_network_cannot_take_When_decoded_or_reconstructed_Then_a_clear_error_names_the_shape_it_needs()
    {
        // Given: the tiny 1×28×28 model
        using var network = TinyModel.Network();
        var sampler = new ImageSampler(network, NoiseSchedule.Linear(100));
        using var wrongSize = zeros(2, 1, 32, 32);
        using var wrongType = zeros(2, 1, 28, 28, dtype: ScalarType.Float64);
        using var flat = zeros(2, 784);
        var timetable = Timetable.Create(Spacing.Seed, 100, 2);

        // When
        var size = Assert.Throws<ArgumentException>(() => sampler.Decode(wrongSize, new SampleSettings(Steps: 2)));
        var type = Assert.Throws<ArgumentException>(() => sampler.Decode(wrongType, new SampleSettings(Steps: 2)));
        var rank = Assert.Throws<ArgumentException>(() => sampler.Reconstruct(flat, timetable));
        var none = Assert.Throws<ArgumentOutOfRangeException>(() => sampler.InitialNoise(seed: 0, start: 0, count: 0));

        // Then: not a 28-pixel model running silently on 32-pixel images, nor libtorch's message from deep inside
        Assert.Contains("xT must be a batch of images [B, 1, 28, 28] (this model's shape), B ≥ 1; got [2, 1, 32, 32]", size.Message);
        Assert.Contains("xT is Float64 but the network takes float32", type.Message);
        Assert.Contains("images must be a batch of images [B, 1, 28, 28]", rank.Message);
        Assert.Contains("count", none.Message);
    }

    [Fact]
    public void Given_a_sampler_that_loaded_its_network_When_disposed_Then_the_network_is_freed_and_one_given_a_network_leaves_it_alone()
    {
        // Given
        using var folder = new TempFolder();
        var loaded = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));
        using var network = TinyModel.Network();
        var wrapping = new ImageSampler(network, NoiseSchedule.Linear(100));

        // When
        loaded.Dispose();
        wrapping.Dispose();
        loaded.Dispose(); // twice is harmless

        // Then
        Assert.Empty(loaded.Network!.parameters());
        Assert.NotEmpty(network.parameters());
    }

    [Fact]
    public void Given_eta_0_and_a_seed_When_sampled_with_different_batch_sizes_Then_the_images_are_identical_to_the_bit()
    {
        // Given: 70 images, which batch 70 (rounded up to 96) runs at once, batch 40 (64) as 64 + 6, and batch 1 (32)
        // as 32 + 32 + 6: three different ways through the batches
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var sampler = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));
        var settings = new SampleSettings(Steps: 5);

        // When
        var a = sampler.Generate(70, 42, settings, 70);
        var b = sampler.Generate(70, 42, settings, 40);
        var c = sampler.Generate(70, 42, settings, 1);

        // Then: the same floats, not only the same PNG bytes
        Assert.True(a.eq(b).all().item<bool>());
        Assert.True(a.eq(c).all().item<bool>());
    }

    [Fact]
    public void Given_eta_1_and_a_seed_When_sampled_with_different_batch_sizes_Then_identical_and_another_seed_differs()
    {
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var sampler = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));
        var settings = new SampleSettings(Steps: 4, Eta: 1.0);

        var a = sampler.Generate(40, 7, settings, 40); // one batch (of 64: two groups of 32)
        var b = sampler.Generate(40, 7, settings, 4);  // batches of 32 and 8: each image's noise must not depend on its batch
        var other = sampler.Generate(40, 8, settings, 40);

        Assert.True(a.eq(b).all().item<bool>());
        Assert.False(a.eq(other).all().item<bool>());
    }

    [Fact]
    public void Given_stochastic_settings_When_the_seed_x_T_is_decoded_with_its_step_noise_Then_the_images_are_Generate_s_to_the_bit()
    {
        // Given: η = 0.5, 6 images of seed 7 from Generate
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var sampler = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));
        var settings = new SampleSettings(Steps: 4, Eta: 0.5);
        var generated = sampler.Generate(6, 7, settings);

        // When: all six decoded from their x_T and step noise, and images 2 … 4 alone
        using var all = sampler.StepNoise(7, 0, 6);
        var decoded = sampler.Decode(sampler.InitialNoise(7, 0, 6), settings, all);
        using var some = sampler.StepNoise(7, 2, 3);
        var part = sampler.Decode(sampler.InitialNoise(7, 2, 3), settings, some);

        // Then: the same floats; a batch of another size than the noise's is refused
        Assert.True(decoded.eq(generated).all().item<bool>());
        Assert.True(part.eq(generated[2..5]).all().item<bool>());
        using var two = sampler.StepNoise(7, 0, 2);
        Assert.Contains("This noise is for 2 images; x_t has 6", Assert.Throws<ArgumentException>(() => sampler.Decode(sampler.InitialNoise(7, 0, 6), settings, two)).Message);

        // ... and a disposed one draws nothing (its generators' handles would fall back to libtorch's global generator)
        var spent = sampler.StepNoise(7, 0, 6);
        spent.Dispose();
        Assert.Throws<ObjectDisposedException>(() => sampler.Decode(sampler.InitialNoise(7, 0, 6), settings, spent));
    }

    [Fact]
    public void Given_a_bfloat16_network_When_sampled_Then_float32_images_close_to_float32_sampling_and_the_same_for_a_seed()
    {
        // Given: one model file, loaded in float32 and in bfloat16
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        var path = TinyModel.Write(folder.File("m.ddim"));
        using var full = ImageSampler.Load(path);
        using var half = ImageSampler.Load(path, precision: NetworkPrecision.BFloat16);
        var settings = new SampleSettings(Steps: 5);

        // When
        var a = full.Generate(6, 3, settings, 6);
        var b = half.Generate(6, 3, settings, 6);
        var again = half.Generate(6, 3, settings, 4);

        // Then: the sampler's arithmetic stays float32; the network's rounding moves pixels by far less than an image's range
        Assert.Equal(NetworkPrecision.Float32, full.Precision);
        Assert.Equal(NetworkPrecision.BFloat16, half.Precision);
        Assert.Equal(ScalarType.BFloat16, half.Network!.parameters().First().dtype);
        Assert.Equal(ScalarType.Float32, b.dtype);
        var difference = (a - b).abs().max().item<float>();
        Assert.InRange(difference, 1e-6f, 0.1f);
        Assert.True(b.eq(again).all().item<bool>());
    }

    [Fact]
    public void Given_a_bfloat16_network_When_described_Then_the_model_line_says_so_and_a_float64_network_is_refused()
    {
        // Given
        using var folder = new TempFolder();
        var path = TinyModel.Write(folder.File("m.ddim"));
        var (full, _, file) = ModelFile.LoadNetwork(path);
        var (half, _, _) = ModelFile.LoadNetwork(path, precision: NetworkPrecision.BFloat16);
        using var wide = TinyModel.Network();
        wide.to(ScalarType.Float64);

        // When
        var fullText = Ddim.Cli.Provenance.DescribeModel(path, file, full);
        var halfText = Ddim.Cli.Provenance.DescribeModel(path, file, half);
        var error = Assert.Throws<ArgumentException>(() => new ImageSampler(wide, NoiseSchedule.Linear(100)));

        // Then: score files say which network made them; a dtype the sampler does not run is named, not mislabelled
        Assert.DoesNotContain("bfloat16", fullText);
        Assert.Contains("network run in bfloat16", halfText);
        Assert.Contains("float32 or bfloat16", error.Message);
        Assert.Contains("Float64", error.Message);
        full.Dispose();
        half.Dispose();
    }

    [Fact]
    public void Given_images_When_written_as_a_grid_Then_the_PNG_is_valid_and_of_the_stated_size()
    {
        using var scope = NewDisposeScope();
        var images = torch.linspace(-1, 1, 10 * 28 * 28).reshape(10, 1, 28, 28);

        var png = ImageGrid.Grid(images, columns: 4, padding: 2);
        var (pixels, height, width, channels) = ImageGrid.DecodePng(png);

        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.Equal((4 * 30) + 2, width);
        Assert.Equal((3 * 30) + 2, height);
        Assert.Equal(1, channels);
        Assert.Equal(0, pixels[(2 * width) + 2]); // first pixel of the first image: −1 → 0
        Assert.Equal(0, pixels[0]); // padding
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Given_image_bytes_When_composed_Then_they_are_the_PNG_grid_s_pixels_and_each_image_sits_in_its_cell(int channels)
    {
        // Given three 2×3 images whose bytes are all different (image n, row y, column x, channel k → 1 + n·18 + …)
        const int count = 3, height = 2, width = 3, columns = 2, padding = 1;
        var pixels = Enumerable.Range(1, count * height * width * channels).Select(v => (byte)v).ToArray();

        // When composed, and when encoded as PNG and decoded
        var (grid, gridH, gridW) = ImageGrid.Compose(pixels, count, channels, height, width, columns, padding, background: 200);
        var (decoded, pngH, pngW, pngChannels) = ImageGrid.DecodePng(ImageGrid.Grid(pixels, count, channels, height, width, columns, padding, background: 200));

        // Then the PNG holds exactly the composed pixels
        Assert.Equal((gridH, gridW, channels), (pngH, pngW, pngChannels));
        Assert.Equal(grid, decoded);

        // And image 2 (third, second row, first column) starts at (padding + height + padding, padding), padding around it
        Assert.Equal(((2 * (height + padding)) + padding, (2 * (width + padding)) + padding), (gridH, gridW));
        var start = ((((height + padding + padding) * gridW) + padding) * channels);
        Assert.Equal(pixels[(2 * height * width * channels)..((2 * height * width * channels) + (width * channels))], grid[start..(start + (width * channels))]);
        Assert.Equal(200, grid[0]);
        Assert.Equal(200, grid[^1]); // the empty fourth cell
    }

    [Fact]
    public void Given_a_single_2x2_image_When_encoded_Then_it_is_a_2x2_PNG_with_values_mapped_to_0_255()
    {
        using var scope = NewDisposeScope();
        var image = torch.tensor(new float[] { -1, 0, 1, 0.5f }).reshape(1, 1, 2, 2);

        var (pixels, h, w, _) = ImageGrid.DecodePng(ImageGrid.ToPng(image));

        Assert.Equal((2, 2), (h, w));
        Assert.Equal(new byte[] { 0, 128, 255, 191 }, pixels);
    }

    [Fact]
    public void Given_the_analytic_Gaussian_model_When_inverted_over_two_steps_Then_each_step_is_eq_12_run_upward_with_eps_at_its_start()
    {
        // Given: images x0 in float64, and the timetable 600, 200 (inverted: −1 → 200 → 600)
        using var scope = NewDisposeScope();
        var schedule = NoiseSchedule.Linear(1000);
        var denoiser = new GaussianDenoiser(schedule, 0.3, 0.5);
        var x0 = (torch.randn([4, 1, 2, 2], dtype: ScalarType.Float64, generator: new Generator(9)) * 0.5) + 0.3;

        // When
        var latent = DdimSampler.Invert(denoiser.Predict, x0, schedule, Timetable.Custom([600, 200], 1000));

        // Then: from ᾱ = 1 the first step is √ᾱ_200·x0 + √(1 − ᾱ_200)·ε̂(x0, 0) (x̂0 = x0; ε̂ at t = 0, the clean end
        // having no timestep of its own); the second re-estimates x̂0 at t = 200 and moves to 600 with ε̂ taken there
        Tensor Eps(Tensor x, int t) => denoiser.Predict(x, torch.full([4], t, ScalarType.Int64));
        var (a200, a600) = (schedule.AlphaBar(200), schedule.AlphaBar(600));
        var x200 = (Math.Sqrt(a200) * x0) + (Math.Sqrt(1 - a200) * Eps(x0, 0));
        var eps200 = Eps(x200, 200);
        var predX0 = (x200 - (Math.Sqrt(1 - a200) * eps200)) / Math.Sqrt(a200);
        var x600 = (Math.Sqrt(a600) * predX0) + (Math.Sqrt(1 - a600) * eps200);
        Assert.True(latent.allclose(x600, rtol: 0, atol: 1e-12), $"max diff {(latent - x600).abs().max().item<double>()}");
    }

    [Fact]
    public void Given_the_analytic_Gaussian_model_When_inverted_and_decoded_Then_the_error_falls_as_S_grows()
    {
        // Given data ~ N(0.3, 0.5²) in 64 dimensions, and "images" drawn from it
        using var scope = NewDisposeScope();
        var schedule = NoiseSchedule.Linear(1000);
        var denoiser = new GaussianDenoiser(schedule, 0.3, 0.5);
        var sampler = new ImageSampler(denoiser.Predict, schedule, 1, 8, 8);
        var x0 = (torch.randn([32, 1, 8, 8], dtype: ScalarType.Float64, generator: new Generator(3)) * 0.5) + 0.3;

        // When
        var errors = new[] { 5, 10, 50, 200 }.Select(s =>
            ImageSampler.MeanSquaredError01(x0, sampler.Reconstruct(x0, Timetable.Create(Spacing.Trailing, 1000, s)).Reconstructions)).ToList();

        // Then
        for (var i = 1; i < errors.Count; i++)
        {
            Assert.True(errors[i] < errors[i - 1], $"MSE did not fall: {string.Join(", ", errors)}");
        }

        Assert.True(errors[^1] < 1e-3, $"MSE at S = 200 is {errors[^1]}");
    }

    [Fact]
    public void Given_two_seeds_When_interpolated_Then_the_ends_equal_each_seeds_own_sample()
    {
        // Given
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var sampler = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));
        var settings = new SampleSettings(Steps: 5);
        var a = sampler.InitialNoise(3, 0, 1);
        var b = sampler.InitialNoise(9, 0, 1);

        // When
        var line = Interpolation.Line(a, b, 5);
        var decoded = sampler.Decode(line, settings);
        var ownA = sampler.Generate(1, 3, settings, 1);
        var ownB = sampler.Generate(1, 9, settings, 1);

        // Then
        Assert.True(line[0].eq(a[0]).all().item<bool>());
        Assert.True(line[4].eq(b[0]).all().item<bool>());
        Assert.True(decoded[..1].eq(ownA).all().item<bool>());
        Assert.True(decoded[4..5].eq(ownB).all().item<bool>());
    }

    [Fact]
    public void Given_two_orthogonal_vectors_When_slerped_halfway_Then_the_norm_is_kept()
    {
        using var scope = NewDisposeScope();
        var a = torch.tensor(new double[] { 1, 0 }).reshape(1, 2);
        var b = torch.tensor(new double[] { 0, 1 }).reshape(1, 2);

        var mid = Interpolation.Slerp(a, b, 0.5);

        Assert.Equal(Math.Sqrt(0.5), mid[0, 0].item<double>(), 12);
        Assert.Equal(Math.Sqrt(0.5), mid[0, 1].item<double>(), 12);
    }

    [Fact]
    public void Given_two_vectors_at_60_degrees_of_different_lengths_When_slerped_Then_the_point_is_on_the_arc_by_angle()
    {
        // Given: a at 0°, b at 60° with twice a's length (⟨a, b⟩ = 1: an L1 norm or a wrong angle would show)
        using var scope = NewDisposeScope();
        var a = torch.tensor(new double[] { 1, 0 }).reshape(1, 2);
        var b = torch.tensor(new double[] { 1, Math.Sqrt(3) }).reshape(1, 2);

        // When
        var p = Interpolation.Slerp(a, b, 0.5);

        // Then: sin(30°)/sin(60°)·(a + b), the closed form at α = ½
        var w = Math.Sin(Math.PI / 6) / Math.Sin(Math.PI / 3);
        Assert.Equal(w * 2, p[0, 0].item<double>(), 12);
        Assert.Equal(w * Math.Sqrt(3), p[0, 1].item<double>(), 12);
    }

    [Theory]
    [InlineData(-1.0, "opposite directions")]
    [InlineData(0.0, "all zeros")]
    public void Given_noises_with_no_one_arc_between_them_When_slerped_Then_a_clear_error(double scale, string phrase)
    {
        // Given: b = −a (every great circle joins them), or b = 0 (no angle at all)
        using var scope = NewDisposeScope();
        var a = torch.tensor(new double[] { 0.3, -1.2, 0.5 }).reshape(1, 3);
        var b = a * scale;

        // When
        var error = Assert.Throws<ArgumentException>(() => Interpolation.Slerp(a, b, 0.5));

        // Then
        Assert.Contains(phrase, error.Message);
    }

    [Fact]
    public void Given_settings_the_chosen_sampler_would_ignore_When_validated_Then_they_are_refused()
    {
        // Given
        var schedule = NoiseSchedule.Linear(100);

        // When / Then: DDPM with η, σ̂ or a spacing; DDIM with DDPM's variance
        Assert.Contains("Eta (--eta) 0.7: DDIM settings, which DDPM would ignore", Assert.Throws<ArgumentException>(() => new SampleSettings(SamplerKind.Ddpm, Eta: 0.7).Validate(schedule)).Message);
        Assert.Throws<ArgumentException>(() => new SampleSettings(SamplerKind.Ddpm, LargeVariance: true).Validate(schedule));
        Assert.Throws<ArgumentException>(() => new SampleSettings(SamplerKind.Ddpm, Spacing: Spacing.Leading).Validate(schedule));
        Assert.Contains("DdpmVariance is a DDPM setting", Assert.Throws<ArgumentException>(() => new SampleSettings(DdpmVariance: DdpmVariance.Posterior).Validate(schedule)).Message);
        new SampleSettings(SamplerKind.Ddpm, DdpmVariance: DdpmVariance.Posterior).Validate(schedule);
        new Ddim.Evaluation.SweepPlan([10], [0.0, 1.0]).Validate(schedule); // the sweep's cells, DDPM's among them, pass
        Assert.Equal(new SampleSettings(SamplerKind.Ddpm).ToCanonical(), new SampleSettings(SamplerKind.Ddpm, Steps: 1000).ToCanonical()); // Steps means nothing to DDPM
    }

    [Theory]
    [InlineData(Spacing.Leading)]
    [InlineData(Spacing.Linspace)]
    [InlineData(Spacing.Uniform)]
    [InlineData(Spacing.Quad)]
    public void Given_one_step_of_a_rule_that_starts_at_t_0_When_validated_Then_it_is_refused_and_the_seed_rule_s_one_step_is_not(Spacing spacing)
    {
        // Given
        var schedule = NoiseSchedule.Linear(1000);

        // When
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SampleSettings(Steps: 1, Spacing: spacing).Validate(schedule));

        // Then
        Assert.Contains($"At S = 1 the {spacing.ToString().ToLowerInvariant()} rule's only timestep is t = 0", error.Message);
        new SampleSettings(Steps: 1).Validate(schedule);
        new SampleSettings(Steps: 1, Spacing: Spacing.Trailing).Validate(schedule);
    }

    [Fact]
    public void Given_leading_spacing_at_an_S_that_starts_far_below_the_top_When_validated_Then_it_is_refused_with_the_nearest_S_that_does_not()
    {
        // Given: at S = 400, T = 1000 the leading rule's strides of 2 start at t = 798, 201 below T − 1 (T/5 is 200)
        var schedule = NoiseSchedule.Linear(1000);
        Assert.Equal(798, Timetable.Create(Spacing.Leading, 1000, 400).Steps[0]);

        // When
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SampleSettings(Steps: 400, Spacing: Spacing.Leading).Validate(schedule));

        // Then: S = 401 (strides of 2 up to t = 800) is the nearest that starts within T/5 of the top; every S up to 250
        // passes, and S = 2 (t = 500, S dividing T: the rule's own pattern)
        Assert.Contains("at S = 400 and T = 1000 starts at t = 798, far below T − 1 = 999", error.Message);
        Assert.Contains("Take S = 401 (--steps)", error.Message);
        foreach (var steps in Enumerable.Range(2, 249))
        {
            Timetable.RequireExactSteps(Spacing.Leading, 1000, steps);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => Timetable.RequireExactSteps(Spacing.Leading, 1000, 600)); // t = 599
    }

    [Fact]
    public void Given_uniform_spacing_at_an_S_it_would_overrun_When_validated_Then_it_is_refused_with_the_nearest_exact_S()
    {
        // Given: range(0, 1000, 1000 // 300 = 3) is 334 timesteps, not 300
        var schedule = NoiseSchedule.Linear(1000);
        Assert.Equal(334, Timetable.Create(Spacing.Uniform, 1000, 300).Count);

        // When
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SampleSettings(Steps: 300, Spacing: Spacing.Uniform).Validate(schedule));

        // Then: the nearest S it runs exactly is 250 (stride 4); S = 50 (stride 20) passes as it is
        Assert.Contains("at S = 300 and T = 1000 is 334 steps, not 300. Take S = 250 (--steps), the nearest S it runs exactly", error.Message);
        var sweep = Assert.Throws<ArgumentOutOfRangeException>(() => new Ddim.Evaluation.SweepPlan([10, 300], [0.0], Spacing: Spacing.Uniform).Validate(schedule));
        Assert.Contains("is 334 steps, not 300", sweep.Message); // a sweep refuses it before its first cell, not at S = 300
        Assert.Contains("Take S = 7 (--steps)", Assert.Throws<ArgumentOutOfRangeException>(() => Timetable.RequireExactSteps(Spacing.Uniform, 1001, 3)).Message);
        new SampleSettings(Steps: 50, Spacing: Spacing.Uniform).Validate(schedule);
        Assert.Equal("DDIM S=10 η=0.005", new SampleSettings(Steps: 10, Eta: 0.005).ToString());
    }

    [Fact]
    public void Given_quad_spacing_that_repeats_its_smallest_timestep_When_eta_below_leaves_only_the_repeat_Then_it_is_refused()
    {
        // Given: quad at T = 1000, S = 30 ends 8, 3, 0, 0; the steps 0 → 0 and 0 → x̂0 add no noise
        var table = Timetable.Create(Spacing.Quad, 1000, 30);
        Assert.Equal([8, 3, 0, 0], table.Steps.Skip(table.Count - 4).ToArray());

        // When
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new DdimOptions(Eta: 1, EtaBelow: 3).Validate(table));

        // Then: the limit must let in the step 3 → 0
        Assert.Contains("Take --eta-below above 3", error.Message);
        new DdimOptions(Eta: 1, EtaBelow: 4).Validate(table);
    }

    [Fact]
    public void Given_four_corners_When_a_grid_is_made_Then_its_corners_are_the_inputs()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(1);
        var c = Enumerable.Range(0, 4).Select(_ => torch.randn([1, 4], generator: gen)).ToArray();

        var grid = Interpolation.Grid(c[0], c[1], c[2], c[3], 3);

        Assert.Equal(9, grid.shape[0]);
        Assert.True(grid[0].eq(c[0][0]).all().item<bool>());
        Assert.True(grid[2].eq(c[1][0]).all().item<bool>());
        Assert.True(grid[6].eq(c[2][0]).all().item<bool>());
        Assert.True(grid[8].eq(c[3][0]).all().item<bool>());
    }

    [Theory]
    [InlineData(40, 30)]   // ~1,200 codes: code growth from 9 bits
    [InlineData(200, 200)] // 40,000 noise pixels: 12-bit codes and several table resets
    public void Given_frames_When_encoded_as_GIF_Then_a_decoder_reads_every_frame_back_exactly(int width, int height)
    {
        // Given three grey frames with noise-like content
        var rng = new Random(5);
        var frames = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, width * height).Select(_ => (byte)rng.Next(256)).ToArray()).ToList();

        // When
        var gif = GifWriter.Encode(frames, height, width, 10);

        // Then
        using var codec = SkiaSharp.SKCodec.Create(new MemoryStream(gif));
        Assert.Equal(3, codec.FrameCount);
        for (var f = 0; f < 3; f++)
        {
            using var bitmap = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(width, height, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Premul));
            Assert.Equal(SkiaSharp.SKCodecResult.Success, codec.GetPixels(bitmap.Info, bitmap.GetPixels(), new SkiaSharp.SKCodecOptions(f)));
            var rgba = bitmap.Bytes;
            for (var i = 0; i < width * height; i++)
            {
                Assert.Equal(frames[f][i], rgba[4 * i]);
            }
        }
    }

    [Fact]
    public void Given_a_sampler_When_count_or_batch_is_below_1_Then_a_clear_error()
    {
        using var folder = new TempFolder();
        using var sampler = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));

        Assert.Contains("at least 1", Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Generate(0, 1, new SampleSettings(Steps: 2), 4, (_, _) => { })).Message);
        Assert.Contains("at least 1", Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Generate(4, 1, new SampleSettings(Steps: 2), 0, (_, _) => { })).Message);
    }

    [Fact]
    public void Given_DDPM_settings_with_a_DDIM_only_eta_below_When_validated_Then_a_clear_error()
    {
        var settings = new SampleSettings(SamplerKind.Ddpm, Eta: 1, EtaBelow: 50);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => settings.Validate(NoiseSchedule.Create(ScheduleKind.Linear, 100)));

        Assert.Contains("EtaBelow (--eta-below) is a DDIM option; DDPM is stochastic at every step.", error.Message);
    }

    [Fact]
    public void Given_DDPM_settings_with_an_eps_scale_When_validated_Then_a_clear_error()
    {
        var settings = new SampleSettings(SamplerKind.Ddpm, EpsScale: 1.005);

        var error = Assert.Throws<ArgumentException>(() => settings.Validate(NoiseSchedule.Create(ScheduleKind.Linear, 100)));

        Assert.Contains("EpsScale (--eps-scale) is a DDIM option.", error.Message);
    }

    [Fact]
    public void Given_clipping_When_sampled_with_the_default_re_derived_and_the_kept_noise_Then_the_choice_reaches_the_sampler_and_changes_the_images()
    {
        // Given: a random tiny model, whose x̂0 at large t lies far outside [−1, 1], so clipping is active.
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var sampler = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));
        var plain = new SampleSettings(Steps: 5);

        // When
        var a = sampler.Generate(4, 42, plain with { RederiveNoise = false }, 4);
        var b = sampler.Generate(4, 42, plain, 4);
        var c = sampler.Generate(4, 42, plain with { Clip = false }, 4);
        var d = sampler.Generate(4, 42, plain with { RederiveNoise = false, Clip = false }, 4);

        // Then: re-deriving ε̂ from the clipped x̂0 (the default) changes the result; without clipping there is nothing to re-derive.
        Assert.True(plain.RederiveNoise, "re-deriving ε̂ is the default");
        Assert.False(a.eq(b).all().item<bool>(), "RederiveNoise had no effect");
        Assert.True(c.eq(d).all().item<bool>(), "without clipping there is nothing to re-derive: RederiveNoise must change nothing");
    }

    [Fact]
    public void Given_an_eps_scale_in_the_settings_When_images_are_generated_Then_it_reaches_the_sampler()
    {
        // Given
        using var folder = new TempFolder();
        using var scope = NewDisposeScope();
        using var sampler = ImageSampler.Load(TinyModel.Write(folder.File("m.ddim")));
        var plain = new SampleSettings(Steps: 5);
        var schedule = sampler.Schedule;
        NoisePredictor scaled = (x, t) => sampler.Model(x, t) / 0.97;
        var xT = sampler.InitialNoise(42, 0, 4);

        // When
        var viaSettings = sampler.Generate(4, 42, plain with { EpsScale = 0.97 }, 4);
        var byHand = DdimSampler.Sample(scaled, xT, schedule, plain.Timetable(schedule), plain.DdimOptions);

        // Then: the same images as sampling the scaled predictor directly
        Assert.True(viaSettings.allclose(byHand, rtol: 0, atol: 0), $"max diff {(viaSettings - byHand).abs().max().item<float>()}");
    }

    [Fact]
    public void Given_sample_settings_When_labelled_Then_non_default_choices_are_named()
    {
        Assert.Equal("DDIM S=50 η=0", new SampleSettings().ToString());
        Assert.Equal("DDIM S=10 η=1 (quad spacing, no clip)", new SampleSettings(Steps: 10, Eta: 1, Spacing: Spacing.Quad, Clip: false).ToString());
        Assert.Equal("DDIM S=50 η=0 (kept ε̂)", new SampleSettings(RederiveNoise: false).ToString());
        Assert.Equal("DDIM S=50 η=0 (no clip)", new SampleSettings(Clip: false, RederiveNoise: false).ToString());
        Assert.Equal("DDPM T (Beta)", new SampleSettings(SamplerKind.Ddpm, Spacing: Spacing.Quad, RederiveNoise: false).ToString());
        Assert.Equal("DDIM S=50 η=0 (ε̂/1.005)", new SampleSettings(EpsScale: 1.005).ToString());
    }
}

