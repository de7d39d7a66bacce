using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>
/// Writes an nft rule from its JSON the way <c>nft list ruleset</c> prints it (close enough to read and to find the
/// line in a persisted nftables.conf). Expressions it does not know are written as their JSON.
/// </summary>
internal static class NftRenderer
{
    public static string Rule(JsonElement expr, string? comment)
    {
        var parts = new List<string>();
        if (expr.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement e in expr.EnumerateArray())
            {
                parts.Add(Statement(e));
            }
        }

        if (comment is not null)
        {
            parts.Add("comment " + Quote(comment));
        }

        return string.Join(' ', parts.Where(p => p.Length > 0));
    }

    public static string Statement(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.String)
        {
            return string.Join(' ', e.GetString()!.Split(new[] { '\n', '\t' }, StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim()));
        }

        if (e.ValueKind != JsonValueKind.Object)
        {
            return e.GetRawText();
        }

        JsonProperty p = e.EnumerateObject().FirstOrDefault();
        JsonElement v = p.Value;
        switch (p.Name)
        {
            case "match":
                return Match(v);
            case "counter":
                if (v.ValueKind == JsonValueKind.Object)
                {
                    return $"counter packets {Num(v, "packets")} bytes {Num(v, "bytes")}";
                }

                return v.ValueKind == JsonValueKind.String ? "counter name " + Quote(v.GetString()!) : "counter";
            case "accept":
            case "drop":
            case "return":
            case "continue":
            case "notrack":
                return p.Name;
            case "jump":
            case "goto":
                return p.Name + " " + Str(v, "target");
            case "queue":
                return "queue" + (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("num", out JsonElement num) ? " num " + Value(num) : string.Empty);
            case "reject":
                {
                    if (v.ValueKind != JsonValueKind.Object)
                    {
                        return "reject";
                    }

                    string type = Str(v, "type");
                    string code = Str(v, "expr");
                    if (type == "tcp reset")
                    {
                        return "reject with tcp reset";
                    }

                    return type.Length == 0 ? "reject" : $"reject with {type} {code}".TrimEnd();
                }

            case "log":
                {
                    var sb = new StringBuilder("log");
                    if (v.ValueKind == JsonValueKind.Object)
                    {
                        if (v.TryGetProperty("prefix", out JsonElement prefix))
                        {
                            sb.Append(" prefix ").Append(Quote(prefix.GetString() ?? string.Empty));
                        }

                        if (v.TryGetProperty("group", out JsonElement group))
                        {
                            sb.Append(" group ").Append(Value(group));
                        }

                        if (v.TryGetProperty("level", out JsonElement level))
                        {
                            sb.Append(" level ").Append(Value(level));
                        }
                    }

                    return sb.ToString();
                }

            case "limit":
                return v.ValueKind == JsonValueKind.Object
                    ? $"limit rate {(v.TryGetProperty("inv", out JsonElement inv) && inv.ValueKind == JsonValueKind.True ? "over " : string.Empty)}{Num(v, "rate")}/{Str(v, "per")}{(v.TryGetProperty("burst", out JsonElement burst) ? " burst " + Value(burst) + " packets" : string.Empty)}"
                    : "limit";
            case "xt":
                return $"xt {Str(v, "type")} {Str(v, "name")}";
            case "dnat":
            case "snat":
                {
                    string addr = v.TryGetProperty("addr", out JsonElement a) ? Value(a) : string.Empty;
                    string port = v.TryGetProperty("port", out JsonElement pt) ? ":" + Value(pt) : string.Empty;
                    return $"{p.Name} to {addr}{port}";
                }

            case "redirect":
                return "redirect" + (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("port", out JsonElement rp) ? " to :" + Value(rp) : string.Empty);
            case "masquerade":
                return "masquerade";
            case "mangle":
                return $"{Value(v.GetProperty("key"))} set {Value(v.GetProperty("value"))}";
            case "vmap":
                return $"{Value(v.GetProperty("key"))} vmap {Value(v.GetProperty("data"))}";
            default:
                return e.GetRawText();
        }
    }

    public static string Match(JsonElement m)
    {
        string op = m.TryGetProperty("op", out JsonElement o) && o.ValueKind == JsonValueKind.String ? o.GetString()! : "==";
        string left = m.TryGetProperty("left", out JsonElement l) ? Value(l) : "?";
        JsonElement right = m.TryGetProperty("right", out JsonElement r) ? r : default;
        bool interfaces = l.ValueKind == JsonValueKind.Object && l.TryGetProperty("meta", out JsonElement meta) && Str(meta, "key") is "iifname" or "oifname" or "iif" or "oif";
        string rightText = Value(right, interfaces);
        return op is "==" or "in" ? $"{left} {rightText}" : $"{left} {op} {rightText}";
    }

    public static string Value(JsonElement v) => Value(v, false);

    private static string Value(JsonElement v, bool quoteStrings)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.String:
                {
                    string s = v.GetString()!;
                    return quoteStrings && !s.StartsWith('@') ? Quote(s) : s;
                }

            case JsonValueKind.Number:
                return v.GetRawText();
            case JsonValueKind.Array:
                return string.Join(",", v.EnumerateArray().Select(x => Value(x, quoteStrings)));
            case JsonValueKind.Object:
                break;
            default:
                return v.GetRawText();
        }

        JsonProperty p = v.EnumerateObject().FirstOrDefault();
        JsonElement x = p.Value;
        switch (p.Name)
        {
            case "payload":
                return x.TryGetProperty("protocol", out _) ? $"{Str(x, "protocol")} {Str(x, "field")}" : "@" + Str(x, "base") + "," + Num(x, "offset") + "," + Num(x, "len");
            case "meta":
                {
                    string key = Str(x, "key");
                    return key is "iifname" or "oifname" or "iif" or "oif" or "skuid" or "skgid" or "mark" ? (key is "skuid" or "skgid" or "mark" ? "meta " + key : key) : "meta " + key;
                }

            case "ct":
                return "ct " + (x.TryGetProperty("dir", out JsonElement dir) ? dir.GetString() + " " : string.Empty) + Str(x, "key");
            case "prefix":
                return $"{Str(x, "addr")}/{Num(x, "len")}";
            case "range":
                return x.ValueKind == JsonValueKind.Array && x.GetArrayLength() == 2 ? $"{Value(x[0], quoteStrings)}-{Value(x[1], quoteStrings)}" : x.GetRawText();
            case "set":
                {
                    IEnumerable<JsonElement> items = x.ValueKind == JsonValueKind.Array ? x.EnumerateArray() : new[] { x };
                    return "{ " + string.Join(", ", items.Select(i => i.ValueKind == JsonValueKind.Array && i.GetArrayLength() == 2 && i[1].ValueKind == JsonValueKind.Object
                        ? Value(i[0], quoteStrings) + " : " + Statement(i[1])
                        : Value(i, quoteStrings))) + " }";
                }

            case "concat":
                return string.Join(" . ", x.EnumerateArray().Select(i => Value(i, quoteStrings)));
            case "&":
            case "|":
            case "^":
                return x.ValueKind == JsonValueKind.Array && x.GetArrayLength() == 2 ? $"{Value(x[0])} {p.Name} {Value(x[1])}" : x.GetRawText();
            case "elem":
                return x.TryGetProperty("val", out JsonElement val) ? Value(val, quoteStrings) : x.GetRawText();
            case "fib":
                return "fib " + string.Join(" . ", x.TryGetProperty("flags", out JsonElement flags) && flags.ValueKind == JsonValueKind.Array ? flags.EnumerateArray().Select(f => f.GetString()) : Array.Empty<string?>()) + " " + Str(x, "result");
            default:
                return v.GetRawText();
        }
    }

    private static string Str(JsonElement o, string name) =>
        o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : string.Empty;

    private static string Num(JsonElement o, string name) =>
        o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out JsonElement v) ? v.GetRawText() : "0";

    /// <summary>nft's quoting (which does not escape quotes inside strings; we do, to stay unambiguous).</summary>
    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
