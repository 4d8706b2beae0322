using System.Text.Json.Serialization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Ddim.Models;

/// <summary>
/// Shape of a <see cref="UNet"/>. Saved inside every checkpoint, so a model file says how to rebuild itself.
/// </summary>
/// <param name="ImageChannels">Channels of the data: 1 for MNIST, 3 for RGB.</param>
/// <param name="ImageSize">Height and width of the (square) images: 28 for MNIST, 32 for CIFAR-like data.</param>
/// <param name="BaseChannels">Channels of the first level; level i has BaseChannels·ChannelMultipliers[i].</param>
/// <param name="ChannelMultipliers">One entry per resolution level; the image is halved between levels.</param>
/// <param name="BlocksPerLevel">ResNet blocks per level on the way down (the way up has one more, as in DDPM).</param>
/// <param name="AttentionResolutions">Feature-map sizes (e.g. 7 for 28→14→7) that get a self-attention block.</param>
/// <param name="Dropout">Dropout inside ResNet blocks, during training only.</param>
/// <param name="Groups">GroupNorm groups; must divide every level's channel count.</param>
/// <param name="MiddleAttention">Self-attention between the two ResNet blocks of the middle (lowest-resolution) block, as in
/// DDPM: null (left out, as in every file saved before this setting existed, and in files saved since unless it is
/// set) or true has it (<see cref="HasMiddleAttention"/>); false leaves the two blocks alone, so with
/// AttentionResolutions [] the network has no attention at all.</param>
public sealed record UNetConfig(
    int ImageChannels = 1,
    int ImageSize = 28,
    int BaseChannels = 32,
    int[]? ChannelMultipliers = null,
    int BlocksPerLevel = 2,
    int[]? AttentionResolutions = null,
    double Dropout = 0.1,
    int Groups = 8,
    bool? MiddleAttention = null)
{
    /// <summary>The multipliers, with the default (1, 2, 2) when none were given.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> Multipliers => ChannelMultipliers ?? [1, 2, 2];

    /// <summary>The attention resolutions, with the default (7) when none were given.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> Attention => AttentionResolutions ?? [7];

    /// <summary>Whether the middle block has self-attention: <see cref="MiddleAttention"/>, true when left out.</summary>
    [JsonIgnore]
    public bool HasMiddleAttention => MiddleAttention ?? true;

    /// <summary>Width of the time embedding: 4·BaseChannels, as in DDPM.</summary>
    [JsonIgnore]
    public int TimeEmbeddingChannels => 4 * BaseChannels;

    /// <summary>
    /// Equal when every setting is: the lists compare by their entries (a record would compare the arrays by
    /// reference), and a setting left out equals its default written out.
    /// </summary>
    public bool Equals(UNetConfig? other) =>
        other is not null && ImageChannels == other.ImageChannels && ImageSize == other.ImageSize && BaseChannels == other.BaseChannels &&
        Multipliers.SequenceEqual(other.Multipliers) && BlocksPerLevel == other.BlocksPerLevel && Attention.SequenceEqual(other.Attention) &&
        Dropout.Equals(other.Dropout) && Groups == other.Groups && HasMiddleAttention == other.HasMiddleAttention;

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(ImageChannels);
        hash.Add(ImageSize);
        hash.Add(BaseChannels);
        hash.Add(BlocksPerLevel);
        hash.Add(Dropout);
        hash.Add(Groups);
        hash.Add(HasMiddleAttention);
        foreach (var m in Multipliers)
        {
            hash.Add(m);
        }

        foreach (var a in Attention)
        {
            hash.Add(a);
        }

        return hash.ToHashCode();
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the field to change when the shape is impossible.</summary>
    public void Validate()
    {
        foreach (var (name, value, min) in new[]
        {
            (nameof(ImageChannels), ImageChannels, 1), (nameof(ImageSize), ImageSize, 4), (nameof(BaseChannels), BaseChannels, 1),
            (nameof(BlocksPerLevel), BlocksPerLevel, 1), (nameof(Groups), Groups, 1),
        })
        {
            if (value < min)
            {
                throw new ArgumentException($"UNetConfig.{name} must be ≥ {min} (got {value}).");
            }
        }

        if (Multipliers.Count < 1 || Multipliers.Any(m => m < 1))
        {
            throw new ArgumentException("ChannelMultipliers needs at least one positive entry.");
        }

        if (Multipliers.Count > 1 + Math.Log2(ImageSize))
        {
            throw new ArgumentException($"ChannelMultipliers has {Multipliers.Count} levels, more than a {ImageSize}-pixel image has room for: it is down to one pixel after {(int)Math.Log2(ImageSize)} halvings.");
        }

        var divisor = 1 << (Multipliers.Count - 1);
        if (ImageSize % divisor != 0)
        {
            throw new ArgumentException($"ImageSize {ImageSize} cannot be halved {Multipliers.Count - 1} times without padding; use fewer ChannelMultipliers or a size divisible by {divisor}.");
        }

        // The first convolution's BaseChannels (the first skip connection, and the first block's GroupNorm) count too.
        foreach (var channels in Multipliers.Select(m => BaseChannels * m).Prepend(BaseChannels))
        {
            if (channels % Groups != 0)
            {
                throw new ArgumentException($"Groups = {Groups} must divide every level's channels, BaseChannels = {BaseChannels} and BaseChannels·multiplier (got {channels}).");
            }
        }

        if (Dropout is < 0 or >= 1)
        {
            throw new ArgumentException($"Dropout must be in [0, 1); got {Dropout}.");
        }
    }
}

/// <summary>
/// The noise predictor ε_θ(x_t, t): a DDPM-style U-Net (Ho et al. 2020, appendix B) with sinusoidal time
/// embedding, ResNet blocks (GroupNorm, SiLU, time injection, dropout), strided-conv down-sampling, nearest
/// up-sampling, skip connections and optional self-attention.
/// </summary>
/// <remarks>
/// Two departures from DDPM's code, kept because every saved model was trained with them: at a resolution with
/// attention, the skip connection is taken after the ResNet block and before its attention block (DDPM takes it
/// after the attention), so the way up receives un-attended features there; and only the output convolution starts
/// at zero (DDPM also zeroes each ResNet block's second convolution and the attention's projection). Changing either
/// would change what every saved file computes without changing its parameter names or shapes, so it would need a
/// new <see cref="UNetConfig"/> setting. Attention is single-headed with scale 1/√C (scaled_dot_product_attention's
/// default), as in DDPM.
/// </remarks>
public sealed class UNet : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear timeIn;
    private readonly Linear timeOut;
    private readonly Conv2d inputConv;
    private readonly ModuleList<nn.Module> down = new();
    private readonly ResBlock midBlock1;
    private readonly nn.Module<Tensor, Tensor> midAttention;
    private readonly ResBlock midBlock2;
    private readonly ModuleList<nn.Module> up = new();
    private readonly GroupNorm outputNorm;
    private readonly Conv2d outputConv;

    /// <summary>Builds a freshly initialised network of the given shape.</summary>
    public UNet(UNetConfig config) : base(nameof(UNet))
    {
        Native.TorchRuntime.Initialize(); // a host fix that failed is reported here, readably (see TorchRuntime)
        config.Validate();
        Config = config;
        var c0 = config.BaseChannels;
        var tc = config.TimeEmbeddingChannels;
        timeIn = nn.Linear(c0, tc);
        timeOut = nn.Linear(tc, tc);
        inputConv = nn.Conv2d(config.ImageChannels, c0, 3, padding: 1);

        // Way down: remember the channels of every skip connection.
        var skips = new Stack<int>();
        skips.Push(c0);
        int ch = c0, size = config.ImageSize;
        for (var level = 0; level < config.Multipliers.Count; level++)
        {
            var outCh = c0 * config.Multipliers[level];
            for (var b = 0; b < config.BlocksPerLevel; b++)
            {
                down.append(new ResBlock(ch, outCh, tc, config.Dropout, config.Groups));
                ch = outCh;
                if (config.Attention.Contains(size))
                {
                    down.append(new AttentionBlock(ch, config.Groups));
                }

                skips.Push(ch);
            }

            if (level < config.Multipliers.Count - 1)
            {
                down.append(new Downsample(ch));
                size /= 2;
                skips.Push(ch);
            }
        }

        midBlock1 = new ResBlock(ch, ch, tc, config.Dropout, config.Groups);
        midAttention = config.HasMiddleAttention ? new AttentionBlock(ch, config.Groups) : nn.Identity();
        midBlock2 = new ResBlock(ch, ch, tc, config.Dropout, config.Groups);

        // Way up: one more block per level than on the way down, each eating one skip connection.
        for (var level = config.Multipliers.Count - 1; level >= 0; level--)
        {
            var outCh = c0 * config.Multipliers[level];
            for (var b = 0; b <= config.BlocksPerLevel; b++)
            {
                up.append(new ResBlock(ch + skips.Pop(), outCh, tc, config.Dropout, config.Groups));
                ch = outCh;
                if (config.Attention.Contains(size))
                {
                    up.append(new AttentionBlock(ch, config.Groups));
                }
            }

            if (level > 0)
            {
                up.append(new Upsample(ch));
                size *= 2;
            }
        }

        outputNorm = Norm(ch, config.Groups);
        outputConv = nn.Conv2d(ch, config.ImageChannels, 3, padding: 1);
        RegisterComponents();

        // The output starts at zero, so an untrained model predicts ε̂ = 0 (a common, stabilising choice).
        using (no_grad())
        {
            outputConv.weight!.zero_();
            outputConv.bias!.zero_();
        }
    }

    /// <summary>The shape this network was built with.</summary>
    public UNetConfig Config { get; }

    /// <summary>Number of trainable parameters.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>ε̂ for images <paramref name="x"/> [B, C, H, W] at timesteps <paramref name="t"/> [B].</summary>
    public override Tensor forward(Tensor x, Tensor t)
    {
        // The embedding, the skip connections and the concatenations go with the call; only ε̂ is handed out.
        using var scope = torch.NewDisposeScope();

        // When the whole batch shares one timestep (always so when sampling), embed it once as [1, C] and let it
        // broadcast: the result of each image then does not depend on the batch it is in.
        var tIn = t.numel() > 1 && t.eq(t[0]).all().item<bool>() ? t[..1] : t;
        // The embedding is computed in float32 and takes x's dtype, so a bfloat16 copy of the network runs too.
        var temb = timeOut.forward(F.silu(timeIn.forward(TimestepEmbedding(tIn, Config.BaseChannels).to(x.dtype))));
        var h = inputConv.forward(x);
        var hs = new List<Tensor> { h };
        foreach (var layer in down)
        {
            h = Apply(layer, h, temb);
            if (layer is not AttentionBlock)
            {
                hs.Add(h);
            }
        }

        h = midBlock2.forward(midAttention.forward(midBlock1.forward(h, temb)), temb);
        foreach (var layer in up)
        {
            if (layer is ResBlock)
            {
                var skip = hs[^1];
                hs.RemoveAt(hs.Count - 1);
                h = torch.cat([h, skip], 1);
            }

            h = Apply(layer, h, temb);
        }

        return outputConv.forward(F.silu(outputNorm.forward(h))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Sinusoidal embedding of integer timesteps (Transformer positions; DDPM's choice):
    /// [sin(t·ω_k), cos(t·ω_k)] with ω_k = 10000^(−k/(d/2−1)).
    /// </summary>
    public static Tensor TimestepEmbedding(Tensor t, int dim)
    {
        var half = dim / 2;
        var scale = Math.Log(10000) / Math.Max(half - 1, 1);
        var freqs = torch.exp(torch.arange(half, dtype: ScalarType.Float32, device: t.device) * -scale);
        var args = t.to(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        var emb = torch.cat([torch.sin(args), torch.cos(args)], 1);
        return dim % 2 == 1 ? F.pad(emb, [0, 1]) : emb;
    }

    internal static GroupNorm Norm(long channels, int groups)
    {
        // nn.GroupNorm came back with uninitialised affine parameters in TorchSharp 0.107: set them explicitly.
        var norm = nn.GroupNorm(groups, channels);
        using (no_grad())
        {
            norm.weight!.fill_(1.0);
            norm.bias!.zero_();
        }

        return norm;
    }

    private static Tensor Apply(nn.Module layer, Tensor h, Tensor temb) => layer switch
    {
        ResBlock r => r.forward(h, temb),
        nn.Module<Tensor, Tensor> m => m.forward(h),
        _ => throw new InvalidOperationException($"Unexpected layer {layer.GetType().Name}."),
    };

    private sealed class ResBlock : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly GroupNorm norm1;
        private readonly Conv2d conv1;
        private readonly Linear timeProjection;
        private readonly GroupNorm norm2;
        private readonly Dropout dropout;
        private readonly Conv2d conv2;
        private readonly Conv2d? shortcut;

        public ResBlock(long inCh, long outCh, long timeCh, double dropoutRate, int groups) : base(nameof(ResBlock))
        {
            norm1 = Norm(inCh, groups);
            conv1 = nn.Conv2d(inCh, outCh, 3, padding: 1);
            timeProjection = nn.Linear(timeCh, outCh);
            norm2 = Norm(outCh, groups);
            dropout = nn.Dropout(dropoutRate);
            conv2 = nn.Conv2d(outCh, outCh, 3, padding: 1);
            shortcut = inCh == outCh ? null : nn.Conv2d(inCh, outCh, 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x, Tensor temb)
        {
            // A scope per block frees the block's temporaries as soon as it returns (autograd keeps what backward needs).
            using var scope = torch.NewDisposeScope();
            var h = conv1.forward(F.silu(norm1.forward(x)));
            h = h + timeProjection.forward(F.silu(temb)).unsqueeze(-1).unsqueeze(-1);
            h = conv2.forward(dropout.forward(F.silu(norm2.forward(h))));
            return ((shortcut?.forward(x) ?? x) + h).MoveToOuterDisposeScope();
        }
    }

    private sealed class AttentionBlock : nn.Module<Tensor, Tensor>
    {
        private readonly GroupNorm norm;
        private readonly Conv2d qkv;
        private readonly Conv2d projection;

        public AttentionBlock(long channels, int groups) : base(nameof(AttentionBlock))
        {
            norm = Norm(channels, groups);
            qkv = nn.Conv2d(channels, 3 * channels, 1);
            projection = nn.Conv2d(channels, channels, 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            var (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);

            // [B, 3C, H, W] → three [B, 1, HW, C] tensors: a single head over all positions.
            var parts = qkv.forward(norm.forward(x)).reshape(b, 3, c, h * w).permute(1, 0, 3, 2).unsqueeze(2).unbind(0);
            var attended = F.scaled_dot_product_attention(parts[0], parts[1], parts[2]);
            var back = attended.squeeze(1).permute(0, 2, 1).reshape(b, c, h, w);
            return (x + projection.forward(back)).MoveToOuterDisposeScope();
        }
    }

    private sealed class Downsample : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv;

        public Downsample(long channels) : base(nameof(Downsample))
        {
            conv = nn.Conv2d(channels, channels, 3, stride: 2, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => conv.forward(x);
    }

    private sealed class Upsample : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv;

        public Upsample(long channels) : base(nameof(Upsample))
        {
            conv = nn.Conv2d(channels, channels, 3, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) =>
            conv.forward(F.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest));
    }
}
