using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Tests.Support;
using Xunit;
using static ImdsTroubleshoot.Tests.Firewall.FirewallTestKit;

namespace ImdsTroubleshoot.Tests.Firewall;

/// <summary>Reading failures (not root, no tools, timeouts), the Test-ImdsEndpoint API, deletion and persisted files.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class InspectorAndRemoverTests : IDisposable
{
    private const string Seed = "-A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT --reject-with icmp-port-unreachable";
    private readonly string _dir = Directory.CreateTempSubdirectory("imds-fw-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("iptables-nft-save")]
    [InlineData("nft")]
    public void Without_root_reading_fails_with_access_denied_not_an_empty_list(string failing)
    {
        var runner = Runner(v4: Filter(DefaultPolicies(), Seed));
        string stderr = Fixture($"nonroot-{failing}.stderr");
        int exit = int.Parse(Fixture($"nonroot-{failing}.exit").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        if (failing == "nft")
        {
            runner.On("nft -j list ruleset", string.Empty, exit, stderr);
        }
        else
        {
            runner.On("iptables-nft-save -c", string.Empty, exit, stderr);
        }

        var ex = Assert.Throws<FirewallAccessDeniedException>(() => Inspect(runner));
        Assert.Contains("needs root", ex.Message, StringComparison.Ordinal);
        Assert.Contains("you must be root", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_root_an_unreadable_legacy_table_list_is_access_denied_too()
    {
        var runner = Runner(v4: Filter(DefaultPolicies(), Seed)).Deny("/proc/net/ip_tables_names");
        var ex = Assert.Throws<FirewallAccessDeniedException>(() => Inspect(runner));
        Assert.Contains("/proc/net/ip_tables_names", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_firewall_tool_at_all_is_an_error_and_a_slow_tool_times_out()
    {
        var none = new FakeCommandRunner().WithLabNetwork();
        Assert.Throws<FirewallToolNotFoundException>(() => Inspect(none));

        var slow = Runner(v4: Filter(DefaultPolicies(), Seed)).TimeOut("nft -j list ruleset");
        var ex = Assert.Throws<FirewallCommandException>(() => Inspect(slow));
        Assert.True(ex.TimedOut);
    }

    [Fact]
    public void Legacy_tables_are_read_only_when_the_kernel_has_them()
    {
        var runner = Runner(v4: Filter(DefaultPolicies(), Seed));
        Inspect(runner);
        Assert.DoesNotContain(runner.Calls, c => c.Contains("legacy", StringComparison.Ordinal));
        var both = Runner(v4: Fixture("both-backends-nft.v4.save"), legacyV4: Fixture("both-backends-legacy.v4.save"));
        var report = Inspect(both, new FirewallQuery { Family = FirewallFamily.IPv4 });
        Assert.Contains("iptables-legacy-save -c", both.Calls);
        Assert.Equal(2, report.Rules.Count(r => r.Blocks));
        Assert.Equal(FirewallAccess.Blocked, report.Subject("uid 0 ").Access);
        Assert.Equal(FirewallBackend.IptablesLegacy, report.Subject("uid 0 ").DecidedBy!.Backend);
    }

    [Fact]
    public void FindBlockingRules_and_ExplainConnectFailure_name_the_rule_behind_a_refused_or_timed_out_connect()
    {
        var runner = Runner(v4: Filter(DefaultPolicies(), Seed, "-A OUTPUT -d 169.254.169.254/32 -j DROP"));
        var inspector = Inspector(runner);
        var forUser = inspector.FindBlockingRules(1000, FirewallFamily.IPv4, CancellationToken.None);
        Assert.Equal(2, forUser.Count);
        Assert.True(forUser[0].Decides);
        Assert.Equal(1, forUser[0].Position);
        Assert.Equal(1, inspector.ExplainConnectFailure(1000, IPAddress.Parse("169.254.169.254"), SocketError.ConnectionRefused, CancellationToken.None)!.Position);
        Assert.Equal(2, inspector.ExplainConnectFailure(0, IPAddress.Parse("169.254.169.254"), SocketError.TimedOut, CancellationToken.None)!.Position);
        Assert.Null(inspector.ExplainConnectFailure(0, IPAddress.Parse("169.254.169.254"), SocketError.ConnectionRefused, CancellationToken.None));
        Assert.Null(inspector.ExplainConnectFailure(0, IPAddress.Parse("fd00:ec2::254"), SocketError.TimedOut, CancellationToken.None));
        Assert.Empty(inspector.FindBlockingRules(0, FirewallFamily.IPv6, CancellationToken.None));
    }

    [Fact]
    public void Removing_an_iptables_rule_checks_it_exists_then_deletes_that_exact_spec()
    {
        var runner = Runner(v4: Filter(DefaultPolicies(userChains: "C"), "-A OUTPUT -j C", "-A C -d 169.254.169.254/32 -m comment --comment \"it's a \\\\backslash \\\"q\\\"\" -j DROP"));
        var rule = Inspect(runner, new FirewallQuery { Family = FirewallFamily.IPv4 }).Rule("C", 1);
        Assert.Equal("iptables-nft -t filter -D C -d 169.254.169.254/32 -m comment --comment 'it'\\''s a \\backslash \"q\"' -j DROP", rule.RemoveCommand);
        var remover = new FirewallRuleRemover(new FirewallInspectorOptions { Runner = runner });
        string check = "iptables-nft -t filter -C C -d 169.254.169.254/32 -m comment --comment it's a \\backslash \"q\" -j DROP";
        string delete = check.Replace(" -C ", " -D ", StringComparison.Ordinal);
        runner.On(check, string.Empty, 0).On(delete, string.Empty, 0);
        var removed = remover.Remove(rule, CancellationToken.None);
        Assert.Equal(FirewallRemovalStatus.Removed, removed.Status);
        Assert.Equal(new[] { check, delete }, runner.Calls.TakeLast(2));

        // The second time the rule is gone: -C says so (exit 1) and nothing is deleted.
        runner.On(check, string.Empty, 1, "iptables: Bad rule (does a matching rule exist in that chain?).\n");
        var again = remover.Remove(rule, CancellationToken.None);
        Assert.Equal(FirewallRemovalStatus.AlreadyGone, again.Status);
        Assert.Equal(check, runner.Calls.Last());

        runner.On(check, string.Empty, 4, "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n");
        Assert.Throws<FirewallAccessDeniedException>(() => remover.Remove(rule, CancellationToken.None));
        runner.On(check, string.Empty, 2, "iptables v1.8.9 (nf_tables): unknown option\n");
        var bad = Assert.Throws<FirewallCommandException>(() => remover.Remove(rule, CancellationToken.None));
        Assert.Equal(2, bad.ExitCode);
    }

    [Fact]
    public void Removing_an_nft_rule_checks_the_handle_still_holds_it()
    {
        string rules = Fixture("native.json");
        var runner = Runner(nft: rules);
        var rule = Inspect(runner).Rules.Single(r => r.Table == "imdsguard" && r.Handle == 9);
        var remover = new FirewallRuleRemover(new FirewallInspectorOptions { Runner = runner });

        // The table as nft lists it now: same rule under handle 9 (counters may differ).
        runner.On("nft -j list table inet imdsguard", rules);
        var removed = remover.Remove(rule, CancellationToken.None);
        Assert.Equal(FirewallRemovalStatus.Removed, removed.Status);
        Assert.Equal("nft -j -f -", runner.Calls.Last());
        Assert.Equal("""{"nftables":[{"delete":{"rule":{"family":"inet","table":"imdsguard","chain":"output","handle":9}}}]}""", runner.Inputs.Last());
        Assert.Equal("nft delete rule inet imdsguard output handle 9", removed.Command);

        // Handle 9 now holds another rule (table recreated): nothing is deleted.
        runner.On("nft -j list table inet imdsguard", rules.Replace("\"handle\": 9,", "\"handle\": 999,", StringComparison.Ordinal).Replace("\"handle\": 10,", "\"handle\": 9,", StringComparison.Ordinal));
        int calls = runner.Calls.Count;
        Assert.Throws<FirewallRuleChangedException>(() => remover.Remove(rule, CancellationToken.None));
        Assert.Equal(calls + 1, runner.Calls.Count);

        // The handle is gone, or the whole table: already gone, not an error.
        runner.On("nft -j list table inet imdsguard", rules.Replace("\"handle\": 9,", "\"handle\": 999,", StringComparison.Ordinal));
        Assert.Equal(FirewallRemovalStatus.AlreadyGone, remover.Remove(rule, CancellationToken.None).Status);
        runner.On("nft -j list table inet imdsguard", string.Empty, 1, "Error: No such file or directory\nlist table inet imdsguard\n                ^^^^^^^^^\n");
        Assert.Equal(FirewallRemovalStatus.AlreadyGone, remover.Remove(rule, CancellationToken.None).Status);
    }

    [Fact]
    public void Policies_and_unreadable_rules_are_not_removable()
    {
        var report = Inspect(Runner(v4: Filter(DefaultPolicies(outputDrop: true)) + "*filter\n-X weird\n"), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var policy = report.Rules.Single(r => r.IsPolicy);
        Assert.Contains("iptables -t filter -P OUTPUT ACCEPT", FirewallRuleRemover.WhyNotRemovable(policy), StringComparison.Ordinal);
        Assert.NotNull(FirewallRuleRemover.WhyNotRemovable(report.Rules.Single(r => r.Effect == FirewallRuleEffect.NotEvaluated)));
    }

    [Fact]
    public void A_rule_is_found_in_an_unnormalised_persisted_file_and_only_its_line_is_removed_after_a_backup()
    {
        string file = Path.Combine(_dir, "rules.v4");
        string content = "# Generated by iptables-save v1.8.4 on Mon Nov 23 2026\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
            "-A OUTPUT -p tcp -d 169.254.169.254 -m owner --uid-owner cloudsdk-10000 -j REJECT\r\n" +
            "-A OUTPUT -d 169.254.169.254 -m owner --uid-owner 1000-10001 -p tcp -j REJECT\n" +
            "-A OUTPUT -d 169.254.169.253 -j DROP\nCOMMIT\n";
        File.WriteAllText(file, content);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var report = Inspect(Runner(v4: Filter(DefaultPolicies(), Seed)), new FirewallQuery { Family = FirewallFamily.IPv4 }, file);
        var rule = report.Rule("OUTPUT", 1);
        Assert.Equal(file, rule.PersistedFile);
        Assert.Equal(6, rule.PersistedLine);

        var remover = new FirewallRuleRemover(new FirewallInspectorOptions { Users = TestUsers.Create() }, new ManualTime());
        var plan = remover.PlanPersistedFileUpdate(rule)!;
        Assert.Equal(new[] { 6 }, plan.Lines);
        string backup = remover.ApplyPersistedFileUpdate(plan);
        Assert.Equal(file + ".imds-troubleshoot-20261123T120000Z.bak", backup);
        Assert.Equal(content, File.ReadAllText(backup));
        Assert.Equal(content.Replace("-A OUTPUT -p tcp -d 169.254.169.254 -m owner --uid-owner cloudsdk-10000 -j REJECT\r\n", string.Empty, StringComparison.Ordinal), File.ReadAllText(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(file));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));

        // Run again: the rule is no longer in the file.
        Assert.Null(remover.PlanPersistedFileUpdate(rule));
    }

    [Fact]
    public void A_changed_file_is_not_edited()
    {
        string file = Path.Combine(_dir, "rules.v4");
        File.WriteAllText(file, "*filter\n-A OUTPUT -d 169.254.169.254/32 -j DROP\nCOMMIT\n");
        var rule = Inspect(Runner(v4: Filter(DefaultPolicies(), "-A OUTPUT -d 169.254.169.254/32 -j DROP")), new FirewallQuery { Family = FirewallFamily.IPv4 }, file).Rule("OUTPUT", 1);
        var remover = new FirewallRuleRemover(new FirewallInspectorOptions { Users = TestUsers.Create() });
        var plan = remover.PlanPersistedFileUpdate(rule)!;
        File.WriteAllText(file, "*filter\n-A OUTPUT -d 10.0.0.1/32 -j DROP\n-A OUTPUT -d 169.254.169.254/32 -j DROP\nCOMMIT\n");
        Assert.Throws<InvalidOperationException>(() => remover.ApplyPersistedFileUpdate(plan));
        Assert.Equal("*filter\n-A OUTPUT -d 10.0.0.1/32 -j DROP\n-A OUTPUT -d 169.254.169.254/32 -j DROP\nCOMMIT\n", File.ReadAllText(file));
    }

    [Fact]
    public void Ufw_user_rules_lose_the_rule_and_its_tuple_comment()
    {
        string file = Path.Combine(_dir, "user.rules");
        File.WriteAllText(file, "*filter\n:ufw-user-output - [0:0]\n### RULES ###\n\n### tuple ### reject tcp 80 169.254.169.254 any 0.0.0.0/0 out\n" +
            "-A ufw-user-output -p tcp -d 169.254.169.254 --dport 80 -j REJECT --reject-with tcp-reset\n\n### END RULES ###\nCOMMIT\n");
        var report = Inspect(Runner(v4: Fixture("ufw.v4.save")), new FirewallQuery { Family = FirewallFamily.IPv4 }, file);
        var rule = report.Rules.Single(r => r.Chain == "ufw-user-output" && r.Blocks);
        Assert.Equal(file, rule.PersistedFile);
        var remover = new FirewallRuleRemover(new FirewallInspectorOptions { Users = TestUsers.Create() });
        var plan = remover.PlanPersistedFileUpdate(rule)!;
        Assert.Equal(new[] { 5, 6 }, plan.Lines);
        remover.ApplyPersistedFileUpdate(plan);
        Assert.Equal("*filter\n:ufw-user-output - [0:0]\n### RULES ###\n\n\n### END RULES ###\nCOMMIT\n", File.ReadAllText(file));
    }

    [Fact]
    public void Native_nft_rules_are_found_in_a_persisted_nft_script_and_runtime_additions_are_told_apart()
    {
        string file = Path.Combine(_dir, "nftables.conf");
        File.WriteAllText(file, Fixture("native.nft"));
        var report = Inspect(Runner(nft: Fixture("native.json")), null, file);
        var article = report.Rules.Single(r => r.Table == "imdsguard" && r.Handle == 9);
        Assert.Equal(file, article.PersistedFile);
        Assert.Equal(7, article.PersistedLine);
        var plain = report.Rules.Single(r => r.Table == "plain");
        Assert.Equal(36, plain.PersistedLine);
        var inline = report.Rules.Single(r => r.Table == "imdsguard" && r.Handle == 29);
        Assert.Equal(24, inline.PersistedLine);
        Assert.Throws<InvalidOperationException>(() => new FirewallRuleRemover(new FirewallInspectorOptions()).PlanPersistedFileUpdate(inline));

        string runtimeOnly = Fixture("native.nft").Replace("\t\tip daddr 169.254.169.254 meta skuid != 0 counter drop\n", string.Empty, StringComparison.Ordinal);
        File.WriteAllText(file, runtimeOnly);
        var again = Inspect(Runner(nft: Fixture("native.json")), null, file);
        var added = again.Rules.Single(r => r.Table == "imdsguard" && r.Handle == 10);
        Assert.Null(added.PersistedFile);
        Assert.Contains("added at runtime", added.PersistenceNote, StringComparison.Ordinal);

        var remover = new FirewallRuleRemover(new FirewallInspectorOptions());
        var plan = remover.PlanPersistedFileUpdate(article)!;
        Assert.Equal("\t\tip daddr 169.254.169.254 tcp dport 80 meta skuid 1000-10000 reject comment \"AWS article rule, native\"", Assert.Single(plan.RemovedText));
    }

    /// <summary>Root: the edited script is checked with nft -c in a throw-away network namespace before it replaces the file.</summary>
    [LabFact]
    public void An_edited_nft_script_is_checked_by_nft_and_still_loads()
    {
        string file = Path.Combine(_dir, "nftables.conf");
        File.WriteAllText(file, "#!/usr/sbin/nft -f\n\nflush ruleset\n\n" + Fixture("native.nft"));
        var article = Inspect(Runner(nft: Fixture("native.json")), null, file).Rules.Single(r => r.Table == "imdsguard" && r.Handle == 9);
        var remover = new FirewallRuleRemover(new FirewallInspectorOptions());
        var plan = remover.PlanPersistedFileUpdate(article)!;
        Assert.Equal(new[] { 11 }, plan.Lines);
        string backup = remover.ApplyPersistedFileUpdate(plan);
        Assert.DoesNotContain("AWS article rule", File.ReadAllText(file), StringComparison.Ordinal);
        Assert.Contains("AWS article rule", File.ReadAllText(backup), StringComparison.Ordinal);
        var check = ProcessRunner.Run("unshare", "-n", "nft", "-c", "-f", file);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Equal(File.ReadAllLines(backup).Length - 1, File.ReadAllLines(file).Length);
    }
}
