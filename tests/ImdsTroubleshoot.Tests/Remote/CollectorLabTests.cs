using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Net;
using ImdsTroubleshoot.Engine.Remote;
using ImdsTroubleshoot.Tests.Lab;
using ImdsTroubleshoot.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>
/// The collector run inside the lab's namespaces (as a remote target would run it: sh -s, clean environment), its
/// output parsed and analyzed, gives the findings LocalDiagnosis gives in the same namespace, scenario by scenario.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class CollectorLabTests
{
    private readonly ITestOutputHelper _output;

    public CollectorLabTests(ITestOutputHelper output)
    {
        _output = output;
    }

    private sealed record Comparison(List<LabFinding> Local, List<LabFinding> Remote, string Output, TimeSpan CollectorTime, DiagnosisInput Input);

    /// <summary>Invoke-ImdsDiagnosis through the CLI in the namespace (what users run).</summary>
    private static List<LabFinding> Local(string ns, int? uid, Dictionary<string, string> env, bool ipv6) =>
        LabFinding.Local(ns, uid, env, "-Ec2Api Never" + (ipv6 ? " -IPv6" : string.Empty));

    private static (List<LabFinding> Findings, string Output, TimeSpan Elapsed, DiagnosisInput Input) Remote(string ns, uint uid, Dictionary<string, string> env, bool ipv6, int budget = Collector.DefaultOutputBudget)
    {
        string script = Collector.Build(new CollectorParameters { IPv6 = ipv6, TimeoutSec = LabFinding.StepSeconds, OutputBudget = budget });
        var sw = Stopwatch.StartNew();
        var r = CollectorRun.Run(ns, script, uid, env, TimeSpan.FromSeconds(120));
        sw.Stop();
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(r.Stdout.Length <= budget, $"{r.Stdout.Length} characters for a budget of {budget}");
        DiagnosisInput input = CollectorOutputParser.Parse(r.Stdout, "localhost");
        var findings = DiagnosisEngine.Analyze(input).Select(LabFinding.From).ToList();
        return (findings, r.Stdout, sw.Elapsed, input);
    }

    private Comparison Compare(string ns, uint uid = 0, Dictionary<string, string>? env = null, bool ipv6 = false)
    {
        env ??= new Dictionary<string, string>();
        var remote = Remote(ns, uid, env, ipv6);
        var local = Local(ns, uid == 0 ? null : (int)uid, env, ipv6);
        _output.WriteLine($"collector: {remote.Output.Length} characters in {remote.Elapsed.TotalSeconds:0.00} s");
        var differences = new List<string>();
        foreach (var l in local)
        {
            var r = remote.Findings.SingleOrDefault(f => f.Check == l.Check);
            if (r is null)
            {
                differences.Add($"{l.Check}: missing remotely");
                continue;
            }

            if (l.Check is "MetadataOptions")
            {
                // The EC2 API is not asked by either (-Ec2Api Never here; remote: not by the collector): reasons differ in words only.
                if (l.Status != r.Status)
                {
                    differences.Add($"{l.Check}: status {l.Status} locally, {r.Status} remotely");
                }

                continue;
            }

            void Same(string what, string? a, string? b)
            {
                if (LabFinding.Normalize(a) != LabFinding.Normalize(b))
                {
                    differences.Add($"{l.Check}.{what}:\n   local:  {a}\n   remote: {b}");
                }
            }

            if (l.Check == "Proxy" && SameBesidesRunningProcesses(l, r))
            {
                // Processes of other tests come and go between the two runs (both read every process's environment as root).
                continue;
            }

            Same("Status", l.Status, r.Status);
            Same("Outcome", l.Outcome, r.Outcome);
            Same("Detail", l.Detail, r.Detail);
            Same("Cause", l.Cause, r.Cause);
            Same("Fix", l.Fix, r.Fix);
            Same("ShellFix", l.ShellFix, r.ShellFix);
            Same("InstanceId", l.InstanceId, r.InstanceId);
            var le = l.Evidence.Select(LabFinding.Normalize).ToList();
            var re = r.Evidence.Select(LabFinding.Normalize).ToList();
            foreach (string e in le.Except(re))
            {
                differences.Add($"{l.Check}.Evidence only local:  {e}");
            }

            foreach (string e in re.Except(le).Where(e => !e.StartsWith("warning: the remote ", StringComparison.Ordinal) || !e.Contains("was reduced to fit", StringComparison.Ordinal)))
            {
                // A remote report says when the collector reduced a dump for its budget; nothing else may differ.
                differences.Add($"{l.Check}.Evidence only remote: {e}");
            }
        }

        foreach (var r in remote.Findings.Where(r => local.All(l => l.Check != r.Check)))
        {
            differences.Add($"{r.Check}: only remote: {r.Status} {r.Outcome} {r.Detail} [{string.Join("; ", r.Evidence)}]");
        }

        foreach (string d in differences)
        {
            _output.WriteLine(d);
        }

        Assert.True(differences.Count == 0, string.Join("\n", differences) + "\n--- collector output ---\n" + remote.Output);
        return new Comparison(local, remote.Findings, remote.Output, remote.Elapsed, remote.Input);
    }

    private static bool SameBesidesRunningProcesses(LabFinding l, LabFinding r)
    {
        string[] quiet = { "NoProxyForImds", "ProxyCatchesImdsElsewhere" };
        var le = l.Evidence.Where(e => !LabFinding.IsProcessEvidence(e)).Select(LabFinding.Normalize).ToList();
        var re = r.Evidence.Where(e => !LabFinding.IsProcessEvidence(e)).Select(LabFinding.Normalize).ToList();
        bool sameRest = le.SequenceEqual(re);
        if (l.Outcome == r.Outcome && l.Outcome != "ProxyCatchesImdsElsewhere")
        {
            return sameRest && LabFinding.Normalize(l.Detail) == LabFinding.Normalize(r.Detail) && l.Cause == r.Cause && l.Fix == r.Fix && l.ShellFix == r.ShellFix && l.Status == r.Status;
        }

        // Only running processes differ: a process with a proxy that existed during one run and not the other.
        return quiet.Contains(l.Outcome) && quiet.Contains(r.Outcome) && sameRest && le.Count == 0;
    }

    private static LabFinding Of(Comparison c, string check) => c.Remote.Single(f => f.Check == check);

    [LabFact]
    public void Healthy_instance_gives_the_local_findings()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpTokens = HttpTokensState.Required, HttpPutResponseHopLimit = 2 });
        var c = Compare(lab.InstanceNs);
        Assert.All(new[] { "Endpoint", "Token", "HopLimit", "Firewall", "Throttling" }, check => Assert.Equal("Pass", Of(c, check).Status));
        Assert.Equal("TokensRequired", Of(c, "ImdsV1").Outcome);
        Assert.Equal("i-0123456789abcdef0", Of(c, "Token").InstanceId);
    }

    [LabFact]
    public void A_reject_rule_gives_the_local_findings()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-j", "REJECT");
        var c = Compare(lab.InstanceNs);
        Assert.Equal(("Fail", "ConnectionRefused"), (Of(c, "Endpoint").Status, Of(c, "Endpoint").Outcome));
        Assert.Equal("FirewallBlocksImds", Of(c, "Firewall").Outcome);
        Assert.StartsWith("iptables-nft -t filter -D OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT", Of(c, "Firewall").ShellFix, StringComparison.Ordinal);

        // The remote machine's rule never pipes into Remove-ImdsFirewallRule here (it would act on this machine's
        // firewall); the fix says where to run it. The same evidence analyzed as local carries the rule.
        ImdsFinding remote = DiagnosisEngine.Analyze(c.Input).Single(f => f.Check == DiagnosisCheck.Firewall);
        ImdsFinding asLocal = DiagnosisEngine.Analyze(c.Input with { IsRemote = false }).Single(f => f.Check == DiagnosisCheck.Firewall);
        Assert.True(c.Input.IsRemote);
        Assert.Empty(remote.Related);
        Assert.StartsWith(DiagnosisEngine.RemoteFixPrefix(remote.Target), remote.Fix, StringComparison.Ordinal);
        Assert.Contains(asLocal.Related, r => r is ImdsTroubleshoot.Engine.Firewall.FirewallRule);
        Assert.Equal(asLocal.Fix, RemoteFix.Strip(remote.Target, remote.Fix));
    }

    [LabFact]
    public void A_drop_rule_gives_the_local_findings()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings());
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-j", "DROP");
        var c = Compare(lab.InstanceNs);
        Assert.Equal(("Fail", "ConnectTimeout"), (Of(c, "Endpoint").Status, Of(c, "Endpoint").Outcome));
        Assert.Contains("drops this traffic", Of(c, "Endpoint").Cause, StringComparison.Ordinal);
        Assert.True(c.CollectorTime < TimeSpan.FromSeconds(30), c.CollectorTime.ToString());
    }

    [LabFact]
    public void The_uid_range_rule_gives_the_local_findings_as_root_and_as_uid_1000()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-m", "owner", "--uid-owner", "1000-10000", "-j", "REJECT");
        var root = Compare(lab.InstanceNs);
        Assert.Equal(("Warn", "FirewallBlocksImdsForOthers"), (Of(root, "Firewall").Status, Of(root, "Firewall").Outcome));
        var user = Compare(lab.InstanceNs, uid: 1000);
        Assert.Equal(("Fail", "ConnectionRefused"), (Of(user, "Endpoint").Status, Of(user, "Endpoint").Outcome));
        Assert.Equal("Skipped", Of(user, "Firewall").Status);
        Assert.Contains("needs root", Of(user, "Firewall").Detail, StringComparison.Ordinal);
    }

    [LabFact]
    public void Hop_limit_1_from_the_container_namespace_gives_the_local_findings()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        var c = Compare(lab.ContainerNs);
        Assert.Equal(("Fail", "HopLimitTooLowForContainers"), (Of(c, "HopLimit").Status, Of(c, "HopLimit").Outcome));
        Assert.Equal("ExplainedByHopLimit", Of(c, "Token").Outcome);
        Assert.Equal("i-0123456789abcdef0", Of(c, "HopLimit").InstanceId);
    }

    [LabFact]
    public void A_proxy_without_no_proxy_gives_the_local_findings_with_the_password_masked()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        var env = new Dictionary<string, string> { ["HTTP_PROXY"] = "http://alice:Pr0xyPassw0rd@127.0.0.1:3128", ["http_proxy"] = "http://alice:Pr0xyPassw0rd@127.0.0.1:3128" };
        var c = Compare(lab.InstanceNs, env: env);
        Assert.Equal(("Fail", "ProxyCatchesImds"), (Of(c, "Proxy").Status, Of(c, "Proxy").Outcome));
        Assert.Contains("http://alice:****@127.0.0.1:3128", Of(c, "Proxy").Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("Pr0xyPassw0rd", c.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Pr0xyPassw0rd", JsonSerializer.Serialize(c.Remote), StringComparison.Ordinal);
        Assert.Equal("Pass", Of(c, "Token").Status);
    }

    [LabFact]
    public void Imds_turned_off_gives_the_local_findings()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpEndpoint = FeatureState.Disabled, HttpPutResponseHopLimit = 2 });
        var c = Compare(lab.InstanceNs);
        Assert.Equal("EndpointDisabled", Of(c, "Token").Outcome);
        Assert.Equal("EndpointDisabled", Of(c, "ImdsV1").Outcome);
    }

    [LabFact]
    public void The_ipv6_endpoint_gives_the_local_findings_off_on_and_rejected()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        var off = Compare(lab.InstanceNs, ipv6: true);
        Assert.Equal(("Fail", "ConnectionRefused"), (Of(off, "IPv6").Status, Of(off, "IPv6").Outcome));
        emulator.UpdateSettings(s => s with { HttpProtocolIpv6 = FeatureState.Enabled });
        var on = Compare(lab.InstanceNs, ipv6: true);
        Assert.Equal("Pass", Of(on, "IPv6").Status);
        NetworkLab.Exec(lab.InstanceNs, "ip6tables", "-A", "OUTPUT", "-p", "tcp", "-d", "fd00:ec2::254", "-j", "REJECT");
        var blocked = Compare(lab.InstanceNs, ipv6: true);
        Assert.Equal("Fail", Of(blocked, "IPv6").Status);
        Assert.StartsWith("ip6tables-nft -t filter -D OUTPUT", Of(blocked, "IPv6").ShellFix, StringComparison.Ordinal);
    }

    [LabFact]
    public void Silent_drops_give_the_local_throttling_finding()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2, ThrottleRequestsPerSecond = 0.02, ThrottleBurst = 1, ThrottleAction = ThrottleAction.Drop });
        var remote = Remote(lab.InstanceNs, 0, new Dictionary<string, string>(), ipv6: false);
        _output.WriteLine($"collector: {remote.Output.Length} characters in {remote.Elapsed.TotalSeconds:0.00} s");
        // A fresh emulator for the local run: the token bucket must start full for both.
        emulator.Stop();
        using var lab2 = NetworkLab.Create();
        lab2.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2, ThrottleRequestsPerSecond = 0.02, ThrottleBurst = 1, ThrottleAction = ThrottleAction.Drop });
        var local = Local(lab2.InstanceNs, null, new Dictionary<string, string>(), ipv6: false);
        foreach (string check in new[] { "Endpoint", "Token", "ImdsV1", "Throttling", "HopLimit" })
        {
            var l = local.Single(f => f.Check == check);
            var r = remote.Findings.Single(f => f.Check == check);
            Assert.Equal((l.Status, l.Outcome, LabFinding.Normalize(l.Detail)), (r.Status, r.Outcome, LabFinding.Normalize(r.Detail)));
        }

        Assert.Equal("RequestsDropped", remote.Findings.Single(f => f.Check == "Throttling").Outcome);
    }

    /// <summary>4,500 iptables rules (a blocklist, allow rules, forwarding rules) with the article's REJECT rule in the middle.</summary>
    private static void Load4500Rules(string ns)
    {
        var sb = new StringBuilder("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        for (int i = 0; i < 1500; i++)
        {
            sb.Append($"-A INPUT -s 10.1.{i / 250}.{i % 250 + 1}/32 -p tcp -m tcp --dport 22 -j DROP\n");
        }

        for (int i = 0; i < 1500; i++)
        {
            if (i == 750)
            {
                sb.Append("-A OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT --reject-with icmp-port-unreachable\n");
            }

            sb.Append($"-A OUTPUT -d 10.2.{i / 250}.{i % 250 + 1}/32 -p tcp -m tcp --dport 443 -j ACCEPT\n");
        }

        for (int i = 0; i < 1499; i++)
        {
            sb.Append($"-A FORWARD -s 10.3.{i / 250}.{i % 250 + 1}/32 -d 10.4.{i / 250}.{i % 250 + 1}/32 -j ACCEPT\n");
        }

        sb.Append("COMMIT\n");
        var r = ProcessRunner.Run("ip", new[] { "netns", "exec", ns, "iptables-restore" }, TimeSpan.FromSeconds(120), stdin: sb.ToString());
        Assert.True(r.ExitCode == 0, r.ToString());
        var count = NetworkLab.Exec(ns, "iptables-save");
        Assert.Equal(4500, count.Stdout.Split('\n').Count(l => l.StartsWith("-A ", StringComparison.Ordinal)));
    }

    [LabFact]
    public void With_4500_rules_the_output_stays_under_24000_and_the_reject_rule_survives_the_reduction()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        Load4500Rules(lab.InstanceNs);
        var c = Compare(lab.InstanceNs);
        _output.WriteLine($"4,500 rules: {c.Output.Length} characters, collector {c.CollectorTime.TotalSeconds:0.00} s");
        Assert.True(c.Output.Length < 24_000, c.Output.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("reduced=1", c.Output, StringComparison.Ordinal);
        var firewall = Of(c, "Firewall");
        Assert.Equal(("Fail", "FirewallBlocksImds"), (firewall.Status, firewall.Outcome));
        Assert.Contains("filter OUTPUT #751", firewall.Detail, StringComparison.Ordinal);
        Assert.Equal(("Fail", "ConnectionRefused"), (Of(c, "Endpoint").Status, Of(c, "Endpoint").Outcome));
        Assert.Contains(c.Input.Firewall!.Warnings, w => w.Contains("4499 rule(s) whose addresses exclude all IMDS traffic were left out", StringComparison.Ordinal));
    }

    [LabFact]
    public void With_4500_rules_and_the_smallest_budget_the_output_fits_and_says_what_it_left_out()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        Load4500Rules(lab.InstanceNs);
        foreach (int budget in new[] { 1000, 3000, 8000 })
        {
            var r = Remote(lab.InstanceNs, 0, new Dictionary<string, string>(), ipv6: false, budget: budget);
            _output.WriteLine($"budget {budget}: {r.Output.Length} characters");
            Assert.True(r.Output.Length <= budget);
            Assert.EndsWith("IMDSCOLLECT/1 end\n", r.Output, StringComparison.Ordinal);
            // The probe always fits; whatever did not is named.
            Assert.Equal(("Fail", "ConnectionRefused"), (r.Findings.Single(f => f.Check == "Endpoint").Status, r.Findings.Single(f => f.Check == "Endpoint").Outcome));
            Assert.True(r.Input.CollectionNotes.Count > 0 || r.Input.Firewall is not null);
            if (r.Input.Firewall is null)
            {
                Assert.Contains(r.Input.CollectionNotes, n => n.Contains("output budget", StringComparison.Ordinal));
            }
        }
    }

    [LabFact]
    public void No_token_or_credential_ever_appears_in_the_output_or_the_findings()
    {
        using var lab = NetworkLab.Create();
        const string token = "AQAEAB-Secret-Token-Value-0123456789abcdefABCDEF==";
        var paths = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var server = NetworkNamespace.Run(lab.InstanceNs, () => new RawServer(async (stream, head, ct) =>
        {
            string first = head.Split("\r\n")[0];
            string[] parts = first.Split(' ');
            string path = parts.Length > 1 ? parts[1] : "/";
            paths.Add(parts[0] + " " + path);
            bool hasToken = head.Contains("X-aws-ec2-metadata-token: " + token, StringComparison.OrdinalIgnoreCase);
            string body;
            int status = 200;
            if (parts[0] == "PUT" && path == "/latest/api/token")
            {
                body = token;
            }
            else if (!hasToken)
            {
                status = 401;
                body = string.Empty;
            }
            else if (path == "/latest/dynamic/instance-identity/document")
            {
                body = "{\n  \"accountId\" : \"123456789012\",\n  \"instanceId\" : \"i-0abcdef1234567890\",\n  \"region\" : \"us-east-2\"\n}";
            }
            else
            {
                body = "ami-id\niam/\ninstance-id\n";
            }

            await RawServer.WriteAsync(stream, $"HTTP/1.1 {status} X\r\nContent-Length: {body.Length}\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n{body}", ct);
        }));
        // A user's shell file with a proxy password in it, too (HOME points at it).
        string home = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "imds-home-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(home);
        System.IO.File.WriteAllText(System.IO.Path.Combine(home, ".bashrc"), "# proxy\nexport http_proxy=\"http://carol:FilePassw0rd@10.0.0.2:3128\"\nexport no_proxy=localhost\n");
        string script = Collector.Build(new CollectorParameters { Endpoint = server.Endpoint, TimeoutSec = 2 });
        var run = CollectorRun.Run(lab.InstanceNs, script, environment: new Dictionary<string, string> { ["HTTPS_PROXY"] = "http://bob:Hunter2Secret@10.0.0.1:8080", ["HOME"] = home });
        System.IO.Directory.Delete(home, recursive: true);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("put.tokenlength=" + token.Length, run.Stdout, StringComparison.Ordinal);
        DiagnosisInput input = CollectorOutputParser.Parse(run.Stdout, "i-0abcdef1234567890");
        Assert.Equal("i-0abcdef1234567890", input.InstanceId);
        Assert.Equal("us-east-2", input.Region);
        Assert.True(input.Probe!.GetV2!.IsSuccess);
        var findings = DiagnosisEngine.Analyze(input);
        string everything = run.Stdout + run.Stderr + JsonSerializer.Serialize(findings) + JsonSerializer.Serialize(input.Environment)
            + string.Join("\n", input.ProxySettings!.Select(p => p.ToString())) + input.Probe.Put!.Body;
        Assert.DoesNotContain("Secret-Token", everything, StringComparison.Ordinal);
        Assert.DoesNotContain("Hunter2Secret", everything, StringComparison.Ordinal);
        Assert.DoesNotContain("FilePassw0rd", everything, StringComparison.Ordinal);
        Assert.Contains(input.ProxySettings!, p => p.File == home + "/.bashrc" && p.Line == 2 && p.ProxyUrl == "http://carol:****@10.0.0.2:3128");
        Assert.Contains("http://bob:****@10.0.0.1:8080", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(paths, p => p.Contains("security-credentials", StringComparison.Ordinal));
        Assert.Contains("PUT /latest/api/token", paths);
        // The token never reaches a command line (other users can read those) or a file: curl reads its header from stdin.
        Assert.DoesNotContain("-H \"X-aws-ec2-metadata-token: $TOK\"", script, StringComparison.Ordinal);
    }

    [LabFact]
    public void Without_curl_the_collector_falls_back_to_wget()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        var env = new Dictionary<string, string> { ["IMDSC_NO_CURL"] = "1" };
        var r = Remote(lab.InstanceNs, 0, env, ipv6: false);
        Assert.Contains("client=/usr/bin/wget", r.Output, StringComparison.Ordinal);
        var local = Local(lab.InstanceNs, null, new Dictionary<string, string>(), ipv6: false);
        foreach (string check in new[] { "Endpoint", "Token", "ImdsV1", "HopLimit" })
        {
            var l = local.Single(f => f.Check == check);
            var remote = r.Findings.Single(f => f.Check == check);
            Assert.Equal((l.Status, l.Outcome), (remote.Status, remote.Outcome));
        }

        Assert.Equal("i-0123456789abcdef0", r.Input.InstanceId);
    }

    [LabFact]
    public void On_a_busybox_only_system_the_collector_runs_and_says_what_it_could_not_do()
    {
        // BusyBox's sh, sed, grep, awk, wget ... and nothing else: no curl, no iptables, no ethtool.
        string bin = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "imds-busybox-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(bin);
        try
        {
            var applets = ProcessRunner.Run("busybox", new[] { "--list" }, TimeSpan.FromSeconds(10)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            foreach (string applet in applets)
            {
                System.IO.File.CreateSymbolicLink(System.IO.Path.Combine(bin, applet.Trim()), "/usr/bin/busybox");
            }

            using var lab = NetworkLab.Create();
            lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
            string script = Collector.Build(new CollectorParameters { TimeoutSec = 1 });
            var sw = Stopwatch.StartNew();
            var r = ProcessRunner.Run("ip", new[] { "netns", "exec", lab.InstanceNs, "env", "-i", "PATH=" + bin, "HOME=/root", "IMDSC_BIN=" + bin, bin + "/sh", "-s" },
                TimeSpan.FromSeconds(120), stdin: script);
            _output.WriteLine($"busybox: {r.Stdout.Length} characters in {sw.Elapsed.TotalSeconds:0.00} s; stderr: {r.Stderr}");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("wgetbusybox=1", r.Stdout, StringComparison.Ordinal);
            Assert.EndsWith("IMDSCOLLECT/1 end\n", r.Stdout, StringComparison.Ordinal);
            DiagnosisInput input = CollectorOutputParser.Parse(r.Stdout, "busybox-host");
            Assert.Contains(input.CollectionNotes, n => n.Contains("cannot send PUT", StringComparison.Ordinal) && n.Contains("HTTP 200", StringComparison.Ordinal));
            Assert.Equal("the firewall could not be read: Neither iptables nor nft is installed: there is no packet filter to read (or the tools are missing). Install iptables or nftables to inspect the firewall.", input.FirewallUnavailable);
            Assert.NotNull(input.Ena);
            var findings = DiagnosisEngine.Analyze(input);
            Assert.Equal("Skipped", findings.Single(f => f.Check == DiagnosisCheck.Token).Status.ToString());
            Assert.Contains(findings, f => f.Check == DiagnosisCheck.Collection);
        }
        finally
        {
            System.IO.Directory.Delete(bin, recursive: true);
        }
    }
}
