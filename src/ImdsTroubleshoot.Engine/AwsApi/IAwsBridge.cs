using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Remote;

namespace ImdsTroubleshoot.Engine.AwsApi;

/// <summary>
/// The only way into the AWS SDK. Implemented by ImdsTroubleshoot.Aws, which lives with the SDK in the module's
/// private AssemblyLoadContext (Dependencies/); everything that crosses is an engine type. One method per
/// service client; each resolves credentials, Region and endpoint the same way (<see cref="AwsConnectionOptions"/>)
/// and throws <see cref="AwsApiException"/> (NoCredentials, NoRegion, InvalidRegion, ProfileNotFound,
/// InvalidEndpoint) when it cannot.
/// </summary>
public interface IAwsBridge
{
    /// <summary>An EC2 client for reading and changing instance metadata options.</summary>
    IEc2MetadataApi ConnectEc2(AwsConnectionOptions options);

    /// <summary>An SSM client for Run Command (remote diagnosis through AWS-RunShellScript).</summary>
    ISsmCommandApi ConnectSsm(AwsConnectionOptions options);
}
