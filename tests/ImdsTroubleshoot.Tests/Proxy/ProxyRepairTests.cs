using System;
using System.IO;
using System.Linq;
using ImdsTroubleshoot.Engine.Proxy;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Proxy;

/// <summary>The file editor: byte-identical except the intended change, backups, owner and mode, idempotence.</summary>
public sealed class ProxyRepairTests
{
    private const string Entries = "169.254.169.254,fd00:ec2::254,[fd00:ec2::254]";

    private static ProxyRepairPlan Plan(FakeRoot root, bool force = false, params ProxyScope[] scopes) =>
        ProxyRepairPlanner.Plan(ProxySourceTests.Inspect(root), new ProxyRepairOptions
        {
            Scopes = scopes.Length == 0 ? new[] { ProxyScope.User, ProxyScope.Machine } : scopes,
            Force = force,
        });

    /// <summary>Plans, applies, checks every context is exempt afterwards and that a second run plans nothing.</summary>
    private static ProxyRepairPlan RepairAll(FakeRoot root, bool force = false)
    {
        var plan = Plan(root, force);
        Assert.Empty(plan.Problems);
        foreach (var r in plan.Repairs)
        {
            ProxyRepairPlanner.Apply(r, DateTimeOffset.UtcNow);
            Assert.Equal(ProxyRepairStatus.Repaired, r.Status);
        }

        Assert.All(ProxySourceTests.Inspect(root).Settings, s => Assert.True(s.Exempt, s + " " + string.Join("; ", s.ImdsExempt.Verdicts)));
        var again = Plan(root, force);
        Assert.Empty(again.Repairs);
        return plan;
    }

    [Fact]
    public void Etc_environment_gets_entries_appended_and_a_missing_variable_after_the_proxy_line()
    {
        using var root = new FakeRoot();
        string before = "# managed by hand\nPATH=\"/usr/bin:/bin\"\nhttp_proxy=\"http://proxy:3128\"\nNO_PROXY=\"localhost,.corp\" # keep\nLANG=C.UTF-8";
        root.Write("etc/environment", before);
        var plan = RepairAll(root);

        // pam_env keeps the closing quote before " # keep" (it is not the last character): the addition ends with a comma
        // so that the quote lands in an empty, harmless last entry.
        string after = root.Read("etc/environment");
        Assert.Equal(
            "# managed by hand\nPATH=\"/usr/bin:/bin\"\nhttp_proxy=\"http://proxy:3128\"\nNO_PROXY=\"localhost,.corp," + Entries + ",\" # keep\n" +
            "no_proxy=\"localhost,.corp," + Entries + "\"\nLANG=C.UTF-8", after);

        var repair = Assert.Single(plan.Repairs);
        Assert.Equal(root["etc/environment"], repair.File);
        Assert.Equal(before, File.ReadAllText(repair.BackupPath!));
        Assert.Contains("new login sessions (ssh, su, cron)", repair.RestartRequired);
        Assert.Equal(new[] { "NO_PROXY", "no_proxy" }, repair.Variables);
    }

    [Fact]
    public void Crlf_files_stay_crlf_and_only_the_last_of_several_assignments_changes()
    {
        using var root = new FakeRoot();
        string before = "export http_proxy=http://proxy:3128\r\nexport no_proxy=old\r\nexport no_proxy=localhost\r\nexport NO_PROXY=$no_proxy\r\n";
        root.Write("etc/profile.d/proxy.sh", before);
        RepairAll(root);
        Assert.Equal(
            "export http_proxy=http://proxy:3128\r\nexport no_proxy=old\r\nexport no_proxy=localhost," + Entries + "\r\nexport NO_PROXY=$no_proxy\r\n",
            root.Read("etc/profile.d/proxy.sh"));
    }

    [Fact]
    public void Crlf_etc_environment_with_a_new_line_keeps_crlf_and_curl_still_matches()
    {
        using var root = new FakeRoot();
        root.Write("etc/environment", "http_proxy=http://proxy:3128\r\nno_proxy=localhost\r\n");
        RepairAll(root);

        // pam_env keeps the CR: the last entry "[fd00:ec2::254]\r" is the one curl never needs.
        Assert.Equal("http_proxy=http://proxy:3128\r\nno_proxy=localhost," + Entries + "\r\nNO_PROXY=localhost," + Entries + "\r\n", root.Read("etc/environment"));
    }

    [Fact]
    public void Shell_continuations_quotes_and_references_are_kept()
    {
        using var root = new FakeRoot();
        string before = "if [ -z \"$http_proxy\" ]; then\n\texport http_proxy='http://proxy:3128' \\\n\t\tno_proxy='localhost,\n127.0.0.1'\nfi\nexport NO_PROXY=\"${NO_PROXY:+$NO_PROXY,}$no_proxy\"  # both\n";
        root.Write("home/ann/.bashrc", before);
        RepairAll(root);
        Assert.Equal(
            "if [ -z \"$http_proxy\" ]; then\n\texport http_proxy='http://proxy:3128' \\\n\t\tno_proxy='localhost,\n127.0.0.1," + Entries + "'\nfi\nexport NO_PROXY=\"${NO_PROXY:+$NO_PROXY,}$no_proxy\"  # both\n",
            root.Read("home/ann/.bashrc"));
    }

    [Fact]
    public void Systemd_drop_in_gets_environment_lines_in_the_same_style_and_the_env_file_is_extended()
    {
        using var root = new FakeRoot();
        root.Write("etc/systemd/system/amazon-ssm-agent.service.d/override.conf", "[Service]\nEnvironment=\"http_proxy=http://u:secret@proxy:3128\" \"https_proxy=http://proxy:3128\"\n");
        root.Write("lib/systemd/system/docker.service", "[Service]\nEnvironmentFile=-/etc/sysconfig/docker\nExecStart=/usr/bin/dockerd\n");
        root.Write("etc/sysconfig/docker", "OPTIONS=\"--selinux-enabled\"\nHTTP_PROXY=http://proxy:3128\nNO_PROXY=169.254.169.254,169.254.170.2\n");
        var plan = RepairAll(root);

        Assert.Equal("[Service]\nEnvironment=\"http_proxy=http://u:secret@proxy:3128\" \"https_proxy=http://proxy:3128\"\n" +
            "Environment=\"NO_PROXY=" + Entries + "\"\nEnvironment=\"no_proxy=" + Entries + "\"\n",
            root.Read("etc/systemd/system/amazon-ssm-agent.service.d/override.conf"));
        Assert.Equal("OPTIONS=\"--selinux-enabled\"\nHTTP_PROXY=http://proxy:3128\nNO_PROXY=169.254.169.254,169.254.170.2,fd00:ec2::254,[fd00:ec2::254]\n" +
            "no_proxy=169.254.169.254,169.254.170.2,fd00:ec2::254,[fd00:ec2::254]\n", root.Read("etc/sysconfig/docker"));
        Assert.Contains(plan.Repairs, r => r.RestartRequired.Contains("amazon-ssm-agent.service"));
        Assert.Contains(plan.Repairs, r => r.RestartRequired.Contains("docker.service"));
        Assert.DoesNotContain("secret", string.Join("\n", plan.Repairs.SelectMany(r => r.Changes)), StringComparison.Ordinal);
    }

    [Fact]
    public void Docker_json_gets_a_member_or_a_longer_string()
    {
        using var root = new FakeRoot();
        root.Write("etc/docker/daemon.json", "{\n    \"proxies\": {\n        \"http-proxy\": \"http://proxy:3128\",\n        \"https-proxy\": \"http://proxy:3128\"\n    },\n    \"debug\": true\n}\n");
        root.Write("home/ann/.docker/config.json", "{\"proxies\":{\"default\":{\"httpProxy\":\"http://proxy:3128\",\"noProxy\":\"localhost\"}}}");
        RepairAll(root);
        Assert.Equal("{\n    \"proxies\": {\n        \"http-proxy\": \"http://proxy:3128\",\n        \"https-proxy\": \"http://proxy:3128\",\n        \"no-proxy\": \"" + Entries + "\"\n    },\n    \"debug\": true\n}\n",
            root.Read("etc/docker/daemon.json"));
        Assert.Equal("{\"proxies\":{\"default\":{\"httpProxy\":\"http://proxy:3128\",\"noProxy\":\"localhost," + Entries + "\"}}}", root.Read("home/ann/.docker/config.json"));
        System.Text.Json.JsonDocument.Parse(root.Read("etc/docker/daemon.json")).Dispose();
    }

    [Fact]
    public void Owner_and_mode_are_kept_and_the_backup_has_them_too()
    {
        using var root = new FakeRoot();
        string file = root.Write("etc/profile.d/proxy.sh", "export HTTP_PROXY=http://u:pw@proxy:3128\n");
        ProcessRunner.Check("chown", "1234:2345", file);
        ProcessRunner.Check("chmod", "0640", file);
        var plan = RepairAll(root);

        var (uid, gid, mode) = ProxyFileWriter.GetOwnerAndMode(file);
        Assert.Equal((1234u, 2345u), (uid, gid));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, mode);
        string backup = Assert.Single(plan.Repairs).BackupPath!;
        Assert.Equal(ProxyFileWriter.GetOwnerAndMode(backup), (uid, gid, mode));
        Assert.Equal("export HTTP_PROXY=http://u:pw@proxy:3128\n", File.ReadAllText(backup));

        // The backup's name does not end in .sh: /etc/profile does not source it.
        Assert.DoesNotMatch(@"\.sh$", backup);
        Assert.Empty(Directory.GetFiles(root["etc/profile.d"], ".*imds-tmp*"));
    }

    [Fact]
    public void A_symlinked_file_is_edited_through_the_link()
    {
        using var root = new FakeRoot();
        string target = root.Write("etc/proxy/environment", "http_proxy=http://proxy:3128\nno_proxy=localhost\n");
        Directory.CreateDirectory(root["etc"]);
        File.CreateSymbolicLink(root["etc/environment"], target);
        RepairAll(root);
        Assert.NotNull(new FileInfo(root["etc/environment"]).LinkTarget);
        Assert.Contains(Entries, File.ReadAllText(target), StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_without_a_proxy_is_not_touched_unless_forced()
    {
        using var root = new FakeRoot();
        root.Write("etc/profile.d/10-proxy.sh", "export http_proxy=http://proxy:3128 HTTP_PROXY=http://proxy:3128\n");
        string later = "# site defaults\nexport no_proxy=localhost NO_PROXY=localhost\n";
        root.Write("etc/profile.d/20-noproxy.sh", later);

        // Without -Force: the new lines in 10-proxy.sh would be overridden by 20-noproxy.sh; that is reported.
        var plan = Plan(root, force: false, ProxyScope.Machine);
        Assert.Contains(plan.Problems, p => p.Contains("20-noproxy.sh:2", StringComparison.Ordinal) && p.Contains("-Force", StringComparison.Ordinal));
        Assert.DoesNotContain(plan.Repairs, r => r.File!.EndsWith("20-noproxy.sh", StringComparison.Ordinal));

        // With -Force the file that wins is edited, and the proxy file is left alone.
        var forced = RepairAll(root, force: true);
        Assert.Equal("# site defaults\nexport no_proxy=localhost," + Entries + " NO_PROXY=localhost," + Entries + "\n", root.Read("etc/profile.d/20-noproxy.sh"));
        Assert.Equal("export http_proxy=http://proxy:3128 HTTP_PROXY=http://proxy:3128\n", root.Read("etc/profile.d/10-proxy.sh"));
        Assert.Single(forced.Repairs);
    }

    [Fact]
    public void Empty_lowercase_no_proxy_gets_the_uppercase_entries_too()
    {
        using var root = new FakeRoot();
        root.Write("etc/environment", "http_proxy=http://proxy:3128\nNO_PROXY=169.254.169.254,.internal\nno_proxy=\n");
        RepairAll(root);
        Assert.Equal("http_proxy=http://proxy:3128\nNO_PROXY=169.254.169.254,.internal,fd00:ec2::254,[fd00:ec2::254]\nno_proxy=169.254.169.254,.internal,fd00:ec2::254,[fd00:ec2::254]\n",
            root.Read("etc/environment"));
    }

    [Fact]
    public void A_file_changed_after_the_scan_is_not_overwritten()
    {
        using var root = new FakeRoot();
        root.Write("etc/environment", "http_proxy=http://proxy:3128\n");
        var repair = Assert.Single(Plan(root).Repairs);
        root.Write("etc/environment", "http_proxy=http://proxy:3128\nEDITED=1\n");
        Assert.Throws<IOException>(() => ProxyRepairPlanner.Apply(repair, DateTimeOffset.UtcNow));
        Assert.Equal(ProxyRepairStatus.Failed, repair.Status);
        Assert.Equal("http_proxy=http://proxy:3128\nEDITED=1\n", root.Read("etc/environment"));
    }

    [Fact]
    public void Exempt_contexts_and_https_only_proxies_plan_nothing()
    {
        using var root = new FakeRoot();
        root.Write("etc/environment", "https_proxy=http://proxy:3128\nHTTPS_PROXY=http://proxy:3128\n");
        root.Write("etc/profile.d/p.sh", "export http_proxy=http://proxy:3128 HTTP_PROXY=http://proxy:3128 NO_PROXY=" + Entries + " no_proxy=" + Entries + "\n");
        var plan = Plan(root);
        Assert.Empty(plan.Repairs);
        Assert.Empty(plan.Problems);
    }
}
