using System;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>Hides the password of a proxy URL (<c>http://user:secret@proxy:3128</c> becomes <c>http://user:****@proxy:3128</c>).</summary>
public static class ProxyUrlMasker
{
    public const string Mask = "****";

    public static string? MaskPassword(string? url)
    {
        if (string.IsNullOrEmpty(url))
        {
            return url;
        }

        int authority = url.IndexOf("://", StringComparison.Ordinal);
        authority = authority < 0 ? 0 : authority + 3;
        int end = url.IndexOfAny(new[] { '/', '?', '#' }, authority);
        if (end < 0)
        {
            end = url.Length;
        }

        int at = url.LastIndexOf('@', end - 1, end - authority);
        if (at < 0)
        {
            return url;
        }

        int colon = url.IndexOf(':', authority, at - authority);
        if (colon < 0)
        {
            // A user name alone can be a secret too (API-key style proxies): keep only its first character.
            return at - authority <= 1 ? url : url.Substring(0, authority + 1) + Mask + url.Substring(at);
        }

        return url.Substring(0, colon + 1) + Mask + url.Substring(at);
    }
}
