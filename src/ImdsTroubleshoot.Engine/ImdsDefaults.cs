using System;
using System.Net;

namespace ImdsTroubleshoot.Engine;

/// <summary>Addresses, headers and limits of the instance metadata service, as documented by AWS.</summary>
public static class ImdsDefaults
{
    public static readonly IPAddress IPv4Address = IPAddress.Parse("169.254.169.254");
    public static readonly IPAddress IPv6Address = IPAddress.Parse("fd00:ec2::254");
    public static readonly Uri IPv4Endpoint = new("http://169.254.169.254/");
    public static readonly Uri IPv6Endpoint = new("http://[fd00:ec2::254]/");

    public const string TokenPath = "/latest/api/token";
    public const string TokenHeader = "X-aws-ec2-metadata-token";
    public const string TokenTtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";
    public const string ForwardedForHeader = "X-Forwarded-For";
    public const int MinTokenTtlSeconds = 1;
    public const int MaxTokenTtlSeconds = 21600;
    public const int MinHopLimit = 1;
    public const int MaxHopLimit = 64;

    /// <summary>Packets per second each network interface may send to link-local services (IMDS, DNS, NTP together).</summary>
    public const int LinkLocalPacketsPerSecond = 1024;

    public const string EndpointEnvironmentVariable = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
    public const string EndpointModeEnvironmentVariable = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
    public const string DisabledEnvironmentVariable = "AWS_EC2_METADATA_DISABLED";
    public const string V1DisabledEnvironmentVariable = "AWS_EC2_METADATA_V1_DISABLED";
}
