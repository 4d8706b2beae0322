namespace Ddim.Training;

/// <summary>The half-cosine learning-rate decay (SGDR, Loshchilov &amp; Hutter 2017, without restarts).</summary>
public static class CosineDecay
{
    /// <summary>
    /// The factor ½·(1 + cos(π·<paramref name="done"/>/<paramref name="total"/>)): 1 at the start of the decay, ½ half-way,
    /// falling to 0 at <paramref name="total"/> steps. Defined for <paramref name="total"/> ≥ 1 and
    /// 0 ≤ <paramref name="done"/> ≤ <paramref name="total"/>; callers validate their configuration.
    /// </summary>
    public static double Factor(long done, long total) => 0.5 * (1 + Math.Cos(Math.PI * done / total));
}
