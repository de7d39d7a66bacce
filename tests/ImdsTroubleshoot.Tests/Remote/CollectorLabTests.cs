using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
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

    private sealed record Finding(string Check, string Status, string Outcome, string Detail, string? Cause, string? Fix, string? ShellFix, string? InstanceId, string[] Evidence);

    private sealed record Comparison(List<Finding> Local, List<Finding> Remote, string Output, TimeSpan CollectorTime, DiagnosisInput Input);

    /// <summary>Invoke-ImdsDiagnosis through the CLI in the namespace (what users run), findings as JSON.</summary>
    private static List<Finding> Local(string ns, int? uid, Dictionary<string, string> env, bool ipv6)
    {
        var cliEnv = env.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        var r = Cli.Run(new[] { "--json", "Invoke-ImdsDiagnosis -Ec2Api Never" + (ipv6 ? " -IPv6" : string.Empty) }, cliEnv, TimeSpan.FromSeconds(120), ns, uid);
        Assert.True(r.ExitCode is 0 or 3, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.EnumerateArray().Select(e => new Finding(
            e.GetProperty("Check").GetString()!, e.GetProperty("Status").GetString()!, e.GetProperty("Outcome").GetString()!, e.GetProperty("Detail").GetString()!,
            e.GetProperty("Cause").GetString(), e.GetProperty("Fix").GetString(), e.GetProperty("ShellFix").GetString(), e.GetProperty("InstanceId").GetString(),
            e.GetProperty("Evidence").EnumerateArray().Select(x => x.GetString()!).ToArray())).ToList();
    }

    private static (List<Finding> Findings, string Output, TimeSpan Elapsed, DiagnosisInput Input) Remote(string ns, uint uid, Dictionary<string, string> env, bool ipv6, int budget = Collector.DefaultOutputBudget)
    {
        string script = Collector.Build(new CollectorParameters { IPv6 = ipv6, TimeoutSec = 1, OutputBudget = budget });
        var sw = Stopwatch.StartNew();
        var r = CollectorRun.Run(ns, script, uid, env, TimeSpan.FromSeconds(120));
        sw.Stop();
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(r.Stdout.Length <= budget, $"{r.Stdout.Length} characters for a budget of {budget}");
        DiagnosisInput input = CollectorOutputParser.Parse(r.Stdout, "localhost");
        var findings = DiagnosisEngine.Analyze(input).Select(f => new Finding(f.Check.ToString(), f.Status.ToString(), f.Outcome, f.Detail, f.Cause, f.Fix, f.ShellFix, f.InstanceId, f.Evidence.ToArray())).ToList();
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
                if (Normalize(a) != Normalize(b))
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
            var le = l.Evidence.Select(Normalize).ToList();
            var re = r.Evidence.Select(Normalize).ToList();
            foreach (string e in le.Except(re))
            {
                differences.Add($"{l.Check}.Evidence only local:  {e}");
            }

            foreach (string e in re.Except(le))
            {
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

    private static bool SameBesidesRunningProcesses(Finding l, Finding r)
    {
        static bool FromProcess(string e) => e.StartsWith("/proc/", StringComparison.Ordinal);
        string[] quiet = { "NoProxyForImds", "ProxyCatchesImdsElsewhere" };
        var le = l.Evidence.Where(e => !FromProcess(e)).Select(Normalize).ToList();
        var re = r.Evidence.Where(e => !FromProcess(e)).Select(Normalize).ToList();
        bool sameRest = le.SequenceEqual(re);
        if (l.Outcome == r.Outcome && l.Outcome != "ProxyCatchesImdsElsewhere")
        {
            return sameRest && Normalize(l.Detail) == Normalize(r.Detail) && l.Cause == r.Cause && l.Fix == r.Fix && l.ShellFix == r.ShellFix && l.Status == r.Status;
        }

        // Only running processes differ: a process with a proxy that existed during one run and not the other.
        return quiet.Contains(l.Outcome) && quiet.Contains(r.Outcome) && sameRest && le.Count == 0;
    }

    /// <summary>Timings and ports differ between two runs; nothing else may.</summary>
    private static string Normalize(string? text) => text is null ? "<null>" : Regex.Replace(
        Regex.Replace(Regex.Replace(text, @"\d+ ms", "N ms"), @":\d{4,5}\b", ":PORT"), @"in \d+(\.\d+)? s\b", "in N s");

    private static Finding Of(Comparison c, string check) => c.Remote.Single(f => f.Check == check);

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
        // A fresh emulator for the local run: the token bucket must start full for both.
        emulator.Stop();
        using var lab2 = NetworkLab.Create();
        lab2.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2, ThrottleRequestsPerSecond = 0.02, ThrottleBurst = 1, ThrottleAction = ThrottleAction.Drop });
        var local = Local(lab2.InstanceNs, null, new Dictionary<string, string>(), ipv6: false);
        foreach (string check in new[] { "Endpoint", "Token", "ImdsV1", "Throttling", "HopLimit" })
        {
            var l = local.Single(f => f.Check == check);
            var r = remote.Findings.Single(f => f.Check == check);
            Assert.Equal((l.Status, l.Outcome, Normalize(l.Detail)), (r.Status, r.Outcome, Normalize(r.Detail)));
        }

        Assert.Equal("RequestsDropped", remote.Findings.Single(f => f.Check == "Throttling").Outcome);
    }
}
