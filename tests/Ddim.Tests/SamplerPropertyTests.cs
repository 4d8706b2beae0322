using Ddim.Sampling;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public class SamplerPropertyTests
{
    private static readonly NoiseSchedule Schedule = NoiseSchedule.Linear(300);

    [Fact]
    public void Given_the_same_noise_When_DDIM_eta_1_runs_all_T_steps_Then_it_equals_DDPM_with_posterior_variance()
    {
        // Given
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0.3, 0.5);
        var (xT, draws) = StartAndNoise(seed: 7, Schedule.T);

        // When
        var ddim = DdimSampler.Sample(denoiser.Predict, xT, Schedule, Timetable.Full(Schedule.T), new DdimOptions(Eta: 1, ClipDenoised: false), new ReplayNoise(draws));
        var ddpm = DdpmSampler.Sample(denoiser.Predict, xT, Schedule, new ReplayNoise(draws), new DdpmOptions(DdpmVariance.Posterior));

        // Then
        Assert.True(ddim.allclose(ddpm, rtol: 0, atol: 1e-10), $"max diff {(ddim - ddpm).abs().max().item<double>()}");
    }

    [Fact]
    public void Given_clipping_When_DDIM_eta_1_runs_all_T_steps_Then_it_equals_clipped_DDPM_only_with_the_re_derived_noise()
    {
        // Given: data ~ N(0.3, 2²), so x̂0 often lies outside [−1, 1] and clipping is active at every step
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0.3, 2.0);
        var (xT, draws) = StartAndNoise(seed: 11, Schedule.T);
        var clipped = new DdimOptions(Eta: 1, ClipDenoised: true);
        Assert.True(clipped.RederiveNoise, "re-deriving ε̂ is the default");

        // When
        var ddpm = DdpmSampler.Sample(denoiser.Predict, xT, Schedule, new ReplayNoise(draws), new DdpmOptions(DdpmVariance.Posterior, ClipDenoised: true));
        var rederived = DdimSampler.Sample(denoiser.Predict, xT, Schedule, Timetable.Full(Schedule.T), clipped, new ReplayNoise(draws));
        var kept = DdimSampler.Sample(denoiser.Predict, xT, Schedule, Timetable.Full(Schedule.T), clipped with { RederiveNoise = false }, new ReplayNoise(draws));

        // Then: with ε̂ re-derived from the clipped x̂0, eq. 12 at η = 1 is DDPM's clipped posterior mean μ̃(x_t, x̂0) plus
        // the same noise; keeping the network's ε̂ beside a clipped x̂0 is not, and ends elsewhere.
        Assert.True(rederived.allclose(ddpm, rtol: 0, atol: 1e-9), $"max diff {(rederived - ddpm).abs().max().item<double>()}");
        Assert.True((kept - ddpm).abs().max().item<double>() > 1e-3, "clipping should have mattered");
    }

    [Fact]
    public void Given_eta_below_a_timestep_When_DDIM_runs_Then_steps_from_above_it_are_deterministic_and_the_rest_use_eta()
    {
        // Given: a 20-step timetable of T = 300, one recorded noise draw per step, and the limit at one of its timesteps
        // (the step that starts there is deterministic: t ≥ limit)
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0.3, 0.5);
        var timetable = Timetable.Create(Spacing.Seed, Schedule.T, 20);
        var (xT, draws) = StartAndNoise(seed: 5, timetable.Count);
        var limit = timetable.Steps[10];
        var options = new DdimOptions(Eta: 1, EtaBelow: limit);
        var steps = new List<(int T, Tensor X, Tensor XNext, Tensor PredX0)>();

        // When
        DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, options, new ReplayNoise(draws),
            s => steps.Add((s.T, s.X.clone().DetachFromDisposeScope(), s.XNext.clone().DetachFromDisposeScope(), s.PredX0.clone().DetachFromDisposeScope())));
        var everywhere = DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, options with { EtaBelow = Schedule.T }, new ReplayNoise(draws));
        var nowhere = Assert.Throws<ArgumentOutOfRangeException>(() => DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, options with { EtaBelow = timetable.Steps[^2] }, new ReplayNoise(draws)));

        // Then: each step is eq. 12 with σ = 0 from t ≥ limit and η = 1 below, the same noise either way, and the observer
        // sees that step's x_t and its (clipped) x̂0
        Assert.Contains(steps, s => s.T == limit);
        Assert.Contains(steps, s => s.T < limit);
        for (var i = 0; i < steps.Count; i++)
        {
            using var stepScope = NewDisposeScope();
            var (t, x, xNext, predX0) = steps[i];
            using var tensorT = full([4], t, ScalarType.Int64);
            var eps = denoiser.Predict(x, tensorT);
            var eta = t >= limit ? 0.0 : 1.0;
            var (expected, expectedX0) = DdimSampler.Step(x, eps, Schedule.AlphaBar(t), Schedule.AlphaBar(timetable.Pairs().ElementAt(i).TNext), new DdimOptions(eta), draws[i]);
            Assert.True(xNext.allclose(expected, rtol: 0, atol: 1e-12), $"step {i} (t = {t})");
            Assert.True(predX0.allclose(expectedX0, rtol: 0, atol: 1e-12), $"x̂0 of step {i} (t = {t})");
        }

        var plain = DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, new DdimOptions(Eta: 1), new ReplayNoise(draws));
        Assert.True(everywhere.allclose(plain, rtol: 0, atol: 0));
        Assert.Contains($"Take --eta-below above {timetable.Steps[^2]}", nowhere.Message); // noise on no step: η = 0 under another name, refused
    }

    [Theory]
    [InlineData(0.0, false, 0, "EtaBelow (--eta-below) must be a timestep of at least 1")]
    [InlineData(0.0, false, 100, "needs η > 0")]
    [InlineData(1.0, true, 100, "no LargeVariance (--large-variance)")]
    public void Given_a_bad_eta_below_When_validated_Then_a_clear_error(double eta, bool largeVariance, int below, string expected)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new DdimOptions(Eta: eta, LargeVariance: largeVariance, EtaBelow: below).Validate());
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void Given_an_eps_scale_When_DDIM_runs_Then_it_is_DDIM_of_the_network_output_divided_by_lambda(double eta)
    {
        // Given: a Gaussian whose x̂0 often leaves [−1, 1], so clipping and re-derivation act on the scaled ε̂
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0.3, 2.0);
        var timetable = Timetable.Create(Spacing.Seed, Schedule.T, 20);
        var (xT, draws) = StartAndNoise(seed: 3, timetable.Count);
        const double lambda = 1.004;
        NoisePredictor scaled = (x, t) => denoiser.Predict(x, t) / lambda;

        // When
        var withOption = DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, new DdimOptions(eta, EpsScale: lambda), new ReplayNoise(draws));
        var byHand = DdimSampler.Sample(scaled, xT, Schedule, timetable, new DdimOptions(eta), new ReplayNoise(draws));
        var plain = DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, new DdimOptions(eta), new ReplayNoise(draws));

        // Then: the option is exactly the scaled predictor, and it matters
        Assert.True(withOption.allclose(byHand, rtol: 0, atol: 0), $"max diff {(withOption - byHand).abs().max().item<double>()}");
        Assert.True((withOption - plain).abs().max().item<double>() > 1e-4, "λ should have mattered");
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.2)]
    [InlineData(double.NaN)]
    public void Given_an_eps_scale_outside_its_range_When_validated_Then_a_clear_error(double lambda)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DdimOptions(EpsScale: lambda).Validate());
        Assert.Contains("EpsScale λ (--eps-scale) must lie in [0.9, 1.1]", e.Message);
    }

    [Fact]
    public void Given_eta_0_When_sampled_twice_with_different_generators_Then_bit_identical_and_generators_untouched()
    {
        // Given
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0.3, 0.5);
        using var seedGen = new Generator(1);
        var xT = randn([8, 1, 4, 4], generator: seedGen);
        var timetable = Timetable.Create(Spacing.Seed, Schedule.T, 20);
        using var genA = new Generator(11);
        using var genB = new Generator(99);
        var stateBefore = genA.get_state();

        // When
        var a = DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, DdimOptions.Deterministic, new GeneratorNoise(genA));
        var b = DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, DdimOptions.Deterministic, new GeneratorNoise(genB));
        var c = DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable);

        // Then
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());
        Assert.Equal(a.data<float>().ToArray(), c.data<float>().ToArray());
        Assert.True(genA.get_state().eq(stateBefore).all().item<bool>());
    }

    [Fact]
    public void Given_eta_above_0_and_the_same_seed_When_sampled_twice_Then_identical_and_a_new_seed_differs()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0.3, 0.5);
        var xT = randn([4, 8], generator: new Generator(3));
        var timetable = Timetable.Create(Spacing.Trailing, Schedule.T, 10);
        var options = new DdimOptions(Eta: 0.5);

        Tensor Run(long seed)
        {
            using var gen = new Generator((ulong)seed);
            return DdimSampler.Sample(denoiser.Predict, xT, Schedule, timetable, options, new GeneratorNoise(gen));
        }

        Assert.True(Run(5).eq(Run(5)).all().item<bool>());
        Assert.False(Run(5).eq(Run(6)).all().item<bool>());
    }

    [Fact]
    public void Given_the_exact_denoiser_When_DDIM_eta_0_samples_with_growing_S_Then_mean_and_std_approach_mu_and_s()
    {
        // Given data ~ N(μ = 0.3, s = 0.5), many independent coordinates, and T = 1000 so that x_T ≈ N(0, I)
        // (at T = 300 the linear schedule leaves √ᾱ_T ≈ 0.22 of the signal, a prior mismatch that biases any sampler).
        using var scope = NewDisposeScope();
        const double mu = 0.3, s = 0.5;
        var schedule = NoiseSchedule.Linear(1000);
        var denoiser = new GaussianDenoiser(schedule, mu, s);
        var xT = randn([64, 1024], dtype: ScalarType.Float64, generator: new Generator(2024));

        // When
        var errors = new[] { 10, 50, 200, 1000 }.Select(steps =>
        {
            var x0 = DdimSampler.Sample(denoiser.Predict, xT, schedule, Timetable.Create(Spacing.Trailing, schedule.T, steps), new DdimOptions(ClipDenoised: false));
            return (Steps: steps, Mean: Math.Abs(x0.mean().item<double>() - mu) / mu, Std: Math.Abs(x0.std().item<double>() - s) / s);
        }).ToList();

        // Then: the relative error of the std shrinks as S grows, and at S = T both are within 2%.
        for (var i = 1; i < errors.Count; i++)
        {
            Assert.True(errors[i].Std < errors[i - 1].Std, $"std error did not fall from S={errors[i - 1].Steps} to S={errors[i].Steps}: {errors[i - 1].Std} → {errors[i].Std}");
        }

        Assert.InRange(errors[^1].Mean, 0, 0.02);
        Assert.InRange(errors[^1].Std, 0, 0.02);
    }

    [Fact]
    public void Given_a_stochastic_run_without_noise_source_When_sampling_Then_a_clear_error()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0, 1);
        var error = Assert.Throws<ArgumentException>(() =>
            DdimSampler.Sample(denoiser.Predict, randn(2, 4), Schedule, Timetable.Create(Spacing.Seed, 300, 10), new DdimOptions(Eta: 0.5)));
        Assert.Contains("noise source", error.Message);
    }

    [Fact]
    public void Given_a_timetable_for_another_T_When_sampling_Then_a_clear_error()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0, 1);
        var error = Assert.Throws<ArgumentException>(() =>
            DdimSampler.Sample(denoiser.Predict, randn(2, 4), Schedule, Timetable.Create(Spacing.Seed, 1000, 10)));
        Assert.Contains("T = 1000", error.Message);
    }

    [Fact]
    public void Given_integer_x_T_When_sampling_Then_a_clear_error()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0, 1);
        var error = Assert.Throws<ArgumentException>(() =>
            DdimSampler.Sample(denoiser.Predict, zeros([2, 4], ScalarType.Int32), Schedule, Timetable.Create(Spacing.Seed, 300, 10)));
        Assert.Contains("float32 or float64", error.Message);
    }

    [Fact]
    public void Given_an_observer_When_sampling_Then_it_sees_every_step_in_order_with_x_and_x0()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0.3, 0.5);
        var timetable = Timetable.Create(Spacing.Seed, Schedule.T, 10);
        var seen = new List<(int T, int TNext, double X0Mean)>();

        var result = DdimSampler.Sample(denoiser.Predict, randn([2, 8], generator: new Generator(1)), Schedule, timetable,
            observer: s => seen.Add((s.T, s.TNext, s.PredX0.mean().item<float>())));

        Assert.Equal(timetable.Pairs().Select(p => (p.T, p.TNext)), seen.Select(s => (s.T, s.TNext)));
        Assert.Equal(ScalarType.Float32, result.dtype);
    }

    [Fact]
    public void Given_the_large_variance_option_When_one_step_is_taken_Then_the_direction_uses_the_eta_1_sigma_and_the_noise_sigma_hat()
    {
        // Given: ᾱ_t = 0.5 → ᾱ_next = 0.8, no clipping. σ(η = 1)² = (1 − 0.8)/(1 − 0.5)·(1 − 0.5/0.8) = 0.15; σ̂² = 1 − 0.5/0.8 = 0.375.
        using var scope = NewDisposeScope();
        var x = tensor(new[] { 0.3, -0.7, 1.9 });
        var eps = tensor(new[] { 0.5, 1.2, -0.4 });
        var z = tensor(new[] { 0.1, -2.0, 0.7 });

        // When
        var (xNext, predX0) = DdimSampler.Step(x, eps, 0.5, 0.8, new DdimOptions(ClipDenoised: false, LargeVariance: true), z);

        // Then: x_next = √0.8·x̂0 + √(1 − 0.8 − 0.15)·ε + √0.375·z (the paper's σ̂ in the noise, η = 1's σ in the direction)
        var expectedX0 = (x - (Math.Sqrt(0.5) * eps)) / Math.Sqrt(0.5);
        var expected = (Math.Sqrt(0.8) * expectedX0) + (Math.Sqrt(0.05) * eps) + (Math.Sqrt(0.375) * z);
        Assert.True(predX0.allclose(expectedX0, rtol: 0, atol: 1e-15));
        Assert.True(xNext.allclose(expected, rtol: 0, atol: 1e-15), $"max diff {(xNext - expected).abs().max().item<double>()}");
    }

    [Fact]
    public void Given_the_large_variance_option_When_sampling_Then_it_runs_and_stays_finite()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianDenoiser(Schedule, 0.3, 0.5);
        using var gen = new Generator(5);
        var x0 = DdimSampler.Sample(denoiser.Predict, randn([16, 64], generator: gen), Schedule, Timetable.Create(Spacing.Seed, 300, 10),
            new DdimOptions(LargeVariance: true), new GeneratorNoise(gen));
        Assert.True(x0.isfinite().all().item<bool>());
        Assert.InRange(x0.abs().max().item<float>(), 0, 1.0001f);
    }

    /// <summary>x_T and one noise draw per step, [4, 16] in float64, from one seeded generator (in the caller's dispose scope).</summary>
    private static (Tensor XT, List<Tensor> Draws) StartAndNoise(ulong seed, int steps)
    {
        using var gen = new Generator(seed);
        var xT = randn([4, 16], dtype: ScalarType.Float64, generator: gen);
        return (xT, Enumerable.Range(0, steps).Select(_ => randn([4, 16], dtype: ScalarType.Float64, generator: gen)).ToList());
    }
}
