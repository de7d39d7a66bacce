using System;
using System.Collections.Generic;
using System.Net.Sockets;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>Which rule store a rule lives in.</summary>
public enum FirewallBackend
{
    /// <summary>iptables/ip6tables with the nf_tables backend (<c>iptables-nft</c>, the default on current distributions).</summary>
    IptablesNft,

    /// <summary>iptables/ip6tables with the legacy x_tables backend (<c>iptables-legacy</c>; Amazon Linux 2).</summary>
    IptablesLegacy,

    /// <summary>A native nftables table (<c>nft</c>).</summary>
    Nftables,
}

/// <summary>The program that manages a rule, recognised by its chain or table names.</summary>
public enum FirewallFrontEnd
{
    None,
    Ufw,
    Firewalld,
    Docker,
    Kubernetes,
    AwsVpcCni,
    Calico,
    Cilium,
}

public enum FirewallFamily
{
    IPv4,
    IPv6,
    Both,
}

/// <summary>What a rule does with a packet it matches.</summary>
public enum FirewallVerdict
{
    Accept,
    Drop,
    Reject,
    Return,
    Jump,
    Goto,
    Queue,
    Redirect,
    Continue,
    Unknown,
}

/// <summary>What a rule does to IMDS traffic.</summary>
public enum FirewallRuleEffect
{
    /// <summary>Drops or rejects IMDS traffic of at least one evaluated user or container, for certain.</summary>
    Blocks,

    /// <summary>Would drop or reject IMDS traffic if a match the evaluator cannot decide holds.</summary>
    MayBlock,

    /// <summary>Accepts IMDS traffic (this ends only its own base chain: other base chains still run).</summary>
    Allows,

    /// <summary>Sends IMDS traffic elsewhere (DNAT, REDIRECT): a proxy or nothing answers instead of IMDS.</summary>
    Redirects,

    /// <summary>Jumps, returns, logs, marks: on the way, but not the decision.</summary>
    PassesOn,

    /// <summary>Reached by IMDS traffic but matches none of it (listed with -All).</summary>
    NoMatch,

    /// <summary>Would match IMDS traffic but no IMDS packet reaches it (an earlier rule decides first).</summary>
    NotReached,

    /// <summary>The rule could not be read at all; its raw text is in Rule.</summary>
    NotEvaluated,
}

/// <summary>Which IMDS traffic passes a rule.</summary>
[Flags]
public enum FirewallTraffic
{
    None = 0,

    /// <summary>Processes on this host (OUTPUT, and the replies on INPUT).</summary>
    Host = 1,

    /// <summary>Containers and pods this host routes for (FORWARD).</summary>
    Forwarded = 2,
}

/// <summary>What a client sees when a rule stops its IMDS connection.</summary>
public enum FirewallSymptom
{
    None,

    /// <summary>The connection hangs until the client gives up (DROP, or a blocked reply).</summary>
    Timeout,

    /// <summary>ECONNREFUSED, curl "Couldn't connect to server" (REJECT with port-unreachable or tcp-reset).</summary>
    ConnectionRefused,

    /// <summary>The connection opens and is then reset.</summary>
    ConnectionReset,

    /// <summary>EHOSTUNREACH, "No route to host" (host-unreachable, host-prohibited, admin-prohibited on IPv4).</summary>
    HostUnreachable,

    /// <summary>ENETUNREACH, "Network is unreachable".</summary>
    NetworkUnreachable,

    /// <summary>EACCES, "Permission denied" (icmp6-adm-prohibited on IPv6).</summary>
    PermissionDenied,

    /// <summary>ENOPROTOOPT (icmp-proto-unreachable).</summary>
    ProtocolNotAvailable,

    /// <summary>Another server (or nothing) answers instead of IMDS.</summary>
    Redirected,

    Unknown,
}

/// <summary>
/// One packet-filter rule (or chain policy) that matters for traffic to 169.254.169.254:80 / [fd00:ec2::254]:80, with
/// what it does to whom. Written by Get-ImdsFirewallRule; Remove-ImdsFirewallRule takes it from the pipeline.
/// </summary>
public sealed class FirewallRule
{
    internal FirewallRule()
    {
    }

    /// <summary>The network namespace the rule was read in; null for the current one.</summary>
    public string? NetworkNamespace { get; internal set; }

    public FirewallBackend Backend { get; internal set; }

    public FirewallFrontEnd FrontEnd { get; internal set; }

    /// <summary>Who made the rule: iptables-nft, iptables-legacy, nftables, or the front end (ufw, firewalld, docker, ...).</summary>
    public string Source => FrontEnd == FirewallFrontEnd.None ? BackendName(Backend) : $"{FrontEndName(FrontEnd)} ({BackendName(Backend)})";

    public FirewallFamily Family { get; internal set; }

    /// <summary>nft family (ip, ip6, inet) for nft tables; null for iptables.</summary>
    public string? TableFamily { get; internal set; }

    public string Table { get; internal set; } = string.Empty;

    public string Chain { get; internal set; } = string.Empty;

    /// <summary>1-based position in the chain (as <c>iptables -L --line-numbers</c> counts); 0 for the chain policy.</summary>
    public int Position { get; internal set; }

    /// <summary>nft rule handle (for <c>nft delete rule ... handle N</c>); null for iptables.</summary>
    public long? Handle { get; internal set; }

    /// <summary>The rule as the tool prints it (iptables-save line, nft rule, or the raw text that could not be read).</summary>
    public string Rule { get; internal set; } = string.Empty;

    /// <summary>ACCEPT, DROP, REJECT, a chain name, LOG, ...</summary>
    public string Target { get; internal set; } = string.Empty;

    public FirewallVerdict Verdict { get; internal set; }

    /// <summary>The reject type (icmp-port-unreachable, tcp-reset, icmpx admin-prohibited, ...) for REJECT rules.</summary>
    public string? RejectWith { get; internal set; }

    public FirewallTraffic Traffic { get; internal set; }

    /// <summary>Who the rule's own matches select: "uid 1000-10000", "all local processes", "forwarded traffic, in-interface eni+", ...</summary>
    public string AppliesTo { get; internal set; } = string.Empty;

    /// <summary>The evaluated users and containers whose IMDS traffic this rule drops or rejects.</summary>
    public IReadOnlyList<string> BlockedFor { get; internal set; } = Array.Empty<string>();

    /// <summary>The evaluated users and containers whose IMDS traffic matches this rule.</summary>
    public IReadOnlyList<string> MatchedFor { get; internal set; } = Array.Empty<string>();

    /// <summary>
    /// True when this rule drops or rejects IMDS traffic of an evaluated user or container: now, or once earlier
    /// blocking rules are removed. Removing every rule with Blocks set lets that traffic through, as far as the
    /// evaluator can tell.
    /// </summary>
    public bool Blocks { get; internal set; }

    /// <summary>True when this rule is the one that stops the traffic now (the first blocking rule on its way).</summary>
    public bool Decides { get; internal set; }

    public FirewallRuleEffect Effect { get; internal set; }

    /// <summary>False when part of the rule could not be evaluated (an xt match nft hides, -m u32, an unknown expression).</summary>
    public bool Evaluated { get; internal set; } = true;

    public string? NotEvaluatedReason { get; internal set; }

    /// <summary>What a blocked client sees: REJECT -> ConnectionRefused (or unreachable), DROP -> Timeout.</summary>
    public FirewallSymptom ExpectedSymptom { get; internal set; }

    /// <summary>Packet counter of the rule when the tool shows one; non-zero on a blocking rule means it has fired.</summary>
    public long? Packets { get; internal set; }

    public long? Bytes { get; internal set; }

    /// <summary>The file that restores this rule at boot (/etc/iptables/rules.v4, /etc/sysconfig/iptables, /etc/nftables.conf, ufw rules).</summary>
    public string? PersistedFile { get; internal set; }

    /// <summary>1-based line of the rule in PersistedFile.</summary>
    public int? PersistedLine { get; internal set; }

    /// <summary>What is known about persistence when no file holds the rule, or how the front end keeps it.</summary>
    public string? PersistenceNote { get; internal set; }

    /// <summary>The command that deletes this rule, quoted for a shell (Remove-ImdsFirewallRule runs it without a shell).</summary>
    public string? RemoveCommand { get; internal set; }

    /// <summary>True for a chain policy (position 0), which cannot be deleted, only changed.</summary>
    public bool IsPolicy { get; internal set; }

    /// <summary>The program Remove-ImdsFirewallRule runs (iptables-nft, ip6tables-legacy, nft).</summary>
    internal string? DeleteProgram { get; set; }

    /// <summary>Arguments of DeleteProgram, after the program name.</summary>
    internal IReadOnlyList<string>? DeleteArguments { get; set; }

    /// <summary>For iptables rules: the arguments of <c>-C</c>/<c>-D</c> after the operation (chain and spec).</summary>
    internal IReadOnlyList<string>? Spec { get; set; }

    internal string? ExpressionJson { get; set; }

    /// <summary>How many rules with this exact spec the chain held when read (iptables -D removes the first).</summary>
    internal int IdenticalCount { get; set; } = 1;


    /// <summary>Where this rule sits, for messages: "filter OUTPUT #1 (iptables-nft, IPv4)".</summary>
    public string Location => IsPolicy
        ? $"{(TableFamily is null ? Table : TableFamily + " " + Table)} {Chain} policy ({BackendName(Backend)}, {Family})"
        : $"{(TableFamily is null ? Table : TableFamily + " " + Table)} {Chain} #{Position}{(Handle is { } h ? $" (handle {h})" : string.Empty)} ({BackendName(Backend)}, {Family})";

    public override string ToString() => $"{Location}: {Rule}";

    /// <summary>True when this rule's expected symptom is what a client saw (a socket error, or TimedOut for a timeout).</summary>
    public bool Explains(SocketError error) => ExpectedSymptom switch
    {
        FirewallSymptom.Timeout => error == SocketError.TimedOut,
        FirewallSymptom.ConnectionRefused => error == SocketError.ConnectionRefused,
        FirewallSymptom.ConnectionReset => error == SocketError.ConnectionReset,
        FirewallSymptom.HostUnreachable => error == SocketError.HostUnreachable,
        FirewallSymptom.NetworkUnreachable => error == SocketError.NetworkUnreachable,
        FirewallSymptom.PermissionDenied => error == SocketError.AccessDenied,
        FirewallSymptom.ProtocolNotAvailable => error is SocketError.ProtocolOption or SocketError.ProtocolNotSupported,
        _ => false,
    };

    internal static string BackendName(FirewallBackend b) => b switch
    {
        FirewallBackend.IptablesNft => "iptables-nft",
        FirewallBackend.IptablesLegacy => "iptables-legacy",
        _ => "nftables",
    };

    internal static string FrontEndName(FirewallFrontEnd f) => f switch
    {
        FirewallFrontEnd.Ufw => "ufw",
        FirewallFrontEnd.Firewalld => "firewalld",
        FirewallFrontEnd.Docker => "docker",
        FirewallFrontEnd.Kubernetes => "kubernetes",
        FirewallFrontEnd.AwsVpcCni => "aws-node",
        FirewallFrontEnd.Calico => "calico",
        FirewallFrontEnd.Cilium => "cilium",
        _ => "none",
    };
}
