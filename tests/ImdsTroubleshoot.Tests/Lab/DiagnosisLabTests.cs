using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Net;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Lab;

/// <summary>
/// Every scenario of the probe, firewall, proxy and ENA issues through Invoke-ImdsDiagnosis, as users run it: the CLI
/// with no command inside the lab's namespaces, findings as JSON. Each names the right cause and fix.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class DiagnosisLabTests
{
    private sealed record Finding(string Check, string Status, string Outcome, string Detail, string? Cause, string? Fix, string? ShellFix, string? InstanceId, string[] Evidence, int RelatedCount);

    private static (List<Finding> Findings, ProcessResult Run) Diagnose(string ns, string args = "", int? uid = null, Dictionary<string, string?>? env = null)
    {
        var r = Cli.Run(new[] { "--json", "Invoke-ImdsDiagnosis " + args }, env, TimeSpan.FromSeconds(120), ns, uid);
        Assert.True(r.ExitCode is 0 or 3, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var findings = doc.RootElement.EnumerateArray().Select(e => new Finding(
            e.GetProperty("Check").GetString()!, e.GetProperty("Status").GetString()!, e.GetProperty("Outcome").GetString()!, e.GetProperty("Detail").GetString()!,
            e.GetProperty("Cause").GetString(), e.GetProperty("Fix").GetString(), e.GetProperty("ShellFix").GetString(), e.GetProperty("InstanceId").GetString(),
            e.GetProperty("Evidence").EnumerateArray().Select(x => x.GetString()!).ToArray(), e.GetProperty("Related").GetArrayLength())).ToList();
        Assert.Equal(findings.Any(f => f.Status == "Fail") ? 3 : 0, r.ExitCode);
        return (findings, r);
    }

    private static Finding Of(List<Finding> findings, string check) => findings.Single(f => f.Check == check);

    /// <summary>A fake EC2 API listening on 127.0.0.1 inside <paramref name="ns"/>, knowing the emulated instance.</summary>
    private static FakeEc2 Ec2In(string ns, Action<FakeInstance> configure) => Ec2In(ns, configure, out _);

    private static FakeEc2 Ec2In(string ns, Action<FakeInstance> configure, out FakeInstance instance)
    {
        var fake = NetworkNamespace.Run(ns, () => new FakeEc2());
        instance = fake.Add("i-0123456789abcdef0", "imds-demo", configure);
        return fake;
    }

    private static Dictionary<string, string?> AwsEnv(FakeEc2 fake)
    {
        // The fake EC2 and dummy keys; IMDS on. The dead-end HTTPS proxy stays as a guard against reaching AWS; the
        // plain-HTTP one goes, or the diagnosis would rightly report it as catching IMDS.
        var env = AwsEnvironment.For(fake.Url, region: null);
        env["AWS_EC2_METADATA_DISABLED"] = null;
        env["HTTP_PROXY"] = null;
        env["http_proxy"] = null;
        return env;
    }

    [LabFact]
    public void A_healthy_instance_passes_and_the_cli_exits_0()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpTokens = HttpTokensState.Required, HttpPutResponseHopLimit = 2 });
        var (findings, run) = Diagnose(lab.InstanceNs);
        Assert.Equal(0, run.ExitCode);
        Assert.All(new[] { "Endpoint", "Token", "HopLimit", "Firewall", "Throttling" }, c => Assert.Equal("Pass", Of(findings, c).Status));
        // As root the Proxy check also reads running processes' environments: other tests' clients running at the
        // same time (with a dead-end proxy set) may show up there, never in this process's environment.
        var proxy = Of(findings, "Proxy");
        Assert.True(proxy.Status == "Pass" || proxy.Outcome == "ProxyCatchesImdsElsewhere", proxy.ToString());
        Assert.Equal("TokensRequired", Of(findings, "ImdsV1").Outcome);
        Assert.Equal("i-0123456789abcdef0", Of(findings, "Token").InstanceId);
    }

    [LabFact]
    public void In_a_container_with_hop_limit_1_one_finding_names_the_hop_limit_from_the_ec2_api_with_the_instance()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        using var ec2 = Ec2In(lab.ContainerNs, i => i.HttpPutResponseHopLimit = 1);
        var (findings, run) = Diagnose(lab.ContainerNs, "-Ec2Api Always", env: AwsEnv(ec2));
        Assert.Equal(3, run.ExitCode);
        var hop = Of(findings, "HopLimit");
        Assert.Equal(("Fail", "HopLimitTooLowForContainers"), (hop.Status, hop.Outcome));
        Assert.Contains("hop limit is 1", hop.Detail, StringComparison.Ordinal);
        Assert.Equal("Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -Region eu-west-1 -HttpPutResponseHopLimit 2", hop.Fix);
        Assert.Contains("HttpPutResponseHopLimit = 1 (EC2 API)", hop.Evidence);
        Assert.Equal("ExplainedByHopLimit", Of(findings, "Token").Outcome);
        Assert.Equal("Warn", Of(findings, "MetadataOptions").Status);
        Assert.Single(findings, f => f.Fix?.Contains("-HttpPutResponseHopLimit 2", StringComparison.Ordinal) == true && f.Status == "Fail");
    }

    [LabFact]
    public void The_hop_limit_finding_pipes_into_Set_ImdsMetadataOption_and_the_next_diagnosis_passes()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        using var ec2 = Ec2In(lab.ContainerNs, i => i.HttpPutResponseHopLimit = 1);
        ec2.ApplyDelay = TimeSpan.FromMilliseconds(300);
        ec2.Applied += instance => emulator.UpdateSettings(s => s with { HttpPutResponseHopLimit = instance.HttpPutResponseHopLimit });
        var fix = Cli.Run(new[] { "Invoke-ImdsDiagnosis -Ec2Api Always | Where-Object Outcome -eq 'HopLimitTooLowForContainers' | Set-ImdsMetadataOption -HttpPutResponseHopLimit 2 -Wait -Confirm:$false -PassThru | ForEach-Object { \"$($_.InstanceId) $($_.HttpPutResponseHopLimit) $($_.State)\" }" },
            AwsEnv(ec2), TimeSpan.FromSeconds(120), lab.ContainerNs);
        Assert.True(fix.ExitCode == 0, fix.ToString());
        Assert.Equal("i-0123456789abcdef0 2 Applied", fix.Stdout.Trim());
        var (after, run) = Diagnose(lab.ContainerNs, "-Ec2Api Always", env: AwsEnv(ec2));
        Assert.True(run.ExitCode == 0, string.Join("\n", after.Where(f => f.Status == "Fail")));
        Assert.Equal(("Pass", "TokenReachesClient"), (Of(after, "HopLimit").Status, Of(after, "HopLimit").Outcome));
    }

    [LabFact]
    public void The_firewall_finding_pipes_its_rule_into_Remove_ImdsFirewallRule_and_the_next_diagnosis_passes()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "--dport", "80", "-j", "DROP");
        var fix = Cli.Run(new[] { "Invoke-ImdsDiagnosis | Where-Object Check -eq 'Firewall' | ForEach-Object Related | Remove-ImdsFirewallRule -Confirm:$false | ForEach-Object Status" },
            null, TimeSpan.FromSeconds(120), lab.InstanceNs);
        Assert.True(fix.ExitCode == 0, fix.ToString());
        Assert.Equal("Removed", fix.Stdout.Trim());
        var (after, run) = Diagnose(lab.InstanceNs);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("NoBlockingRule", Of(after, "Firewall").Outcome);
    }

    [LabFact]
    public void A_reject_rule_is_named_by_the_endpoint_and_the_firewall_findings()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-j", "REJECT");
        var (findings, _) = Diagnose(lab.InstanceNs);
        var endpoint = Of(findings, "Endpoint");
        Assert.Equal(("Fail", "ConnectionRefused"), (endpoint.Status, endpoint.Outcome));
        Assert.Contains("rejects this traffic for uid 0", endpoint.Cause, StringComparison.Ordinal);
        var firewall = Of(findings, "Firewall");
        Assert.Equal(("Fail", "FirewallBlocksImds"), (firewall.Status, firewall.Outcome));
        Assert.Equal(1, firewall.RelatedCount);
        Assert.StartsWith("iptables-nft -t filter -D OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT", firewall.ShellFix, StringComparison.Ordinal);
    }

    [LabFact]
    public void The_articles_rule_for_users_1000_to_10000_is_a_warning_for_root_and_a_refusal_for_uid_1000()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-m", "owner", "--uid-owner", "1000-10000", "-j", "REJECT");
        var (asRoot, _) = Diagnose(lab.InstanceNs);
        Assert.Equal("Pass", Of(asRoot, "Endpoint").Status);
        var firewall = Of(asRoot, "Firewall");
        Assert.Equal(("Warn", "FirewallBlocksImdsForOthers"), (firewall.Status, firewall.Outcome));
        Assert.Contains("1000", firewall.Detail, StringComparison.Ordinal);

        var (asUser, _) = Diagnose(lab.InstanceNs, uid: 1000);
        Assert.Equal(("Fail", "ConnectionRefused"), (Of(asUser, "Endpoint").Status, Of(asUser, "Endpoint").Outcome));
        Assert.Contains("-m owner --uid-owner", Of(asUser, "Endpoint").Cause, StringComparison.Ordinal);
        Assert.Equal("Skipped", Of(asUser, "Firewall").Status);
        Assert.Contains("needs root", Of(asUser, "Firewall").Detail, StringComparison.Ordinal);
    }

    [LabFact]
    public void A_drop_rule_is_a_timeout_named_within_the_bound()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings());
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-j", "DROP");
        var (findings, run) = Diagnose(lab.InstanceNs);
        var endpoint = Of(findings, "Endpoint");
        Assert.Equal(("Fail", "ConnectTimeout"), (endpoint.Status, endpoint.Outcome));
        Assert.Contains("drops this traffic", endpoint.Cause, StringComparison.Ordinal);
        Assert.Equal("FirewallBlocksImds", Of(findings, "Firewall").Outcome);
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(30), run.Elapsed.ToString());
    }

    [LabFact]
    public void A_proxy_in_the_environment_is_named_while_the_probe_itself_passes()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        var env = new Dictionary<string, string?> { ["HTTP_PROXY"] = "http://127.0.0.1:3128", ["http_proxy"] = "http://127.0.0.1:3128" };
        var (findings, _) = Diagnose(lab.InstanceNs, env: env);
        var proxy = Of(findings, "Proxy");
        Assert.Equal(("Fail", "ProxyCatchesImds"), (proxy.Status, proxy.Outcome));
        Assert.Contains("from the process environment", proxy.Detail, StringComparison.Ordinal);
        Assert.Contains("Repair-ImdsProxy", proxy.Fix, StringComparison.Ordinal);
        Assert.Equal("Pass", Of(findings, "Token").Status);
    }

    [LabFact]
    public void Imds_turned_off_and_imdsv1_allowed_come_from_the_probe_and_the_ec2_api()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpEndpoint = FeatureState.Disabled, HttpPutResponseHopLimit = 2 });
        using var ec2 = Ec2In(lab.InstanceNs, i => { i.HttpEndpoint = "disabled"; i.HttpPutResponseHopLimit = 2; }, out var instance);
        var (off, _) = Diagnose(lab.InstanceNs, "-Ec2Api Always", env: AwsEnv(ec2));
        Assert.Equal("EndpointDisabled", Of(off, "Token").Outcome);
        Assert.Contains("-HttpEndpoint Enabled", Of(off, "Token").Fix, StringComparison.Ordinal);
        Assert.Equal("Skipped", Of(off, "MetadataOptions").Status);
        Assert.Contains("Get-ImdsMetadataOption -InstanceId", Of(off, "MetadataOptions").Detail, StringComparison.Ordinal);

        emulator.UpdateSettings(s => s with { HttpEndpoint = FeatureState.Enabled });
        instance.HttpEndpoint = "enabled";
        var (on, _) = Diagnose(lab.InstanceNs, "-Ec2Api Always", env: AwsEnv(ec2));
        var options = Of(on, "MetadataOptions");
        Assert.Equal(("Warn", "ImdsV1Allowed"), (options.Status, options.Outcome));
        Assert.Contains("-HttpTokens Required", options.Fix, StringComparison.Ordinal);
    }

    [LabFact]
    public void Silent_drops_fail_the_throttling_check()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2, ThrottleRequestsPerSecond = 0.02, ThrottleBurst = 1, ThrottleAction = ThrottleAction.Drop });
        var (findings, _) = Diagnose(lab.InstanceNs);
        var throttling = Of(findings, "Throttling");
        Assert.Equal("Fail", throttling.Status);
        Assert.Equal("RequestsDropped", throttling.Outcome);
        Assert.Contains(throttling.Evidence, e => e.Contains("linklocal_allowance_exceeded", StringComparison.Ordinal));
    }

    [LabFact]
    public void The_ipv6_endpoint_is_checked_when_asked()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        var off = Of(Diagnose(lab.InstanceNs, "-IPv6").Findings, "IPv6");
        Assert.Equal(("Fail", "ConnectionRefused"), (off.Status, off.Outcome));
        Assert.Contains("HttpProtocolIpv6", off.Cause, StringComparison.Ordinal);
        emulator.UpdateSettings(s => s with { HttpProtocolIpv6 = FeatureState.Enabled });
        Assert.Equal("Pass", Of(Diagnose(lab.InstanceNs, "-IPv6").Findings, "IPv6").Status);

        // An ip6tables rule that rejects the IPv6 endpoint is named, with its removal command.
        NetworkLab.Exec(lab.InstanceNs, "ip6tables", "-A", "OUTPUT", "-p", "tcp", "-d", "fd00:ec2::254", "-j", "REJECT");
        var blocked = Of(Diagnose(lab.InstanceNs, "-IPv6").Findings, "IPv6");
        Assert.Equal("Fail", blocked.Status);
        Assert.Contains("rejects this traffic for uid 0", blocked.Cause, StringComparison.Ordinal);
        Assert.StartsWith("ip6tables-nft -t filter -D OUTPUT", blocked.ShellFix, StringComparison.Ordinal);
    }
}
