namespace Ddim.Tests;

public class AtomicTests
{
    [Fact]
    public void Given_a_temporary_name_When_read_back_Then_it_names_its_writer_and_other_names_name_none()
    {
        // Given
        var target = Path.GetFullPath(Path.Combine("runs", "checkpoint.ddim"));
        var temp = Atomic.TempPath(target, 4242);

        // When / Then
        Assert.Equal(Path.GetDirectoryName(target), Path.GetDirectoryName(temp));
        Assert.Equal(4242, Atomic.TempWriter(target, temp));
        Assert.Null(Atomic.TempWriter(Path.GetFullPath(Path.Combine("runs", "model.ddim")), temp));
        Assert.Null(Atomic.TempWriter(target, temp[..^1]));
        Assert.Null(Atomic.TempWriter(target, Path.Combine("runs", ".checkpoint.ddim.12.not-a-guid.ddim-tmp")));
        Assert.Null(Atomic.TempWriter(target, Path.Combine("runs", ".checkpoint.ddim.x.0123456789abcdef0123456789abcdef.ddim-tmp")));
        Assert.Null(Atomic.TempWriter(Path.GetFullPath("x"), ".x.ddim-tmp")); // prefix and suffix overlap: too short to hold a writer
    }

    [Fact]
    public void Given_a_write_that_fails_When_writing_atomically_Then_the_old_file_is_whole_and_no_temporary_file_is_left()
    {
        // Given
        using var dir = new TempFolder();
        var path = Path.Combine(dir.Path, "a.txt");
        File.WriteAllText(path, "old");

        // When
        Assert.Throws<InvalidOperationException>(() => Atomic.Write(path, s =>
        {
            s.WriteByte(1);
            throw new InvalidOperationException("disk full");
        }));

        // Then
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir.Path));
    }
}
