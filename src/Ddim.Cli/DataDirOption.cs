namespace Ddim.Cli;

/// <summary>The --data-dir option, declared by every command that reads a data set.</summary>
internal static class DataDirOption
{
    /// <summary>Its help text.</summary>
    public const string Description = "Where data sets live (default: $DDIM_DATA or ~/.cache/ddim/datasets).";
}
