using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Tests.Lab;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>
/// Get-EnaLinkLocalStat through the imds-troubleshoot CLI: the views as users see them, and the real ioctl path in
/// a namespace the test builds, as root and as an unprivileged user, including -Watch stopped with Ctrl+C.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class EnaCliTests
{
    private static string FixtureDir => Path.GetDirectoryName(Repo.Fixture(Path.Combine("Ena", EnaFixtures.Modern)))!;

    private static string Lines(string text) => string.Join("\n", text.Split('\n').Select(l => l.TrimEnd()));

    /// <summary>A script that builds engine results from the captures, as the tests in EnaInterpretationTests do.</summary>
    private static string FixtureScript => $$"""
        $dir = '{{FixtureDir}}'
        $i = "driver: ena`nversion: 2.13.0g`nbus-info: 0000:00:05.0`n"
        $text = [IO.File]::ReadAllText("$dir/{{EnaFixtures.Modern}}")
        $t0 = [ImdsTroubleshoot.Engine.Ena.EthtoolText]::ParseSnapshot('ens34', $text, $i, [DateTimeOffset]::Parse('2026-11-23T12:00:00Z'))
        $t1 = [ImdsTroubleshoot.Engine.Ena.EthtoolText]::ParseSnapshot('ens34', $text.Replace('linklocal_allowance_exceeded: 0', 'linklocal_allowance_exceeded: 37'), $i, [DateTimeOffset]::Parse('2026-11-23T12:00:02Z'))
        $old = [ImdsTroubleshoot.Engine.Ena.EthtoolText]::ParseSnapshot('eth0', [IO.File]::ReadAllText("$dir/{{EnaFixtures.Old}}"), [IO.File]::ReadAllText("$dir/{{EnaFixtures.OldInfo}}"), [DateTimeOffset]::Parse('2026-11-23T12:00:00Z'))
        $sampled = [ImdsTroubleshoot.Engine.Ena.EnaInterpreter]::Interpret([ImdsTroubleshoot.Engine.Ena.EthtoolSnapshot[]]@($t0, $t1), $null)
        $oldResult = [ImdsTroubleshoot.Engine.Ena.EnaInterpreter]::Interpret($old, $null)
        """;

    [Fact]
    public void The_table_views_show_values_deltas_and_not_reported_counters()
    {
        var r = Support.Cli.Run(FixtureScript + """

            @($sampled, $oldResult) | Format-Table
            '-- counters'
            $sampled.Counters | Format-Table
            '-- all'
            [ImdsTroubleshoot.Engine.Ena.EnaInterpreter]::AllStatistics([ImdsTroubleshoot.Engine.Ena.EthtoolSnapshot[]]@($t0, $t1)) | Where-Object Index -lt 30 | Format-Table
            """);
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] parts = Lines(r.Stdout).Split("\n-- ");
        string[] table = parts[0].Split('\n').Where(l => l.Length > 0).ToArray();
        Assert.Matches(@"^Interface\s+Driver\s+LinkLocal\s+Pps\s+BwIn\s+BwOut\s+Conntrack\s+Throttling\s+Summary$", table[0]);
        Assert.Matches(@"^ens34\s+ena 2\.13\.0g\s+37 \(\+37\)\s+784\s+3241329\s+530\s+0\s+Now\s+LinkLocal \+37 \(18\.5/s\)$", table[2]);
        Assert.Matches(@"^eth0\s+ena 1\.2\.0k\s+n/a\s+n/a\s+n/a\s+n/a\s+n/a\s+Unknown\s+ENA 1\.2\.0k older than 2\.2\.10: no counters$", table[3]);

        Assert.StartsWith("counters", parts[1], StringComparison.Ordinal);
        Assert.Matches(@"ens34\s+linklocal_allowance_exceeded\s+True\s+37\s+37\s+18\.5\s+Packets dropped because traffic to the link-local", parts[1]);
        Assert.Matches(@"ens34\s+conntrack_allowance_available\s+True\s+615471\s+How many more connections", parts[1]);

        Assert.Contains("Interface: ens34 (ena)", parts[2], StringComparison.Ordinal);
        Assert.Matches(@"\n\s*linklocal_allowance_exceeded\s+37\s+37\s+18\.5\n", parts[2]);
        Assert.Matches(@"\n\s*bw_in_allowance_exceeded\s+3241329\s+0\s+0\.0\n", parts[2]);
        Assert.DoesNotContain("\u001b[", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Format_List_star_shows_every_property_of_a_result()
    {
        var r = Support.Cli.Run(FixtureScript + "\n$sampled | Format-List *");
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (string property in typeof(EnaInterfaceStatistics).GetProperties().Select(p => p.Name))
        {
            Assert.Matches($"(?m)^{property}\\s+: ", r.Stdout);
        }

        Assert.Matches(@"(?m)^Status\s+: Fail$", r.Stdout);
        Assert.Matches(@"(?m)^LinkLocalDelta\s+: 37$", r.Stdout);
    }

    [Fact]
    public void A_result_with_link_local_drops_now_makes_the_CLI_exit_3()
    {
        var r = Support.Cli.Run(FixtureScript + "\n$sampled");
        Assert.Equal(3, r.ExitCode);
        var ok = Support.Cli.Run(FixtureScript + "\n$oldResult");
        Assert.Equal(0, ok.ExitCode);
    }

    [Fact]
    public void No_such_interface_from_the_CLI_is_a_plain_error_with_exit_1()
    {
        var r = Support.Cli.Run("Get-EnaLinkLocalStat -Interface nope0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("There is no network interface 'nope0' in this network namespace", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ImdsTroubleshoot", r.Combined, StringComparison.Ordinal);
        Assert.Equal(string.Empty, r.Stdout.Trim());
    }

    private static string Values(ProcessResult r) => string.Join("\n", r.Stdout.Split('\n').Select(l => l.Trim()).Where(l => l.Contains('=', StringComparison.Ordinal)));

    /// <summary>Reading statistics needs no root: uid 1000 in the namespace reads the very values root reads, and ethtool prints.</summary>
    [LabFact]
    public void An_unprivileged_user_reads_the_same_values_as_root_and_ethtool()
    {
        using var lab = VethLab.Create();
        lab.EnableNapiCounting();
        lab.Ping(5);
        const string Command = "Get-EnaLinkLocalStat -Interface vB -All | ForEach-Object { '{0}={1}' -f $_.Name, $_.Value }";
        var asRoot = Support.Cli.Run(new[] { Command }, null, netns: lab.NsB);
        var asUser = Support.Cli.Run(new[] { Command }, null, netns: lab.NsB, uid: 1000);
        Assert.True(asRoot.ExitCode == 0, asRoot.ToString());
        Assert.True(asUser.ExitCode == 0, asUser.ToString());
        var ethtoolAsUser = ProcessRunner.Run("ip", new[] { "netns", "exec", lab.NsB, "setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "ethtool", "-S", VethLab.B }, TimeSpan.FromSeconds(30));
        Assert.True(ethtoolAsUser.ExitCode == 0, ethtoolAsUser.ToString());
        string expected = string.Join("\n", EthtoolText.ParseStatistics(ethtoolAsUser.Stdout).Select(s => $"{s.Name}={s.Value}"));

        Assert.Equal(expected, Values(asRoot));
        Assert.Equal(expected, Values(asUser));
        Assert.Contains("rx_queue_0_xdp_packets=5", expected, StringComparison.Ordinal);

        // What does need privileges (changing settings) fails for that user, which is why the cmdlet changes nothing.
        var change = ProcessRunner.Run("ip", new[] { "netns", "exec", lab.NsB, "setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "ethtool", "-K", VethLab.B, "gro", "off" }, TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, change.ExitCode);
        Assert.Contains("not permitted", change.Combined, StringComparison.Ordinal);
    }

    [LabFact]
    public void In_a_namespace_with_only_veth_there_is_no_ENA_and_the_error_says_why()
    {
        using var lab = VethLab.Create();
        var r = Support.Cli.Run(new[] { "Get-EnaLinkLocalStat" }, null, netns: lab.NsB, uid: 1000);
        Assert.Equal(1, r.ExitCode);
        string err = Regex.Replace(r.Stderr, @"\s+", " ");
        Assert.Contains("No ENA network interface in this network namespace. Interfaces and their drivers: lo (no driver), vB (veth).", err, StringComparison.Ordinal);
        Assert.Contains("Every network interface here is virtual (lo, vB)", err, StringComparison.Ordinal);
        Assert.Contains("host networking", err, StringComparison.Ordinal);

        var named = Support.Cli.Run(new[] { "Get-EnaLinkLocalStat -Interface vB | ForEach-Object { $_.Support; $_.Note }" }, null, netns: lab.NsB);
        Assert.True(named.ExitCode == 0, named.ToString());
        Assert.StartsWith("NotEna\n", named.Stdout, StringComparison.Ordinal);
        Assert.Contains("Every network interface here is virtual", named.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// -Watch as a user runs it: a line per interval while packets flow, the packets sent in one interval showing as
    /// that interval's delta, and Ctrl+C (SIGINT) stopping it with the CLI's "stopped" exit code.
    /// </summary>
    [LabFact]
    public void Watch_in_the_CLI_shows_each_interval_delta_and_stops_on_ctrl_c()
    {
        using var lab = VethLab.Create();
        lab.EnableNapiCounting();
        const string Command = "Get-EnaLinkLocalStat -Interface vB -All -Watch -SampleInterval 0.5 | Where-Object Name -eq 'rx_queue_0_xdp_packets' | ForEach-Object { 'TICK {0} {1}' -f $_.Value, $_.Delta }";
        var psi = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "netns", "exec", lab.NsB, "dotnet", Repo.CliDll, Command })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["CI"] = "true";
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "200";
        var ticks = new BlockingCollection<(ulong Value, long Delta)>();
        var stderr = new ConcurrentQueue<string>();
        using var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) =>
        {
            var m = e.Data is null ? null : Regex.Match(e.Data, @"^TICK (\d+) (-?\d+)$");
            if (m is { Success: true })
            {
                ticks.Add((ulong.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)));
            }
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                stderr.Enqueue(e.Data);
            }
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            Assert.True(ticks.TryTake(out var first, TimeSpan.FromSeconds(60)), "no first interval: " + string.Join("\n", stderr));
            Assert.Equal((0UL, 0L), first);
            lab.Ping(5);
            long sum = 0;
            var seen = new List<(ulong, long)>();
            while (sum < 5 && ticks.TryTake(out var tick, TimeSpan.FromSeconds(20)))
            {
                seen.Add(tick);
                sum += tick.Delta;
            }

            Assert.Equal(5, sum);
            Assert.Equal(5UL, seen[^1].Item1);
            Assert.True(ticks.TryTake(out var quiet, TimeSpan.FromSeconds(20)), "the watch should keep going");
            Assert.Equal((5UL, 0L), quiet);

            ProcessRunner.Check("kill", "-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(p.WaitForExit(30_000), "the CLI did not stop on SIGINT");
            p.WaitForExit();
            Assert.Equal(130, p.ExitCode);
            Assert.Contains("imds-troubleshoot: stopped.", stderr, StringComparer.Ordinal);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
    }
}
