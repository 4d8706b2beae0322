using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>
/// The exact noise predictor for data x0 ~ N(μ, s²·I): a stand-in for a network with a known answer.
/// E[x0|x_t] = μ + √ᾱ·s²/(ᾱ·s² + 1 − ᾱ)·(x_t − √ᾱ·μ) and ε*(x_t, t) = (x_t − √ᾱ_t·E[x0|x_t])/√(1−ᾱ_t).
/// </summary>
/// <param name="schedule">The schedule that defines ᾱ_t.</param>
/// <param name="mean">μ.</param>
/// <param name="std">s.</param>
public sealed class GaussianDenoiser(NoiseSchedule schedule, double mean, double std)
{
    /// <summary>μ of the data.</summary>
    public double Mean { get; } = mean;

    /// <summary>s of the data.</summary>
    public double Std { get; } = std;

    /// <summary>ε*(x_t, t), usable as a <see cref="NoisePredictor"/>.</summary>
    public Tensor Predict(Tensor x, Tensor t)
    {
        using var scope = torch.NewDisposeScope();
        using var table = schedule.AlphaBarTensor(ScalarType.Float64, x.device);
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[0] = x.shape[0];
        var abar = table.index_select(0, t.to(ScalarType.Int64)).reshape(shape); // float64, cast only once the coefficients are made
        // ε* = (x − √ᾱ·E[x0|x_t])/√(1−ᾱ), simplified: √(1−ᾱ)·(x − √ᾱ·μ)/(ᾱ·s² + 1 − ᾱ). This form has no 1 − (≈1)
        // cancellation, and its coefficients are exact to float64 before a float32 x meets them (near t = 0 a float32
        // ᾱ alone would put 6e-4 of relative error into √(1−ᾱ)).
        var oneMinusAbar = 1 - abar;
        var scale = (oneMinusAbar.sqrt() / ((abar * (Std * Std)) + oneMinusAbar)).to(x.dtype);
        var shift = (abar.sqrt() * Mean).to(x.dtype);
        return (scale * (x - shift)).MoveToOuterDisposeScope();
    }
}
