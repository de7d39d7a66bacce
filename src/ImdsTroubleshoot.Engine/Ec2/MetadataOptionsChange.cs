using System;
using System.Collections.Generic;
using System.Linq;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>One option that a change sets: its name, the current value (null when unknown) and the new one.</summary>
public sealed record MetadataOptionDifference(string Name, string? From, string To)
{
    public override string ToString() => From is null ? $"{Name} -> {To}" : $"{Name} {From} -> {To}";
}

/// <summary>
/// The options a ModifyInstanceMetadataOptions call sets; the ones left null keep their current value
/// (<c>aws ec2 modify-instance-metadata-options --instance-id ID --http-endpoint enabled ...</c>).
/// </summary>
public sealed class MetadataOptionsChange
{
    public HttpTokensState? HttpTokens { get; init; }

    public FeatureState? HttpEndpoint { get; init; }

    public int? HttpPutResponseHopLimit { get; init; }

    public FeatureState? HttpProtocolIpv6 { get; init; }

    public FeatureState? InstanceMetadataTags { get; init; }

    public bool IsEmpty => HttpTokens is null && HttpEndpoint is null && HttpPutResponseHopLimit is null && HttpProtocolIpv6 is null && InstanceMetadataTags is null;

    /// <summary>Throws when nothing is set or the hop limit is outside 1..64.</summary>
    public MetadataOptionsChange Validate()
    {
        if (IsEmpty)
        {
            throw new ArgumentException("No option to change: give at least one of -HttpEndpoint, -HttpTokens, -HttpPutResponseHopLimit, -HttpProtocolIpv6, -InstanceMetadataTags.");
        }

        if (HttpPutResponseHopLimit is < ImdsDefaults.MinHopLimit or > ImdsDefaults.MaxHopLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(HttpPutResponseHopLimit), HttpPutResponseHopLimit, "The hop limit must be between 1 and 64.");
        }

        return this;
    }

    /// <summary>
    /// The options this change would change on an instance whose current options are <paramref name="current"/>:
    /// only those that differ. When <paramref name="current"/> is null (not known), every option it sets.
    /// </summary>
    public IReadOnlyList<MetadataOptionDifference> Compare(ImdsMetadataOption? current)
    {
        var result = new List<MetadataOptionDifference>();
        void Add<T>(string name, T? wanted, T? have, Func<T, string> wire)
            where T : struct
        {
            if (wanted is null)
            {
                return;
            }

            if (current is null)
            {
                result.Add(new MetadataOptionDifference(name, null, wire(wanted.Value)));
            }
            else if (have is null || !EqualityComparer<T>.Default.Equals(have.Value, wanted.Value))
            {
                result.Add(new MetadataOptionDifference(name, have is null ? "(unknown)" : wire(have.Value), wire(wanted.Value)));
            }
        }

        Add("HttpEndpoint", HttpEndpoint, current?.HttpEndpoint, MetadataOptionValues.ToWire);
        Add("HttpTokens", HttpTokens, current?.HttpTokens, MetadataOptionValues.ToWire);
        Add("HttpPutResponseHopLimit", HttpPutResponseHopLimit, current?.HttpPutResponseHopLimit, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Add("HttpProtocolIpv6", HttpProtocolIpv6, current?.HttpProtocolIpv6, MetadataOptionValues.ToWire);
        Add("InstanceMetadataTags", InstanceMetadataTags, current?.InstanceMetadataTags, MetadataOptionValues.ToWire);
        return result;
    }

    /// <summary>True when <paramref name="options"/> show every option this change sets.</summary>
    public bool IsSatisfiedBy(ImdsMetadataOption options) => Compare(options ?? throw new ArgumentNullException(nameof(options))).Count == 0;

    /// <summary>"HttpTokens optional -> required, HttpEndpoint disabled -> enabled".</summary>
    public static string Describe(IReadOnlyList<MetadataOptionDifference> differences) =>
        differences is null || differences.Count == 0 ? "nothing" : string.Join(", ", differences.Select(d => d.ToString()));

    /// <summary>The options this change sets, as "HttpEndpoint enabled, HttpTokens required".</summary>
    public string DescribeTarget() => string.Join(", ", Compare(null).Select(d => $"{d.Name} {d.To}"));

    /// <summary>The same change as an AWS CLI command line, for help text and messages.</summary>
    public string ToAwsCli(string instanceId, string? region = null)
    {
        var parts = new List<string> { "aws ec2 modify-instance-metadata-options", "--instance-id " + instanceId };
        if (HttpEndpoint is { } e)
        {
            parts.Add("--http-endpoint " + MetadataOptionValues.ToWire(e));
        }

        if (HttpTokens is { } t)
        {
            parts.Add("--http-tokens " + MetadataOptionValues.ToWire(t));
        }

        if (HttpPutResponseHopLimit is { } h)
        {
            parts.Add("--http-put-response-hop-limit " + h.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (HttpProtocolIpv6 is { } v6)
        {
            parts.Add("--http-protocol-ipv6 " + MetadataOptionValues.ToWire(v6));
        }

        if (InstanceMetadataTags is { } tags)
        {
            parts.Add("--instance-metadata-tags " + MetadataOptionValues.ToWire(tags));
        }

        if (region is not null)
        {
            parts.Add("--region " + region);
        }

        return string.Join(" ", parts);
    }
}
