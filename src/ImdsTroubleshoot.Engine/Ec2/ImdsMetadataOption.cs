using System;
using System.Collections.Generic;
using System.Linq;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>
/// The instance metadata options of one EC2 instance, as DescribeInstances reports them
/// (<c>aws ec2 describe-instances --query 'Reservations[].Instances[].MetadataOptions'</c>), with what they mean.
/// </summary>
public sealed class ImdsMetadataOption
{
    public ImdsMetadataOption(
        string instanceId,
        string? name,
        string? instanceState,
        MetadataOptionsState? state,
        FeatureState? httpEndpoint,
        HttpTokensState? httpTokens,
        int? httpPutResponseHopLimit,
        FeatureState? httpProtocolIpv6,
        FeatureState? instanceMetadataTags,
        string? region,
        string? platform = null)
    {
        InstanceId = instanceId;
        Name = name;
        InstanceState = instanceState;
        State = state;
        HttpEndpoint = httpEndpoint;
        HttpTokens = httpTokens;
        HttpPutResponseHopLimit = httpPutResponseHopLimit;
        HttpProtocolIpv6 = httpProtocolIpv6;
        InstanceMetadataTags = instanceMetadataTags;
        Region = region;
        Platform = platform;
        Findings = Assess();
        Assessment = Findings.Count > 0 ? string.Join("; ", Findings.Select(Describe))
            : IsImdsV2Enforced ? "OK: IMDSv2 required"
            : "metadata options not reported";
    }

    public string InstanceId { get; }

    /// <summary>The instance's Name tag, if it has one.</summary>
    public string? Name { get; }

    /// <summary>pending, running, stopping, stopped, shutting-down or terminated.</summary>
    public string? InstanceState { get; }

    /// <summary>Whether the metadata options shown are in effect (Applied) or still being applied (Pending).</summary>
    public MetadataOptionsState? State { get; }

    /// <summary>IMDS on or off. Disabled: every request gets 403.</summary>
    public FeatureState? HttpEndpoint { get; }

    /// <summary>Required: IMDSv2 only. Optional: IMDSv1 allowed too.</summary>
    public HttpTokensState? HttpTokens { get; }

    /// <summary>IP TTL of the token response, 1..64. Containers need 2.</summary>
    public int? HttpPutResponseHopLimit { get; }

    /// <summary>The IPv6 endpoint fd00:ec2::254 (Nitro instances).</summary>
    public FeatureState? HttpProtocolIpv6 { get; }

    /// <summary>Instance tags readable under meta-data/tags/instance.</summary>
    public FeatureState? InstanceMetadataTags { get; }

    public string? Region { get; }

    /// <summary>"windows" for Windows instances; null for Linux and others.</summary>
    public string? Platform { get; }

    /// <summary>What the options mean, as codes; empty when nothing needs attention.</summary>
    public IReadOnlyList<MetadataOptionFinding> Findings { get; }

    /// <summary>What the options mean, in plain words.</summary>
    public string Assessment { get; }

    /// <summary>IMDS is on and requires IMDSv2: what AWS recommends and what compliance checks look for.</summary>
    public bool IsImdsV2Enforced => HttpEndpoint == FeatureState.Enabled && HttpTokens == HttpTokensState.Required;

    /// <summary>Builds the result from what the EC2 API returned.</summary>
    public static ImdsMetadataOption From(Ec2InstanceRecord record, string? region)
    {
        ArgumentNullException.ThrowIfNull(record);
        var m = record.MetadataOptions;
        return new ImdsMetadataOption(
            record.InstanceId,
            string.IsNullOrEmpty(record.Name) ? null : record.Name,
            record.InstanceState,
            MetadataOptionValues.ParseState(m?.State),
            MetadataOptionValues.ParseFeature(m?.HttpEndpoint),
            MetadataOptionValues.ParseTokens(m?.HttpTokens),
            m?.HttpPutResponseHopLimit,
            MetadataOptionValues.ParseFeature(m?.HttpProtocolIpv6),
            MetadataOptionValues.ParseFeature(m?.InstanceMetadataTags),
            region,
            string.IsNullOrEmpty(record.Platform) ? null : record.Platform);
    }

    /// <summary>This instance with new options (e.g. from ModifyInstanceMetadataOptions' answer); name and instance state kept.</summary>
    public ImdsMetadataOption WithOptions(InstanceMetadataOptionsRecord options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ImdsMetadataOption(
            InstanceId,
            Name,
            InstanceState,
            MetadataOptionValues.ParseState(options.State) ?? State,
            MetadataOptionValues.ParseFeature(options.HttpEndpoint) ?? HttpEndpoint,
            MetadataOptionValues.ParseTokens(options.HttpTokens) ?? HttpTokens,
            options.HttpPutResponseHopLimit ?? HttpPutResponseHopLimit,
            MetadataOptionValues.ParseFeature(options.HttpProtocolIpv6) ?? HttpProtocolIpv6,
            MetadataOptionValues.ParseFeature(options.InstanceMetadataTags) ?? InstanceMetadataTags,
            Region,
            Platform);
    }

    private List<MetadataOptionFinding> Assess()
    {
        var findings = new List<MetadataOptionFinding>();
        if (HttpEndpoint == FeatureState.Disabled)
        {
            findings.Add(MetadataOptionFinding.ImdsDisabled);
        }

        if (HttpTokens == HttpTokensState.Optional && HttpEndpoint != FeatureState.Disabled)
        {
            findings.Add(MetadataOptionFinding.ImdsV1Allowed);
        }

        if (HttpPutResponseHopLimit == 1 && HttpEndpoint != FeatureState.Disabled)
        {
            findings.Add(MetadataOptionFinding.HopLimitOne);
        }

        if (State == MetadataOptionsState.Pending)
        {
            findings.Add(MetadataOptionFinding.ChangePending);
        }

        if (InstanceState is "stopped" or "stopping" or "shutting-down" or "terminated")
        {
            findings.Add(MetadataOptionFinding.NotRunning);
        }

        return findings;
    }

    /// <summary>Short plain words for one finding.</summary>
    public static string Describe(MetadataOptionFinding finding) => finding switch
    {
        MetadataOptionFinding.ImdsDisabled => "IMDS off",
        MetadataOptionFinding.ImdsV1Allowed => "IMDSv1 allowed",
        MetadataOptionFinding.HopLimitOne => "hop limit 1: a risk if it runs containers",
        MetadataOptionFinding.ChangePending => "change pending",
        MetadataOptionFinding.NotRunning => "not running",
        _ => finding.ToString(),
    };

    public override string ToString() => $"{InstanceId}: {Assessment}";
}
