using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Threading;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Ec2;

namespace ImdsTroubleshoot.Commands;

/// <summary>
/// Reads the instance metadata options of EC2 instances through the EC2 API (DescribeInstances): this instance,
/// named instances (also from the pipeline), instances matching filters, or every instance in a Region.
/// </summary>
/// <remarks>
/// Which instances, by parameter set: Self (no -InstanceId, -Filter or -All) is the instance this runs on, found
/// through IMDS; ById takes -InstanceId (or the pipeline), optionally narrowed by -Filter; ByFilter takes the
/// instances that match -Filter; All takes every instance in the Region. Reading a fleet never happens by
/// accident: it needs -All or -Filter.
/// </remarks>
[Cmdlet(VerbsCommon.Get, "ImdsMetadataOption", DefaultParameterSetName = SelfSet)]
[OutputType(typeof(ImdsMetadataOption))]
public sealed class GetImdsMetadataOptionCommand : AwsCmdletBase
{
    public const string SelfSet = "Self";
    public const string ByIdSet = "ById";
    public const string ByFilterSet = "ByFilter";
    public const string AllSet = "All";

    private readonly List<string> _buffer = new();
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private IReadOnlyList<Ec2Filter>? _filters;
    private int _written;
    private int _batches;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = ByIdSet)]
    [AllowEmptyCollection]
    public string[]? InstanceId { get; set; }

    [Parameter(ParameterSetName = ByIdSet)]
    [Parameter(Mandatory = true, ParameterSetName = ByFilterSet)]
    [ValidateNotNullOrEmpty]
    public object[]? Filter { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = AllSet)]
    public SwitchParameter All { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Region { get; set; }

    private IReadOnlyList<Ec2Filter> Filters => _filters ??= ConvertFilters(Filter);

    protected override void ProcessRecord()
    {
        if (ParameterSetName != ByIdSet || InstanceId is null)
        {
            return;
        }

        foreach (string? raw in InstanceId)
        {
            string id = raw?.Trim() ?? string.Empty;
            if (Ec2InstanceId.Problem(id) is { } problem)
            {
                WriteError(AwsError(new AwsApiException(AwsErrorKind.MalformedId, problem, "InvalidInstanceID.Malformed"), raw));
                continue;
            }

            if (_seen.Add(id))
            {
                _buffer.Add(id);
            }

            if (_buffer.Count >= Ec2Limits.MaxInstanceIdsPerCall)
            {
                FlushIds(Region, "-Region");
            }
        }
    }

    protected override void EndProcessing()
    {
        switch (ParameterSetName)
        {
            case ByIdSet:
                FlushIds(Region, "-Region");
                break;
            case ByFilterSet:
            case AllSet:
                ReadFleet();
                break;
            default:
                if (!MyInvocation.ExpectingInput)
                {
                    ReadSelf();
                }

                break;
        }

        WriteVerbose($"Wrote {_written} instance{(_written == 1 ? string.Empty : "s")}.");
    }

    private void ReadSelf()
    {
        InstanceIdentity identity = FindSelf();
        WriteVerbose($"This instance is {identity} (from IMDS).");
        _buffer.Add(identity.InstanceId);
        if (Region is null)
        {
            FlushIds(identity.Region, "this instance's identity (IMDS)");
        }
        else
        {
            FlushIds(Region, "-Region");
        }
    }

    private InstanceIdentity FindSelf()
    {
        string reason;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(CancellationToken))
        {
            timeout.CancelAfter(InstanceIdentityProvider.Timeout);
            try
            {
                InstanceIdentity? identity = Await(InstanceIdentityProvider.Current.TryGetAsync(timeout.Token));
                if (identity is not null)
                {
                    return identity;
                }

                reason = "IMDS did not answer (not an EC2 instance, a DROP rule, or no route: Test-ImdsEndpoint tells which)";
            }
            catch (InstanceIdentityUnavailableException ex)
            {
                reason = ex.Message;
            }
            catch (OperationCanceledException) when (!CancellationToken.IsCancellationRequested)
            {
                reason = $"IMDS did not answer within {InstanceIdentityProvider.Timeout.TotalSeconds:0} s";
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                reason = ex.Message;
            }
        }

        ThrowTerminatingError(new InvalidOperationException($"Cannot find this instance's ID and Region through IMDS: {reason}."),
            ErrorIds.InstanceIdentityUnavailable, ErrorCategory.ResourceUnavailable, null,
            "Pass -InstanceId and -Region, for example 'Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -Region eu-west-1' (from any machine with EC2 API credentials), or -All for every instance in a Region.");
        throw new InvalidOperationException("unreachable");
    }

    private void FlushIds(string? region, string regionSource)
    {
        if (_buffer.Count == 0)
        {
            return;
        }

        var ids = _buffer.ToArray();
        _buffer.Clear();
        IReadOnlyList<Ec2Filter> filters = Filters;
        IEc2MetadataApi api = ConnectEc2(region, regionSource);
        var reader = new MetadataOptionsReader(api);
        _batches++;
        if (_batches > 1 || ids.Length >= Ec2Limits.MaxInstanceIdsPerCall)
        {
            WriteProgress(new ProgressRecord(1, "Reading instance metadata options", $"{_written} instances read; next {ids.Length} in {api.Connection.Region}"));
        }

        try
        {
            foreach (var page in Iterate(reader.ReadByIdsAsync(ids, filters, CancellationToken)))
            {
                foreach (var item in page.Items)
                {
                    WriteObject(item);
                    _written++;
                }

                foreach (string id in page.NotFound)
                {
                    WriteError(AwsError(new AwsApiException(AwsErrorKind.NotFound,
                        $"The instance ID '{id}' does not exist in {api.Connection.Region} (or belongs to another account).", "InvalidInstanceID.NotFound", operation: "DescribeInstances"), id));
                }
            }
        }
        catch (AwsApiException ex) when (ex.Kind is AwsErrorKind.Throttled or AwsErrorKind.Network or AwsErrorKind.Service)
        {
            // Another batch may still get through.
            WriteError(AwsError(ex, ids.Length == 1 ? ids[0] : ids));
        }
        catch (AwsApiException ex)
        {
            ThrowTerminatingError(AwsError(ex, ids.Length == 1 ? ids[0] : ids));
        }

        WriteVerbose($"DescribeInstances: {reader.Calls} call{(reader.Calls == 1 ? string.Empty : "s")} for {ids.Length} instance ID{(ids.Length == 1 ? string.Empty : "s")}.");
    }

    private void ReadFleet()
    {
        IReadOnlyList<Ec2Filter> filters = Filters;
        IEc2MetadataApi api = ConnectEc2(Region);
        var reader = new MetadataOptionsReader(api);
        var progress = new ProgressRecord(1, $"Reading instance metadata options in {api.Connection.Region}", "DescribeInstances, page 1");
        WriteProgress(progress);
        try
        {
            foreach (var page in Iterate(reader.ReadAllAsync(filters, CancellationToken)))
            {
                foreach (var item in page.Items)
                {
                    WriteObject(item);
                    _written++;
                }

                progress.StatusDescription = $"{_written} instances read (page {page.PageNumber}{(page.IsLast ? ", last" : string.Empty)})";
                WriteProgress(progress);
            }
        }
        catch (AwsApiException ex)
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
            WriteVerbose($"Stopped after {_written} instances and {reader.Calls} DescribeInstances calls.");
            ThrowTerminatingError(AwsError(ex, filters.Count == 0 ? api.Connection.Region : filters));
        }

        progress.RecordType = ProgressRecordType.Completed;
        WriteProgress(progress);

        WriteVerbose($"DescribeInstances: {reader.Calls} call{(reader.Calls == 1 ? string.Empty : "s")} of up to {Ec2Limits.MaxPageSize} instances{(filters.Count == 0 ? string.Empty : " with filters " + string.Join("; ", filters))}.");
    }
}
