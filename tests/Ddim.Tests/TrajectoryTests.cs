using Ddim.Sampling;
using Ddim.Schedules;
using static TorchSharp.torch;

namespace Ddim.Tests;

public class TrajectoryTests
{
    public static TheoryData<int> Cases => Golden.Indices("trajectories");

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_reference_run_of_the_Gaussian_denoiser_When_replayed_in_float64_Then_x0_matches_to_1e_9(int index) =>
        Replay(index, ScalarType.Float64, 1e-9);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Given_a_reference_run_When_replayed_in_float32_Then_x0_matches_to_2e_6(int index) =>
        Replay(index, ScalarType.Float32, 2e-6); // float32 rounding leaves at most ~3e-7 here

    private static void Replay(int index, ScalarType dtype, double tolerance)
    {
        // Given
        var r = Golden.Item("trajectories", index);
        using var scope = NewDisposeScope();
        var t = r.GetProperty("T").GetInt32();
        var schedule = r.GetProperty("schedule").GetString() == "linear" ? NoiseSchedule.Linear(t) : NoiseSchedule.Cosine(t);
        var model = r.GetProperty("model");
        var denoiser = new GaussianDenoiser(schedule, model.GetProperty("mu").GetDouble(), model.GetProperty("s").GetDouble());
        var xT = TensorAssert.From(r.GetProperty("x_T").Doubles(), dtype).unsqueeze(0);
        var noise = new ReplayNoise(r.GetProperty("noise").Rows().Select(row => TensorAssert.From(row, dtype)).ToList());

        // When
        Tensor x0;
        if (r.GetProperty("sampler").GetString() == "ddim")
        {
            var timetable = Timetable.Create(Enum.Parse<Spacing>(r.GetProperty("spacing").GetString()!, true), t, r.GetProperty("S").GetInt32());
            Assert.Equal(r.GetProperty("timesteps").Ints(), timetable.Steps.ToArray());
            // The reference keeps the network's ε̂ after clipping (its README); clipping is off in its runs anyway.
            var options = new DdimOptions(Eta: r.GetProperty("eta").GetDouble(), ClipDenoised: r.GetProperty("clip").GetBoolean(), RederiveNoise: false);
            x0 = DdimSampler.Sample(denoiser.Predict, xT, schedule, timetable, options, noise);
        }
        else
        {
            var variance = r.GetProperty("variance").GetString() == "beta" ? DdpmVariance.Beta : DdpmVariance.Posterior;
            x0 = DdpmSampler.Sample(denoiser.Predict, xT, schedule, noise, new DdpmOptions(variance));
        }

        // Then
        TensorAssert.Close(r.GetProperty("x_0").Doubles(), x0, tolerance);
    }
}
