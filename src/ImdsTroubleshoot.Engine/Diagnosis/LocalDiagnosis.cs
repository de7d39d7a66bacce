using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Engine.Platform;
using ImdsTroubleshoot.Engine.Probe;
using ImdsTroubleshoot.Engine.Proxy;

namespace ImdsTroubleshoot.Engine.Diagnosis;

/// <summary>When to ask the EC2 API for the instance's metadata options.</summary>
public enum Ec2ApiUse
{
    /// <summary>When this is an EC2 instance (DMI says so) talking to its own IMDS.</summary>
    Auto,

    /// <summary>Whenever the instance ID is known (IMDS, or given).</summary>
    Always,

    /// <summary>Never.</summary>
    Never,
}

public sealed class LocalDiagnosisOptions
{
    /// <summary>-Endpoint; null: AWS_EC2_METADATA_SERVICE_ENDPOINT, ..._MODE, or the default.</summary>
    public Uri? Endpoint { get; init; }

    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Also probe [fd00:ec2::254] (it is probed anyway when the metadata options say IPv6 is enabled).</summary>
    public bool IPv6 { get; init; }

    public Ec2ApiUse Ec2Api { get; init; } = Ec2ApiUse.Auto;

    /// <summary>The instance and Region to ask the EC2 API about when IMDS cannot tell.</summary>
    public string? InstanceId { get; init; }

    public string? Region { get; init; }

    /// <summary>Reads one instance's metadata options through the EC2 API; throws with a plain reason when it cannot.</summary>
    public Func<string, string?, CancellationToken, Task<ImdsMetadataOption?>>? ReadMetadataOptions { get; init; }

    public IDictionary? Environment { get; init; }

    public PlatformInfo? Platform { get; init; }

    public FirewallInspectorOptions? Firewall { get; init; }

    /// <summary>Set false to leave the firewall unread (it is read only as root anyway).</summary>
    public bool ReadFirewall { get; init; } = true;

    public bool ReadProxyFiles { get; init; } = true;

    public bool ReadEna { get; init; } = true;
}

/// <summary>Gathers a <see cref="DiagnosisInput"/> on this machine: probe, firewall, proxies, ENA counters, identity, metadata options.</summary>
public static class LocalDiagnosis
{
    public static async Task<DiagnosisInput> GatherAsync(LocalDiagnosisOptions options, Action<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        IDictionary rawEnvironment = options.Environment ?? System.Environment.GetEnvironmentVariables();
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in rawEnvironment)
        {
            if (e.Key is string k && e.Value is string v)
            {
                environment[k] = v;
            }
        }

        ImdsEndpointChoice choice = ImdsEndpointResolver.Resolve(options.Endpoint, rawEnvironment);
        PlatformInfo platform = options.Platform ?? PlatformInfo.Detect(environment: rawEnvironment);
        uint uid = ImdsProbe.EffectiveUid() ?? 0;

        progress?.Invoke("Probing " + choice.Endpoint);
        EnaLinkLocalProbe? ena = options.ReadEna ? EnaStatistics.StartProbe(ct) : null;
        ProbeObservation probe = await ImdsProbe.ObserveAsync(choice.Endpoint, options.StepTimeout, Array.Empty<string>(), ct).ConfigureAwait(false);

        string? instanceId = options.InstanceId;
        string? region = options.Region;
        var notes = new List<string>();
        if (probe.Connected && instanceId is null && (probe.Put?.IsSuccess == true || probe.GetV1?.IsSuccess == true))
        {
            progress?.Invoke("Reading the instance identity");
            try
            {
                // IMDSv1 is allowed here only to learn which instance this is when the token cannot arrive (hop limit).
                var identity = await new ImdsInstanceIdentitySource(choice.Endpoint, allowV1: true).TryGetAsync(ct).ConfigureAwait(false);
                instanceId = identity?.InstanceId;
                region ??= identity?.Region;
            }
            catch (InstanceIdentityUnavailableException ex)
            {
                notes.Add("instance identity: " + ex.Message);
            }
        }

        ImdsMetadataOption? metadataOptions = null;
        string? metadataOptionsUnavailable = null;
        bool endpointOverridden = choice.Source is "-Endpoint" or ImdsDefaults.EndpointEnvironmentVariable;
        bool askEc2 = options.Ec2Api switch
        {
            Ec2ApiUse.Always => true,
            Ec2ApiUse.Never => false,
            _ => platform.Verdict == PlatformVerdict.Ec2 && !endpointOverridden,
        };
        if (!askEc2)
        {
            metadataOptionsUnavailable = options.Ec2Api == Ec2ApiUse.Never
                ? "-Ec2Api Never"
                : "the EC2 API is asked only on an EC2 instance that uses its own IMDS (-Ec2Api Always asks anyway)";
        }
        else if (options.ReadMetadataOptions is null)
        {
            metadataOptionsUnavailable = "no EC2 API client";
        }
        else if (instanceId is null)
        {
            metadataOptionsUnavailable = "IMDS could not say which instance this is: read them with Get-ImdsMetadataOption -InstanceId ID -Region REGION";
        }
        else
        {
            progress?.Invoke("Reading the metadata options of " + instanceId + " from the EC2 API");
            try
            {
                metadataOptions = await options.ReadMetadataOptions(instanceId, region, ct).ConfigureAwait(false);
                metadataOptionsUnavailable = metadataOptions is null ? $"the EC2 API does not know {instanceId}" : null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                metadataOptionsUnavailable = "the EC2 API could not be asked: " + ex.Message;
            }
        }

        ProbeObservation? probeIpv6 = null;
        string? ipv6Skip = null;
        bool ipv6Enabled = metadataOptions?.HttpProtocolIpv6 == Emulator.FeatureState.Enabled;
        if (choice.Endpoint.HostNameType == UriHostNameType.IPv6)
        {
            ipv6Skip = "the endpoint itself is the IPv6 one (see Endpoint and Token)";
        }
        else if (options.IPv6 || ipv6Enabled)
        {
            progress?.Invoke("Probing " + ImdsDefaults.IPv6Endpoint);
            probeIpv6 = await ImdsProbe.ObserveAsync(ImdsDefaults.IPv6Endpoint, options.StepTimeout, Array.Empty<string>(), ct).ConfigureAwait(false);
        }
        else
        {
            ipv6Skip = metadataOptions is null
                ? "not asked (-IPv6), and the metadata options are not known"
                : "HttpProtocolIpv6 is disabled for this instance";
        }

        EnaLinkLocalChange? enaChange = ena?.Complete(ct);

        FirewallReport? firewall = null;
        string? firewallUnavailable = null;
        if (!options.ReadFirewall)
        {
            firewallUnavailable = "not read (asked not to)";
        }
        else if (uid != 0)
        {
            firewallUnavailable = "reading the firewall needs root (run with sudo)";
        }
        else
        {
            progress?.Invoke("Reading the firewall rules");
            try
            {
                firewall = new FirewallInspector(options.Firewall ?? new FirewallInspectorOptions())
                    .Inspect(new FirewallQuery { IncludeForward = true }, ct);
            }
            catch (FirewallAccessDeniedException)
            {
                firewallUnavailable = "reading the firewall needs root (run with sudo)";
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                firewallUnavailable = "the firewall could not be read: " + ex.Message;
            }
        }

        IReadOnlyList<ImdsProxySetting>? proxies = null;
        string? proxyUnavailable = null;
        if (options.ReadProxyFiles)
        {
            progress?.Invoke("Reading proxy settings");
            try
            {
                proxies = ProxyInspector.Inspect(new ProxyScanOptions { IncludeRunningProcesses = uid == 0, ProcessEnvironment = environment }).Settings;
            }
            catch (Exception ex) when (ex is System.IO.IOException or UnauthorizedAccessException)
            {
                proxyUnavailable = "proxy files could not be read: " + ex.Message;
            }
        }

        return new DiagnosisInput
        {
            Target = "localhost",
            InstanceId = instanceId,
            Region = region,
            Platform = platform,
            Endpoint = choice.Endpoint,
            EndpointSource = choice.Source,
            Uid = uid,
            Environment = environment,
            Probe = probe,
            ProbeIpv6 = probeIpv6,
            Ipv6SkipReason = ipv6Skip,
            Firewall = firewall,
            FirewallUnavailable = firewallUnavailable,
            ProxySettings = proxies,
            ProxyUnavailable = proxyUnavailable,
            Ena = enaChange,
            MetadataOptions = metadataOptions,
            MetadataOptionsUnavailable = metadataOptionsUnavailable,
            CollectionNotes = notes,
        };
    }
}
