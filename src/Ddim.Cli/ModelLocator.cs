namespace Ddim.Cli;

/// <summary>Finds the model (or judge) file a command should use.</summary>
internal static class ModelLocator
{
    /// <summary>The bundled MNIST model, relative to the repository or the tool's folder.</summary>
    public const string BundledModel = "models/mnist.ddim";

    public static string Resolve(string? path, string bundled = BundledModel, string option = "--model", string advice = "Pass --model with a .ddim file.")
    {
        if (!string.IsNullOrEmpty(path))
        {
            return path;
        }

        var candidates = new[] { Path.Combine(AppContext.BaseDirectory, bundled), Path.GetFullPath(bundled) };
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"No {option} given and the bundled {bundled} was not found (looked in {string.Join(" and ", candidates)}). {advice}");
    }
}
