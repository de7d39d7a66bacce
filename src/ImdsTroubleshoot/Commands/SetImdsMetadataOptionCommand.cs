using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Commands;

/// <summary>
/// Changes the instance metadata options of EC2 instances (ModifyInstanceMetadataOptions): one instance or a fleet
/// from the pipeline, paced under EC2's rate limit, with a confirmation per instance that names the change.
/// </summary>
[Cmdlet(VerbsCommon.Set, "ImdsMetadataOption", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ImdsMetadataOption))]
public sealed class SetImdsMetadataOptionCommand : AwsCmdletBase
{
    private readonly Dictionary<string, RegionBatch> _batches = new(StringComparer.Ordinal);
    private readonly MetadataOptionsChangeSummary _summary = new();
    private MetadataOptionsChange _change = new();

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyCollection]
    public string[]? InstanceId { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Region { get; set; }

    [Parameter]
    public FeatureState HttpEndpoint { get; set; }

    [Parameter]
    public HttpTokensState HttpTokens { get; set; }

    [Parameter]
    [Alias("HopLimit")]
    [ValidateRange(1, 64)]
    public int HttpPutResponseHopLimit { get; set; }

    [Parameter]
    public FeatureState HttpProtocolIpv6 { get; set; }

    [Parameter]
    public FeatureState InstanceMetadataTags { get; set; }

    [Parameter]
    public SwitchParameter Wait { get; set; }

    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSeconds { get; set; } = 120;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        var bound = MyInvocation.BoundParameters;
        _change = new MetadataOptionsChange
        {
            HttpEndpoint = bound.ContainsKey(nameof(HttpEndpoint)) ? HttpEndpoint : null,
            HttpTokens = bound.ContainsKey(nameof(HttpTokens)) ? HttpTokens : null,
            HttpPutResponseHopLimit = bound.ContainsKey(nameof(HttpPutResponseHopLimit)) ? HttpPutResponseHopLimit : null,
            HttpProtocolIpv6 = bound.ContainsKey(nameof(HttpProtocolIpv6)) ? HttpProtocolIpv6 : null,
            InstanceMetadataTags = bound.ContainsKey(nameof(InstanceMetadataTags)) ? InstanceMetadataTags : null,
        };
        try
        {
            _change.Validate();
        }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.MetadataOptionsNoChange, ErrorCategory.InvalidArgument, null,
                "Name the options to set, e.g. Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -HttpTokens Required.");
        }
    }

    protected override void ProcessRecord()
    {
        if (InstanceId is null)
        {
            return;
        }

        string key = Region ?? string.Empty;
        if (!_batches.TryGetValue(key, out var batch))
        {
            batch = new RegionBatch(Region);
            _batches[key] = batch;
        }

        foreach (string? raw in InstanceId)
        {
            string id = raw?.Trim() ?? string.Empty;
            if (Ec2InstanceId.Problem(id) is { } problem)
            {
                _summary.AddRequested();
                _summary.AddFailed();
                WriteError(AwsError(new AwsApiException(AwsErrorKind.MalformedId, problem, "InvalidInstanceID.Malformed"), raw));
                continue;
            }

            if (!batch.Seen.Add(id))
            {
                continue;
            }

            _summary.AddRequested();
            batch.Buffer.Add(id);
            if (batch.Buffer.Count >= Ec2Limits.MaxInstanceIdsPerCall)
            {
                Flush(batch);
            }
        }
    }

    protected override void EndProcessing()
    {
        foreach (var batch in _batches.Values)
        {
            Flush(batch);
        }

        if (Wait.IsPresent)
        {
            foreach (var batch in _batches.Values.Where(b => b.Changed.Count > 0))
            {
                WaitForApplied(batch);
            }
        }

        WriteVerbose(_summary.ToString());
        WriteInformation(_summary, new[] { "ImdsTroubleshoot", "Summary" });
        if (!_summary.Complete)
        {
            WriteWarning(_summary.ToString());
        }
    }

    private void Flush(RegionBatch batch)
    {
        if (batch.Buffer.Count == 0)
        {
            return;
        }

        var ids = batch.Buffer.ToList();
        batch.Buffer.Clear();
        IEc2MetadataApi api = ConnectEc2(batch.Region);
        string region = api.Connection.Region;
        _summary.AddRegion(region);

        // What the instances have now: so that the confirmation shows "from -> to", and instances that already
        // have the options are left alone (no call, no rate-limit token spent).
        var current = new Dictionary<string, ImdsMetadataOption>(StringComparer.Ordinal);
        var missing = new HashSet<string>(StringComparer.Ordinal);
        bool compared = true;
        try
        {
            foreach (var page in Iterate(new MetadataOptionsReader(api).ReadByIdsAsync(ids, Array.Empty<Ec2Filter>(), CancellationToken)))
            {
                foreach (var item in page.Items)
                {
                    current[item.InstanceId] = item;
                }

                missing.UnionWith(page.NotFound);
            }
        }
        catch (AwsApiException ex) when (ex.Kind == AwsErrorKind.Unauthorized)
        {
            compared = false;
            WriteWarning($"Cannot read the current options in {region} ({ex.ErrorCode}): the change is sent to every instance without comparing. Allow ec2:DescribeInstances to compare first.");
        }
        catch (AwsApiException ex)
        {
            ThrowTerminatingError(AwsError(ex, ids.Count == 1 ? ids[0] : ids));
        }

        var planned = new List<PlannedMetadataChange>();
        foreach (string id in ids)
        {
            if (missing.Contains(id))
            {
                _summary.AddNotFound();
                WriteError(AwsError(new AwsApiException(AwsErrorKind.NotFound,
                    $"The instance ID '{id}' does not exist in {region} (or belongs to another account).", "InvalidInstanceID.NotFound", operation: "DescribeInstances"), id));
                continue;
            }

            ImdsMetadataOption? before = compared && current.TryGetValue(id, out var c) ? c : null;
            var differences = _change.Compare(before);
            if (before is not null && differences.Count == 0)
            {
                _summary.AddUnchanged();
                WriteVerbose($"{id}: already has {_change.DescribeTarget()}; nothing to do.");
                if (PassThru.IsPresent)
                {
                    WriteObject(before);
                }

                continue;
            }

            string target = $"EC2 instance {id}{(before?.Name is { } name ? $" ({name})" : string.Empty)} in {region}";
            if (!ShouldProcess(target, "Set " + MetadataOptionsChange.Describe(differences)))
            {
                _summary.AddSkipped();
                continue;
            }

            planned.Add(new PlannedMetadataChange(id, before, differences));
        }

        if (planned.Count == 0)
        {
            return;
        }

        batch.Writer ??= new MetadataOptionsWriter(api);
        var progress = new ProgressRecord(2, $"Changing instance metadata options in {region}", "ModifyInstanceMetadataOptions");
        int done = 0;
        foreach (var outcome in Iterate(batch.Writer.ApplyAsync(planned, _change, CancellationToken)))
        {
            done++;
            if (planned.Count > 1)
            {
                progress.PercentComplete = done * 100 / planned.Count;
                progress.StatusDescription = $"{done} of {planned.Count} (paced under EC2's limit: {batch.Writer.Pacer})";
                WriteProgress(progress);
            }

            if (outcome.Error is { } error)
            {
                if (error.Kind == AwsErrorKind.NotFound)
                {
                    _summary.AddNotFound();
                }
                else
                {
                    _summary.AddFailed();
                }

                WriteError(AwsError(error, outcome.InstanceId));
                continue;
            }

            _summary.AddChanged();
            WriteVerbose($"{outcome.InstanceId}: {MetadataOptionsChange.Describe(outcome.Planned.Differences)} (State {outcome.Result?.State?.ToString() ?? "unknown"}).");
            if (Wait.IsPresent)
            {
                batch.Changed.Add(outcome);
            }
            else if (PassThru.IsPresent && outcome.Result is not null)
            {
                WriteObject(outcome.Result);
            }
        }

        if (planned.Count > 1)
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }
    }

    private void WaitForApplied(RegionBatch batch)
    {
        var writer = batch.Writer!;
        var progress = new ProgressRecord(3, "Waiting for the new metadata options to apply", $"0 of {batch.Changed.Count} applied");
        int applied = 0;
        foreach (var outcome in Iterate(writer.WaitUntilAppliedAsync(batch.Changed, TimeSpan.FromSeconds(TimeoutSeconds), CancellationToken)))
        {
            if (outcome.Error is { } error)
            {
                if (error.Kind == AwsErrorKind.NotFound)
                {
                    _summary.AddNotFound();
                }
                else
                {
                    _summary.AddNotApplied();
                }

                WriteError(AwsError(error, outcome.InstanceId));
            }
            else
            {
                applied++;
                _summary.AddApplied();
                WriteVerbose($"{outcome.InstanceId}: applied.");
            }

            if (PassThru.IsPresent && outcome.Result is not null)
            {
                WriteObject(outcome.Result);
            }

            progress.StatusDescription = $"{applied} of {batch.Changed.Count} applied";
            progress.PercentComplete = applied * 100 / batch.Changed.Count;
            WriteProgress(progress);
        }

        progress.RecordType = ProgressRecordType.Completed;
        WriteProgress(progress);
    }

    /// <summary>The instances of one Region (-Region or bound from the pipeline) on their way through the command.</summary>
    private sealed class RegionBatch
    {
        public RegionBatch(string? region)
        {
            Region = region;
        }

        public string? Region { get; }

        public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);

        public List<string> Buffer { get; } = new();

        public List<MetadataChangeOutcome> Changed { get; } = new();

        public MetadataOptionsWriter? Writer { get; set; }
    }
}
