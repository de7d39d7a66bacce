using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;

namespace ImdsTroubleshoot.Engine.Firewall;

internal sealed class NftDump
{
    public List<Table> Tables { get; } = new();

    public List<string> Warnings { get; } = new();

    /// <summary>"family name" of tables left out because iptables-save showed them (iptables-nft tables).</summary>
    public List<string> Skipped { get; } = new();
}

/// <summary>
/// Reads <c>nft -j list ruleset</c> with System.Text.Json. Expressions it knows become conditions and actions;
/// anything else (xt matches whose arguments nft hides, expressions nft printed as text, unknown objects) becomes an
/// Unknown condition with a note, so the rule is reported as not evaluated instead of vanishing.
/// </summary>
internal static class NftJsonParser
{
    private static readonly Dictionary<string, int> s_priorities = new(StringComparer.Ordinal)
    {
        ["raw"] = -300,
        ["mangle"] = -150,
        ["dstnat"] = -100,
        ["filter"] = 0,
        ["security"] = 50,
        ["srcnat"] = 100,
    };

    private sealed class TableInfo
    {
        public TableInfo(Table table)
        {
            Table = table;
        }

        public Table Table { get; }

        public Dictionary<string, JsonElement> Sets { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, JsonElement> Maps { get; } = new(StringComparer.Ordinal);

        public bool HasXt { get; set; }
    }

    public static NftDump Parse(string json, Func<string, string, bool> skipTable, IUserDatabase users)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(skipTable);
        var dump = new NftDump();
        if (string.IsNullOrWhiteSpace(json))
        {
            return dump;
        }

        using JsonDocument doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        if (!doc.RootElement.TryGetProperty("nftables", out JsonElement items) || items.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("nft -j output has no \"nftables\" array");
        }

        var tables = new Dictionary<(string, string), TableInfo>();
        var skipped = new HashSet<(string, string)>();

        // Pass 1: tables, chains, sets and maps.
        foreach (JsonElement item in items.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (JsonProperty kind in item.EnumerateObject())
            {
                JsonElement o = kind.Value;
                switch (kind.Name)
                {
                    case "table":
                        {
                            string family = Str(o, "family");
                            string name = Str(o, "name");
                            if (skipTable(family, name))
                            {
                                skipped.Add((family, name));
                                dump.Skipped.Add($"{family} {name}");
                                continue;
                            }

                            bool? v6 = family switch
                            {
                                "ip" => false,
                                "ip6" => true,
                                _ => null,
                            };
                            var (dormant, uncertain) = Flags(o);
                            var table = new Table(FirewallBackend.Nftables, v6, name, family)
                            {
                                Unsupported = family is not ("ip" or "ip6" or "inet"),
                                Dormant = dormant,
                                FlagsUncertain = uncertain,
                            };
                            tables[(family, name)] = new TableInfo(table);
                            dump.Tables.Add(table);
                            break;
                        }

                    case "chain":
                        {
                            if (!tables.TryGetValue((Str(o, "family"), Str(o, "table")), out TableInfo? t))
                            {
                                continue;
                            }

                            Chain chain = t.Table.GetOrAddChain(Str(o, "name"));
                            if (o.TryGetProperty("hook", out JsonElement hook))
                            {
                                Hook? h = hook.GetString() switch
                                {
                                    "prerouting" => Hook.Prerouting,
                                    "input" => Hook.Input,
                                    "forward" => Hook.Forward,
                                    "output" => Hook.Output,
                                    "postrouting" => Hook.Postrouting,
                                    _ => null,
                                };
                                if (h is null)
                                {
                                    // ingress/egress (netdev): a base chain this tool does not evaluate.
                                    t.Table.Unsupported = true;
                                }

                                chain.Hook = h;
                                chain.Priority = Priority(o);
                                chain.Type = (o.TryGetProperty("type", out JsonElement type) ? type.GetString() : "filter") switch
                                {
                                    "nat" => ChainType.Nat,
                                    "route" => ChainType.Route,
                                    _ => ChainType.Filter,
                                };
                                chain.Policy = o.TryGetProperty("policy", out JsonElement pol) && pol.GetString() == "drop" ? ActionKind.Drop : ActionKind.Accept;
                            }

                            break;
                        }

                    case "set":
                    case "map":
                        {
                            if (tables.TryGetValue((Str(o, "family"), Str(o, "table")), out TableInfo? t))
                            {
                                JsonElement elem = o.TryGetProperty("elem", out JsonElement e) ? e.Clone() : default;
                                (kind.Name == "set" ? t.Sets : t.Maps)[Str(o, "name")] = elem;
                            }

                            break;
                        }
                }
            }
        }

        // Pass 2: rules, in chain order.
        foreach (JsonElement item in items.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("rule", out JsonElement r))
            {
                continue;
            }

            var key = (Str(r, "family"), Str(r, "table"));
            if (skipped.Contains(key) || !tables.TryGetValue(key, out TableInfo? t))
            {
                continue;
            }

            Chain chain = t.Table.GetOrAddChain(Str(r, "chain"));
            JsonElement expr = r.TryGetProperty("expr", out JsonElement x) ? x : default;
            string? comment = r.TryGetProperty("comment", out JsonElement cm) && cm.ValueKind == JsonValueKind.String ? cm.GetString() : null;
            long? handle = r.TryGetProperty("handle", out JsonElement hd) && hd.TryGetInt64(out long hv) ? hv : null;
            string text = NftRenderer.Rule(expr, comment);
            long? packets = null;
            long? bytes = null;
            if (expr.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement e in expr.EnumerateArray())
                {
                    if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("counter", out JsonElement cnt) && cnt.ValueKind == JsonValueKind.Object)
                    {
                        packets = cnt.TryGetProperty("packets", out JsonElement p) && p.TryGetInt64(out long pv) ? pv : null;
                        bytes = cnt.TryGetProperty("bytes", out JsonElement b) && b.TryGetInt64(out long bv) ? bv : null;
                    }
                }
            }

            var rule = new Rule(chain, chain.Rules.Count + 1, text)
            {
                Handle = handle,
                ExpressionJson = expr.ValueKind == JsonValueKind.Undefined ? "null" : CanonicalJson(expr),
                Packets = packets,
                Bytes = bytes,
            };
            chain.Rules.Add(rule);
            ParseRule(rule, expr, t, users);
        }

        // iptables-nft tables seen only through nft (iptables-save missing): say so, the xt parts stay unknown.
        foreach (TableInfo t in tables.Values.Where(t => t.HasXt))
        {
            dump.Warnings.Add($"table {t.Table.DisplayName} holds iptables-nft rules whose iptables extensions nft does not show; install iptables (nf_tables) to evaluate them fully");
        }

        return dump;
    }

    /// <summary>The expression array as compact JSON, to compare a rule before deleting it.</summary>
    public static string CanonicalJson(JsonElement e) => JsonSerializer.Serialize(e);

    private static readonly string[] s_tableFlags = { "dormant", "owner", "persist" };

    /// <summary>
    /// Table flags. nft 1.0.6 prints a single flag as a string, and a wrong one: "dorm", or even the table's name, for
    /// "flags dormant". A string that is no known flag makes the flags uncertain (the inspector asks nft in text).
    /// </summary>
    private static (bool Dormant, bool Uncertain) Flags(JsonElement table)
    {
        if (!table.TryGetProperty("flags", out JsonElement flags))
        {
            return (false, false);
        }

        IEnumerable<string> names = flags.ValueKind switch
        {
            JsonValueKind.String => new[] { flags.GetString()! },
            JsonValueKind.Array => flags.EnumerateArray().Where(f => f.ValueKind == JsonValueKind.String).Select(f => f.GetString()!).ToArray(),
            _ => new[] { flags.GetRawText() },
        };
        bool dormant = false;
        bool uncertain = false;
        foreach (string n in names)
        {
            if (n.StartsWith("dorm", StringComparison.Ordinal))
            {
                dormant = true;
            }
            else if (!s_tableFlags.Contains(n))
            {
                uncertain = true;
            }
        }

        return (dormant, uncertain && !dormant);
    }

    private static int Priority(JsonElement chain)
    {
        if (!chain.TryGetProperty("prio", out JsonElement prio))
        {
            return 0;
        }

        if (prio.ValueKind == JsonValueKind.Number && prio.TryGetInt32(out int p))
        {
            return p;
        }

        if (prio.ValueKind == JsonValueKind.String)
        {
            string s = prio.GetString()!.Replace(" ", string.Empty, StringComparison.Ordinal);
            foreach (var (name, value) in s_priorities)
            {
                if (s.StartsWith(name, StringComparison.Ordinal))
                {
                    string rest = s.Substring(name.Length);
                    return rest.Length == 0 ? value : value + int.Parse(rest, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                }
            }
        }

        return 0;
    }

    private static string Str(JsonElement o, string name) =>
        o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : string.Empty;

    private static void ParseRule(Rule rule, JsonElement expr, TableInfo table, IUserDatabase users)
    {
        if (expr.ValueKind != JsonValueKind.Array)
        {
            rule.Problems.Add("the rule has no expression list");
            rule.Conditions.Add(new UnknownCondition("no expressions"));
            rule.Action = new RuleAction(ActionKind.Unknown, "?");
            return;
        }

        RuleAction? verdict = null;
        foreach (JsonElement e in expr.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object)
            {
                // nft printed a statement it has no JSON form for as plain text (an anonymous chain: "jump { ... }").
                string raw = e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText();
                rule.Problems.Add($"nft printed an expression as text, not JSON: {raw.Replace('\n', ' ').Replace('\t', ' ')}");
                rule.Conditions.Add(new UnknownCondition("expression printed as text"));
                verdict ??= new RuleAction(ActionKind.Unknown, raw.Split('\n')[0].Trim());
                continue;
            }

            JsonProperty stmt = e.EnumerateObject().FirstOrDefault();
            JsonElement v = stmt.Value;
            switch (stmt.Name)
            {
                case "match":
                    rule.Conditions.Add(ParseMatch(v, table, users, rule));
                    break;
                case "counter":
                case "log":
                case "set":
                case "flow":
                case "ct helper":
                case "ct timeout":
                case "ct expectation":
                case "dup":
                case "comment":
                    break;
                case "limit":
                case "quota":
                case "meter":
                    rule.Conditions.Add(new UnknownCondition(stmt.Name + " " + NftRenderer.Statement(e)));
                    AddProblem(rule, $"cannot evaluate {stmt.Name} (a rate or quota decides)");
                    break;
                case "notrack":
                    rule.Effects.Add(new NoTrackEffect());
                    break;
                case "mangle":
                    {
                        bool isMark = v.TryGetProperty("key", out JsonElement k) && k.ValueKind == JsonValueKind.Object && k.TryGetProperty("meta", out JsonElement mk) && Str(mk, "key") == "mark";
                        if (isMark)
                        {
                            ulong? value = v.TryGetProperty("value", out JsonElement val) && val.ValueKind == JsonValueKind.Number && val.TryGetUInt64(out ulong u) ? u : null;
                            rule.Effects.Add(new MarkEffect(value, ulong.MaxValue, false));
                        }

                        break;
                    }

                case "xt":
                    {
                        table.HasXt = true;
                        string name = Str(v, "name");
                        if (Str(v, "type") == "target")
                        {
                            verdict = XtTarget(name, rule);
                        }
                        else
                        {
                            rule.Conditions.Add(new UnknownCondition($"xt match {name}"));
                            AddProblem(rule, $"iptables extension -m {name}: nft does not show its arguments");
                        }

                        break;
                    }

                case "accept":
                    verdict = new RuleAction(ActionKind.Accept, "accept");
                    break;
                case "drop":
                    verdict = new RuleAction(ActionKind.Drop, "drop");
                    break;
                case "return":
                    verdict = new RuleAction(ActionKind.Return, "return");
                    break;
                case "continue":
                    verdict = RuleAction.Continue("continue");
                    break;
                case "jump":
                case "goto":
                    {
                        string target = Str(v, "target");
                        verdict = new RuleAction(stmt.Name == "jump" ? ActionKind.Jump : ActionKind.Goto, $"{stmt.Name} {target}", target);
                        break;
                    }

                case "reject":
                    verdict = new RuleAction(ActionKind.Reject, "reject", rejectWith: RejectType(v));
                    break;
                case "queue":
                    verdict = new RuleAction(ActionKind.Queue, "queue");
                    break;
                case "dnat":
                case "redirect":
                case "tproxy":
                    verdict = new RuleAction(ActionKind.Redirect, NftRenderer.Statement(e));
                    break;
                case "snat":
                case "masquerade":
                    verdict = new RuleAction(ActionKind.NatAccept, stmt.Name);
                    break;
                case "vmap":
                    verdict = ParseVmap(v, table, users, rule);
                    break;
                default:
                    rule.Conditions.Add(new UnknownCondition("unknown expression " + stmt.Name));
                    AddProblem(rule, $"unknown nft expression '{stmt.Name}': {e.GetRawText()}");
                    break;
            }
        }

        rule.Action = verdict ?? RuleAction.Continue("(no verdict)");
    }

    private static void AddProblem(Rule rule, string problem)
    {
        if (!rule.Problems.Contains(problem))
        {
            rule.Problems.Add(problem);
        }
    }

    private static string RejectType(JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            return "icmpx port-unreachable";
        }

        string type = Str(v, "type");
        string code = Str(v, "expr");
        if (type.Length == 0)
        {
            type = "icmpx";
        }

        if (type == "tcp reset")
        {
            return type;
        }

        return $"{type} {(code.Length == 0 ? "port-unreachable" : code)}";
    }

    private static RuleAction XtTarget(string name, Rule rule)
    {
        switch (name)
        {
            case "REJECT":
                AddProblem(rule, "iptables REJECT: nft does not show the reject type");
                return new RuleAction(ActionKind.Reject, "xt target REJECT", rejectWith: "(hidden by nft)");
            case "DNAT":
            case "REDIRECT":
            case "TPROXY":
                return new RuleAction(ActionKind.Redirect, "xt target " + name);
            case "SNAT":
            case "MASQUERADE":
                return new RuleAction(ActionKind.NatAccept, "xt target " + name);
            case "NFQUEUE":
                return new RuleAction(ActionKind.Queue, "xt target " + name);
            case "MARK":
                rule.Effects.Add(new MarkEffect(null, 0, false));
                return RuleAction.Continue("xt target MARK");
            case "CT":
                AddProblem(rule, "iptables CT target: nft does not show whether it disables conntrack");
                return RuleAction.Continue("xt target CT");
            case "LOG":
            case "NFLOG":
            case "TCPMSS":
            case "CONNMARK":
            case "TRACE":
            case "AUDIT":
            case "CLASSIFY":
            case "CHECKSUM":
                return RuleAction.Continue("xt target " + name);
            default:
                AddProblem(rule, $"unknown iptables target {name}");
                return new RuleAction(ActionKind.Unknown, "xt target " + name);
        }
    }

    private sealed record Left(Field? Field, string? PayloadProtocol, ulong? Mask, string Description, CtSpecial Special = CtSpecial.None);

    private enum CtSpecial
    {
        None,
        Status,
    }

    private static Left ParseLeft(JsonElement l)
    {
        if (l.ValueKind != JsonValueKind.Object)
        {
            return new Left(null, null, null, l.GetRawText());
        }

        JsonProperty p = l.EnumerateObject().FirstOrDefault();
        JsonElement v = p.Value;
        switch (p.Name)
        {
            case "payload":
                {
                    string proto = Str(v, "protocol");
                    string field = Str(v, "field");
                    Field? f = (proto, field) switch
                    {
                        ("ip" or "ip6", "daddr") => Field.DestinationAddress,
                        ("ip" or "ip6", "saddr") => Field.SourceAddress,
                        ("ip", "protocol") => Field.L4Protocol,
                        ("ip6", "nexthdr") => Field.L4Protocol,
                        ("tcp" or "udp" or "udplite" or "sctp" or "dccp" or "th", "dport") => Field.DestinationPort,
                        ("tcp" or "udp" or "udplite" or "sctp" or "dccp" or "th", "sport") => Field.SourcePort,
                        ("tcp", "flags") => Field.TcpFlags,
                        _ => null,
                    };
                    return new Left(f, proto, null, $"{proto} {field}");
                }

            case "meta":
                {
                    string key = Str(v, "key");
                    Field? f = key switch
                    {
                        "l4proto" => Field.L4Protocol,
                        "skuid" => Field.SocketUid,
                        "skgid" => Field.SocketGid,
                        "oifname" or "oif" => Field.OutInterface,
                        "iifname" or "iif" => Field.InInterface,
                        "nfproto" or "protocol" => Field.NfProto,
                        "mark" => Field.Mark,
                        "pkttype" => Field.PacketType,
                        _ => null,
                    };
                    return new Left(f, null, null, "meta " + key);
                }

            case "ct":
                {
                    string key = Str(v, "key");
                    string dir = Str(v, "dir");
                    Field? f = key switch
                    {
                        "state" => Field.CtState,
                        "direction" => Field.CtDirection,
                        "daddr" or "ip daddr" or "ip6 daddr" when dir is "original" => Field.CtOriginalDestination,
                        "proto-dst" when dir is "original" => Field.CtOriginalDestinationPort,
                        "protocol" or "l4proto" => Field.CtProtocol,
                        _ => null,
                    };
                    return new Left(f, null, null, "ct " + (dir.Length > 0 ? dir + " " : string.Empty) + key, key == "status" ? CtSpecial.Status : CtSpecial.None);
                }

            case "&":
                if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 2)
                {
                    Left inner = ParseLeft(v[0]);
                    ulong? mask = inner.Field is { } f ? Bits(v[1], f) : null;
                    if (mask is null)
                    {
                        return new Left(null, null, null, NftRenderer.Value(l));
                    }

                    return inner with { Mask = mask, Description = NftRenderer.Value(l) };
                }

                break;
        }

        return new Left(null, null, null, NftRenderer.Value(l));
    }

    private static Condition ParseMatch(JsonElement m, TableInfo table, IUserDatabase users, Rule rule)
    {
        JsonElement l = m.TryGetProperty("left", out JsonElement le) ? le : default;
        JsonElement r = m.TryGetProperty("right", out JsonElement re) ? re : default;
        Left left = ParseLeft(l);
        string opText = m.TryGetProperty("op", out JsonElement o) && o.ValueKind == JsonValueKind.String ? o.GetString()! : (r.ValueKind == JsonValueKind.Array ? "in" : "==");
        CompareOp? op = opText switch
        {
            "==" or "eq" => CompareOp.Equal,
            "!=" or "neq" => CompareOp.NotEqual,
            "in" => CompareOp.In,
            "<" or "lt" => CompareOp.Less,
            ">" or "gt" => CompareOp.Greater,
            "<=" or "lte" => CompareOp.LessOrEqual,
            ">=" or "gte" => CompareOp.GreaterOrEqual,
            _ => null,
        };
        string text = NftRenderer.Match(m);

        if (left.Special == CtSpecial.Status && op is CompareOp.Equal or CompareOp.NotEqual or CompareOp.In)
        {
            // Only DNAT is decidable: the evaluator follows IMDS traffic that was not redirected.
            bool onlyDnat = Strings(r).All(s => s == "dnat") && Strings(r).Any();
            if (onlyDnat)
            {
                return new ConstantCondition(op == CompareOp.NotEqual ? Tri.True : Tri.False, text);
            }
        }

        if (left.Field is not { } field || op is not { } cmp)
        {
            AddProblem(rule, $"cannot evaluate '{text}'");
            return new UnknownCondition(text);
        }

        ValueSet? set = ParseRight(r, field, table, users, out string? why);
        if (set is null)
        {
            AddProblem(rule, $"cannot evaluate '{text}'{(why is null ? string.Empty : ": " + why)}");
            return new UnknownCondition(text);
        }

        return new FieldCondition(field, cmp, set, left.PayloadProtocol, left.Mask);
    }

    private static IEnumerable<string> Strings(JsonElement r) => r.ValueKind switch
    {
        JsonValueKind.String => new[] { r.GetString()! },
        JsonValueKind.Array => r.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToArray(),
        JsonValueKind.Object when r.TryGetProperty("set", out JsonElement s) => Strings(s),
        _ => Array.Empty<string>(),
    };

    private static ValueSet? ParseRight(JsonElement r, Field field, TableInfo table, IUserDatabase users, out string? why)
    {
        why = null;
        var elements = new List<SetElement>();
        string? name = null;
        if (r.ValueKind == JsonValueKind.String && r.GetString()!.StartsWith('@'))
        {
            name = r.GetString()!.Substring(1);
            if (!table.Sets.TryGetValue(name, out JsonElement elems))
            {
                why = $"set @{name} is not in the ruleset";
                return null;
            }

            if (elems.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement e in elems.EnumerateArray())
                {
                    if (!AddElement(e, field, users, elements, out why))
                    {
                        return null;
                    }
                }
            }

            return new ValueSet(elements, name);
        }

        if (r.ValueKind == JsonValueKind.Object && r.TryGetProperty("set", out JsonElement anon))
        {
            IEnumerable<JsonElement> items = anon.ValueKind == JsonValueKind.Array ? anon.EnumerateArray() : new[] { anon };
            foreach (JsonElement e in items)
            {
                if (!AddElement(e, field, users, elements, out why))
                {
                    return null;
                }
            }

            return new ValueSet(elements);
        }

        if (r.ValueKind == JsonValueKind.Array)
        {
            // A flag list ("ct state established,related"): each flag an element; "in" ORs them.
            foreach (JsonElement e in r.EnumerateArray())
            {
                if (!AddElement(e, field, users, elements, out why))
                {
                    return null;
                }
            }

            return new ValueSet(elements);
        }

        return AddElement(r, field, users, elements, out why) ? new ValueSet(elements) : null;
    }

    private static bool AddElement(JsonElement e, Field field, IUserDatabase users, List<SetElement> into, out string? why)
    {
        why = null;
        if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("elem", out JsonElement inner))
        {
            // Timeout sets: {"elem": {"val": X, "timeout": ...}}.
            e = inner.ValueKind == JsonValueKind.Object && inner.TryGetProperty("val", out JsonElement val) ? val : inner;
        }

        switch (field)
        {
            case Field.DestinationAddress:
            case Field.SourceAddress:
            case Field.CtOriginalDestination:
                {
                    AddressSpan? span = AddressOf(e);
                    if (span is null)
                    {
                        why = "address " + e.GetRawText();
                        return false;
                    }

                    into.Add(new AddressElement(span.Value));
                    return true;
                }

            case Field.InInterface:
            case Field.OutInterface:
                if (e.ValueKind == JsonValueKind.String)
                {
                    into.Add(InterfaceElement.FromNft(e.GetString()!));
                    return true;
                }

                why = "interface " + e.GetRawText();
                return false;
        }

        if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("range", out JsonElement range) && range.ValueKind == JsonValueKind.Array && range.GetArrayLength() == 2)
        {
            ulong? lo = Number(range[0], field, users);
            ulong? hi = Number(range[1], field, users);
            if (lo is null || hi is null)
            {
                why = "range " + range.GetRawText();
                return false;
            }

            into.Add(new NumberElement(lo.Value, hi.Value, Formatter(field)));
            return true;
        }

        if (e.ValueKind == JsonValueKind.Array)
        {
            // A flag combination inside a set, e.g. ["syn", "ack"].
            ulong? bits = Bits(e, field);
            if (bits is null)
            {
                why = e.GetRawText();
                return false;
            }

            into.Add(new NumberElement(bits.Value, bits.Value, Formatter(field)));
            return true;
        }

        ulong? n = Number(e, field, users);
        if (n is null)
        {
            why = "value " + e.GetRawText();
            return false;
        }

        into.Add(new NumberElement(n.Value, n.Value, Formatter(field)));
        return true;
    }

    private static Func<ulong, string>? Formatter(Field field) => field switch
    {
        Field.CtState => CtStates.Format,
        Field.L4Protocol or Field.CtProtocol => Protocols.Format,
        _ => null,
    };

    private static AddressSpan? AddressOf(JsonElement e)
    {
        try
        {
            if (e.ValueKind == JsonValueKind.String)
            {
                return AddressSpan.Parse(e.GetString()!);
            }

            if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("prefix", out JsonElement p))
            {
                return AddressSpan.Parse($"{Str(p, "addr")}/{p.GetProperty("len").GetInt32().ToString(CultureInfo.InvariantCulture)}");
            }

            if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("range", out JsonElement r) && r.ValueKind == JsonValueKind.Array && r.GetArrayLength() == 2)
            {
                AddressSpan lo = AddressSpan.Parse(r[0].GetString()!);
                AddressSpan hi = AddressSpan.Parse(r[1].GetString()!);
                return lo.IsIPv6 == hi.IsIPv6 ? new AddressSpan(lo.IsIPv6, lo.First, hi.Last) : null;
            }
        }
        catch (FormatException)
        {
        }
        catch (InvalidOperationException)
        {
        }
        catch (KeyNotFoundException)
        {
        }

        return null;
    }

    private static ulong? Bits(JsonElement e, Field field)
    {
        if (e.ValueKind == JsonValueKind.Number)
        {
            return e.TryGetUInt64(out ulong n) ? n : null;
        }

        IEnumerable<JsonElement> items = e.ValueKind == JsonValueKind.Array ? e.EnumerateArray() : new[] { e };
        ulong bits = 0;
        foreach (JsonElement i in items)
        {
            ulong? b = Number(i, field, null);
            if (b is null)
            {
                return null;
            }

            bits |= b.Value;
        }

        return bits;
    }

    private static ulong? Number(JsonElement e, Field field, IUserDatabase? users)
    {
        if (e.ValueKind == JsonValueKind.Number)
        {
            return e.TryGetUInt64(out ulong n) ? n : null;
        }

        if (e.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        string s = e.GetString()!;
        switch (field)
        {
            case Field.L4Protocol:
            case Field.CtProtocol:
                return Protocols.TryParse(s, out ulong p) ? p : null;
            case Field.CtState:
                return CtStates.Names.TryGetValue(s, out ulong ct) ? ct : null;
            case Field.TcpFlags:
                return TcpFlagBits.Names.TryGetValue(s, out ulong f) ? f : null;
            case Field.CtDirection:
                return s switch
                {
                    "original" => 0,
                    "reply" => 1,
                    _ => null,
                };
            case Field.NfProto:
                return s switch
                {
                    "ipv4" or "ip" => Fields.NfProtoIPv4,
                    "ipv6" or "ip6" => Fields.NfProtoIPv6,
                    _ => 0xffff,
                };
            case Field.PacketType:
                return s switch
                {
                    "host" or "unicast" => 0,
                    "broadcast" => 1,
                    "multicast" => 2,
                    _ => 3,
                };
            case Field.SocketUid:
                return users is not null && users.TryGetUid(s, out uint uid) ? uid : null;
            case Field.SocketGid:
                return users is not null && users.TryGetGid(s, out uint gid) ? gid : null;
            case Field.DestinationPort:
            case Field.SourcePort:
                return s switch
                {
                    "http" => 80,
                    "https" => 443,
                    "domain" => 53,
                    _ => null,
                };
            case Field.Mark:
                try
                {
                    return IptablesRuleParser.ParseNumber(s);
                }
                catch (FormatException)
                {
                    return null;
                }
                catch (OverflowException)
                {
                    return null;
                }

            default:
                return null;
        }
    }

    private static RuleAction ParseVmap(JsonElement v, TableInfo table, IUserDatabase users, Rule rule)
    {
        JsonElement key = v.TryGetProperty("key", out JsonElement k) ? k : default;
        JsonElement data = v.TryGetProperty("data", out JsonElement d) ? d : default;
        Left left = ParseLeft(key);
        JsonElement elems = default;
        if (data.ValueKind == JsonValueKind.String && data.GetString()!.StartsWith('@'))
        {
            table.Maps.TryGetValue(data.GetString()!.Substring(1), out elems);
        }
        else if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty("set", out JsonElement s))
        {
            elems = s;
        }

        string display = "vmap " + NftRenderer.Value(key) + " " + NftRenderer.Value(data);
        if (left.Field is not { } field || elems.ValueKind != JsonValueKind.Array)
        {
            AddProblem(rule, $"cannot evaluate verdict map {display}");
            return new RuleAction(ActionKind.Unknown, display);
        }

        var entries = new List<(Condition, RuleAction)>();
        foreach (JsonElement pair in elems.EnumerateArray())
        {
            if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2)
            {
                continue;
            }

            ValueSet? keys = ParseRight(pair[0], field, table, users, out string? why);
            var verdictRule = new Rule(rule.Chain, rule.Position, rule.Text);
            using (JsonDocument verdictDoc = JsonDocument.Parse("[" + pair[1].GetRawText() + "]"))
            {
                ParseRule(verdictRule, verdictDoc.RootElement, table, users);
            }

            if (keys is null)
            {
                AddProblem(rule, $"cannot read verdict map key {pair[0].GetRawText()}{(why is null ? string.Empty : ": " + why)}");
                entries.Add((new UnknownCondition(pair[0].GetRawText()), verdictRule.Action));
                continue;
            }

            entries.Add((new FieldCondition(field, CompareOp.Equal, keys, left.PayloadProtocol, left.Mask), verdictRule.Action));
        }

        return new RuleAction(ActionKind.VerdictMap, display) { MapEntries = entries };
    }
}
