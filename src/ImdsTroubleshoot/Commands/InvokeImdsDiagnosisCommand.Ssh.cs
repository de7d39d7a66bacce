using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Remote;

namespace ImdsTroubleshoot.Commands;

/// <summary>
/// Invoke-ImdsDiagnosis -HostName: the collector over SSH with the system's OpenSSH client, analyzed here by the
/// same engine as a local run. Host names, user names, ports and key files are validated in ProcessRecord (a bad
/// one is an error for that host only); the hosts run in EndProcessing, ThrottleLimit at a time, and each host's
/// findings are written as soon as it finishes.
/// </summary>
public sealed partial class InvokeImdsDiagnosisCommand
{
    private readonly List<SshTarget> _sshTargets = new();

    /// <summary>The hosts to diagnose: DNS names, IPv4 or IPv6 addresses (also from the pipeline, by property name).</summary>
    [Parameter(ParameterSetName = Ssh, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("ComputerName")]
    [ValidateNotNullOrEmpty]
    public string[] HostName { get; set; } = Array.Empty<string>();

    /// <summary>The remote user (ssh -l); default: ssh_config, else the local user name.</summary>
    [Parameter(ParameterSetName = Ssh, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? UserName { get; set; }

    /// <summary>The private key file (ssh -i, with IdentitiesOnly=yes); default: ssh_config, the agent and the default keys.</summary>
    [Parameter(ParameterSetName = Ssh, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? KeyFilePath { get; set; }

    /// <summary>The SSH port; default: ssh_config, else 22.</summary>
    [Parameter(ParameterSetName = Ssh, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(1, 65535)]
    public int Port { get; set; }

    /// <summary>Run the collector with 'sudo -n' (reading the firewall needs root); sudo must not ask for a password.</summary>
    [Parameter(ParameterSetName = Ssh)]
    public SwitchParameter Sudo { get; set; }

    /// <summary>A known_hosts file to verify host keys against (UserKnownHostsFile) instead of ~/.ssh/known_hosts.</summary>
    [Parameter(ParameterSetName = Ssh)]
    [ValidateNotNullOrEmpty]
    public string? KnownHostsFilePath { get; set; }

    /// <summary>Trust a host seen for the first time and record its key (StrictHostKeyChecking=accept-new); a changed key still fails.</summary>
    [Parameter(ParameterSetName = Ssh)]
    public SwitchParameter AcceptNewHostKey { get; set; }

    /// <summary>ssh's ConnectTimeout, in seconds (TCP connect and SSH handshake).</summary>
    [Parameter(ParameterSetName = Ssh)]
    [ValidateRange(1, 120)]
    public int ConnectTimeoutSec { get; set; } = 10;

    /// <summary>How many hosts are diagnosed at once.</summary>
    [Parameter(ParameterSetName = Ssh)]
    [ValidateRange(1, 64)]
    public int ThrottleLimit { get; set; } = 4;

    /// <summary>ProcessRecord: validates this record's hosts; a bad value is an error for that host, before any process starts.</summary>
    private void AccumulateSshTargets()
    {
        string? keyPath = null;
        if (KeyFilePath is not null)
        {
            try
            {
                keyPath = SessionState.Path.GetUnresolvedProviderPathFromPSPath(KeyFilePath);
            }
            catch (Exception ex) when (ex is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or PSArgumentException)
            {
                foreach (string host in HostName)
                {
                    WriteError(new SshArgumentException(SshArgumentKind.KeyFileNotFound, KeyFilePath, $"The key file path '{KeyFilePath}' is not a file system path: {ex.Message}"),
                        ErrorIds.SshKeyFileNotFound, ErrorCategory.ObjectNotFound, host);
                }

                return;
            }
        }

        // 0 is "not given" (ValidateRange keeps users from passing it). BoundParameters would not do: PowerShell
        // resets a pipeline-bound Port to its default between records but leaves its name in BoundParameters.
        int? port = Port == 0 ? null : Port;
        foreach (string host in HostName)
        {
            try
            {
                var target = SshTarget.Create(host, UserName, port, keyPath);
                if (_sshTargets.Exists(t => t.HostName == target.HostName && t.UserName == target.UserName && t.Port == target.Port && t.KeyFilePath == target.KeyFilePath))
                {
                    WriteVerbose($"{target.Display} is given more than once; it is diagnosed once.");
                    continue;
                }

                _sshTargets.Add(target);
            }
            catch (SshArgumentException ex)
            {
                var (id, category) = ex.Kind switch
                {
                    SshArgumentKind.HostName => (ErrorIds.SshInvalidHostName, ErrorCategory.InvalidArgument),
                    SshArgumentKind.UserName => (ErrorIds.SshInvalidUserName, ErrorCategory.InvalidArgument),
                    SshArgumentKind.Port => (ErrorIds.SshInvalidPort, ErrorCategory.InvalidArgument),
                    SshArgumentKind.KeyFileUnreadable => (ErrorIds.SshKeyFileUnreadable, ErrorCategory.PermissionDenied),
                    _ => (ErrorIds.SshKeyFileNotFound, ErrorCategory.ObjectNotFound),
                };
                WriteError(ex, id, category, host);
            }
        }
    }

    /// <summary>EndProcessing: runs every valid host, ThrottleLimit at a time, writing each host's findings or error as it finishes.</summary>
    private void DiagnoseSsh()
    {
        if (_sshTargets.Count == 0)
        {
            return;
        }

        string? knownHosts = null;
        if (KnownHostsFilePath is not null)
        {
            try
            {
                knownHosts = SshTarget.ValidateReadableFile(SessionState.Path.GetUnresolvedProviderPathFromPSPath(KnownHostsFilePath),
                    SshArgumentKind.KnownHostsFileNotFound, SshArgumentKind.KnownHostsFileUnreadable, "known_hosts file");
            }
            catch (SshArgumentException ex)
            {
                ThrowTerminatingError(ex, ex.Kind == SshArgumentKind.KnownHostsFileUnreadable ? ErrorIds.SshKnownHostsFileUnreadable : ErrorIds.SshKnownHostsFileNotFound,
                    ex.Kind == SshArgumentKind.KnownHostsFileUnreadable ? ErrorCategory.PermissionDenied : ErrorCategory.ObjectNotFound, KnownHostsFilePath);
            }
            catch (Exception ex) when (ex is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or PSArgumentException)
            {
                ThrowTerminatingError(ex, ErrorIds.SshKnownHostsFileNotFound, ErrorCategory.ObjectNotFound, KnownHostsFilePath);
            }
        }

        // The EC2 API (the HopLimit and MetadataOptions checks' evidence) is asked with this machine's AWS credentials,
        // so over SSH only when the user names an account, Region or endpoint, or says -Ec2Api Always.
        bool awsNamed = Region is not null || ProfileName is not null || EndpointUrl is not null;
        bool askEc2 = Ec2Api == Ec2ApiUse.Always || (Ec2Api == Ec2ApiUse.Auto && awsNamed);
        AwsConnectionOptions? ec2Template = askEc2 ? ConnectionOptions(Region, "-Region") : null;
        var options = new SshDiagnosisOptions
        {
            ReadMetadataOptions = ec2Template is null ? null : (id, region, ct) => ReadMetadataOptionsAsync(ec2Template, id, region, ct),
            MetadataOptionsUnavailable = Ec2Api == Ec2ApiUse.Never
                ? "-Ec2Api Never"
                : "over SSH the EC2 API is asked only with -Region, -ProfileName, -EndpointUrl or -Ec2Api Always",
            Collector = new CollectorParameters { TimeoutSec = TimeoutSec, IPv6 = IPv6.IsPresent },
            Sudo = Sudo.IsPresent,
            HostKeyPolicy = AcceptNewHostKey.IsPresent ? SshHostKeyPolicy.AcceptNew : SshHostKeyPolicy.Strict,
            KnownHostsFilePath = knownHosts,
            ConnectTimeout = TimeSpan.FromSeconds(ConnectTimeoutSec),
            ThrottleLimit = ThrottleLimit,
        };

        SshDiagnosis diagnosis;
        try
        {
            diagnosis = new SshDiagnosis(options);
        }
        catch (FileNotFoundException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.SshClientNotFound, ErrorCategory.NotInstalled, "ssh");
            throw;
        }

        if (awsNamed && !askEc2)
        {
            WriteWarning("-Region, -ProfileName and -EndpointUrl are not used with -Ec2Api Never: the MetadataOptions check is skipped.");
        }

        string seconds(TimeSpan t) => t.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);
        WriteVerbose($"ssh client {diagnosis.Client}; {_sshTargets.Count} host(s), {ThrottleLimit} at a time; each host gets {seconds(options.TotalTimeout)} s (connect {ConnectTimeoutSec} s + the collector's budget); host keys: "
            + (AcceptNewHostKey.IsPresent ? "a new host is trusted on first use, a changed key fails" : "must already be known") + (knownHosts is null ? " (the user's known_hosts)" : " (" + knownHosts + ")") + "; "
            + (ec2Template is null ? "the EC2 API is not asked (" + options.MetadataOptionsUnavailable + ")." : "the metadata options of the instance each host names come from the EC2 API" + (Region is null ? " in the Region the host's IMDS names." : " in " + Region + ".")));

        var progress = new ProgressRecord(2, "Diagnosing IMDS over SSH", $"0 of {_sshTargets.Count} host(s) done");
        int done = 0;
        try
        {
            RunAsync(async ct =>
            {
                await diagnosis.RunManyAsync(
                    _sshTargets,
                    target => Post(() => WriteVerbose($"{target.Display}: {SshCommandLine.Display(diagnosis.Client, diagnosis.ArgumentsFor(target))}")),
                    result => Post(() =>
                    {
                        done++;
                        progress.StatusDescription = $"{done} of {_sshTargets.Count} host(s) done (last: {result.Target.Display})";
                        progress.PercentComplete = done * 100 / _sshTargets.Count;
                        WriteProgress(progress);
                        WriteSshResult(result);
                    }),
                    ct).ConfigureAwait(false);
                return true;
            });
        }
        finally
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }
    }

    private void WriteSshResult(SshHostResult result)
    {
        string host = result.Target.HostName;
        if (result.Failure is { } failure)
        {
            var (id, category) = failure.Kind switch
            {
                SshFailureKind.ClientNotFound => (ErrorIds.SshClientNotFound, ErrorCategory.NotInstalled),
                SshFailureKind.AuthenticationFailed => (ErrorIds.SshAuthenticationFailed, ErrorCategory.AuthenticationError),
                SshFailureKind.KeyFileRejected => (ErrorIds.SshKeyFileRejected, ErrorCategory.SecurityError),
                SshFailureKind.ConnectionRefused => (ErrorIds.SshConnectionRefused, ErrorCategory.ConnectionError),
                SshFailureKind.ConnectTimeout => (ErrorIds.SshConnectTimeout, ErrorCategory.OperationTimeout),
                SshFailureKind.HostUnreachable => (ErrorIds.SshHostUnreachable, ErrorCategory.ConnectionError),
                SshFailureKind.HostNameNotResolved => (ErrorIds.SshHostNameNotResolved, ErrorCategory.ObjectNotFound),
                SshFailureKind.HostKeyUnknown => (ErrorIds.SshHostKeyUnknown, ErrorCategory.SecurityError),
                SshFailureKind.HostKeyChanged => (ErrorIds.SshHostKeyChanged, ErrorCategory.SecurityError),
                SshFailureKind.SudoPasswordRequired => (ErrorIds.SshSudoPasswordRequired, ErrorCategory.PermissionDenied),
                SshFailureKind.RemoteCommandFailed => (ErrorIds.SshRemoteCommandFailed, ErrorCategory.InvalidResult),
                SshFailureKind.Timeout => (ErrorIds.SshTimeout, ErrorCategory.OperationTimeout),
                _ => (ErrorIds.SshFailed, ErrorCategory.ConnectionError),
            };
            var record = Error(new SshDiagnosisException(failure), id, category, host);
            if (!string.IsNullOrEmpty(failure.Detail))
            {
                record.ErrorDetails = new ErrorDetails(failure.Message + " ssh said: " + failure.Detail);
            }

            WriteVerbose($"{result.Target.Display}: failed after {result.Elapsed.TotalSeconds:0.0} s ({failure.Kind}).");
            WriteError(record);
            return;
        }

        WriteVerbose($"{result.Target.Display}: collector output analyzed after {result.Elapsed.TotalSeconds:0.0} s.");
        if (result.OutputTruncated)
        {
            WriteWarning($"{result.Target.Display}: the collector's output went past the cap and was cut; the Collection finding lists what is missing.");
        }

        foreach (ImdsFinding finding in result.Findings)
        {
            WriteObject(finding);
        }
    }
}
