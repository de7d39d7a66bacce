using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Firewall;

internal enum Hook
{
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

internal enum ChainType
{
    Filter,
    Nat,
    Route,
}

/// <summary>Which part of a connection a test packet is.</summary>
internal enum PacketKind
{
    /// <summary>The SYN that opens the connection (conntrack NEW).</summary>
    Syn,

    /// <summary>IMDS's SYN-ACK coming back (ESTABLISHED, reply direction).</summary>
    SynAck,

    /// <summary>The HTTP request after the handshake (ESTABLISHED).</summary>
    Request,

    /// <summary>The HTTP response (ESTABLISHED, reply direction).</summary>
    Response,
}

internal static class CtStates
{
    public const ulong Invalid = 1;
    public const ulong Established = 2;
    public const ulong Related = 4;
    public const ulong New = 8;
    public const ulong Untracked = 64;

    public static readonly IReadOnlyDictionary<string, ulong> Names = new Dictionary<string, ulong>(StringComparer.OrdinalIgnoreCase)
    {
        ["invalid"] = Invalid,
        ["established"] = Established,
        ["related"] = Related,
        ["new"] = New,
        ["untracked"] = Untracked,
    };

    public static string Format(ulong v) => Names.FirstOrDefault(kv => kv.Value == v).Key ?? v.ToString(CultureInfo.InvariantCulture);
}

internal static class TcpFlagBits
{
    public const ulong Fin = 1;
    public const ulong Syn = 2;
    public const ulong Rst = 4;
    public const ulong Psh = 8;
    public const ulong Ack = 16;
    public const ulong Urg = 32;
    public const ulong Ecn = 64;
    public const ulong Cwr = 128;

    public static readonly IReadOnlyDictionary<string, ulong> Names = new Dictionary<string, ulong>(StringComparer.OrdinalIgnoreCase)
    {
        ["fin"] = Fin,
        ["syn"] = Syn,
        ["rst"] = Rst,
        ["psh"] = Psh,
        ["ack"] = Ack,
        ["urg"] = Urg,
        ["ecn"] = Ecn,
        ["ece"] = Ecn,
        ["cwr"] = Cwr,
        ["all"] = 0x3f,
        ["none"] = 0,
    };
}

internal static class Protocols
{
    public static readonly IReadOnlyDictionary<string, ulong> Names = new Dictionary<string, ulong>(StringComparer.OrdinalIgnoreCase)
    {
        ["tcp"] = 6,
        ["udp"] = 17,
        ["icmp"] = 1,
        ["ipv6-icmp"] = 58,
        ["icmpv6"] = 58,
        ["icmp6"] = 58,
        ["udplite"] = 136,
        ["sctp"] = 132,
        ["dccp"] = 33,
        ["esp"] = 50,
        ["ah"] = 51,
        ["gre"] = 47,
        ["igmp"] = 2,
    };

    public static bool TryParse(string text, out ulong value)
    {
        if (Names.TryGetValue(text, out value))
        {
            return true;
        }

        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value <= 255;
    }

    public static string Format(ulong v) => Names.FirstOrDefault(kv => kv.Value == v).Key ?? v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Whose traffic a test packet is: a local user (uid, gid, groups) or traffic forwarded from an interface.</summary>
internal sealed class Subject
{
    private Subject(string label, uint? uid, uint? gid, IReadOnlyList<uint> groups, string? inInterface, bool hypotheticalInterface, AddressSpan? v4Source, AddressSpan? v6Source)
    {
        Label = label;
        Uid = uid;
        Gid = gid;
        Groups = groups;
        InInterface = inInterface;
        HypotheticalInterface = hypotheticalInterface;
        ForwardedIPv4Source = v4Source;
        ForwardedIPv6Source = v6Source;
    }

    public string Label { get; }

    public uint? Uid { get; }

    public uint? Gid { get; }

    public IReadOnlyList<uint> Groups { get; }

    /// <summary>For forwarded traffic: the interface it arrives on (the container's veth, docker0, eni...).</summary>
    public string? InInterface { get; }

    public bool HypotheticalInterface { get; }

    public AddressSpan? ForwardedIPv4Source { get; }

    public AddressSpan? ForwardedIPv6Source { get; }

    public bool IsForwarded => InInterface is not null;

    public static Subject User(uint uid, uint? gid, IReadOnlyList<uint> groups, string? name) =>
        new(name is null ? $"uid {uid}" : $"uid {uid} ({name})", uid, gid, groups, null, false, null, null);

    public static Subject Forwarded(string inInterface, bool hypothetical, AddressSpan? v4, AddressSpan? v6) =>
        new(hypothetical ? $"forwarded from {inInterface} (no such interface now)" : $"forwarded from {inInterface}", null, null, Array.Empty<uint>(), inInterface, hypothetical, v4, v6);

    public override string ToString() => Label;
}

/// <summary>A test packet of the IMDS connection, at one point of its way.</summary>
internal sealed class Packet
{
    public required bool IsIPv6 { get; init; }

    public required Subject Subject { get; init; }

    public required PacketKind Kind { get; init; }

    /// <summary>Null when unknown (forwarded traffic from an interface without an address).</summary>
    public AddressSpan? Source { get; init; }

    public AddressSpan? Destination { get; init; }

    public required FieldValue SourcePort { get; init; }

    public required FieldValue DestinationPort { get; init; }

    public ulong Protocol { get; init; } = 6;

    /// <summary>Null = the packet has no such interface (no input interface on OUTPUT); "?" = unknown.</summary>
    public string? InInterface { get; init; }

    public string? OutInterface { get; init; }

    public ulong TcpFlags { get; init; }

    public ulong CtState { get; init; }

    public bool IsReply { get; init; }

    /// <summary>A local socket is attached (locally generated traffic, and replies to it on input).</summary>
    public bool HasSocket { get; init; }

    public Tri DestinationIsLocal { get; init; } = Tri.False;

    public Tri SourceIsLocal { get; init; } = Tri.False;

    public required Hook Hook { get; init; }

    public Packet At(Hook hook) => new()
    {
        IsIPv6 = IsIPv6,
        Subject = Subject,
        Kind = Kind,
        Source = Source,
        Destination = Destination,
        SourcePort = SourcePort,
        DestinationPort = DestinationPort,
        Protocol = Protocol,
        InInterface = hook is Hook.Output ? null : InInterface,
        OutInterface = hook is Hook.Input or Hook.Prerouting ? null : OutInterface,
        TcpFlags = TcpFlags,
        CtState = CtState,
        IsReply = IsReply,
        HasSocket = HasSocket,
        DestinationIsLocal = DestinationIsLocal,
        SourceIsLocal = SourceIsLocal,
        Hook = hook,
    };
}

/// <summary>What rules change on the way: the mark, and conntrack state (NOTRACK).</summary>
internal struct EvalState
{
    public ulong? Mark;
    public ulong? CtState;
}

internal enum Field
{
    DestinationAddress,
    SourceAddress,
    DestinationPort,
    SourcePort,
    TransportPortEither,
    L4Protocol,
    InInterface,
    OutInterface,
    SocketUid,
    SocketGid,
    CtState,
    CtDirection,
    CtOriginalDestination,
    CtOriginalDestinationPort,
    CtProtocol,
    TcpFlags,
    Mark,
    NfProto,
    PacketType,
}

internal enum CompareOp
{
    Equal,
    NotEqual,
    In,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

internal static class Fields
{
    public const ulong NfProtoIPv4 = 2;
    public const ulong NfProtoIPv6 = 10;

    public static FieldValue Get(Field field, Packet p, in EvalState s, string? payloadProtocol = null)
    {
        switch (field)
        {
            case Field.DestinationAddress:
                if (payloadProtocol is not null && !ProtocolMatchesFamily(payloadProtocol, p))
                {
                    return FieldValue.Missing;
                }

                return p.Destination is { } d ? FieldValue.Of(d) : FieldValue.Unknown;
            case Field.SourceAddress:
                if (payloadProtocol is not null && !ProtocolMatchesFamily(payloadProtocol, p))
                {
                    return FieldValue.Missing;
                }

                return p.Source is { } src ? FieldValue.Of(src) : FieldValue.Unknown;
            case Field.DestinationPort:
            case Field.SourcePort:
                if (payloadProtocol is not null && !TransportMatches(payloadProtocol, p))
                {
                    return FieldValue.Missing;
                }

                return field == Field.DestinationPort ? p.DestinationPort : p.SourcePort;
            case Field.L4Protocol:
            case Field.CtProtocol:
                return FieldValue.Number(p.Protocol);
            case Field.InInterface:
                return p.InInterface is null ? FieldValue.Missing : p.InInterface == "?" ? FieldValue.Unknown : FieldValue.Interface(p.InInterface);
            case Field.OutInterface:
                return p.OutInterface is null ? FieldValue.Missing : p.OutInterface == "?" ? FieldValue.Unknown : FieldValue.Interface(p.OutInterface);
            case Field.SocketUid:
                if (!p.HasSocket)
                {
                    return FieldValue.Missing;
                }

                return p.Subject.Uid is { } uid ? FieldValue.Number(uid) : FieldValue.Unknown;
            case Field.SocketGid:
                if (!p.HasSocket)
                {
                    return FieldValue.Missing;
                }

                return p.Subject.Gid is { } gid ? FieldValue.Number(gid) : FieldValue.Unknown;
            case Field.CtState:
                return s.CtState is { } ct ? FieldValue.Number(ct) : FieldValue.Unknown;
            case Field.CtDirection:
                return s.CtState == CtStates.Untracked ? FieldValue.Missing : FieldValue.Number(p.IsReply ? 1UL : 0UL);
            case Field.CtOriginalDestination:
                return s.CtState == CtStates.Untracked ? FieldValue.Missing : FieldValue.Of(AddressSpan.Single(p.IsIPv6 ? ImdsDefaults.IPv6Address : ImdsDefaults.IPv4Address));
            case Field.CtOriginalDestinationPort:
                return s.CtState == CtStates.Untracked ? FieldValue.Missing : FieldValue.Number(80);
            case Field.TcpFlags:
                return p.Protocol == 6 ? FieldValue.Number(p.TcpFlags) : FieldValue.Missing;
            case Field.Mark:
                return s.Mark is { } mark ? FieldValue.Number(mark) : FieldValue.Unknown;
            case Field.NfProto:
                return FieldValue.Number(p.IsIPv6 ? NfProtoIPv6 : NfProtoIPv4);
            case Field.PacketType:
                return FieldValue.Number(0); // host/unicast
            default:
                return FieldValue.Unknown;
        }
    }

    private static bool ProtocolMatchesFamily(string payloadProtocol, Packet p) => payloadProtocol switch
    {
        "ip" => !p.IsIPv6,
        "ip6" => p.IsIPv6,
        _ => true,
    };

    private static bool TransportMatches(string payloadProtocol, Packet p) => payloadProtocol switch
    {
        "tcp" => p.Protocol == 6,
        "udp" => p.Protocol == 17,
        "udplite" => p.Protocol == 136,
        "sctp" => p.Protocol == 132,
        "dccp" => p.Protocol == 33,
        "th" => p.Protocol is 6 or 17 or 136 or 132 or 33,
        _ => true,
    };
}

/// <summary>One condition of a rule. All of a rule's conditions must hold for it to match.</summary>
internal abstract class Condition
{
    /// <summary>Says who the rule selects (owner, interface): used to describe "who it hits".</summary>
    public virtual bool IsWho => false;

    /// <summary>A condition on where the packet goes (address, port, protocol): makes a rule "about IMDS".</summary>
    public virtual bool IsDestination => false;

    public abstract Tri Evaluate(Packet p, in EvalState s);

    public abstract string Describe();
}

/// <summary>A comparison of one packet field with a set: <c>-d 169.254.0.0/16</c>, <c>tcp dport { 80, 443 }</c>, <c>meta skuid != 0</c>.</summary>
internal sealed class FieldCondition : Condition
{
    public FieldCondition(Field field, CompareOp op, ValueSet right, string? payloadProtocol = null, ulong? mask = null)
    {
        Field = field;
        Op = op;
        Right = right;
        PayloadProtocol = payloadProtocol;
        Mask = mask;
    }

    public Field Field { get; }

    public CompareOp Op { get; }

    public ValueSet Right { get; }

    public string? PayloadProtocol { get; }

    public ulong? Mask { get; }

    public override bool IsWho => Field is Field.SocketUid or Field.SocketGid or Field.InInterface;

    public override bool IsDestination => Field is Field.DestinationAddress or Field.DestinationPort or Field.SourceAddress or Field.SourcePort or Field.TransportPortEither or Field.CtOriginalDestination or Field.CtOriginalDestinationPort;

    public override Tri Evaluate(Packet p, in EvalState s)
    {
        if (Field == Field.TransportPortEither)
        {
            Tri d = Compare(Fields.Get(Field.DestinationPort, p, s, PayloadProtocol));
            Tri src = Compare(Fields.Get(Field.SourcePort, p, s, PayloadProtocol));
            return Op == CompareOp.NotEqual ? d.And(src) : d.Or(src);
        }

        return Compare(Fields.Get(Field, p, s, PayloadProtocol));
    }

    private Tri Compare(FieldValue v)
    {
        if (v.Kind == FieldValueKind.Missing)
        {
            // The kernel cannot load the field (no socket on forwarded traffic, "ip daddr" on an IPv6 packet): the rule breaks.
            return Tri.False;
        }

        if (v.Kind == FieldValueKind.Unknown)
        {
            return Tri.Unknown;
        }

        if (Mask is { } mask)
        {
            if (v.Kind != FieldValueKind.Number || v.Low != v.High)
            {
                return Tri.Unknown;
            }

            v = FieldValue.Number(v.Low & mask);
        }

        switch (Op)
        {
            case CompareOp.Equal:
                return Right.Contains(v);
            case CompareOp.NotEqual:
                return Right.Contains(v).Not();
            case CompareOp.In:
                if (IsBitmask(Field) && v.Kind == FieldValueKind.Number)
                {
                    if (v.Low != v.High)
                    {
                        return Tri.Unknown;
                    }

                    return TriExtensions.From((v.Low & Right.Bits) != 0);
                }

                return Right.Contains(v);
            default:
                if (v.Kind != FieldValueKind.Number || Right.Elements.Count != 1 || Right.Elements[0] is not NumberElement n)
                {
                    return Tri.Unknown;
                }

                ulong r = n.Low;
                return Op switch
                {
                    CompareOp.Less => v.High < r ? Tri.True : v.Low >= r ? Tri.False : Tri.Unknown,
                    CompareOp.LessOrEqual => v.High <= r ? Tri.True : v.Low > r ? Tri.False : Tri.Unknown,
                    CompareOp.Greater => v.Low > r ? Tri.True : v.High <= r ? Tri.False : Tri.Unknown,
                    _ => v.Low >= r ? Tri.True : v.High < r ? Tri.False : Tri.Unknown,
                };
        }
    }

    private static bool IsBitmask(Field f) => f is Field.CtState or Field.TcpFlags;

    public override string Describe()
    {
        string name = Field switch
        {
            Field.DestinationAddress => "destination",
            Field.SourceAddress => "source",
            Field.DestinationPort => "dport",
            Field.SourcePort => "sport",
            Field.TransportPortEither => "port",
            Field.L4Protocol => "protocol",
            Field.InInterface => "in-interface",
            Field.OutInterface => "out-interface",
            Field.SocketUid => "uid",
            Field.SocketGid => "gid",
            Field.CtState => "ct state",
            Field.CtDirection => "ct direction",
            Field.TcpFlags => "tcp flags",
            Field.Mark => "mark",
            _ => Field.ToString(),
        };
        string op = Op switch
        {
            CompareOp.NotEqual => " not ",
            CompareOp.Less => " < ",
            CompareOp.Greater => " > ",
            CompareOp.LessOrEqual => " <= ",
            CompareOp.GreaterOrEqual => " >= ",
            _ => " ",
        };
        return name + op + Right;
    }
}

/// <summary>
/// iptables <c>-m owner</c>, with the kernel's semantics (xt_owner.c): without a socket (forwarded traffic) it matches
/// only when every given option is negated; <c>--gid-owner</c> checks the fsgid and, with <c>--suppl-groups</c>, the
/// supplementary groups.
/// </summary>
internal sealed class OwnerCondition : Condition
{
    public (ulong Low, ulong High)? Uid { get; init; }

    public bool UidNegated { get; init; }

    public (ulong Low, ulong High)? Gid { get; init; }

    public bool GidNegated { get; init; }

    public bool SocketExists { get; init; }

    public bool SocketExistsNegated { get; init; }

    public bool SupplementaryGroups { get; init; }

    public override bool IsWho => true;

    public override Tri Evaluate(Packet p, in EvalState s)
    {
        bool anyGiven = Uid is not null || Gid is not null || SocketExists;
        bool allNegated = (Uid is null || UidNegated) && (Gid is null || GidNegated) && (!SocketExists || SocketExistsNegated);
        if (!p.HasSocket)
        {
            return TriExtensions.From(!anyGiven || allNegated);
        }

        if (SocketExists && SocketExistsNegated)
        {
            return Tri.False;
        }

        Tri result = Tri.True;
        if (Uid is { } u)
        {
            Tri inRange = p.Subject.Uid is { } uid ? TriExtensions.From(uid >= u.Low && uid <= u.High) : Tri.Unknown;
            result = result.And(UidNegated ? inRange.Not() : inRange);
        }

        if (Gid is { } g)
        {
            Tri inRange = p.Subject.Gid is { } gid ? TriExtensions.From(gid >= g.Low && gid <= g.High) : Tri.Unknown;
            if (inRange != Tri.True && SupplementaryGroups)
            {
                if (p.Subject.Uid is null || p.Subject.Gid is null)
                {
                    inRange = Tri.Unknown;
                }
                else if (p.Subject.Groups.Any(x => x >= g.Low && x <= g.High))
                {
                    inRange = Tri.True;
                }
            }

            result = result.And(GidNegated ? inRange.Not() : inRange);
        }

        return result;
    }

    public override string Describe()
    {
        var parts = new List<string>();
        static string R((ulong Low, ulong High) r) => r.Low == r.High ? r.Low.ToString(CultureInfo.InvariantCulture) : $"{r.Low}-{r.High}";
        if (Uid is { } u)
        {
            parts.Add((UidNegated ? "uid not " : "uid ") + R(u));
        }

        if (Gid is { } g)
        {
            parts.Add((GidNegated ? "gid not " : "gid ") + R(g) + (SupplementaryGroups ? " (incl. supplementary groups)" : string.Empty));
        }

        if (SocketExists)
        {
            parts.Add(SocketExistsNegated ? "no local socket" : "local socket");
        }

        return string.Join(", ", parts);
    }
}

/// <summary><c>-m addrtype --dst-type/--src-type</c>.</summary>
internal sealed class AddressTypeCondition : Condition
{
    public AddressTypeCondition(bool destination, IReadOnlyList<string> types, bool negated)
    {
        Destination = destination;
        Types = types;
        Negated = negated;
    }

    public bool Destination { get; }

    public IReadOnlyList<string> Types { get; }

    public bool Negated { get; }

    public override Tri Evaluate(Packet p, in EvalState s)
    {
        Tri local = Destination ? p.DestinationIsLocal : p.SourceIsLocal;
        Tri any = Tri.False;
        foreach (string t in Types)
        {
            Tri m = t.ToUpperInvariant() switch
            {
                "LOCAL" => local,
                "UNICAST" => local.Not(),
                "BROADCAST" or "MULTICAST" or "ANYCAST" => Tri.False,
                _ => Tri.Unknown,
            };
            any = any.Or(m);
        }

        return Negated ? any.Not() : any;
    }

    public override string Describe() => (Destination ? "dst-type " : "src-type ") + (Negated ? "not " : string.Empty) + string.Join(",", Types);
}

/// <summary>Something the evaluator cannot decide: the match could be true or false.</summary>
internal sealed class UnknownCondition : Condition
{
    public UnknownCondition(string description)
    {
        Description = description;
    }

    public string Description { get; }

    public override Tri Evaluate(Packet p, in EvalState s) => Tri.Unknown;

    public override string Describe() => Description;
}

/// <summary>A condition that never holds for the IMDS packets (a fragment match, an ICMP type...).</summary>
internal sealed class ConstantCondition : Condition
{
    public ConstantCondition(Tri value, string description)
    {
        Value = value;
        Description = description;
    }

    public Tri Value { get; }

    public string Description { get; }

    public override Tri Evaluate(Packet p, in EvalState s) => Value;

    public override string Describe() => Description;
}

internal enum ActionKind
{
    /// <summary>Not a verdict: LOG, counter, MARK, ... the next rule follows.</summary>
    Continue,
    Accept,
    Drop,
    Reject,
    Return,
    Jump,
    Goto,

    /// <summary>NFQUEUE: a user-space program decides.</summary>
    Queue,

    /// <summary>DNAT/REDIRECT/TPROXY: the connection goes somewhere else.</summary>
    Redirect,

    /// <summary>SNAT/MASQUERADE: ends the nat chain, the packet goes on.</summary>
    NatAccept,

    /// <summary>A target or statement the evaluator does not know; it may end the packet.</summary>
    Unknown,

    /// <summary>An nft verdict map: the verdict depends on a packet field.</summary>
    VerdictMap,
}

internal sealed class RuleAction
{
    public RuleAction(ActionKind kind, string display, string? target = null, string? rejectWith = null)
    {
        Kind = kind;
        Display = display;
        Target = target;
        RejectWith = rejectWith;
    }

    public ActionKind Kind { get; }

    /// <summary>ACCEPT, DROP, REJECT, IMDS-CHECK, LOG ... as the tool names it.</summary>
    public string Display { get; }

    /// <summary>The chain of a jump or goto.</summary>
    public string? Target { get; }

    /// <summary>The reject type (icmp-port-unreachable, tcp-reset, icmpx admin-prohibited ...).</summary>
    public string? RejectWith { get; }

    /// <summary>Target options (LOG prefix, MARK value ...), normalised, to tell otherwise equal rules apart.</summary>
    public string Detail { get; init; } = string.Empty;

    /// <summary>For verdict maps: one condition per map element (the key field equals the element) and its verdict.</summary>
    public IReadOnlyList<(Condition When, RuleAction Verdict)>? MapEntries { get; init; }

    public bool IsBlocking => Kind is ActionKind.Drop or ActionKind.Reject;

    public static RuleAction Continue(string display) => new(ActionKind.Continue, display);
}

/// <summary>What a non-terminating target does to the packet state.</summary>
internal abstract class SideEffect
{
    public abstract void Apply(ref EvalState s);
}

internal sealed class MarkEffect : SideEffect
{
    public MarkEffect(ulong? value, ulong mask, bool xor)
    {
        Value = value;
        Mask = mask;
        Xor = xor;
    }

    public ulong? Value { get; }

    public ulong Mask { get; }

    public bool Xor { get; }

    public override void Apply(ref EvalState s)
    {
        if (Value is not { } v || s.Mark is not { } m)
        {
            s.Mark = null;
            return;
        }

        s.Mark = Xor ? (m & ~Mask) ^ v : (m & ~Mask) | v;
    }
}

internal sealed class NoTrackEffect : SideEffect
{
    public override void Apply(ref EvalState s) => s.CtState = CtStates.Untracked;
}

internal sealed class Rule
{
    public Rule(Chain chain, int position, string text)
    {
        Chain = chain;
        Position = position;
        Text = text;
    }

    public Chain Chain { get; }

    /// <summary>1-based among the chain's rules; 0 for the chain policy.</summary>
    public int Position { get; }

    /// <summary>The rule as the tool prints it (the iptables-save line without counters, or the nft rule).</summary>
    public string Text { get; }

    public long? Handle { get; init; }

    /// <summary>For nft rules: the rule's expressions as nft printed them (to check the handle still holds this rule before deleting).</summary>
    public string? ExpressionJson { get; init; }

    /// <summary>For iptables rules: the rule spec after the chain name, split as iptables-restore splits it.</summary>
    public IReadOnlyList<string>? Spec { get; init; }

    public List<Condition> Conditions { get; } = new();

    public List<SideEffect> Effects { get; } = new();

    public RuleAction Action { get; set; } = RuleAction.Continue("(no verdict)");

    /// <summary>Why (part of) the rule cannot be evaluated; empty when it can.</summary>
    public List<string> Problems { get; } = new();

    public long? Packets { get; init; }

    public long? Bytes { get; init; }

    public bool IsPolicy { get; init; }

    /// <summary>iptables -m comment text (part of the rule's identity in a persisted file).</summary>
    public string? Comment { get; set; }

    /// <summary>The rule's identity for finding it in a persisted file: its conditions and action, normalised.</summary>
    public string CanonicalKey()
    {
        var parts = Conditions
            .Where(c => !(c is ConstantCondition k && k.Value == Tri.True))
            .Select(c => c.GetType().Name + ":" + c.Describe())
            .OrderBy(s => s, StringComparer.Ordinal)
            .ToList();
        parts.Add("comment:" + (Comment ?? string.Empty));
        // A persisted file cannot tell a user chain from a target this tool does not know: both are "-j NAME".
        string kind = Action.Kind is ActionKind.Jump or ActionKind.Unknown ? "Target" : Action.Kind.ToString();
        parts.Add($"action:{kind}:{Action.Display}:{Action.RejectWith}:{Action.Detail}");
        return string.Join("|", parts);
    }

    public Tri Match(Packet p, in EvalState s)
    {
        Tri result = Tri.True;
        foreach (Condition c in Conditions)
        {
            result = result.And(c.Evaluate(p, s));
            if (result == Tri.False)
            {
                return result;
            }
        }

        return result;
    }

    public override string ToString() => $"{Chain.Table.DisplayName} {Chain.Name} #{Position}: {Text}";
}

internal sealed class Chain
{
    public Chain(Table table, string name)
    {
        Table = table;
        Name = name;
    }

    public Table Table { get; }

    public string Name { get; }

    public Hook? Hook { get; set; }

    public int Priority { get; set; }

    public ChainType Type { get; set; } = ChainType.Filter;

    /// <summary>ACCEPT or DROP for base chains; null for user chains.</summary>
    public ActionKind? Policy { get; set; }

    public bool IsBase => Hook is not null;

    public List<Rule> Rules { get; } = new();

    private Rule? _policyRule;

    /// <summary>The chain policy as a pseudo-rule (position 0), so a DROP policy can be reported like a rule.</summary>
    public Rule PolicyRule => _policyRule ??= MakePolicyRule();

    private Rule MakePolicyRule()
    {
        string verdict = Policy == ActionKind.Drop ? "DROP" : "ACCEPT";
        string text = Table.Backend == FirewallBackend.Nftables ? $"policy {verdict.ToLowerInvariant()}" : $":{Name} {verdict}";
        var rule = new Rule(this, 0, text) { IsPolicy = true };
        rule.Action = new RuleAction(Policy ?? ActionKind.Accept, verdict);
        return rule;
    }
}

internal sealed class Table
{
    public Table(FirewallBackend backend, bool? isIPv6, string name, string? nftFamily)
    {
        Backend = backend;
        IsIPv6 = isIPv6;
        Name = name;
        NftFamily = nftFamily;
    }

    public FirewallBackend Backend { get; }

    /// <summary>false = IPv4 only, true = IPv6 only, null = both (nft inet).</summary>
    public bool? IsIPv6 { get; }

    public string Name { get; }

    /// <summary>ip, ip6, inet, bridge, netdev, arp for nft tables; null for iptables.</summary>
    public string? NftFamily { get; }

    public bool Dormant { get; set; }

    /// <summary>nft printed table flags it could not have meant (nft 1.0.6 prints garbage for "flags dormant"): ask again in text.</summary>
    public bool FlagsUncertain { get; set; }

    /// <summary>bridge/netdev/arp tables: parsed, never evaluated.</summary>
    public bool Unsupported { get; set; }

    public Dictionary<string, Chain> Chains { get; } = new(StringComparer.Ordinal);

    public string DisplayName => NftFamily is null ? Name : $"{NftFamily} {Name}";

    public bool AppliesTo(bool ipv6) => IsIPv6 is null || IsIPv6 == ipv6;

    public Chain GetOrAddChain(string name)
    {
        if (!Chains.TryGetValue(name, out Chain? chain))
        {
            chain = new Chain(this, name);
            Chains.Add(name, chain);
        }

        return chain;
    }
}

/// <summary>Every table read from every source.</summary>
internal sealed class Ruleset
{
    public List<Table> Tables { get; } = new();
}
