using Amazon.PowerShell.Common;
using Amazon.Runtime;
using ImdsTroubleshoot.Engine.AwsApi;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ec2;

/// <summary>AWS.Tools' session defaults, read by reflection from another copy of the SDK (here: the test's own AWSSDK.Core).</summary>
public sealed class AwsToolsSessionTests
{
    [Fact]
    public void Stored_credentials_are_read_through_their_internal_AWSCredentials()
    {
        var source = AwsToolsSession.ReadCredentials(AWSPSCredentials.FromKeys("AKIDSTORED00000001", "stored-secret", "stored-token", "dev"));
        Assert.NotNull(source);
        Assert.Contains("'dev'", source!.Description, System.StringComparison.Ordinal);
        var values = source.GetCredentials();
        Assert.Equal("AKIDSTORED00000001", values.AccessKeyId);
        Assert.Equal("stored-secret", values.SecretAccessKey);
        Assert.Equal("stored-token", values.SessionToken);
        Assert.DoesNotContain("stored-secret", source.Description, System.StringComparison.Ordinal);
    }

    [Fact]
    public void An_AWSCredentials_object_itself_is_accepted()
    {
        var source = AwsToolsSession.ReadCredentials(new BasicAWSCredentials("AKIDBASIC000000001", "basic-secret"));
        Assert.Equal("AKIDBASIC000000001", source!.GetCredentials().AccessKeyId);
        Assert.Null(source.GetCredentials().SessionToken);
    }

    [Fact]
    public void Credentials_are_read_afresh_each_time()
    {
        var refreshing = new Refreshing();
        var source = AwsToolsSession.ReadCredentials(refreshing)!;
        Assert.Equal("AKIDREFRESH0000001", source.GetCredentials().AccessKeyId);
        Assert.Equal("AKIDREFRESH0000002", source.GetCredentials().AccessKeyId);
    }

    [Fact]
    public void Other_values_are_not_credentials_and_only_strings_are_regions()
    {
        Assert.Null(AwsToolsSession.ReadCredentials(null));
        Assert.Null(AwsToolsSession.ReadCredentials("AKID"));
        Assert.Null(AwsToolsSession.ReadCredentials(new object()));
        Assert.Equal("eu-central-1", AwsToolsSession.ReadRegion(" eu-central-1 "));
        Assert.Null(AwsToolsSession.ReadRegion(42));
        Assert.Null(AwsToolsSession.ReadRegion(""));
    }

    [Fact]
    public void A_failing_source_is_a_NoCredentials_error()
    {
        var source = AwsToolsSession.ReadCredentials(new Failing())!;
        var ex = Assert.Throws<AwsApiException>(() => source.GetCredentials());
        Assert.Equal(AwsErrorKind.NoCredentials, ex.Kind);
        Assert.Contains("SSO session expired", ex.Message, System.StringComparison.Ordinal);
    }

    private sealed class Refreshing : AWSCredentials
    {
        private int _n;

        public override ImmutableCredentials GetCredentials() => new($"AKIDREFRESH000000{++_n}", "refresh-secret", "t");
    }

    private sealed class Failing : AWSCredentials
    {
        public override ImmutableCredentials GetCredentials() => throw new AmazonClientException("SSO session expired");
    }
}
