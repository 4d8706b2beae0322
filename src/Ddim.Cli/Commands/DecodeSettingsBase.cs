using System.ComponentModel;
using Ddim.Sampling;
using Ddim.Schedules;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>
/// Options of every command that runs a DDIM timetable: the step count, the timetable rule, the device and the batch
/// size. invert and reconstruct (deterministic DDIM, unclipped) take these alone; the classes derived from it add the
/// options their commands take, so a command's --help lists just those.
/// </summary>
internal class DecodeSettingsBase : ModelSettingsBase
{
    /// <summary>S when --steps is left out.</summary>
    public const int DefaultSteps = 50;

    [CommandOption("--steps <S>")]
    [Description("DDIM steps S (1 … T). Default 50.")]
    public int? Steps { get; init; }

    [CommandOption("--spacing <RULE>")]
    [Description("Timetable rule: seed, leading, trailing, linspace, uniform, quad. Default seed.")]
    public string? Spacing { get; init; }

    [CommandOption("--device <DEVICE>")]
    [Description(DeviceOption.Description + " Random draws (x_T, the noise) are made on the CPU either way, so a seed gives the same draws; the network's arithmetic may differ in the last bits.")]
    public string? DeviceGiven { get; init; }

    [CommandOption("--batch-size <N>")]
    [Description("Images per batch (memory use), rounded up to whole groups of 32 images (the network runs on groups of 32, which is what keeps results independent of the batch size). Default 64.")]
    public int? BatchSizeGiven { get; init; }

    /// <summary>--device, or cpu. Null-able underneath, so that a mode it does not apply to can refuse it even at its default.</summary>
    public string Device => DeviceGiven ?? "cpu";

    /// <summary>--batch-size as given, or 64 (before the sampler rounds it up to whole groups).</summary>
    public int BatchSize => BatchSizeGiven ?? 64;

    /// <summary>The --device to sample on; a clear error when it is unknown or CUDA is missing.</summary>
    public TorchSharp.torch.Device ParseDevice() => DeviceOption.Parse(Device);

    /// <summary>
    /// The sampler of --model (default: the bundled model) on --device, its network in --precision. Both options are
    /// checked before the model is looked up, so their errors come first.
    /// </summary>
    public (ImageSampler Sampler, string ModelPath) LoadSampler()
    {
        var device = ParseDevice();
        var precision = ParsePrecision(device);
        var modelPath = ModelLocator.Resolve(Model);
        return (ImageSampler.Load(modelPath, device, precision), modelPath);
    }

    /// <summary>
    /// The sampler settings these options give: deterministic DDIM at --steps and --spacing, without clipping (what
    /// invert and reconstruct run). A clear error for an unknown --spacing or a --batch-size below 1.
    /// </summary>
    public virtual SampleSettings ToSampleSettings()
    {
        var spacing = ParseSpacing();
        if (BatchSize < 1)
        {
            throw new ArgumentException($"--batch-size must be at least 1; got {BatchSize}.");
        }

        return new SampleSettings(SamplerKind.Ddim, Steps ?? DefaultSteps, Eta: 0, spacing, Clip: false);
    }

    private Spacing ParseSpacing() =>
        Spacing is null ? Schedules.Spacing.Seed
        : Enum.TryParse<Spacing>(Spacing, ignoreCase: true, out var spacing) && !int.TryParse(Spacing, out _)
            ? spacing
            : throw new ArgumentException($"Unknown --spacing '{Spacing}'; use one of {string.Join(", ", Enum.GetNames<Spacing>().Select(n => n.ToLowerInvariant()))}.");
}
