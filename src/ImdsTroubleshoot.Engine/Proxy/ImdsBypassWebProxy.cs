using System;
using System.Net;
using System.Net.Http;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>
/// .NET reads the proxy environment once per process (HttpClient.DefaultProxy). After a session repair, requests
/// from this process to IMDS must go direct too: wrap the cached proxy so that IMDS addresses bypass it.
/// </summary>
internal sealed class ImdsBypassWebProxy : IWebProxy
{
    private readonly IWebProxy _inner;

    public ImdsBypassWebProxy(IWebProxy inner) => _inner = inner;

    public ICredentials? Credentials
    {
        get => _inner.Credentials;
        set => _inner.Credentials = value;
    }

    public Uri? GetProxy(Uri destination) => IsImds(destination) ? null : _inner.GetProxy(destination);

    public bool IsBypassed(Uri host) => IsImds(host) || _inner.IsBypassed(host);

    internal static bool IsImds(Uri uri) => IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out IPAddress? ip)
        && (ip.Equals(ImdsDefaults.IPv4Address) || ip.Equals(ImdsDefaults.IPv6Address));

    /// <summary>Makes this process's default HttpClient proxy bypass IMDS, if it does not already.</summary>
    public static void EnsureDefaultProxyBypassesImds()
    {
        IWebProxy current = HttpClient.DefaultProxy;
        if (current is ImdsBypassWebProxy || (current.IsBypassed(ImdsDefaults.IPv4Endpoint) && current.IsBypassed(ImdsDefaults.IPv6Endpoint)))
        {
            return;
        }

        HttpClient.DefaultProxy = new ImdsBypassWebProxy(current);
    }
}
