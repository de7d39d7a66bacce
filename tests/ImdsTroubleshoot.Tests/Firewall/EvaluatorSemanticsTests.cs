using System.Linq;
using ImdsTroubleshoot.Engine.Firewall;
using Xunit;
using static ImdsTroubleshoot.Tests.Firewall.FirewallTestKit;

namespace ImdsTroubleshoot.Tests.Firewall;

/// <summary>The evaluator's tricky semantics, one rule set at a time (iptables-save form, as the tools print it).</summary>
public sealed class EvaluatorSemanticsTests
{
    private const string Seed = "-A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT --reject-with icmp-port-unreachable";

    [Fact]
    public void The_seed_rule_blocks_uid_1000_with_connection_refused_but_not_root()
    {
        var report = InspectV4(Seed);
        var rule = report.Rule("OUTPUT", 1);
        Assert.True(rule.Blocks);
        Assert.True(rule.Decides);
        Assert.Equal(FirewallRuleEffect.Blocks, rule.Effect);
        Assert.Equal(FirewallVerdict.Reject, rule.Verdict);
        Assert.Equal("icmp-port-unreachable", rule.RejectWith);
        Assert.Equal(FirewallSymptom.ConnectionRefused, rule.ExpectedSymptom);
        Assert.Equal("uid 1000-10000", rule.AppliesTo);
        Assert.Contains("uid 1000 (cloudsdk)", rule.BlockedFor);
        Assert.DoesNotContain(rule.BlockedFor, s => s.StartsWith("uid 0 ", System.StringComparison.Ordinal));
        Assert.Contains("uid 10000", rule.BlockedFor);
        Assert.DoesNotContain("uid 10001", rule.BlockedFor);
        Assert.DoesNotContain("uid 999", rule.BlockedFor);
        Assert.Equal(FirewallAccess.Allowed, report.Subject("uid 0 ").Access);
        Assert.Equal(FirewallAccess.Blocked, report.Subject("uid 1000 ").Access);
        Assert.Same(rule, report.Subject("uid 1000 ").DecidedBy);
        Assert.Equal(new[] { "OUTPUT", "-d", "169.254.169.254/32", "-p", "tcp", "-m", "owner", "--uid-owner", "1000-10000", "-j", "REJECT", "--reject-with", "icmp-port-unreachable" }, rule.Spec);
        Assert.Equal("iptables-nft -t filter -D OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT --reject-with icmp-port-unreachable", rule.RemoveCommand);
    }

    [Fact]
    public void A_drop_rule_blocks_everyone_with_a_timeout_and_forwarded_traffic_is_not_host_traffic()
    {
        var report = InspectV4("-A OUTPUT -d 169.254.169.254/32 -j DROP");
        var rule = report.Rule("OUTPUT", 1);
        Assert.True(rule.Blocks);
        Assert.Equal(FirewallSymptom.Timeout, rule.ExpectedSymptom);
        Assert.Contains(rule.BlockedFor, s => s.StartsWith("uid 0 ", System.StringComparison.Ordinal));
        Assert.Equal(FirewallTraffic.Host, rule.Traffic);
        Assert.Equal(FirewallAccess.Allowed, report.Subject("forwarded from veth-ctr").Access);
    }

    [Fact]
    public void Rules_in_user_chains_reached_by_jumps_block_and_a_return_lets_root_through()
    {
        var report = Inspect(Runner(v4: Filter(DefaultPolicies(userChains: "IMDS-CHECK"),
            "-A OUTPUT -d 169.254.169.254/32 -j IMDS-CHECK",
            "-A IMDS-CHECK -m owner --uid-owner 0 -j RETURN",
            "-A IMDS-CHECK -m comment --comment \"block IMDS for \\\"users\\\" here\" -j DROP")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var drop = report.Rule("IMDS-CHECK", 2);
        Assert.True(drop.Blocks);
        Assert.Contains("uid 1000 (cloudsdk)", drop.BlockedFor);
        Assert.DoesNotContain(drop.BlockedFor, s => s.StartsWith("uid 0 ", System.StringComparison.Ordinal));
        Assert.Equal(FirewallAccess.Allowed, report.Subject("uid 0 ").Access);
        Assert.Equal(FirewallRuleEffect.PassesOn, report.Rule("IMDS-CHECK", 1).Effect);
        Assert.Contains("uid 0 (root)", report.Rule("IMDS-CHECK", 1).MatchedFor);
        Assert.Equal(FirewallRuleEffect.PassesOn, report.Rule("OUTPUT", 1).Effect);
        Assert.Equal(new[] { "IMDS-CHECK", "-m", "comment", "--comment", "block IMDS for \"users\" here", "-j", "DROP" }, drop.Spec);
    }

    [Fact]
    public void A_drop_after_a_jump_is_reached_after_return_but_not_after_a_goto()
    {
        // jump: the empty chain returns to OUTPUT and the DROP after it applies.
        var jump = InspectV4Chains("-A OUTPUT -d 169.254.169.254/32 -j EMPTY", "-A OUTPUT -d 169.254.169.254/32 -j DROP");
        Assert.True(jump.Rule("OUTPUT", 2).Blocks);
        // goto: falling off the goto'd chain ends OUTPUT (its policy, ACCEPT); the DROP is never reached.
        var gotoReport = InspectV4Chains("-A OUTPUT -d 169.254.169.254/32 -g EMPTY", "-A OUTPUT -d 169.254.169.254/32 -j DROP");
        var drop = gotoReport.Rule("OUTPUT", 2);
        Assert.False(drop.Blocks);
        Assert.Equal(FirewallRuleEffect.NotReached, drop.Effect);
        Assert.Equal(FirewallAccess.Allowed, gotoReport.Subject("uid 1000 ").Access);
    }

    private static FirewallReport InspectV4Chains(params string[] lines) =>
        Inspect(Runner(v4: Filter(DefaultPolicies(userChains: "EMPTY"), lines)), new FirewallQuery { Family = FirewallFamily.IPv4 });

    [Fact]
    public void Negated_matches_block_everyone_but_the_negated_ones()
    {
        var report = InspectV4("-A OUTPUT ! -d 10.0.0.0/8 -p tcp -m tcp --dport 80 -m owner ! --uid-owner 0 -j REJECT --reject-with tcp-reset");
        var rule = report.Rule("OUTPUT", 1);
        Assert.True(rule.Blocks);
        Assert.Equal("uid not 0", rule.AppliesTo);
        Assert.Equal(FirewallSymptom.ConnectionRefused, rule.ExpectedSymptom);
        Assert.Contains("uid 1000 (cloudsdk)", rule.BlockedFor);
        Assert.DoesNotContain(rule.BlockedFor, s => s.StartsWith("uid 0 ", System.StringComparison.Ordinal));

        var notImds = InspectV4("-A OUTPUT ! -d 169.254.0.0/16 -j DROP", "-A OUTPUT -p tcp -m tcp ! --dport 80 -j DROP");
        Assert.Empty(notImds.Rules);
        Assert.Equal(FirewallAccess.Allowed, notImds.Subject("uid 1000 ").Access);
    }

    [Fact]
    public void Cidrs_that_contain_169_254_169_254_block_and_neighbouring_ones_do_not()
    {
        var report = InspectV4(
            "-A OUTPUT -d 169.254.170.0/24 -j DROP",
            "-A OUTPUT -d 169.254.169.253/32 -p udp -m udp --dport 53 -j DROP",
            "-A OUTPUT -m iprange --dst-range 169.254.169.250-169.254.169.253 -j DROP",
            "-A OUTPUT -d 169.254.0.0/16 -p tcp -m multiport --dports 443,8000:8080 -j DROP",
            "-A OUTPUT -d 169.254.0.0/16 -p tcp -m multiport --dports 443,80:81 -j REJECT --reject-with icmp-host-prohibited",
            "-A OUTPUT -d 0.0.0.0/1 -j DROP",
            "-A OUTPUT -d 128.0.0.0/1 -j DROP");
        Assert.Equal(new[] { 5, 7 }, report.Rules.Select(r => r.Position).ToArray());
        Assert.True(report.Rule("OUTPUT", 5).Decides);
        Assert.Equal(FirewallSymptom.HostUnreachable, report.Rule("OUTPUT", 5).ExpectedSymptom);
        Assert.True(report.Rule("OUTPUT", 7).Blocks);
        Assert.False(report.Rule("OUTPUT", 7).Decides);
    }

    [Fact]
    public void Every_blocking_rule_is_found_but_only_the_first_decides()
    {
        var report = InspectV4("-A OUTPUT -d 169.254.169.254/32 -j DROP", "-A OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT --reject-with tcp-reset");
        Assert.True(report.Rule("OUTPUT", 1).Decides);
        Assert.True(report.Rule("OUTPUT", 2).Blocks);
        Assert.False(report.Rule("OUTPUT", 2).Decides);

        // An ACCEPT in between shields the later rule: removing the first DROP is enough.
        var shielded = InspectV4("-A OUTPUT -d 169.254.169.254/32 -j DROP", "-A OUTPUT -d 169.254.169.254/32 -j ACCEPT", "-A OUTPUT -d 169.254.169.254/32 -j REJECT");
        Assert.True(shielded.Rule("OUTPUT", 1).Blocks);
        Assert.Equal(FirewallRuleEffect.Allows, shielded.Rule("OUTPUT", 2).Effect);
        Assert.False(shielded.Rule("OUTPUT", 3).Blocks);
        Assert.Equal(FirewallRuleEffect.NotReached, shielded.Rule("OUTPUT", 3).Effect);
    }

    [Fact]
    public void Interfaces_are_matched_against_the_route_to_imds()
    {
        var report = InspectV4(
            "-A OUTPUT -d 169.254.169.254/32 -o eth1 -j DROP",
            "-A OUTPUT -d 169.254.169.254/32 -o eth+ -j REJECT --reject-with icmp-admin-prohibited",
            "-A OUTPUT -d 169.254.169.254/32 ! -o lo -j DROP");
        Assert.DoesNotContain(report.Rules, r => r.Position == 1);
        Assert.True(report.Rule("OUTPUT", 2).Decides);
        Assert.Equal(FirewallSymptom.HostUnreachable, report.Rule("OUTPUT", 2).ExpectedSymptom);
        Assert.True(report.Rule("OUTPUT", 3).Blocks);
    }

    [Fact]
    public void A_drop_policy_blocks_unless_an_accept_rule_lets_imds_out()
    {
        var blocked = Inspect(Runner(v4: Filter(DefaultPolicies(outputDrop: true), "-A OUTPUT -d 169.254.169.253/32 -j ACCEPT")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var policy = blocked.Rules.Single(r => r.IsPolicy);
        Assert.True(policy.Blocks);
        Assert.Equal(0, policy.Position);
        Assert.Equal(":OUTPUT DROP", policy.Rule);
        Assert.Equal(FirewallSymptom.Timeout, policy.ExpectedSymptom);
        Assert.Null(policy.RemoveCommand);

        var allowed = Inspect(Runner(v4: Filter(DefaultPolicies(outputDrop: true), "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j ACCEPT")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.DoesNotContain(allowed.Rules, r => r.IsPolicy);
        Assert.Equal(FirewallRuleEffect.Allows, allowed.Rule("OUTPUT", 1).Effect);
        Assert.Equal(FirewallAccess.Allowed, allowed.Subject("uid 1000 ").Access);
    }

    [Fact]
    public void Connection_state_rules_are_followed_for_every_packet_of_the_connection()
    {
        // Only NEW is accepted on a DROP policy: the handshake's SYN passes, the request (ESTABLISHED) does not.
        var report = Inspect(Runner(v4: Filter(DefaultPolicies(outputDrop: true), "-A OUTPUT -d 169.254.169.254/32 -m conntrack --ctstate NEW -j ACCEPT")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.True(report.Rules.Single(r => r.IsPolicy).Blocks);
        Assert.Equal(FirewallSymptom.Timeout, report.Rules.Single(r => r.IsPolicy).ExpectedSymptom);

        // An INPUT DROP policy without an ESTABLISHED accept loses IMDS's replies (a timeout).
        var input = Inspect(Runner(v4: Filter(DefaultPolicies(inputDrop: true), "-A INPUT -i lo -j ACCEPT")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var inPolicy = input.Rules.Single(r => r.IsPolicy);
        Assert.Equal("INPUT", inPolicy.Chain);
        Assert.True(inPolicy.Blocks);
        Assert.Equal(FirewallSymptom.Timeout, inPolicy.ExpectedSymptom);

        var fixedInput = Inspect(Runner(v4: Filter(DefaultPolicies(inputDrop: true), "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.Equal(FirewallAccess.Allowed, fixedInput.Subject("uid 1000 ").Access);
        Assert.DoesNotContain(fixedInput.Rules, r => r.Blocks);
    }

    [Fact]
    public void The_eks_forward_rule_cuts_off_containers_but_not_the_host()
    {
        var report = Inspect(Runner(v4: Filter(DefaultPolicies(), "-A FORWARD -d 169.254.169.254/32 -i eni+ -j DROP"), containerInterface: "eni3a4b5c"));
        var rule = report.Rule("FORWARD", 1);
        Assert.True(rule.Blocks);
        Assert.Equal(FirewallTraffic.Forwarded, rule.Traffic);
        Assert.Equal("in-interface eni+", rule.AppliesTo);
        Assert.Equal(new[] { "forwarded from eni3a4b5c" }, rule.BlockedFor);
        Assert.Equal(FirewallAccess.Allowed, report.Subject("uid 0 ").Access);

        // On a node without eni interfaces yet, the rule is still reported for the interfaces it names.
        var noPods = Inspect(Runner(v4: Filter(DefaultPolicies(), "-A FORWARD -d 169.254.169.254/32 -i eni+ -j DROP")));
        Assert.Equal(new[] { "forwarded from eni0 (no such interface now)" }, noPods.Rule("FORWARD", 1).BlockedFor);
        Assert.Equal(FirewallAccess.Allowed, noPods.Subject("forwarded from veth-ctr").Access);
    }

    [Fact]
    public void Owner_matches_never_match_forwarded_traffic_unless_every_option_is_negated()
    {
        var report = Inspect(Runner(v4: Filter(DefaultPolicies(userChains: "C"),
            "-A OUTPUT -j C", "-A FORWARD -j C",
            "-A C -d 169.254.169.254/32 -m owner --uid-owner 0-4294967294 -j DROP",
            "-A C -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT")));
        Assert.DoesNotContain(report.Rule("C", 1).BlockedFor, s => s.StartsWith("forwarded", System.StringComparison.Ordinal));
        Assert.Contains("forwarded from veth-ctr", report.Rule("C", 2).BlockedFor);
    }

    [Fact]
    public void Group_owner_matches_use_the_primary_group_and_supplementary_groups_only_when_asked()
    {
        var report = InspectV4(
            "-A OUTPUT -d 169.254.169.254/32 -m owner --gid-owner 1001 -j DROP",
            "-A OUTPUT -d 169.254.169.254/32 -m owner --gid-owner 2000 -j DROP",
            "-A OUTPUT -d 169.254.169.254/32 -m owner --gid-owner 2000 --suppl-groups -j DROP");
        Assert.Equal(new[] { "uid 1001 (alice)" }, report.Rule("OUTPUT", 1).BlockedFor);
        Assert.DoesNotContain(report.Rules, r => r.Position == 2 && r.Blocks);
        var suppl = InspectV4WithUids(new uint[] { 1002 }, "-A OUTPUT -d 169.254.169.254/32 -m owner --gid-owner 2000 --suppl-groups -j DROP");
        Assert.Equal(new[] { "uid 1002 (bob)" }, suppl.Rule("OUTPUT", 1).BlockedFor);
    }

    private static FirewallReport InspectV4WithUids(uint[] uids, params string[] lines) =>
        Inspect(Runner(v4: Filter(DefaultPolicies(), lines)), new FirewallQuery { Family = FirewallFamily.IPv4, Uids = uids });

    [Fact]
    public void Rules_it_cannot_evaluate_are_reported_not_skipped_and_make_later_verdicts_uncertain()
    {
        var report = InspectV4(
            "-A OUTPUT -d 169.254.169.254/32 -m u32 --u32 \"0x0>>0x16&0x3c@0xc>>0x1a&0x3c@0x0&0xffff=0x4745\" -j ACCEPT",
            Seed,
            "-A OUTPUT -d 169.254.169.253/32 -m bpf --bytecode \"4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0\" -j DROP");
        var u32 = report.Rule("OUTPUT", 1);
        Assert.False(u32.Evaluated);
        Assert.Contains("-m u32", u32.NotEvaluatedReason, System.StringComparison.Ordinal);
        Assert.Equal(FirewallRuleEffect.Allows, u32.Effect);
        var seed = report.Rule("OUTPUT", 2);
        Assert.False(seed.Blocks);
        Assert.Equal(FirewallRuleEffect.MayBlock, seed.Effect);
        Assert.Contains("uid 1000 (cloudsdk) (maybe)", seed.BlockedFor);
        Assert.Equal(FirewallAccess.MayBeBlocked, report.Subject("uid 1000 ").Access);
        // The bpf rule is about another address: its unknown part does not matter, it is evaluated as no match.
        Assert.DoesNotContain(report.Rules, r => r.Position == 3);
    }

    [Fact]
    public void Queue_and_unknown_targets_may_block()
    {
        var report = InspectV4("-A OUTPUT -d 169.254.169.254/32 -j NFQUEUE --queue-num 3", "-A OUTPUT -d 169.254.169.254/32 -j SOMETHINGNEW --opt 1");
        Assert.Equal(FirewallRuleEffect.MayBlock, report.Rule("OUTPUT", 1).Effect);
        Assert.Equal(FirewallVerdict.Queue, report.Rule("OUTPUT", 1).Verdict);
    }

    [Fact]
    public void Nat_redirects_are_reported_and_marks_and_notrack_change_later_matches()
    {
        const string nat = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.5:8181\nCOMMIT\n";
        var redirected = Inspect(Runner(v4: nat), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var dnat = redirected.Rule("OUTPUT", 1, "nat");
        Assert.Equal(FirewallRuleEffect.Redirects, dnat.Effect);
        Assert.Equal("DNAT to 10.0.0.5:8181", dnat.Target);
        Assert.Equal(FirewallAccess.Redirected, redirected.Subject("uid 1000 ").Access);

        const string mangle = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A OUTPUT -d 169.254.169.254/32 -j MARK --set-xmark 0x1/0xffffffff\nCOMMIT\n";
        var marked = Inspect(Runner(v4: mangle + Filter(DefaultPolicies(), "-A OUTPUT -m mark --mark 0x1/0xff -j DROP", "-A OUTPUT -m mark --mark 0x2 -j DROP")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.True(marked.Rule("OUTPUT", 1).Blocks);
        Assert.DoesNotContain(marked.Rules, r => r.Table == "filter" && r.Position == 2 && r.Blocks);

        const string raw = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d 169.254.169.254/32 -j CT --notrack\nCOMMIT\n";
        var untracked = Inspect(Runner(v4: raw + Filter(DefaultPolicies(outputDrop: true), "-A OUTPUT -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.True(untracked.Rules.Single(r => r.IsPolicy).Blocks);
    }

    [Fact]
    public void Rules_that_do_not_affect_imds_are_evaluated_as_no_match_and_listed_only_with_All()
    {
        string[] lines =
        {
            "-A OUTPUT -d 169.254.169.253/32 -p udp -m udp --dport 53 -j DROP",
            "-A OUTPUT -d 169.254.170.2/32 -j DROP",
            "-A OUTPUT -p udp -j DROP",
            "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 443 -j DROP",
            "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --tcp-flags SYN,ACK ACK -m conntrack --ctstate NEW -j DROP",
            "-A OUTPUT -m addrtype --dst-type LOCAL -j DROP",
            "-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        };
        var report = InspectV4(lines);
        Assert.Empty(report.Rules);
        Assert.All(report.Subjects, s => Assert.Equal(FirewallAccess.Allowed, s.Access));
        var all = Inspect(Runner(v4: Filter(DefaultPolicies(), lines)), new FirewallQuery { Family = FirewallFamily.IPv4, All = true });
        Assert.Equal(lines.Length, all.Rules.Count(r => r.Chain == "OUTPUT" && !r.IsPolicy));
        Assert.All(all.Rules.Where(r => !r.IsPolicy), r => Assert.False(r.Blocks));
        Assert.Equal(FirewallRuleEffect.NoMatch, all.Rule("OUTPUT", 1).Effect);
        Assert.Equal(FirewallRuleEffect.Allows, all.Rule("OUTPUT", 7).Effect);
    }

    [Fact]
    public void Ip6tables_rules_are_evaluated_for_fd00_ec2_254_and_ipv4_rules_do_not_touch_ipv6()
    {
        string v6 = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
            "-A OUTPUT -d fd00:ec2::/64 -j REJECT --reject-with icmp6-adm-prohibited\n" +
            "-A OUTPUT -d fd00:ec2::253/128 -j DROP\nCOMMIT\n";
        var report = Inspect(Runner(v4: Filter(DefaultPolicies(), "-A OUTPUT -d 169.254.169.254/32 -j DROP"), v6: v6));
        var rule = report.Rules.Single(r => r.Family == FirewallFamily.IPv6);
        Assert.True(rule.Blocks);
        Assert.Equal(FirewallSymptom.PermissionDenied, rule.ExpectedSymptom);
        Assert.Equal("ip6tables-nft -t filter -D OUTPUT -d fd00:ec2::/64 -j REJECT --reject-with icmp6-adm-prohibited", rule.RemoveCommand);
        Assert.Equal(FirewallAccess.Blocked, report.Subject("uid 1000 ", FirewallFamily.IPv6).Access);
        Assert.Same(rule, report.Subject("uid 1000 ", FirewallFamily.IPv6).DecidedBy);
        Assert.NotSame(rule, report.Subject("uid 1000 ", FirewallFamily.IPv4).DecidedBy);
    }

    [Fact]
    public void An_accept_in_one_backend_does_not_stop_a_drop_in_the_other()
    {
        var report = Inspect(Runner(
            v4: Filter(DefaultPolicies(), "-A OUTPUT -d 169.254.169.254/32 -j ACCEPT"),
            legacyV4: Filter(DefaultPolicies(), "-A OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT --reject-with tcp-reset")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var legacy = report.Rules.Single(r => r.Backend == FirewallBackend.IptablesLegacy);
        Assert.True(legacy.Blocks);
        Assert.Equal("iptables-legacy -w 5 -t filter -D OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT --reject-with tcp-reset", legacy.RemoveCommand);
        Assert.Equal(FirewallRuleEffect.Allows, report.Rules.Single(r => r.Backend == FirewallBackend.IptablesNft).Effect);
    }

    [Fact]
    public void Asking_for_one_uid_evaluates_only_that_user()
    {
        var report = Inspect(Runner(v4: Filter(DefaultPolicies(), Seed, "-A FORWARD -d 169.254.169.254/32 -j DROP")), new FirewallQuery { Uids = new uint[] { 0 }, Family = FirewallFamily.IPv4 });
        Assert.Single(report.Subjects);
        Assert.Equal(FirewallAccess.Allowed, report.Subjects[0].Access);
        Assert.DoesNotContain(report.Rules, r => r.Blocks);
        var withForward = Inspect(Runner(v4: Filter(DefaultPolicies(), Seed, "-A FORWARD -d 169.254.169.254/32 -j DROP")), new FirewallQuery { Uids = new uint[] { 0 }, Family = FirewallFamily.IPv4, IncludeForward = true });
        Assert.True(withForward.Rule("FORWARD", 1).Blocks);
    }

    private static string Nft(string family, string table, string chains, params string[] rules)
    {
        string header = "{\"metainfo\": {\"version\": \"1.0.6\", \"json_schema_version\": 1}}, " +
            $"{{\"table\": {{\"family\": \"{family}\", \"name\": \"{table}\", \"handle\": 1}}}}, " + chains;
        int handle = 100;
        var body = rules.Select(r =>
        {
            string[] parts = r.Split('|', 2);
            return $"{{\"rule\": {{\"family\": \"{family}\", \"table\": \"{table}\", \"chain\": \"{parts[0]}\", \"handle\": {handle++}, \"expr\": {parts[1]}}}}}";
        });
        return "{\"nftables\": [" + header + (rules.Length > 0 ? ", " + string.Join(", ", body) : string.Empty) + "]}";
    }

    private static string BaseChain(string family, string table, string name, string hook, int prio, string policy = "accept") =>
        $"{{\"chain\": {{\"family\": \"{family}\", \"table\": \"{table}\", \"name\": \"{name}\", \"handle\": 1, \"type\": \"filter\", \"hook\": \"{hook}\", \"prio\": {prio}, \"policy\": \"{policy}\"}}}}";

    private static string UserChain(string family, string table, string name) =>
        $"{{\"chain\": {{\"family\": \"{family}\", \"table\": \"{table}\", \"name\": \"{name}\", \"handle\": 2}}}}";

    private const string ImdsV4 = "{\"match\": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \"field\": \"daddr\"}}, \"right\": \"169.254.169.254\"}}";

    [Fact]
    public void Nft_verdict_maps_pick_the_verdict_of_the_port()
    {
        string vmap(string entries) => $"[{ImdsV4}, {{\"vmap\": {{\"key\": {{\"payload\": {{\"protocol\": \"tcp\", \"field\": \"dport\"}}}}, \"data\": {{\"set\": [{entries}]}}}}}}]";
        var blocks = Inspect(Runner(nft: Nft("inet", "t", BaseChain("inet", "t", "out", "output", 0), "out|" + vmap("[80, {\"drop\": null}], [443, {\"accept\": null}]"))), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var rule = blocks.Rules.Single();
        Assert.True(rule.Blocks);
        Assert.Equal("ip daddr 169.254.169.254 tcp dport vmap { 80 : drop, 443 : accept }", rule.Rule);
        Assert.Equal(FirewallSymptom.Timeout, rule.ExpectedSymptom);
        var other = Inspect(Runner(nft: Nft("inet", "t", BaseChain("inet", "t", "out", "output", 0), "out|" + vmap("[443, {\"drop\": null}]"))), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.Empty(other.Rules);
    }

    [Fact]
    public void Nft_interface_wildcards_skuid_on_forward_and_chain_priorities()
    {
        string iif(string name) => $"[{{\"match\": {{\"op\": \"==\", \"left\": {{\"meta\": {{\"key\": \"iifname\"}}}}, \"right\": \"{name}\"}}}}, {ImdsV4}, {{\"drop\": null}}]";
        const string skuidNot0 = "[{\"match\": {\"op\": \"!=\", \"left\": {\"meta\": {\"key\": \"skuid\"}}, \"right\": 0}}, {\"drop\": null}]";
        string chains = BaseChain("inet", "t", "fwd", "forward", 0) + ", " + BaseChain("inet", "t", "early", "output", -10) + ", " + BaseChain("inet", "t", "late", "output", 10);
        var report = Inspect(Runner(nft: Nft("inet", "t", chains,
            "fwd|" + iif("eni*"),
            "fwd|" + iif("eni\\\\*"),
            "fwd|" + skuidNot0,
            "early|[" + ImdsV4 + ", {\"accept\": null}]",
            "late|[" + ImdsV4 + ", {\"reject\": {\"type\": \"tcp reset\"}}]"), containerInterface: "eni7"), new FirewallQuery { Family = FirewallFamily.IPv4 });
        FirewallRule H(long h) => report.Rules.SingleOrDefault(r => r.Handle == h) ?? throw new Xunit.Sdk.XunitException(Describe(report));
        // "eni*" is a wildcard; "eni\*" is an interface literally named eni* (which does not exist here).
        Assert.Contains("forwarded from eni7", H(100).BlockedFor);
        Assert.Equal(new[] { "forwarded from eni* (no such interface now)" }, H(101).BlockedFor);
        Assert.DoesNotContain(report.Rules, r => r.Handle is 102);
        Assert.Equal(FirewallRuleEffect.Allows, H(103).Effect);
        Assert.True(H(104).Decides);
        Assert.Equal(FirewallSymptom.ConnectionRefused, H(104).ExpectedSymptom);
        Assert.Equal("nft delete rule inet t late handle 104", H(104).RemoveCommand);
    }

    [Fact]
    public void Nft_jump_and_return_in_user_chains()
    {
        const string skuid0Return = "[{\"match\": {\"op\": \"==\", \"left\": {\"meta\": {\"key\": \"skuid\"}}, \"right\": 0}}, {\"return\": null}]";
        string chains = BaseChain("ip", "t", "out", "output", 0) + ", " + UserChain("ip", "t", "check");
        var report = Inspect(Runner(nft: Nft("ip", "t", chains,
            "out|[" + ImdsV4 + ", {\"jump\": {\"target\": \"check\"}}]",
            "check|" + skuid0Return,
            "check|[{\"reject\": null}]")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var reject = report.Rules.Single(r => r.Chain == "check" && r.Position == 2);
        Assert.True(reject.Blocks);
        Assert.Equal(FirewallSymptom.ConnectionRefused, reject.ExpectedSymptom);
        Assert.DoesNotContain(reject.BlockedFor, s => s.StartsWith("uid 0 ", System.StringComparison.Ordinal));
        Assert.Contains("uid 1000 (cloudsdk)", reject.BlockedFor);
        Assert.Equal(FirewallAccess.Allowed, report.Subject("forwarded from veth-ctr").Access);
    }

    [Fact]
    public void A_second_physical_nic_is_no_container_interface_unless_a_rule_names_it()
    {
        // A FORWARD DROP policy (Docker sets one) blocks nothing a container sends when Docker's rule accepts it;
        // eth1 (an ENA NIC, no link kind) forwards nothing to IMDS and is not evaluated as a container interface.
        var report = Inspect(Runner(v4: Filter(DefaultPolicies(forwardDrop: true), "-A FORWARD -i veth-ctr -j ACCEPT", "-A FORWARD -o veth-ctr -j ACCEPT")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.DoesNotContain(report.Subjects, s => s.Subject.Contains("eth1", System.StringComparison.Ordinal));
        Assert.DoesNotContain(report.Rules, r => r.IsPolicy);

        var named = Inspect(Runner(v4: Filter(DefaultPolicies(), "-A FORWARD -i eth1 -d 169.254.169.254/32 -j DROP")), new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.Equal(new[] { "forwarded from eth1" }, named.Rule("FORWARD", 1).BlockedFor);
    }
}
