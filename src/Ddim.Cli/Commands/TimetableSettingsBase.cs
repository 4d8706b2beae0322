using System.ComponentModel;
using Ddim.Sampling;
using Ddim.Schedules;
using Spectre.Console.Cli;

namespace Ddim.Cli.Commands;

/// <summary>
/// Options of every command that runs DDIM timetables on a model: the timetable rule, the device and the batch size.
/// reconstruct, which takes its step counts as a list, takes these alone; <see cref="DecodeSettingsBase"/> adds --steps.
/// </summary>
internal class TimetableSettingsBase : ModelSettingsBase
{
    [CommandOption("--spacing <RULE>")]
    [Description("Timetable rule (the S timesteps visited): seed (default; the reference tutorial's linspace(−1, T−1, S+1) truncated: 999, 979, …, 19 at S = 50), leading (the paper's linear ⌊c·i⌋, diffusers' rule: 980, …, 0), trailing (diffusers': 999, …, 19), linspace (both ends: 999, …, 0), uniform (the DDIM paper's code, range(0, T, T//S); an S it would overrun, 334 steps at S = 300, is refused), quad (the paper's CIFAR10 rule, denser near t = 0). leading, linspace, uniform and quad refuse S = 1, whose one step would start at t = 0.")]
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
    /// checked before the model is looked up, so their errors come first. The caller disposes the sampler (and so its network).
    /// </summary>
    public ImageSampler LoadSampler(out string modelPath)
    {
        var device = ParseDevice();
        var precision = ParsePrecision(device);
        modelPath = ModelLocator.Resolve(Model);
        return ImageSampler.Load(modelPath, device, precision);
    }

    /// <summary>The --spacing rule, after checking it and --batch-size: a clear error for an unknown rule or a batch outside 1 … 2^20.</summary>
    public Spacing ParseTimetableOptions()
    {
        // A rule by its name only: Enum.TryParse would also take numbers and comma lists ("leading,trailing" is
        // Leading | Trailing, which is another rule).
        var spacing = Spacing is null ? Schedules.Spacing.Seed
            : Enum.GetValues<Spacing>().Cast<Spacing?>().FirstOrDefault(rule => rule.ToString()!.Equals(Spacing, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"Unknown --spacing '{Spacing}'; use one of {string.Join(", ", Enum.GetNames<Spacing>().Select(n => n.ToLowerInvariant()))}.");
        ImageSampler.RequireBatchSize(BatchSize);
        return spacing;
    }
}
