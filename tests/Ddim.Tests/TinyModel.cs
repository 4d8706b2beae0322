using Ddim.Models;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

/// <summary>Small random (not trained, but not zero) U-Nets saved as model files, for fast end-to-end tests.</summary>
public static class TinyModel
{
    public static readonly UNetConfig Config = new(ImageChannels: 1, ImageSize: 28, BaseChannels: 8, ChannelMultipliers: [1, 2], BlocksPerLevel: 1, AttentionResolutions: [14], Dropout: 0, Groups: 4);

    /// <summary>The same U-Net for the 8×8 images of <see cref="SyntheticDigits"/>, without attention.</summary>
    public static readonly UNetConfig Synthetic8x8 =
        new(ImageChannels: 1, ImageSize: SyntheticDigits.Size, BaseChannels: 8, ChannelMultipliers: [1, 2], BlocksPerLevel: 1, AttentionResolutions: [], Dropout: 0, Groups: 4);

    public static UNet Network(long seed = 1, UNetConfig? config = null)
    {
        torch.random.manual_seed(seed);
        var net = new UNet(config ?? Config);
        using var noGrad = torch.no_grad();
        using var gen = new Generator((ulong)seed);
        foreach (var p in net.parameters())
        {
            // Random output weights too (the output conv starts at zero), so ε̂ is not trivially 0.
            p.add_(torch.randn(p.shape, generator: gen) * 0.05);
        }

        net.eval();
        return net;
    }

    public static string Write(string path, long seed = 1, int timeSteps = 100, UNetConfig? config = null)
    {
        using var net = Network(seed, config);
        ModelFile.SaveNetwork(path, net, NoiseSchedule.Linear(timeSteps));
        return path;
    }
}
