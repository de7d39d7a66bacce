using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.RegularExpressions;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Diagnosis;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>What became of one instance of a fleet diagnosis through SSM Run Command.</summary>
public enum SsmInstanceOutcome
{
    /// <summary>The collector ran and its output was analyzed: <see cref="SsmInstanceResult.Findings"/> holds the findings.</summary>
    Diagnosed,

    /// <summary>Not an instance ID; never sent.</summary>
    InvalidInstanceId,

    /// <summary>SSM cannot reach it: not a managed node, agent offline, not running (InvalidInstanceId, Undeliverable).</summary>
    NotManaged,

    /// <summary>SSM gave up: DeliveryTimedOut, ExecutionTimedOut, TimedOut.</summary>
    TimedOut,

    /// <summary>The script ran and failed (non-zero response code).</summary>
    CommandFailed,

    /// <summary>Cancelled, or terminated because the command reached MaxErrors.</summary>
    Cancelled,

    /// <summary>AWS-RunShellScript cannot run there (a Windows instance).</summary>
    InvalidPlatform,

    /// <summary>SSM kept throttling the calls for this instance past the retry bound.</summary>
    Throttled,

    /// <summary>An SSM call for this instance failed (access denied, another service error).</summary>
    RequestFailed,

    /// <summary>The output came back but could not be analyzed (a parser fault; never expected).</summary>
    AnalysisFailed,

    /// <summary>No final status before this command's own deadline (the SSM timeout plus a margin).</summary>
    NoResult,
}

/// <summary>One instance's result: findings when diagnosed, otherwise why not. Emitted as soon as the instance finishes.</summary>
public sealed class SsmInstanceResult
{
    public SsmInstanceResult(string instanceId, SsmInstanceOutcome outcome, string message)
    {
        InstanceId = instanceId;
        Outcome = outcome;
        Message = message;
    }

    /// <summary>The instance ID as given (for an invalid one, the text that was given).</summary>
    public string InstanceId { get; }

    public SsmInstanceOutcome Outcome { get; }

    /// <summary>What happened, in words (for a failure: the error message).</summary>
    public string Message { get; }

    public string? CommandId { get; init; }

    /// <summary>The invocation's Status and StatusDetails as SSM reported them.</summary>
    public string? Status { get; init; }

    public string? StatusDetails { get; init; }

    public int? ResponseCode { get; init; }

    /// <summary>The first lines of the script's standard error (CommandFailed).</summary>
    public string? ErrorGist { get; init; }

    /// <summary>The service error behind RequestFailed, Throttled or NotManaged at SendCommand.</summary>
    public AwsApiException? Error { get; init; }

    /// <summary>The evidence the collector gathered (Diagnosed).</summary>
    public DiagnosisInput? Input { get; init; }

    public IReadOnlyList<ImdsFinding> Findings { get; init; } = Array.Empty<ImdsFinding>();

    public bool Succeeded => Outcome == SsmInstanceOutcome.Diagnosed;

    public override string ToString() => $"{InstanceId}: {Outcome}: {Message}";
}

/// <summary>SSM's limits and value shapes, checked before any call.</summary>
public static partial class SsmLimits
{
    /// <summary>SendCommand takes at most 50 instance IDs.</summary>
    public const int MaxInstancesPerCommand = 50;

    /// <summary>SendCommand TimeoutSeconds: SSM accepts 30..2592000; this module keeps 30..3600.</summary>
    public const int MinTimeoutSeconds = 30;

    public const int MaxTimeoutSeconds = 3600;

    /// <summary>GetCommandInvocation keeps the first 24,000 characters of standard output.</summary>
    public const int MaxOutputCharacters = 24_000;

    [GeneratedRegex("^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$", RegexOptions.CultureInvariant)]
    private static partial Regex ConcurrencyPattern();

    [GeneratedRegex("^([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)$", RegexOptions.CultureInvariant)]
    private static partial Regex ErrorsPattern();

    /// <summary>Why <paramref name="value"/> is not a MaxConcurrency ("10", "25%"); null when it is one.</summary>
    public static string? MaxConcurrencyProblem(string? value) => value is null || ConcurrencyPattern().IsMatch(value)
        ? null
        : $"'{value}' is not a MaxConcurrency: give a number of instances from 1 (such as 10) or a percentage from 1% to 100% (such as 25%).";

    /// <summary>Why <paramref name="value"/> is not a MaxErrors ("0", "10%"); null when it is one.</summary>
    public static string? MaxErrorsProblem(string? value) => value is null || ErrorsPattern().IsMatch(value)
        ? null
        : $"'{value}' is not a MaxErrors: give a number of errors from 0 (such as 5) or a percentage from 0% to 100% (such as 10%).";
}

/// <summary>What SSM's invocation statuses mean.</summary>
public static class SsmInvocationStates
{
    /// <summary>Whether SSM is done with this invocation (Success, Failed, TimedOut, Cancelled, or a terminal detail).</summary>
    public static bool IsTerminal(string? status, string? details)
    {
        string s = Normalize(status);
        string d = Normalize(details);
        return s is "success" or "failed" or "timedout" or "cancelled" or "canceled"
            || d is "undeliverable" or "invalidplatform" or "terminated" or "deliverytimedout" or "executiontimedout" or "accessdenied";
    }

    /// <summary>
    /// The outcome of a finished invocation; Diagnosed for Success (the output still has to be read) and
    /// CommandFailed for Failed without a finer detail (the response code and stderr still have to be read).
    /// </summary>
    public static SsmInstanceOutcome OutcomeOf(string? status, string? details)
    {
        switch (Normalize(details))
        {
            case "undeliverable":
                return SsmInstanceOutcome.NotManaged;
            case "invalidplatform":
                return SsmInstanceOutcome.InvalidPlatform;
            case "deliverytimedout" or "executiontimedout":
                return SsmInstanceOutcome.TimedOut;
            case "terminated" or "cancelled" or "canceled":
                return SsmInstanceOutcome.Cancelled;
            case "accessdenied":
                return SsmInstanceOutcome.RequestFailed;
        }

        return Normalize(status) switch
        {
            "success" => SsmInstanceOutcome.Diagnosed,
            "timedout" => SsmInstanceOutcome.TimedOut,
            "cancelled" or "canceled" => SsmInstanceOutcome.Cancelled,
            _ => SsmInstanceOutcome.CommandFailed,
        };
    }

    /// <summary>"Delivery Timed Out" and "DeliveryTimedOut" alike.</summary>
    private static string Normalize(string? value) => value is null ? string.Empty : value.Replace(" ", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
}

/// <summary>One instance of an SSM diagnosis did not give findings; <see cref="Result"/> says why (status, response code, command ID).</summary>
public sealed class SsmDiagnosisException : Exception
{
    public SsmDiagnosisException()
        : this("An SSM diagnosis failed.")
    {
    }

    public SsmDiagnosisException(string message)
        : base(message)
    {
    }

    public SsmDiagnosisException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public SsmDiagnosisException(SsmInstanceResult result)
        : base((result ?? throw new ArgumentNullException(nameof(result))).Message, result.Error)
    {
        Result = result;
    }

    public SsmInstanceResult? Result { get; }

    public string? InstanceId => Result?.InstanceId;

    public string? CommandId => Result?.CommandId;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{GetType().Name}: {Message}");
}
