using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>Where things are: the repository, the staged module, the staged CLI.</summary>
public static class Repo
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "ImdsTroubleshoot.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("The repository root (ImdsTroubleshoot.sln) was not found above " + AppContext.BaseDirectory);
    });

    public static string Root => s_root.Value;

    public static string Version { get; } = ReadVersion();

    public static string StagedModuleDir => Path.Combine(Root, "out", "ImdsTroubleshoot", Version);

    public static string StagedManifest => Path.Combine(StagedModuleDir, "ImdsTroubleshoot.psd1");

    public static string CliDir => Path.Combine(Root, "out", "imds-troubleshoot");

    public static string CliDll => Path.Combine(CliDir, "imds-troubleshoot.dll");

    public static string Fixture(string relative) => Path.Combine(AppContext.BaseDirectory, "Fixtures", relative);

    /// <summary>The AWSSDK.Core.dll this test project restored (for in-process SDK cross-checks).</summary>
    public static string AwsSdkCoreDll => Path.Combine(AppContext.BaseDirectory, "AWSSDK.Core.dll");

    private static string ReadVersion()
    {
        string props = File.ReadAllText(Path.Combine(Root, "Directory.Build.props"));
        var m = Regex.Match(props, "<Version>([^<]+)</Version>");
        if (!m.Success)
        {
            throw new InvalidOperationException("No <Version> in Directory.Build.props");
        }

        return m.Groups[1].Value;
    }

    public static string[] CmdletClassNames()
    {
        var asm = Assembly.LoadFrom(Path.Combine(StagedModuleDir, "ImdsTroubleshoot.dll"));
        return asm.GetTypes()
            .Select(t => t.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.FullName == "System.Management.Automation.CmdletAttribute"))
            .Where(a => a is not null)
            .Select(a => $"{a!.ConstructorArguments[0].Value}-{a.ConstructorArguments[1].Value}")
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToArray();
    }
}
