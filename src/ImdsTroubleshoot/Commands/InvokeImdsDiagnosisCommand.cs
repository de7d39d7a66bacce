using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Ec2;

namespace ImdsTroubleshoot.Commands;

/// <summary>
/// Runs every check (platform, proxy, endpoint, IMDSv2 token, hop limit, IMDSv1, firewall, throttling, metadata
/// options, IPv6) and correlates them into one finding per check, each with its evidence, cause and fix. Changes
/// nothing: the fixes stay with the Repair/Remove/Set cmdlets, and the findings pipe into them.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ImdsDiagnosis", DefaultParameterSetName = Local)]
[OutputType(typeof(ImdsFinding))]
public sealed partial class InvokeImdsDiagnosisCommand : AwsCmdletBase
{
    public const string Local = "Local";

    /// <summary>Remote instances through SSM Run Command (InvokeImdsDiagnosisCommand.Ssm.cs).</summary>
    public const string Ssm = "Ssm";

    /// <summary>Remote hosts through the system's OpenSSH client (InvokeImdsDiagnosisCommand.Ssh.cs).</summary>
    public const string Ssh = "Ssh";

    [Parameter(ParameterSetName = Local)]
    [ValidateNotNull]
    public Uri? Endpoint { get; set; }

    [Parameter]
    [ValidateRange(0.05, 120.0)]
    public double TimeoutSec { get; set; } = 1.0;

    [Parameter]
    public SwitchParameter IPv6 { get; set; }

    /// <summary>
    /// When to read the metadata options from the EC2 API. Locally, Auto asks on an EC2 instance that uses its own
    /// IMDS; over SSH, Auto asks only when -Region, -ProfileName or -EndpointUrl says which AWS account to use.
    /// </summary>
    [Parameter(ParameterSetName = Local)]
    [Parameter(ParameterSetName = Ssh)]
    public Ec2ApiUse Ec2Api { get; set; } = Ec2ApiUse.Auto;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Region { get; set; }

    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
        {
            case Ssm:
                AccumulateSsmInstanceIds();
                break;
            case Ssh:
                AccumulateSshTargets();
                break;
        }
    }

    protected override void EndProcessing()
    {
        switch (ParameterSetName)
        {
            case Ssm:
                DiagnoseSsm();
                break;
            case Ssh:
                DiagnoseSsh();
                break;
            default:
                DiagnoseLocal();
                break;
        }
    }

    private void DiagnoseLocal()
    {
        var endpointChoice = ResolveEndpoint(Endpoint);
        AwsConnectionOptions template = ConnectionOptions(Region, "-Region");
        var progress = new ProgressRecord(1, "Diagnosing IMDS on this machine", "starting");
        var options = new LocalDiagnosisOptions
        {
            Endpoint = Endpoint,
            StepTimeout = TimeSpan.FromSeconds(TimeoutSec),
            IPv6 = IPv6.IsPresent,
            Ec2Api = Ec2Api,
            Region = Region,
            ReadMetadataOptions = (id, region, ct) => ReadMetadataOptionsAsync(template, id, region, ct),
        };
        WriteVerbose($"Endpoint {endpointChoice}; each probe step has {TimeoutSec:0.###} s; nothing is changed.");
        DiagnosisInput input;
        try
        {
            input = RunAsync(ct => LocalDiagnosis.GatherAsync(options, step => Post(() =>
            {
                progress.StatusDescription = step;
                WriteProgress(progress);
                WriteVerbose(step);
            }), ct));
        }
        finally
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }

        foreach (ImdsFinding finding in DiagnosisEngine.Analyze(input))
        {
            WriteObject(finding);
        }
    }

    /// <summary>DescribeInstances for one instance, through the isolated SDK; the Region learned from IMDS wins over none.</summary>
    private static async Task<ImdsMetadataOption?> ReadMetadataOptionsAsync(AwsConnectionOptions template, string instanceId, string? region, CancellationToken ct)
    {
        var options = new AwsConnectionOptions
        {
            Region = template.Region ?? region,
            RegionSource = template.Region is null ? "the instance identity document" : template.RegionSource,
            ProfileName = template.ProfileName,
            EndpointUrl = template.EndpointUrl,
            SessionCredentials = template.SessionCredentials,
            SessionRegion = template.SessionRegion,
            RequestTimeout = TimeSpan.FromSeconds(10),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        using IEc2MetadataApi api = AwsBridgeAccess.Bridge.ConnectEc2(options);
        var reader = new MetadataOptionsReader(api);
        await foreach (var page in reader.ReadByIdsAsync(new[] { instanceId }, Array.Empty<Ec2Filter>(), ct).ConfigureAwait(false))
        {
            if (page.Items.FirstOrDefault() is { } item)
            {
                return item;
            }
        }

        return null;
    }
}
