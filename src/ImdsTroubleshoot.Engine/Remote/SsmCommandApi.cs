using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>
/// The SSM Run Command calls behind <c>Invoke-ImdsDiagnosis -InstanceId</c>, as the bridge
/// (ImdsTroubleshoot.Aws, AWSSDK.SimpleSystemsManagement) makes them. Values cross as the wire strings
/// ("InProgress", "DeliveryTimedOut"); <see cref="SsmInvocationStates"/> interprets them. Failures are
/// <see cref="AwsApiException"/> (ErrorCode "InvalidInstanceId", "InvocationDoesNotExist", "ThrottlingException"...).
/// </summary>
public interface ISsmCommandApi : IDisposable
{
    /// <summary>What the client resolved: Region, endpoint, where the credentials came from.</summary>
    AwsConnectionInfo Connection { get; }

    /// <summary>One SendCommand call; returns the command ID.</summary>
    Task<string> SendCommandAsync(SsmSendCommandRequest request, CancellationToken cancellationToken);

    /// <summary>One page of ListCommandInvocations for a command (no plugin details).</summary>
    Task<SsmInvocationPage> ListCommandInvocationsAsync(string commandId, string? nextToken, CancellationToken cancellationToken);

    /// <summary>One GetCommandInvocation call: one instance's status, response code and output.</summary>
    Task<SsmInvocationResult> GetCommandInvocationAsync(string commandId, string instanceId, CancellationToken cancellationToken);

    /// <summary>
    /// One CancelCommand call: asks SSM to stop the command on <paramref name="instanceIds"/> (all its instances when
    /// null). SSM only tries: invocations go Cancelling, then Cancelled, or finish first.
    /// </summary>
    Task CancelCommandAsync(string commandId, IReadOnlyList<string>? instanceIds, CancellationToken cancellationToken);
}

/// <summary>A SendCommand request for the AWS-RunShellScript document.</summary>
public sealed class SsmSendCommandRequest
{
    /// <summary>The document SSM runs; the collector is a POSIX sh script.</summary>
    public const string RunShellScript = "AWS-RunShellScript";

    public required IReadOnlyList<string> InstanceIds { get; init; }

    public string DocumentName { get; init; } = RunShellScript;

    /// <summary>The "commands" parameter: the script's lines (SSM joins them into one script file on the instance).</summary>
    public required IReadOnlyList<string> Commands { get; init; }

    /// <summary>SendCommand TimeoutSeconds: how long SSM tries to deliver the command (30..2592000).</summary>
    public int TimeoutSeconds { get; init; } = 120;

    /// <summary>The document's executionTimeout parameter, in seconds; null leaves the document's default.</summary>
    public int? ExecutionTimeoutSeconds { get; init; }

    /// <summary>"10", "25%"...; null: SSM's default (50).</summary>
    public string? MaxConcurrency { get; init; }

    /// <summary>"0", "10%"...; null: SSM's default (0).</summary>
    public string? MaxErrors { get; init; }

    /// <summary>SendCommand Comment (at most 100 characters).</summary>
    public string? Comment { get; init; }
}

/// <summary>One page of ListCommandInvocations.</summary>
public sealed class SsmInvocationPage
{
    public SsmInvocationPage(IReadOnlyList<SsmInvocationStatus> invocations, string? nextToken)
    {
        Invocations = invocations;
        NextToken = string.IsNullOrEmpty(nextToken) ? null : nextToken;
    }

    public IReadOnlyList<SsmInvocationStatus> Invocations { get; }

    public string? NextToken { get; }
}

/// <summary>One instance's invocation as ListCommandInvocations reports it.</summary>
public sealed class SsmInvocationStatus
{
    public required string InstanceId { get; init; }

    /// <summary>Pending, InProgress, Delayed, Success, Cancelled, TimedOut, Failed, Cancelling.</summary>
    public string? Status { get; init; }

    /// <summary>Finer: DeliveryTimedOut, ExecutionTimedOut, Undeliverable, InvalidPlatform, Terminated...</summary>
    public string? StatusDetails { get; init; }
}

/// <summary>GetCommandInvocation's answer.</summary>
public sealed class SsmInvocationResult
{
    public required string InstanceId { get; init; }

    public string? Status { get; init; }

    public string? StatusDetails { get; init; }

    /// <summary>The script's exit code; -1 while it has not finished.</summary>
    public int? ResponseCode { get; init; }

    /// <summary>The first 24,000 characters of standard output.</summary>
    public string? StandardOutput { get; init; }

    /// <summary>The first 8,000 characters of standard error.</summary>
    public string? StandardError { get; init; }
}
