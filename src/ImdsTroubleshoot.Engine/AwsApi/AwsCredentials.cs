using System;

namespace ImdsTroubleshoot.Engine.AwsApi;

/// <summary>A source of AWS credentials that lives outside the bridge (e.g. AWS.Tools' session credentials).</summary>
public interface IAwsCredentialSource
{
    /// <summary>Where the credentials come from, in words; never the keys.</summary>
    string Description { get; }

    /// <summary>The current credentials; called before each signing, so refreshing sources stay fresh.</summary>
    AwsCredentialValues GetCredentials();
}

/// <summary>One set of AWS credentials. Secret: never formatted, logged or written to output.</summary>
public sealed class AwsCredentialValues
{
    public AwsCredentialValues(string accessKeyId, string secretAccessKey, string? sessionToken)
    {
        if (string.IsNullOrEmpty(accessKeyId) || string.IsNullOrEmpty(secretAccessKey))
        {
            throw new ArgumentException("An access key ID and a secret access key are needed.");
        }

        AccessKeyId = accessKeyId;
        SecretAccessKey = secretAccessKey;
        SessionToken = string.IsNullOrEmpty(sessionToken) ? null : sessionToken;
    }

    public string AccessKeyId { get; }

    public string SecretAccessKey { get; }

    public string? SessionToken { get; }

    public override string ToString() => "AWS credentials (hidden)";
}
