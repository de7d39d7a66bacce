namespace ImdsTroubleshoot.Engine.AwsApi;

/// <summary>What went wrong with an AWS call, independent of the service's own error code.</summary>
public enum AwsErrorKind
{
    /// <summary>Any other error the service returned.</summary>
    Service,

    /// <summary>No credentials were found in any source.</summary>
    NoCredentials,

    /// <summary>No Region was given or configured.</summary>
    NoRegion,

    /// <summary>The Region name is not one (e.g. a typo).</summary>
    InvalidRegion,

    /// <summary>The named profile is not in the shared config or credentials file.</summary>
    ProfileNotFound,

    /// <summary>The endpoint URL is not an absolute http or https URL.</summary>
    InvalidEndpoint,

    /// <summary>The caller may not do this (EC2 UnauthorizedOperation, AccessDenied).</summary>
    Unauthorized,

    /// <summary>The credentials were refused (AuthFailure, expired or invalid token).</summary>
    AuthFailure,

    /// <summary>Throttled, and the SDK's retries did not get through (RequestLimitExceeded, ThrottlingException).</summary>
    Throttled,

    /// <summary>A resource ID is not well formed (InvalidInstanceID.Malformed).</summary>
    MalformedId,

    /// <summary>A resource does not exist (InvalidInstanceID.NotFound).</summary>
    NotFound,

    /// <summary>A parameter was refused (InvalidParameterValue, InvalidParameterCombination).</summary>
    InvalidParameter,

    /// <summary>The endpoint could not be reached or did not answer in time.</summary>
    Network,
}
