using Amazon.Runtime;

namespace Amazon.PowerShell.Common;

/// <summary>
/// Stands in for AWS.Tools' type of the same name (what Set-AWSCredential stores in $StoredAWSCredentials): every
/// member internal, the credentials an Amazon.Runtime.AWSCredentials of an SDK copy that is not ours.
/// </summary>
public sealed class AWSPSCredentials
{
    internal AWSPSCredentials(AWSCredentials credentials, string name)
    {
        Credentials = credentials;
        Name = name;
    }

    internal AWSCredentials Credentials { get; }

    internal string Name { get; }

    public override string ToString() => Name;

    /// <summary>What Set-AWSCredential -AccessKey ... -SecretKey ... [-SessionToken ...] stores.</summary>
    public static AWSPSCredentials FromKeys(string accessKey, string secretKey, string? sessionToken = null, string name = "stored") =>
        new(sessionToken is null ? new BasicAWSCredentials(accessKey, secretKey) : new SessionAWSCredentials(accessKey, secretKey, sessionToken), name);
}
