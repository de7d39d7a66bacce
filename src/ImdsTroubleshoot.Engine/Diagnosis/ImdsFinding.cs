using System;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Engine.Diagnosis;

/// <summary>The checks of a diagnosis, in the order the AWS article walks them.</summary>
public enum DiagnosisCheck
{
    /// <summary>Which endpoint, what the environment says about it, whether this looks like EC2 or a container.</summary>
    Platform,

    /// <summary>Proxies that would catch IMDS traffic.</summary>
    Proxy,

    /// <summary>TCP connection to the endpoint.</summary>
    Endpoint,

    /// <summary>IMDSv2: the token PUT and a read with the token.</summary>
    Token,

    /// <summary>HttpPutResponseHopLimit against where clients run.</summary>
    HopLimit,

    /// <summary>IMDSv1: a read without a token.</summary>
    ImdsV1,

    /// <summary>Local firewall rules for IMDS traffic.</summary>
    Firewall,

    /// <summary>429/503, silent drops, ENA's linklocal_allowance_exceeded.</summary>
    Throttling,

    /// <summary>The instance's metadata options from the EC2 API.</summary>
    MetadataOptions,

    /// <summary>The IPv6 endpoint [fd00:ec2::254].</summary>
    IPv6,

    /// <summary>Problems gathering the evidence (a remote collector's truncated or unreadable output).</summary>
    Collection,
}

public enum FindingStatus
{
    Pass,
    Warn,
    Fail,
    Skipped,
}

/// <summary>
/// One check of a diagnosis: what was found, the evidence, the cause and the fix (the module's cmdlet and the plain
/// shell command from the AWS article). The same objects come from local and remote diagnoses. InstanceId and Region
/// let a finding pipe into Set-ImdsMetadataOption; Related holds objects that pipe into the fixing cmdlets
/// (firewall rules into Remove-ImdsFirewallRule, proxy settings into Repair-ImdsProxy).
/// </summary>
public sealed class ImdsFinding
{
    public ImdsFinding(string target, DiagnosisCheck check, FindingStatus status, string outcome, string detail)
    {
        Target = target;
        Check = check;
        Status = status;
        Outcome = outcome;
        Detail = detail;
    }

    /// <summary>Where the diagnosis ran: "localhost", an instance ID, or a host name.</summary>
    public string Target { get; }

    public string? InstanceId { get; init; }

    public string? Region { get; init; }

    public DiagnosisCheck Check { get; }

    public FindingStatus Status { get; }

    /// <summary>A stable identifier of what was found (e.g. HopLimitTooLowForContainers, FirewallRejectsImds).</summary>
    public string Outcome { get; }

    /// <summary>One line.</summary>
    public string Detail { get; }

    public string? Cause { get; init; }

    /// <summary>The module's command that fixes it.</summary>
    public string? Fix { get; init; }

    /// <summary>The same fix as a shell command (the AWS article's).</summary>
    public string? ShellFix { get; init; }

    /// <summary>Why the check was skipped.</summary>
    public string? SkipReason { get; init; }

    public IReadOnlyList<string> Evidence { get; init; } = Array.Empty<string>();

    /// <summary>Objects behind the finding, for pipelines: FirewallRule, ImdsProxySetting, ImdsMetadataOption.</summary>
    public IReadOnlyList<object> Related { get; init; } = Array.Empty<object>();

    public override string ToString() => $"{Target} {Check} {Status} {Outcome}: {Detail}";
}
