using System;
using System.Collections.Generic;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Remote;

namespace ImdsTroubleshoot.Commands;

/// <summary>
/// The Ssm parameter set: the collector sent to remote instances with SSM Run Command (AWS-RunShellScript), its
/// output analyzed here by the same engine as a local run. Instance IDs accumulate over the pipeline and run
/// together in EndProcessing (batches of 50); findings are written as each instance finishes, failures as
/// non-terminating errors whose target is the instance ID.
/// </summary>
public sealed partial class InvokeImdsDiagnosisCommand
{
    private readonly List<string> _ssmInstanceIds = new();

    /// <summary>Instances to diagnose through SSM Run Command (strings, or objects with an InstanceId property).</summary>
    [Parameter(Mandatory = true, ParameterSetName = Ssm, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyCollection]
    public string[]? InstanceId { get; set; }

    /// <summary>SendCommand MaxConcurrency: instances running the collector at once ("10" or "25%"); SSM's default is 50.</summary>
    [Parameter(ParameterSetName = Ssm)]
    [ValidateNotNullOrEmpty]
    public string? MaxConcurrency { get; set; }

    /// <summary>SendCommand MaxErrors: failed instances after which SSM stops sending the command ("0", "10%"); SSM's default is 0.</summary>
    [Parameter(ParameterSetName = Ssm)]
    [ValidateNotNullOrEmpty]
    public string? MaxErrors { get; set; }

    /// <summary>SSM's delivery timeout (SendCommand TimeoutSeconds) and the collector's execution timeout, in seconds.</summary>
    [Parameter(ParameterSetName = Ssm)]
    [ValidateRange(SsmLimits.MinTimeoutSeconds, SsmLimits.MaxTimeoutSeconds)]
    public int CommandTimeoutSec { get; set; } = 120;

    /// <summary>The EC2 endpoint for DescribeInstances (the metadata options); -EndpointUrl is the SSM endpoint in this set.</summary>
    [Parameter(ParameterSetName = Ssm)]
    [ValidateNotNullOrEmpty]
    public string? Ec2EndpointUrl { get; set; }

    /// <summary>Do not read the instances' metadata options with DescribeInstances.</summary>
    [Parameter(ParameterSetName = Ssm)]
    public SwitchParameter SkipMetadataOption { get; set; }

    private void AccumulateSsmInstanceIds()
    {
        if (InstanceId is null)
        {
            return;
        }

        foreach (string? raw in InstanceId)
        {
            _ssmInstanceIds.Add(raw?.Trim() ?? string.Empty);
        }
    }

    private void DiagnoseSsm()
    {
        if ((SsmLimits.MaxConcurrencyProblem(MaxConcurrency) ?? SsmLimits.MaxErrorsProblem(MaxErrors)) is { } problem)
        {
            ThrowTerminatingError(new ArgumentException(problem), ErrorIds.SsmInvalidParameter, ErrorCategory.InvalidArgument, MaxConcurrency ?? MaxErrors);
        }

        if (_ssmInstanceIds.Count == 0)
        {
            return;
        }

        AwsConnectionOptions connection = ConnectionOptions(Region, "-Region");
        ISsmCommandApi ssm = ConnectSsm(connection);
        IEc2MetadataApi? ec2 = null;
        string? metadataUnavailable = null;
        try
        {
            if (SkipMetadataOption.IsPresent)
            {
                metadataUnavailable = "-SkipMetadataOption";
            }
            else
            {
                (ec2, metadataUnavailable) = ConnectEc2ForSsm(connection);
            }

            var options = new SsmDiagnosisOptions
            {
                Collector = new CollectorParameters { TimeoutSec = TimeoutSec, IPv6 = IPv6.IsPresent },
                CommandTimeoutSeconds = CommandTimeoutSec,
                MaxConcurrency = MaxConcurrency,
                MaxErrors = MaxErrors,
                Region = ssm.Connection.Region,
                MetadataOptionsUnavailable = metadataUnavailable,
            };
            RunSsm(new SsmFleetDiagnosis(ssm, ec2, options));
        }
        finally
        {
            ec2?.Dispose();
            ssm.Dispose();
        }
    }

    private void RunSsm(SsmFleetDiagnosis fleet)
    {
        int total = _ssmInstanceIds.Count;
        int done = 0;
        const string activity = "Diagnosing IMDS through SSM Run Command";
        WriteProgress(new ProgressRecord(2, activity, $"0 of {total} instance(s) done") { PercentComplete = 0 });
        string last = $"0 of {total} instance(s) done";
        try
        {
            RunAsync(async ct =>
            {
                await fleet.RunAsync(
                    _ssmInstanceIds,
                    result => Post(() =>
                    {
                        done++;
                        last = $"{done} of {total} instance(s) done (last: {result.InstanceId}, {result.Outcome})";
                        WriteProgress(new ProgressRecord(2, activity, last) { PercentComplete = (int)Math.Min(100, done * 100L / Math.Max(1, total)) });
                        WriteSsmResult(result);
                    }),
                    PostVerbose,
                    ct).ConfigureAwait(false);
                return done;
            });
        }
        catch (AwsApiException ex)
        {
            ThrowTerminatingError(SsmError(ex, _ssmInstanceIds.Count == 1 ? _ssmInstanceIds[0] : null));
        }
        finally
        {
            WriteProgress(new ProgressRecord(2, activity, last) { RecordType = ProgressRecordType.Completed });
        }
    }

    private void WriteSsmResult(SsmInstanceResult result)
    {
        if (result.Succeeded)
        {
            foreach (ImdsFinding finding in result.Findings)
            {
                WriteObject(finding);
            }

            return;
        }

        (string id, ErrorCategory category, string? action) = result.Outcome switch
        {
            SsmInstanceOutcome.InvalidInstanceId => (ErrorIds.InstanceIdMalformed, ErrorCategory.InvalidArgument,
                "Give instance IDs as 'i-' followed by 8 or 17 lowercase hexadecimal digits, such as i-0123456789abcdef0."),
            SsmInstanceOutcome.NotManaged => (ErrorIds.SsmInstanceNotManaged, ErrorCategory.ResourceUnavailable,
                "Check that the instance is running, in this Region (-Region), and a managed node: SSM Agent running, an instance profile with AmazonSSMManagedInstanceCore, and a network path to the SSM endpoints (Get-SSMInstanceInformation or 'aws ssm describe-instance-information' lists managed nodes)."),
            SsmInstanceOutcome.TimedOut => (ErrorIds.SsmCommandTimedOut, ErrorCategory.OperationTimeout,
                "Check that the instance's SSM Agent is online; raise -CommandTimeoutSec if the instance is slow to take commands."),
            SsmInstanceOutcome.NoResult => (ErrorIds.SsmNoResult, ErrorCategory.OperationTimeout,
                "Read the command's status later with 'aws ssm list-command-invocations --command-id ID', or run the diagnosis again."),
            SsmInstanceOutcome.CommandFailed => (ErrorIds.SsmCommandFailed, ErrorCategory.InvalidResult,
                "Read the command's output in the SSM console or with 'aws ssm get-command-invocation'; the collector needs sh and curl or wget on the instance."),
            SsmInstanceOutcome.AnalysisFailed => (ErrorIds.SsmAnalysisFailed, ErrorCategory.InvalidResult,
                "Run the diagnosis on that instance again; if it repeats, report it with the command's output ('aws ssm get-command-invocation')."),
            SsmInstanceOutcome.Cancelled => (ErrorIds.SsmCommandCancelled, ErrorCategory.OperationStopped,
                "The command was cancelled, or SSM stopped it after -MaxErrors failures; raise -MaxErrors to let the rest of the fleet run."),
            SsmInstanceOutcome.InvalidPlatform => (ErrorIds.SsmInvalidPlatform, ErrorCategory.InvalidOperation,
                "The collector is a POSIX sh script for Linux instances; Windows instances are not diagnosed."),
            SsmInstanceOutcome.Throttled => (ErrorIds.SsmThrottled, ErrorCategory.LimitsExceeded,
                "SSM throttled the account's requests past the retry bound; run the diagnosis again on fewer instances at a time."),
            _ when result.Error?.Kind == AwsErrorKind.Unauthorized => (ErrorIds.SsmAccessDenied, ErrorCategory.PermissionDenied, SsmPermissionsAdvice),
            _ => (ErrorIds.SsmRequestFailed, ErrorCategory.InvalidOperation, (string?)null),
        };
        WriteError(new SsmDiagnosisException(result), id, category, result.InstanceId, action);
    }

    private const string SsmPermissionsAdvice =
        "Allow ssm:SendCommand (on the instances and the AWS-RunShellScript document), ssm:ListCommandInvocations and ssm:GetCommandInvocation for the caller's IAM identity, or use other credentials (-ProfileName).";

    /// <summary>The error record for a failure that stops the whole run (nothing could be sent).</summary>
    private static ErrorRecord SsmError(AwsApiException exception, object? target) => exception.Kind switch
    {
        AwsErrorKind.Unauthorized => Error(exception, ErrorIds.SsmAccessDenied, ErrorCategory.PermissionDenied, target, SsmPermissionsAdvice),
        AwsErrorKind.Network => Error(exception, ErrorIds.SsmEndpointUnreachable, ErrorCategory.ConnectionError, target,
            "Check the network path to the SSM endpoint (DNS, proxy settings HTTPS_PROXY/NO_PROXY, a VPC endpoint for ssm, -EndpointUrl)."),
        AwsErrorKind.Throttled => Error(exception, ErrorIds.SsmThrottled, ErrorCategory.LimitsExceeded, target,
            "SSM throttled the account's requests past the retry bound; run the diagnosis again on fewer instances at a time."),
        AwsErrorKind.InvalidParameter => Error(exception, ErrorIds.SsmInvalidParameter, ErrorCategory.InvalidArgument, target),
        AwsErrorKind.Service => Error(exception, ErrorIds.SsmRequestFailed, ErrorCategory.InvalidOperation, target),
        _ => AwsError(exception, target),
    };

    private ISsmCommandApi ConnectSsm(AwsConnectionOptions options) =>
        Connect(() => AwsBridgeAccess.Bridge.ConnectSsm(options), ex => SsmError(ex, Region ?? ProfileName ?? EndpointUrl), a => a.Connection);

    /// <summary>An EC2 client for the metadata options (with -Ec2EndpointUrl, not -EndpointUrl); when none can be made, why not.</summary>
    private (IEc2MetadataApi? Api, string? Unavailable) ConnectEc2ForSsm(AwsConnectionOptions ssm)
    {
        Uri? endpoint = null;
        if (Ec2EndpointUrl is not null)
        {
            try
            {
                endpoint = AwsNames.ParseEndpoint(Ec2EndpointUrl);
            }
            catch (AwsApiException ex)
            {
                ThrowTerminatingError(AwsError(ex, Ec2EndpointUrl));
            }
        }

        var options = new AwsConnectionOptions
        {
            Region = ssm.Region,
            RegionSource = ssm.RegionSource,
            ProfileName = ssm.ProfileName,
            EndpointUrl = endpoint,
            SessionCredentials = ssm.SessionCredentials,
            SessionRegion = ssm.SessionRegion,
            RequestTimeout = TimeSpan.FromSeconds(15),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        try
        {
            var api = AwsBridgeAccess.Bridge.ConnectEc2(options);
            WriteVerbose("Reading metadata options with " + api.Connection + ".");
            return (api, null);
        }
        catch (AwsApiException ex)
        {
            WriteVerbose("The metadata options will not be read: " + ex.Message);
            return (null, "no EC2 client: " + ex.Message);
        }
    }
}
