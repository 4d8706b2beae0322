using System.Reflection;

namespace Ddim;

/// <summary>Which Ddim build is running, for the result files that record it.</summary>
internal static class BuildInfo
{
    /// <summary>
    /// The version and, when built from a git checkout, the commit it was built from (e.g. "0.1.0+9b2cb28e…";
    /// uncommitted changes are not shown).
    /// </summary>
    public static string Version { get; } =
        typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
