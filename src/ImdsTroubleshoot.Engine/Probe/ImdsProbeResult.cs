using System;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Engine.Probe;

public enum ProbeStep
{
    /// <summary>What in the environment decides how clients reach IMDS (proxy, AWS_EC2_METADATA_* variables).</summary>
    Environment,

    /// <summary>TCP connect to the endpoint.</summary>
    Connect,

    /// <summary>IMDSv2 token PUT.</summary>
    Token,

    /// <summary>GET with the token (IMDSv2).</summary>
    MetadataV2,

    /// <summary>GET without a token (IMDSv1).</summary>
    MetadataV1,

    /// <summary>GET of a path the user named.</summary>
    Path,
}

public enum ProbeStatus
{
    Pass,
    Warn,
    Fail,
    Skipped,
}

/// <summary>Stable identifiers of what a probe step found. Never renamed once shipped.</summary>
public enum ProbeOutcome
{
    Ok,
    ImdsV1Allowed,
    ProxyInEnvironment,
    DisabledByEnvironment,
    ConnectionRefused,
    ConnectTimeout,
    NotAnEc2Instance,
    Unreachable,
    AccessDenied,
    HopLimitExceeded,
    BadTokenRequest,
    ForwardedForRejected,
    EndpointDisabled,
    TokensRequired,
    TokenRejected,
    NotFound,
    MethodNotAllowed,
    Throttled,
    ServiceUnavailable,
    NoResponse,
    InvalidResponse,
    HttpError,
    NotTested,
}

/// <summary>One step of Test-ImdsEndpoint: what was tried, what happened, the likely cause and the fix.</summary>
public sealed class ImdsProbeResult
{
    internal ImdsProbeResult(ProbeStep step, Uri? endpoint, string? path, ProbeStatus status, ProbeOutcome outcome, int statusCode, TimeSpan elapsed,
        string detail, string? cause, string? remediation, string? relatedCommand, string? shellCommand, IReadOnlyList<string> evidence)
    {
        Step = step;
        Endpoint = endpoint;
        Path = path;
        Status = status;
        Outcome = outcome;
        StatusCode = statusCode;
        Elapsed = elapsed;
        Detail = detail;
        Cause = cause;
        Remediation = remediation;
        RelatedCommand = relatedCommand;
        ShellCommand = shellCommand;
        Evidence = evidence;
    }

    public ProbeStep Step { get; }

    public Uri? Endpoint { get; }

    public string? Path { get; }

    public ProbeStatus Status { get; }

    /// <summary>A stable identifier of what happened (see <see cref="ProbeOutcome"/>).</summary>
    public ProbeOutcome Outcome { get; }

    /// <summary>The HTTP status, or 0 when no HTTP response arrived.</summary>
    public int StatusCode { get; }

    public TimeSpan Elapsed { get; }

    /// <summary>One line saying what happened.</summary>
    public string Detail { get; }

    /// <summary>The likely cause, in plain words; null when the step passed.</summary>
    public string? Cause { get; }

    /// <summary>What to do about it.</summary>
    public string? Remediation { get; }

    /// <summary>The module's cmdlet that looks further or fixes it.</summary>
    public string? RelatedCommand { get; }

    /// <summary>The plain shell command from the AWS article for the same check or fix.</summary>
    public string? ShellCommand { get; }

    /// <summary>What the verdict rests on. Never holds a token or a credential.</summary>
    public IReadOnlyList<string> Evidence { get; }

    public override string ToString() => $"{Step} {Status} {Outcome}: {Detail}";
}
