using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>Where a rule is persisted: a file and the line that restores it at boot.</summary>
internal sealed record PersistedLocation(string Path, int Line, int? CompanionLine, int Count, bool WholeLine, string LineText);

/// <summary>
/// The rule files that restore firewalls at boot, read once: iptables-restore files (Debian's rules.v4/v6, RHEL's
/// /etc/sysconfig/iptables, ufw's rules files) matched by normalised rule, and nftables scripts matched by rule text
/// inside their table and chain.
/// </summary>
internal sealed partial class PersistenceIndex
{
    public static readonly IReadOnlyList<(string Path, bool? IsIPv6)> StandardIptablesFiles = new (string, bool?)[]
    {
        ("/etc/iptables/rules.v4", false),
        ("/etc/iptables/rules.v6", true),
        ("/etc/sysconfig/iptables", false),
        ("/etc/sysconfig/ip6tables", true),
        ("/etc/iptables/iptables.rules", false),
        ("/etc/iptables/ip6tables.rules", true),
        ("/etc/iptables.rules", false),
        ("/etc/iptables.up.rules", false),
        ("/etc/ip6tables.rules", true),
        ("/etc/ip6tables.up.rules", true),
        ("/etc/ufw/user.rules", false),
        ("/etc/ufw/before.rules", false),
        ("/etc/ufw/after.rules", false),
        ("/etc/ufw/user6.rules", true),
        ("/etc/ufw/before6.rules", true),
        ("/etc/ufw/after6.rules", true),
    };

    public static readonly IReadOnlyList<string> StandardNftFiles = new[]
    {
        "/etc/nftables.conf",
        "/etc/sysconfig/nftables.conf",
        "/etc/nftables/*.nft",
        "/etc/nftables.d/*.nft",
    };

    private readonly List<IptablesEntry> _iptables = new();
    private readonly List<NftEntry> _nft = new();
    private readonly List<(string Family, string Table, string Path)> _nftTables = new();

    public List<string> FilesRead { get; } = new();

    public List<string> Warnings { get; } = new();

    private sealed record IptablesEntry(string Path, bool? IsIPv6, string Table, string Chain, string Key, int Line, int? TupleLine);

    private sealed record NftEntry(string Path, string Family, string Table, string Chain, string Normalized, int Line, bool WholeLine, string LineText);

    /// <param name="root">
    /// Where the files are on disk, when not under "/": a copy of another machine's files (the remote collector's).
    /// Paths are reported as the target names them.
    /// </param>
    public static PersistenceIndex Load(IEnumerable<(string Path, bool? IsIPv6)> iptablesFiles, IEnumerable<string> nftFiles, IEnumerable<string> extraFiles, IUserDatabase users, string? root = null)
    {
        var index = new PersistenceIndex { _root = root };
        foreach (var (path, v6) in iptablesFiles)
        {
            string? text = TryRead(path, index);
            if (text is not null)
            {
                index.AddIptables(path, v6, text, users);
            }
        }

        foreach (string pattern in nftFiles)
        {
            foreach (string path in Expand(pattern, root))
            {
                string? text = TryRead(path, index);
                if (text is not null)
                {
                    index.AddNft(path, text);
                }
            }
        }

        foreach (string path in extraFiles)
        {
            string? text = TryRead(path, index);
            if (text is null)
            {
                index.Warnings.Add($"persisted rules file {path} could not be read");
                continue;
            }

            if (LooksLikeIptables(text))
            {
                index.AddIptables(path, null, text, users);
            }
            else
            {
                index.AddNft(path, text);
            }
        }

        return index;
    }

    private string? _root;

    private static string OnDisk(string path, string? root) => root is null ? path : Path.Join(root, path.TrimStart('/'));

    private static IEnumerable<string> Expand(string pattern, string? root = null)
    {
        if (!pattern.Contains('*', StringComparison.Ordinal))
        {
            return new[] { pattern };
        }

        string dir = Path.GetDirectoryName(pattern)!;
        string diskDir = OnDisk(dir, root);
        try
        {
            return Directory.Exists(diskDir)
                ? Directory.GetFiles(diskDir, Path.GetFileName(pattern)).Select(p => dir.TrimEnd('/') + "/" + Path.GetFileName(p)).OrderBy(p => p, StringComparer.Ordinal)
                : Array.Empty<string>();
        }
        catch (IOException)
        {
            return Array.Empty<string>();
        }
        catch (UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
    }

    private static string? TryRead(string path, PersistenceIndex index)
    {
        try
        {
            string disk = OnDisk(path, index._root);
            if (!File.Exists(disk))
            {
                return null;
            }

            string text = File.ReadAllText(disk);
            index.FilesRead.Add(path);
            return text;
        }
        catch (IOException ex)
        {
            index.Warnings.Add($"{path}: {ex.Message}");
            return null;
        }
        catch (UnauthorizedAccessException ex)
        {
            index.Warnings.Add($"{path}: {ex.Message}");
            return null;
        }
    }

    internal static bool LooksLikeIptables(string text) =>
        text.Split('\n').Select(l => l.Trim()).Any(l => l.StartsWith('*') || l.StartsWith("-A ", StringComparison.Ordinal) || l == "COMMIT");

    /// <summary>Splits text into lines, keeping each line's terminator (to write a file back byte for byte).</summary>
    internal static List<string> SplitKeepingEnds(string text)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                lines.Add(text.Substring(start, i - start + 1));
                start = i + 1;
            }
        }

        if (start < text.Length)
        {
            lines.Add(text.Substring(start));
        }

        return lines;
    }

    private void AddIptables(string path, bool? isIPv6, string text, IUserDatabase users)
    {
        List<string> lines = SplitKeepingEnds(text);
        string? table = null;
        var declared = new HashSet<string>(StringComparer.Ordinal);
        var pending = new List<(string Table, string Chain, IReadOnlyList<string> Spec, int Line, int? Tuple)>();
        for (int i = 0; i < lines.Count; i++)
        {
            string line = lines[i].TrimEnd('\n', '\r').Trim();
            if (line.StartsWith('*'))
            {
                table = line.Substring(1).Trim();
                continue;
            }

            if (line.StartsWith(':'))
            {
                declared.Add(line.Substring(1).Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]);
                continue;
            }

            if (table is null || line.Length == 0 || line.StartsWith('#') || line == "COMMIT")
            {
                continue;
            }

            string ruleText = Regex.Replace(line, @"^\[\d+:\d+\]\s+", string.Empty);
            IReadOnlyList<string> tokens;
            try
            {
                tokens = IptablesTokenizer.Split(ruleText);
            }
            catch (FormatException)
            {
                continue;
            }

            if (tokens.Count < 2 || tokens[0] is not ("-A" or "--append" or "-I" or "--insert"))
            {
                continue;
            }

            int skip = 2;
            if (tokens[0] is "-I" or "--insert" && tokens.Count > 2 && int.TryParse(tokens[2], out _))
            {
                skip = 3;
            }

            int? tuple = i > 0 && lines[i - 1].TrimStart().StartsWith("### tuple ###", StringComparison.Ordinal) ? i : null;
            pending.Add((table, tokens[1], tokens.Skip(skip).ToArray(), i + 1, tuple));
        }

        bool? family = isIPv6;
        if (family is null)
        {
            bool any6 = pending.Any(p => p.Spec.Any(t => t.Contains(':', StringComparison.Ordinal) && t.Contains('/', StringComparison.Ordinal) || System.Net.IPAddress.TryParse(t, out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6));
            bool any4 = pending.Any(p => p.Spec.Any(t => System.Net.IPAddress.TryParse(t.Split('/')[0], out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));
            family = any6 && !any4 ? true : any4 && !any6 ? false : null;
        }

        foreach (bool v6 in family is { } f ? new[] { f } : new[] { false, true })
        {
            foreach (var p in pending)
            {
                var t = new Table(FirewallBackend.IptablesNft, v6, p.Table, null);
                var rule = new Rule(t.GetOrAddChain(p.Chain), 1, string.Empty);
                IptablesRuleParser.Parse(rule, p.Spec, v6, users, name => true);
                if (rule.Problems.Any(x => x.StartsWith("the rule could not be read", StringComparison.Ordinal)))
                {
                    continue;
                }

                _iptables.Add(new IptablesEntry(path, family is null ? null : v6, p.Table, p.Chain, rule.CanonicalKey(), p.Line, p.Tuple));
            }
        }
    }

    public PersistedLocation? FindIptables(Rule rule)
    {
        Table t = rule.Chain.Table;
        string key = rule.CanonicalKey();
        var hits = _iptables.Where(e => (e.IsIPv6 is null || e.IsIPv6 == t.IsIPv6) && e.Table == t.Name && e.Chain == rule.Chain.Name && e.Key == key)
            .GroupBy(e => (e.Path, e.Line)).Select(g => g.First()).ToList();
        if (hits.Count == 0)
        {
            return null;
        }

        IptablesEntry first = hits[0];
        int count = hits.Count(h => h.Path == first.Path);
        return new PersistedLocation(first.Path, first.Line, first.TupleLine, count, true, string.Empty);
    }

    public PersistedLocation? FindNft(Rule rule)
    {
        Table t = rule.Chain.Table;
        string normalized = NormalizeNft(rule.Text);
        var hits = _nft.Where(e => e.Family == t.NftFamily && e.Table == t.Name && e.Chain == rule.Chain.Name && e.Normalized == normalized).ToList();
        if (hits.Count == 0)
        {
            return null;
        }

        NftEntry first = hits[0];
        return new PersistedLocation(first.Path, first.Line, null, hits.Count(h => h.Path == first.Path), first.WholeLine, first.LineText);
    }

    /// <summary>A persisted nft script that defines the table (when the rule itself is not found in it).</summary>
    public string? NftTableFile(string family, string table) => _nftTables.FirstOrDefault(x => x.Family == family && x.Table == table).Path;

    [GeneratedRegex(@"counter packets \d+ bytes \d+", RegexOptions.CultureInvariant)]
    private static partial Regex CounterValues();

    [GeneratedRegex(@"\bmeta (skuid|skgid|mark|l4proto|iifname|oifname|nfproto|protocol|pkttype|iif|oif)\b", RegexOptions.CultureInvariant)]
    private static partial Regex MetaPrefix();

    [GeneratedRegex(@"reject with (icmp|icmpv6|icmpx) type ", RegexOptions.CultureInvariant)]
    private static partial Regex RejectType();

    [GeneratedRegex(@"reject with (icmp|icmpv6|icmpx) port-unreachable", RegexOptions.CultureInvariant)]
    private static partial Regex DefaultReject();

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Spaces();

    internal static string NormalizeNft(string text)
    {
        string s = Spaces().Replace(text, " ").Trim().TrimEnd(';').Trim();
        s = CounterValues().Replace(s, "counter");
        s = MetaPrefix().Replace(s, "$1");
        s = RejectType().Replace(s, "reject with $1 ");
        s = DefaultReject().Replace(s, "reject");
        s = s.Replace(" == ", " ", StringComparison.Ordinal);
        if (s.Contains("tcp dport", StringComparison.Ordinal) || s.Contains("tcp sport", StringComparison.Ordinal) || s.Contains("tcp flags", StringComparison.Ordinal))
        {
            s = s.Replace("l4proto tcp ", string.Empty, StringComparison.Ordinal);
        }

        if (s.Contains("udp dport", StringComparison.Ordinal) || s.Contains("udp sport", StringComparison.Ordinal))
        {
            s = s.Replace("l4proto udp ", string.Empty, StringComparison.Ordinal);
        }

        return Spaces().Replace(s, " ").Trim();
    }

    /// <summary>
    /// Reads an nft script's rules: "table FAMILY NAME { chain NAME { ... } }" blocks and "add rule FAMILY TABLE CHAIN ..."
    /// commands. Statements are split at newlines and semicolons outside quotes and braces.
    /// </summary>
    private void AddNft(string path, string text)
    {
        List<string> lines = SplitKeepingEnds(text);
        string? family = null;
        string? table = null;
        string? chain = null;
        int depth = 0;
        int tableDepth = -1;
        int chainDepth = -1;
        for (int i = 0; i < lines.Count; i++)
        {
            string raw = StripComment(lines[i].TrimEnd('\n', '\r'));
            var statements = SplitStatements(raw);
            bool wholeLine = statements.Count(s => s.Text.Trim().Length > 0) == 1;
            foreach (var (stmtText, opens, closes) in statements)
            {
                string s = stmtText.Trim();
                if (s.StartsWith("table ", StringComparison.Ordinal) && opens > 0)
                {
                    string[] w = s.Substring(6).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    (family, table) = w.Length >= 2 && w[1] != "{" ? (w[0], w[1]) : ("ip", w[0]);
                    _nftTables.Add((family, table, path));
                    tableDepth = depth;
                }
                else if (s.StartsWith("chain ", StringComparison.Ordinal) && opens > 0 && table is not null)
                {
                    chain = s.Substring(6).Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                    chainDepth = depth + 1;
                }
                else if ((s.StartsWith("add rule ", StringComparison.Ordinal) || s.StartsWith("insert rule ", StringComparison.Ordinal)) && opens == 0)
                {
                    string[] w = s.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                    if (w.Length == 6)
                    {
                        _nft.Add(new NftEntry(path, w[2], w[3], w[4], NormalizeNft(w[5]), i + 1, wholeLine, lines[i]));
                    }
                }
                else if (chain is not null && depth == chainDepth && opens == 0 && s.Length > 0 && !IsChainProperty(s))
                {
                    _nft.Add(new NftEntry(path, family!, table!, chain, NormalizeNft(s), i + 1, wholeLine, lines[i]));
                }

                depth += opens - closes;
                if (chain is not null && depth < chainDepth)
                {
                    chain = null;
                }

                if (table is not null && depth <= tableDepth)
                {
                    table = null;
                    family = null;
                }
            }
        }
    }

    private static bool IsChainProperty(string s) =>
        s.StartsWith("type ", StringComparison.Ordinal) || s.StartsWith("policy ", StringComparison.Ordinal) || s.StartsWith("comment ", StringComparison.Ordinal) ||
        s.StartsWith("devices ", StringComparison.Ordinal) || s.StartsWith("flags ", StringComparison.Ordinal) || s == "}";

    private static string StripComment(string line)
    {
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '"')
            {
                quoted = !quoted;
            }
            else if (line[i] == '#' && !quoted)
            {
                return line.Substring(0, i);
            }
        }

        return line;
    }

    /// <summary>Splits a line at ; and braces outside quotes; returns each piece with the braces it opens and closes.</summary>
    private static List<(string Text, int Opens, int Closes)> SplitStatements(string line)
    {
        var result = new List<(string, int, int)>();
        var sb = new StringBuilder();
        bool quoted = false;
        int inner = 0;
        int opens = 0;
        int closes = 0;
        foreach (char ch in line)
        {
            if (ch == '"')
            {
                quoted = !quoted;
                sb.Append(ch);
                continue;
            }

            if (quoted)
            {
                sb.Append(ch);
                continue;
            }

            if (ch == '{')
            {
                // A brace that opens a set inside a rule ("tcp dport { 80, 443 }") stays part of the rule.
                string so = sb.ToString().Trim();
                if (so.StartsWith("table ", StringComparison.Ordinal) || so.StartsWith("chain ", StringComparison.Ordinal) || so.StartsWith("set ", StringComparison.Ordinal) ||
                    so.StartsWith("map ", StringComparison.Ordinal) || so.StartsWith("flowtable ", StringComparison.Ordinal) || so.StartsWith("counter ", StringComparison.Ordinal) ||
                    so.StartsWith("quota ", StringComparison.Ordinal) || so.StartsWith("ct ", StringComparison.Ordinal) || so.StartsWith("limit ", StringComparison.Ordinal))
                {
                    opens++;
                    result.Add((sb.ToString(), opens, closes));
                    sb.Clear();
                    opens = 0;
                    closes = 0;
                    continue;
                }

                inner++;
                sb.Append(ch);
                continue;
            }

            if (ch == '}')
            {
                if (inner > 0)
                {
                    inner--;
                    sb.Append(ch);
                    continue;
                }

                if (sb.ToString().Trim().Length > 0)
                {
                    result.Add((sb.ToString(), opens, closes));
                    sb.Clear();
                    opens = 0;
                }

                closes++;
                continue;
            }

            if (ch == ';' && inner == 0)
            {
                result.Add((sb.ToString(), opens, closes));
                sb.Clear();
                opens = 0;
                closes = 0;
                continue;
            }

            sb.Append(ch);
        }

        result.Add((sb.ToString(), opens, closes));
        return result;
    }
}
