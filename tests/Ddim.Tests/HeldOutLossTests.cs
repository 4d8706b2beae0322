using Ddim.Evaluation;
using Ddim.Sampling;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

/// <summary>The training objective on held-out images (<see cref="HeldOutLoss"/>), checked against closed forms.</summary>
public sealed class HeldOutLossTests : OneTorchThread
{
    private static readonly NoiseSchedule Schedule = NoiseSchedule.Linear(1000);

    /// <summary>4,096 images of 1×4×4 drawn from N(μ, s²·I): data whose best noise predictor is known.</summary>
    private static Tensor GaussianImages(double mean, double std, ulong seed = 5)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(seed);
        return ((torch.randn([4096, 1, 4, 4], generator: generator) * std) + mean).MoveToOuterDisposeScope();
    }

    [Fact]
    public void Given_Gaussian_data_and_its_exact_predictor_When_measured_Then_the_loss_is_the_minimum_mean_squared_error()
    {
        // Given: x0 ~ N(0.2, 0.5²), for which E[ε | x_t] is exact and its error per dimension is ᾱ·s² / (ᾱ·s² + 1 − ᾱ).
        using var x0 = GaussianImages(0.2, 0.5);
        var exact = new GaussianDenoiser(Schedule, 0.2, 0.5);
        int[] timesteps = [10, 300, 900];

        // When
        var losses = HeldOutLoss.ByTimestep(exact.Predict, x0, Schedule, timesteps, seed: 3);
        var done = 0;
        var zero = HeldOutLoss.ByTimestep((x, _) => torch.zeros_like(x), x0, Schedule, timesteps, seed: 3, timestepDone: () => done++);

        // Then: within sampling error (65,536 squared errors each: about 0.6% relative standard error).
        for (var k = 0; k < timesteps.Length; k++)
        {
            var abar = Schedule.AlphaBar(timesteps[k]);
            var mmse = abar * 0.25 / ((abar * 0.25) + 1 - abar);
            Assert.InRange(losses[k] / mmse, 0.97, 1.03);
            Assert.InRange(zero[k], 0.97, 1.03); // predicting 0 leaves all of ε: E‖ε‖²/D = 1
        }

        Assert.Equal(timesteps.Length, done); // progress: once per timestep
    }

    [Fact]
    public void Given_a_predictor_that_shows_its_input_and_timestep_When_measured_Then_each_loss_is_the_closed_form_of_that_draw()
    {
        // Given: 5 float64 images and a "network" ε̂ = x_t + t/1000, so that the loss depends on ᾱ_t, on the timestep the
        // model is given, and on the noise: a timestep off by one, or ᾱ of another t, moves it far beyond 1e-12
        using var scope = NewDisposeScope();
        var x0 = torch.linspace(-0.9, 0.8, 5 * 1 * 2 * 2, dtype: ScalarType.Float64).reshape(5, 1, 2, 2);
        int[] timesteps = [10, 300, 900];
        static Tensor Shows(Tensor x, Tensor t) => x + (t.to(ScalarType.Float64) / 1000.0).view(-1, 1, 1, 1);

        // When
        var losses = HeldOutLoss.PerImage(Shows, x0, Schedule, timesteps, seed: 11, batchSize: 2);

        // Then: timestep k's noise is the k-th draw of Generator(seed), and x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε
        using var generator = new Generator(11);
        for (var k = 0; k < timesteps.Length; k++)
        {
            var eps = Draws.Normal(x0.shape, ScalarType.Float64, CPU, generator);
            var abar = Schedule.AlphaBar(timesteps[k]);
            var xt = (Math.Sqrt(abar) * x0) + (Math.Sqrt(1 - abar) * eps);
            var expected = (xt + (timesteps[k] / 1000.0) - eps).square().flatten(1).mean([1]).data<double>().ToArray();
            Assert.Equal(expected, losses[k], (a, b) => Math.Abs(a - b) < 1e-12);
        }
    }

    [Fact]
    public void Given_two_predictors_on_the_same_images_When_paired_Then_the_difference_and_its_standard_error_are_those_of_the_per_image_differences()
    {
        // Given: the exact predictor (A) and one that predicts 0 (B), on 4,096 images
        using var x0 = GaussianImages(0.2, 0.5);
        var exact = new GaussianDenoiser(Schedule, 0.2, 0.5);
        int[] timesteps = [10, 300, 900];
        var a = HeldOutLoss.PerImage(exact.Predict, x0, Schedule, timesteps, seed: 3);
        var b = HeldOutLoss.PerImage((x, _) => torch.zeros_like(x), x0, Schedule, timesteps, seed: 3);

        // When
        var paired = HeldOutLoss.Paired(a, b);
        var itself = HeldOutLoss.Paired(a, a);

        // Then: the rows average to ByTimestep's losses; the difference is that of the means over t, its SE SD/√N of
        // the per-image differences, computed here by hand; a model against itself differs by exactly 0 ± 0
        var byTimestep = HeldOutLoss.ByTimestep(exact.Predict, x0, Schedule, timesteps, seed: 3);
        Assert.Equal(byTimestep, a.Select(row => row.Average()), (x, y) => Math.Abs(x - y) < 1e-12);
        Assert.Equal(4096, paired.Count);
        var d = Enumerable.Range(0, 4096).Select(i => ((b[0][i] + b[1][i] + b[2][i]) / 3) - ((a[0][i] + a[1][i] + a[2][i]) / 3)).ToArray();
        var mean = d.Average();
        Assert.Equal(mean, paired.Mean, 1e-12);
        Assert.Equal(Math.Sqrt(d.Sum(v => (v - mean) * (v - mean)) / 4095 / 4096), paired.StandardError, 1e-12);
        Assert.Equal(b.Select(r => r.Average()).Average() - a.Select(r => r.Average()).Average(), paired.Mean, 1e-12);
        Assert.True(paired.Mean > 10 * paired.StandardError); // predicting 0 is far worse, and the pairing shows it
        Assert.Equal(0, itself.Mean);
        Assert.Equal(0, itself.StandardDeviation);
        Assert.Contains("same timesteps and images", Assert.Throws<ArgumentException>(() => HeldOutLoss.Paired(a, b[..2])).Message);
    }

    [Fact]
    public void Given_a_seed_When_measured_in_other_batch_sizes_or_again_Then_the_same_losses_and_another_seed_differs()
    {
        // Given
        using var x0 = GaussianImages(0, 1);
        var predictor = new GaussianDenoiser(Schedule, 0.1, 0.8);
        int[] timesteps = [50, 500];

        // When
        var a = HeldOutLoss.ByTimestep(predictor.Predict, x0, Schedule, timesteps, seed: 9, batchSize: 4096);
        var b = HeldOutLoss.ByTimestep(predictor.Predict, x0, Schedule, timesteps, seed: 9, batchSize: 7);
        var c = HeldOutLoss.ByTimestep(predictor.Predict, x0, Schedule, timesteps, seed: 10);

        // Then: the same x_t whatever the batching (sums only regroup), another noise draw with another seed.
        for (var k = 0; k < timesteps.Length; k++)
        {
            Assert.Equal(a[k], b[k], 1e-12);
            Assert.NotEqual(a[k], c[k]);
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1000)]
    public void Given_a_timestep_outside_the_schedule_When_measured_Then_a_clear_error(int t)
    {
        // Given
        using var x0 = GaussianImages(0, 1);

        // When
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => HeldOutLoss.ByTimestep((x, _) => x, x0, Schedule, [100, t], seed: 0));

        // Then
        Assert.Contains("Timesteps must be in 0 … 999", error.Message);
    }
}
