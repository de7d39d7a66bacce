using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Remote;
using ImdsTroubleshoot.Tests.Lab;
using ImdsTroubleshoot.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>
/// Invoke-ImdsDiagnosis -HostName end to end: the staged module in a real runspace runs the real collector over the
/// system's ssh into Debian's sshd in the lab's instance namespace; its findings equal the local findings
/// (Invoke-ImdsDiagnosis through the CLI inside the same namespace), scenario by scenario. Failures come back as
/// error records with their ErrorIds, within their bounds.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SshDiagnosisLabTests
{
    private const int Port = 2222;
    private readonly ITestOutputHelper _output;

    public SshDiagnosisLabTests(ITestOutputHelper output)
    {
        _output = output;
    }

    private sealed class Lab : SshLab
    {
        public Lab(EmulatorSettings settings, IReadOnlyDictionary<string, string>? sessionEnv = null, IEnumerable<string>? extraConfig = null)
            : base(Port, settings, sessionEnv, extraConfig)
        {
        }
    }

    /// <summary>The cmdlet over SSH, in a real runspace with the staged module.</summary>
    private static PsResult Remote(PsSession ps, Lab lab, string host, string user = "root", string extra = "", string? key = null, string? knownHosts = null) =>
        ps.Invoke(
            $"param($h, $u, $k, $kh) Invoke-ImdsDiagnosis -HostName $h -Port {Port} -UserName $u -KeyFilePath $k -KnownHostsFilePath $kh -TimeoutSec {LabFinding.StepSeconds} -Verbose {extra}",
            new Hashtable { ["h"] = host, ["u"] = user, ["k"] = key ?? lab.Server.ClientKey, ["kh"] = knownHosts ?? lab.Server.KnownHosts });

    /// <summary>The collector run straight in the namespace (CollectorRun: sh -s, clean environment), parsed for <paramref name="host"/>: what SSH must deliver unchanged.</summary>
    private static List<LabFinding> Direct(string ns, string host, uint uid, IReadOnlyDictionary<string, string>? env)
    {
        var r = CollectorRun.Run(ns, Collector.Build(new CollectorParameters { TimeoutSec = LabFinding.StepSeconds }), uid, env, TimeSpan.FromSeconds(120));
        Assert.True(r.ExitCode == 0, r.ToString());
        return DiagnosisEngine.Analyze(CollectorOutputParser.Parse(r.Stdout, host)).Select(LabFinding.From).ToList();
    }

    /// <summary>
    /// The remote findings against two references. Against the local diagnosis (the CLI in the namespace): every check
    /// the same in Status, Outcome, Detail, Cause, Fix, ShellFix and InstanceId. Against the collector run straight in
    /// the namespace: the same in all of that and the Evidence too, so SSH adds and loses nothing. (Evidence differs
    /// from the local run's in wording the collector owns, such as the socket addresses' form; those differences are
    /// written to the test output.) Not compared: MetadataOptions (neither asks the EC2 API; reasons differ in words),
    /// and, unless <paramref name="proxyScenario"/>, the Proxy check, which as root also reads every process's
    /// environment on this machine, changed by other tests while these run; in the proxy scenario only those
    /// /proc/PID/environ evidence lines are left out.
    /// </summary>
    private List<LabFinding> AssertSameAsLocal(List<LabFinding> local, List<LabFinding> direct, List<LabFinding> remote, string host, bool proxyScenario = false)
    {
        var differences = new List<string>();
        Assert.All(remote, f => Assert.Equal(host, f.Target));
        Assert.Equal(local.Select(f => f.Check), remote.Select(f => f.Check));
        Assert.Equal(direct.Select(f => f.Check), remote.Select(f => f.Check));
        foreach (var ((l, d), r) in local.Zip(direct).Zip(remote))
        {
            if (l.Check == "MetadataOptions" || (l.Check == "Proxy" && !proxyScenario))
            {
                continue;
            }

            void Same(string reference, string what, string? a, string? b)
            {
                if (LabFinding.Normalize(a) != LabFinding.Normalize(b))
                {
                    differences.Add($"{l.Check}.{what}:\n   {reference}: {a}\n   remote: {b}");
                }
            }

            foreach (var (name, refFinding) in new[] { ("local", l), ("direct", d) })
            {
                Same(name, "Status", refFinding.Status, r.Status);
                Same(name, "Outcome", refFinding.Outcome, r.Outcome);
                Same(name, "Detail", refFinding.Detail, r.Detail);
                Same(name, "Cause", refFinding.Cause, r.Cause);
                Same(name, "Fix", refFinding.Fix, r.Fix);
                Same(name, "ShellFix", refFinding.ShellFix, r.ShellFix);
                Same(name, "InstanceId", refFinding.InstanceId, r.InstanceId);
            }

            string Evidence(LabFinding f) => string.Join(" | ", f.Evidence.Where(e => !LabFinding.IsProcessEvidence(e)));
            Same("direct", "Evidence", Evidence(d), Evidence(r));
            if (LabFinding.Normalize(Evidence(l)) != LabFinding.Normalize(Evidence(r)))
            {
                _output.WriteLine($"(collector wording) {l.Check}.Evidence:\n   local:  {Evidence(l)}\n   remote: {Evidence(r)}");
            }
        }

        differences.ForEach(_output.WriteLine);
        Assert.True(differences.Count == 0, string.Join("\n", differences));
        return remote;
    }

    private static LabFinding Of(List<LabFinding> findings, string check) => findings.Single(f => f.Check == check);

    private static List<LabFinding> Findings(PsResult r)
    {
        Assert.True(!r.AllErrors.Any(), r.ToString());
        return r.Objects<ImdsFinding>().Select(LabFinding.From).ToList();
    }

    [LabFact]
    public void A_healthy_instance_over_SSH_gives_the_local_findings_over_IPv4_and_IPv6()
    {
        using var lab = new Lab(new EmulatorSettings { HttpTokens = HttpTokensState.Required, HttpPutResponseHopLimit = 2 });
        var local = LabFinding.Local(lab.Net.InstanceNs, null, null);
        using var ps = new PsSession();
        foreach (string host in new[] { lab.Link.InstanceIPv4, lab.Link.InstanceIPv6 })
        {
            var sw = Stopwatch.StartNew();
            var run = Remote(ps, lab, host);
            _output.WriteLine($"{host}: Invoke-ImdsDiagnosis over SSH took {sw.Elapsed.TotalSeconds:0.00} s");
            sw.Restart();
            var direct = Direct(lab.Net.InstanceNs, host, 0, null);
            _output.WriteLine($"the collector straight in the namespace took {sw.Elapsed.TotalSeconds:0.00} s (parsed and analyzed)");
            var remote = AssertSameAsLocal(local, direct, Findings(run), host);
            Assert.True(Of(remote, "Proxy").Status == "Pass" || Of(remote, "Proxy").Outcome == "ProxyCatchesImdsElsewhere", Of(remote, "Proxy").ToString());
            Assert.All(new[] { "Endpoint", "Token", "HopLimit", "Firewall", "Throttling" }, c => Assert.Equal("Pass", Of(remote, c).Status));
            Assert.Equal("TokensRequired", Of(remote, "ImdsV1").Outcome);
            Assert.Equal("i-0123456789abcdef0", Of(remote, "Token").InstanceId);
            // Verbose shows the ssh command line (paths and names, no secrets); progress is reported and completed.
            Assert.Contains(run.Verbose, v => v.Contains("BatchMode=yes", StringComparison.Ordinal) && v.Contains("-- " + host + " sh -s", StringComparison.Ordinal));
            Assert.Contains(run.Progress, p => p.RecordType == ProgressRecordType.Completed);
        }
    }

    [LabFact]
    public void A_reject_rule_over_SSH_gives_the_local_findings_and_names_the_rule()
    {
        using var lab = new Lab(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.Net.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-j", "REJECT");
        var local = LabFinding.Local(lab.Net.InstanceNs, null, null);
        using var ps = new PsSession();
        var remote = AssertSameAsLocal(local, Direct(lab.Net.InstanceNs, lab.Link.InstanceIPv4, 0, null), Findings(Remote(ps, lab, lab.Link.InstanceIPv4)), lab.Link.InstanceIPv4);
        Assert.Equal(("Fail", "ConnectionRefused"), (Of(remote, "Endpoint").Status, Of(remote, "Endpoint").Outcome));
        Assert.Equal(("Fail", "FirewallBlocksImds"), (Of(remote, "Firewall").Status, Of(remote, "Firewall").Outcome));
        Assert.StartsWith("iptables-nft -t filter -D OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT", Of(remote, "Firewall").ShellFix, StringComparison.Ordinal);
    }

    [LabFact]
    public void A_proxy_without_NO_PROXY_in_the_sessions_environment_gives_the_local_findings()
    {
        var env = new Dictionary<string, string> { ["HTTP_PROXY"] = "http://127.0.0.1:3128", ["http_proxy"] = "http://127.0.0.1:3128" };
        using var lab = new Lab(new EmulatorSettings { HttpPutResponseHopLimit = 2 }, env);
        var local = LabFinding.Local(lab.Net.InstanceNs, null, env);
        using var ps = new PsSession();
        var remote = AssertSameAsLocal(local, Direct(lab.Net.InstanceNs, lab.Link.InstanceIPv4, 0, env), Findings(Remote(ps, lab, lab.Link.InstanceIPv4)), lab.Link.InstanceIPv4, proxyScenario: true);
        Assert.Equal(("Fail", "ProxyCatchesImds"), (Of(remote, "Proxy").Status, Of(remote, "Proxy").Outcome));
        Assert.Contains("Repair-ImdsProxy", Of(remote, "Proxy").Fix, StringComparison.Ordinal);
        Assert.Equal("Pass", Of(remote, "Token").Status);
    }

    [LabFact]
    public void As_uid_1000_the_articles_rule_refuses_and_the_firewall_check_says_it_needs_root_as_locally()
    {
        // This machine's only uid-1000 account is locked, which sshd without PAM refuses; so the login is root and
        // sshd's ForceCommand drops the session's command (still "sh -s" reading the collector) to uid 1000.
        using var lab = new Lab(new EmulatorSettings { HttpPutResponseHopLimit = 2 }, extraConfig: new[] { "ForceCommand /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups /bin/sh -s" });
        NetworkLab.Exec(lab.Net.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-m", "owner", "--uid-owner", "1000-10000", "-j", "REJECT");
        var local = LabFinding.Local(lab.Net.InstanceNs, 1000, null);
        using var ps = new PsSession();
        var remote = AssertSameAsLocal(local, Direct(lab.Net.InstanceNs, lab.Link.InstanceIPv4, 1000, null), Findings(Remote(ps, lab, lab.Link.InstanceIPv4)), lab.Link.InstanceIPv4);
        Assert.Equal(("Fail", "ConnectionRefused"), (Of(remote, "Endpoint").Status, Of(remote, "Endpoint").Outcome));
        Assert.Equal("Skipped", Of(remote, "Firewall").Status);
        Assert.Contains("needs root", Of(remote, "Firewall").Detail, StringComparison.Ordinal);
    }

    [LabFact]
    public void With_Sudo_the_collector_goes_through_sudo_n_sh_s_on_its_stdin_and_the_findings_are_roots()
    {
        // This machine has no sudo and the test must not change the host's sudoers: a stand-in sudo on the session's
        // PATH records its arguments and runs the rest (the login is root already, so it changes no uid).
        string bin = Directory.CreateTempSubdirectory("imds-sudo-").FullName;
        try
        {
            File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);
            string log = Path.Combine(bin, "sudo.log");
            File.WriteAllText(Path.Combine(bin, "sudo"), $"#!/bin/sh\necho \"$*\" >> '{log}'\n[ \"$1\" = -n ] || exit 1\nshift\nexec \"$@\"\n");
            File.SetUnixFileMode(Path.Combine(bin, "sudo"), (UnixFileMode)0b111_101_101);
            using var lab = new Lab(new EmulatorSettings { HttpPutResponseHopLimit = 2 }, new Dictionary<string, string> { ["PATH"] = bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" });
            NetworkLab.Exec(lab.Net.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-j", "REJECT");
            using var ps = new PsSession();
            var remote = Findings(Remote(ps, lab, lab.Link.InstanceIPv4, extra: "-Sudo"));
            Assert.Equal("-n sh -s", File.ReadAllText(log).Trim());
            Assert.Equal(("Fail", "FirewallBlocksImds"), (Of(remote, "Firewall").Status, Of(remote, "Firewall").Outcome));
            Assert.Equal(("Fail", "ConnectionRefused"), (Of(remote, "Endpoint").Status, Of(remote, "Endpoint").Outcome));
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

    [LabFact]
    public void Piped_hosts_with_their_own_ports_give_findings_per_host_and_an_error_record_for_the_refused_one()
    {
        using var lab = new Lab(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        using var ps = new PsSession();
        var r = ps.Invoke(
            "param($a, $b, $k, $kh) @([pscustomobject]@{ HostName = $a; Port = 2222 }, [pscustomobject]@{ HostName = $b; Port = 2222 }, [pscustomobject]@{ HostName = $a; Port = 2223 }, [pscustomobject]@{ HostName = 'bad;host' }) | " +
            "Invoke-ImdsDiagnosis -UserName root -KeyFilePath $k -KnownHostsFilePath $kh -ThrottleLimit 2",
            new Hashtable { ["a"] = lab.Link.InstanceIPv4, ["b"] = lab.Link.InstanceIPv6, ["k"] = lab.Server.ClientKey, ["kh"] = lab.Server.KnownHosts });
        Assert.Null(r.Terminating);
        var byTarget = r.Objects<ImdsFinding>().GroupBy(f => f.Target).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new[] { lab.Link.InstanceIPv4, lab.Link.InstanceIPv6 }.OrderBy(x => x), byTarget.Keys.OrderBy(x => x));
        Assert.Equal(byTarget[lab.Link.InstanceIPv4], byTarget[lab.Link.InstanceIPv6]);
        var errors = r.Errors.Select(e => (e.FullyQualifiedErrorId.Split(',')[0], e.CategoryInfo.Category, (string)e.TargetObject)).OrderBy(e => e.Item1).ToList();
        Assert.Equal(new[] { ("SshConnectionRefused", ErrorCategory.ConnectionError, lab.Link.InstanceIPv4), ("SshInvalidHostName", ErrorCategory.InvalidArgument, "bad;host") }, errors);
        // Each host's findings are written together (as it finishes), not interleaved with another host's.
        var order = r.Objects<ImdsFinding>().Select(f => f.Target).ToList();
        Assert.Equal(2, order.Zip(order.Skip(1)).Count(p => p.First != p.Second) + 1);
    }

    [LabFact]
    public void Failures_are_error_records_with_their_ErrorIds_and_a_dropped_port_returns_within_the_connect_bound()
    {
        using var lab = new Lab(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        using var ps = new PsSession();
        string host = lab.Link.InstanceIPv4;

        string other = Path.Combine(lab.Server.Dir, "other_ed25519");
        SshLabServer.GenerateKey(other);
        var wrongKey = Remote(ps, lab, host, key: other);
        Assert.Equal(("SshAuthenticationFailed", ErrorCategory.AuthenticationError, host), One(wrongKey));

        string empty = Path.Combine(lab.Server.Dir, "empty_known_hosts");
        File.WriteAllText(empty, string.Empty);
        var unknown = Remote(ps, lab, host, knownHosts: empty);
        Assert.Equal(("SshHostKeyUnknown", ErrorCategory.SecurityError, host), One(unknown));
        Assert.Contains("-AcceptNewHostKey", unknown.Errors[0].Exception.Message, StringComparison.Ordinal);
        Assert.Empty(File.ReadAllText(empty));

        var firstUse = Remote(ps, lab, host, knownHosts: empty, extra: "-AcceptNewHostKey");
        Assert.NotEmpty(Findings(firstUse));
        Assert.Contains(lab.Server.HostPublicKey.Split(' ')[1], File.ReadAllText(empty), StringComparison.Ordinal);

        var sudo = Remote(ps, lab, host, extra: "-Sudo");
        Assert.Equal(("SshRemoteCommandFailed", ErrorCategory.InvalidResult, host), One(sudo)); // no sudo on this machine's PATH

        NetworkLab.Exec(lab.Net.InstanceNs, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "DROP");
        var sw = Stopwatch.StartNew();
        var dropped = Remote(ps, lab, host, extra: "-ConnectTimeoutSec 2");
        sw.Stop();
        Assert.Equal(("SshConnectTimeout", ErrorCategory.OperationTimeout, host), One(dropped));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), sw.Elapsed.ToString());
    }

    [LabFact]
    public void Stopping_the_pipeline_kills_ssh_at_once()
    {
        using var lab = new Lab(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.Net.InstanceNs, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "DROP");
        using var session = new PsSession();
        using var ps = PowerShell.Create(session.Runspace);
        ps.AddScript($"param($h, $k, $kh) Invoke-ImdsDiagnosis -HostName $h, $h -UserName root -Port {Port} -KeyFilePath $k -KnownHostsFilePath $kh -ConnectTimeoutSec 60")
            .AddParameters(new Hashtable { ["h"] = lab.Link.InstanceIPv4, ["k"] = lab.Server.ClientKey, ["kh"] = lab.Server.KnownHosts });
        var pending = ps.BeginInvoke();
        var deadline = Stopwatch.StartNew();
        while (SshLabServer.SshClientsWith(lab.Server.KnownHosts).Count == 0 && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            Thread.Sleep(100);
        }

        Assert.Single(SshLabServer.SshClientsWith(lab.Server.KnownHosts)); // one host: the duplicate is diagnosed once
        var sw = Stopwatch.StartNew();
        ps.Stop();
        Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(pending));
        sw.Stop();
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), sw.Elapsed.ToString());
        Assert.Empty(SshLabServer.SshClientsWith(lab.Server.KnownHosts));
    }

    private static (string, ErrorCategory, string) One(PsResult r)
    {
        Assert.True(r.Output.Count == 0 && r.AllErrors.Count() == 1, r.ToString());
        var e = r.AllErrors.Single();
        return (e.FullyQualifiedErrorId.Split(',')[0], e.CategoryInfo.Category, (string)e.TargetObject);
    }

    [LabFact]
    public void Output_past_the_cap_or_no_output_at_all_becomes_a_Collection_finding_never_a_crash()
    {
        using var lab = new Lab(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        var target = SshTarget.Create(lab.Link.InstanceIPv4, "root", Port, lab.Server.ClientKey);
        var options = new SshDiagnosisOptions { KnownHostsFilePath = lab.Server.KnownHosts, ConnectTimeout = TimeSpan.FromSeconds(5) };

        // A host that prints garbage without end: ssh is stopped at the cap and the parser gets what came.
        var flood = new SshDiagnosis(options, null, "while :; do echo 'garbage garbage garbage garbage garbage garbage'; done\n")
            .RunAsync(target, CancellationToken.None).GetAwaiter().GetResult();
        Assert.Null(flood.Failure);
        Assert.True(flood.OutputTruncated);
        var collection = flood.Findings.Single(f => f.Check == DiagnosisCheck.Collection);
        Assert.Equal(FindingStatus.Warn, collection.Status);
        Assert.Contains(collection.Evidence, e => e.Contains("went past 65,536 bytes", StringComparison.Ordinal));
        Assert.All(flood.Findings, f => Assert.Equal(lab.Link.InstanceIPv4, f.Target));

        var silent = new SshDiagnosis(options, null, "true\n").RunAsync(target, CancellationToken.None).GetAwaiter().GetResult();
        Assert.Null(silent.Failure);
        Assert.Contains(silent.Findings, f => f.Check == DiagnosisCheck.Collection && f.Status != FindingStatus.Pass);
    }
}
