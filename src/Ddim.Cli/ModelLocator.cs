using Ddim.Models;

namespace Ddim.Cli;

/// <summary>Finds the model (or judge) file a command should use.</summary>
internal static class ModelLocator
{
    public static string Resolve(string? path, string bundled = BundledModels.MnistPath, string option = "--model", string advice = "Pass --model with a .ddim file.")
    {
        if (!string.IsNullOrEmpty(path))
        {
            return path;
        }

        var candidates = BundledModels.Candidates(bundled);
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"No {option} given and the bundled {bundled} was not found (looked in {string.Join(" and ", candidates)}). {advice}");
    }
}
