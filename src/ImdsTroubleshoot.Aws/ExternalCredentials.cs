using System.Threading.Tasks;
using Amazon.Runtime;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Aws;

/// <summary>Our SDK's credentials over a source outside it (AWS.Tools' session credentials), read afresh at each signing.</summary>
internal sealed class ExternalCredentials : AWSCredentials
{
    private readonly IAwsCredentialSource _source;

    public ExternalCredentials(IAwsCredentialSource source)
    {
        _source = source;
    }

    public override ImmutableCredentials GetCredentials()
    {
        AwsCredentialValues values = _source.GetCredentials();
        return new ImmutableCredentials(values.AccessKeyId, values.SecretAccessKey, values.SessionToken);
    }

    public override Task<ImmutableCredentials> GetCredentialsAsync() => Task.FromResult(GetCredentials());

    public override string ToString() => _source.Description;
}
