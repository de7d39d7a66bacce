using System;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Aws;

/// <summary>Credentials and connection info a client was built with.</summary>
internal sealed record ResolvedConnection(AWSCredentials Credentials, AwsConnectionInfo Info);

/// <summary>
/// Resolves credentials, Region and endpoint for any service the AWS way (see <see cref="AwsConnectionOptions"/>
/// for the order) and configures the SDK client: Standard retry mode (never Adaptive, whose first throttle ends
/// the call), bounded timeouts, our app ID in the User-Agent.
/// </summary>
internal static class AwsConnection
{
    public const string ClientAppId = "ImdsTroubleshoot";

    public static ResolvedConnection Configure(AwsConnectionOptions options, ClientConfig config, string service, string serviceEndpointVariable)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(config);

        CredentialProfileStoreChain chain = new();
        CredentialProfile? profile = null;
        if (options.ProfileName is { } profileName)
        {
            if (!TryGetProfile(chain, profileName, out profile))
            {
                throw new AwsApiException(AwsErrorKind.ProfileNotFound,
                    $"The profile '{profileName}' is not in the shared config or credentials file ({ProfileFiles()}). List profiles with 'aws configure list-profiles'.");
            }
        }

        // Endpoint: -EndpointUrl, then AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, then the profile's endpoint_url.
        Uri? endpoint = options.EndpointUrl;
        string endpointSource = "-EndpointUrl";
        if (endpoint is null && !IgnoreConfiguredEndpoints(profile))
        {
            (endpoint, endpointSource) = ConfiguredEndpoint(chain, profile, serviceEndpointVariable);
        }

        // Region: -Region (or the instance's own), the profile's, AWS.Tools', then the SDK's chain.
        string? region = null;
        string regionSource = string.Empty;
        if (options.Region is { } r)
        {
            region = AwsNames.CheckRegion(r);
            regionSource = options.RegionSource;
        }
        else if (profile?.Region is { } pr)
        {
            region = pr.SystemName;
            regionSource = $"profile '{profile.Name}'";
        }
        else if (options.SessionRegion is { } sr)
        {
            region = AwsNames.CheckRegion(sr);
            regionSource = "$StoredAWSRegion (Set-DefaultAWSRegion)";
        }
        else if (SdkRegion() is { } fallback)
        {
            region = fallback;
            regionSource = "the AWS SDK chain (AWS_REGION, AWS_DEFAULT_REGION, the profile, the instance)";
        }
        else if (endpoint is not null)
        {
            region = "us-east-1";
            regionSource = "the default signing Region for a custom endpoint";
        }

        if (region is null)
        {
            throw new AwsApiException(AwsErrorKind.NoRegion,
                "No AWS Region was given or configured. Pass -Region, set AWS_REGION (or AWS_DEFAULT_REGION), give the profile a region, or run Set-DefaultAWSRegion (AWS.Tools).");
        }

        config.RetryMode = RequestRetryMode.Standard;
        config.Timeout = options.RequestTimeout;
        config.ConnectTimeout = options.ConnectTimeout;
        config.ClientAppId = ClientAppId;
        if (endpoint is not null)
        {
            config.ServiceURL = endpoint.ToString();
            config.AuthenticationRegion = region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }

        // Credentials: -ProfileName, AWS.Tools' session credentials, then the SDK's default chain.
        AWSCredentials credentials;
        string credentialSource;
        if (profile is not null)
        {
            credentials = ProfileCredentials(chain, profile);
            credentialSource = $"profile '{profile.Name}'";
        }
        else if (options.SessionCredentials is { } session)
        {
            credentials = new ExternalCredentials(session);
            credentialSource = session.Description;
        }
        else
        {
            credentials = DefaultCredentials(config);
            credentialSource = Describe(credentials);
        }

        var info = new AwsConnectionInfo(service, region, regionSource, endpoint, endpoint is null ? "the public endpoint" : endpointSource, credentialSource);
        return new ResolvedConnection(credentials, info);
    }

    private static bool TryGetProfile(CredentialProfileStoreChain chain, string name, out CredentialProfile? profile)
    {
        try
        {
            bool found = chain.TryGetProfile(name, out var p);
            profile = found ? p : null;
            return found;
        }
        catch (Exception ex) when (ex is AmazonClientException or System.IO.IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new AwsApiException(AwsErrorKind.ProfileNotFound, $"The profile '{name}' could not be read: {ex.Message}", innerException: ex);
        }
    }

    private static bool IgnoreConfiguredEndpoints(CredentialProfile? profile) =>
        string.Equals(Environment.GetEnvironmentVariable("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true", StringComparison.OrdinalIgnoreCase)
        || profile?.IgnoreConfiguredEndpointUrls == true;

    private static (Uri? Endpoint, string Source) ConfiguredEndpoint(CredentialProfileStoreChain chain, CredentialProfile? profile, string serviceVariable)
    {
        foreach (string variable in new[] { serviceVariable, "AWS_ENDPOINT_URL" })
        {
            string? value = Environment.GetEnvironmentVariable(variable);
            if (!string.IsNullOrWhiteSpace(value))
            {
                return (AwsNames.ParseEndpoint(value), variable);
            }
        }

        if (profile is null)
        {
            string name = Environment.GetEnvironmentVariable("AWS_PROFILE") is { Length: > 0 } p ? p : "default";
            try
            {
                chain.TryGetProfile(name, out profile);
            }
            catch (Exception ex) when (ex is AmazonClientException or System.IO.IOException or UnauthorizedAccessException or ArgumentException)
            {
                profile = null;
            }
        }

        if (profile?.EndpointUrl is { Length: > 0 } url)
        {
            return (AwsNames.ParseEndpoint(url), $"endpoint_url of profile '{profile.Name}'");
        }

        return (null, string.Empty);
    }

    private static string? SdkRegion()
    {
        try
        {
            return FallbackRegionFactory.GetRegionEndpoint()?.SystemName;
        }
        catch (AmazonClientException)
        {
            return null;
        }
    }

    private static AWSCredentials ProfileCredentials(CredentialProfileStoreChain chain, CredentialProfile profile)
    {
        try
        {
            if (chain.TryGetAWSCredentials(profile.Name, out var credentials) && credentials is not null)
            {
                return credentials;
            }
        }
        catch (Exception ex) when (ex is AmazonClientException or InvalidOperationException or ArgumentException)
        {
            throw new AwsApiException(AwsErrorKind.NoCredentials, $"The profile '{profile.Name}' has no usable credentials: {ex.Message}", innerException: ex);
        }

        throw new AwsApiException(AwsErrorKind.NoCredentials, $"The profile '{profile.Name}' has no credentials (no keys, SSO, role or process settings).");
    }

    private static AWSCredentials DefaultCredentials(ClientConfig config)
    {
        try
        {
            var credentials = new DefaultAWSCredentialsIdentityResolver().ResolveIdentity(config);
            if (credentials is not null)
            {
                return credentials;
            }
        }
        catch (AmazonClientException ex)
        {
            throw NoCredentials(ex);
        }

        throw NoCredentials(null);
    }

    internal static AwsApiException NoCredentials(Exception? inner) => new(AwsErrorKind.NoCredentials,
        "No AWS credentials were found: not in the environment (AWS_ACCESS_KEY_ID), the shared credentials or config file, an SSO session, " +
        "the container or the instance profile. Pass -ProfileName, set AWS_PROFILE or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables, " +
        "or run Set-AWSCredential (AWS.Tools)." + (inner is null ? string.Empty : " (" + inner.Message + ")"), innerException: inner);

    private static string ProfileFiles()
    {
        string config = Environment.GetEnvironmentVariable("AWS_CONFIG_FILE") is { Length: > 0 } c ? c : "~/.aws/config";
        string credentials = Environment.GetEnvironmentVariable("AWS_SHARED_CREDENTIALS_FILE") is { Length: > 0 } s ? s : "~/.aws/credentials";
        return config + ", " + credentials;
    }

    /// <summary>Where the default chain found credentials, in words (by the provider's type: no secret is read).</summary>
    private static string Describe(AWSCredentials credentials)
    {
        string name = credentials.GetType().Name;
        return name switch
        {
            "EnvironmentVariablesAWSCredentials" => "environment variables (AWS_ACCESS_KEY_ID)",
            "SSOAWSCredentials" => "an SSO session (the AWS SDK default chain)",
            "AssumeRoleAWSCredentials" => "an assumed role (the AWS SDK default chain)",
            "AssumeRoleWithWebIdentityCredentials" => "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)",
            "ECSTaskCredentials" or "GenericContainerCredentials" => "the container credentials endpoint",
            "DefaultInstanceProfileAWSCredentials" or "InstanceProfileAWSCredentials" => "the instance profile (IMDS)",
            "ProcessAWSCredentials" => "a credential_process (the AWS SDK default chain)",
            _ => $"the shared credentials or config file (AWS_PROFILE or default; {name})",
        };
    }
}
