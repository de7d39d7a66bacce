using System;
using System.Collections.Concurrent;
using System.Globalization;

namespace ImdsTroubleshoot.Engine.Client;

/// <summary>Shortcuts for the metadata people ask for most.</summary>
public enum ImdsMetadataCategory
{
    InstanceId,
    InstanceType,
    Region,
    AvailabilityZone,
    AvailabilityZoneId,
    AccountId,
    AmiId,
    Hostname,
    LocalHostname,
    LocalIPv4,
    PublicHostname,
    PublicIPv4,
    MacAddress,
    SecurityGroups,
    Partition,
    Domain,
    IdentityDocument,
    InstanceProfile,
    RoleName,
    Credentials,
    Tags,
    UserData,
}

public static class ImdsCategories
{
    /// <summary>The path a simple category reads; null for categories that need more than one read.</summary>
    public static string? PathOf(ImdsMetadataCategory category) => category switch
    {
        ImdsMetadataCategory.InstanceId => "/latest/meta-data/instance-id",
        ImdsMetadataCategory.InstanceType => "/latest/meta-data/instance-type",
        ImdsMetadataCategory.Region => "/latest/meta-data/placement/region",
        ImdsMetadataCategory.AvailabilityZone => "/latest/meta-data/placement/availability-zone",
        ImdsMetadataCategory.AvailabilityZoneId => "/latest/meta-data/placement/availability-zone-id",
        ImdsMetadataCategory.AmiId => "/latest/meta-data/ami-id",
        ImdsMetadataCategory.Hostname => "/latest/meta-data/hostname",
        ImdsMetadataCategory.LocalHostname => "/latest/meta-data/local-hostname",
        ImdsMetadataCategory.LocalIPv4 => "/latest/meta-data/local-ipv4",
        ImdsMetadataCategory.PublicHostname => "/latest/meta-data/public-hostname",
        ImdsMetadataCategory.PublicIPv4 => "/latest/meta-data/public-ipv4",
        ImdsMetadataCategory.MacAddress => "/latest/meta-data/mac",
        ImdsMetadataCategory.SecurityGroups => "/latest/meta-data/security-groups",
        ImdsMetadataCategory.Partition => "/latest/meta-data/services/partition",
        ImdsMetadataCategory.Domain => "/latest/meta-data/services/domain",
        ImdsMetadataCategory.IdentityDocument => "/latest/dynamic/instance-identity/document",
        ImdsMetadataCategory.AccountId => "/latest/dynamic/instance-identity/document",
        ImdsMetadataCategory.InstanceProfile => "/latest/meta-data/iam/info",
        ImdsMetadataCategory.RoleName => "/latest/meta-data/iam/security-credentials/",
        ImdsMetadataCategory.Credentials => "/latest/meta-data/iam/security-credentials/",
        ImdsMetadataCategory.Tags => "/latest/meta-data/tags/instance/",
        ImdsMetadataCategory.UserData => "/latest/user-data",
        _ => throw new ArgumentOutOfRangeException(nameof(category), category, null),
    };
}

/// <summary>
/// Clients shared across cmdlet calls in a process, keyed by their options, so the token (in memory only) and
/// keep-alive connections are reused between commands.
/// </summary>
public static class ImdsClientCache
{
    private static readonly ConcurrentDictionary<string, ImdsClient> s_clients = new(StringComparer.Ordinal);

    public static ImdsClient Get(ImdsClientOptions options)
    {
        string key = string.Join("|", options.Endpoint, options.AllowV1, options.AttemptTimeout.Ticks.ToString(CultureInfo.InvariantCulture),
            options.TotalTimeout.Ticks.ToString(CultureInfo.InvariantCulture), options.MaxAttempts.ToString(CultureInfo.InvariantCulture),
            options.MaxRequestsPerSecond.ToString(CultureInfo.InvariantCulture), options.TokenTtlSeconds.ToString(CultureInfo.InvariantCulture),
            options.MaxResponseBytes.ToString(CultureInfo.InvariantCulture));
        return s_clients.GetOrAdd(key, _ => new ImdsClient(options));
    }

    /// <summary>
    /// Forgets every cached client and its token (Remove-Module). Clients are not disposed: a call still running
    /// elsewhere finishes; the garbage collector closes their connections.
    /// </summary>
    public static void Clear() => s_clients.Clear();
}
