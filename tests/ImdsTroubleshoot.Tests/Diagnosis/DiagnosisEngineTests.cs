using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Engine.Platform;
using ImdsTroubleshoot.Engine.Probe;
using ImdsTroubleshoot.Tests.Ena;
using ImdsTroubleshoot.Tests.Firewall;
using Xunit;

namespace ImdsTroubleshoot.Tests.Diagnosis;

/// <summary>The correlation rules over evidence built by hand: each test is one field story from IMDS-FACTS.</summary>
public sealed class DiagnosisEngineTests
{
    private static readonly Uri Imds = new("http://169.254.169.254/");
    private static readonly Dictionary<string, string> NoHeaders = new();

    private static ImdsHttpResult Ok(int status = 200, string body = "x", double ms = 2) =>
        new(ImdsTransportOutcome.Response, status, body, true, TimeSpan.FromMilliseconds(ms), null, status == 200 && body.StartsWith("AQAEA", StringComparison.Ordinal)
            ? new Dictionary<string, string> { ["X-aws-ec2-metadata-token-ttl-seconds"] = "21600" } : NoHeaders);

    private static ImdsHttpResult Net(ImdsTransportOutcome outcome, bool connected, double ms = 1000) =>
        new(outcome, 0, string.Empty, connected, TimeSpan.FromMilliseconds(ms), outcome.ToString(), NoHeaders);

    private static ProbeObservation Healthy() =>
        new(Imds, TimeSpan.FromSeconds(1), Ok(0, string.Empty), Ok(200, "AQAEAtoken"), Ok(200, "ami-id"), Ok(200, "ami-id"), Array.Empty<PathObservation>());

    private static PlatformInfo Ec2(bool container = false) => PlatformInfo.FromFacts(
        new Dictionary<string, string> { ["sys/class/dmi/id/sys_vendor"] = "Amazon EC2" },
        container ? new[] { "/.dockerenv exists" } : Array.Empty<string>());

    private static ImdsMetadataOption Options(FeatureState endpoint = FeatureState.Enabled, HttpTokensState tokens = HttpTokensState.Required, int hop = 2) =>
        new("i-0123456789abcdef0", "web-1", "running", MetadataOptionsState.Applied, endpoint, tokens, hop, FeatureState.Disabled, FeatureState.Disabled, "eu-west-1");

    private static DiagnosisInput Input(ProbeObservation probe, Func<DiagnosisInput, DiagnosisInput>? change = null, PlatformInfo? platform = null)
    {
        var input = new DiagnosisInput
        {
            Target = "localhost",
            InstanceId = "i-0123456789abcdef0",
            Region = "eu-west-1",
            Platform = platform ?? Ec2(),
            Uid = 0,
            Probe = probe,
            FirewallUnavailable = "not read in this test",
            ProxySettings = Array.Empty<ImdsTroubleshoot.Engine.Proxy.ImdsProxySetting>(),
            MetadataOptionsUnavailable = "not asked in this test",
        };
        return change is null ? input : change(input);
    }

    private static ImdsFinding Of(IReadOnlyList<ImdsFinding> findings, DiagnosisCheck check) => findings.Single(f => f.Check == check);

    private static DiagnosisInput With(DiagnosisInput i, ImdsMetadataOption? options = null, FirewallReport? firewall = null, EnaLinkLocalChange? ena = null,
        IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? notes = null) => new()
        {
            Target = i.Target,
            InstanceId = i.InstanceId,
            Region = i.Region,
            Platform = i.Platform,
            Uid = i.Uid,
            Probe = i.Probe,
            ProxySettings = i.ProxySettings,
            Environment = environment ?? i.Environment,
            Firewall = firewall ?? i.Firewall,
            FirewallUnavailable = firewall is null ? i.FirewallUnavailable : null,
            MetadataOptions = options ?? i.MetadataOptions,
            MetadataOptionsUnavailable = options is null ? i.MetadataOptionsUnavailable : null,
            Ena = ena ?? i.Ena,
            CollectionNotes = notes ?? i.CollectionNotes,
        };

    [Fact]
    public void A_healthy_instance_passes_every_check_it_could_run_and_says_why_it_skipped_the_rest()
    {
        var findings = DiagnosisEngine.Analyze(Input(Healthy(), i => With(i, options: Options())));
        Assert.Equal(Enum.GetValues<DiagnosisCheck>().Where(c => c != DiagnosisCheck.Collection), findings.Select(f => f.Check));
        Assert.All(findings.Where(f => f.Check is not (DiagnosisCheck.Firewall or DiagnosisCheck.IPv6)), f => Assert.Equal(FindingStatus.Pass, f.Status));
        var firewall = Of(findings, DiagnosisCheck.Firewall);
        Assert.Equal((FindingStatus.Skipped, "not read in this test"), (firewall.Status, firewall.SkipReason));
        Assert.All(findings, f => Assert.Equal("i-0123456789abcdef0", f.InstanceId));
    }

    [Fact]
    public void Token_timeout_in_a_container_with_hop_limit_1_is_one_finding_with_one_fix()
    {
        var probe = new ProbeObservation(Imds, TimeSpan.FromSeconds(1), Ok(0, string.Empty), Net(ImdsTransportOutcome.ResponseTimeout, true), null, Ok(200, "ami-id"), Array.Empty<PathObservation>());
        var findings = DiagnosisEngine.Analyze(Input(probe, i => With(i, options: Options(tokens: HttpTokensState.Optional, hop: 1)), Ec2(container: true)));
        var hop = Of(findings, DiagnosisCheck.HopLimit);
        Assert.Equal((FindingStatus.Fail, "HopLimitTooLowForContainers"), (hop.Status, hop.Outcome));
        Assert.Contains("hop limit is 1", hop.Detail, StringComparison.Ordinal);
        Assert.Contains("runs in a container", hop.Detail, StringComparison.Ordinal);
        Assert.Equal("Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -Region eu-west-1 -HttpPutResponseHopLimit 2", hop.Fix);
        Assert.Equal("aws ec2 modify-instance-metadata-options --instance-id i-0123456789abcdef0 --region eu-west-1 --http-put-response-hop-limit 2 --http-endpoint enabled", hop.ShellFix);
        Assert.Contains("HttpPutResponseHopLimit = 1 (EC2 API)", hop.Evidence);
        Assert.IsType<ImdsMetadataOption>(Assert.Single(hop.Related));
        var token = Of(findings, DiagnosisCheck.Token);
        Assert.Equal("ExplainedByHopLimit", token.Outcome);
        Assert.Null(token.Fix);
        Assert.Equal(1, findings.Count(f => f.Fix?.Contains("HttpPutResponseHopLimit 2", StringComparison.Ordinal) == true));
    }

    [Fact]
    public void A_refused_connect_and_the_reject_rule_name_each_other()
    {
        var report = FirewallTestKit.Inspect(FirewallTestKit.Runner(v4: FirewallTestKit.Filter(FirewallTestKit.DefaultPolicies(),
            "-A OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT --reject-with icmp-port-unreachable")), new FirewallQuery { Uids = new uint[] { 0 }, Family = FirewallFamily.IPv4 });
        var probe = new ProbeObservation(Imds, TimeSpan.FromSeconds(1), Net(ImdsTransportOutcome.ConnectionRefused, false, 1), null, null, null, Array.Empty<PathObservation>());
        var findings = DiagnosisEngine.Analyze(Input(probe, i => With(i, firewall: report)));
        var endpoint = Of(findings, DiagnosisCheck.Endpoint);
        Assert.Equal((FindingStatus.Fail, "ConnectionRefused"), (endpoint.Status, endpoint.Outcome));
        Assert.Contains("rejects this traffic for uid 0", endpoint.Cause, StringComparison.Ordinal);
        Assert.Contains("-d 169.254.169.254/32 -p tcp -j REJECT", endpoint.Cause, StringComparison.Ordinal);
        var firewall = Of(findings, DiagnosisCheck.Firewall);
        Assert.Equal((FindingStatus.Fail, "FirewallBlocksImds"), (firewall.Status, firewall.Outcome));
        var rule = Assert.IsType<FirewallRule>(Assert.Single(firewall.Related));
        Assert.Same(rule, Assert.Single(endpoint.Related));
        Assert.Contains("Remove-ImdsFirewallRule", firewall.Fix, StringComparison.Ordinal);
        Assert.StartsWith("iptables-nft -t filter -D OUTPUT", firewall.ShellFix, StringComparison.Ordinal);
        Assert.Equal(FindingStatus.Skipped, Of(findings, DiagnosisCheck.Token).Status);
    }

    [Fact]
    public void A_reject_rule_for_other_users_is_a_warning_for_root_whose_probe_passed()
    {
        var report = FirewallTestKit.Inspect(FirewallTestKit.Runner(v4: FirewallTestKit.Filter(FirewallTestKit.DefaultPolicies(),
            "-A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT --reject-with icmp-port-unreachable")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var firewall = Of(DiagnosisEngine.Analyze(Input(Healthy(), i => With(i, firewall: report))), DiagnosisCheck.Firewall);
        Assert.Equal((FindingStatus.Warn, "FirewallBlocksImdsForOthers"), (firewall.Status, firewall.Outcome));
        Assert.Contains("1000", firewall.Detail, StringComparison.Ordinal);
        Assert.NotEmpty(firewall.Related);
    }

    [Fact]
    public void A_proxy_in_the_environment_fails_the_proxy_check_though_the_probe_passes()
    {
        var env = new Dictionary<string, string> { ["HTTP_PROXY"] = "http://user:secret@proxy.corp:3128", ["http_proxy"] = "http://user:secret@proxy.corp:3128" };
        var findings = DiagnosisEngine.Analyze(Input(Healthy(), i => With(i, environment: env)));
        var proxy = Of(findings, DiagnosisCheck.Proxy);
        Assert.Equal((FindingStatus.Fail, "ProxyCatchesImds"), (proxy.Status, proxy.Outcome));
        Assert.Contains("Repair-ImdsProxy", proxy.Fix, StringComparison.Ordinal);
        Assert.Contains("NO_PROXY=169.254.169.254", proxy.ShellFix, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", string.Join("\n", findings.SelectMany(f => f.Evidence.Append(f.Detail).Append(f.Cause ?? string.Empty))), StringComparison.Ordinal);
        Assert.Equal(FindingStatus.Pass, Of(findings, DiagnosisCheck.Token).Status);
    }

    [Fact]
    public void The_articles_no_proxy_fix_clears_the_failure_and_leaves_a_warning_for_the_ipv6_endpoint()
    {
        var env = new Dictionary<string, string> { ["HTTP_PROXY"] = "http://proxy.corp:3128", ["http_proxy"] = "http://proxy.corp:3128", ["NO_PROXY"] = "169.254.169.254", ["no_proxy"] = "169.254.169.254" };
        var proxy = Of(DiagnosisEngine.Analyze(Input(Healthy(), i => With(i, environment: env))), DiagnosisCheck.Proxy);
        Assert.Equal((FindingStatus.Warn, "ProxyCatchesImdsIpv6"), (proxy.Status, proxy.Outcome));
        Assert.Contains("[fd00:ec2::254]", proxy.ShellFix, StringComparison.Ordinal);
    }

    [Fact]
    public void Off_ec2_a_403_at_the_address_is_not_called_imds_turned_off()
    {
        var other = PlatformInfo.FromFacts(new Dictionary<string, string> { ["sys/class/dmi/id/sys_vendor"] = "Firecracker" }, Array.Empty<string>());
        var probe = new ProbeObservation(Imds, TimeSpan.FromSeconds(1), Ok(0, string.Empty), Ok(403, string.Empty), null, Ok(403, string.Empty), Array.Empty<PathObservation>());
        var findings = DiagnosisEngine.Analyze(Input(probe, platform: other));
        Assert.Equal("NotImds", Of(findings, DiagnosisCheck.Token).Outcome);
        Assert.Equal("NotImds", Of(findings, DiagnosisCheck.ImdsV1).Outcome);
        Assert.DoesNotContain(findings, f => f.Fix?.Contains("-HttpEndpoint Enabled", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void Link_local_drops_during_the_probe_fail_throttling_with_the_counter_delta()
    {
        var source = new EnaStatisticsTests.CaptureSource()
            .Add("ens5", "ena", EnaStatisticsTests.Ena, () => EnaStatisticsTests.Modern("ens5", TimeSpan.Zero, 100), () => EnaStatisticsTests.Modern("ens5", TimeSpan.FromSeconds(2), 137));
        var change = EnaStatistics.StartProbe(source, CancellationToken.None).Complete();
        var probe = new ProbeObservation(Imds, TimeSpan.FromSeconds(1), Ok(0, string.Empty), Ok(200, "AQAEAtoken"), Net(ImdsTransportOutcome.ResponseTimeout, true), Ok(200, "ami-id"), Array.Empty<PathObservation>());
        var throttling = Of(DiagnosisEngine.Analyze(Input(probe, i => With(i, ena: change))), DiagnosisCheck.Throttling);
        Assert.Equal((FindingStatus.Fail, "LinkLocalPacketsDropped"), (throttling.Status, throttling.Outcome));
        Assert.Contains(throttling.Evidence, e => e.Contains("+37 on ens5 (100 -> 137)", StringComparison.Ordinal));
        Assert.Contains("Get-EnaLinkLocalStat", throttling.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void Imds_turned_off_is_named_by_the_token_and_by_the_metadata_options_with_the_instance_in_the_fix()
    {
        var probe = new ProbeObservation(Imds, TimeSpan.FromSeconds(1), Ok(0, string.Empty), Ok(403, string.Empty), null, Ok(403, string.Empty), Array.Empty<PathObservation>());
        var without = DiagnosisEngine.Analyze(Input(probe, i => new DiagnosisInput { Target = i.Target, Platform = i.Platform, Probe = i.Probe, MetadataOptionsUnavailable = "no credentials" }));
        Assert.Equal("Set-ImdsMetadataOption -InstanceId INSTANCE_ID -Region REGION -HttpEndpoint Enabled", Of(without, DiagnosisCheck.Token).Fix);
        var with = DiagnosisEngine.Analyze(Input(probe, i => With(i, options: Options(endpoint: FeatureState.Disabled))));
        var options = Of(with, DiagnosisCheck.MetadataOptions);
        Assert.Equal((FindingStatus.Fail, "ImdsDisabled"), (options.Status, options.Outcome));
        Assert.Equal("Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -Region eu-west-1 -HttpEndpoint Enabled", options.Fix);
        Assert.Equal("aws ec2 modify-instance-metadata-options --instance-id i-0123456789abcdef0 --region eu-west-1 --http-endpoint enabled", options.ShellFix);
    }

    [Fact]
    public void Tokens_required_never_suggests_allowing_imdsv1_again()
    {
        var probe = new ProbeObservation(Imds, TimeSpan.FromSeconds(1), Ok(0, string.Empty), Ok(200, "AQAEAtoken"), Ok(200, "ami-id"), Ok(401, string.Empty), Array.Empty<PathObservation>());
        var v1 = Of(DiagnosisEngine.Analyze(Input(probe)), DiagnosisCheck.ImdsV1);
        Assert.Equal((FindingStatus.Warn, "TokensRequired"), (v1.Status, v1.Outcome));
        Assert.DoesNotContain("Optional", v1.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void A_machine_that_is_not_ec2_fails_the_platform_check_and_an_emulator_is_not_judged()
    {
        var other = PlatformInfo.FromFacts(new Dictionary<string, string> { ["sys/class/dmi/id/sys_vendor"] = "QEMU" }, Array.Empty<string>());
        var probe = new ProbeObservation(Imds, TimeSpan.FromSeconds(1), Net(ImdsTransportOutcome.ConnectTimeout, false), null, null, null, Array.Empty<PathObservation>());
        var findings = DiagnosisEngine.Analyze(Input(probe, platform: other));
        Assert.Equal((FindingStatus.Fail, "NotAnEc2Instance"), (Of(findings, DiagnosisCheck.Platform).Status, Of(findings, DiagnosisCheck.Platform).Outcome));
        Assert.Equal("NotAnEc2Instance", Of(findings, DiagnosisCheck.Endpoint).Outcome);

        var emulated = DiagnosisEngine.Analyze(new DiagnosisInput { Platform = other, Probe = Healthy(), Endpoint = new Uri("http://127.0.0.1:8080/"), EndpointSource = "-Endpoint" });
        Assert.Equal("EndpointOverridden", Of(emulated, DiagnosisCheck.Platform).Outcome);
    }

    [Fact]
    public void Gaps_in_the_evidence_become_a_collection_finding_and_skips_with_reasons()
    {
        var findings = DiagnosisEngine.Analyze(new DiagnosisInput { Target = "i-0abc", CollectionNotes = new[] { "section firewall truncated at 6000 bytes" }, FirewallUnavailable = "not root" });
        Assert.Equal("EvidenceIncomplete", Of(findings, DiagnosisCheck.Collection).Outcome);
        Assert.Equal("the endpoint was not probed", Of(findings, DiagnosisCheck.Endpoint).SkipReason);
        Assert.Equal("not root", Of(findings, DiagnosisCheck.Firewall).SkipReason);
        Assert.All(findings, f => Assert.Equal("i-0abc", f.Target));
    }
}
