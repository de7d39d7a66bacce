using System;
using System.Collections.Generic;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>How one client family reaches IMDS (IPv4 and IPv6) from one environment.</summary>
public sealed class ProxyFamilyVerdict
{
    internal ProxyFamilyVerdict(ProxyClientFamily family, ProxyOutcome ipv4, ProxyOutcome ipv6, string? proxyVariable, string? proxyUrl,
        string? noProxyVariable, string? noProxy, string reason)
    {
        Family = family;
        Ipv4 = ipv4;
        Ipv6 = ipv6;
        ProxyVariable = proxyVariable;
        ProxyUrl = proxyUrl;
        NoProxyVariable = noProxyVariable;
        NoProxy = noProxy;
        Reason = reason;
    }

    public ProxyClientFamily Family { get; }

    /// <summary>What happens to http://169.254.169.254/.</summary>
    public ProxyOutcome Ipv4 { get; }

    /// <summary>What happens to http://[fd00:ec2::254]/.</summary>
    public ProxyOutcome Ipv6 { get; }

    /// <summary>True when both addresses are reached directly (no proxy applies, or NO_PROXY exempts them).</summary>
    public bool Exempt => IsDirect(Ipv4) && IsDirect(Ipv6);

    /// <summary>The variable this family takes its http:// proxy from (null when none applies).</summary>
    public string? ProxyVariable { get; }

    /// <summary>That proxy, with any password masked.</summary>
    public string? ProxyUrl { get; }

    /// <summary>The NO_PROXY variable this family reads (null when none is set).</summary>
    public string? NoProxyVariable { get; }

    public string? NoProxy { get; }

    /// <summary>One sentence: why.</summary>
    public string Reason { get; }

    /// <summary>True when requests with this outcome reach IMDS without a proxy.</summary>
    public static bool IsDirect(ProxyOutcome o) => o is ProxyOutcome.NoProxy or ProxyOutcome.Exempt;

    public override string ToString() => $"{Family}: {(Exempt ? "direct" : "proxied")} ({Reason})";
}

/// <summary>Per client family: does IMDS bypass the proxy (true) or not (false)?</summary>
public sealed class ImdsExemption
{
    internal ImdsExemption(IReadOnlyList<ProxyFamilyVerdict> verdicts)
    {
        Verdicts = verdicts;
    }

    public IReadOnlyList<ProxyFamilyVerdict> Verdicts { get; }

    public bool Curl => Get(ProxyClientFamily.Curl);

    public bool PythonRequests => Get(ProxyClientFamily.PythonRequests);

    public bool Botocore => Get(ProxyClientFamily.Botocore);

    public bool Go => Get(ProxyClientFamily.Go);

    public bool DotNet => Get(ProxyClientFamily.DotNet);

    /// <summary>True when every family reaches both IMDS addresses directly.</summary>
    public bool All => Verdicts.All(v => v.Exempt);

    /// <summary>The families that would send IMDS traffic through a proxy (or fail).</summary>
    public IReadOnlyList<ProxyClientFamily> NotExempt => Verdicts.Where(v => !v.Exempt).Select(v => v.Family).ToArray();

    public bool Get(ProxyClientFamily family) => Verdicts.First(v => v.Family == family).Exempt;

    public override string ToString() => All ? "all" : "not: " + string.Join(", ", NotExempt);
}
