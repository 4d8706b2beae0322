using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public static class TensorAssert
{
    public static Tensor From(double[] values, ScalarType dtype = ScalarType.Float64) =>
        torch.tensor(values, dtype: ScalarType.Float64).to(dtype);

    public static Tensor From(double[][] rows, ScalarType dtype = ScalarType.Float64)
    {
        var flat = rows.SelectMany(r => r).ToArray();
        return torch.tensor(flat, [rows.Length, rows[0].Length], dtype: ScalarType.Float64).to(dtype);
    }

    public static void Close(double[] expected, Tensor actual, double tolerance)
    {
        var got = actual.to(ScalarType.Float64).flatten().data<double>().ToArray();
        Assert.Equal(expected.Length, got.Length);
        for (var i = 0; i < got.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - got[i]) <= tolerance, $"element {i}: expected {expected[i]:R}, got {got[i]:R} (tolerance {tolerance})");
        }
    }
}
