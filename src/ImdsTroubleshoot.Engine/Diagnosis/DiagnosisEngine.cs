using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Engine.Platform;
using ImdsTroubleshoot.Engine.Probe;
using ImdsTroubleshoot.Engine.Proxy;

namespace ImdsTroubleshoot.Engine.Diagnosis;

/// <summary>
/// Turns the evidence of one machine into one finding per check, correlated: a token request that times out where
/// the token-less GET answers, in a container, with hop limit 1 is one finding with one fix; a refused connect and
/// the REJECT rule that refuses it name each other. Pure: no I/O, so local and remote evidence give the same findings.
/// </summary>
public static class DiagnosisEngine
{
    private const string NoProxyValue = "169.254.169.254,fd00:ec2::254,[fd00:ec2::254]";

    /// <summary>What a remote finding's Fix starts with when the fix must be run on that machine.</summary>
    public static string RemoteFixPrefix(string target) => $"On {target} (with the module, or the shell command): ";

    public static IReadOnlyList<ImdsFinding> Analyze(DiagnosisInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var a = new Analysis(input);
        var findings = new List<ImdsFinding>
        {
            a.Platform(),
            a.Proxy(),
            a.Endpoint(),
            a.Token(),
            a.HopLimit(),
            a.ImdsV1(),
            a.Firewall(),
            a.Throttling(),
            a.MetadataOptions(),
            a.IPv6(),
        };
        if (input.CollectionNotes.Count > 0)
        {
            findings.Add(a.Collection());
        }

        return findings;
    }

    private sealed class Analysis
    {
        private readonly DiagnosisInput _in;
        private readonly IReadOnlyList<ImdsProbeResult> _steps;
        private readonly FirewallRule? _connectRule;

        public Analysis(DiagnosisInput input)
        {
            _in = input;
            if (input.Probe is { } probe)
            {
                ProbeOutcome connectOutcome = probe.Connected ? ProbeOutcome.Ok : ProbeOutcomeOf(probe.Connect);
                _connectRule = !probe.Connected && input.Firewall is { } report
                    ? FirewallExplainer.FindInReport(report, input.Uid, probe.Endpoint.HostNameType == UriHostNameType.IPv6 ? FirewallFamily.IPv6 : FirewallFamily.IPv4, connectOutcome)
                    : null;
                ConnectExplanation? explanation = _connectRule is null ? null : FirewallExplainer.FromRule(_connectRule, input.Uid);
                _steps = ImdsProbe.Classify(probe, input.Platform, explanation, ThrottleEvidence(), input.Uid);
            }
            else
            {
                _steps = Array.Empty<ImdsProbeResult>();
            }
        }

        private ImdsProbeResult? Step(ProbeStep step) => _steps.FirstOrDefault(s => s.Step == step);

        private static ProbeOutcome ProbeOutcomeOf(ImdsHttpResult connect) => connect.Outcome switch
        {
            ImdsTransportOutcome.ConnectionRefused => ProbeOutcome.ConnectionRefused,
            ImdsTransportOutcome.Unreachable => ProbeOutcome.Unreachable,
            ImdsTransportOutcome.AccessDenied => ProbeOutcome.AccessDenied,
            _ => ProbeOutcome.ConnectTimeout,
        };

        private IReadOnlyList<string> ThrottleEvidence() => _in.Ena is { } ena && (ena.Throttled || (_in.Probe?.LooksThrottled ?? false))
            ? new[] { ena.Summary }
            : Array.Empty<string>();

        private ImdsFinding F(DiagnosisCheck check, FindingStatus status, string outcome, string detail, string? cause = null, string? fix = null,
            string? shellFix = null, IEnumerable<string>? evidence = null, IEnumerable<object>? related = null, string? skipReason = null) =>
            new(_in.Target, check, status, outcome, detail)
            {
                InstanceId = _in.InstanceId,
                Region = _in.Region,
                Cause = cause,
                Fix = RemoteFix(fix, related),
                ShellFix = shellFix,
                Evidence = evidence?.ToArray() ?? Array.Empty<string>(),
                Related = LocalRelated(related),
                SkipReason = skipReason,
            };

        // A remote machine's rules and proxy settings must not pipe into the fixing cmdlets, which act on this
        // machine; only what the EC2 API changes for the named instance (its metadata options) stays.
        private object[] LocalRelated(IEnumerable<object>? related) =>
            related is null ? Array.Empty<object>()
            : _in.IsRemote ? related.Where(r => r is ImdsMetadataOption).ToArray()
            : related.ToArray();

        private string? RemoteFix(string? fix, IEnumerable<object>? related) =>
            fix is not null && _in.IsRemote && related is not null && related.Any(r => r is not ImdsMetadataOption)
                ? RemoteFixPrefix(_in.Target) + fix
                : fix;

        private ImdsFinding Skipped(DiagnosisCheck check, string reason, IEnumerable<string>? evidence = null) =>
            F(check, FindingStatus.Skipped, "NotChecked", "Not checked: " + reason, evidence: evidence, skipReason: reason);

        private static FindingStatus StatusOf(ProbeStatus s) => s switch
        {
            ProbeStatus.Pass => FindingStatus.Pass,
            ProbeStatus.Warn => FindingStatus.Warn,
            ProbeStatus.Fail => FindingStatus.Fail,
            _ => FindingStatus.Skipped,
        };

        private ImdsFinding FromStep(DiagnosisCheck check, ImdsProbeResult r, IEnumerable<string>? extraEvidence = null) =>
            F(check, StatusOf(r.Status), r.Outcome.ToString(), r.Detail, r.Cause, r.RelatedCommand, r.ShellCommand,
                r.Evidence.Concat(extraEvidence ?? Array.Empty<string>()), skipReason: r.Status == ProbeStatus.Skipped ? r.Detail : null);

        private string InstanceArgs => _in.InstanceId is null
            ? "-InstanceId INSTANCE_ID -Region REGION"
            : $"-InstanceId {_in.InstanceId}" + (_in.Region is null ? string.Empty : $" -Region {_in.Region}");

        private string CliInstance => (_in.InstanceId ?? "INSTANCE_ID") + (_in.Region is null ? string.Empty : " --region " + _in.Region);

        public ImdsFinding Platform()
        {
            var evidence = new List<string> { $"endpoint {_in.Endpoint} ({_in.EndpointSource})", $"uid {_in.Uid}" };
            evidence.AddRange(_in.Platform.Evidence);
            evidence.AddRange(_in.Platform.ContainerEvidence);
            foreach (string v in new[] { ImdsDefaults.DisabledEnvironmentVariable, ImdsDefaults.V1DisabledEnvironmentVariable, ImdsDefaults.EndpointModeEnvironmentVariable })
            {
                if (_in.Environment.TryGetValue(v, out string? value))
                {
                    evidence.Add($"{v}={value}");
                }
            }

            string where = _in.Platform.InContainer ? " It looks like a container." : string.Empty;
            if (_in.Environment.TryGetValue(ImdsDefaults.DisabledEnvironmentVariable, out string? disabled) && disabled.Trim().Equals("true", StringComparison.OrdinalIgnoreCase))
            {
                return F(DiagnosisCheck.Platform, FindingStatus.Warn, "DisabledByEnvironment",
                    "AWS_EC2_METADATA_DISABLED=true: the AWS SDKs and CLI in this environment never contact IMDS." + where,
                    "The environment turns the SDKs' IMDS client off, so they find no instance role credentials or Region.",
                    null, "unset AWS_EC2_METADATA_DISABLED", evidence);
            }

            if (_in.EndpointOverridden)
            {
                return F(DiagnosisCheck.Platform, FindingStatus.Pass, "EndpointOverridden",
                    $"The endpoint is {_in.Endpoint} ({_in.EndpointSource}), not the instance's own IMDS; the machine itself was not judged." + where,
                    evidence: evidence);
            }

            return _in.Platform.Verdict switch
            {
                PlatformVerdict.Ec2 => F(DiagnosisCheck.Platform, FindingStatus.Pass, "Ec2Instance", "An EC2 instance (DMI/hypervisor say so)." + where, evidence: evidence),
                PlatformVerdict.NotEc2 => F(DiagnosisCheck.Platform, FindingStatus.Fail, "NotAnEc2Instance",
                    "This machine does not look like an EC2 instance: IMDS exists only there." + where,
                    "DMI names another vendor.", "Start-ImdsEmulator (or imds-troubleshoot --emulator SCENARIO) to try things off EC2",
                    null, evidence),
                _ => F(DiagnosisCheck.Platform, FindingStatus.Warn, "PlatformUnknown",
                    "Could not tell whether this is an EC2 instance (no DMI or hypervisor information)." + where,
                    evidence: evidence),
            };
        }

        public ImdsFinding Proxy()
        {
            if (_in.ProxySettings is null && _in.Environment.Count == 0)
            {
                return Skipped(DiagnosisCheck.Proxy, _in.ProxyUnavailable ?? "no environment was gathered");
            }

            var here = ProxyEnvironmentEvaluator.Evaluate(_in.Environment);
            var proxiedHere = here.Verdicts.Where(v => v.ProxyVariable is not null && !ProxyFamilyVerdict.IsDirect(v.Ipv4)).ToList();
            var ipv6Only = here.Verdicts.Where(v => v.ProxyVariable is not null && ProxyFamilyVerdict.IsDirect(v.Ipv4) && !ProxyFamilyVerdict.IsDirect(v.Ipv6)).ToList();
            var elsewhere = (_in.ProxySettings ?? Array.Empty<ImdsProxySetting>())
                .Where(s => s.ProxyUrl is not null && s.Effective && !s.Exempt)
                .ToList();
            var evidence = new List<string>();
            if (_in.ProxyUnavailable is not null)
            {
                evidence.Add(_in.ProxyUnavailable);
            }

            evidence.AddRange(proxiedHere.Select(v => $"{v.Family}: {v.ProxyVariable}={v.ProxyUrl} ({v.Reason})"));
            evidence.AddRange(elsewhere.Select(s => $"{s.Location}: {s.Variable}={s.ProxyUrl}, not exempt for {string.Join(", ", s.ImdsExempt.Verdicts.Where(v => !v.Exempt).Select(v => v.Family))}"
                + (s.RestartRequired.Count > 0 ? $" (restart {string.Join(", ", s.RestartRequired)})" : string.Empty)));

            if (proxiedHere.Count > 0)
            {
                var first = proxiedHere[0];
                var source = ProxyInspector.FindProxyForImds(_in.Environment, _in.ProxySettings, first.Family);
                bool forwardedFor = Step(ProbeStep.Token)?.Outcome == ProbeOutcome.ForwardedForRejected;
                return F(DiagnosisCheck.Proxy, FindingStatus.Fail, "ProxyCatchesImds",
                    $"{source.Description}: {string.Join(", ", proxiedHere.Select(v => v.Family))} clients send IMDS requests to the proxy.",
                    "The proxy cannot reach the instance's link-local IMDS, or adds X-Forwarded-For, which IMDS answers with 403: \"Unable to locate credentials\"."
                        + (forwardedFor ? " The token PUT here was refused with 403 for that reason." : string.Empty),
                    "Repair-ImdsProxy (this session); Get-ImdsProxyConfiguration -NotExempt | Repair-ImdsProxy (the files)",
                    $"export NO_PROXY={NoProxyValue} no_proxy={NoProxyValue}", evidence, elsewhere);
            }

            if (ipv6Only.Count > 0)
            {
                evidence.AddRange(ipv6Only.Select(v => $"{v.Family}: IPv6 endpoint not exempt ({v.Reason})"));
                return F(DiagnosisCheck.Proxy, FindingStatus.Warn, "ProxyCatchesImdsIpv6",
                    $"169.254.169.254 bypasses the proxy, but [fd00:ec2::254] does not ({string.Join(", ", ipv6Only.Select(v => v.Family))}).",
                    "NO_PROXY names the IPv4 address only: clients that use the IPv6 endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6) go through the proxy.",
                    "Repair-ImdsProxy", $"export NO_PROXY={NoProxyValue} no_proxy={NoProxyValue}", evidence, elsewhere);
            }

            if (elsewhere.Count > 0)
            {
                return F(DiagnosisCheck.Proxy, FindingStatus.Warn, "ProxyCatchesImdsElsewhere",
                    $"Not in this environment, but {elsewhere.Count} setting(s) in files, services or running processes send IMDS requests to a proxy.",
                    "Programs started from those files or services (e.g. amazon-ssm-agent, docker) do not reach IMDS directly.",
                    "Get-ImdsProxyConfiguration -NotExempt | Repair-ImdsProxy", $"add {NoProxyValue} to NO_PROXY and no_proxy where the proxy is set", evidence, elsewhere);
            }

            return F(DiagnosisCheck.Proxy, FindingStatus.Pass, "NoProxyForImds", "No proxy catches IMDS traffic (environment, files, services).", evidence: evidence);
        }

        public ImdsFinding Endpoint()
        {
            if (_in.Probe is null || Step(ProbeStep.Connect) is not { } connect)
            {
                return Skipped(DiagnosisCheck.Endpoint, "the endpoint was not probed");
            }

            var f = FromStep(DiagnosisCheck.Endpoint, connect);
            if (_connectRule is not null)
            {
                return F(DiagnosisCheck.Endpoint, FindingStatus.Fail, connect.Outcome.ToString(), connect.Detail,
                    connect.Cause, "Get-ImdsFirewallRule | Where-Object Blocks | Remove-ImdsFirewallRule", connect.ShellCommand, connect.Evidence, new object[] { _connectRule });
            }

            return f;
        }

        /// <summary>Off EC2, whatever answers at the default address is not IMDS: its 403s are not "IMDS turned off".</summary>
        private bool AnswerIsNotImds => _in.Platform.Verdict == PlatformVerdict.NotEc2 && !_in.EndpointOverridden;

        private ImdsFinding NotImds(DiagnosisCheck check, ImdsProbeResult step) =>
            F(check, FindingStatus.Fail, "NotImds", $"{step.Detail} But this machine is not an EC2 instance, so what answers at {_in.Endpoint.Host} is not the EC2 metadata service.",
                "IMDS exists only on EC2 instances; another service (a hypervisor's metadata service, a proxy) answers at this address here.",
                "Run this on the instance, or against the emulator (Start-ImdsEmulator / imds-troubleshoot --emulator SCENARIO)", null, step.Evidence.Concat(_in.Platform.Evidence));

        public ImdsFinding Token()
        {
            if (Step(ProbeStep.Token) is not { } token)
            {
                return Skipped(DiagnosisCheck.Token, "the endpoint was not probed");
            }

            if (AnswerIsNotImds && token.Status == ProbeStatus.Fail)
            {
                return NotImds(DiagnosisCheck.Token, token);
            }

            if (token.Outcome == ProbeOutcome.HopLimitExceeded)
            {
                return F(DiagnosisCheck.Token, FindingStatus.Fail, "ExplainedByHopLimit", token.Detail,
                    "The token response does not reach this process: see the HopLimit finding for the cause and the fix.", evidence: token.Evidence);
            }

            if (token.Status == ProbeStatus.Pass && Step(ProbeStep.MetadataV2) is { } v2 && v2.Status != ProbeStatus.Pass)
            {
                return FromStep(DiagnosisCheck.Token, v2, new[] { token.Detail });
            }

            if (token.Outcome == ProbeOutcome.EndpointDisabled && _in.MetadataOptions is null)
            {
                return F(DiagnosisCheck.Token, FindingStatus.Fail, token.Outcome.ToString(), token.Detail, token.Cause,
                    $"Set-ImdsMetadataOption {InstanceArgs} -HttpEndpoint Enabled",
                    $"aws ec2 modify-instance-metadata-options --instance-id {CliInstance} --http-endpoint enabled", token.Evidence);
            }

            return FromStep(DiagnosisCheck.Token, token);
        }

        public ImdsFinding HopLimit()
        {
            var token = Step(ProbeStep.Token);
            int? hopLimit = _in.MetadataOptions?.HttpPutResponseHopLimit;
            var evidence = new List<string>();
            if (hopLimit is { } h)
            {
                evidence.Add($"HttpPutResponseHopLimit = {h} (EC2 API)");
            }

            evidence.AddRange(_in.Platform.ContainerEvidence);
            if (token is null || token.Status == ProbeStatus.Skipped)
            {
                return Skipped(DiagnosisCheck.HopLimit, "no token request was made (no connection)", evidence);
            }

            if (token.Outcome == ProbeOutcome.HopLimitExceeded)
            {
                evidence.AddRange(token.Evidence.Where(e => !evidence.Contains(e)));
                string limit = hopLimit is { } known ? $"is {known}" : "is too low";
                string where = _in.Platform.InContainer ? "this process runs in a container" : "this process is at least one routed hop from IMDS (a container, a pod, a network namespace)";
                return F(DiagnosisCheck.HopLimit, FindingStatus.Fail, "HopLimitTooLowForContainers",
                    $"The token PUT got no answer while a token-less GET did: the hop limit {limit} and {where}.",
                    "IMDS sends the token response with IP TTL = HttpPutResponseHopLimit; every routed hop (a Docker bridge, a pod network) takes one, so with 1 the response dies before it arrives. IMDSv1 keeps working, so the failure shows only for IMDSv2 clients, or once IMDSv2 is required.",
                    $"Set-ImdsMetadataOption {InstanceArgs} -HttpPutResponseHopLimit 2",
                    $"aws ec2 modify-instance-metadata-options --instance-id {CliInstance} --http-put-response-hop-limit 2 --http-endpoint enabled",
                    evidence, _in.MetadataOptions is null ? null : new object[] { _in.MetadataOptions });
            }

            if (token.Status == ProbeStatus.Pass && hopLimit == 1)
            {
                return F(DiagnosisCheck.HopLimit, FindingStatus.Warn, "HopLimitOne",
                    "The token reaches this process, but the hop limit is 1: containers on a bridge or in pods on this instance will not get IMDSv2 tokens.",
                    "A risk only if the instance runs containers that use IMDS.", $"Set-ImdsMetadataOption {InstanceArgs} -HttpPutResponseHopLimit 2",
                    $"aws ec2 modify-instance-metadata-options --instance-id {CliInstance} --http-put-response-hop-limit 2", evidence,
                    new object[] { _in.MetadataOptions! });
            }

            if (token.Status == ProbeStatus.Pass)
            {
                return F(DiagnosisCheck.HopLimit, FindingStatus.Pass, "TokenReachesClient",
                    "The token response reaches this process" + (hopLimit is { } n ? $" (hop limit {n})." : "."), evidence: evidence);
            }

            return Skipped(DiagnosisCheck.HopLimit, "the token request failed for another reason (see Token)", evidence);
        }

        public ImdsFinding ImdsV1()
        {
            if (Step(ProbeStep.MetadataV1) is not { } v1)
            {
                return Skipped(DiagnosisCheck.ImdsV1, "the endpoint was not probed");
            }

            if (AnswerIsNotImds && v1.Status == ProbeStatus.Fail)
            {
                return NotImds(DiagnosisCheck.ImdsV1, v1);
            }

            return v1.Outcome switch
            {
                // IMDSv2 required is the secure setting: the fix is on the clients' side, never to allow IMDSv1 again.
                ProbeOutcome.TokensRequired => F(DiagnosisCheck.ImdsV1, FindingStatus.Warn, v1.Outcome.ToString(), v1.Detail, v1.Cause,
                    "Use IMDSv2 in every client (token PUT, then the token header on each GET); Get-ImdsMetadata does",
                    v1.ShellCommand, v1.Evidence),
                ProbeOutcome.EndpointDisabled => F(DiagnosisCheck.ImdsV1, FindingStatus.Fail, v1.Outcome.ToString(), v1.Detail, v1.Cause,
                    $"Set-ImdsMetadataOption {InstanceArgs} -HttpEndpoint Enabled",
                    $"aws ec2 modify-instance-metadata-options --instance-id {CliInstance} --http-endpoint enabled", v1.Evidence),
                _ => FromStep(DiagnosisCheck.ImdsV1, v1),
            };
        }

        public ImdsFinding Firewall()
        {
            if (_in.Firewall is not { } report)
            {
                return Skipped(DiagnosisCheck.Firewall, _in.FirewallUnavailable ?? "the firewall was not read");
            }

            var evidence = report.Sources.Select(s => "read: " + s).Concat(report.Warnings.Select(w => "warning: " + w)).ToList();
            var mine = report.Subjects.Where(s => s.Uid == _in.Uid && s.Access is FirewallAccess.Blocked or FirewallAccess.MayBeBlocked).ToList();
            var blocking = report.Rules.Where(r => r.Blocks || r.Effect == FirewallRuleEffect.MayBlock).ToList();
            var others = report.Subjects.Where(s => s.Uid != _in.Uid && s.Access is FirewallAccess.Blocked or FirewallAccess.MayBeBlocked).ToList();
            evidence.AddRange(report.Subjects.Where(s => s.Access != FirewallAccess.Allowed).Select(s => s.ToString()));
            evidence.AddRange(blocking.Select(r => $"{r.Location}: {r.Rule} -> {r.ExpectedSymptom}" + (r.PersistedFile is null ? string.Empty : $", persisted in {r.PersistedFile}")));
            string shell = string.Join("; ", blocking.Where(r => r.RemoveCommand is not null).Select(r => r.RemoveCommand));
            if (mine.Count > 0)
            {
                var rule = _connectRule ?? mine.Select(s => s.DecidedBy).FirstOrDefault(r => r is not null) ?? blocking.FirstOrDefault();
                string named = rule is null ? "a local rule" : $"{rule.Location}: {rule.Rule}";
                return F(DiagnosisCheck.Firewall, FindingStatus.Fail, "FirewallBlocksImds",
                    $"The local firewall blocks IMDS for uid {_in.Uid}: {named}.",
                    rule is null ? "A local rule drops or rejects the traffic." : $"{(rule.Verdict == FirewallVerdict.Drop ? "DROP: clients hang until they time out" : "REJECT: clients get \"Connection refused\"")}.",
                    "Get-ImdsFirewallRule | Where-Object Blocks | Remove-ImdsFirewallRule -UpdatePersistedFile", shell.Length > 0 ? shell : null, evidence, blocking);
            }

            if (others.Count > 0 || blocking.Count > 0)
            {
                string who = others.Count > 0 ? string.Join(", ", others.Select(o => o.Subject).Distinct()) : "some traffic";
                return F(DiagnosisCheck.Firewall, FindingStatus.Warn, "FirewallBlocksImdsForOthers",
                    $"Local firewall rules block IMDS for {who}, not for uid {_in.Uid}.",
                    "Programs running as those users, or containers, cannot reach IMDS (on EKS a FORWARD DROP for eni+ is often deliberate).",
                    "Get-ImdsFirewallRule | Where-Object Blocks | Remove-ImdsFirewallRule", shell.Length > 0 ? shell : null, evidence, blocking);
            }

            return F(DiagnosisCheck.Firewall, FindingStatus.Pass, "NoBlockingRule", "No local firewall rule blocks IMDS traffic.", evidence: evidence);
        }

        public ImdsFinding Throttling()
        {
            var evidence = new List<string>();
            var throttled = _steps.Where(s => s.Outcome is ProbeOutcome.Throttled or ProbeOutcome.ServiceUnavailable or ProbeOutcome.NoResponse).ToList();
            if (_in.Ena is { } ena)
            {
                evidence.Add(ena.Summary);
            }

            evidence.AddRange(throttled.Select(s => $"{s.Step}: {s.Detail}"));
            bool dropsNow = _in.Ena?.Throttled ?? false;
            if (throttled.Count > 0 || dropsNow)
            {
                return F(DiagnosisCheck.Throttling, FindingStatus.Fail, dropsNow ? "LinkLocalPacketsDropped" : throttled[0].Outcome == ProbeOutcome.NoResponse ? "RequestsDropped" : "Throttled",
                    dropsNow ? "Link-local packets were dropped while the probe ran (ENA linklocal_allowance_exceeded rose)." : $"IMDS throttled or dropped requests: {throttled[0].Detail}",
                    "Too many requests to IMDS, DNS or NTP from this interface: past 1024 packets/s link-local traffic is dropped silently; IMDS also throttles each instance.",
                    "Get-EnaLinkLocalStat -SampleInterval 1 -Count 10; cache metadata and back off (Get-ImdsMetadata does)",
                    "ethtool -S eth0 | grep linklocal_allowance_exceeded", evidence);
            }

            ulong? total = _in.Ena?.After.Interfaces.Where(i => i.Value is not null).Select(i => i.Value!.Value).DefaultIfEmpty(0UL).Aggregate((x, y) => x + y);
            if (total > 0)
            {
                return F(DiagnosisCheck.Throttling, FindingStatus.Warn, "LinkLocalDropsSinceReset",
                    $"Not now, but {total.Value.ToString(CultureInfo.InvariantCulture)} link-local packets were dropped since the interface reset.",
                    "Bursts of IMDS, DNS or NTP traffic past 1024 packets/s at some time.", "Get-EnaLinkLocalStat -Watch", "ethtool -S eth0 | grep linklocal_allowance_exceeded", evidence);
            }

            return F(DiagnosisCheck.Throttling, FindingStatus.Pass, "NotThrottled", "No throttling or dropped requests seen" + (_in.Ena is { Available: true } ? " (ENA counters quiet)." : "."), evidence: evidence);
        }

        public ImdsFinding MetadataOptions()
        {
            if (_in.MetadataOptions is not { } options)
            {
                return Skipped(DiagnosisCheck.MetadataOptions, _in.MetadataOptionsUnavailable ?? "the EC2 API was not asked");
            }

            var evidence = new List<string>
            {
                $"HttpEndpoint={options.HttpEndpoint}, HttpTokens={options.HttpTokens}, HttpPutResponseHopLimit={options.HttpPutResponseHopLimit}, HttpProtocolIpv6={options.HttpProtocolIpv6}, InstanceMetadataTags={options.InstanceMetadataTags}, State={options.State}",
            };
            var related = new object[] { options };
            if (options.Findings.Contains(MetadataOptionFinding.ImdsDisabled))
            {
                return F(DiagnosisCheck.MetadataOptions, FindingStatus.Fail, "ImdsDisabled", $"{options.InstanceId}: HttpEndpoint is disabled: every IMDS request gets 403.",
                    "The instance's metadata endpoint is turned off.", $"Set-ImdsMetadataOption -InstanceId {options.InstanceId}{RegionArg(options)} -HttpEndpoint Enabled",
                    $"aws ec2 modify-instance-metadata-options --instance-id {options.InstanceId}{CliRegion(options)} --http-endpoint enabled", evidence, related);
            }

            if (options.Findings.Count > 0)
            {
                return F(DiagnosisCheck.MetadataOptions, FindingStatus.Warn, options.Findings[0].ToString(), $"{options.InstanceId}: {options.Assessment}.",
                    string.Join(" ", options.Findings.Select(ImdsMetadataOption.Describe)),
                    options.Findings.Contains(MetadataOptionFinding.ImdsV1Allowed) ? $"Set-ImdsMetadataOption -InstanceId {options.InstanceId}{RegionArg(options)} -HttpTokens Required (once every client uses IMDSv2)" : null,
                    options.Findings.Contains(MetadataOptionFinding.ImdsV1Allowed) ? $"aws ec2 modify-instance-metadata-options --instance-id {options.InstanceId}{CliRegion(options)} --http-tokens required" : null,
                    evidence, related);
            }

            return F(DiagnosisCheck.MetadataOptions, FindingStatus.Pass, "Ok", $"{options.InstanceId}: {options.Assessment}.", evidence: evidence, related: related);
        }

        private static string RegionArg(ImdsMetadataOption o) => o.Region is null ? string.Empty : " -Region " + o.Region;

        private static string CliRegion(ImdsMetadataOption o) => o.Region is null ? string.Empty : " --region " + o.Region;

        public ImdsFinding IPv6()
        {
            if (_in.ProbeIpv6 is not { } probe)
            {
                return Skipped(DiagnosisCheck.IPv6, _in.Ipv6SkipReason ?? "the IPv6 endpoint was not probed");
            }

            ConnectExplanation? explanation = null;
            if (!probe.Connected && _in.Firewall is { } report
                && FirewallExplainer.FindInReport(report, _in.Uid, FirewallFamily.IPv6, ProbeOutcomeOf(probe.Connect)) is { } rule)
            {
                explanation = FirewallExplainer.FromRule(rule, _in.Uid);
            }

            var steps = ImdsProbe.Classify(probe, _in.Platform, explanation, Array.Empty<string>(), _in.Uid);
            var failed = steps.FirstOrDefault(s => s.Status == ProbeStatus.Fail);
            if (failed is null)
            {
                return F(DiagnosisCheck.IPv6, FindingStatus.Pass, "Ok", $"The IPv6 endpoint {probe.Endpoint} answers.", evidence: steps.SelectMany(s => s.Evidence));
            }

            bool enabled = _in.MetadataOptions?.HttpProtocolIpv6 == FeatureState.Enabled;
            if (explanation is not null)
            {
                return F(DiagnosisCheck.IPv6, FindingStatus.Fail, failed.Outcome.ToString(), $"IPv6 endpoint: {failed.Detail}", failed.Cause,
                    "Get-ImdsFirewallRule -AddressFamily IPv6 | Where-Object Blocks | Remove-ImdsFirewallRule", failed.ShellCommand, failed.Evidence);
            }

            string cause = failed.Cause ?? "The IPv6 endpoint did not answer.";
            if (!enabled && !cause.Contains("HttpProtocolIpv6", StringComparison.Ordinal))
            {
                cause += " The IPv6 endpoint answers only on Nitro instances with HttpProtocolIpv6 enabled.";
            }

            return F(DiagnosisCheck.IPv6, FindingStatus.Fail, failed.Outcome.ToString(), $"IPv6 endpoint: {failed.Detail}", cause,
                enabled ? failed.RelatedCommand : $"Set-ImdsMetadataOption {InstanceArgs} -HttpProtocolIpv6 Enabled",
                enabled ? failed.ShellCommand : $"aws ec2 modify-instance-metadata-options --instance-id {CliInstance} --http-protocol-ipv6 enabled", failed.Evidence);
        }

        public ImdsFinding Collection() =>
            F(DiagnosisCheck.Collection, FindingStatus.Warn, "EvidenceIncomplete", $"Some evidence could not be gathered ({_in.CollectionNotes.Count} note(s)); findings rest on the rest.",
                evidence: _in.CollectionNotes);
    }
}
