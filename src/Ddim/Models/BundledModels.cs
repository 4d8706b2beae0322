namespace Ddim.Models;

/// <summary>
/// The files Ddim comes with: the MNIST noise predictor that <c>ddim sample</c> uses by default, and the MNIST judge
/// that <c>ddim eval</c> scores with. A project that references Ddim gets copies of both in its output folder.
/// </summary>
public static class BundledModels
{
    /// <summary>The bundled MNIST model's path, relative to the repository root or to the program's folder.</summary>
    public const string MnistPath = "models/mnist.ddim";

    /// <summary>The bundled MNIST judge's path, relative to the repository root or to the program's folder.</summary>
    public const string JudgePath = "models/judge/judge.ddim";

    /// <summary>The bundled MNIST model's full path, for <see cref="Sampling.ImageSampler.Load"/>; see <see cref="Find"/>.</summary>
    public static string Mnist => Find(MnistPath);

    /// <summary>The bundled MNIST judge's full path, for <see cref="Evaluation.Judge.Load(string)"/>; see <see cref="Find"/>.</summary>
    public static string Judge => Find(JudgePath);

    /// <summary>Where a bundled file is looked for, in order: the program's folder, then the working directory.</summary>
    public static IReadOnlyList<string> Candidates(string relativePath) =>
        [Path.Combine(AppContext.BaseDirectory, relativePath), Path.GetFullPath(relativePath)];

    /// <summary>The first of <see cref="Candidates"/> that exists.</summary>
    /// <exception cref="FileNotFoundException">Neither exists; the message names both places.</exception>
    public static string Find(string relativePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(relativePath);
        var candidates = Candidates(relativePath);
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"The bundled {relativePath} was not found (looked in {string.Join(" and ", candidates)}): reference src/Ddim/Ddim.csproj, which copies it into your program's folder, or run from the repository's root.", relativePath);
    }
}
