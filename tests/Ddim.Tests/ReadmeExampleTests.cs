using Ddim.Sampling;
using Ddim.Schedules;
using static TorchSharp.torch;
using Ddim.Tests;

// Outside the Ddim namespace, so that the README's code compiles here only as it would in a user's program.
namespace ReadmeExamples;

/// <summary>
/// The README's "Using the library" examples, run: the code between the README markers below is the README's, line for
/// line (with the model and PNG paths in variables), and the using directives above are its own (less the last), so an
/// API change that breaks an example fails here, and so does an edit of the README that this file does not follow.
/// </summary>
public sealed class ReadmeExampleTests : OneTorchThread
{
    /// <summary>The README's paths, and the names that stand for them in the test's copy of the examples.</summary>
    private static readonly (string Variable, string Readme)[] Paths = [("readmeModel", "\"models/mnist.ddim\""), ("readmeDigits", "\"digits.png\"")];

    [Fact]
    public void Given_a_tiny_model_When_the_first_readme_example_runs_Then_it_samples_writes_a_grid_and_reconstructs()
    {
        // Given
        using var folder = new TempFolder();
        var readmeModel = TinyModel.Write(folder.File("m.ddim"));
        var readmeDigits = folder.File("digits.png");

        // When
        // README example 1 begin
        // Sample: 16 digits with DDIM, 50 steps, η = 0.
        using var sampler = ImageSampler.Load(readmeModel);   // owns the network: disposing frees it
        using var scope = NewDisposeScope();   // every tensor made below is freed when the scope ends
        using var images = sampler.Generate(count: 16, seed: 42, new SampleSettings(Steps: 50, Eta: 0));   // [16, 1, 28, 28] in [-1, 1]
        File.WriteAllBytes(readmeDigits, Ddim.Imaging.ImageGrid.Grid(images, columns: 8));

        // Interpolate: slerp between the starting noise of two seeds, decoded with DDIM η = 0.
        var a = sampler.InitialNoise(seed: 3, start: 0, count: 1);
        var b = sampler.InitialNoise(seed: 7, start: 0, count: 1);
        using var row = sampler.Decode(Interpolation.Line(a, b, points: 10), new SampleSettings(Steps: 50));

        // Invert: images (here the decoded row; real ones in [-1, 1] alike) → x_T → back, and the error on [0, 1].
        var (latents, recon) = sampler.Reconstruct(row, Timetable.Create(Spacing.Seed, sampler.Schedule.T, 100));
        Console.WriteLine(ImageSampler.MeanSquaredError01(row, recon));
        // README example 1 end

        // Then
        using var disposeA = a;
        using var disposeB = b;
        using var disposeLatents = latents;
        using var disposeRecon = recon;
        Assert.Equal([16, 1, 28, 28], images.shape);
        Assert.True(new FileInfo(readmeDigits).Length > 0);
        Assert.Equal([10, 1, 28, 28], row.shape);
        Assert.Equal(row.shape, latents.shape);
        var mse = ImageSampler.MeanSquaredError01(row, recon);
        Assert.True(double.IsFinite(mse) && mse > 0, $"reconstruction error {mse}");
    }

    [Fact]
    public void Given_an_analytic_denoiser_When_the_second_readme_example_runs_Then_it_samples_over_the_real_next_entries()
    {
        // Given: the observer's lines captured (the tests run one at a time)
        var stdout = Console.Out;
        using var console = new StringWriter();
        Console.SetOut(console);
        try
        {
            // When
            // README example 2 begin
            using var scope = NewDisposeScope();
            var schedule = NoiseSchedule.Linear(1000);                      // β from 1e-4 to 0.02, ᾱ in float64
            var timetable = Timetable.Create(Spacing.Trailing, 1000, 20);    // pairs each t with the *real* next entry
            var exact = new GaussianDenoiser(schedule, mean: 0.3, std: 0.5); // ε* for data ~ N(μ, s²I)
            using var gen = new Generator(1);
            var x0 = DdimSampler.Sample(exact.Predict, randn([8, 16], generator: gen), schedule, timetable,
                new DdimOptions(Eta: 0.5), new GeneratorNoise(gen), observer: step => Console.WriteLine($"{step.T} → {step.TNext}"));
            // README example 2 end

            // Then: one line per step, from 999 down to −1 (x_0), each step to the timetable's next entry
            using var _ = x0;
            var lines = console.ToString().ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(20, lines.Length);
            Assert.Equal($"{999} → {949}", lines[0]); // formatted as the example formats them, in the current culture
            Assert.Equal($"{49} → {-1}", lines[^1]);
            Assert.Equal([8, 16], x0.shape);
        }
        finally
        {
            Console.SetOut(stdout);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Given_the_readme_When_its_library_examples_are_read_Then_each_is_the_code_these_tests_run(int example)
    {
        // Given
        var readme = File.ReadAllText(Path.Combine(TestSetup.RepositoryRoot(), "README.md")).ReplaceLineEndings("\n");
        var section = readme.IndexOf("## Using the library", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no '## Using the library' section");
        var blocks = CodeBlocks(readme[section..]);
        var source = File.ReadAllLines(ThisFile());

        // When: this file's copy of the example, with the README's paths put back
        var run = Region(source, $"// README example {example} begin", $"// README example {example} end");
        foreach (var (variable, literal) in Paths)
        {
            run = run.Replace(variable, literal, StringComparison.Ordinal);
        }

        // Then: the README block, less its using directives, is that code; the directives are this file's
        var lines = blocks[example - 1].TrimEnd('\n').Split('\n');
        static bool IsDirective(string line) => line.StartsWith("using ", StringComparison.Ordinal) && !line.StartsWith("using var ", StringComparison.Ordinal);
        Assert.Equal(string.Join("\n", lines.Where(l => !IsDirective(l))).Trim(), run);
        var readmeUsings = lines.Where(IsDirective).ToList();
        if (readmeUsings.Count > 0)
        {
            Assert.Equal(source.TakeWhile(IsDirective).Where(l => l != "using Ddim.Tests;"), readmeUsings);
        }
    }

    private static string ThisFile() => Path.Combine(TestSetup.RepositoryRoot(), "tests", "Ddim.Tests", "ReadmeExampleTests.cs");

    /// <summary>The lines strictly between the two markers, de-indented by the first line's indentation.</summary>
    private static string Region(string[] lines, string begin, string end)
    {
        var from = Array.FindIndex(lines, l => l.Trim() == begin) + 1;
        var to = Array.FindIndex(lines, l => l.Trim() == end);
        Assert.True(from > 0 && to > from, $"markers '{begin}' and '{end}' not found in order");
        var indent = lines[from].Length - lines[from].TrimStart().Length;
        return string.Join("\n", lines[from..to].Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())).Trim();
    }

    /// <summary>The ```csharp blocks of a markdown text, in order.</summary>
    private static List<string> CodeBlocks(string markdown)
    {
        var blocks = new List<string>();
        const string open = "```csharp\n";
        for (var i = markdown.IndexOf(open, StringComparison.Ordinal); i >= 0; i = markdown.IndexOf(open, i, StringComparison.Ordinal))
        {
            var start = i + open.Length;
            var end = markdown.IndexOf("```", start, StringComparison.Ordinal);
            blocks.Add(markdown[start..end]);
            i = end + 3;
        }

        return blocks;
    }
}
