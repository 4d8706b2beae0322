using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Ddim.Tests;

/// <summary>
/// The two GPU job scripts (scripts/gpu-train-job.sh, scripts/gpu-score-job.sh) run end to end on the CPU with a
/// stand-in for ddim (APP): a GPU session is rare and short, so a script error must show here, not there.
/// </summary>
public sealed class GpuJobScriptTests
{
    /// <summary>
    /// A stand-in ddim: `train` writes a loss log at the rate a (precision, batch) had on the H200 (bfloat16 at batch
    /// 2,048 made up: 9 steps/s) and a model, or fails for the one named by $STUB_FAIL; `eval` writes a score JSON;
    /// `loss` prints a line.
    /// </summary>
    private const string Stub = """
        #!/usr/bin/env bash
        cmd=$1; shift; out=; preset=; json=
        while [ $# -gt 0 ]; do case $1 in --out) out=$2; shift;; --preset) preset=$2; shift;; --json) json=$2; shift;; esac; shift; done
        case $cmd in
        train) mkdir -p "$out"; python3 - "$preset" "$out" <<'PY' || exit 1
        import json, os, sys
        c = json.load(open(sys.argv[1])); out = sys.argv[2]
        if os.environ.get("STUB_FAIL") == f'{c.get("Precision", "Float32")}:{c["BatchSize"]}': sys.exit(1)
        rate = {("Float32", 512): 13.3, ("BFloat16", 512): 19.1, ("BFloat16", 2048): 9.0}.get((c.get("Precision", "Float32"), c["BatchSize"]), 5)
        with open(out + "/loss.jsonl", "w") as f:
            for s in range(c["LogEvery"], c["Steps"] + 1, c["LogEvery"]):
                f.write(json.dumps({"step": s, "loss": 0.02, "elapsed_s": 2 + s / rate}) + "\n")
        open(out + "/model.ddim", "w").write("model")
        PY
        ;;
        eval) echo '{"samples":{"fid":5.0,"confident_share":0.94,"class_kl":0.002,"sampling_seconds":3},"floor":{"fid":2.3}}' > "$json";;
        loss) echo "loss table";;
        esac
        """;

    /// <summary>The scripts' knobs: cleared, so that a developer's shell does not change what the tests run.</summary>
    private static readonly string[] Knobs =
        ["PRESET", "BASE", "BIG_BATCH", "FP32_PROBE", "PROBE", "TRAIN_END", "EVAL_TO", "NUM", "DEV", "PACK", "MODEL", "SWEEP", "SEEDS", "BIG", "KEEP", "DDPM", "FLOOR_DRAWS", "STUB_FAIL"];

    /// <summary>
    /// The scripts are bash with python3 for their JSON, made for Linux GPU machines: elsewhere, or without python3, the
    /// tests report themselves skipped (not passed), so that a run can't look as if it had checked them.
    /// </summary>
    private static void SkipUnlessRunnable()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the GPU job scripts are bash for Linux machines");
        Skip.IfNot(
            (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Any(dir => File.Exists(Path.Combine(dir, "python3"))),
            "the GPU job scripts need python3 on the PATH");
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static (int ExitCode, string Output) RunScript(string script, TempFolder temp, params (string Name, string Value)[] env)
    {
        var app = temp.File("ddim-stub");
        File.WriteAllText(app, Stub.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(app, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var info = new ProcessStartInfo("bash", [Path.Combine("scripts", script)])
        {
            WorkingDirectory = TestSetup.RepositoryRoot(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var knob in Knobs)
        {
            info.Environment.Remove(knob);
        }

        info.Environment["APP"] = app;
        info.Environment["W"] = temp.Folder("w");
        info.Environment["OUT"] = temp.Folder("out");
        foreach (var (name, value) in env)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            return (-1, "timed out after 3 minutes");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // skipped elsewhere (SkipUnlessRunnable)
    [SkippableFact]
    public void Given_a_stand_in_ddim_When_the_GPU_train_job_runs_Then_it_takes_the_faster_batch_scales_its_settings_and_sends_the_model_back()
    {
        SkipUnlessRunnable();

        // Given
        using var temp = new TempFolder();

        // When
        var (exitCode, output) = RunScript("gpu-train-job.sh", temp, ("TRAIN_END", "480"));

        // Then: batch 2,048 trains on 18,432 images/s against 9,779 at 512, so it is taken, with lr × 2, warm-up ÷ 4, EMA^4.
        Assert.True(exitCode == 0, output);
        Assert.Contains("chose BFloat16 at batch 2048", output);
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(temp.Folder("w"), "res", "D.json")))!;
        Assert.Equal(2048, run["BatchSize"]!.GetValue<int>());
        Assert.Equal(0.002, run["LearningRate"]!.GetValue<double>(), 12);
        Assert.Equal(50, run["WarmupSteps"]!.GetValue<int>());
        Assert.Equal(0.998001, run["EmaDecay"]!.GetValue<double>(), 12);
        Assert.Equal(100, run["LogEvery"]!.GetValue<int>());
        Assert.True(File.Exists(Path.Combine(temp.Folder("out"), "res.part-aa")), output);
        Assert.Equal("model", File.ReadAllText(Path.Combine(temp.Folder("w"), "res", "D.ddim"))); // the trained model is among what is packed
        Assert.Contains("eval-D-s50-e0.json: FID 5.000", File.ReadAllText(Path.Combine(temp.Folder("out"), "device.log")));
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // skipped elsewhere (SkipUnlessRunnable)
    [SkippableTheory]
    [InlineData("BFloat16:512", "0", "bfloat16 probe failed: probing float32", "'Float32 512': 13.3", "chose Float32 at batch 512")] // no big batch: float32 is all that worked
    [InlineData("BFloat16:512", "2048", "bfloat16 probe failed: probing float32", "'Float32 512': 13.3", "chose BFloat16 at batch 2048")]
    [InlineData("BFloat16:2048", "2048", "probe BFloat16 at batch 2048 failed", "'BFloat16 512': 19.1", "chose BFloat16 at batch 512")]
    public void Given_a_probe_that_fails_When_the_GPU_train_job_runs_Then_it_trains_with_what_worked(string failing, string bigBatch, string said, string probed, string chosen)
    {
        SkipUnlessRunnable();

        // Given
        using var temp = new TempFolder();

        // When
        var (exitCode, output) = RunScript("gpu-train-job.sh", temp, ("TRAIN_END", "480"), ("STUB_FAIL", failing), ("BIG_BATCH", bigBatch));

        // Then: said, the probe that worked was measured, and the choice is made from what worked
        Assert.True(exitCode == 0, output);
        Assert.Contains(said, output);
        Assert.Contains(probed, output);
        Assert.Contains(chosen, output);
        Assert.True(File.Exists(Path.Combine(temp.Folder("out"), "res.part-aa")), output);
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // skipped elsewhere (SkipUnlessRunnable)
    [SkippableFact]
    public void Given_a_trained_model_When_the_GPU_score_job_runs_over_two_seeds_Then_each_eval_reports_into_the_log_and_the_results_come_back()
    {
        SkipUnlessRunnable();

        // Given: job 1's model where job 2 looks for it.
        using var temp = new TempFolder();
        Directory.CreateDirectory(Path.Combine(temp.Folder("w"), "res"));
        File.WriteAllText(Path.Combine(temp.Folder("w"), "res", "D.ddim"), "model");

        // When
        var (exitCode, output) = RunScript("gpu-score-job.sh", temp, ("SWEEP", "0"), ("SEEDS", "0,1"), ("BIG", "100"));

        // Then
        Assert.True(exitCode == 0, output);
        var log = File.ReadAllText(Path.Combine(temp.Folder("out"), "device2.log"));
        foreach (var name in new[] { "D-s50-e0-n100-seed0", "D-s50-e1-n100-seed0", "D-s50-e0-n100-seed1", "D-s50-e1-n100-seed1" })
        {
            Assert.Contains($"{name}: exit 0", log);
            Assert.Contains($"eval-{name}.json: FID 5.000", log);
        }

        Assert.True(File.Exists(Path.Combine(temp.Folder("out"), "res2.part-aa")), output);
    }
}
