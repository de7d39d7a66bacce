using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Management.Automation;
using Amazon.PowerShell.Common;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Remote;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>
/// Invoke-ImdsDiagnosis -InstanceId as users meet it: the staged module in a real runspace, the SDK in its own load
/// context, the local SSM and EC2 endpoints, credentials from AWS.Tools' session variables. The simulated instances
/// return recorded collector output (here deliberately not a collector's: the parser must note it, never crash).
/// </summary>
public sealed class SsmCmdletTests : IDisposable
{
    private const string StoredKey = "AKIDSTOREDSSMTEST01";
    private const string StoredSecret = "ssm-stored-secret-never-printed";
    private const string A = "i-0123456789abcdef0";
    private const string B = "i-0fedcba9876543210";

    private readonly FakeSsm _ssm = new();
    private readonly FakeEc2 _ec2 = new();
    private readonly PsSession _ps = new();

    public SsmCmdletTests()
    {
        _ps.Runspace.SessionStateProxy.SetVariable("StoredAWSCredentials", AWSPSCredentials.FromKeys(StoredKey, StoredSecret, name: "ssm-test"));
        _ps.Runspace.SessionStateProxy.SetVariable("StoredAWSRegion", "eu-west-1");
        _ps.Ok($"$PSDefaultParameterValues['Invoke-ImdsDiagnosis:EndpointUrl'] = '{_ssm.Url}'; $PSDefaultParameterValues['Invoke-ImdsDiagnosis:Ec2EndpointUrl'] = '{_ec2.Url}'; $PSDefaultParameterValues['Get-ImdsMetadataOption:EndpointUrl'] = '{_ec2.Url}'");
        _ec2.Add(A, "web-1", i => i.HttpPutResponseHopLimit = 1);
        _ec2.Add(B, "api-1", i => { i.HttpTokens = "required"; i.HttpPutResponseHopLimit = 2; });
        _ssm.AddRecorded(A, "not collector output\n");
        _ssm.AddRecorded(B, string.Empty, TimeSpan.FromMilliseconds(500));
    }

    public void Dispose()
    {
        _ps.Dispose();
        _ssm.Dispose();
        _ec2.Dispose();
    }

    [Fact]
    public void The_Ssm_parameter_set_has_the_remote_parameters_and_takes_InstanceId_from_the_pipeline()
    {
        var r = _ps.Ok("(Get-Command Invoke-ImdsDiagnosis).ParameterSets | Where-Object Name -eq 'Ssm' | ForEach-Object { $_.Parameters | ForEach-Object { '{0}|{1}|{2}|{3}' -f $_.Name, $_.IsMandatory, $_.ValueFromPipelineByPropertyName, $_.ValueFromPipeline } }");
        var lines = r.Output.Select(o => o.ToString()).ToList();
        Assert.Contains("InstanceId|True|True|True", lines);
        foreach (string name in new[] { "MaxConcurrency", "MaxErrors", "CommandTimeoutSec", "Ec2EndpointUrl", "SkipMetadataOption", "TimeoutSec", "IPv6", "Region", "ProfileName", "EndpointUrl" })
        {
            Assert.Contains(lines, l => l.StartsWith(name + "|False|", StringComparison.Ordinal));
        }

        Assert.DoesNotContain(lines, l => l.StartsWith("Endpoint|", StringComparison.Ordinal) || l.StartsWith("Ec2Api|", StringComparison.Ordinal));
    }

    [Fact]
    public void Objects_with_InstanceId_pipe_in_and_run_as_one_command_with_findings_per_instance_and_metadata_options()
    {
        var r = _ps.Invoke("[pscustomobject]@{ InstanceId = '" + A + "' }, [pscustomobject]@{ InstanceId = '" + B + "' } | Invoke-ImdsDiagnosis -Verbose");
        Assert.True(!r.AllErrors.Any(), r.ToString());
        Assert.Equal(1, _ssm.Count("SendCommand"));
        Assert.Equal(new[] { A, B }, _ssm.Commands.Single().InstanceIds);
        var findings = r.Objects<ImdsFinding>().ToList();
        Assert.Equal(new[] { A, B }, findings.Select(f => f.Target).Distinct().OrderBy(t => t));
        // The instance's metadata options came from EC2 (one DescribeInstances for both) and drive the same checks as locally.
        Assert.Equal(1, _ec2.Calls("DescribeInstances"));
        var optionsA = findings.Single(f => f.Target == A && f.Check == DiagnosisCheck.MetadataOptions);
        Assert.Equal((FindingStatus.Warn, A), (optionsA.Status, optionsA.InstanceId));
        // The recorded output is not a collector's: each instance says so in a finding instead of failing.
        Assert.All(new[] { A, B }, t => Assert.Contains(findings, f => f.Target == t && f.Check == DiagnosisCheck.Collection));
        Assert.Contains(r.Verbose, v => v.Contains("SendCommand batch 1/1: 2 instance(s), command " + _ssm.Commands.Single().CommandId, StringComparison.Ordinal));
        Assert.Contains(r.Verbose, v => v.StartsWith("Using SSM in eu-west-1", StringComparison.Ordinal));
    }

    [Fact]
    public void Get_ImdsMetadataOption_output_pipes_into_the_remote_diagnosis()
    {
        var r = _ps.Invoke($"Get-ImdsMetadataOption -InstanceId {A},{B} | Invoke-ImdsDiagnosis");
        Assert.True(!r.AllErrors.Any(), r.ToString());
        Assert.Equal(new[] { A, B }, r.Objects<ImdsFinding>().Select(f => f.Target).Distinct().OrderBy(t => t));
        Assert.Equal(1, _ssm.Count("SendCommand"));
    }

    [Fact]
    public void Per_instance_failures_are_non_terminating_errors_with_their_own_ids_categories_and_targets()
    {
        _ssm.AddFailing("i-00000000000000101", FakeSsmMode.NotManaged);
        _ssm.AddFailing("i-00000000000000102", FakeSsmMode.Undeliverable);
        _ssm.AddFailing("i-00000000000000103", FakeSsmMode.DeliveryTimedOut);
        _ssm.AddFailing("i-00000000000000104", FakeSsmMode.Failed, 2, "collector: cannot write /tmp\n");
        _ssm.AddFailing("i-00000000000000105", FakeSsmMode.InvalidPlatform);
        var r = _ps.Invoke($"Invoke-ImdsDiagnosis -InstanceId {A},i-00000000000000101,i-00000000000000102,i-00000000000000103,i-00000000000000104,i-00000000000000105,i-BAD -SkipMetadataOption");
        Assert.Null(r.Terminating);
        r.ExpectError("SsmInstanceNotManaged", ErrorCategory.ResourceUnavailable, "i-00000000000000101");
        r.ExpectError("SsmInstanceNotManaged", ErrorCategory.ResourceUnavailable, "i-00000000000000102");
        r.ExpectError("SsmCommandTimedOut", ErrorCategory.OperationTimeout, "i-00000000000000103");
        var failed = r.ExpectError("SsmCommandFailed", ErrorCategory.InvalidResult, "i-00000000000000104");
        Assert.Contains("collector: cannot write /tmp", failed.Exception.Message, StringComparison.Ordinal);
        Assert.Equal(2, ((SsmDiagnosisException)failed.Exception).Result!.ResponseCode);
        r.ExpectError("SsmInvalidPlatform", ErrorCategory.InvalidOperation, "i-00000000000000105");
        r.ExpectError("InstanceIdMalformed", ErrorCategory.InvalidArgument, "i-BAD");
        Assert.Equal(6, r.Errors.Count);
        Assert.Equal(new[] { A }, r.Objects<ImdsFinding>().Select(f => f.Target).Distinct());
        Assert.Contains("-SkipMetadataOption", r.Objects<ImdsFinding>().Single(f => f.Check == DiagnosisCheck.MetadataOptions).Detail, StringComparison.Ordinal);
        Assert.Equal(0, _ec2.TotalCalls);
    }

    [Fact]
    public void Progress_counts_instances_done_and_completes()
    {
        var r = _ps.Invoke($"Invoke-ImdsDiagnosis -InstanceId {A},{B}");
        var progress = r.Progress.Where(p => p.Activity.Contains("SSM", StringComparison.Ordinal)).ToList();
        Assert.Contains(progress, p => p.StatusDescription.StartsWith("1 of 2 instance(s) done", StringComparison.Ordinal) && p.PercentComplete == 50);
        Assert.Contains(progress, p => p.StatusDescription.StartsWith("2 of 2 instance(s) done", StringComparison.Ordinal) && p.PercentComplete == 100);
        Assert.Equal(ProgressRecordType.Completed, progress.Last().RecordType);
    }

    [Fact]
    public void No_secret_appears_in_any_stream()
    {
        _ssm.AddFailing("i-00000000000000104", FakeSsmMode.Failed, 2, "boom\n");
        var r = _ps.Invoke($"Invoke-ImdsDiagnosis -InstanceId {A},i-00000000000000104,i-00000000000000101 -Verbose -Debug");
        Assert.NotEmpty(r.Verbose);
        string all = r.AllText();
        Assert.DoesNotContain(StoredSecret, all, StringComparison.Ordinal);
        Assert.DoesNotContain("ssm-stored-secret", all, StringComparison.Ordinal);
        Assert.All(_ssm.Calls, c => Assert.Equal(StoredKey, c.AccessKeyId));
    }

    [Fact]
    public void Bad_MaxConcurrency_MaxErrors_and_timeouts_are_refused_before_any_call()
    {
        _ps.ExpectTerminating($"Invoke-ImdsDiagnosis -InstanceId {A} -MaxConcurrency 'ten'", "SsmInvalidParameter", ErrorCategory.InvalidArgument);
        _ps.ExpectTerminating($"Invoke-ImdsDiagnosis -InstanceId {A} -MaxErrors '5; reboot'", "SsmInvalidParameter", ErrorCategory.InvalidArgument);
        _ps.ExpectTerminating($"Invoke-ImdsDiagnosis -InstanceId {A} -CommandTimeoutSec 5", "ParameterArgumentValidationError", ErrorCategory.InvalidData);
        _ps.ExpectTerminating($"Invoke-ImdsDiagnosis -InstanceId {A} -EndpointUrl 'not a url'", "AwsEndpointUrlInvalid", ErrorCategory.InvalidArgument);
        Assert.Empty(_ssm.Calls);
    }

    [Fact]
    public void MaxConcurrency_MaxErrors_and_the_command_timeout_reach_SendCommand()
    {
        _ps.Ok($"$null = Invoke-ImdsDiagnosis -InstanceId {A} -MaxConcurrency 25% -MaxErrors 0 -CommandTimeoutSec 300");
        var command = _ssm.Commands.Single();
        Assert.Equal(("25%", "0", 300, "300"), (command.MaxConcurrency, command.MaxErrors, command.TimeoutSeconds, command.ExecutionTimeout));
        Assert.Equal(Collector.Build(new CollectorParameters { TimeoutSec = 1.0 }).TrimEnd('\n'), command.Script);
    }

    [Fact]
    public void Access_denied_on_SendCommand_is_one_terminating_error_naming_the_permission()
    {
        _ssm.DeniedOperations.Add("SendCommand");
        var caught = _ps.ExpectTerminating($"Invoke-ImdsDiagnosis -InstanceId {A},{B}", "SsmAccessDenied", ErrorCategory.PermissionDenied);
        Assert.Contains("ssm:SendCommand", caught.ErrorDetails.RecommendedAction, StringComparison.Ordinal);
    }

    [Fact]
    public void Ctrl_C_cancels_the_command_on_the_instances_still_running_before_the_cmdlet_returns()
    {
        const string Stuck = "i-00000000000000c01";
        _ssm.AddFailing(Stuck, FakeSsmMode.NeverFinishes);
        using var ps = PowerShell.Create(_ps.Runspace);
        ps.AddScript($"Invoke-ImdsDiagnosis -InstanceId {A},{Stuck} -SkipMetadataOption -Verbose");
        var output = new PSDataCollection<PSObject>();
        var pending = ps.BeginInvoke<PSObject, PSObject>(null, output);
        var wait = Stopwatch.StartNew();
        while (output.Count == 0 && wait.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(50);
        }

        Assert.Contains(output, o => o.BaseObject is ImdsFinding { Target: A }); // A answered; the other one never will
        var sw = Stopwatch.StartNew();
        ps.Stop();
        Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(pending));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), sw.Elapsed.ToString());

        // The stop waited for CancelCommand, naming only the instance that had not finished.
        var cancel = Assert.Single(_ssm.Calls, c => c.Operation == "CancelCommand");
        Assert.Equal((200, _ssm.Commands.Single().CommandId), (cancel.Status, cancel.CommandId));
        Assert.Equal(new[] { Stuck }, cancel.InstanceIds);
    }

    [Fact]
    public void Ctrl_C_waits_for_every_commands_cancellation_though_verbose_output_can_no_longer_be_written()
    {
        // Two SendCommand batches; SSM throttles the first CancelCommand, so one cancellation is answered (and logged,
        // which the stopped pipeline refuses) while the other is still being retried.
        var ids = Enumerable.Range(1, 51).Select(n => $"i-{0xd00 + n:x17}").ToList();
        foreach (string id in ids)
        {
            _ssm.AddFailing(id, FakeSsmMode.NeverFinishes);
        }

        _ssm.ThrottleNext("CancelCommand", 1);
        using var ps = PowerShell.Create(_ps.Runspace);
        ps.AddScript($"Invoke-ImdsDiagnosis -InstanceId {string.Join(",", ids)} -SkipMetadataOption -Verbose");
        var pending = ps.BeginInvoke();
        var wait = Stopwatch.StartNew();
        while (_ssm.Count("ListCommandInvocations") < 2 && wait.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(50);
        }

        var sw = Stopwatch.StartNew();
        ps.Stop();
        Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(pending));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), sw.Elapsed.ToString());

        var cancels = _ssm.Calls.Where(c => c.Operation == "CancelCommand").ToList();
        Assert.Equal(1, cancels.Count(c => c.ErrorCode == "ThrottlingException"));
        var taken = cancels.Where(c => c.Status == 200).ToList();
        Assert.Equal(_ssm.Commands.Select(c => c.CommandId).OrderBy(c => c), taken.Select(c => c.CommandId).OrderBy(c => c));
        Assert.Equal(ids, taken.SelectMany(c => c.InstanceIds).OrderBy(i => i));
    }
}
