using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>
/// Turns an iptables rule spec (the arguments after <c>-A CHAIN</c>) into conditions and an action. Options it
/// knows are evaluated; any other match module becomes an Unknown condition with a problem note, never dropped.
/// </summary>
internal static class IptablesRuleParser
{
    private static readonly Dictionary<string, ulong> s_services = new(StringComparer.OrdinalIgnoreCase)
    {
        ["http"] = 80,
        ["www"] = 80,
        ["https"] = 443,
        ["domain"] = 53,
        ["ssh"] = 22,
        ["ntp"] = 123,
    };

    // Arity of options whose values could look like options; options not listed take the following non-option words.
    private static readonly Dictionary<string, int> s_arity = new(StringComparer.Ordinal)
    {
        ["--comment"] = 1,
        ["--log-prefix"] = 1,
        ["--nflog-prefix"] = 1,
        ["--string"] = 1,
        ["--hex-string"] = 1,
        ["--u32"] = 1,
        ["--bytecode"] = 1,
        ["--tcp-flags"] = 2,
        ["--match-set"] = 2,
        ["--name"] = 1,
        ["--socket-exists"] = 0,
        ["--suppl-groups"] = 0,
        ["--syn"] = 0,
        ["--log-uid"] = 0,
        ["--log-tcp-sequence"] = 0,
        ["--log-tcp-options"] = 0,
        ["--log-ip-options"] = 0,
        ["--log-macdecode"] = 0,
        ["--notrack"] = 0,
        ["--queue-bypass"] = 0,
        ["--fail-open"] = 0,
        ["--queue-cpu-fanout"] = 0,
        ["--random"] = 0,
        ["--random-fully"] = 0,
        ["--persistent"] = 0,
        ["--clamp-mss-to-pmtu"] = 0,
        ["--limit-iface-in"] = 0,
        ["--limit-iface-out"] = 0,
        ["--icase"] = 0,
        ["--set"] = 0,
        ["--rcheck"] = 0,
        ["--update"] = 0,
        ["--remove"] = 0,
        ["--rttl"] = 0,
        ["--rsource"] = 0,
        ["--rdest"] = 0,
        ["--reap"] = 0,
        ["--physdev-is-in"] = 0,
        ["--physdev-is-out"] = 0,
        ["--physdev-is-bridged"] = 0,
        ["--transparent"] = 0,
        ["--nowildcard"] = 0,
        ["--restore-skmark"] = 0,
        ["--kerneltz"] = 0,
        ["--contiguous"] = 0,
        ["--loose"] = 0,
        ["--validmark"] = 0,
        ["--accept-local"] = 0,
        ["--invert"] = 0,
        ["--strict"] = 0,
        ["--return-nomatch"] = 0,
        ["--checksum-fill"] = 0,
        ["--save-mark"] = 0,
        ["--restore-mark"] = 0,
        ["--connlimit-saddr"] = 0,
        ["--connlimit-daddr"] = 0,
        ["--hashlimit-rate-match"] = 0,
    };

    private static readonly HashSet<string> s_continueTargets = new(StringComparer.Ordinal)
    {
        "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "DSCP", "TOS", "TTL", "HL", "CLASSIFY", "TRACE",
        "AUDIT", "CHECKSUM", "SECMARK", "CONNSECMARK", "SET", "TEE", "IDLETIMER", "LED", "ECN", "SYNPROXY_NOT", "RATEEST", "HMARK", "TCPOPTSTRIP",
    };

    private sealed class Cursor
    {
        private readonly IReadOnlyList<string> _args;

        public Cursor(IReadOnlyList<string> args)
        {
            _args = args;
        }

        public int Index { get; set; }

        public bool AtEnd => Index >= _args.Count;

        public string Peek => _args[Index];

        public string Next()
        {
            if (AtEnd)
            {
                throw new FormatException("an option is missing its value");
            }

            return _args[Index++];
        }
    }

    /// <summary>Fills the rule's conditions, effects, action and problems from its spec.</summary>
    public static void Parse(Rule rule, IReadOnlyList<string> spec, bool ipv6, IUserDatabase users, Func<string, bool> isChain)
    {
        try
        {
            ParseCore(rule, spec, ipv6, users, isChain);
        }
        catch (FormatException ex)
        {
            rule.Conditions.Add(new UnknownCondition("unreadable rule"));
            rule.Problems.Add("the rule could not be read: " + ex.Message);
            if (rule.Action.Kind == ActionKind.Continue)
            {
                rule.Action = new RuleAction(ActionKind.Unknown, "?");
            }
        }
    }

    private static void ParseCore(Rule rule, IReadOnlyList<string> spec, bool ipv6, IUserDatabase users, Func<string, bool> isChain)
    {
        var c = new Cursor(spec);
        bool negate = false;
        string? module = null;
        string? protocol = null;
        string? target = null;
        var targetOptions = new List<(string Option, string? Value)>();
        OwnerBuilder? owner = null;

        void EndModule()
        {
            if (owner is not null)
            {
                Condition built = owner.Build();
                rule.Conditions.Add(built);
                if (built is UnknownCondition u)
                {
                    rule.Problems.Add("cannot evaluate " + u.Description);
                }

                owner = null;
            }
        }

        while (!c.AtEnd)
        {
            string t = c.Next();
            if (t == "!")
            {
                negate = true;
                continue;
            }

            switch (t)
            {
                case "-s":
                case "--source":
                case "--src":
                case "-d":
                case "--destination":
                case "--dst":
                    {
                        EndModule();
                        bool dst = t is "-d" or "--destination" or "--dst";
                        string v = TakeValue(c, ref negate);
                        var set = new ValueSet(v.Split(',').Select(a => (SetElement)new AddressElement(AddressSpan.Parse(a))));
                        if (set.Elements.OfType<AddressElement>().Any(e => e.Span.IsIPv6 != ipv6))
                        {
                            throw new FormatException($"address family of '{v}' does not fit the table");
                        }

                        rule.Conditions.Add(new FieldCondition(dst ? Field.DestinationAddress : Field.SourceAddress, negate ? CompareOp.NotEqual : CompareOp.Equal, set));
                        negate = false;
                        continue;
                    }

                case "-p":
                case "--protocol":
                    {
                        EndModule();
                        string v = TakeValue(c, ref negate).ToLowerInvariant();
                        if (v is "all" or "0")
                        {
                            rule.Conditions.Add(new ConstantCondition(negate ? Tri.False : Tri.True, negate ? "no protocol" : "any protocol"));
                        }
                        else
                        {
                            if (!Protocols.TryParse(v, out ulong proto))
                            {
                                throw new FormatException($"unknown protocol '{v}'");
                            }

                            rule.Conditions.Add(new FieldCondition(Field.L4Protocol, negate ? CompareOp.NotEqual : CompareOp.Equal, ValueSet.Of(new NumberElement(proto, proto, Protocols.Format))));
                            if (!negate)
                            {
                                protocol = Protocols.Format(proto);
                            }
                        }

                        negate = false;
                        continue;
                    }

                case "-i":
                case "--in-interface":
                case "-o":
                case "--out-interface":
                    {
                        EndModule();
                        bool input = t is "-i" or "--in-interface";
                        string v = TakeValue(c, ref negate);
                        rule.Conditions.Add(new FieldCondition(input ? Field.InInterface : Field.OutInterface, negate ? CompareOp.NotEqual : CompareOp.Equal, ValueSet.Of(InterfaceElement.FromIptables(v))));
                        negate = false;
                        continue;
                    }

                case "-f":
                case "--fragment":
                    EndModule();
                    rule.Conditions.Add(new ConstantCondition(negate ? Tri.True : Tri.False, negate ? "not a fragment" : "fragment"));
                    negate = false;
                    continue;
                case "-4":
                case "--ipv4":
                case "-6":
                case "--ipv6":
                    continue;
                case "-c":
                case "--set-counters":
                    c.Next();
                    if (!c.AtEnd && !c.Peek.StartsWith('-'))
                    {
                        c.Next();
                    }

                    continue;
                case "-m":
                case "--match":
                    EndModule();
                    module = c.Next();
                    if (module == "owner")
                    {
                        owner = new OwnerBuilder();
                    }

                    negate = false;
                    continue;
                case "-j":
                case "--jump":
                case "-g":
                case "--goto":
                    EndModule();
                    module = null;
                    target = c.Next();
                    if (t is "-g" or "--goto")
                    {
                        rule.Action = new RuleAction(ActionKind.Goto, target, target);
                        target = null;
                    }

                    continue;
            }

            if (!t.StartsWith("--", StringComparison.Ordinal))
            {
                throw new FormatException($"unexpected word '{t}'");
            }

            if (target is not null && module is null)
            {
                string? value = null;
                int arity = s_arity.TryGetValue(t, out int a) ? a : 1;
                if (arity > 0 && !c.AtEnd)
                {
                    value = c.Next();
                }

                targetOptions.Add((t, value));
                continue;
            }

            string effectiveModule = module ?? protocol ?? throw new FormatException($"option {t} without a match module");
            ParseMatchOption(rule, effectiveModule, t, c, ref negate, ipv6, users, owner);
            negate = false;
        }

        EndModule();
        if (target is not null)
        {
            RuleAction action = MakeTarget(rule, target, targetOptions, ipv6, isChain);
            string detail = string.Join(' ', targetOptions
                .Where(o => o.Option != "--reject-with")
                .Select(o => o.Value is null ? o.Option : o.Option + " " + IptablesTokenizer.QuoteForSave(o.Value)));
            rule.Action = new RuleAction(action.Kind, action.Display, action.Target, action.RejectWith) { Detail = detail };
        }
        else if (rule.Action.Kind != ActionKind.Goto)
        {
            rule.Action = RuleAction.Continue("(no target)");
        }
    }

    private static string TakeValue(Cursor c, ref bool negate)
    {
        string v = c.Next();
        if (v == "!")
        {
            // Old syntax: "--dport ! 80".
            negate = !negate;
            v = c.Next();
        }

        return v;
    }

    private static void ParseMatchOption(Rule rule, string module, string option, Cursor c, ref bool negate, bool ipv6, IUserDatabase users, OwnerBuilder? owner)
    {
        CompareOp Op(bool neg) => neg ? CompareOp.NotEqual : CompareOp.Equal;
        switch (module, option)
        {
            case ("tcp" or "udp" or "udplite" or "sctp" or "dccp", "--dport" or "--destination-port" or "--sport" or "--source-port"):
                {
                    bool dst = option is "--dport" or "--destination-port";
                    string v = TakeValue(c, ref negate);
                    rule.Conditions.Add(new FieldCondition(dst ? Field.DestinationPort : Field.SourcePort, Op(negate), ValueSet.Of(ParsePortRange(v, ':')), module));
                    return;
                }

            case ("tcp", "--tcp-flags"):
                {
                    string maskText = TakeValue(c, ref negate);
                    string compText = c.Next();
                    ulong mask = ParseFlags(maskText);
                    ulong comp = ParseFlags(compText);
                    rule.Conditions.Add(new FieldCondition(Field.TcpFlags, Op(negate), ValueSet.Of(new NumberElement(comp, comp)), mask: mask));
                    return;
                }

            case ("tcp", "--syn"):
                {
                    ulong mask = TcpFlagBits.Syn | TcpFlagBits.Rst | TcpFlagBits.Ack | TcpFlagBits.Fin;
                    rule.Conditions.Add(new FieldCondition(Field.TcpFlags, Op(negate), ValueSet.Of(new NumberElement(TcpFlagBits.Syn, TcpFlagBits.Syn)), mask: mask));
                    return;
                }

            case ("multiport", "--dports" or "--destination-ports" or "--sports" or "--source-ports" or "--ports"):
                {
                    string v = TakeValue(c, ref negate);
                    var set = new ValueSet(v.Split(',').Select(p => (SetElement)ParsePortRange(p, ':')));
                    Field f = option switch
                    {
                        "--dports" or "--destination-ports" => Field.DestinationPort,
                        "--sports" or "--source-ports" => Field.SourcePort,
                        _ => Field.TransportPortEither,
                    };
                    rule.Conditions.Add(new FieldCondition(f, Op(negate), set, "th"));
                    return;
                }

            case ("owner", "--uid-owner" or "--gid-owner"):
                {
                    string v = TakeValue(c, ref negate);
                    bool isUid = option == "--uid-owner";
                    var range = ParseIdRange(v, isUid, users);
                    if (owner is null)
                    {
                        throw new FormatException("owner option outside -m owner");
                    }

                    if (range is null)
                    {
                        owner.Unknown.Add($"{option} {v} (no such {(isUid ? "user" : "group")} here)");
                    }
                    else if (isUid)
                    {
                        owner.Uid = range;
                        owner.UidNegated = negate;
                    }
                    else
                    {
                        owner.Gid = range;
                        owner.GidNegated = negate;
                    }

                    return;
                }

            case ("owner", "--socket-exists"):
                owner!.SocketExists = true;
                owner.SocketExistsNegated = negate;
                return;
            case ("owner", "--suppl-groups"):
                owner!.SupplementaryGroups = true;
                return;
            case ("conntrack", "--ctstate"):
            case ("state", "--state"):
                {
                    string v = TakeValue(c, ref negate);
                    var elements = new List<SetElement>();
                    bool unknown = false;
                    foreach (string s in v.Split(','))
                    {
                        if (CtStates.Names.TryGetValue(s, out ulong bit))
                        {
                            elements.Add(new NumberElement(bit, bit, CtStates.Format));
                        }
                        else
                        {
                            unknown = true; // SNAT, DNAT: virtual states
                        }
                    }

                    if (unknown)
                    {
                        rule.Conditions.Add(new UnknownCondition($"{option} {v}"));
                        rule.Problems.Add($"cannot evaluate conntrack state {v}");
                    }
                    else
                    {
                        rule.Conditions.Add(new FieldCondition(Field.CtState, Op(negate), new ValueSet(elements)));
                    }

                    return;
                }

            case ("conntrack", "--ctdir"):
                {
                    string v = TakeValue(c, ref negate).ToUpperInvariant();
                    ulong dir = v == "REPLY" ? 1UL : 0UL;
                    rule.Conditions.Add(new FieldCondition(Field.CtDirection, Op(negate), ValueSet.Of(new NumberElement(dir, dir, d => d == 1 ? "REPLY" : "ORIGINAL"))));
                    return;
                }

            case ("conntrack", "--ctproto"):
                {
                    string v = TakeValue(c, ref negate);
                    if (!Protocols.TryParse(v, out ulong proto))
                    {
                        throw new FormatException($"unknown protocol '{v}'");
                    }

                    rule.Conditions.Add(new FieldCondition(Field.CtProtocol, Op(negate), ValueSet.Of(new NumberElement(proto, proto, Protocols.Format))));
                    return;
                }

            case ("conntrack", "--ctorigdst"):
                {
                    string v = TakeValue(c, ref negate);
                    rule.Conditions.Add(new FieldCondition(Field.CtOriginalDestination, Op(negate), ValueSet.Of(new AddressElement(AddressSpan.Parse(v)))));
                    return;
                }

            case ("conntrack", "--ctorigdstport"):
                {
                    string v = TakeValue(c, ref negate);
                    rule.Conditions.Add(new FieldCondition(Field.CtOriginalDestinationPort, Op(negate), ValueSet.Of(ParsePortRange(v, ':'))));
                    return;
                }

            case ("comment", "--comment"):
                rule.Comment = c.Next();
                return;
            case ("iprange", "--src-range" or "--dst-range"):
                {
                    string v = TakeValue(c, ref negate);
                    string[] parts = v.Split('-');
                    AddressSpan lo = AddressSpan.Parse(parts[0]);
                    AddressSpan hi = parts.Length > 1 ? AddressSpan.Parse(parts[1]) : lo;
                    if (lo.IsIPv6 != ipv6 || hi.IsIPv6 != ipv6)
                    {
                        throw new FormatException($"address family of '{v}' does not fit the table");
                    }

                    var span = new AddressSpan(ipv6, lo.First, hi.Last);
                    rule.Conditions.Add(new FieldCondition(option == "--dst-range" ? Field.DestinationAddress : Field.SourceAddress, Op(negate), ValueSet.Of(new AddressElement(span))));
                    return;
                }

            case ("addrtype", "--src-type" or "--dst-type"):
                {
                    string v = TakeValue(c, ref negate);
                    rule.Conditions.Add(new AddressTypeCondition(option == "--dst-type", v.Split(','), negate));
                    return;
                }

            case ("addrtype", "--limit-iface-in" or "--limit-iface-out"):
                return;
            case ("mark", "--mark"):
                {
                    string v = TakeValue(c, ref negate);
                    string[] parts = v.Split('/');
                    ulong value = ParseNumber(parts[0]);
                    ulong mask = parts.Length > 1 ? ParseNumber(parts[1]) : 0xffffffff;
                    rule.Conditions.Add(new FieldCondition(Field.Mark, Op(negate), ValueSet.Of(new NumberElement(value, value, x => "0x" + x.ToString("x", CultureInfo.InvariantCulture))), mask: mask));
                    return;
                }

            case ("pkttype", "--pkt-type"):
                {
                    string v = TakeValue(c, ref negate).ToLowerInvariant();
                    Tri isUnicast = TriExtensions.From(v is "unicast" or "host");
                    rule.Conditions.Add(new ConstantCondition(negate ? isUnicast.Not() : isUnicast, $"pkt-type {(negate ? "not " : string.Empty)}{v}"));
                    return;
                }

            case ("icmp", "--icmp-type"):
            case ("icmp6" or "icmpv6", "--icmpv6-type"):
                TakeValue(c, ref negate);
                rule.Conditions.Add(new ConstantCondition(Tri.False, "ICMP type"));
                return;
        }

        // Anything else: keep its words, evaluate as unknown, and say so.
        var words = new List<string> { option };
        int arity = s_arity.TryGetValue(option, out int a) ? a : -1;
        if (arity >= 0)
        {
            for (int i = 0; i < arity; i++)
            {
                words.Add(c.Next());
            }
        }
        else
        {
            while (!c.AtEnd && !c.Peek.StartsWith('-') && c.Peek != "!")
            {
                words.Add(c.Next());
            }
        }

        string text = (negate ? "! " : string.Empty) + string.Join(' ', words.Select(IptablesTokenizer.QuoteForSave));
        if (owner is not null)
        {
            owner.Unknown.Add(text);
            return;
        }

        rule.Conditions.Add(new UnknownCondition($"-m {module} {text}"));
        string problem = $"cannot evaluate -m {module}";
        if (!rule.Problems.Contains(problem))
        {
            rule.Problems.Add(problem);
        }
    }

    private static RuleAction MakeTarget(Rule rule, string target, List<(string Option, string? Value)> options, bool ipv6, Func<string, bool> isChain)
    {
        string? Opt(string name) => options.FirstOrDefault(o => o.Option == name).Value;
        bool Has(string name) => options.Any(o => o.Option == name);
        switch (target)
        {
            case "ACCEPT":
                return new RuleAction(ActionKind.Accept, target);
            case "DROP":
                return new RuleAction(ActionKind.Drop, target);
            case "RETURN":
                return new RuleAction(ActionKind.Return, target);
            case "REJECT":
                return new RuleAction(ActionKind.Reject, target, rejectWith: Opt("--reject-with") ?? (ipv6 ? "icmp6-port-unreachable" : "icmp-port-unreachable"));
            case "NFQUEUE":
            case "QUEUE":
                return new RuleAction(ActionKind.Queue, target + (Has("--queue-bypass") ? " (bypass)" : string.Empty));
            case "DNAT":
            case "REDIRECT":
            case "TPROXY":
                {
                    string? to = Opt("--to-destination") ?? Opt("--to-ports") ?? Opt("--on-port");
                    return new RuleAction(ActionKind.Redirect, to is null ? target : $"{target} to {to}");
                }

            case "SNAT":
            case "MASQUERADE":
            case "NETMAP":
                return new RuleAction(ActionKind.NatAccept, target);
            case "MARK":
                {
                    string? xset = Opt("--set-xmark");
                    string? set = Opt("--set-mark");
                    if (xset is not null || set is not null)
                    {
                        string[] parts = (xset ?? set)!.Split('/');
                        ulong value = ParseNumber(parts[0]);
                        ulong mask = parts.Length > 1 ? ParseNumber(parts[1]) : 0xffffffff;
                        rule.Effects.Add(new MarkEffect(value, mask, xset is not null));
                    }
                    else
                    {
                        rule.Effects.Add(new MarkEffect(null, 0, false));
                    }

                    return RuleAction.Continue(target);
                }

            case "NOTRACK":
                rule.Effects.Add(new NoTrackEffect());
                return RuleAction.Continue(target);
            case "CT":
                if (Has("--notrack"))
                {
                    rule.Effects.Add(new NoTrackEffect());
                }

                return RuleAction.Continue(target);
        }

        if (s_continueTargets.Contains(target))
        {
            return RuleAction.Continue(target);
        }

        if (isChain(target))
        {
            return new RuleAction(ActionKind.Jump, target, target);
        }

        rule.Problems.Add($"unknown target {target}");
        return new RuleAction(ActionKind.Unknown, target);
    }

    private static NumberElement ParsePortRange(string text, char separator)
    {
        int i = text.IndexOf(separator, StringComparison.Ordinal);
        if (i < 0)
        {
            ulong p = ParsePort(text);
            return new NumberElement(p, p);
        }

        ulong lo = i == 0 ? 0 : ParsePort(text.Substring(0, i));
        ulong hi = i == text.Length - 1 ? 65535 : ParsePort(text.Substring(i + 1));
        return new NumberElement(lo, hi);
    }

    private static ulong ParsePort(string text)
    {
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) && v <= 65535)
        {
            return v;
        }

        if (s_services.TryGetValue(text, out v))
        {
            return v;
        }

        throw new FormatException($"'{text}' is not a port");
    }

    private static (ulong, ulong)? ParseIdRange(string text, bool uid, IUserDatabase users)
    {
        int dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0)
        {
            ulong? lo = ParseId(text.Substring(0, dash), uid, users);
            ulong? hi = ParseId(text.Substring(dash + 1), uid, users);
            return lo is null || hi is null ? null : (lo.Value, hi.Value);
        }

        ulong? v = ParseId(text, uid, users);
        return v is null ? null : (v.Value, v.Value);
    }

    private static ulong? ParseId(string text, bool uid, IUserDatabase users)
    {
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v))
        {
            return v;
        }

        if (uid ? users.TryGetUid(text, out uint id) : users.TryGetGid(text, out id))
        {
            return id;
        }

        return null;
    }

    private static ulong ParseFlags(string text)
    {
        ulong bits = 0;
        foreach (string f in text.Split(','))
        {
            if (!TcpFlagBits.Names.TryGetValue(f, out ulong b))
            {
                throw new FormatException($"unknown TCP flag '{f}'");
            }

            bits |= b;
        }

        return bits;
    }

    internal static ulong ParseNumber(string text)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return ulong.Parse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }

        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) ? v : throw new FormatException($"'{text}' is not a number");
    }

    private sealed class OwnerBuilder
    {
        public (ulong Low, ulong High)? Uid { get; set; }

        public bool UidNegated { get; set; }

        public (ulong Low, ulong High)? Gid { get; set; }

        public bool GidNegated { get; set; }

        public bool SocketExists { get; set; }

        public bool SocketExistsNegated { get; set; }

        public bool SupplementaryGroups { get; set; }

        public List<string> Unknown { get; } = new();

        public Condition Build()
        {
            if (Unknown.Count > 0)
            {
                return new UnknownCondition("-m owner " + string.Join(' ', Unknown));
            }

            return new OwnerCondition
            {
                Uid = Uid,
                UidNegated = UidNegated,
                Gid = Gid,
                GidNegated = GidNegated,
                SocketExists = SocketExists,
                SocketExistsNegated = SocketExistsNegated,
                SupplementaryGroups = SupplementaryGroups,
            };
        }
    }
}
