using System;
using System.Collections.Generic;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>
/// Decides, per client family, whether IMDS requests (http://169.254.169.254/ and http://[fd00:ec2::254]/) go
/// through a proxy given an environment: which variable each family reads (upper/lower case precedence, empty
/// values, ALL_PROXY, CGI guards) and how it matches NO_PROXY.
/// </summary>
public static class ProxyEnvironmentEvaluator
{
    public const string ImdsIPv4Host = "169.254.169.254";
    public const string ImdsIPv6Host = "fd00:ec2::254";

    /// <summary>The families the module evaluates, in display order.</summary>
    public static IReadOnlyList<ProxyClientFamily> Families { get; } = Enum.GetValues<ProxyClientFamily>();

    /// <summary>Every variable name that can carry proxy settings for http:// (both cases).</summary>
    public static IReadOnlyList<string> ProxyVariables { get; } = new[] { "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "https_proxy", "HTTPS_PROXY" };

    public static IReadOnlyList<string> NoProxyVariables { get; } = new[] { "no_proxy", "NO_PROXY" };

    /// <summary>True for http_proxy, HTTPS_PROXY, no_proxy, ... in any case.</summary>
    public static bool IsProxyRelated(string name) => IsProxyVariable(name) || IsNoProxyVariable(name);

    public static bool IsProxyVariable(string name) => ProxyVariables.Contains(name, StringComparer.OrdinalIgnoreCase);

    public static bool IsNoProxyVariable(string name) => NoProxyVariables.Contains(name, StringComparer.OrdinalIgnoreCase);

    public static ImdsExemption Evaluate(IReadOnlyDictionary<string, string> environment) =>
        new(Families.Select(f => Evaluate(f, environment)).ToArray());

    public static ProxyFamilyVerdict Evaluate(ProxyClientFamily family, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return family switch
        {
            ProxyClientFamily.Curl => Curl(environment),
            ProxyClientFamily.PythonRequests => Requests(environment),
            ProxyClientFamily.Botocore => Botocore(environment),
            ProxyClientFamily.Go => Go(environment),
            ProxyClientFamily.DotNet => DotNet(environment),
            _ => throw new ArgumentOutOfRangeException(nameof(family)),
        };
    }

    private static string? Get(IReadOnlyDictionary<string, string> env, string name) => env.TryGetValue(name, out string? v) ? v : null;

    private static string? NonEmpty(IReadOnlyDictionary<string, string> env, string name) => Get(env, name) is { Length: > 0 } v ? v : null;

    private static ProxyFamilyVerdict Verdict(ProxyClientFamily family, string? proxyVar, string? proxy, string? noVar, string? noProxy,
        Func<string, bool> bypass, string? refusal = null)
    {
        if (proxy is null)
        {
            return new ProxyFamilyVerdict(family, ProxyOutcome.NoProxy, ProxyOutcome.NoProxy, null, null, noVar, noProxy, NoProxyReason(family));
        }

        string masked = ProxyUrlMasker.MaskPassword(proxy)!;
        if (refusal is not null)
        {
            return new ProxyFamilyVerdict(family, ProxyOutcome.Refused, ProxyOutcome.Refused, proxyVar, masked, noVar, noProxy, refusal);
        }

        bool v4 = bypass(ImdsIPv4Host);
        bool v6 = bypass(ImdsIPv6Host);
        string reason = (v4, v6) switch
        {
            (true, true) => $"{noVar} exempts both IMDS addresses from {proxyVar}",
            (true, false) => $"{proxyVar} applies; {noVar} exempts 169.254.169.254 but not fd00:ec2::254 ({IPv6Hint(family)})",
            (false, true) => $"{proxyVar} applies; {noVar} exempts fd00:ec2::254 but not 169.254.169.254",
            _ when noVar is null => $"{proxyVar} applies and no NO_PROXY is set",
            _ => $"{proxyVar} applies; {noVar} does not exempt IMDS for {family}",
        };
        return new ProxyFamilyVerdict(family, v4 ? ProxyOutcome.Exempt : ProxyOutcome.Proxied, v6 ? ProxyOutcome.Exempt : ProxyOutcome.Proxied,
            proxyVar, masked, noVar, noProxy, reason);
    }

    private static string IPv6Hint(ProxyClientFamily family) => family switch
    {
        ProxyClientFamily.Botocore or ProxyClientFamily.DotNet => "this family needs the bracketed form [fd00:ec2::254]",
        _ => "this family needs the bare form fd00:ec2::254",
    };

    private static string NoProxyReason(ProxyClientFamily family) => family switch
    {
        ProxyClientFamily.Curl => "no http_proxy or ALL_PROXY (curl ignores uppercase HTTP_PROXY)",
        ProxyClientFamily.Go => "no HTTP_PROXY or http_proxy (Go ignores ALL_PROXY and HTTPS_PROXY for http://)",
        ProxyClientFamily.Botocore => "no http_proxy or HTTP_PROXY (urllib and botocore ignore ALL_PROXY and HTTPS_PROXY for http://)",
        _ => "no http_proxy, HTTP_PROXY or ALL_PROXY (HTTPS_PROXY does not apply to http://)",
    };

    // curl: http_proxy only (never HTTP_PROXY), then all_proxy/ALL_PROXY; no_proxy then NO_PROXY; empty = unset.
    private static ProxyFamilyVerdict Curl(IReadOnlyDictionary<string, string> env)
    {
        (string? var, string? proxy) = First(env, "http_proxy", "all_proxy", "ALL_PROXY");
        (string? noVar, string? no) = First(env, "no_proxy", "NO_PROXY");
        return Verdict(ProxyClientFamily.Curl, var, proxy, noVar, no, h => no is not null && NoProxyMatcher.Curl(no, h));
    }

    private static (string? Name, string? Value) First(IReadOnlyDictionary<string, string> env, params string[] names)
    {
        foreach (string n in names)
        {
            if (NonEmpty(env, n) is { } v)
            {
                return (n, v);
            }
        }

        return (null, null);
    }

    /// <summary>CPython getproxies_environment(): scheme -> (variable, value); lowercase wins, empty lowercase deletes, CGI drops http.</summary>
    internal static Dictionary<string, (string Name, string Value)> UrllibProxies(IReadOnlyDictionary<string, string> env)
    {
        var proxies = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var kv in env)
        {
            string lower = kv.Key.ToLowerInvariant();
            if (kv.Value.Length > 0 && lower.EndsWith("_proxy", StringComparison.Ordinal))
            {
                proxies[lower[..^6]] = (kv.Key, kv.Value);
            }
        }

        if (env.ContainsKey("REQUEST_METHOD"))
        {
            proxies.Remove("http");
        }

        foreach (var kv in env)
        {
            if (kv.Key.EndsWith("_proxy", StringComparison.Ordinal))
            {
                string scheme = kv.Key.ToLowerInvariant()[..^6];
                if (kv.Value.Length > 0)
                {
                    proxies[scheme] = (kv.Key, kv.Value);
                }
                else
                {
                    proxies.Remove(scheme);
                }
            }
        }

        return proxies;
    }

    // urllib / botocore: http key only (no ALL_PROXY); bypass list from the same dictionary ("no").
    private static ProxyFamilyVerdict Botocore(IReadOnlyDictionary<string, string> env)
    {
        var proxies = UrllibProxies(env);
        (string? var, string? proxy) = proxies.TryGetValue("http", out var p) ? (p.Name, p.Value) : (null, null);
        (string? noVar, string? no) = proxies.TryGetValue("no", out var n) ? (n.Name, n.Value) : (null, null);
        return Verdict(ProxyClientFamily.Botocore, var, proxy, noVar, no, h => NoProxyMatcher.Urllib(no, h.Contains(':', StringComparison.Ordinal) ? "[" + h + "]" : h));
    }

    // requests: proxies from urllib's getproxies() ("http" then "all"); no_proxy via os.environ.get(lower) or get(UPPER).
    private static ProxyFamilyVerdict Requests(IReadOnlyDictionary<string, string> env)
    {
        var proxies = UrllibProxies(env);
        (string? var, string? proxy) = proxies.TryGetValue("http", out var p) ? (p.Name, p.Value)
            : proxies.TryGetValue("all", out var a) ? (a.Name, a.Value) : (null, null);
        (string? noVar, string? no) = First(env, "no_proxy", "NO_PROXY");
        string? urllibNo = proxies.TryGetValue("no", out var n) ? n.Value : null;
        return Verdict(ProxyClientFamily.PythonRequests, var, proxy, noVar, no,
            h => NoProxyMatcher.Requests(no, h, h.Contains(':', StringComparison.Ordinal), urllibNo));
    }

    // Go: HTTP_PROXY then http_proxy (first non-empty); NO_PROXY then no_proxy; REQUEST_METHOD set -> refuses.
    private static ProxyFamilyVerdict Go(IReadOnlyDictionary<string, string> env)
    {
        (string? var, string? proxy) = First(env, "HTTP_PROXY", "http_proxy");
        (string? noVar, string? no) = First(env, "NO_PROXY", "no_proxy");
        string? refusal = NonEmpty(env, "REQUEST_METHOD") is not null
            ? "REQUEST_METHOD is set: Go refuses to use HTTP_PROXY in a CGI environment and the request fails"
            : null;
        return Verdict(ProxyClientFamily.Go, var, proxy, noVar, no, h => no is not null && NoProxyMatcher.Go(no, h), refusal);
    }

    // .NET: http_proxy, else HTTP_PROXY unless GATEWAY_INTERFACE is set, else all_proxy/ALL_PROXY; no_proxy ?? NO_PROXY (empty counts).
    private static ProxyFamilyVerdict DotNet(IReadOnlyDictionary<string, string> env)
    {
        (string? var, string? proxy) = First(env, "http_proxy");
        if (proxy is null && Get(env, "GATEWAY_INTERFACE") is null)
        {
            (var, proxy) = First(env, "HTTP_PROXY");
        }

        if (proxy is null)
        {
            (var, proxy) = First(env, "all_proxy", "ALL_PROXY");
        }

        string? noVar = Get(env, "no_proxy") is not null ? "no_proxy" : Get(env, "NO_PROXY") is not null ? "NO_PROXY" : null;
        string? no = noVar is null ? null : Get(env, noVar);
        return Verdict(ProxyClientFamily.DotNet, var, proxy, noVar, no,
            h => !string.IsNullOrEmpty(no) && NoProxyMatcher.DotNet(no, h.Contains(':', StringComparison.Ordinal) ? "[" + h + "]" : h));
    }
}
