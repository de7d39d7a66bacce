using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using ImdsTroubleshoot.Engine.Proxy;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Proxy;

/// <summary>The readers over real-world file shapes, on a fake root: what they find, where, and what it does to IMDS.</summary>
public sealed class ProxySourceTests
{
    internal static ProxyInspection Inspect(FakeRoot root, string home = "/home/ann") => ProxyInspector.Inspect(new ProxyScanOptions
    {
        RootPath = root.Path,
        HomeDirectory = home,
        UserName = "ann",
        IncludeProcessEnvironment = false,
        IncludeRunningProcesses = false,
    });

    private static ImdsProxySetting Single(ProxyInspection i, string file, string variable) =>
        Assert.Single(i.Settings, s => s.File!.EndsWith(file, StringComparison.Ordinal) && s.Variable == variable);

    [Fact]
    public void Etc_environment_shapes_are_read_as_pam_env_reads_them()
    {
        using var root = new FakeRoot();
        root.Write("etc/environment", string.Join("\n",
            "PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\"",
            "# corporate proxy",
            "#http_proxy=http://old:3128",
            "http_proxy=\"http://proxy.corp:3128\"",
            "export HTTP_PROXY=http://proxy.corp:3128",
            "no-proxy=ignored",
            "NO_PROXY=localhost # inline comments end the value",
            "NO_PROXY=$NO_PROXY,169.254.169.254",
            "no_proxy='localhost,169.254.169.254'",
            string.Empty));
        var i = Inspect(root);

        var http = Single(i, "etc/environment", "http_proxy");
        Assert.Equal(4, http.Line);
        Assert.Equal("http://proxy.corp:3128", http.ProxyUrl);
        Assert.Equal(ProxySourceKind.PamEnvironment, http.Source);
        Assert.Equal(ProxyScope.Machine, http.Scope);
        Assert.Contains(ProxyClientFamily.Curl, http.UsedBy);
        Assert.Contains(ProxyClientFamily.Go, Single(i, "etc/environment", "HTTP_PROXY").UsedBy);

        // Two NO_PROXY lines: the last wins, the first is reported as overridden; "$NO_PROXY" stays literal.
        var noProxies = i.Settings.Where(s => s.Variable == "NO_PROXY").OrderBy(s => s.Line).ToList();
        Assert.Equal(new int?[] { 7, 8 }, noProxies.Select(s => s.Line));
        Assert.False(noProxies[0].Effective);
        Assert.True(noProxies[1].Effective);
        Assert.Equal("$NO_PROXY,169.254.169.254", noProxies[1].Value);
        Assert.Equal("localhost,169.254.169.254", noProxies[1].NoProxy);
        Assert.DoesNotContain(i.Settings, s => s.Variable.Contains("no-proxy", StringComparison.Ordinal));

        // IPv4 is exempt everywhere, IPv6 for no family: nothing names fd00:ec2::254.
        Assert.False(http.Exempt);
        Assert.All(http.ImdsExempt.Verdicts, v => Assert.Equal(ProxyOutcome.Exempt, v.Ipv4));
        Assert.All(http.ImdsExempt.Verdicts, v => Assert.Equal(ProxyOutcome.Proxied, v.Ipv6));
    }

    [Fact]
    public void Crlf_etc_environment_keeps_the_cr_and_curl_misses_the_last_entry()
    {
        using var root = new FakeRoot();
        root.Write("etc/environment", "http_proxy=http://proxy:3128\r\nno_proxy=localhost,169.254.169.254,fd00:ec2::254,[fd00:ec2::254]\r\nNO_PROXY=169.254.169.254\r\n");
        var i = Inspect(root);
        var row = Single(i, "etc/environment", "http_proxy");

        // "[fd00:ec2::254]\r" is last in no_proxy: only curl cares about CRs, and it uses the bare IPv6 form, so the
        // lowercase readers are exempt. Go reads NO_PROXY first, which lacks IPv6: the mismatched pair leaves Go proxied.
        Assert.Equal(new[] { ProxyClientFamily.Go }, row.ImdsExempt.NotExempt);

        // NO_PROXY alone with a CR: Go reads it first (trims), curl would not match 169.254.169.254\r.
        root.Write("etc/environment", "http_proxy=http://proxy:3128\r\nNO_PROXY=169.254.169.254\r\n");
        var crlf = Single(Inspect(root), "etc/environment", "http_proxy");
        Assert.False(crlf.ImdsExempt.Curl);
        Assert.Equal(ProxyOutcome.Exempt, crlf.ImdsExempt.Verdicts.Single(v => v.Family == ProxyClientFamily.Go).Ipv4);
    }

    [Fact]
    public void Etc_environment_quote_and_continuation_quirks()
    {
        using var root = new FakeRoot();
        root.Write("etc/environment", "http_proxy=http://proxy:3128\nno_proxy=\"localhost,169.254.169.254\"   \nNO_PROXY=localhost,\\\n169.254.169.254\n");
        var i = Inspect(root);

        // Trailing blanks after the closing quote: pam_env keeps that quote, the last entry is broken.
        var no = Single(i, "etc/environment", "no_proxy");
        Assert.Equal("localhost,169.254.169.254\"   ", no.Value);
        Assert.False(no.ImdsExempt.Curl);

        // Backslash-newline joins lines.
        Assert.Equal("localhost,169.254.169.254", Single(i, "etc/environment", "NO_PROXY").Value);
    }

    [Fact]
    public void Shell_profiles_follow_exports_references_unset_and_continuations()
    {
        using var root = new FakeRoot();
        root.Write("etc/profile.d/proxy.sh", string.Join("\n",
            "# proxy settings",
            "#export http_proxy=http://commented:1",
            "http_proxy=http://proxy.corp:3128",
            "HTTPS_PROXY=http://proxy.corp:3128",
            "export http_proxy HTTPS_PROXY",
            "export no_proxy=localhost,127.0.0.1",
            "export NO_PROXY=\"${NO_PROXY:+$NO_PROXY,}$no_proxy\"",
            "LOCAL_ONLY_PROXY=x",
            "if [ -n \"$BASH_VERSION\" ]; then",
            "  export HTTP_PROXY=http://proxy.corp:3128 \\",
            "    ALL_PROXY=socks5://proxy.corp:1080",
            "fi",
            "cat > /tmp/x <<EOF",
            "export http_proxy=http://inside-heredoc:9",
            "EOF",
            "unset ALL_PROXY",
            string.Empty));
        root.Write("home/ann/.bashrc", "export no_proxy=\"$no_proxy,169.254.169.254\"\nexport NO_PROXY=$no_proxy\n");
        var i = Inspect(root);

        var http = Single(i, "etc/profile.d/proxy.sh", "http_proxy");
        Assert.Equal(3, http.Line);
        Assert.Equal("login shells", http.Context);
        Assert.DoesNotContain(i.Settings, s => s.Value?.Contains("commented", StringComparison.Ordinal) == true || s.Value?.Contains("inside-heredoc", StringComparison.Ordinal) == true);
        Assert.Equal(10, Single(i, "etc/profile.d/proxy.sh", "HTTP_PROXY").Line);
        Assert.Equal("localhost,127.0.0.1", Single(i, "etc/profile.d/proxy.sh", "NO_PROXY").Value);

        // System layer: IMDS not exempt; the user's .bashrc adds IPv4 (both variables), still no IPv6.
        Assert.False(http.Exempt);
        var userNo = Single(i, "home/ann/.bashrc", "no_proxy");
        Assert.Equal(ProxyScope.User, userNo.Scope);
        Assert.Equal("localhost,127.0.0.1,169.254.169.254", userNo.Value);
        Assert.All(userNo.ImdsExempt.Verdicts, v => Assert.Equal(ProxyOutcome.Exempt, v.Ipv4));
        Assert.Equal("localhost,127.0.0.1,169.254.169.254", Single(i, "home/ann/.bashrc", "NO_PROXY").Value);
    }

    /// <summary>The shell reader against bash itself: source the file, print the environment, compare.</summary>
    [Theory]
    [InlineData("export http_proxy=http://p:1 NO_PROXY=a,b\nno_proxy=$NO_PROXY,169.254.169.254; export no_proxy\n")]
    [InlineData("HTTP_PROXY='http://p:1'\nNO_PROXY=\"x\"'y'z\nexport HTTP_PROXY\nexport NO_PROXY=\"${NO_PROXY:-none},${UNSET_VAR:-d},${NO_PROXY:+e}\"\n")]
    [InlineData("export http_proxy=http://p:1\r\nexport no_proxy=localhost,169.254.169.254\r\n")]
    [InlineData("declare -x http_proxy=http://p:1\nexport NO_PROXY=a,\\\nb\nexport no_proxy=a\\,b\\ c\nunset NO_PROXY\nexport NO_PROXY+=tail\n")]
    [InlineData("if true; then export http_proxy=http://p:1; fi\nexport no_proxy=\"$(echo x)\"\n")]
    public void Shell_reader_agrees_with_bash(string script)
    {
        using var root = new FakeRoot();
        string file = root.Write("etc/profile.d/proxy.sh", script);
        string output = root["env.out"];
        var r = ProcessRunner.Run("env", new[] { "-i", "PATH=/usr/bin:/bin", "bash", "--noprofile", "--norc", "-c", ". \"$1\"; env -0 > \"$2\"", "x", file, output }, TimeSpan.FromSeconds(20));
        Assert.True(r.ExitCode == 0, r.ToString());
        var bash = System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(output)).Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('=', 2)).Where(p => p.Length == 2 && ProxyEnvironmentEvaluator.IsProxyRelated(p[0]))
            .ToDictionary(p => p[0], p => p[1]);

        var i = Inspect(root);
        var ours = i.Settings.Where(s => s.Context == "login shells" && s.Effective).ToDictionary(s => s.Variable, s => s.Value ?? string.Empty);
        if (script.Contains("$(", StringComparison.Ordinal))
        {
            // Command substitution is not run: the value is kept as written.
            Assert.Equal("$(echo x)", ours["no_proxy"]);
            bash.Remove("no_proxy");
            ours.Remove("no_proxy");
        }

        Assert.Equal(bash.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}={k.Value}"), ours.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}={k.Value}"));
    }

    [Fact]
    public void Systemd_drop_ins_environment_files_resets_and_default_environment()
    {
        using var root = new FakeRoot();
        root.Write("etc/systemd/system.conf", "[Manager]\n#DefaultEnvironment=\nDefaultEnvironment=\"NO_PROXY=169.254.169.254\" HTTP_PROXY=http://mgr:3128\n");
        root.Write("etc/systemd/system/amazon-ssm-agent.service.d/override.conf",
            "[Service]\nEnvironment=\"http_proxy=http://user:pa55@proxy:3128\"\nEnvironment=\"https_proxy=http://proxy:3128\" \"no_proxy=169.254.169.254\"\n");
        root.Write("lib/systemd/system/docker.service", "[Unit]\nDescription=Docker\n[Service]\nEnvironmentFile=-/etc/sysconfig/docker\nExecStart=/usr/bin/dockerd\n");
        root.Write("etc/systemd/system/docker.service.d/10-proxy.conf", "[Service]\nEnvironment=HTTP_PROXY=http://proxy:3128 NO_PROXY=localhost\n");
        root.Write("etc/systemd/system/docker.service.d/20-reset.conf", "[Service]\nEnvironment=\nEnvironment=\"HTTP_PROXY=http://proxy:3128\"\n");
        root.Write("etc/sysconfig/docker", "# docker options\nexport no_proxy=ignored-by-systemd\nNO_PROXY=\"169.254.169.254,fd00:ec2::254\"\n");
        var i = Inspect(root);

        var ssm = Single(i, "amazon-ssm-agent.service.d/override.conf", "http_proxy");
        Assert.Equal("http://user:****@proxy:3128", ssm.ProxyUrl);
        Assert.DoesNotContain("pa55", string.Join("\n", i.Settings.Select(s => s.ToString() + s.Value + s.ProxyUrl)), StringComparison.Ordinal);
        Assert.Equal(new[] { "amazon-ssm-agent.service" }, ssm.RestartRequired);
        Assert.Equal("systemd unit amazon-ssm-agent.service", ssm.Context);

        // DefaultEnvironment's NO_PROXY reaches Go (uppercase first); lowercase no_proxy covers the rest for IPv4.
        Assert.All(ssm.ImdsExempt.Verdicts, v => Assert.Equal(ProxyOutcome.Exempt, v.Ipv4));
        Assert.False(ssm.Exempt);
        Assert.Equal(3, Single(i, "system.conf", "NO_PROXY").Line);

        // docker: the empty Environment= drops NO_PROXY=localhost; the EnvironmentFile (export line ignored) sets NO_PROXY.
        var dockerProxy = i.Settings.Where(s => s.Context == "systemd unit docker.service" && s.Variable == "HTTP_PROXY").ToList();
        Assert.Equal(2, dockerProxy.Count);
        var envFile = Single(i, "etc/sysconfig/docker", "NO_PROXY");
        Assert.Equal(ProxySourceKind.SystemdEnvironmentFile, envFile.Source);
        Assert.DoesNotContain(i.Settings, s => s.Variable == "no_proxy" && s.File!.EndsWith("sysconfig/docker", StringComparison.Ordinal));
        Assert.True(envFile.ImdsExempt.Go);
        Assert.False(envFile.ImdsExempt.DotNet);
        Assert.False(i.Settings.Single(s => s.Variable == "NO_PROXY" && s.File!.EndsWith("10-proxy.conf", StringComparison.Ordinal)).Effective);
    }

    [Fact]
    public void Docker_daemon_and_client_json()
    {
        using var root = new FakeRoot();
        root.Write("etc/docker/daemon.json", "{\n  \"log-driver\": \"awslogs\",\n  \"proxies\": {\n    \"http-proxy\": \"http://proxy:3128\",\n    \"no-proxy\": \"*.corp\"\n  }\n}\n");
        root.Write("home/ann/.docker/config.json", "{\"auths\":{},\"proxies\":{\"default\":{\"httpProxy\":\"http://u:secret@proxy:3128\",\"noProxy\":\"169.254.169.254,fd00:ec2::254,[fd00:ec2::254]\"}}}");
        var i = Inspect(root);

        var daemon = Single(i, "etc/docker/daemon.json", "proxies.http-proxy");
        Assert.Equal(4, daemon.Line);
        Assert.Equal(ProxySourceKind.DockerDaemon, daemon.Source);
        Assert.Equal(new[] { "docker.service" }, daemon.RestartRequired);
        Assert.False(daemon.Exempt);
        Assert.Equal(ProxyClientFamily.Go, daemon.UsedBy.Single(f => f == ProxyClientFamily.Go));

        var client = Single(i, ".docker/config.json", "proxies.default.httpProxy");
        Assert.Equal("http://u:****@proxy:3128", client.ProxyUrl);
        Assert.True(client.Exempt);
        Assert.Equal(ProxyScope.User, client.Scope);
    }

    [Fact]
    public void Running_processes_are_read_from_proc_environ()
    {
        using var root = new FakeRoot();
        root.Write("proc/4242/environ", "PATH=/usr/bin\0HTTP_PROXY=http://proxy:3128\0no_proxy=169.254.169.254\0");
        root.Write("proc/4242/comm", "amazon-ssm-agen\n");
        root.Write("proc/4242/cgroup", "0::/system.slice/amazon-ssm-agent.service\n");
        root.Write("proc/4243/environ", "PATH=/usr/bin\0");
        var i = ProxyInspector.Inspect(new ProxyScanOptions { RootPath = root.Path, IncludeProcessEnvironment = false, ProcPath = root["proc"] });
        var row = Assert.Single(i.Settings, s => s.Source == ProxySourceKind.RunningProcess && s.Variable == "HTTP_PROXY");
        Assert.Equal(4242, row.ProcessId);
        Assert.Equal("/proc/4242/environ", row.File);
        Assert.Equal(new[] { "amazon-ssm-agent.service" }, row.RestartRequired);

        // Go reads NO_PROXY first, finds none, then no_proxy: IPv4 exempt, IPv6 not. curl ignores HTTP_PROXY.
        Assert.Equal(ProxyOutcome.Exempt, row.ImdsExempt.Verdicts.Single(v => v.Family == ProxyClientFamily.Go).Ipv4);
        Assert.Equal(ProxyOutcome.Proxied, row.ImdsExempt.Verdicts.Single(v => v.Family == ProxyClientFamily.Go).Ipv6);
        Assert.True(row.ImdsExempt.Curl);
        Assert.Equal(ProxyScope.Process, row.Scope);
    }

    [Fact]
    public void A_real_child_process_started_with_a_proxy_is_found_in_proc()
    {
        var psi = new ProcessStartInfo("sleep", "30") { UseShellExecute = false };
        psi.Environment["http_proxy"] = "http://ann:topsecret@proxy.test:3128";
        psi.Environment.Remove("no_proxy");
        psi.Environment.Remove("NO_PROXY");
        using var child = Process.Start(psi)!;
        try
        {
            var i = ProxyInspector.Inspect(new ProxyScanOptions { IncludeProcessEnvironment = false });
            var row = Assert.Single(i.Settings, s => s.ProcessId == child.Id && s.Variable == "http_proxy");
            Assert.Equal("http://ann:****@proxy.test:3128", row.ProxyUrl);
            Assert.False(row.Exempt);
            Assert.Contains("sleep", row.Context, StringComparison.Ordinal);
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }
    }

    [Fact]
    public void Find_proxy_for_imds_names_the_file_line_that_sets_it()
    {
        using var root = new FakeRoot();
        root.Write("etc/profile.d/proxy.sh", "export HTTP_PROXY=http://u:pw@proxy:3128\n");
        var i = Inspect(root);
        var env = new Dictionary<string, string> { ["HTTP_PROXY"] = "http://u:pw@proxy:3128", ["NO_PROXY"] = "localhost" };

        var found = ProxyInspector.FindProxyForImds(env, i.Settings, ProxyClientFamily.DotNet);
        Assert.True(found.Proxied);
        Assert.Equal("HTTP_PROXY", found.Variable);
        Assert.Equal("http://u:****@proxy:3128", found.ProxyUrl);
        Assert.EndsWith("etc/profile.d/proxy.sh", found.Setting!.File, StringComparison.Ordinal);
        Assert.Contains("proxy.sh:1", found.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("pw@", found.Description, StringComparison.Ordinal);

        var other = new Dictionary<string, string> { ["http_proxy"] = "http://elsewhere:8080" };
        var fromEnv = ProxyInspector.FindProxyForImds(other, i.Settings, ProxyClientFamily.Curl);
        Assert.Null(fromEnv.Setting);
        Assert.Contains("process environment", fromEnv.Description, StringComparison.Ordinal);

        var curlIgnoresUpper = ProxyInspector.FindProxyForImds(env, i.Settings, ProxyClientFamily.Curl);
        Assert.False(curlIgnoresUpper.Proxied);
    }
}
