using System;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Ec2;

namespace ImdsTroubleshoot.Engine.Client;

/// <summary>
/// "Which instance am I, in which Region?" from IMDS: the identity document over IMDSv2 (the default endpoint, or
/// AWS_EC2_METADATA_SERVICE_ENDPOINT, or the one given). Null when nothing answers; when IMDS answers without an
/// identity, an <see cref="InstanceIdentityUnavailableException"/> that says why in plain words.
/// </summary>
public sealed class ImdsInstanceIdentitySource : IInstanceIdentitySource
{
    private readonly Uri? _endpoint;
    private readonly bool _allowV1;

    /// <param name="endpoint">The endpoint; null: the environment's or the default.</param>
    /// <param name="allowV1">Read the document without a token when the token request fails (a diagnosis one hop away still learns the instance).</param>
    public ImdsInstanceIdentitySource(Uri? endpoint = null, bool allowV1 = false)
    {
        _endpoint = endpoint;
        _allowV1 = allowV1;
    }

    public async Task<InstanceIdentity?> TryGetAsync(CancellationToken cancellationToken)
    {
        if (_endpoint is null && ImdsEndpointResolver.IsDisabledByEnvironment())
        {
            throw new InstanceIdentityUnavailableException("AWS_EC2_METADATA_DISABLED=true turns IMDS reads off in this environment");
        }

        var client = ImdsClientCache.Get(new ImdsClientOptions
        {
            Endpoint = ImdsEndpointResolver.Resolve(_endpoint).Endpoint,
            TotalTimeout = TimeSpan.FromSeconds(5),
            AllowV1 = _allowV1 && !ImdsEndpointResolver.IsV1DisabledByEnvironment(),
        });
        string document;
        try
        {
            document = await client.GetStringAsync("/latest/dynamic/instance-identity/document", cancellationToken).ConfigureAwait(false);
        }
        catch (ImdsException ex) when (ex.Failure is ImdsFailure.ConnectTimeout or ImdsFailure.Unreachable)
        {
            return null;
        }
        catch (ImdsException ex) when (ex.Failure is ImdsFailure.ConnectionRefused or ImdsFailure.AccessDenied)
        {
            throw new InstanceIdentityUnavailableException("the connection to IMDS was refused: a local firewall rule is the usual cause (Test-ImdsEndpoint names it)");
        }
        catch (ImdsException ex)
        {
            throw new InstanceIdentityUnavailableException("IMDS did not give the identity document: " + ex.Message);
        }

        ImdsIdentityDocument identity;
        try
        {
            identity = ImdsIdentityDocument.Parse(document);
        }
        catch (FormatException ex)
        {
            throw new InstanceIdentityUnavailableException(ex.Message);
        }

        if (identity.InstanceId is null || identity.Region is null)
        {
            throw new InstanceIdentityUnavailableException("the identity document has no instanceId or region");
        }

        return new InstanceIdentity(identity.InstanceId, identity.Region, identity.AccountId, identity.AvailabilityZone);
    }
}
