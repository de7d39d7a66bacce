using System;
using System.Collections;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Lab;

/// <summary>
/// Get-ImdsFirewallRule and Remove-ImdsFirewallRule against real iptables and nft rules in the lab's instance
/// namespace, checked with real requests from the instance (as root and as uid 1000) and from the container.
/// Nothing touches the root namespace's firewall.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FirewallLabTests
{
    private const string InstanceId = "i-0123456789abcdef0";
    private const string V4Url = "http://169.254.169.254/latest/meta-data/instance-id";
    private const string V6Url = "http://[fd00:ec2::254]/latest/meta-data/instance-id";

    private static NetworkLab StartLab(out ImdsEmulator emulator)
    {
        var lab = NetworkLab.Create();
        emulator = lab.StartEmulator(new EmulatorSettings { HttpProtocolIpv6 = FeatureState.Enabled });
        return lab;
    }

    private static void Run(string ns, params string[] command)
    {
        var r = NetworkLab.Exec(ns, command);
        Assert.True(r.ExitCode == 0, $"{string.Join(' ', command)}: {r}");
    }

    /// <summary>curl as a given uid inside a namespace (setpriv, as the AWS article's user would run it); returns curl's exit code and output.</summary>
    private static ProcessResult CurlAs(string ns, int uid, double seconds, string url, bool ipv6 = false)
    {
        var command = new[] { "setpriv", $"--reuid={uid}", $"--regid={uid}", "--clear-groups", "curl", "-sS", "--noproxy", "*", "-m", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), ipv6 ? "-6" : "-4", url };
        return NetworkLab.ExecWithTimeout(ns, TimeSpan.FromSeconds(seconds + 30), command);
    }

    private static void AssertServed(ProcessResult r) => Assert.True(r.ExitCode == 0 && r.Stdout.Trim() == InstanceId, "expected the instance ID: " + r);

    private static string Save(string ns, params string[] command)
    {
        var r = NetworkLab.Exec(ns, command);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    private static PsResult Ps(PsSession ps, string script, string ns, object? extra = null)
    {
        var parameters = new Hashtable { ["ns"] = ns };
        if (extra is not null)
        {
            parameters["x"] = extra;
        }

        return ps.Invoke(script, parameters);
    }

    [LabFact]
    public void The_seed_rule_is_found_blocks_uid_1000_not_root_and_removing_it_lets_the_request_through()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        AssertServed(CurlAs(ns, 1000, 3, V4Url));
        Run(ns, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-m", "owner", "--uid-owner", "1000-10000", "-j", "REJECT");

        // The AWS article's symptom: curl (7) connection refused as uid 1000; root still reads IMDS.
        var refused = CurlAs(ns, 1000, 3, V4Url);
        Assert.True(refused.ExitCode == 7, "uid 1000 should be refused: " + refused);
        AssertServed(CurlAs(ns, 0, 3, V4Url));

        using var ps = new PsSession();
        var got = Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -Verbose", ns);
        Assert.Empty(got.AllErrors);
        var rule = Assert.Single(got.Objects<FirewallRule>(), r => r.Blocks);
        Assert.Equal("-A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT --reject-with icmp-port-unreachable", rule.Rule);
        Assert.Equal(("filter", "OUTPUT", 1, FirewallFamily.IPv4), (rule.Table, rule.Chain, rule.Position, rule.Family));
        Assert.Equal(FirewallBackend.IptablesNft, rule.Backend);
        Assert.Equal(FirewallSymptom.ConnectionRefused, rule.ExpectedSymptom);
        Assert.True(rule.Decides);
        Assert.Contains(rule.BlockedFor, s => s.StartsWith("uid 1000 ", StringComparison.Ordinal));
        Assert.DoesNotContain(rule.BlockedFor, s => s.StartsWith("uid 0 ", StringComparison.Ordinal));
        Assert.Equal(ns, rule.NetworkNamespace);
        Assert.Contains(got.Verbose, v => v.StartsWith("uid 0 (root), IPv4: IMDS traffic is allowed", StringComparison.Ordinal));

        // Asked directly: root is not blocked, uid 1000 is.
        Assert.DoesNotContain(Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -Uid 0", ns).Objects<FirewallRule>(), r => r.Blocks);
        Assert.Single(Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -User cloudsdk -AddressFamily IPv4", ns).Objects<FirewallRule>(), r => r.Blocks);

        // What Test-ImdsEndpoint calls after "connection refused": the rule that explains it.
        var inspector = new FirewallInspector(new FirewallInspectorOptions { NetworkNamespace = ns });
        var explained = inspector.ExplainConnectFailure(1000, IPAddress.Parse("169.254.169.254"), SocketError.ConnectionRefused, CancellationToken.None);
        Assert.Equal(rule.Rule, explained?.Rule);
        Assert.Null(inspector.ExplainConnectFailure(0, IPAddress.Parse("169.254.169.254"), SocketError.ConnectionRefused, CancellationToken.None));

        var removed = Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns | Where-Object Blocks | Remove-ImdsFirewallRule -Force", ns);
        Assert.Empty(removed.AllErrors);
        Assert.Equal(FirewallRemovalStatus.Removed, Assert.Single(removed.Objects<FirewallRuleRemoval>()).Status);
        Assert.DoesNotContain("uid-owner", Save(ns, "iptables-save"), StringComparison.Ordinal);
        AssertServed(CurlAs(ns, 1000, 3, V4Url));

        // Piping the same (stale) object again: already gone, a warning, not an error.
        var again = ps.Invoke("param($x) $x | Remove-ImdsFirewallRule -Force", new Hashtable { ["x"] = rule });
        Assert.Empty(again.AllErrors);
        Assert.Equal(FirewallRemovalStatus.AlreadyGone, Assert.Single(again.Objects<FirewallRuleRemoval>()).Status);
        Assert.Contains(again.Warnings, w => w.Contains("already gone", StringComparison.Ordinal));
    }

    [LabFact]
    public void WhatIf_leaves_iptables_save_nft_list_ruleset_and_the_persisted_file_byte_identical()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        Run(ns, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-m", "owner", "--uid-owner", "1000-10000", "-j", "REJECT");
        Run(ns, "ip6tables", "-A", "OUTPUT", "-d", "fd00:ec2::254", "-j", "DROP");
        Run(ns, "nft", "add", "table", "inet", "imdsguard");
        Run(ns, "nft", "add", "chain", "inet", "imdsguard", "out", "{ type filter hook output priority 10; }");
        Run(ns, "nft", "add", "rule", "inet", "imdsguard", "out", "ip", "daddr", "169.254.169.254", "meta", "skuid", "0", "drop");
        string file = Path.Combine(Directory.CreateTempSubdirectory("imds-fw-lab-").FullName, "rules.v4");
        File.WriteAllText(file, "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -d 169.254.169.254 -m owner --uid-owner 1000-10000 -j REJECT\nCOMMIT\n");

        // iptables-save's "# Generated by ... on <time>" lines carry the clock; every other byte must stay the same.
        static string Stable(string save) => string.Join("\n", save.Split('\n').Where(l => !l.StartsWith("# Generated by", StringComparison.Ordinal) && !l.StartsWith("# Completed on", StringComparison.Ordinal)));
        string v4 = Save(ns, "iptables-save");
        string v6 = Save(ns, "ip6tables-save");
        string nft = Save(ns, "nft", "list", "ruleset");
        string rulesV4 = Save(ns, "iptables", "-S");
        string rulesV6 = Save(ns, "ip6tables", "-S");
        byte[] fileBefore = File.ReadAllBytes(file);

        using var ps = new PsSession();
        var r = Ps(ps, "param($ns, $x) Get-ImdsFirewallRule -NetworkNamespace $ns -PersistedFile $x | Where-Object Blocks | Remove-ImdsFirewallRule -UpdatePersistedFile -WhatIf", ns, file);
        Assert.Empty(r.AllErrors);
        Assert.Empty(r.Output);
        Assert.Equal(Stable(v4), Stable(Save(ns, "iptables-save")));
        Assert.Equal(Stable(v6), Stable(Save(ns, "ip6tables-save")));
        Assert.Equal(nft, Save(ns, "nft", "list", "ruleset"));
        Assert.Equal(rulesV4, Save(ns, "iptables", "-S"));
        Assert.Equal(rulesV6, Save(ns, "ip6tables", "-S"));
        Assert.Equal(fileBefore, File.ReadAllBytes(file));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(file)!));

        // -Force with -WhatIf still changes nothing.
        Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns | Where-Object Blocks | Remove-ImdsFirewallRule -Force -WhatIf", ns);
        Assert.Equal(Stable(v4), Stable(Save(ns, "iptables-save")));
        Assert.Equal(nft, Save(ns, "nft", "list", "ruleset"));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [LabFact]
    public void A_drop_rule_times_out_is_found_and_removed_through_the_cli_inside_the_namespace()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254/32", "-j", "DROP");
        var timedOut = CurlAs(ns, 0, 2, V4Url);
        Assert.True(timedOut.ExitCode == 28, "root should time out: " + timedOut);

        var explained = new FirewallInspector(new FirewallInspectorOptions { NetworkNamespace = ns })
            .ExplainConnectFailure(0, IPAddress.Parse("169.254.169.254"), SocketError.TimedOut, CancellationToken.None);
        Assert.Equal("-A OUTPUT -d 169.254.169.254/32 -j DROP", explained?.Rule);
        Assert.Equal(FirewallSymptom.Timeout, explained!.ExpectedSymptom);

        var cli = Cli.Run(new[] { "--json", "Get-ImdsFirewallRule -AddressFamily IPv4 | Where-Object Blocks | Remove-ImdsFirewallRule -Force" }, null, netns: ns);
        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.Contains("\"Status\": \"Removed\"", cli.Stdout, StringComparison.Ordinal);
        AssertServed(CurlAs(ns, 0, 3, V4Url));
    }

    [LabFact]
    public void Rules_in_a_user_chain_behind_a_return_block_uid_1000_and_let_root_through()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        Run(ns, "iptables", "-N", "IMDS-CHECK");
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-j", "IMDS-CHECK");
        Run(ns, "iptables", "-A", "IMDS-CHECK", "-m", "owner", "--uid-owner", "0", "-j", "RETURN");
        Run(ns, "iptables", "-A", "IMDS-CHECK", "-m", "comment", "--comment", "block IMDS for \"users\" it's here", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset");
        Assert.Equal(7, CurlAs(ns, 1000, 3, V4Url).ExitCode);
        AssertServed(CurlAs(ns, 0, 3, V4Url));

        using var ps = new PsSession();
        var rules = Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4", ns).Objects<FirewallRule>().ToList();
        var reject = Assert.Single(rules, r => r.Blocks);
        Assert.Equal(("IMDS-CHECK", 2), (reject.Chain, reject.Position));
        Assert.DoesNotContain(reject.BlockedFor, s => s.StartsWith("uid 0 ", StringComparison.Ordinal));
        Assert.Contains(rules, r => r.Chain == "IMDS-CHECK" && r.Position == 1 && r.Verdict == FirewallVerdict.Return && r.MatchedFor.Any(s => s.StartsWith("uid 0 ", StringComparison.Ordinal)));
        Assert.Contains(rules, r => r.Chain == "OUTPUT" && r.Verdict == FirewallVerdict.Jump);

        // The comment with quotes round-trips to iptables -D as an argument list.
        var removed = ps.Invoke("param($x) $x | Remove-ImdsFirewallRule -Confirm:$false", new Hashtable { ["x"] = reject });
        Assert.Empty(removed.AllErrors);
        Assert.DoesNotContain("--comment", Save(ns, "iptables-save"), StringComparison.Ordinal);
        Assert.Contains("-A IMDS-CHECK -m owner --uid-owner 0 -j RETURN", Save(ns, "iptables-save"), StringComparison.Ordinal);
        AssertServed(CurlAs(ns, 1000, 3, V4Url));
    }

    [LabFact]
    public void Negated_matches_cidrs_and_rules_that_do_not_affect_imds_are_evaluated_correctly()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.253", "-p", "udp", "--dport", "53", "-j", "DROP");
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.170.0/24", "-j", "DROP");
        Run(ns, "iptables", "-A", "OUTPUT", "-p", "tcp", "--dport", "443", "-j", "DROP");
        Run(ns, "iptables", "-A", "OUTPUT", "!", "-d", "169.254.0.0/16", "-j", "DROP");
        using var ps = new PsSession();
        Assert.Empty(Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4", ns).Objects<FirewallRule>());
        AssertServed(CurlAs(ns, 0, 3, V4Url));
        AssertServed(CurlAs(ns, 1000, 3, V4Url));

        Run(ns, "iptables", "-A", "OUTPUT", "!", "-d", "10.0.0.0/8", "-p", "tcp", "--dport", "80", "-m", "owner", "!", "--uid-owner", "0-999", "-j", "REJECT", "--reject-with", "tcp-reset");
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.0.0/16", "-p", "tcp", "-m", "multiport", "--dports", "443,80:81", "-j", "DROP");
        Assert.Equal(7, CurlAs(ns, 1000, 3, V4Url).ExitCode);
        Assert.Equal(28, CurlAs(ns, 0, 2, V4Url).ExitCode);

        var rules = Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4", ns).Objects<FirewallRule>().ToList();
        Assert.Equal(new[] { 5, 6 }, rules.Select(r => r.Position).ToArray());
        var negated = rules[0];
        Assert.True(negated.Blocks);
        Assert.Equal("uid not 0-999", negated.AppliesTo);
        Assert.Contains(negated.BlockedFor, s => s.StartsWith("uid 1000 ", StringComparison.Ordinal));
        Assert.DoesNotContain(negated.BlockedFor, s => s.StartsWith("uid 0 ", StringComparison.Ordinal) || s == "uid 999");
        var cidr = rules[1];
        Assert.Contains("uid 0 (root)", cidr.BlockedFor);
        Assert.Equal(FirewallSymptom.Timeout, cidr.ExpectedSymptom);
    }

    [LabFact]
    public void The_eks_forward_rule_cuts_the_container_off_and_removing_it_restores_access()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        // Name the instance side of the container's veth as the VPC CNI names pod interfaces.
        Run(ns, "ip", "link", "set", "veth-ctr", "down");
        Run(ns, "ip", "link", "set", "veth-ctr", "name", "eni1a2b3c4d");
        Run(ns, "ip", "link", "set", "eni1a2b3c4d", "up");
        var before = NetworkLab.Curl(lab.ContainerNs, 3, V4Url);
        Assert.True(before.ExitCode == 0, before.ToString());

        Run(ns, "iptables", "-I", "FORWARD", "1", "--in-interface", "eni+", "--destination", "169.254.169.254/32", "--jump", "DROP");
        Assert.Equal(28, NetworkLab.Curl(lab.ContainerNs, 2, V4Url).ExitCode);
        AssertServed(CurlAs(ns, 0, 3, V4Url));

        using var ps = new PsSession();
        var rule = Assert.Single(Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4", ns).Objects<FirewallRule>());
        Assert.Equal("-A FORWARD -d 169.254.169.254/32 -i eni+ -j DROP", rule.Rule);
        Assert.True(rule.Blocks);
        Assert.Equal(FirewallTraffic.Forwarded, rule.Traffic);
        Assert.Equal(new[] { "forwarded from eni1a2b3c4d" }, rule.BlockedFor);
        // Asking about a user only: the host's own traffic is not affected.
        Assert.Empty(Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -Uid 0", ns).Objects<FirewallRule>());

        Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns | Where-Object Blocks | Remove-ImdsFirewallRule -Force", ns);
        var after = NetworkLab.Curl(lab.ContainerNs, 3, V4Url);
        Assert.True(after.ExitCode == 0, after.ToString());
    }

    [LabFact]
    public void Native_nft_rules_are_found_and_deleted_by_handle()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        var load = NetworkLab.ExecWithTimeout(ns, TimeSpan.FromSeconds(30), "nft", "-f", Repo.Fixture(Path.Combine("Firewall", "lab.nft")));
        Assert.True(load.ExitCode == 0, load.ToString());
        Assert.Equal(7, CurlAs(ns, 1000, 3, V4Url).ExitCode);
        Assert.Equal(28, CurlAs(ns, 1001, 2, V4Url).ExitCode);
        AssertServed(CurlAs(ns, 0, 3, V4Url));

        using var ps = new PsSession();
        var rules = Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4", ns).Objects<FirewallRule>().ToList();
        var blocking = rules.Where(r => r.Blocks).ToList();
        Assert.True(blocking.Count == 2, string.Join("\n", rules.Select(r => $"{r.Location} {r.Effect} [{string.Join(", ", r.BlockedFor)}] {r.Rule}")));
        var article = blocking.Single(r => r.Verdict == FirewallVerdict.Reject);
        Assert.Equal(FirewallBackend.Nftables, article.Backend);
        Assert.Equal("inet", article.TableFamily);
        Assert.NotNull(article.Handle);
        Assert.StartsWith("ip daddr 169.254.169.254 tcp dport 80 meta skuid 1000-1000", article.Rule, StringComparison.Ordinal);
        var drop = blocking.Single(r => r.Verdict == FirewallVerdict.Drop);
        Assert.Equal("check", drop.Chain);
        Assert.Contains(drop.BlockedFor, s => s.StartsWith("uid 1001", StringComparison.Ordinal));
        Assert.DoesNotContain(drop.BlockedFor, s => s.StartsWith("uid 0 ", StringComparison.Ordinal));
        // The dormant table and the allowed root are no blockers.
        Assert.DoesNotContain(rules, r => r.Table == "asleep");

        string nftBefore = Save(ns, "nft", "list", "ruleset");
        var removed = ps.Invoke("param($x) $x | Remove-ImdsFirewallRule -Force", new Hashtable { ["x"] = article });
        Assert.Empty(removed.AllErrors);
        string nftAfter = Save(ns, "nft", "list", "ruleset");
        Assert.DoesNotContain("skuid 1000", nftAfter, StringComparison.Ordinal);
        Assert.Equal(nftBefore.Split('\n').Length - 1, nftAfter.Split('\n').Length);
        AssertServed(CurlAs(ns, 1000, 3, V4Url));
        Assert.Equal(28, CurlAs(ns, 1001, 2, V4Url).ExitCode);

        var again = ps.Invoke("param($x) $x | Remove-ImdsFirewallRule -Force", new Hashtable { ["x"] = article });
        Assert.Equal(FirewallRemovalStatus.AlreadyGone, Assert.Single(again.Objects<FirewallRuleRemoval>()).Status);
    }

    [LabFact]
    public void Ip6tables_rules_for_fd00_ec2_254_are_evaluated_and_removed()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        AssertServed(CurlAs(ns, 1000, 3, V6Url, ipv6: true));
        Run(ns, "ip6tables", "-A", "OUTPUT", "-d", "fd00:ec2::254", "-p", "tcp", "--dport", "80", "-m", "owner", "--uid-owner", "1000", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited");
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-m", "owner", "--uid-owner", "1000", "-j", "DROP");
        var denied = CurlAs(ns, 1000, 3, V6Url, ipv6: true);
        Assert.True(denied.ExitCode == 7, denied.ToString());
        AssertServed(CurlAs(ns, 0, 3, V6Url, ipv6: true));

        using var ps = new PsSession();
        var rule = Assert.Single(Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv6", ns).Objects<FirewallRule>());
        Assert.Equal(FirewallFamily.IPv6, rule.Family);
        Assert.True(rule.Blocks);
        Assert.Equal(FirewallSymptom.PermissionDenied, rule.ExpectedSymptom);
        Assert.Equal($"ip netns exec {ns} ip6tables-nft -t filter -D OUTPUT -d fd00:ec2::254/128 -p tcp -m tcp --dport 80 -m owner --uid-owner 1000 -j REJECT --reject-with icmp6-adm-prohibited", rule.RemoveCommand);
        Assert.Equal(2, Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns", ns).Objects<FirewallRule>().Count(r => r.Blocks));

        Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv6 | Where-Object Blocks | Remove-ImdsFirewallRule -Force", ns);
        AssertServed(CurlAs(ns, 1000, 3, V6Url, ipv6: true));
        Assert.Contains("--uid-owner 1000 -j DROP", Save(ns, "iptables-save"), StringComparison.Ordinal);
    }

    [LabFact]
    public void Legacy_and_nft_backends_at_once_and_a_persisted_file_updated_with_owner_and_mode_kept()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        Run(ns, "iptables-nft", "-A", "OUTPUT", "-d", "169.254.169.254", "-j", "ACCEPT");
        Run(ns, "iptables-legacy", "-A", "OUTPUT", "-d", "169.254.169.254", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset");
        Assert.Equal(7, CurlAs(ns, 0, 3, V4Url).ExitCode);

        string dir = Directory.CreateTempSubdirectory("imds-fw-lab-").FullName;
        string file = Path.Combine(dir, "iptables");
        File.WriteAllText(file, "# sample configuration for iptables service\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
            "-A OUTPUT -p tcp -d 169.254.169.254 -j REJECT --reject-with tcp-reset\n-A INPUT -j ACCEPT\nCOMMIT\n");
        ProcessRunner.Check("chown", "1000:1000", file);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        using var ps = new PsSession();
        var rules = Ps(ps, "param($ns, $x) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4 -PersistedFile $x", ns, file).Objects<FirewallRule>().ToList();
        var reject = Assert.Single(rules, r => r.Blocks);
        Assert.Equal(FirewallBackend.IptablesLegacy, reject.Backend);
        Assert.Equal((file, 6), (reject.PersistedFile, reject.PersistedLine));
        Assert.Contains(rules, r => r.Backend == FirewallBackend.IptablesNft && r.Effect == FirewallRuleEffect.Allows);

        // Without -UpdatePersistedFile: removed live, and a warning says it comes back.
        var live = ps.Invoke("param($x) $x | Remove-ImdsFirewallRule -Force", new Hashtable { ["x"] = reject });
        Assert.Contains(live.Warnings, w => w.Contains($"line 6 of {file}", StringComparison.Ordinal));
        Assert.Equal(0, CurlAs(ns, 0, 3, V4Url).ExitCode);
        Assert.DoesNotContain("REJECT", Save(ns, "iptables-legacy-save"), StringComparison.Ordinal);

        // Again with -UpdatePersistedFile: already gone live, the file loses the line (backup kept, owner and mode kept).
        var persisted = ps.Invoke("param($x) $x | Remove-ImdsFirewallRule -Force -UpdatePersistedFile", new Hashtable { ["x"] = reject });
        Assert.Empty(persisted.AllErrors);
        var result = Assert.Single(persisted.Objects<FirewallRuleRemoval>());
        Assert.Equal(FirewallRemovalStatus.AlreadyGone, result.Status);
        Assert.True(result.PersistedFileUpdated);
        Assert.DoesNotContain("REJECT", File.ReadAllText(file), StringComparison.Ordinal);
        Assert.Contains("-A INPUT -j ACCEPT", File.ReadAllText(file), StringComparison.Ordinal);
        Assert.Contains("REJECT", File.ReadAllText(result.BackupFile!), StringComparison.Ordinal);
        Assert.Equal("1000:1000 640", ProcessRunner.Check("stat", "-c", "%u:%g %a", file).Stdout.Trim());
        Assert.Equal(2, Directory.GetFiles(dir).Length);
        Directory.Delete(dir, recursive: true);
    }

    [LabFact]
    public void Without_root_the_cli_reports_permission_denied_not_an_empty_list()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254/32", "-j", "DROP");
        var r = Cli.Run(new[] { "try { Get-ImdsFirewallRule -ErrorAction Stop; 'no error' } catch { $_.FullyQualifiedErrorId; [string]$_.CategoryInfo.Category; $_.Exception.Message }" }, null, netns: ns, uid: 1000);
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("FirewallReadPermissionDenied,ImdsTroubleshoot.Commands.GetImdsFirewallRuleCommand", lines[0]);
        Assert.Equal("PermissionDenied", lines[1]);
        Assert.Contains("needs root", lines[2], StringComparison.Ordinal);
        Assert.DoesNotContain("no error", r.Stdout, StringComparison.Ordinal);

        var plain = Cli.Run(new[] { "Get-ImdsFirewallRule" }, null, netns: ns, uid: 1000);
        Assert.Equal(1, plain.ExitCode);
        Assert.Contains("Permission denied (you must be root)", plain.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, plain.Stdout.Trim());
    }

    [LabFact]
    public void A_drop_policy_is_reported_as_the_blocker_and_cannot_be_removed_as_a_rule()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        Run(ns, "iptables", "-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT");
        Run(ns, "iptables", "-P", "OUTPUT", "DROP");
        Assert.Equal(28, CurlAs(ns, 0, 2, V4Url).ExitCode);

        using var ps = new PsSession();
        var policy = Assert.Single(Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4", ns).Objects<FirewallRule>());
        Assert.True(policy.IsPolicy);
        Assert.True(policy.Blocks);
        Assert.Equal(":OUTPUT DROP", policy.Rule);
        var refused = ps.Invoke("param($x) $x | Remove-ImdsFirewallRule -Force", new Hashtable { ["x"] = policy });
        var error = Assert.Single(refused.AllErrors);
        Assert.Equal("FirewallRuleIsPolicy,ImdsTroubleshoot.Commands.RemoveImdsFirewallRuleCommand", error.FullyQualifiedErrorId);
        Assert.Contains("iptables -t filter -P OUTPUT ACCEPT", error.ErrorDetails.RecommendedAction, StringComparison.Ordinal);
        Assert.Contains(":OUTPUT DROP", Save(ns, "iptables-save"), StringComparison.Ordinal);

        // An ACCEPT for IMDS in front of the policy lets it through: nothing blocks any more.
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-p", "tcp", "--dport", "80", "-j", "ACCEPT");
        AssertServed(CurlAs(ns, 0, 3, V4Url));
        var after = Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4", ns).Objects<FirewallRule>().ToList();
        Assert.DoesNotContain(after, r => r.Blocks);
        Assert.Contains(after, r => r.Effect == FirewallRuleEffect.Allows && r.Position == 2);

        // Without -Force or -Confirm:$false, a non-interactive session cannot confirm: nothing is deleted.
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-j", "DROP");
        var unconfirmed = Ps(ps, "param($ns) Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4 -All | Where-Object { $_.Position -eq 3 } | Remove-ImdsFirewallRule", ns);
        Assert.NotEmpty(unconfirmed.AllErrors);
        Assert.Contains("-A OUTPUT -d 169.254.169.254/32 -j DROP", Save(ns, "iptables-save"), StringComparison.Ordinal);
    }

    /// <summary>
    /// The evaluator's subtle cases against the kernel itself: a goto'd chain ends its caller (the DROP after it is never
    /// reached); accepting only NEW lets the SYN out and drops the request (a timeout after connecting); an nft input
    /// rule on the socket's uid drops the replies (early demux gives replies a socket).
    /// </summary>
    [LabFact]
    public void The_evaluator_agrees_with_the_kernel_on_goto_conntrack_and_reply_rules()
    {
        using var lab = StartLab(out _);
        string ns = lab.InstanceNs;
        var inspector = new FirewallInspector(new FirewallInspectorOptions { NetworkNamespace = ns });
        FirewallSubjectResult Verdict(uint uid) => inspector.Inspect(new FirewallQuery { Uids = new[] { uid }, Family = FirewallFamily.IPv4 }, CancellationToken.None).Subjects.Single();

        Run(ns, "iptables", "-N", "EMPTY");
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-g", "EMPTY");
        Run(ns, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-j", "DROP");
        AssertServed(CurlAs(ns, 0, 3, V4Url));
        Assert.Equal(FirewallAccess.Allowed, Verdict(0).Access);

        Run(ns, "iptables", "-F", "OUTPUT");
        Run(ns, "iptables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT");
        Run(ns, "iptables", "-P", "OUTPUT", "DROP");
        var newOnly = CurlAs(ns, 0, 2, V4Url);
        Assert.True(newOnly.ExitCode == 28 && newOnly.Stderr.Contains("0 bytes received", StringComparison.Ordinal), newOnly.ToString());
        var blocked = Verdict(0);
        Assert.Equal(FirewallAccess.Blocked, blocked.Access);
        Assert.True(blocked.DecidedBy!.IsPolicy);
        Assert.Equal(FirewallSymptom.Timeout, blocked.Symptom);

        Run(ns, "iptables", "-P", "OUTPUT", "ACCEPT");
        Run(ns, "iptables", "-F", "OUTPUT");
        Run(ns, "nft", "add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in ip saddr 169.254.169.254 meta skuid 1000 drop");
        Assert.Equal(28, CurlAs(ns, 1000, 2, V4Url).ExitCode);
        AssertServed(CurlAs(ns, 0, 3, V4Url));
        Assert.Equal(FirewallAccess.Blocked, Verdict(1000).Access);
        Assert.Equal("in", Verdict(1000).DecidedBy!.Chain);
        Assert.Equal(FirewallAccess.Allowed, Verdict(0).Access);
    }
}
