using Amazon.EC2;
using Amazon.SimpleSystemsManagement;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Remote;

namespace ImdsTroubleshoot.Aws;

/// <summary>
/// Entry point of the bridge; the module creates one with <c>new AwsBridge()</c> the first time an AWS cmdlet
/// runs, which is when this assembly and the SDK load (into the module's private load context).
/// Each service gets a Connect method built the same way: a service config, <see cref="AwsConnection.Configure"/>
/// for credentials, Region, endpoint, retry mode and timeouts, then the client wrapped in an engine interface.
/// </summary>
public sealed class AwsBridge : IAwsBridge
{
    public IEc2MetadataApi ConnectEc2(AwsConnectionOptions options)
    {
        var config = new AmazonEC2Config();
        var resolved = AwsConnection.Configure(options, config, "EC2", "AWS_ENDPOINT_URL_EC2");
        return new Ec2MetadataApi(new AmazonEC2Client(resolved.Credentials, config), resolved.Info);
    }

    public ISsmCommandApi ConnectSsm(AwsConnectionOptions options)
    {
        var config = new AmazonSimpleSystemsManagementConfig();
        var resolved = AwsConnection.Configure(options, config, "SSM", "AWS_ENDPOINT_URL_SSM");
        return new SsmCommandApi(new AmazonSimpleSystemsManagementClient(resolved.Credentials, config), resolved.Info);
    }
}
