using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ddim.Evaluation;

/// <summary>Shape of a <see cref="Judge"/>. Saved inside the judge's file, so the file says how to rebuild itself.</summary>
/// <param name="ImageChannels">Channels of the images judged: 1 for MNIST.</param>
/// <param name="ImageSize">Height and width of the (square) images; must be divisible by 4 (two 2×2 poolings).</param>
/// <param name="Classes">Number of classes: 10 digits.</param>
/// <param name="Channels1">Channels of the first convolution block (28×28).</param>
/// <param name="Channels2">Channels of the second convolution block (14×14).</param>
/// <param name="Features">Width of the penultimate layer: the feature space FID is measured in.</param>
/// <param name="Dropout">Dropout on the features, during training only.</param>
public sealed record JudgeConfig(
    int ImageChannels = 1,
    int ImageSize = 28,
    int Classes = 10,
    int Channels1 = 32,
    int Channels2 = 64,
    int Features = 128,
    double Dropout = 0.3)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the field to change when the shape is impossible.</summary>
    public void Validate()
    {
        if (ImageChannels < 1 || Classes < 2 || Channels1 < 1 || Channels2 < 1 || Features < 1)
        {
            throw new ArgumentException($"JudgeConfig needs ImageChannels ≥ 1, Classes ≥ 2 and positive Channels1, Channels2 and Features; got {this}.");
        }

        if (ImageSize < 4 || ImageSize % 4 != 0)
        {
            throw new ArgumentException($"JudgeConfig.ImageSize must be a positive multiple of 4 (it is pooled twice); got {ImageSize}.");
        }

        if (Dropout is < 0 or >= 1)
        {
            throw new ArgumentException($"JudgeConfig.Dropout must be in [0, 1); got {Dropout}.");
        }
    }
}

/// <summary>
/// The MNIST judge: a small CNN classifier that scores generated digits. Two blocks of
/// (3×3 conv, BatchNorm, ReLU) ×2 + 2×2 max-pool, then a fully connected layer of <see cref="JudgeConfig.Features"/>
/// ReLU units (the <b>feature space</b>), dropout, and a linear layer to class logits.
/// <para>
/// FID is normally measured in the pool3 features of an ImageNet Inception-v3; those weights are not available
/// here (no network access, and they would not fit a 28×28 grey-scale domain well anyway), so Ddim measures FID in
/// this judge's penultimate features instead. Such numbers compare models and samplers on MNIST with each other,
/// not with FIDs published elsewhere.
/// </para>
/// Images are taken in model space, [−1, 1].
/// </summary>
public sealed class Judge : nn.Module<Tensor, Tensor>
{
    /// <summary>The "kind" written in a judge file's metadata.</summary>
    public const string FileKind = "classifier";

    private readonly Sequential body;
    private readonly Linear featureLayer;
    private readonly Dropout dropout;
    private readonly Linear head;

    /// <summary>Builds a freshly initialised judge (initial weights come from torch's global generator).</summary>
    public Judge(JudgeConfig config) : base(nameof(Judge))
    {
        Native.TorchRuntime.Initialize(); // a host fix that failed is reported here, readably (see TorchRuntime)
        config.Validate();
        Config = config;
        var pooled = config.ImageSize / 4;
        body = nn.Sequential(
            ("block1", Block(config.ImageChannels, config.Channels1)),
            ("block2", Block(config.Channels1, config.Channels2)),
            ("flatten", nn.Flatten()));
        featureLayer = nn.Linear((long)config.Channels2 * pooled * pooled, config.Features);
        dropout = nn.Dropout(config.Dropout);
        head = nn.Linear(config.Features, config.Classes);
        RegisterComponents();
    }

    /// <summary>The shape this judge was built with.</summary>
    public JudgeConfig Config { get; }

    /// <summary>Number of trainable parameters.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Class logits [B, Classes] for images [B, C, H, W] in [−1, 1].</summary>
    public override Tensor forward(Tensor x) => head.forward(dropout.forward(Features(x)));

    /// <summary>The penultimate-layer features [B, Features] (after ReLU): the space FID is measured in.</summary>
    public Tensor Features(Tensor x)
    {
        RequireShape(x);
        return nn.functional.relu(featureLayer.forward(body.forward(x)));
    }

    /// <summary>Features and logits of one forward pass (put the judge in eval mode first).</summary>
    public (Tensor Features, Tensor Logits) FeaturesAndLogits(Tensor x)
    {
        var features = Features(x);
        return (features, head.forward(dropout.forward(features)));
    }

    /// <summary>
    /// Saves the judge as a <see cref="ModelFile"/> with metadata kind "classifier", its configuration, and
    /// <paramref name="training"/> (how it was trained and how well it did), atomically.
    /// </summary>
    public void Save(string path, JsonObject? training = null)
    {
        var file = new ModelFile(new JsonObject
        {
            ["kind"] = FileKind,
            ["judge"] = JsonSerializer.SerializeToNode(Config, ModelFile.Json),
            ["feature_space"] = $"penultimate layer ({Config.Features} ReLU units) of this classifier, used for FID in place of Inception-v3 pool3",
            ["training"] = training,
        });
        file.Sections["weights"] = ModelFile.Serialize(this);
        file.Save(path);
    }

    /// <summary>Loads a judge saved by <see cref="Save"/>; it comes back in eval mode. Errors say what to do.</summary>
    public static Judge Load(string path) => Load(path, out _);

    /// <summary>Loads a judge and hands back its file's metadata (e.g. "training" with the test accuracy).</summary>
    public static Judge Load(string path, out JsonObject metadata)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"Judge file not found: {path}. Pass --judge with the bundled models/judge/judge.ddim, or train one with 'ddim train-classifier --out {(path.EndsWith(".ddim", StringComparison.OrdinalIgnoreCase) ? path : "runs/judge/judge.ddim")}'.", path);
        }

        var file = ModelFile.Load(path);
        if (file.Metadata["kind"]?.GetValue<string>() != FileKind)
        {
            throw new InvalidDataException(
                $"{path} is not a judge (its kind is '{file.Metadata["kind"]?.GetValue<string>() ?? "none"}', expected '{FileKind}'). Pass --judge with a file written by 'ddim train-classifier'.");
        }

        JudgeConfig config;
        try
        {
            config = file.Metadata["judge"].Deserialize<JudgeConfig>(ModelFile.Json)
                ?? throw new InvalidDataException($"{path} has no 'judge' configuration.");
            config.Validate();
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: the stored judge configuration is invalid: {e.Message}", e);
        }

        if (!file.Sections.TryGetValue("weights", out var weights))
        {
            throw new InvalidDataException($"{path} holds no judge weights.");
        }

        var judge = new Judge(config);
        ModelFile.Deserialize(judge, weights, $"judge ({path})");
        judge.eval();
        metadata = file.Metadata;
        return judge;
    }

    private void RequireShape(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != Config.ImageChannels || x.shape[2] != Config.ImageSize || x.shape[3] != Config.ImageSize)
        {
            throw new ArgumentException(
                $"The judge takes images [B, {Config.ImageChannels}, {Config.ImageSize}, {Config.ImageSize}]; got [{string.Join(", ", x.shape)}]. Use a judge trained on images of this shape.");
        }
    }

    private static Sequential Block(long inCh, long outCh) => nn.Sequential(
        ("conv1", nn.Conv2d(inCh, outCh, 3, padding: 1, bias: false)),
        ("norm1", Norm(outCh)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(outCh, outCh, 3, padding: 1, bias: false)),
        ("norm2", Norm(outCh)),
        ("relu2", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)));

    private static BatchNorm2d Norm(long channels)
    {
        // Set the affine parameters explicitly (see UNet.Norm: TorchSharp 0.107 left GroupNorm's uninitialised).
        var norm = nn.BatchNorm2d(channels);
        using (no_grad())
        {
            norm.weight!.fill_(1.0);
            norm.bias!.zero_();
        }

        return norm;
    }
}
