using System;
using System.Collections;
using System.IO;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

public sealed class ModuleManifestTests
{
    [Fact]
    public void Staged_manifest_passes_Test_ModuleManifest_with_the_one_version()
    {
        using var ps = new PsSession(importModule: false);
        var r = ps.Ok("Test-ModuleManifest -Path $args[0] -ErrorAction Stop | ForEach-Object { $_.Version.ToString() }".Replace("$args[0]", "'" + Repo.StagedManifest + "'", StringComparison.Ordinal));
        Assert.Equal(Repo.Version, r.Output.Single().ToString());
    }

    [Fact]
    public void Exported_cmdlets_are_exactly_the_cmdlet_classes_in_the_assembly()
    {
        using var ps = new PsSession();
        var exported = ps.Ok("(Get-Module ImdsTroubleshoot).ExportedCmdlets.Keys").Output.Select(o => o.ToString()).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        Assert.Equal(Repo.CmdletClassNames(), exported);
        Assert.NotEmpty(exported);
    }

    [Fact]
    public void Manifest_is_ready_for_the_gallery()
    {
        var ast = System.Management.Automation.Language.Parser.ParseFile(Repo.StagedManifest, out _, out var errors);
        Assert.Empty(errors);
        var data = (Hashtable)ast.Find(a => a is System.Management.Automation.Language.HashtableAst, false)!.SafeGetValue();
        var cmdlets = ((object[])data["CmdletsToExport"]!).Cast<string>().ToArray();
        Assert.DoesNotContain(cmdlets, c => c.Contains('*', StringComparison.Ordinal));
        Assert.Equal(new[] { "Core" }, ((object[])data["CompatiblePSEditions"]!).Cast<string>());
        Assert.Equal("7.4", data["PowerShellVersion"]);
        Assert.Equal("ImdsTroubleshoot.dll", data["RootModule"]);
        Assert.Equal(new[] { "ImdsTroubleshoot.Format.ps1xml" }, ((object[])data["FormatsToProcess"]!).Cast<string>());
        Assert.Empty((object[])data["FunctionsToExport"]!);
        Assert.Empty((object[])data["AliasesToExport"]!);
        var psData = (Hashtable)((Hashtable)data["PrivateData"]!)["PSData"]!;
        Assert.Contains("IMDS", ((object[])psData["Tags"]!).Cast<string>());
        foreach (string key in new[] { "ProjectUri", "LicenseUri", "ReleaseNotes" })
        {
            Assert.False(string.IsNullOrWhiteSpace(psData[key] as string), key);
        }
    }

    [Fact]
    public void Staged_folder_holds_the_named_files_only()
    {
        var files = Directory.GetFiles(Repo.StagedModuleDir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Repo.StagedModuleDir, f).Replace('\\', '/'))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToArray();
        Assert.Equal(new[]
        {
            // The AWS SDK and the bridge that uses it: loaded into the module's own AssemblyLoadContext, never from the root.
            "Dependencies/AWSSDK.Core.dll",
            "Dependencies/AWSSDK.EC2.dll",
            "Dependencies/AWSSDK.SSO.dll",
            "Dependencies/AWSSDK.SSOOIDC.dll",
            "Dependencies/AWSSDK.SecurityToken.dll",
            "Dependencies/AWSSDK.SimpleSystemsManagement.dll",
            "Dependencies/ImdsTroubleshoot.Aws.dll",
            "ImdsTroubleshoot.Engine.dll",
            "ImdsTroubleshoot.Format.ps1xml",
            "ImdsTroubleshoot.dll",
            "ImdsTroubleshoot.psd1",
            "LICENSE",
            "en-US/ImdsTroubleshoot.dll-Help.xml",
            "en-US/about_ImdsTroubleshoot.help.txt",
        }, files);
    }

    [Fact]
    public void Only_the_bridge_references_the_AWS_SDK()
    {
        // The module binds the bridge at run time through its own AssemblyLoadContext; the SDK is reached only through the bridge.
        var module = ReferencedAssemblies(Path.Combine(Repo.StagedModuleDir, "ImdsTroubleshoot.dll"));
        Assert.Contains("ImdsTroubleshoot.Aws", module);
        Assert.DoesNotContain(module, r => r.StartsWith("AWSSDK", StringComparison.Ordinal));
        Assert.DoesNotContain(ReferencedAssemblies(Path.Combine(Repo.StagedModuleDir, "ImdsTroubleshoot.Engine.dll")), r => r.StartsWith("AWSSDK", StringComparison.Ordinal));
        var bridge = ReferencedAssemblies(Path.Combine(Repo.StagedModuleDir, "Dependencies", "ImdsTroubleshoot.Aws.dll"));
        Assert.Contains("AWSSDK.EC2", bridge);
        Assert.Contains("AWSSDK.SimpleSystemsManagement", bridge);
        Assert.Contains("ImdsTroubleshoot.Engine", bridge);
    }

    private static string[] ReferencedAssemblies(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new System.Reflection.PortableExecutable.PEReader(stream);
        var md = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
        return md.AssemblyReferences.Select(h => md.GetString(md.GetAssemblyReference(h).Name)).ToArray();
    }

    [Fact]
    public void Importing_the_module_loads_no_aws_sdk_assembly()
    {
        var r = Cli.Run("Get-Command -Module ImdsTroubleshoot | Out-Null; [AppDomain]::CurrentDomain.GetAssemblies() | ForEach-Object { $_.GetName().Name } | Where-Object { $_ -like 'AWSSDK*' -or $_ -eq 'ImdsTroubleshoot.Aws' }; 'checked'");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("checked", r.Stdout.Trim());
    }
}
