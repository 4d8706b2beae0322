using System.Text.Json;
using System.Text.Json.Nodes;
using Ddim.Models;
using Ddim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Ddim.Tests;

public class ModelFileTests
{
    private static UNetConfig Tiny(int baseChannels = 8) => new(1, 8, baseChannels, [1, 2], 1, [], 0.0, 4);

    /// <summary>An exported-model file: metadata for <paramref name="stated"/>, weights of <paramref name="weights"/>.</summary>
    private static ModelFile Exported(UNetConfig stated, UNet weights, JsonNode? schedule = null)
    {
        var file = new ModelFile(new JsonObject
        {
            ["kind"] = "model",
            ["model"] = JsonSerializer.SerializeToNode(stated, ModelFile.Json),
            ["schedule"] = schedule ?? ModelFile.ScheduleNode(NoiseSchedule.Linear(100)),
        });
        file.Sections["weights"] = ModelFile.Serialize(weights);
        return file;
    }

    private static void Randomise(UNet net, long seed)
    {
        using var noGrad = no_grad();
        using var gen = new Generator((ulong)seed);
        foreach (var p in net.parameters())
        {
            p.copy_(randn(p.shape, generator: gen));
        }
    }

    [Fact]
    public void Given_a_saved_model_When_loaded_as_a_network_Then_weights_config_and_schedule_are_bit_exact_and_it_is_in_eval_mode()
    {
        // Given
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        using var original = new UNet(Tiny());
        Randomise(original, 3);
        var path = dir.File("m.ddim");
        Exported(Tiny(), original).Save(path);

        // When
        var (net, schedule, file) = ModelFile.LoadNetwork(path);
        using var _ = net;

        // Then
        Assert.False(net.training);
        Assert.Equal(100, schedule.T);
        Assert.Equal(ScheduleKind.Linear, schedule.Kind);
        Assert.Equal("model", file.Metadata["kind"]!.GetValue<string>());
        Assert.Equal(JsonSerializer.Serialize(Tiny(), ModelFile.Json), JsonSerializer.Serialize(net.Config, ModelFile.Json));
        foreach (var ((name, a), (_, b)) in original.named_parameters().Zip(net.named_parameters()))
        {
            Assert.True(a.eq(b).all().item<bool>(), $"{name} differs");
        }

        Assert.Equal(file.Sections["weights"], ModelFile.Serialize(net));
    }

    [Fact]
    public void Given_metadata_and_sections_When_saved_and_loaded_Then_they_round_trip_and_no_temp_file_is_left()
    {
        using var dir = new TempFolder();
        var file = new ModelFile(new JsonObject { ["kind"] = "test", ["n"] = 42 });
        file.Sections["a"] = [1, 2, 3];
        file.Sections["empty"] = [];
        var path = dir.File("x.ddim");

        file.Save(path);
        var back = ModelFile.Load(path);

        Assert.Equal(42, back.Metadata["n"]!.GetValue<int>());
        Assert.Equal([1, 2, 3], back.Sections["a"]);
        Assert.Empty(back.Sections["empty"]);
        Assert.Equal(["x.ddim"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData(1_000_000L, 0, "section 'w' claims 1,000,000 bytes where 4 remain")]
    [InlineData(-5L, 0, "section 'w' claims -5 bytes")]
    [InlineData(4L, 3, "3 bytes follow its last section")]
    public void Given_a_file_with_a_valid_checksum_but_a_wrong_layout_When_loaded_Then_a_clear_error_says_it_was_written_wrongly(long claimed, int trailing, string expected)
    {
        // Given: a file as a faulty writer might make it: the checksum matches, the section table does not
        using var folder = new TempFolder();
        var path = folder.File("bad.ddim");
        using (var body = new MemoryStream())
        {
            using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                w.Write("DDIMFILE"u8.ToArray());
                w.Write(ModelFile.FormatVersion);
                w.Write("{\"kind\":\"model\"}");
                w.Write(1);
                w.Write("w");
                w.Write(claimed);
                w.Write(new byte[4 + trailing]);
            }

            var bytes = body.ToArray();
            File.WriteAllBytes(path, [.. bytes, .. System.Security.Cryptography.SHA256.HashData(bytes)]);
        }

        // When
        var error = Assert.Throws<InvalidDataException>(() => ModelFile.Load(path));

        // Then
        Assert.Contains("has a valid checksum but", error.Message);
        Assert.Contains(expected, error.Message);
        Assert.Contains("it was written wrongly", error.Message);
    }

    [Fact]
    public void Given_a_model_whose_network_settings_this_build_does_not_know_When_loaded_Then_it_says_a_newer_Ddim_wrote_it()
    {
        // Given: a model file whose configuration has a setting that might change what the network computes
        using var folder = new TempFolder();
        var path = TinyModel.Write(folder.File("m.ddim"), timeSteps: 20);
        var file = ModelFile.Load(path);
        file.Metadata["model"]!["SkipAfterAttention"] = true;
        file.Save(path);

        // When
        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        // Then
        Assert.Contains("has a setting this Ddim does not know", error.Message);
        Assert.Contains("SkipAfterAttention", error.Message);
        Assert.Contains("written by a newer Ddim. Update Ddim to use it.", error.Message);
    }

    [SkippableFact]
    public void Given_a_large_file_of_another_kind_When_loaded_Then_it_is_refused_by_its_first_bytes()
    {
        // Given / When: a sparse file larger than any array, which reading whole would fail on with an IOException (Linux
        // and macOS make it without writing 3 GiB; other file systems may not)
        Skip.IfNot(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "needs a file system with sparse files");
        using var folder = new TempFolder();
        var path = folder.File("other.ddim");
        using (var file = File.Create(path))
        {
            file.SetLength(3L << 30);
        }

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.Load(path));

        // Then
        Assert.Contains("is not a Ddim model file (it does not start with DDIMFILE)", error.Message);
        Assert.Contains("Model file not found", Assert.Throws<FileNotFoundException>(() => ModelFile.ReadMetadata(folder.File("none.ddim"))).Message);
    }

    [Fact]
    public void Given_a_saved_file_When_loaded_with_its_hash_Then_the_hash_is_the_SHA256_of_the_file()
    {
        // Given
        using var dir = new TempFolder();
        var path = dir.File("x.ddim");
        new ModelFile(new JsonObject { ["kind"] = "test" }).Save(path);

        // When
        ModelFile.Load(path, out var sha256);

        // Then
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path))), sha256);
    }

    [Fact]
    public void Given_a_saved_file_When_only_its_metadata_is_read_Then_it_equals_the_full_load_and_a_cut_header_or_another_file_is_a_clear_error()
    {
        // Given
        using var dir = new TempFolder();
        using var net = new UNet(Tiny());
        var path = dir.File("m.ddim");
        Exported(Tiny(), net).Save(path);
        var bytes = File.ReadAllBytes(path);

        // When
        var metadata = ModelFile.ReadMetadata(path);

        // Then: the header alone gives the same metadata, and the weights' bytes play no part in it.
        Assert.Equal(ModelFile.Load(path).Metadata.ToJsonString(), metadata.ToJsonString());
        File.WriteAllBytes(path, bytes[..^40]);
        Assert.Equal(metadata.ToJsonString(), ModelFile.ReadMetadata(path).ToJsonString());
        File.WriteAllBytes(path, bytes[..20]);
        Assert.Contains("ends inside its header", Assert.Throws<InvalidDataException>(() => ModelFile.ReadMetadata(path)).Message);
        File.WriteAllText(path, "PNG, not a model");
        Assert.Contains("not a Ddim model file", Assert.Throws<InvalidDataException>(() => ModelFile.ReadMetadata(path)).Message);
    }

    [Fact]
    public void Given_a_schedule_with_its_own_betas_When_saved_and_loaded_Then_it_comes_back_with_them_and_default_ones_write_no_parameters()
    {
        // Given
        using var dir = new TempFolder();
        using var net = new UNet(Tiny());
        var custom = NoiseSchedule.Linear(100, 1e-4, 0.03);
        var path = dir.File("m.ddim");

        // When
        Exported(Tiny(), net, ModelFile.ScheduleNode(custom)).Save(path);
        var (network, schedule, _) = ModelFile.LoadNetwork(path);
        using var _ = network;

        // Then
        Assert.True(custom.Betas.SequenceEqual(schedule.Betas)); // by value: ImmutableArray's own Equals compares array references
        Assert.False(custom.HasDefaultParameters);
        Assert.Null(ModelFile.ScheduleNode(NoiseSchedule.Linear(100))["parameters"]);
        Assert.Null(ModelFile.ScheduleNode(NoiseSchedule.Cosine(100))["parameters"]);
        Assert.True(NoiseSchedule.Cosine(50, 0.01, 0.9).Betas.SequenceEqual(NoiseSchedule.Create(ScheduleKind.Cosine, 50, NoiseSchedule.Cosine(50, 0.01, 0.9).Parameters).Betas));
    }

    [Theory]
    [InlineData("""{"kind":"Linear","T":100,"parameters":{"beta_stop":0.03}}""", "no parameter 'beta_stop'")]
    [InlineData("""{"kind":"Wavy","T":100}""", "Wavy")]
    [InlineData("""{"kind":"Linear"}""", "is not one this Ddim can build: it gives no 'T'.")]
    [InlineData("""{"T":100}""", "is not one this Ddim can build: it names no 'kind'.")]
    public void Given_a_schedule_entry_this_Ddim_cannot_build_When_loading_a_network_Then_a_clear_InvalidDataException(string schedule, string phrase)
    {
        using var dir = new TempFolder();
        using var net = new UNet(Tiny());
        var path = dir.File("m.ddim");
        Exported(Tiny(), net, JsonNode.Parse(schedule)).Save(path);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains(path, error.Message);
        Assert.Contains(phrase, error.Message);
    }

    [Fact]
    public void Given_the_shared_metadata_options_When_changed_Then_refused_so_no_caller_can_change_every_file_Ddim_writes()
    {
        Assert.Throws<InvalidOperationException>(() => ModelFile.Json.WriteIndented = false);
        Assert.False(new JsonSerializerOptions(ModelFile.Json).IsReadOnly);
    }

    [Fact]
    public void Given_no_file_When_loading_a_network_Then_FileNotFoundException_says_what_to_pass()
    {
        using var dir = new TempFolder();

        var error = Assert.Throws<FileNotFoundException>(() => ModelFile.LoadNetwork(dir.File("missing.ddim")));

        Assert.Contains($"Model file not found: {dir.File("missing.ddim")}. Check the path: a .ddim file written by 'ddim train', 'ddim export' or 'ddim train-classifier'.", error.Message);
        Assert.Contains($"Model file not found: no-such-folder/m.ddim (relative to {Environment.CurrentDirectory}).", Assert.Throws<FileNotFoundException>(() => ModelFile.LoadNetwork("no-such-folder/m.ddim")).Message);
        Assert.Equal(dir.File("missing.ddim"), error.FileName);
    }

    [Theory]
    [InlineData("hello, this is a text file and certainly no model at all")]
    [InlineData("")]
    [InlineData("DDIMFIL")]
    public void Given_a_file_that_is_not_a_Ddim_file_When_loading_a_network_Then_not_a_Ddim_model_file(string content)
    {
        using var dir = new TempFolder();
        var path = dir.File("other.ddim");
        File.WriteAllText(path, content);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains("is not a Ddim model file", error.Message);
    }

    [Fact]
    public void Given_a_file_that_is_only_the_Ddim_header_When_loading_a_network_Then_corrupt_or_truncated()
    {
        using var dir = new TempFolder();
        var path = dir.File("cut.ddim");
        File.WriteAllText(path, "DDIMFILE");

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains("is corrupt or truncated (8 bytes, shorter than any model file)", error.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(33)]
    [InlineData(1000)]
    public void Given_a_truncated_model_file_When_loading_a_network_Then_corrupt_or_truncated(int cut)
    {
        using var dir = new TempFolder();
        using var net = new UNet(Tiny());
        var path = dir.File("m.ddim");
        Exported(Tiny(), net).Save(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^cut]);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains("corrupt or truncated", error.Message);
        Assert.Contains("checksum", error.Message);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.99)]
    public void Given_a_model_file_with_one_flipped_bit_When_loading_a_network_Then_corrupt_or_truncated(double where)
    {
        using var dir = new TempFolder();
        using var net = new UNet(Tiny());
        var path = dir.File("m.ddim");
        Exported(Tiny(), net).Save(path);
        var bytes = File.ReadAllBytes(path);
        bytes[(int)(bytes.Length * where)] ^= 0x10;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains("corrupt or truncated", error.Message);
    }

    [Fact]
    public void Given_weights_of_a_wider_network_than_the_stated_config_When_loading_Then_the_weights_do_not_fit()
    {
        using var dir = new TempFolder();
        using var wide = new UNet(Tiny(baseChannels: 16));
        var path = dir.File("m.ddim");
        Exported(Tiny(baseChannels: 8), wide).Save(path);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains("weights do not fit this network", error.Message);
        Assert.Contains("'weights' section", error.Message);
    }

    [Fact]
    public void Given_weights_of_a_network_with_fewer_layers_When_loading_Then_the_weights_do_not_fit()
    {
        using var dir = new TempFolder();
        using var shallow = new UNet(Tiny());
        var path = dir.File("m.ddim");
        Exported(Tiny() with { BlocksPerLevel = 2 }, shallow).Save(path);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains("weights do not fit this network", error.Message);
    }

    [Fact]
    public void Given_a_stored_config_that_is_impossible_When_loading_Then_the_stored_configuration_is_invalid()
    {
        using var dir = new TempFolder();
        using var net = new UNet(Tiny());
        var path = dir.File("m.ddim");
        Exported(Tiny() with { Groups = 3 }, net).Save(path);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains("stored network configuration is invalid", error.Message);
        Assert.Contains("Groups = 3", error.Message);
    }

    [Fact]
    public void Given_a_file_without_weights_When_loading_a_network_Then_holds_no_network_weights()
    {
        using var dir = new TempFolder();
        using var net = new UNet(Tiny());
        var file = Exported(Tiny(), net);
        file.Sections.Clear();
        var path = dir.File("m.ddim");
        file.Save(path);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.LoadNetwork(path));

        Assert.Contains("holds no network weights", error.Message);
    }
}
