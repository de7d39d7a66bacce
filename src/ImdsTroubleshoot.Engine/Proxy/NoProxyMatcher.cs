using System;
using System.Net;
using System.Net.Sockets;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>
/// Whether one NO_PROXY value exempts a URL host, in the dialect of each client family. Written from the
/// clients' sources (curl lib/noproxy.c 7.88, CPython urllib.request, requests.utils 2.34, botocore.utils,
/// golang.org/x/net/http/httpproxy, dotnet/runtime HttpEnvironmentProxy) and checked against the measured matrix
/// in the tests. The URL is <c>http://HOST/</c> with no explicit port (as IMDS clients build it).
/// </summary>
public static class NoProxyMatcher
{
    /// <summary>Matches <paramref name="noProxy"/> (the raw value, as the client reads it) against <paramref name="host"/>.</summary>
    /// <param name="family">The client family.</param>
    /// <param name="noProxy">The NO_PROXY value the family reads; null or empty exempts nothing.</param>
    /// <param name="host">An IP address or host name, IPv6 without brackets (e.g. <c>fd00:ec2::254</c>).</param>
    public static bool Matches(ProxyClientFamily family, string? noProxy, string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (string.IsNullOrEmpty(noProxy))
        {
            return false;
        }

        string bare = host.Trim('[', ']');
        bool isV6 = IpText.ParseStrictIP(bare) is { AddressFamily: AddressFamily.InterNetworkV6 };
        return family switch
        {
            ProxyClientFamily.Curl => Curl(noProxy, bare),
            ProxyClientFamily.PythonRequests => Requests(noProxy, bare, isV6, urllibNoProxy: noProxy),
            ProxyClientFamily.Botocore => Urllib(noProxy, isV6 ? "[" + bare + "]" : bare),
            ProxyClientFamily.Go => Go(noProxy, bare),
            ProxyClientFamily.DotNet => DotNet(noProxy, isV6 ? "[" + bare + "]" : bare),
            _ => false,
        };
    }

    /// <summary>curl 7.88 Curl_check_noproxy. The URL host reaches it without brackets, so IPv6 is compared as a name.</summary>
    internal static bool Curl(string noProxy, string name)
    {
        if (noProxy == "*")
        {
            return true;
        }

        bool isV4 = IpText.TryParseStrictIPv4(name, out uint address);
        int namelen = name.Length;
        if (!isV4 && namelen > 0 && name[namelen - 1] == '.')
        {
            namelen--;
        }

        int p = 0;
        while (p < noProxy.Length)
        {
            while (p < noProxy.Length && IsBlank(noProxy[p]))
            {
                p++;
            }

            int start = p;
            while (p < noProxy.Length && !IsBlank(noProxy[p]) && noProxy[p] != ',')
            {
                p++;
            }

            int tokenlen = p - start;
            if (tokenlen > 0)
            {
                string token = noProxy.Substring(start, tokenlen);
                if (isV4 ? CurlCidr4(address, token) : CurlHostMatch(token, name.Substring(0, namelen)))
                {
                    return true;
                }
            }

            while (p < noProxy.Length && IsBlank(noProxy[p]))
            {
                p++;
            }

            if (p < noProxy.Length && noProxy[p] != ',')
            {
                continue;
            }

            while (p < noProxy.Length && noProxy[p] == ',')
            {
                p++;
            }
        }

        return false;

        static bool IsBlank(char c) => c is ' ' or '\t';
    }

    private static bool CurlHostMatch(string token, string name)
    {
        if (token.EndsWith('.'))
        {
            token = token.Substring(0, token.Length - 1);
        }

        if (token.Length > 0 && token[0] == '.')
        {
            token = token.Substring(1);
        }

        if (token.Length == name.Length)
        {
            return string.Equals(token, name, StringComparison.OrdinalIgnoreCase);
        }

        return token.Length < name.Length
            && name[name.Length - token.Length - 1] == '.'
            && name.EndsWith(token, StringComparison.OrdinalIgnoreCase);
    }

    private static bool CurlCidr4(uint address, string token)
    {
        string check = token;
        long bits = 0;
        int slash = check.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            bits = IpText.Atoi(check.Substring(slash + 1));
            check = check.Substring(0, slash);
        }

        if (bits is < 0 or > 32 || !IpText.TryParseStrictIPv4(check, out uint network))
        {
            return false;
        }

        if (bits != 0 && bits != 32)
        {
            uint mask = 0xffffffffu << (int)(32 - bits);
            return ((address ^ network) & mask) == 0;
        }

        return address == network;
    }

    /// <summary>CPython urllib.request.proxy_bypass_environment with a given no_proxy value; host as req.host (IPv6 bracketed).</summary>
    internal static bool Urllib(string? noProxy, string host)
    {
        if (string.IsNullOrEmpty(noProxy))
        {
            return false;
        }

        if (noProxy == "*")
        {
            return true;
        }

        host = host.ToLowerInvariant();
        string hostonly = host;
        var m = System.Text.RegularExpressions.Regex.Match(host, @"\A(.*):([0-9]*)\z", System.Text.RegularExpressions.RegexOptions.Singleline);
        if (m.Success)
        {
            hostonly = m.Groups[1].Value;
        }

        foreach (string raw in noProxy.Split(','))
        {
            string name = PyStrip(raw);
            if (name.Length == 0)
            {
                continue;
            }

            name = name.TrimStart('.').ToLowerInvariant();
            if (hostonly == name || host == name)
            {
                return true;
            }

            name = "." + name;
            if (hostonly.EndsWith(name, StringComparison.Ordinal) || host.EndsWith(name, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>requests.utils.should_bypass_proxies: its own IPv4/CIDR or suffix check, then urllib's proxy_bypass on the bare host.</summary>
    internal static bool Requests(string? noProxy, string hostname, bool isV6, string? urllibNoProxy)
    {
        hostname = hostname.ToLowerInvariant();
        if (!string.IsNullOrEmpty(noProxy))
        {
            string[] entries = noProxy.Replace(" ", string.Empty, StringComparison.Ordinal).Split(',', StringSplitOptions.RemoveEmptyEntries);
            if (!isV6 && IpText.TryParseInetAton(hostname, out uint address) && hostname.Split('.').Length == 4)
            {
                foreach (string entry in entries)
                {
                    if (IsValidCidr(entry, out uint network, out int bits))
                    {
                        uint mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
                        if ((address & mask) == (network & mask))
                        {
                            return true;
                        }
                    }
                    else if (hostname == entry)
                    {
                        return true;
                    }
                }
            }
            else
            {
                foreach (string entry in entries)
                {
                    string h = entry.TrimStart('.');
                    if (hostname == h)
                    {
                        return true;
                    }

                    if (hostname.EndsWith("." + h, StringComparison.Ordinal))
                    {
                        return true;
                    }
                }
            }
        }

        // proxy_bypass(hostname): urllib's rules on the host WITHOUT brackets, with urllib's own view of no_proxy.
        return Urllib(urllibNoProxy, hostname);
    }

    private static bool IsValidCidr(string entry, out uint network, out int bits)
    {
        network = 0;
        bits = 0;
        string[] parts = entry.Split('/');
        if (parts.Length != 2 || !IpText.TryPythonInt(parts[1], out long mask) || mask < 1 || mask > 32)
        {
            return false;
        }

        if (!IpText.TryParseInetAton(parts[0], out network))
        {
            return false;
        }

        bits = (int)mask;
        return true;
    }

    /// <summary>golang.org/x/net/http/httpproxy config.useProxy (false = bypass) for http://host (port 80).</summary>
    internal static bool Go(string noProxy, string host)
    {
        const string port = "80";
        host = host.Trim().ToLowerInvariant();
        IPAddress? ip = IpText.ParseStrictIP(host);
        foreach (string raw in noProxy.Split(','))
        {
            string p = raw.Trim().ToLowerInvariant();
            if (p.Length == 0)
            {
                continue;
            }

            if (p == "*")
            {
                return true;
            }

            if (IpText.GoParseCidr(p, out IPAddress network, out int prefix))
            {
                if (ip is not null && IpText.CidrContains(network, prefix, ip))
                {
                    return true;
                }

                continue;
            }

            string phost;
            string pport = string.Empty;
            if (IpText.GoSplitHostPort(p, out string h, out string pp))
            {
                if (h.Length == 0)
                {
                    continue;
                }

                phost = h.Length > 1 && h[0] == '[' && h[h.Length - 1] == ']' ? h.Substring(1, h.Length - 2) : h;
                pport = pp;
            }
            else
            {
                phost = p;
            }

            IPAddress? pip = IpText.ParseStrictIP(phost);
            if (pip is not null)
            {
                if (ip is not null && pip.Equals(ip) && (pport.Length == 0 || pport == port))
                {
                    return true;
                }

                continue;
            }

            if (phost.Length == 0)
            {
                continue;
            }

            if (phost.StartsWith("*.", StringComparison.Ordinal))
            {
                phost = phost.Substring(1);
            }

            bool matchHost = false;
            if (phost[0] != '.')
            {
                matchHost = true;
                phost = "." + phost;
            }

            if ((host.EndsWith(phost, StringComparison.Ordinal) || (matchHost && host == phost.Substring(1)))
                && (pport.Length == 0 || pport == port))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>dotnet/runtime HttpEnvironmentProxy.IsMatchInBypassList; host as Uri.Host (IPv6 bracketed).</summary>
    internal static bool DotNet(string noProxy, string host)
    {
        foreach (string raw in noProxy.Split(','))
        {
            string s = raw.Trim();
            if (s.Length == 0)
            {
                continue;
            }

            if (s[0] == '.')
            {
                if ((s.Length - 1 == host.Length && string.Compare(s, 1, host, 0, host.Length, StringComparison.OrdinalIgnoreCase) == 0)
                    || host.EndsWith(s, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
            else if (string.Equals(s, host, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Python str.strip(): removes whitespace (ASCII and Unicode) from both ends.</summary>
    internal static string PyStrip(string s) => s.Trim(' ', '\t', '\n', '\r', '\v', '\f', '\x1c', '\x1d', '\x1e', '\x1f', '\x85', '\xa0').Trim();
}
