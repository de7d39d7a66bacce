using System;

namespace ImdsTroubleshoot.Engine.AwsApi;

/// <summary>What a bridge client resolved: where it sends requests and with whose credentials (never the secrets).</summary>
public sealed class AwsConnectionInfo
{
    public AwsConnectionInfo(string service, string region, string regionSource, Uri? endpoint, string endpointSource, string credentialSource)
    {
        Service = service;
        Region = region;
        RegionSource = regionSource;
        Endpoint = endpoint;
        EndpointSource = endpointSource;
        CredentialSource = credentialSource;
    }

    /// <summary>The service, e.g. "EC2".</summary>
    public string Service { get; }

    /// <summary>The Region requests are signed for (e.g. "eu-west-1").</summary>
    public string Region { get; }

    public string RegionSource { get; }

    /// <summary>The endpoint override in use; null for the service's public endpoint in <see cref="Region"/>.</summary>
    public Uri? Endpoint { get; }

    public string EndpointSource { get; }

    /// <summary>Where the credentials came from, in words ("environment variables", "profile 'dev'").</summary>
    public string CredentialSource { get; }

    public override string ToString() =>
        $"{Service} in {Region} (Region from {RegionSource}) at {(Endpoint is null ? "the public endpoint" : $"{Endpoint} ({EndpointSource})")}, credentials from {CredentialSource}";
}
