using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>The tables one iptables-save run printed, and the tables it said it could not show.</summary>
internal sealed class IptablesDump
{
    public List<Table> Tables { get; } = new();

    /// <summary>Tables iptables-save called incompatible (native nft tables it cannot show): read them from nft.</summary>
    public HashSet<string> IncompatibleTables { get; } = new(StringComparer.Ordinal);

    public List<string> Warnings { get; } = new();
}

/// <summary>Reads iptables-save / ip6tables-save output (both backends, with or without -c counters).</summary>
internal static partial class IptablesSaveParser
{
    /// <summary>Hook and priority of the built-in chains, per table (the same for the legacy and nf_tables backends).</summary>
    private static readonly Dictionary<string, Dictionary<string, (Hook Hook, int Priority, ChainType Type)>> s_builtins = new(StringComparer.Ordinal)
    {
        ["filter"] = new(StringComparer.Ordinal)
        {
            ["INPUT"] = (Hook.Input, 0, ChainType.Filter),
            ["FORWARD"] = (Hook.Forward, 0, ChainType.Filter),
            ["OUTPUT"] = (Hook.Output, 0, ChainType.Filter),
        },
        ["nat"] = new(StringComparer.Ordinal)
        {
            ["PREROUTING"] = (Hook.Prerouting, -100, ChainType.Nat),
            ["INPUT"] = (Hook.Input, 100, ChainType.Nat),
            ["OUTPUT"] = (Hook.Output, -100, ChainType.Nat),
            ["POSTROUTING"] = (Hook.Postrouting, 100, ChainType.Nat),
        },
        ["mangle"] = new(StringComparer.Ordinal)
        {
            ["PREROUTING"] = (Hook.Prerouting, -150, ChainType.Filter),
            ["INPUT"] = (Hook.Input, -150, ChainType.Filter),
            ["FORWARD"] = (Hook.Forward, -150, ChainType.Filter),
            ["OUTPUT"] = (Hook.Output, -150, ChainType.Route),
            ["POSTROUTING"] = (Hook.Postrouting, -150, ChainType.Filter),
        },
        ["raw"] = new(StringComparer.Ordinal)
        {
            ["PREROUTING"] = (Hook.Prerouting, -300, ChainType.Filter),
            ["OUTPUT"] = (Hook.Output, -300, ChainType.Filter),
        },
        ["security"] = new(StringComparer.Ordinal)
        {
            ["INPUT"] = (Hook.Input, 50, ChainType.Filter),
            ["FORWARD"] = (Hook.Forward, 50, ChainType.Filter),
            ["OUTPUT"] = (Hook.Output, 50, ChainType.Filter),
        },
    };

    [GeneratedRegex(@"^# Table `(?<name>[^']+)' (is incompatible|contains incompatible)", RegexOptions.CultureInvariant)]
    private static partial Regex IncompatibleComment();

    [GeneratedRegex(@"^\[(?<p>\d+):(?<b>\d+)\]\s+", RegexOptions.CultureInvariant)]
    private static partial Regex CounterPrefix();

    public const string UnreadableChain = "(unreadable lines)";

    public static IptablesDump Parse(string text, FirewallBackend backend, bool ipv6, IUserDatabase users)
    {
        ArgumentNullException.ThrowIfNull(text);
        var dump = new IptablesDump();
        Table? table = null;
        var pendingRules = new List<(Rule Rule, IReadOnlyList<string>? Spec)>();
        string[] lines = text.Split('\n');

        void Finish()
        {
            if (table is null)
            {
                return;
            }

            Table t = table;
            foreach (var (rule, spec) in pendingRules)
            {
                if (spec is not null)
                {
                    IptablesRuleParser.Parse(rule, spec, ipv6, users, name => t.Chains.ContainsKey(name));
                }
            }

            pendingRules.Clear();
            dump.Tables.Add(t);
            table = null;
        }

        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n].TrimEnd('\r');
            string trimmed = line.Trim();
            if (trimmed.Length == 0)
            {
                continue;
            }

            if (trimmed.StartsWith('#'))
            {
                Match m = IncompatibleComment().Match(trimmed);
                if (m.Success)
                {
                    dump.IncompatibleTables.Add(m.Groups["name"].Value);
                }

                continue;
            }

            if (trimmed.StartsWith('*'))
            {
                Finish();
                table = new Table(backend, ipv6, trimmed.Substring(1).Trim(), null);
                continue;
            }

            if (trimmed == "COMMIT")
            {
                Finish();
                continue;
            }

            if (table is null)
            {
                dump.Warnings.Add($"line {n + 1} is outside a table: {trimmed}");
                continue;
            }

            if (trimmed.StartsWith(':'))
            {
                string[] parts = trimmed.Substring(1).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                Chain chain = table.GetOrAddChain(parts[0]);
                string policy = parts.Length > 1 ? parts[1] : "-";
                if (policy != "-" && s_builtins.TryGetValue(table.Name, out var builtins) && builtins.TryGetValue(chain.Name, out var hook))
                {
                    chain.Hook = hook.Hook;
                    chain.Priority = hook.Priority;
                    chain.Type = hook.Type;
                    chain.Policy = policy == "DROP" ? ActionKind.Drop : ActionKind.Accept;
                }
                else if (policy != "-")
                {
                    dump.Warnings.Add($"built-in chain {chain.Name} of table {table.Name} is not one this tool knows; treated as a user chain");
                }

                continue;
            }

            long? packets = null;
            long? bytes = null;
            string ruleText = trimmed;
            Match counters = CounterPrefix().Match(trimmed);
            if (counters.Success)
            {
                packets = long.Parse(counters.Groups["p"].Value, CultureInfo.InvariantCulture);
                bytes = long.Parse(counters.Groups["b"].Value, CultureInfo.InvariantCulture);
                ruleText = trimmed.Substring(counters.Length);
            }

            IReadOnlyList<string>? tokens = null;
            string? error = null;
            try
            {
                tokens = IptablesTokenizer.Split(ruleText);
            }
            catch (FormatException ex)
            {
                error = ex.Message;
            }

            if (tokens is not null && tokens.Count >= 2 && tokens[0] is "-A" or "--append")
            {
                Chain chain = table.GetOrAddChain(tokens[1]);
                var rule = new Rule(chain, chain.Rules.Count + 1, ruleText)
                {
                    Packets = packets,
                    Bytes = bytes,
                    Spec = tokens.Skip(1).ToArray(),
                };
                chain.Rules.Add(rule);
                pendingRules.Add((rule, tokens.Skip(2).ToArray()));
                continue;
            }

            // Not a rule line iptables-save prints: keep it, raw, as a rule that cannot be evaluated.
            Chain unreadable = table.GetOrAddChain(UnreadableChain);
            var raw = new Rule(unreadable, unreadable.Rules.Count + 1, trimmed) { Packets = packets, Bytes = bytes };
            raw.Conditions.Add(new UnknownCondition("unreadable line"));
            raw.Action = new RuleAction(ActionKind.Unknown, "?");
            raw.Problems.Add(error is null ? $"line {n + 1} is not a rule line iptables-save prints" : $"line {n + 1} could not be split: {error}");
            pendingRules.Add((raw, null));
            unreadable.Rules.Add(raw);
        }

        if (table is not null)
        {
            dump.Warnings.Add($"table {table.Name} has no COMMIT (output cut short?)");
            Finish();
        }

        return dump;
    }

    /// <summary>True when the table and chain name a built-in chain (for persisted files, which may omit the declarations).</summary>
    public static bool IsBuiltin(string table, string chain) => s_builtins.TryGetValue(table, out var b) && b.ContainsKey(chain);
}
