using System;
using System.Linq;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Tests.Support;
using Xunit;
using static ImdsTroubleshoot.Tests.Firewall.FirewallTestKit;

namespace ImdsTroubleshoot.Tests.Firewall;

/// <summary>The parsers over the captured dumps: iptables-save from both backends, ip6tables, nft JSON, odd input.</summary>
public sealed class ParserTests
{
    [Theory]
    [InlineData("-A OUTPUT -d 169.254.169.254/32 -j DROP", new[] { "-A", "OUTPUT", "-d", "169.254.169.254/32", "-j", "DROP" })]
    [InlineData("-A X -m comment --comment \"block IMDS for \\\"users\\\" here\" -j DROP", new[] { "-A", "X", "-m", "comment", "--comment", "block IMDS for \"users\" here", "-j", "DROP" })]
    [InlineData("--comment \"single \\'quote and \\\\backslash\"", new[] { "--comment", "single 'quote and \\backslash" })]
    [InlineData("--comment \"\" -j ACCEPT", new[] { "--comment", "", "-j", "ACCEPT" })]
    [InlineData("--comment it's back\\slash", new[] { "--comment", "it's", "back\\slash" })]
    [InlineData("a\"b c\"d", new[] { "ab c", "d" })]
    [InlineData("  two   spaces\tand\ttabs  ", new[] { "two", "spaces", "and", "tabs" })]
    public void Lines_split_as_iptables_restore_splits_them(string line, string[] expected)
    {
        Assert.Equal(expected, IptablesTokenizer.Split(line));
    }

    [Fact]
    public void An_unterminated_quote_is_an_error_not_a_guess()
    {
        Assert.Throws<FormatException>(() => IptablesTokenizer.Split("-A OUTPUT -m comment --comment \"open -j DROP"));
    }

    [Theory]
    [InlineData("iptables-nft.v4.save")]
    [InlineData("iptables-legacy.v4.save")]
    [InlineData("ip6tables-nft.v6.save")]
    [InlineData("ufw.v4.save")]
    public void Every_saved_rule_line_splits_and_quotes_back_to_the_same_line(string fixture)
    {
        var lines = Fixture(fixture).Split('\n').Select(l => System.Text.RegularExpressions.Regex.Replace(l, @"^\[\d+:\d+\] ", string.Empty)).Where(l => l.StartsWith("-A ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(lines);
        foreach (string line in lines)
        {
            var words = IptablesTokenizer.Split(line);
            string quoted = string.Join(' ', words.Select(IptablesTokenizer.QuoteForSave));
            Assert.Equal(words, IptablesTokenizer.Split(quoted));
            if (!line.Contains("--u32", StringComparison.Ordinal) && !line.Contains("--bytecode", StringComparison.Ordinal))
            {
                // iptables-save quotes as QuoteForSave does (u32 and bpf print their own quotes).
                Assert.Equal(line, quoted);
            }
        }
    }

    [Fact]
    public void Shell_commands_shown_to_people_quote_every_word_that_needs_it()
    {
        Assert.Equal("iptables -D OUTPUT -m comment --comment 'it'\\''s a \\backslash' -j DROP",
            ShellQuote.Join(new[] { "iptables", "-D", "OUTPUT", "-m", "comment", "--comment", "it's a \\backslash", "-j", "DROP" }));
        Assert.Equal("''", ShellQuote.Word(string.Empty));
    }

    [Fact]
    public void The_nft_backend_dump_is_read_table_by_table_with_policies_positions_and_counters()
    {
        var runner = Runner(v4: Fixture("iptables-nft.v4.save"), nft: Fixture("iptables-nft.json"));
        var report = Inspect(runner, new FirewallQuery { Family = FirewallFamily.IPv4, All = true });
        Assert.Equal(new[] { "mangle", "raw", "filter", "nat" }, report.Rules.Select(r => r.Table).Distinct().ToArray());
        // nft shows the same tables again (with xt expressions): they are read once, from iptables-save.
        Assert.DoesNotContain(report.Rules, r => r.Backend == FirewallBackend.Nftables);
        Assert.DoesNotContain(report.Warnings, w => w.Contains("iptables extensions", StringComparison.Ordinal));
        Assert.Contains(report.Sources, s => s.Contains("ip filter", StringComparison.Ordinal) && s.Contains("read from iptables-save", StringComparison.Ordinal));

        var output = report.Rules.Where(r => r.Table == "filter" && r.Chain == "OUTPUT" && !r.IsPolicy).ToList();
        Assert.Equal(Enumerable.Range(1, 23), output.Select(r => r.Position));
        Assert.All(output, r => Assert.Equal(0, r.Packets));
        var forwardPolicy = report.Rules.Single(r => r.IsPolicy && r.Chain == "FORWARD" && r.Table == "filter");
        Assert.Equal(":FORWARD DROP", forwardPolicy.Rule);
        var log = output.Single(r => r.Target == "LOG");
        Assert.Equal("-A OUTPUT -d 169.254.169.254/32 -j LOG --log-prefix \"IMDS \\\"blocked\\\" it\\'s: \" --log-level 7 --log-uid", log.Rule);
        Assert.Equal("IMDS \"blocked\" it's: ", log.Spec![6]);
        Assert.Equal(FirewallVerdict.Continue, log.Verdict);
        var comment = output.Single(r => r.Rule.Contains("single", StringComparison.Ordinal));
        Assert.Equal("single 'quote and \\backslash", comment.Spec![6]);
        Assert.Equal(FirewallVerdict.Goto, report.Rules.Single(r => r.Target == "IMDS-GOTO").Verdict);
        Assert.Equal(FirewallVerdict.Jump, report.Rules.Single(r => r.Target == "IMDS-CHECK").Verdict);
    }

    [Fact]
    public void The_captured_rules_are_evaluated_as_the_kernel_would()
    {
        var report = Inspect(Runner(v4: Fixture("iptables-nft.v4.save"), nft: Fixture("iptables-nft.json")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var seed = report.Rule("OUTPUT", 1);
        Assert.True(seed.Decides);
        Assert.Equal(FirewallSymptom.ConnectionRefused, seed.ExpectedSymptom);
        Assert.DoesNotContain(seed.BlockedFor, s => s.StartsWith("uid 0 ", StringComparison.Ordinal));
        var drop = report.Rule("OUTPUT", 2);
        Assert.True(drop.Decides);
        Assert.Contains("uid 0 (root)", drop.BlockedFor);
        Assert.Equal(FirewallSymptom.Timeout, report.Subject("uid 0 ").Symptom);
        // raw CT --notrack makes IMDS traffic untracked: nat chains never see it, so the DNAT does not run.
        Assert.Equal(FirewallRuleEffect.NotReached, report.Rules.Single(r => r.Table == "nat").Effect);
        Assert.Equal(FirewallRuleEffect.PassesOn, report.Rule("OUTPUT", 1, "raw").Effect);
        // The jump to IMDS-CHECK returns for root; everyone's port-80 traffic then goes to IMDS-GOTO, whose end ends
        // OUTPUT (goto): rules 9 and later are never reached. The u32 rule there is listed, as not evaluated and not reached.
        Assert.True(report.Rule("IMDS-CHECK", 2).Blocks);
        Assert.DoesNotContain(report.Rule("IMDS-CHECK", 2).BlockedFor, s => s.StartsWith("uid 0 ", StringComparison.Ordinal));
        Assert.Contains("uid 0 (root)", report.Rule("IMDS-GOTO", 2).BlockedFor);
        var u32 = report.Rules.Single(r => r.Rule.Contains("-m u32", StringComparison.Ordinal));
        Assert.False(u32.Evaluated);
        Assert.Equal(FirewallRuleEffect.NotReached, u32.Effect);
        Assert.DoesNotContain(report.Rules, r => r.Table == "filter" && r.Chain == "OUTPUT" && r.Position is >= 9 && r.Effect != FirewallRuleEffect.NotReached);
        Assert.Equal(new[] { "forwarded from eni0 (no such interface now)" }, report.Rule("FORWARD", 1).BlockedFor);
        Assert.True(report.Rules.Single(r => r.IsPolicy && r.Chain == "FORWARD").Blocks);
    }

    [Fact]
    public void Legacy_and_nft_backend_dumps_of_the_same_rules_give_the_same_verdicts()
    {
        var nft = Inspect(Runner(v4: Fixture("iptables-nft.v4.save")), new FirewallQuery { Family = FirewallFamily.IPv4, All = true });
        var legacy = Inspect(Runner(legacyV4: Fixture("iptables-legacy.v4.save")), new FirewallQuery { Family = FirewallFamily.IPv4, All = true });
        Assert.All(legacy.Rules, r => Assert.Equal(FirewallBackend.IptablesLegacy, r.Backend));
        string Key(FirewallRule r) => $"{r.Table} {r.Chain} {r.Position} {r.Rule} {r.Effect} {r.Blocks} {r.Decides} {string.Join(",", r.BlockedFor)}";
        Assert.Equal(nft.Rules.Select(Key).OrderBy(k => k, StringComparer.Ordinal), legacy.Rules.Select(Key).OrderBy(k => k, StringComparer.Ordinal));
        Assert.StartsWith("iptables-legacy -w 5 -t filter -D OUTPUT ", legacy.Rule("OUTPUT", 1).RemoveCommand, StringComparison.Ordinal);
    }

    [Fact]
    public void Ip6tables_dump_for_the_ipv6_endpoint()
    {
        var report = Inspect(Runner(v6: Fixture("ip6tables-nft.v6.save"), containerInterface: "eni9"), new FirewallQuery { Family = FirewallFamily.IPv6 });
        Assert.All(report.Rules, r => Assert.Equal(FirewallFamily.IPv6, r.Family));
        Assert.True(report.Rule("OUTPUT", 1).Decides);
        Assert.Equal(FirewallSymptom.ConnectionRefused, report.Rule("OUTPUT", 1).ExpectedSymptom);
        Assert.Contains("uid 0 (root)", report.Rule("OUTPUT", 2).BlockedFor);
        Assert.Equal(FirewallSymptom.PermissionDenied, report.Rule("OUTPUT", 2).ExpectedSymptom);
        Assert.DoesNotContain(report.Rules, r => r.Position == 3 && r.Chain == "OUTPUT");
        Assert.Equal(new[] { "forwarded from eni9" }, report.Rule("FORWARD", 1).BlockedFor);
    }

    [Fact]
    public void Native_nft_rules_with_sets_maps_skuid_jumps_and_priorities()
    {
        var report = Inspect(Runner(nft: Fixture("native.json")));
        Assert.All(report.Rules, r => Assert.Equal(FirewallBackend.Nftables, r.Backend));
        FirewallRule H(long handle, string table = "imdsguard") => report.Rules.SingleOrDefault(r => r.Table == table && r.Handle == handle)
            ?? throw new Xunit.Sdk.XunitException($"handle {handle} not reported:\n{Describe(report)}");

        var article = H(9);
        Assert.Equal("ip daddr 169.254.169.254 tcp dport 80 meta skuid 1000-10000 reject with icmp port-unreachable comment \"AWS article rule, native\"", article.Rule);
        Assert.Equal("nft delete rule inet imdsguard output handle 9", article.RemoveCommand);
        Assert.True(article.Decides);
        Assert.Equal(FirewallSymptom.ConnectionRefused, article.ExpectedSymptom);
        Assert.Equal(FirewallFamily.Both, article.Family);
        Assert.Equal("inet", article.TableFamily);
        Assert.Contains("uid 1000 (cloudsdk)", article.BlockedFor);
        Assert.DoesNotContain(article.BlockedFor, s => s.StartsWith("uid 0 ", StringComparison.Ordinal));

        // meta skuid != 0 never matches forwarded traffic (no socket): the rule breaks.
        var notRoot = H(10);
        Assert.True(notRoot.Blocks);
        Assert.DoesNotContain(notRoot.BlockedFor, s => s.StartsWith("forwarded", StringComparison.Ordinal) || s.StartsWith("uid 0 ", StringComparison.Ordinal));
        Assert.Contains("uid 1001 (alice)", H(11).BlockedFor);
        Assert.DoesNotContain("uid 1000 (cloudsdk)", H(11).BlockedFor);
        Assert.True(H(12).Decides);
        Assert.Contains("uid 0 (root)", H(12).BlockedFor);
        // "ip6 daddr" rules in an inet table do not touch IPv4, and "ip daddr" rules do not touch IPv6.
        Assert.Equal(FirewallSymptom.Timeout, H(13).ExpectedSymptom);
        Assert.Equal(FirewallAccess.Blocked, report.Subject("uid 0 ", FirewallFamily.IPv6).Access);
        Assert.Equal("ip6 daddr fd00:ec2::254 drop", report.Subject("uid 0 ", FirewallFamily.IPv6).DecidedBy!.Rule);
        // Named sets.
        Assert.True(H(16).Blocks);
        Assert.Equal("ip daddr @imds_addrs tcp dport @imds_ports reject with tcp reset", H(16).Rule);
        // jump + return for root, accept for 1000-2000, drop for the rest; then every IPv4 IMDS packet goes to
        // imds_goto (goto): its reject ends the chain, so rules after the goto are never reached by IPv4 traffic.
        Assert.Contains("uid 0 (root)", H(26).MatchedFor);
        Assert.DoesNotContain("uid 1000 (cloudsdk)", H(29).BlockedFor);
        Assert.Contains("uid 999", H(29).BlockedFor);
        Assert.Contains("uid 0 (root)", H(31).BlockedFor);
        var vmap = H(24);
        Assert.Equal("ip daddr 169.254.169.254 tcp dport vmap @portverdict", vmap.Rule);
        Assert.Equal(FirewallRuleEffect.NotReached, vmap.Effect);
        Assert.Equal(FirewallRuleEffect.Blocks, H(23).Effect);
        // The forward chain drops eni* (and everything not from lo) for containers; its policy is drop too.
        Assert.Equal(new[] { "forwarded from eni0 (no such interface now)" }, H(32).BlockedFor);
        Assert.Contains("forwarded from veth-ctr", H(33).BlockedFor);
        Assert.Equal(5, H(33).Packets);
        // The early_out chain (priority -10) accepts everything: that does not stop the later chains.
        Assert.Equal(FirewallAccess.Blocked, report.Subject("uid 1000 ").Access);
        // The anonymous chain nft printed as a string: reported, not evaluated, may block.
        var anon = report.Rules.Single(r => r.Table == "more");
        Assert.False(anon.Evaluated);
        Assert.Equal(FirewallRuleEffect.MayBlock, anon.Effect);
        Assert.Contains("jump {", anon.NotEvaluatedReason, StringComparison.Ordinal);
        Assert.Equal("ip daddr 169.254.169.254 jump { meta skuid 1000 drop counter packets 0 bytes 0 }", anon.Rule);
        // The ip "plain" table at priority 100 drops IPv4 for everyone.
        Assert.True(report.Rules.Single(r => r.Table == "plain").Blocks);
    }

    [Fact]
    public void Iptables_nft_tables_seen_only_through_nft_are_evaluated_with_their_xt_parts_unknown()
    {
        var runner = new FakeCommandRunner().WithLabNetwork().On("nft -j list ruleset", Fixture("iptables-nft.json"));
        var report = Inspect(runner, new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.Contains(report.Warnings, w => w.Contains("ip filter", StringComparison.Ordinal) && w.Contains("iptables extensions", StringComparison.Ordinal));
        var seed = report.Rules.Single(r => r.Table == "filter" && r.Chain == "OUTPUT" && r.Position == 1);
        Assert.Equal(FirewallRuleEffect.MayBlock, seed.Effect);
        Assert.False(seed.Evaluated);
        Assert.Contains("-m owner", seed.NotEvaluatedReason, StringComparison.Ordinal);
        Assert.Equal("(hidden by nft)", seed.RejectWith);
        Assert.Equal("nft delete rule ip filter OUTPUT handle 2", seed.RemoveCommand);
        // The plain DROP has no xt part: it is decided.
        Assert.True(report.Rules.Single(r => r.Table == "filter" && r.Chain == "OUTPUT" && r.Position == 2).Blocks);
    }

    [Fact]
    public void Native_tables_iptables_save_calls_incompatible_are_read_from_nft_and_compatible_ones_from_iptables_save()
    {
        var report = Inspect(Runner(v4: Fixture("native-incompatible.v4.save"), v6: Fixture("native-incompatible.v6.save"), nft: Fixture("native-incompatible.json")));
        var v4 = report.Rules.Single(r => r.Family == FirewallFamily.IPv4);
        Assert.Equal(FirewallBackend.Nftables, v4.Backend);
        Assert.Equal("ip daddr @blocked meta skuid 1000-10000 reject with icmp port-unreachable", v4.Rule);
        Assert.True(v4.Blocks);
        var v6 = report.Rules.Single(r => r.Family == FirewallFamily.IPv6);
        Assert.Equal(FirewallBackend.IptablesNft, v6.Backend);
        Assert.Equal("-A OUTPUT -d fd00:ec2::254/128 -j DROP", v6.Rule);
    }

    [Fact]
    public void Odd_nft_json_is_reported_as_not_evaluated_never_dropped_and_never_a_crash()
    {
        var report = Inspect(Runner(nft: Fixture("odd.json")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        FirewallRule H(long h) => report.Rules.Single(r => r.Table == "odd" && r.Handle == h);
        Assert.Equal(FirewallRuleEffect.MayBlock, H(3).Effect);
        Assert.Contains("socket", H(3).NotEvaluatedReason, StringComparison.Ordinal);
        Assert.Contains("synproxy", H(4).NotEvaluatedReason, StringComparison.Ordinal);
        Assert.True(H(5).Blocks);
        Assert.Equal(FirewallSymptom.HostUnreachable, H(5).ExpectedSymptom);
        Assert.Equal(FirewallRuleEffect.MayBlock, H(6).Effect);
        Assert.Equal(FirewallRuleEffect.MayBlock, H(7).Effect);
        Assert.DoesNotContain(report.Rules, r => r.Handle == 8 && r.Table == "odd");
        Assert.DoesNotContain(report.Rules, r => r.Table == "sleeping");
        Assert.Contains(report.Warnings, w => w.Contains("dormant", StringComparison.Ordinal));
        var edge = report.Rules.Single(r => r.Table == "edge");
        Assert.Equal(FirewallRuleEffect.NotEvaluated, edge.Effect);
        Assert.Contains("netdev", edge.NotEvaluatedReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_iptables_save_lines_are_reported_with_their_raw_text()
    {
        string dump = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
            "-A OUTPUT -d 169.254.169.254/32 -m comment --comment \"unterminated -j DROP\n" +
            "-X SOMETHING weird\n" +
            "-A OUTPUT -d 169.254.169.254/32 -z\n" +
            "-A OUTPUT -d not-an-address -j DROP\n" +
            "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DROP\n";
        var report = Inspect(Runner(v4: dump), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.Contains(report.Warnings, w => w.Contains("no COMMIT", StringComparison.Ordinal));
        var raw = report.Rules.Where(r => r.Effect == FirewallRuleEffect.NotEvaluated).ToList();
        Assert.Contains(raw, r => r.Rule.StartsWith("-A OUTPUT -d 169.254.169.254/32 -m comment --comment \"unterminated", StringComparison.Ordinal) && r.NotEvaluatedReason!.Contains("could not be split", StringComparison.Ordinal));
        Assert.Contains(raw, r => r.Rule == "-X SOMETHING weird");
        Assert.All(raw, r => Assert.Null(r.RemoveCommand));
        Assert.Equal(FirewallRuleEffect.MayBlock, report.Rule("OUTPUT", 1).Effect);
        Assert.Contains("could not be read", report.Rule("OUTPUT", 1).NotEvaluatedReason, StringComparison.Ordinal);
        Assert.Equal(FirewallRuleEffect.MayBlock, report.Rule("OUTPUT", 2).Effect);
        Assert.True(report.Rule("OUTPUT", 3).Blocks);
    }

    [Fact]
    public void Ufw_chains_are_followed_from_output_and_named_as_ufw()
    {
        var report = Inspect(Runner(v4: Fixture("ufw.v4.save"), containerInterface: "eni1"), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var reject = report.Rules.Single(r => r.Chain == "ufw-user-output" && r.Blocks);
        Assert.Equal(FirewallFrontEnd.Ufw, reject.FrontEnd);
        Assert.Equal("ufw (iptables-nft)", reject.Source);
        Assert.Equal(FirewallSymptom.ConnectionRefused, reject.ExpectedSymptom);
        Assert.DoesNotContain(report.Rules, r => r.Rule.Contains("169.254.169.253", StringComparison.Ordinal));
        var forward = report.Rules.Single(r => r.Chain == "ufw-user-forward");
        Assert.Equal(new[] { "forwarded from eni1" }, forward.BlockedFor);
    }

    [Fact]
    public void Unknown_json_is_a_clear_error()
    {
        var runner = Runner(nft: "Error: something\n{\"nftables\": [");
        var ex = Assert.Throws<FirewallCommandException>(() => Inspect(runner));
        Assert.Contains("not JSON", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dormant_table_whose_flags_nft_1_0_6_prints_wrongly_is_checked_in_text()
    {
        // Captured: nft 1.0.6 printed "flags": "asleep" (the table's name) for a table with "flags dormant".
        const string json = """{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "asleep", "handle": 1, "flags": "asleep"}}, {"chain": {"family": "ip", "table": "asleep", "name": "out", "handle": 1, "type": "filter", "hook": "output", "prio": 0, "policy": "drop"}}]}""";
        var runner = Runner(nft: json).On("nft list table ip asleep", "table ip asleep {\n\tflags dormant\n\n\tchain out {\n\t\ttype filter hook output priority filter; policy drop;\n\t}\n}\n");
        var report = Inspect(runner);
        Assert.Empty(report.Rules);
        Assert.All(report.Subjects, s => Assert.Equal(FirewallAccess.Allowed, s.Access));

        var active = Runner(nft: json).On("nft list table ip asleep", "table ip asleep {\n\tchain out {\n\t\ttype filter hook output priority filter; policy drop;\n\t}\n}\n");
        Assert.True(Inspect(active).Rules.Single(r => r.IsPolicy).Blocks);
    }
}
