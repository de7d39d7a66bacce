using System;
using System.IO;
using System.Linq;
using ImdsTroubleshoot.Engine.Proxy;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>Get-ImdsProxyConfiguration and Repair-ImdsProxy as users meet them, on a fake root (no process-wide state).</summary>
public sealed class ProxyCmdletTests
{
    private static FakeRoot Tree()
    {
        var root = new FakeRoot();
        root.Write("etc/environment", "PATH=/usr/bin:/bin\nhttp_proxy=http://ann:Hunter2Secret@proxy.corp:3128\nNO_PROXY=localhost\n");
        root.Write("etc/systemd/system/amazon-ssm-agent.service.d/override.conf", "[Service]\nEnvironment=\"HTTP_PROXY=http://svc:Hunter2Secret@proxy.corp:3128\"\nEnvironment=\"no_proxy=169.254.169.254\"\n");
        root.Write("etc/profile.d/ok.sh", "export http_proxy=http://proxy:3128 HTTP_PROXY=http://proxy:3128 NO_PROXY=169.254.169.254,fd00:ec2::254,[fd00:ec2::254] no_proxy=$NO_PROXY\n");
        return root;
    }

    [Fact]
    public void Get_lists_sources_with_lines_masked_urls_and_per_family_exemption()
    {
        using var root = Tree();
        using var ps = new PsSession();
        var r = ps.Ok($"Get-ImdsProxyConfiguration -RootPath '{root.Path}' -HomeDirectory /home/none");
        var settings = r.Objects<ImdsProxySetting>().ToList();

        var pam = settings.Single(s => s.Variable == "http_proxy" && s.Source == ProxySourceKind.PamEnvironment);
        Assert.Equal(root["etc/environment"], pam.File);
        Assert.Equal(2, pam.Line);
        Assert.Equal("http://ann:****@proxy.corp:3128", pam.ProxyUrl);
        Assert.False(pam.Exempt);
        Assert.Equal("localhost", pam.NoProxy);

        var ssm = settings.Single(s => s.Variable == "HTTP_PROXY" && s.Context == "systemd unit amazon-ssm-agent.service");
        Assert.False(ssm.ImdsExempt.Go);
        Assert.Contains("amazon-ssm-agent.service", ssm.RestartRequired);
        Assert.True(settings.Single(s => s.File!.EndsWith("ok.sh", StringComparison.Ordinal) && s.Variable == "http_proxy").Exempt);
        Assert.DoesNotContain(settings, s => s.Source == ProxySourceKind.ProcessEnvironment);
        Assert.DoesNotContain("Hunter2Secret", r.AllText(), StringComparison.Ordinal);

        var notExempt = ps.Ok($"Get-ImdsProxyConfiguration -RootPath '{root.Path}' -NotExempt").Objects<ImdsProxySetting>().ToList();
        Assert.NotEmpty(notExempt);
        Assert.All(notExempt, s => Assert.False(s.Exempt));

        // The default view renders (widths fit) and shows no secrets.
        var table = Cli.Run($"Get-ImdsProxyConfiguration -RootPath '{root.Path}' | Format-Table");
        Assert.True(table.ExitCode == 0, table.ToString());
        string text = table.Stdout;
        Assert.Contains("NotExemptFor", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Hunter2Secret", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Whatif_changes_no_byte_and_names_each_file_and_change()
    {
        using var root = Tree();
        var before = Directory.GetFiles(root.Path, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        using var ps = new PsSession();
        var r = ps.Ok($"Repair-ImdsProxy -Scope Machine -RootPath '{root.Path}' -WhatIf -PassThru");
        var repairs = r.Objects<ImdsProxyRepair>().ToList();
        Assert.Equal(2, repairs.Count);
        Assert.All(repairs, x => Assert.Equal(ProxyRepairStatus.Skipped, x.Status));
        var after = Directory.GetFiles(root.Path, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        Assert.Equal(before.Keys.OrderBy(k => k), after.Keys.OrderBy(k => k));
        Assert.All(before, kv => Assert.Equal(kv.Value, after[kv.Key]));
        Assert.Contains(repairs, x => x.File == root["etc/environment"] && x.Changes.Any(c => c.StartsWith("NO_PROXY (line 3): appended", StringComparison.Ordinal)));
        Assert.DoesNotContain("Hunter2Secret", r.AllText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Repair_from_the_pipeline_touches_only_the_selected_context_and_says_what_to_restart()
    {
        using var root = Tree();
        string pamBefore = root.Read("etc/environment");
        using var ps = new PsSession();
        var r = ps.Ok($"Get-ImdsProxyConfiguration -RootPath '{root.Path}' | Where-Object Context -like '*amazon-ssm-agent*' | Repair-ImdsProxy -Confirm:$false -PassThru");
        var repair = Assert.Single(r.Objects<ImdsProxyRepair>());
        Assert.Equal(ProxyRepairStatus.Repaired, repair.Status);
        Assert.Equal(root["etc/systemd/system/amazon-ssm-agent.service.d/override.conf"], repair.File);
        Assert.True(File.Exists(repair.BackupPath));
        Assert.Contains(r.Warnings, w => w.Contains("systemctl restart amazon-ssm-agent.service", StringComparison.Ordinal));
        Assert.Equal(pamBefore, root.Read("etc/environment"));
        Assert.Equal("[Service]\nEnvironment=\"HTTP_PROXY=http://svc:Hunter2Secret@proxy.corp:3128\"\n" +
            "Environment=\"no_proxy=169.254.169.254,fd00:ec2::254,[fd00:ec2::254]\"\n" +
            "Environment=\"NO_PROXY=169.254.169.254,fd00:ec2::254,[fd00:ec2::254]\"\n",
            root.Read("etc/systemd/system/amazon-ssm-agent.service.d/override.conf"));
        Assert.DoesNotContain("Hunter2Secret", r.AllText(), StringComparison.Ordinal);

        // Now only /etc/environment is left; the whole machine scope then fixes it and a third run does nothing.
        ps.Ok($"Repair-ImdsProxy -Scope Machine -RootPath '{root.Path}' -Confirm:$false");
        Assert.Empty(ps.Ok($"Get-ImdsProxyConfiguration -RootPath '{root.Path}' -NotExempt").Output);
        Assert.Empty(ps.Ok($"Repair-ImdsProxy -Scope Machine -RootPath '{root.Path}' -Confirm:$false -PassThru").Output);
    }

    [Fact]
    public void Errors_have_stable_ids()
    {
        using var ps = new PsSession();
        var missing = ps.Invoke("Get-ImdsProxyConfiguration -RootPath /nonexistent/imds-root");
        Assert.Contains(missing.AllErrors, e => e.FullyQualifiedErrorId == "ProxyRootPathNotFound,ImdsTroubleshoot.Commands.GetImdsProxyConfigurationCommand");

        // The proxy comes from /etc/environment (Machine) but only User scope is asked for: nothing in scope to edit.
        using var root = new FakeRoot();
        root.Write("etc/environment", "http_proxy=http://proxy:3128\n");
        root.Write("home/ann/.bashrc", "export no_proxy=localhost\n");
        var incomplete = ps.Invoke($"Repair-ImdsProxy -Scope User -RootPath '{root.Path}' -HomeDirectory /home/ann -Confirm:$false");
        Assert.Contains(incomplete.Errors, e => e.FullyQualifiedErrorId == "ProxyRepairIncomplete,ImdsTroubleshoot.Commands.RepairImdsProxyCommand");
        Assert.Equal("export no_proxy=localhost\n", root.Read("home/ann/.bashrc"));

        // A scope that does not exist is refused by parameter validation.
        var bogus = ps.Invoke("Repair-ImdsProxy -Scope Session, Bogus");
        Assert.Contains(bogus.AllErrors, e => e.FullyQualifiedErrorId.StartsWith("ParameterArgumentValidationError", StringComparison.Ordinal));
    }

    [Fact]
    public void Session_scope_changes_the_environment_of_the_process_it_runs_in()
    {
        var r = Cli.Run(new[]
        {
            "$env:HTTP_PROXY = 'http://u:Hunter2Secret@proxy:3128'; $env:no_proxy = ''; $env:NO_PROXY = '.internal'; " +
            "Repair-ImdsProxy -Verbose; 'NO_PROXY=' + $env:NO_PROXY; 'no_proxy=' + $env:no_proxy; & printenv no_proxy",
        }, null);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("NO_PROXY=.internal,169.254.169.254,fd00:ec2::254,[fd00:ec2::254]", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("no_proxy=.internal,169.254.169.254,fd00:ec2::254,[fd00:ec2::254]", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("\n.internal,169.254.169.254,fd00:ec2::254,[fd00:ec2::254]", "\n" + r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Hunter2Secret", r.Combined, StringComparison.Ordinal);
    }
}
