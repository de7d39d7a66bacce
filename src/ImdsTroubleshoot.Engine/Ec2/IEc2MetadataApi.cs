using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>
/// The two EC2 calls behind the metadata-option cmdlets, as the bridge (ImdsTroubleshoot.Aws, AWSSDK.EC2) makes
/// them. Values cross as the wire strings ("enabled", "required"); the engine interprets them. Failures are
/// <see cref="AwsApiException"/>. The SDK's Standard retry mode has already retried throttling and 5xx.
/// </summary>
public interface IEc2MetadataApi : IDisposable
{
    /// <summary>What the client resolved: Region, endpoint, where the credentials came from.</summary>
    AwsConnectionInfo Connection { get; }

    /// <summary>One DescribeInstances call (one page).</summary>
    Task<Ec2InstancePage> DescribeInstancesAsync(Ec2DescribeRequest request, CancellationToken cancellationToken);

    /// <summary>One ModifyInstanceMetadataOptions call; sends only the options <paramref name="change"/> sets.</summary>
    Task<InstanceMetadataOptionsRecord> ModifyInstanceMetadataOptionsAsync(string instanceId, MetadataOptionsChange change, CancellationToken cancellationToken);
}

/// <summary>A DescribeInstances request. MaxResults cannot be combined with InstanceIds (an EC2 rule).</summary>
public sealed class Ec2DescribeRequest
{
    public IReadOnlyList<string> InstanceIds { get; init; } = Array.Empty<string>();

    public IReadOnlyList<Ec2Filter> Filters { get; init; } = Array.Empty<Ec2Filter>();

    public int? MaxResults { get; init; }

    public string? NextToken { get; init; }
}

/// <summary>One page of DescribeInstances: the instances of every reservation, flattened.</summary>
public sealed class Ec2InstancePage
{
    public Ec2InstancePage(IReadOnlyList<Ec2InstanceRecord> instances, string? nextToken)
    {
        Instances = instances;
        NextToken = string.IsNullOrEmpty(nextToken) ? null : nextToken;
    }

    public IReadOnlyList<Ec2InstanceRecord> Instances { get; }

    /// <summary>Null on the last page (an empty token also ends pagination, as in the SDKs).</summary>
    public string? NextToken { get; }
}

/// <summary>The parts of a DescribeInstances Instance this module reads.</summary>
public sealed class Ec2InstanceRecord
{
    public required string InstanceId { get; init; }

    /// <summary>The value of the Name tag.</summary>
    public string? Name { get; init; }

    /// <summary>instanceState/name: pending, running, stopping, stopped, shutting-down, terminated.</summary>
    public string? InstanceState { get; init; }

    public string? Platform { get; init; }

    public InstanceMetadataOptionsRecord? MetadataOptions { get; init; }
}

/// <summary>MetadataOptions as EC2 returns them (wire strings).</summary>
public sealed class InstanceMetadataOptionsRecord
{
    public string? State { get; init; }

    public string? HttpTokens { get; init; }

    public int? HttpPutResponseHopLimit { get; init; }

    public string? HttpEndpoint { get; init; }

    public string? HttpProtocolIpv6 { get; init; }

    public string? InstanceMetadataTags { get; init; }
}
