using System;

namespace ImdsTroubleshoot.Engine.AwsApi;

/// <summary>
/// How to reach an AWS service: what the user gave (-Region, -ProfileName, -EndpointUrl) and what the session
/// already holds (AWS.Tools defaults). The bridge fills the gaps from the AWS SDK's default chains.
/// </summary>
/// <remarks>
/// Region order: <see cref="Region"/>, the region of <see cref="ProfileName"/>, <see cref="SessionRegion"/>,
/// then the SDK chain (AWS_REGION, AWS_DEFAULT_REGION, the default profile, the instance's IMDS).
/// Credential order: <see cref="ProfileName"/>, <see cref="SessionCredentials"/>, then the SDK chain
/// (environment, shared config and credentials files with AWS_PROFILE or default, SSO, assume-role,
/// container and instance-profile credentials).
/// Endpoint order: <see cref="EndpointUrl"/>, then AWS_ENDPOINT_URL_&lt;SERVICE&gt; / AWS_ENDPOINT_URL and the
/// profile's endpoint_url (read by the SDK), then the service's public endpoint for the Region.
/// </remarks>
public sealed class AwsConnectionOptions
{
    /// <summary>The Region the user asked for (-Region), or one learned for this call such as the instance's own.</summary>
    public string? Region { get; init; }

    /// <summary>Where <see cref="Region"/> came from, in words for verbose output ("-Region", "instance identity").</summary>
    public string RegionSource { get; init; } = "-Region";

    /// <summary>A profile of the shared config/credentials files (-ProfileName).</summary>
    public string? ProfileName { get; init; }

    /// <summary>An endpoint to send every request to (-EndpointUrl): a local fake, a VPC endpoint, LocalStack.</summary>
    public Uri? EndpointUrl { get; init; }

    /// <summary>Credentials the PowerShell session already holds (AWS.Tools' Set-AWSCredential).</summary>
    public IAwsCredentialSource? SessionCredentials { get; init; }

    /// <summary>The Region the PowerShell session already holds (AWS.Tools' Set-DefaultAWSRegion).</summary>
    public string? SessionRegion { get; init; }

    /// <summary>Time limit of one HTTP attempt; retries (the SDK's Standard mode) each get their own.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time limit to open a connection.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
