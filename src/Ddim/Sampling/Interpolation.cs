using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Sampling;

/// <summary>Latent interpolation (DDIM paper §5.3): spherical interpolation between starting noises x_T.</summary>
public static class Interpolation
{
    /// <summary>
    /// slerp(a, b, α) = sin((1−α)θ)/sin θ·a + sin(αθ)/sin θ·b, θ = arccos(⟨a, b⟩/(‖a‖‖b‖)), per batch row.
    /// α = 0 and α = 1 return exact copies of <paramref name="a"/> and <paramref name="b"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="a"/> and <paramref name="b"/> differ in shape, or are not batches
    /// [B, …], or a row is all zeros or points opposite its partner (no angle, or no one great circle).</exception>
    public static Tensor Slerp(Tensor a, Tensor b, double alpha)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.dim() < 2 || !a.shape.SequenceEqual(b.shape))
        {
            throw new ArgumentException($"Slerp needs two batches [B, …] of the same shape; got [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}].", nameof(b));
        }

        if (alpha == 0)
        {
            return a.clone();
        }

        if (alpha == 1)
        {
            return b.clone();
        }

        using var scope = torch.NewDisposeScope();
        var fa = a.flatten(1).to(ScalarType.Float64);
        var fb = b.flatten(1).to(ScalarType.Float64);
        var normA = (fa * fa).sum(1).sqrt(); // ‖a‖ per row (Euclidean)
        var normB = (fb * fb).sum(1).sqrt();
        if ((normA.min() * normB.min()).item<double>() == 0)
        {
            throw new ArgumentException("Slerp needs rows with a direction: a row of a or b is all zeros, which has no angle to another.", nameof(b));
        }

        var cos = ((fa * fb).sum(1) / (normA * normB)).clamp(-1, 1);
        if (cos.min().item<double>() < -1 + 1e-12)
        {
            // Opposite directions: every great circle joins them, so no path is the slerp (a lerp would pass through 0).
            throw new ArgumentException("Slerp needs rows that do not point in opposite directions: a row of b is −1 times its row of a, and every great circle joins them. Take another pair of noises.", nameof(b));
        }

        var theta = cos.acos().unsqueeze(1);
        var sin = theta.sin();

        // Nearly parallel vectors (θ ≈ 0; θ ≈ π is refused above): fall back to linear interpolation.
        var parallel = sin.abs() < 1e-8;
        var wa = torch.where(parallel, torch.full_like(sin, 1 - alpha), ((1 - alpha) * theta).sin() / sin);
        var wb = torch.where(parallel, torch.full_like(sin, alpha), (alpha * theta).sin() / sin);
        return ((wa * fa) + (wb * fb)).reshape(a.shape).to(a.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>N points from <paramref name="a"/> to <paramref name="b"/> ([1, …] each), as [N, …].</summary>
    /// <exception cref="ArgumentException">The ends are not single images [1, …] of the same shape.</exception>
    public static Tensor Line(Tensor a, Tensor b, int points)
    {
        if (points < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(points), points, "An interpolation needs at least 2 points (the two ends).");
        }

        ArgumentNullException.ThrowIfNull(a);
        if (a.dim() < 2 || a.shape[0] != 1)
        {
            throw new ArgumentException($"A line runs between two single images [1, …]; got [{string.Join(", ", a.shape)}]. Take one row with x.narrow(0, i, 1).", nameof(a));
        }

        using var scope = torch.NewDisposeScope();
        return torch.cat(Enumerable.Range(0, points).Select(i => Slerp(a, b, i / (double)(points - 1))).ToArray(), 0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A points×points grid from four corners (top-left, top-right, bottom-left, bottom-right), row-major:
    /// slerp along the top and bottom edges, then down each column.
    /// </summary>
    public static Tensor Grid(Tensor topLeft, Tensor topRight, Tensor bottomLeft, Tensor bottomRight, int points)
    {
        using var scope = torch.NewDisposeScope();
        var top = Line(topLeft, topRight, points);
        var bottom = Line(bottomLeft, bottomRight, points);
        var rows = new Tensor[points];
        for (var r = 0; r < points; r++)
        {
            var alpha = r / (double)(points - 1);
            rows[r] = Slerp(top, bottom, alpha);
        }

        return torch.cat(rows, 0).MoveToOuterDisposeScope();
    }
}
