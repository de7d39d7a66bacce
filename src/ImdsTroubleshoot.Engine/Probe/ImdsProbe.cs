using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Platform;
using ImdsTroubleshoot.Engine.Proxy;

namespace ImdsTroubleshoot.Engine.Probe;

public sealed class ImdsProbeOptions
{
    /// <summary>Endpoints to probe (base URIs); each gets its own Connect/Token/Metadata steps.</summary>
    public IReadOnlyList<Uri> Endpoints { get; init; } = new[] { ImdsDefaults.IPv4Endpoint };

    /// <summary>Where the first endpoint came from (for the Environment step).</summary>
    public string EndpointSource { get; init; } = "default";

    /// <summary>Time limit of each step.</summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Extra metadata paths to test (content is never shown).</summary>
    public IReadOnlyList<string> Paths { get; init; } = Array.Empty<string>();

    public IDictionary? Environment { get; init; }

    public PlatformInfo? Platform { get; init; }

    /// <summary>Explains a proxy the environment sets for IMDS traffic, or null when there is none.</summary>
    public Func<IDictionary, ProxyFinding?> ProxyInspector { get; init; } = ProbeProxyInspector.Inspect;

    /// <summary>Explains a failed connect (by default: the local firewall rule behind it); null turns it off.</summary>
    public Func<ProbeOutcome, Uri, CancellationToken, Task<ConnectExplanation>>? ConnectFailureExplainer { get; init; } = FirewallExplainer.ExplainAsync;

    /// <summary>
    /// Starts a measurement before an endpoint is probed and, completed after, says what it saw: by default the ENA
    /// counter linklocal_allowance_exceeded before and after the probe. Its text joins the evidence of throttling and
    /// no-response results. Null turns it off.
    /// </summary>
    public Func<CancellationToken, Func<CancellationToken, ThrottleObservation>>? ThrottleWindow { get; init; } = EnaWindow;

    /// <summary>The ENA counter window (reads the kernel's ethtool statistics; never throws for "no ENA here").</summary>
    public static Func<CancellationToken, ThrottleObservation> EnaWindow(CancellationToken ct)
    {
        var probe = Ena.EnaStatistics.StartProbe(ct);
        return done =>
        {
            var change = probe.Complete(done);
            return new ThrottleObservation(change.Throttled, change.Summary);
        };
    }
}

/// <summary>Why a connect failed, when something could tell: evidence lines, and a cause and fix that replace the generic ones.</summary>
public sealed record ConnectExplanation(IReadOnlyList<string> Evidence, string? Cause = null, string? Remediation = null, string? ShellCommand = null);

/// <summary>What a throttle window saw while an endpoint was probed.</summary>
public sealed record ThrottleObservation(bool DropsSeen, string Summary);

/// <summary>A proxy that proxy-honouring clients would use for IMDS.</summary>
public sealed record ProxyFinding(string Variable, string MaskedProxy, string Source, string Detail);

/// <summary>
/// Probes the metadata service as the AWS article's manual checks do, each step bounded in time, and names
/// the likely cause and fix of each failure. Never uses a proxy; never shows a token or a credential.
/// </summary>
public static class ImdsProbe
{
    private const string FirewallShell = "sudo iptables -L OUTPUT -n -v --line-numbers; sudo nft list ruleset";

    public static async Task<IReadOnlyList<ImdsProbeResult>> RunAsync(ImdsProbeOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        IDictionary environment = options.Environment ?? System.Environment.GetEnvironmentVariables();
        PlatformInfo platform = options.Platform ?? PlatformInfo.Detect(environment: environment);
        var results = new List<ImdsProbeResult> { EnvironmentStep(options, environment) };
        foreach (Uri endpoint in options.Endpoints)
        {
            results.AddRange(await ProbeEndpointAsync(endpoint, options, platform, cancellationToken).ConfigureAwait(false));
        }

        return results;
    }

    private static ImdsProbeResult EnvironmentStep(ImdsProbeOptions options, IDictionary environment)
    {
        var evidence = new List<string>
        {
            $"endpoint: {string.Join(", ", options.Endpoints)} ({options.EndpointSource})",
            "this probe connects directly and never uses a proxy",
        };
        if (ImdsEndpointResolver.IsDisabledByEnvironment(environment))
        {
            return new ImdsProbeResult(ProbeStep.Environment, null, null, ProbeStatus.Warn, ProbeOutcome.DisabledByEnvironment, 0, TimeSpan.Zero,
                "AWS_EC2_METADATA_DISABLED=true: AWS SDKs and the AWS CLI in this environment never contact IMDS.",
                "The environment turns the SDKs' IMDS client off, so they find no instance credentials or Region.",
                "Unset AWS_EC2_METADATA_DISABLED where clients should use the instance role.",
                null, "unset AWS_EC2_METADATA_DISABLED", evidence);
        }

        ProxyFinding? proxy = options.ProxyInspector(environment);
        if (proxy is not null)
        {
            evidence.Add(proxy.Detail);
            return new ImdsProbeResult(ProbeStep.Environment, null, null, ProbeStatus.Warn, ProbeOutcome.ProxyInEnvironment, 0, TimeSpan.Zero,
                $"{proxy.Variable}={proxy.MaskedProxy} (from {proxy.Source}) is not bypassed for 169.254.169.254: clients that honour it send IMDS requests to the proxy.",
                "The proxy cannot reach the instance's link-local IMDS (or adds X-Forwarded-For, which IMDS answers with 403): \"Unable to locate credentials\".",
                "Add 169.254.169.254 and fd00:ec2::254 to NO_PROXY and no_proxy.",
                "Get-ImdsProxyConfiguration; Repair-ImdsProxy", "export NO_PROXY=169.254.169.254,fd00:ec2::254,[fd00:ec2::254] no_proxy=169.254.169.254,fd00:ec2::254,[fd00:ec2::254]", evidence);
        }

        return new ImdsProbeResult(ProbeStep.Environment, null, null, ProbeStatus.Pass, ProbeOutcome.Ok, 0, TimeSpan.Zero,
            "No proxy and no AWS_EC2_METADATA_* setting stands between clients and IMDS.", null, null, null, null, evidence);
    }

    private static async Task<IReadOnlyList<ImdsProbeResult>> ProbeEndpointAsync(Uri endpoint, ImdsProbeOptions options, PlatformInfo platform, CancellationToken ct)
    {
        var window = options.ThrottleWindow?.Invoke(ct);
        ProbeObservation observed = await ObserveAsync(endpoint, options.StepTimeout, options.Paths, ct).ConfigureAwait(false);
        ThrottleObservation? throttle = window?.Invoke(ct);
        ConnectExplanation? explanation = null;
        if (!observed.Connected && options.ConnectFailureExplainer is not null)
        {
            explanation = await options.ConnectFailureExplainer(ConnectOutcome(observed.Connect), endpoint, ct).ConfigureAwait(false);
        }

        IReadOnlyList<string> throttleEvidence = throttle is not null && (observed.LooksThrottled || throttle.DropsSeen)
            ? new[] { throttle.Summary }
            : Array.Empty<string>();

        return Classify(observed, platform, explanation, throttleEvidence);
    }

    /// <summary>
    /// The network part of a probe: TCP connect, token PUT, GET with the token, GET without (on a fresh connection: a
    /// hop-limited connection keeps its TTL), and the named paths, each bounded by <paramref name="timeout"/>.
    /// </summary>
    public static async Task<ProbeObservation> ObserveAsync(Uri endpoint, TimeSpan timeout, IReadOnlyList<string> paths, CancellationToken ct)
    {
        var normalized = paths.Select(ImdsClient.NormalizePath).ToList();
        var connect = await ImdsHttpTransport.ConnectOnlyAsync(endpoint, timeout, ct).ConfigureAwait(false);
        if (connect.Outcome != ImdsTransportOutcome.Response)
        {
            return new ProbeObservation(endpoint, timeout, connect, null, null, null, normalized.Select(p => new PathObservation(p, null, false)).ToList());
        }

        using var transport = new ImdsHttpTransport(maxResponseBytes: 1024 * 1024);
        var tokenHeaders = new[] { new KeyValuePair<string, string>(ImdsDefaults.TokenTtlHeader, "21600") };
        var put = await transport.SendAsync(HttpMethod.Put, ImdsEndpointResolver.Combine(endpoint, ImdsDefaults.TokenPath), tokenHeaders, timeout, ct).ConfigureAwait(false);
        string? token = put.IsSuccess && put.Body.Trim().Length > 0 ? put.Body.Trim() : null;
        var withToken = token is null ? null : new[] { new KeyValuePair<string, string>(ImdsDefaults.TokenHeader, token) };
        ImdsHttpResult? v2 = null;
        if (withToken is not null)
        {
            v2 = await transport.SendAsync(HttpMethod.Get, ImdsEndpointResolver.Combine(endpoint, "/latest/meta-data/"), withToken, timeout, ct).ConfigureAwait(false);
        }

        ImdsHttpResult v1;
        using (var fresh = new ImdsHttpTransport(maxResponseBytes: 1024 * 1024))
        {
            v1 = await fresh.SendAsync(HttpMethod.Get, ImdsEndpointResolver.Combine(endpoint, "/latest/meta-data/"), null, timeout, ct).ConfigureAwait(false);
        }

        var pathResults = new List<PathObservation>();
        foreach (string path in normalized)
        {
            var r = await transport.SendAsync(HttpMethod.Get, ImdsEndpointResolver.Combine(endpoint, path), withToken, timeout, ct).ConfigureAwait(false);
            pathResults.Add(new PathObservation(path, r, withToken is not null));
        }

        return new ProbeObservation(endpoint, timeout, connect, put, v2, v1, pathResults);
    }

    /// <summary>Turns what was observed (here or by a remote collector) into step results with causes and fixes.</summary>
    /// <param name="uid">The uid the probe ran as (a remote collector's); null: this process's.</param>
    public static IReadOnlyList<ImdsProbeResult> Classify(ProbeObservation o, PlatformInfo platform, ConnectExplanation? connectExplanation, IReadOnlyList<string> throttleEvidence, uint? uid = null)
    {
        ArgumentNullException.ThrowIfNull(o);
        var results = new List<ImdsProbeResult>();
        Uri endpoint = o.Endpoint;
        string seconds = o.StepTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        if (!o.Connected)
        {
            results.Add(ConnectFailure(endpoint, o.Connect, platform, seconds, connectExplanation, uid));
            foreach (var step in new[] { ProbeStep.Token, ProbeStep.MetadataV2, ProbeStep.MetadataV1 })
            {
                results.Add(Skipped(step, endpoint, null, "no TCP connection to the endpoint"));
            }

            foreach (var path in o.Paths)
            {
                results.Add(Skipped(ProbeStep.Path, endpoint, path.Path, "no TCP connection to the endpoint"));
            }

            return results;
        }

        results.Add(new ImdsProbeResult(ProbeStep.Connect, endpoint, null, ProbeStatus.Pass, ProbeOutcome.Ok, 0, o.Connect.Elapsed,
            $"TCP connection to {endpoint.Authority} in {Ms(o.Connect.Elapsed)}.", null, null, null, null, new[] { o.Connect.Message ?? string.Empty }));
        ImdsHttpResult put = o.Put!;
        ImdsHttpResult v1 = o.GetV1!;
        results.Add(TokenStep(endpoint, put, v1, platform, seconds, throttleEvidence));
        results.Add(o.GetV2 is null
            ? Skipped(ProbeStep.MetadataV2, endpoint, "/latest/meta-data/", "no token")
            : GetStep(ProbeStep.MetadataV2, endpoint, "/latest/meta-data/", o.GetV2, withToken: true, seconds, throttleEvidence));
        results.Add(V1Step(endpoint, v1, put, seconds, throttleEvidence));
        foreach (var path in o.Paths)
        {
            results.Add(path.Result is null
                ? Skipped(ProbeStep.Path, endpoint, path.Path, "not observed")
                : GetStep(ProbeStep.Path, endpoint, path.Path, path.Result, path.WithToken, seconds, throttleEvidence, endpointDisabled: put.StatusCode == 403 && v1.StatusCode == 403));
        }

        return results;
    }

    private static ProbeOutcome ConnectOutcome(ImdsHttpResult connect) => connect.Outcome switch
    {
        ImdsTransportOutcome.ConnectionRefused => ProbeOutcome.ConnectionRefused,
        ImdsTransportOutcome.Unreachable => ProbeOutcome.Unreachable,
        ImdsTransportOutcome.AccessDenied => ProbeOutcome.AccessDenied,
        _ => ProbeOutcome.ConnectTimeout,
    };

    private static ImdsProbeResult ConnectFailure(Uri endpoint, ImdsHttpResult connect, PlatformInfo platform, string seconds, ConnectExplanation? explanation, uint? uid)
    {
        var evidence = new List<string> { connect.Message ?? connect.Outcome.ToString(), $"uid {uid?.ToString(CultureInfo.InvariantCulture) ?? CurrentUid()}" };
        ProbeOutcome outcome = ConnectOutcome(connect);
        evidence.AddRange(explanation?.Evidence ?? Array.Empty<string>());
        if (explanation?.Cause is { } ruleCause)
        {
            // A rule explains it: that is the cause, whatever the platform says.
            evidence.AddRange(platform.Evidence);
            string what = outcome switch
            {
                ProbeOutcome.ConnectionRefused => $"Connection to {endpoint.Authority} refused after {Ms(connect.Elapsed)}.",
                ProbeOutcome.ConnectTimeout => $"No TCP connection to {endpoint.Authority} within {seconds} s (plain curl would wait about 2 minutes).",
                _ => $"The system reported {endpoint.Host} unreachable or not permitted ({connect.Message}).",
            };
            return new ImdsProbeResult(ProbeStep.Connect, endpoint, null, ProbeStatus.Fail, outcome, 0, connect.Elapsed, what, ruleCause,
                explanation.Remediation, "Get-ImdsFirewallRule | Where-Object Blocks | Remove-ImdsFirewallRule", explanation.ShellCommand, evidence);
        }


        evidence.AddRange(platform.Evidence);
        bool notEc2 = platform.Verdict == PlatformVerdict.NotEc2;
        bool ipv6 = endpoint.HostNameType == UriHostNameType.IPv6;
        const string ipv6Note = " On the IPv6 endpoint, also: it answers only when the instance's HttpProtocolIpv6 is enabled (Nitro instances).";
        return outcome switch
        {
            ProbeOutcome.ConnectionRefused => new ImdsProbeResult(ProbeStep.Connect, endpoint, null, ProbeStatus.Fail, ProbeOutcome.ConnectionRefused, 0, connect.Elapsed,
                $"Connection to {endpoint.Authority} refused after {Ms(connect.Elapsed)} (curl: \"(7) Failed to connect ... Connection refused\").",
                notEc2
                    ? "Nothing answers at the metadata address and this machine does not look like an EC2 instance; on EC2, a local firewall REJECT rule is the usual cause."
                    : "A local firewall REJECT rule for this traffic, often limited to some users (iptables -m owner --uid-owner 1000-10000 -j REJECT)." + (ipv6 ? ipv6Note : string.Empty),
                "Find the rule and delete it (and from the saved rules file).", "Get-ImdsFirewallRule; Remove-ImdsFirewallRule",
                "sudo iptables -L OUTPUT -n --line-numbers; sudo iptables -D OUTPUT -p tcp -d 169.254.169.254 -m owner --uid-owner 1000-10000 -j REJECT", evidence),
            ProbeOutcome.Unreachable or ProbeOutcome.AccessDenied => new ImdsProbeResult(ProbeStep.Connect, endpoint, null, ProbeStatus.Fail, outcome, 0, connect.Elapsed,
                $"The system reported {endpoint.Host} {(outcome == ProbeOutcome.Unreachable ? "unreachable" : "not permitted")} ({connect.Message}).",
                outcome == ProbeOutcome.Unreachable
                    ? "No route to the link-local address, or a firewall REJECT rule answering with an ICMP unreachable type (e.g. icmp-host-prohibited)."
                    : "A local firewall rule rejects this traffic (on IPv6 an admin-prohibited reject surfaces as 'Permission denied').",
                "Check the routes (ip route get 169.254.169.254) and the local firewall.", "Get-ImdsFirewallRule",
                "ip route get " + endpoint.Host.Trim('[', ']') + "; " + FirewallShell, evidence),
            _ => notEc2
                ? new ImdsProbeResult(ProbeStep.Connect, endpoint, null, ProbeStatus.Fail, ProbeOutcome.NotAnEc2Instance, 0, connect.Elapsed,
                    $"No TCP connection to {endpoint.Authority} within {seconds} s, and this machine does not look like an EC2 instance.",
                    "IMDS exists only on EC2 instances (DMI says another vendor).",
                    "Run this on the instance, or against the embedded emulator (Start-ImdsEmulator / imds-troubleshoot --emulator).", "Start-ImdsEmulator",
                    "cat /sys/class/dmi/id/sys_vendor", evidence)
                : new ImdsProbeResult(ProbeStep.Connect, endpoint, null, ProbeStatus.Fail, ProbeOutcome.ConnectTimeout, 0, connect.Elapsed,
                    $"No TCP connection to {endpoint.Authority} within {seconds} s (plain curl would wait about 2 minutes).",
                    "A local firewall DROP rule, a missing route to the endpoint, or not an EC2 instance." + (ipv6 ? ipv6Note : string.Empty),
                    "Look for a DROP rule; check the route; check that this is an EC2 instance.", "Get-ImdsFirewallRule",
                    FirewallShell + "; ip route get " + endpoint.Host.Trim('[', ']'), evidence),
        };
    }

    private static ImdsProbeResult TokenStep(Uri endpoint, ImdsHttpResult put, ImdsHttpResult v1, PlatformInfo platform, string seconds, IReadOnlyList<string> throttleEvidence)
    {
        var evidence = new List<string> { "PUT " + ImdsDefaults.TokenPath + ": " + put };
        if (put.IsSuccess && put.Body.Trim().Length > 0)
        {
            evidence[0] = $"PUT {ImdsDefaults.TokenPath}: HTTP {put.StatusCode}, a token of {put.Body.Trim().Length} characters (not shown), TTL {put.Header(ImdsDefaults.TokenTtlHeader) ?? "?"} s";
            return new ImdsProbeResult(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, ProbeStatus.Pass, ProbeOutcome.Ok, put.StatusCode, put.Elapsed,
                $"IMDSv2 token issued in {Ms(put.Elapsed)}.", null, null, null, null, evidence);
        }

        bool v1Answered = v1.Outcome == ImdsTransportOutcome.Response && v1.StatusCode is 200 or 401;
        evidence.Add("GET /latest/meta-data/ without a token: " + v1);
        if (put.Outcome == ImdsTransportOutcome.ResponseTimeout)
        {
            if (v1Answered)
            {
                evidence.AddRange(platform.ContainerEvidence);
                return new ImdsProbeResult(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, ProbeStatus.Fail, ProbeOutcome.HopLimitExceeded, 0, put.Elapsed,
                    $"Connected, but the token PUT got no answer within {seconds} s, while a GET without a token answered in {Ms(v1.Elapsed)}.",
                    "The instance's HttpPutResponseHopLimit is too low for where this runs: the token response leaves IMDS with IP TTL = hop limit and expires on the way. A container on a bridge or a pod is one hop further than the instance, so hop limit 1 never reaches it"
                        + (platform.InContainer ? " (this process looks containerised)." : "."),
                    "Set the hop limit to 2 (containers) for this instance, or run with host networking.",
                    "Set-ImdsMetadataOption -HttpPutResponseHopLimit 2",
                    "aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID --http-put-response-hop-limit 2 --http-endpoint enabled", evidence);
            }

            evidence.AddRange(throttleEvidence);
            return new ImdsProbeResult(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, ProbeStatus.Fail, ProbeOutcome.NoResponse, 0, put.Elapsed,
                $"Connected, but neither the token PUT nor a plain GET got an answer within {seconds} s.",
                "Requests are being dropped after the connection: throttling (IMDS traffic past 1024 packets/s per interface is dropped silently), or a very slow or overloaded service.",
                "Back off and retry with jitter; cache metadata; look at linklocal_allowance_exceeded.", "Get-EnaLinkLocalStat",
                "ethtool -S eth0 | grep linklocal_allowance_exceeded", evidence);
        }

        if (put.Outcome != ImdsTransportOutcome.Response)
        {
            return TransportFailure(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, put, seconds, evidence);
        }

        return put.StatusCode switch
        {
            403 when v1.StatusCode == 403 => new ImdsProbeResult(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, ProbeStatus.Fail, ProbeOutcome.EndpointDisabled, 403, put.Elapsed,
                "HTTP 403 Forbidden for the token PUT and for a plain GET: the metadata service is turned off for this instance.",
                "The instance's HttpEndpoint is disabled (instance metadata options).",
                "Turn the endpoint on.", "Get-ImdsMetadataOption; Set-ImdsMetadataOption -HttpEndpoint Enabled",
                "aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID --http-endpoint enabled", evidence),
            403 => new ImdsProbeResult(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, ProbeStatus.Fail, ProbeOutcome.ForwardedForRejected, 403, put.Elapsed,
                "HTTP 403 Forbidden for the token PUT while a plain GET is answered.",
                "IMDS refuses token requests that carry X-Forwarded-For: something between this process and IMDS (a transparent proxy, kube2iam/kiam, an HTTP proxy) adds it.",
                "Send IMDS traffic directly (exempt 169.254.169.254 from the proxy) or have the interceptor strip X-Forwarded-For.",
                "Get-ImdsProxyConfiguration; Get-ImdsFirewallRule", "sudo iptables -t nat -S | grep 169.254.169.254", evidence),
            400 => new ImdsProbeResult(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, ProbeStatus.Fail, ProbeOutcome.BadTokenRequest, 400, put.Elapsed,
                "HTTP 400 Bad Request for a token PUT with a valid TTL header.",
                "Something between this process and IMDS changed the request (the TTL header must be an integer 1..21600).",
                "Look for an interceptor in the path; clients must send X-aws-ec2-metadata-token-ttl-seconds.", "Get-ImdsFirewallRule",
                "curl -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' http://169.254.169.254/latest/api/token", evidence),
            404 or 405 => new ImdsProbeResult(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, ProbeStatus.Fail, put.StatusCode == 404 ? ProbeOutcome.NotFound : ProbeOutcome.MethodNotAllowed, put.StatusCode, put.Elapsed,
                $"HTTP {put.StatusCode} for the token PUT: this endpoint does not offer IMDSv2.",
                "The endpoint is not the EC2 metadata service (an old mock or another server), or something in the path blocks PUT.",
                "Check AWS_EC2_METADATA_SERVICE_ENDPOINT and what answers at the address.", null, "curl -v -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' " + endpoint + "latest/api/token", evidence),
            429 or 503 => Throttled(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, put, evidence.Concat(throttleEvidence).ToList()),
            _ => new ImdsProbeResult(ProbeStep.Token, endpoint, ImdsDefaults.TokenPath, ProbeStatus.Fail, ProbeOutcome.HttpError, put.StatusCode, put.Elapsed,
                $"HTTP {put.StatusCode} for the token PUT.", "An unexpected answer from the endpoint.", "Check what answers at the address.", null, null, evidence),
        };
    }

    private static ImdsProbeResult V1Step(Uri endpoint, ImdsHttpResult v1, ImdsHttpResult put, string seconds, IReadOnlyList<string> throttleEvidence)
    {
        const string path = "/latest/meta-data/";
        var evidence = new List<string> { "GET " + path + " without a token: " + v1 };
        if (v1.Outcome == ImdsTransportOutcome.Response)
        {
            switch (v1.StatusCode)
            {
                case 200:
                    return new ImdsProbeResult(ProbeStep.MetadataV1, endpoint, path, ProbeStatus.Pass, ProbeOutcome.ImdsV1Allowed, 200, v1.Elapsed,
                        $"IMDSv1 (no token) answers in {Ms(v1.Elapsed)}: HttpTokens is optional on this instance.", null,
                        "IMDSv1 works; AWS recommends requiring IMDSv2 once every client sends tokens (Get-ImdsEmulatorLog helps find IMDSv1 callers in tests).",
                        "Set-ImdsMetadataOption -HttpTokens Required", "aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID --http-tokens required", evidence);
                case 401:
                    return new ImdsProbeResult(ProbeStep.MetadataV1, endpoint, path, ProbeStatus.Warn, ProbeOutcome.TokensRequired, 401, v1.Elapsed,
                        "HTTP 401 Unauthorized without a token: this instance requires IMDSv2 (HttpTokens=required).",
                        "Clients that do not send a token (old SDKs, curl without the token header, scripts) get 401 and find no metadata or credentials.",
                        "Update those clients to IMDSv2 (token PUT, then X-aws-ec2-metadata-token on each GET); only if you must, allow IMDSv1 again.",
                        "Set-ImdsMetadataOption -HttpTokens Optional",
                        "TOKEN=$(curl -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' http://169.254.169.254/latest/api/token); curl -H \"X-aws-ec2-metadata-token: $TOKEN\" http://169.254.169.254/latest/meta-data/", evidence);
                case 403 when put.StatusCode == 403:
                    return new ImdsProbeResult(ProbeStep.MetadataV1, endpoint, path, ProbeStatus.Fail, ProbeOutcome.EndpointDisabled, 403, v1.Elapsed,
                        "HTTP 403 Forbidden: the metadata service is turned off for this instance (HttpEndpoint=disabled).",
                        "The instance's HttpEndpoint is disabled.", "Turn the endpoint on.", "Set-ImdsMetadataOption -HttpEndpoint Enabled",
                        "aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID --http-endpoint enabled", evidence);
            }
        }

        if (v1.Outcome == ImdsTransportOutcome.ResponseTimeout && put.Outcome == ImdsTransportOutcome.ResponseTimeout)
        {
            evidence.AddRange(throttleEvidence);
            return new ImdsProbeResult(ProbeStep.MetadataV1, endpoint, path, ProbeStatus.Fail, ProbeOutcome.NoResponse, 0, v1.Elapsed,
                $"No answer within {seconds} s after connecting.", "Requests are dropped: throttling or an overloaded service.",
                "Back off and retry with jitter; cache metadata.", "Get-EnaLinkLocalStat", "ethtool -S eth0 | grep linklocal_allowance_exceeded", evidence);
        }

        return GetStep(ProbeStep.MetadataV1, endpoint, path, v1, withToken: false, seconds, throttleEvidence);
    }

    private static ImdsProbeResult GetStep(ProbeStep step, Uri endpoint, string path, ImdsHttpResult r, bool withToken, string seconds, IReadOnlyList<string> throttleEvidence, bool endpointDisabled = false)
    {
        var evidence = new List<string> { $"GET {path} {(withToken ? "with the token" : "without a token")}: {r}" };
        if (r.Outcome != ImdsTransportOutcome.Response)
        {
            evidence.AddRange(throttleEvidence);
            return TransportFailure(step, endpoint, path, r, seconds, evidence);
        }

        if (r.IsSuccess)
        {
            return new ImdsProbeResult(step, endpoint, path, ProbeStatus.Pass, ProbeOutcome.Ok, r.StatusCode, r.Elapsed,
                step == ProbeStep.Path ? $"{path} answers: {r.Body.Length} bytes (content not shown)." : $"Metadata readable {(withToken ? "with the token" : "without a token")} in {Ms(r.Elapsed)}.",
                null, null, null, null, evidence);
        }

        return r.StatusCode switch
        {
            401 when withToken => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.TokenRejected, 401, r.Elapsed,
                "HTTP 401 Unauthorized with a token the service had just issued.",
                "The token was not accepted: it expired, came from another instance's service, or something in the path changed it.",
                "Request a new token and send it unchanged in X-aws-ec2-metadata-token.", "Test-ImdsEndpoint", null, evidence),
            401 => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.TokensRequired, 401, r.Elapsed,
                "HTTP 401 Unauthorized without a token: IMDSv2 is required.", "HttpTokens=required and the request had no token.",
                "Use IMDSv2.", null, null, evidence),
            403 when endpointDisabled => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.EndpointDisabled, 403, r.Elapsed,
                $"HTTP 403 Forbidden for {path}: the metadata service is turned off for this instance.",
                "The instance's HttpEndpoint is disabled.", "Turn the endpoint on.", "Set-ImdsMetadataOption -HttpEndpoint Enabled",
                "aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID --http-endpoint enabled", evidence),
            403 when !withToken => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.HttpError, 403, r.Elapsed,
                $"HTTP 403 Forbidden for {path} without a token.",
                "The request was not allowed.", "Run the probe again after fixing the token step.", "Test-ImdsEndpoint", null, evidence),
            403 => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.ForwardedForRejected, 403, r.Elapsed,
                "HTTP 403 Forbidden for a GET while the token was issued.",
                "The request was not allowed: requests carrying X-Forwarded-For (added by a proxy or interceptor) can be refused.",
                "Send IMDS traffic directly, without a proxy.", "Get-ImdsProxyConfiguration", null, evidence),
            404 => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.NotFound, 404, r.Elapsed,
                $"HTTP 404 Not Found for {path}.",
                path.Contains("/tags/", StringComparison.Ordinal) ? "Instance tags are served only when InstanceMetadataTags=enabled."
                    : path.Contains("/iam/", StringComparison.Ordinal) ? "The instance has no IAM role (instance profile) attached, or the role name is wrong."
                    : "The path does not exist (a typo in the URL is the usual cause of IMDSv1 404s).",
                path.Contains("/tags/", StringComparison.Ordinal) ? "Enable tags in metadata." : "Check the path: list the folder first (a path ending in '/').",
                path.Contains("/tags/", StringComparison.Ordinal) ? "Set-ImdsMetadataOption -InstanceMetadataTags Enabled" : "Get-ImdsMetadata -Path " + ParentOf(path),
                "curl -H \"X-aws-ec2-metadata-token: $TOKEN\" http://169.254.169.254" + ParentOf(path), evidence),
            405 => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.MethodNotAllowed, 405, r.Elapsed,
                "HTTP 405 Method Not Allowed.", "Only GET and HEAD read metadata; PUT is for the token path only.", "Use GET.", null, null, evidence),
            429 or 503 => Throttled(step, endpoint, path, r, evidence.Concat(throttleEvidence).ToList()),
            _ => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.HttpError, r.StatusCode, r.Elapsed,
                $"HTTP {r.StatusCode} for {path}.", "An unexpected answer from the endpoint.", "Retry; check what answers at the address.", null, null, evidence),
        };
    }

    private static ImdsProbeResult Throttled(ProbeStep step, Uri endpoint, string path, ImdsHttpResult r, List<string> evidence) =>
        new(step, endpoint, path, ProbeStatus.Fail, r.StatusCode == 429 ? ProbeOutcome.Throttled : ProbeOutcome.ServiceUnavailable, r.StatusCode, r.Elapsed,
            $"HTTP {r.StatusCode} {(r.StatusCode == 429 ? "Too Many Requests" : "Service Unavailable")}: the metadata service is throttling this instance.",
            "Too many requests to IMDS from this instance (per-instance request limits; past 1024 packets/s per interface, link-local traffic is dropped).",
            "Cache metadata and credentials; retry with exponential back-off and jitter; find the client that polls (Get-ImdsMetadata paces itself).",
            "Get-EnaLinkLocalStat", "ethtool -S eth0 | grep linklocal_allowance_exceeded", evidence);

    private static ImdsProbeResult TransportFailure(ProbeStep step, Uri endpoint, string path, ImdsHttpResult r, string seconds, List<string> evidence) => r.Outcome switch
    {
        ImdsTransportOutcome.ResponseTimeout => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.NoResponse, 0, r.Elapsed,
            $"No answer within {seconds} s after connecting.",
            "The request was dropped or the service is slow: throttling (silent drops past 1024 packets/s), or an overloaded service.",
            "Back off and retry with jitter; cache metadata.", "Get-EnaLinkLocalStat", "ethtool -S eth0 | grep linklocal_allowance_exceeded", evidence),
        ImdsTransportOutcome.ConnectionRefused => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.ConnectionRefused, 0, r.Elapsed,
            "Connection refused.", "A local firewall REJECT rule.", "Find and delete the rule.", "Get-ImdsFirewallRule", FirewallShell, evidence),
        ImdsTransportOutcome.ConnectTimeout => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.ConnectTimeout, 0, r.Elapsed,
            $"No TCP connection within {seconds} s.", "A DROP rule, or the service stopped accepting connections (connection limits under load).",
            "Retry with back-off; check the firewall.", "Get-ImdsFirewallRule", FirewallShell, evidence),
        _ => new ImdsProbeResult(step, endpoint, path, ProbeStatus.Fail, ProbeOutcome.InvalidResponse, 0, r.Elapsed,
            $"The answer was not valid HTTP ({r.Outcome}: {r.Message}).",
            "Something other than the metadata service answers at this address, or the connection was cut.",
            "Check what listens at the address (AWS_EC2_METADATA_SERVICE_ENDPOINT, a proxy or DNAT rule).", "Get-ImdsFirewallRule",
            "sudo iptables -t nat -S | grep 169.254.169.254", evidence),
    };

    private static ImdsProbeResult Skipped(ProbeStep step, Uri endpoint, string? path, string why) =>
        new(step, endpoint, path, ProbeStatus.Skipped, ProbeOutcome.NotTested, 0, TimeSpan.Zero, "Not tested: " + why + ".", null, null, null, null, new[] { why });

    private static string ParentOf(string path)
    {
        string trimmed = path.TrimEnd('/');
        int slash = trimmed.LastIndexOf('/');
        return slash <= 0 ? "/latest/meta-data/" : trimmed.Substring(0, slash + 1);
    }

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms";

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();

    internal static uint? EffectiveUid()
    {
        try
        {
            return GetEuid();
        }
        catch (DllNotFoundException)
        {
            return null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    private static string CurrentUid()
    {
        try
        {
            return GetEuid().ToString(CultureInfo.InvariantCulture);
        }
        catch (DllNotFoundException)
        {
            return "?";
        }
        catch (EntryPointNotFoundException)
        {
            return "?";
        }
    }
}

/// <summary>
/// The probe's proxy check, on the proxy engine: for each client family, would IMDS requests from this environment
/// go through a proxy, and which file line (or the process environment) sets it.
/// </summary>
public static class ProbeProxyInspector
{
    private static readonly ProxyClientFamily[] Families =
    {
        ProxyClientFamily.Botocore, ProxyClientFamily.Go, ProxyClientFamily.DotNet, ProxyClientFamily.Curl, ProxyClientFamily.PythonRequests,
    };

    public static ProxyFinding? Inspect(IDictionary environment)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is string key && entry.Value is string value)
            {
                env[key] = value;
            }
        }

        IReadOnlyList<ImdsProxySetting>? settings = null;
        try
        {
            settings = ProxyInspector.Inspect(new ProxyScanOptions { IncludeRunningProcesses = false, ProcessEnvironment = env }).Settings;
        }
        catch (Exception ex) when (ex is System.IO.IOException or UnauthorizedAccessException)
        {
            // Without the files, the finding still names the variable; only its source stays "process environment".
        }

        // The IPv4 endpoint decides here: NO_PROXY=169.254.169.254 (the article's fix) is enough for it; a missing
        // fd00:ec2::254 matters only where the IPv6 endpoint is used (Invoke-ImdsDiagnosis warns about it).
        var proxied = Families.Select(f => ProxyInspector.FindProxyForImds(env, settings, f))
            .Where(s => s.Variable is not null && !ProxyFamilyVerdict.IsDirect(s.Verdict.Ipv4)).ToList();
        if (proxied.Count == 0)
        {
            return null;
        }

        var first = proxied[0];
        string families = string.Join(", ", proxied.Select(p => p.Verdict.Family));
        return new ProxyFinding(first.Variable!, first.ProxyUrl ?? string.Empty, first.Setting?.Location ?? "the process environment",
            $"{first.Description}; client families that would send IMDS requests to the proxy: {families}");
    }
}
