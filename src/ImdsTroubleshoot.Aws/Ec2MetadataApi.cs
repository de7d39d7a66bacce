using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Amazon.EC2;
using Amazon.EC2.Model;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Ec2;
using EngineTokens = ImdsTroubleshoot.Engine.Emulator.HttpTokensState;

namespace ImdsTroubleshoot.Aws;

/// <summary>DescribeInstances and ModifyInstanceMetadataOptions through AWSSDK.EC2, mapped to engine types.</summary>
internal sealed class Ec2MetadataApi : IEc2MetadataApi
{
    private readonly AmazonEC2Client _client;

    public Ec2MetadataApi(AmazonEC2Client client, AwsConnectionInfo connection)
    {
        _client = client;
        Connection = connection;
    }

    public AwsConnectionInfo Connection { get; }

    public async Task<Ec2InstancePage> DescribeInstancesAsync(Ec2DescribeRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var sdkRequest = new DescribeInstancesRequest
        {
            InstanceIds = request.InstanceIds.Count > 0 ? request.InstanceIds.ToList() : null,
            Filters = request.Filters.Count > 0 ? request.Filters.Select(f => new Filter(f.Name, f.Values.ToList())).ToList() : null,
            MaxResults = request.MaxResults,
            NextToken = request.NextToken,
        };
        DescribeInstancesResponse response;
        try
        {
            response = await _client.DescribeInstancesAsync(sdkRequest, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw SdkErrors.Translate(ex, "DescribeInstances", cancellationToken);
        }

        // SDK v4 leaves empty collections null.
        var instances = (response.Reservations ?? new List<Reservation>())
            .SelectMany(r => r.Instances ?? new List<Instance>())
            .Where(i => !string.IsNullOrEmpty(i.InstanceId))
            .Select(Map)
            .ToList();
        return new Ec2InstancePage(instances, response.NextToken);
    }

    public async Task<InstanceMetadataOptionsRecord> ModifyInstanceMetadataOptionsAsync(string instanceId, MetadataOptionsChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        var request = new ModifyInstanceMetadataOptionsRequest { InstanceId = instanceId };
        if (change.HttpTokens is EngineTokens tokens)
        {
            request.HttpTokens = HttpTokensState.FindValue(MetadataOptionValues.ToWire(tokens));
        }

        if (change.HttpEndpoint is { } endpoint)
        {
            request.HttpEndpoint = InstanceMetadataEndpointState.FindValue(MetadataOptionValues.ToWire(endpoint));
        }

        if (change.HttpPutResponseHopLimit is { } hop)
        {
            request.HttpPutResponseHopLimit = hop;
        }

        if (change.HttpProtocolIpv6 is { } ipv6)
        {
            request.HttpProtocolIpv6 = InstanceMetadataProtocolState.FindValue(MetadataOptionValues.ToWire(ipv6));
        }

        if (change.InstanceMetadataTags is { } tags)
        {
            request.InstanceMetadataTags = InstanceMetadataTagsState.FindValue(MetadataOptionValues.ToWire(tags));
        }

        ModifyInstanceMetadataOptionsResponse response;
        try
        {
            response = await _client.ModifyInstanceMetadataOptionsAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw SdkErrors.Translate(ex, "ModifyInstanceMetadataOptions", cancellationToken);
        }

        return Map(response.InstanceMetadataOptions) ?? new InstanceMetadataOptionsRecord { State = "pending" };
    }

    private static Ec2InstanceRecord Map(Instance i)
    {
        return new Ec2InstanceRecord
        {
            InstanceId = i.InstanceId,
            Name = i.Tags?.FirstOrDefault(t => t.Key == "Name")?.Value,
            InstanceState = i.State?.Name?.Value,
            Platform = i.Platform?.Value?.ToLowerInvariant(),
            MetadataOptions = Map(i.MetadataOptions),
        };
    }

    private static InstanceMetadataOptionsRecord? Map(InstanceMetadataOptionsResponse? m) => m is null ? null : new InstanceMetadataOptionsRecord
    {
        State = m.State?.Value,
        HttpTokens = m.HttpTokens?.Value,
        HttpPutResponseHopLimit = m.HttpPutResponseHopLimit,
        HttpEndpoint = m.HttpEndpoint?.Value,
        HttpProtocolIpv6 = m.HttpProtocolIpv6?.Value,
        InstanceMetadataTags = m.InstanceMetadataTags?.Value,
    };

    public void Dispose() => _client.Dispose();
}
