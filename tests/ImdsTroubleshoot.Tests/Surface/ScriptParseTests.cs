using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation.Language;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>Pester files, build.ps1 and examples cannot rot into syntax errors: parsed with the engine's own parser.</summary>
public sealed class ScriptParseTests
{
    public static IEnumerable<object[]> Scripts() =>
        Directory.EnumerateFiles(Repo.Root, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".ps1", System.StringComparison.Ordinal) || f.EndsWith(".psm1", System.StringComparison.Ordinal) || f.EndsWith(".psd1", System.StringComparison.Ordinal))
            .Where(f => !f.Contains("/bin/", System.StringComparison.Ordinal) && !f.Contains("/obj/", System.StringComparison.Ordinal) && !f.Contains("/out/", System.StringComparison.Ordinal) && !f.Contains("/.git/", System.StringComparison.Ordinal))
            .Select(f => new object[] { Path.GetRelativePath(Repo.Root, f) });

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Script_parses_without_errors(string relativePath)
    {
        Parser.ParseFile(Path.Combine(Repo.Root, relativePath), out _, out ParseError[] errors);
        Assert.True(errors.Length == 0, string.Join("\n", errors.Select(e => $"{e.Extent.StartLineNumber}:{e.Extent.StartColumnNumber} {e.Message}")));
    }

    [Fact]
    public void The_repository_has_scripts_to_parse()
    {
        var scripts = Scripts().Select(s => (string)s[0]).ToList();
        Assert.Contains("build.ps1", scripts);
        Assert.Contains("ImdsTroubleshoot.psd1", scripts);
        Assert.Contains(scripts, s => s.StartsWith("tests/Pester/", System.StringComparison.Ordinal));
    }
}
