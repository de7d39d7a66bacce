using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Xml.Linq;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>
/// The Gallery package (build.ps1 -Task Package / the PackModule target; tests/run-tests.sh makes it): the staged
/// module at the package root with the tags PowerShellGet reads, and installable: unpacked the way Install-Module
/// lays it out, it imports and runs.
/// </summary>
public sealed class PackageTests
{
    private static string Package => Path.Combine(Repo.Root, "out", $"ImdsTroubleshoot.{Repo.Version}.nupkg");

    private static readonly string[] NuGetParts = { "[Content_Types].xml", "_rels/.rels", "ImdsTroubleshoot.nuspec" };

    [Fact]
    public void The_package_holds_the_staged_module_at_its_root_with_gallery_tags()
    {
        Assert.True(File.Exists(Package), $"{Package} is missing: run tests/run-tests.sh (or build.ps1 -Task Package)");
        using var zip = ZipFile.OpenRead(Package);
        var entries = zip.Entries.Select(e => e.FullName).Where(n => !NuGetParts.Contains(n) && !n.StartsWith("package/", StringComparison.Ordinal)).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var staged = Directory.GetFiles(Repo.StagedModuleDir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Repo.StagedModuleDir, f).Replace('\\', '/')).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        Assert.Equal(staged, entries);

        using var nuspecStream = zip.GetEntry("ImdsTroubleshoot.nuspec")!.Open();
        var nuspec = XDocument.Load(nuspecStream);
        XNamespace ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        Assert.Equal("ImdsTroubleshoot", metadata.Element(ns + "id")!.Value);
        Assert.Equal(Repo.Version, metadata.Element(ns + "version")!.Value);
        var tags = metadata.Element(ns + "tags")!.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("PSModule", tags);
        Assert.Contains("PSEdition_Core", tags);
        foreach (string cmdlet in Repo.CmdletClassNames())
        {
            Assert.Contains("PSCmdlet_" + cmdlet, tags);
            Assert.Contains("PSCommand_" + cmdlet, tags);
        }

        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")!.Value));
    }

    [Fact]
    public void Unpacked_as_Install_Module_does_it_imports_and_runs()
    {
        string modules = Path.Combine(Path.GetTempPath(), "imds-install-" + Guid.NewGuid().ToString("N"));
        string target = Path.Combine(modules, "ImdsTroubleshoot", Repo.Version);
        try
        {
            using (var zip = ZipFile.OpenRead(Package))
            {
                foreach (var entry in zip.Entries.Where(e => !NuGetParts.Contains(e.FullName) && !e.FullName.StartsWith("package/", StringComparison.Ordinal) && e.Name.Length > 0))
                {
                    string path = Path.Combine(target, entry.FullName);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    entry.ExtractToFile(path);
                }
            }

            var r = Cli.Run(new[] { "(Get-Module ImdsTroubleshoot).ModuleBase; (Start-ImdsEmulator -Scenario TokensRequired).Scenario; (Test-ImdsEndpoint -Endpoint (Get-ImdsEmulator).Endpoint -TimeoutSec 3 | Where-Object Step -eq 'MetadataV1').Outcome" },
                new System.Collections.Generic.Dictionary<string, string?> { ["IMDS_TROUBLESHOOT_MODULE"] = Path.Combine(target, "ImdsTroubleshoot.psd1") });
            Assert.True(r.ExitCode == 0, r.ToString());
            var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToArray();
            Assert.Equal(target, lines[0]);
            Assert.Equal(new[] { "TokensRequired", "TokensRequired" }, lines.Skip(1));
        }
        finally
        {
            if (Directory.Exists(modules))
            {
                Directory.Delete(modules, recursive: true);
            }
        }
    }
}
