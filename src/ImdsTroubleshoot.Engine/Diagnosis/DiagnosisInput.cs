using System;
using System.Collections.Generic;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Engine.Platform;
using ImdsTroubleshoot.Engine.Probe;
using ImdsTroubleshoot.Engine.Proxy;

namespace ImdsTroubleshoot.Engine.Diagnosis;

/// <summary>
/// Everything a diagnosis looks at, gathered here (<see cref="LocalDiagnosis"/>) or on another machine by a collector
/// whose output is parsed into the same shape. <see cref="DiagnosisEngine.Analyze"/> turns it into findings. Each
/// part is either there or has a reason why not.
/// </summary>
public sealed record DiagnosisInput
{
    public string Target { get; init; } = "localhost";

    /// <summary>
    /// Gathered on another machine (SSM, SSH). Its firewall rules and proxy settings describe that machine, so they
    /// never go into a finding's Related: piped into Remove-ImdsFirewallRule or Repair-ImdsProxy they would act here.
    /// </summary>
    public bool IsRemote { get; init; }

    /// <summary>This instance's ID (from IMDS, or given), when known.</summary>
    public string? InstanceId { get; init; }

    public string? Region { get; init; }

    public PlatformInfo Platform { get; init; } = PlatformInfo.Unknown;

    public Uri Endpoint { get; init; } = ImdsDefaults.IPv4Endpoint;

    /// <summary>-Endpoint, AWS_EC2_METADATA_SERVICE_ENDPOINT, ..._MODE or "default".</summary>
    public string EndpointSource { get; init; } = "default";

    /// <summary>The endpoint is not the instance's own IMDS (an emulator, a test endpoint).</summary>
    public bool EndpointOverridden => EndpointSource is "-Endpoint" or ImdsDefaults.EndpointEnvironmentVariable;

    /// <summary>The uid the probe ran as.</summary>
    public uint Uid { get; init; }

    /// <summary>The environment clients run with (here: this process's; remote: the collector's).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    public ProbeObservation? Probe { get; init; }

    public ProbeObservation? ProbeIpv6 { get; init; }

    public string? Ipv6SkipReason { get; init; }

    public FirewallReport? Firewall { get; init; }

    public string? FirewallUnavailable { get; init; }

    /// <summary>Every proxy setting found (files, services, processes), with per-family exemption.</summary>
    public IReadOnlyList<ImdsProxySetting>? ProxySettings { get; init; }

    public string? ProxyUnavailable { get; init; }

    /// <summary>ENA's linklocal_allowance_exceeded before and after the probe (Available false without ENA).</summary>
    public EnaLinkLocalChange? Ena { get; init; }

    public ImdsMetadataOption? MetadataOptions { get; init; }

    public string? MetadataOptionsUnavailable { get; init; }

    /// <summary>Problems gathering the evidence (a remote collector's truncated sections, tools missing there).</summary>
    public IReadOnlyList<string> CollectionNotes { get; init; } = Array.Empty<string>();
}
