using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>Get-EnaLinkLocalStat in a real runspace with the staged module, on this machine's own interfaces.</summary>
public sealed class EnaCmdletTests : IClassFixture<EnaCmdletTests.Session>
{
    private readonly PsSession _ps;

    public EnaCmdletTests(Session session)
    {
        _ps = session.Ps;
    }

    public sealed class Session : IDisposable
    {
        public PsSession Ps { get; } = new();

        public void Dispose() => Ps.Dispose();
    }

    private static readonly string[] SysInterfaces = Directory.GetFileSystemEntries("/sys/class/net").Select(p => Path.GetFileName(p)).ToArray();

    /// <summary>This machine's interfaces whose driver ethtool reports, with the driver, by the ethtool binary (an independent path).</summary>
    private static Dictionary<string, string> DriversByEthtool() => SysInterfaces
        .Select(n => (Name: n, Out: ProcessRunner.Run("ethtool", new[] { "-i", n }, TimeSpan.FromSeconds(30))))
        .Where(x => x.Out.ExitCode == 0)
        .ToDictionary(x => x.Name, x => x.Out.Stdout.Split('\n')[0].Replace("driver: ", string.Empty, StringComparison.Ordinal).Trim());

    /// <summary>An interface of this machine's namespace that has driver statistics (eth0's virtio_net here, ena on EC2).</summary>
    private static string InterfaceWithStatistics()
    {
        foreach (string name in SysInterfaces.OrderBy(n => n == "lo" ? 1 : 0))
        {
            if (ProcessRunner.Run("ethtool", new[] { "-S", name }, TimeSpan.FromSeconds(30)).ExitCode == 0)
            {
                return name;
            }
        }

        throw new InvalidOperationException("No interface of the test machine has driver statistics (ethtool -S fails on all of " + string.Join(", ", SysInterfaces) + ").");
    }

    private static Dictionary<string, ulong> EthtoolS(string name) => EthtoolText.ParseStatistics(ProcessRunner.Check("ethtool", "-S", name).Stdout)
        .GroupBy(s => s.Name).ToDictionary(g => g.Key, g => g.First().Value);

    [Fact]
    public void Without_parameters_it_reads_every_ENA_interface_or_says_there_is_none_and_which_drivers_exist()
    {
        var drivers = DriversByEthtool();
        var ena = drivers.Where(d => d.Value == "ena").Select(d => d.Key).OrderBy(n => n, StringComparer.Ordinal).ToList();
        var r = _ps.Invoke("Get-EnaLinkLocalStat");
        if (ena.Count == 0)
        {
            Assert.Empty(r.Output);
            var error = Assert.Single(r.AllErrors);
            Assert.Equal("NoEnaInterface,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
            string message = error.Exception.Message;
            Assert.StartsWith("No ENA network interface in this network namespace.", message, StringComparison.Ordinal);
            foreach (var (name, driver) in drivers)
            {
                Assert.Contains($"{name} ({driver})", message, StringComparison.Ordinal);
            }

            Assert.Contains("Get-EnaLinkLocalStat -All", error.ErrorDetails.RecommendedAction, StringComparison.Ordinal);
        }
        else
        {
            Assert.Empty(r.AllErrors);
            Assert.Equal(ena, r.Objects<EnaInterfaceStatistics>().Select(o => o.Interface).OrderBy(n => n, StringComparer.Ordinal));
        }
    }

    [Fact]
    public void A_named_non_ENA_interface_gets_a_result_that_says_not_ENA_not_zeros()
    {
        string name = InterfaceWithStatistics();
        string driver = DriversByEthtool()[name];
        var r = _ps.Ok($"Get-EnaLinkLocalStat -Interface {name}");
        var result = Assert.Single(r.Objects<EnaInterfaceStatistics>());
        Assert.Equal(name, result.Interface);
        Assert.Equal(driver, result.Driver);
        Assert.Equal(EthtoolSource.Kernel, result.Source);
        if (driver != "ena")
        {
            Assert.Equal(EnaCounterSupport.NotEna, result.Support);
            Assert.Null(result.LinkLocalAllowanceExceeded);
            Assert.All(result.Counters, c => Assert.False(c.Supported));
            Assert.StartsWith("Not an ENA interface", result.Assessment, StringComparison.Ordinal);
            Assert.Equal(EnaStatus.NotApplicable, result.Status);
        }
    }

    [Fact]
    public void No_such_interface_is_ObjectNotFound_and_the_other_names_go_on()
    {
        string good = InterfaceWithStatistics();
        var r = _ps.Invoke($"Get-EnaLinkLocalStat -Interface nope0, {good}, nope1");
        Assert.Null(r.Terminating);
        Assert.Equal(2, r.Errors.Count);
        Assert.All(r.Errors, e =>
        {
            Assert.Equal("NetworkInterfaceNotFound,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand", e.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ObjectNotFound, e.CategoryInfo.Category);
            Assert.Contains("in this network namespace", e.Exception.Message, StringComparison.Ordinal);
        });
        Assert.Equal(new[] { "nope0", "nope1" }, r.Errors.Select(e => e.TargetObject));
        Assert.Equal(good, Assert.Single(r.Objects<EnaInterfaceStatistics>()).Interface);
    }

    [Fact]
    public void Loopback_is_a_clear_no_statistics_error()
    {
        var r = _ps.Invoke("Get-EnaLinkLocalStat -Interface lo");
        Assert.Empty(r.Output);
        var e = Assert.Single(r.Errors);
        Assert.Equal("InterfaceStatisticsNotSupported,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.NotImplemented, e.CategoryInfo.Category);
        Assert.Contains("no driver statistics", e.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("no stats available", e.Exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("'bad/name'")]
    [InlineData("'much-too-long-name0'")]
    [InlineData("'with space'")]
    public void A_name_that_cannot_be_an_interface_is_InvalidArgument(string name)
    {
        var r = _ps.Invoke($"Get-EnaLinkLocalStat -Interface {name}");
        var e = Assert.Single(r.Errors);
        Assert.Equal("InvalidInterfaceName,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
    }

    [Fact]
    public void All_returns_every_statistic_as_name_value_pairs_like_ethtool_S()
    {
        string name = InterfaceWithStatistics();
        var before = EthtoolS(name);
        var r = _ps.Ok($"Get-EnaLinkLocalStat -Interface {name} -All");
        var after = EthtoolS(name);
        var stats = r.Objects<InterfaceStatistic>().ToList();
        var ethtoolNames = EthtoolText.ParseStatistics(ProcessRunner.Check("ethtool", "-S", name).Stdout).Select(s => s.Name);
        Assert.Equal(ethtoolNames, stats.Select(s => s.Name));
        foreach (var s in stats)
        {
            // A live NIC's counters may move between the readings: ours must lie between ethtool's before and after.
            Assert.InRange(s.Value, Math.Min(before[s.Name], after[s.Name]), Math.Max(before[s.Name], after[s.Name]));
            Assert.Equal(name, s.Interface);
            Assert.Null(s.Delta);
        }
    }

    [Fact]
    public void All_without_names_covers_every_interface_with_statistics_and_skips_those_without()
    {
        // Lab tests running meanwhile add and remove host links (NetworkLab.ConnectHost: ih<pid>x<n>): leave those out.
        static bool Stable(string n) => !System.Text.RegularExpressions.Regex.IsMatch(n, @"^ih\d+x\d+$");
        var withStats = SysInterfaces.Where(Stable).Where(n => ProcessRunner.Run("ethtool", new[] { "-S", n }, TimeSpan.FromSeconds(30)).ExitCode == 0).OrderBy(n => n, StringComparer.Ordinal);
        var r = _ps.Invoke("Get-EnaLinkLocalStat -All -Verbose");
        Assert.DoesNotContain(r.AllErrors, e => !System.Text.RegularExpressions.Regex.IsMatch(e.ToString(), @"\bih\d+x\d+\b"));
        Assert.Equal(withStats, r.Objects<InterfaceStatistic>().Select(s => s.Interface).Where(Stable).Distinct().OrderBy(n => n, StringComparer.Ordinal));
        Assert.Contains(r.Verbose, v => v.StartsWith("lo: no driver statistics, skipped", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0.3")]
    [InlineData("'300ms'")]
    [InlineData("([TimeSpan]::FromMilliseconds(300))")]
    [InlineData("'00:00:00.3'")]
    public void SampleInterval_takes_seconds_units_or_a_TimeSpan_and_Count_samples(string interval)
    {
        string name = InterfaceWithStatistics();
        var r = _ps.Ok($"Get-EnaLinkLocalStat -Interface {name} -SampleInterval {interval} -Count 3");
        var result = Assert.Single(r.Objects<EnaInterfaceStatistics>());
        Assert.Equal(3, result.SampleCount);
        Assert.True(result.Sampled);
        Assert.InRange(result.Elapsed.TotalSeconds, 0.55, 5);

        var progress = r.Progress.Where(p => p.ActivityId == 0x454e41).ToList();
        Assert.Contains(progress, p => p.StatusDescription.StartsWith("Sample 1 of 3, every 0.3 s: " + name, StringComparison.Ordinal) && p.PercentComplete == 33);
        Assert.Contains(progress, p => p.StatusDescription.StartsWith("Sample 3 of 3", StringComparison.Ordinal) && p.PercentComplete == 100);
        Assert.Equal(ProgressRecordType.Completed, progress[^1].RecordType);
    }

    [Theory]
    [InlineData("0.01")]
    [InlineData("7200")]
    public void A_sample_interval_out_of_range_is_InvalidArgument(string interval)
    {
        var r = _ps.Invoke($"Get-EnaLinkLocalStat -All -SampleInterval {interval}");
        var e = Assert.Single(r.AllErrors);
        Assert.Equal("InvalidSampleInterval,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
        Assert.Empty(r.Output);
    }

    [Fact]
    public void An_unreadable_interval_is_a_parameter_binding_error_not_ticks()
    {
        var r = _ps.Invoke("Get-EnaLinkLocalStat -All -SampleInterval 'soon'");
        var e = Assert.Single(r.AllErrors);
        Assert.Contains("is not a time", e.Exception.Message, StringComparison.Ordinal);
        Assert.Equal("ParameterArgumentTransformationError,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand", e.FullyQualifiedErrorId);
    }

    [Fact]
    public void Parameter_sets_keep_Watch_and_Count_apart()
    {
        var sets = _ps.Ok("(Get-Command Get-EnaLinkLocalStat).ParameterSets | ForEach-Object { $_.Name + ':' + ($_.Parameters.Name -join ',') }")
            .Output.Select(o => o.ToString()).ToList();
        Assert.Contains(sets, s => s.StartsWith("Once:Interface,All,", StringComparison.Ordinal) && !s.Contains("Count", StringComparison.Ordinal));
        Assert.Contains(sets, s => s.StartsWith("Sample:", StringComparison.Ordinal) && s.Contains("SampleInterval,Count", StringComparison.Ordinal));
        Assert.Contains(sets, s => s.StartsWith("Watch:", StringComparison.Ordinal) && s.Contains("Watch", StringComparison.Ordinal) && !s.Contains("Count", StringComparison.Ordinal));
        var r = _ps.Invoke("Get-EnaLinkLocalStat -Watch -Count 3");
        Assert.Equal("AmbiguousParameterSet,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand", Assert.Single(r.AllErrors).FullyQualifiedErrorId);
    }

    /// <summary>-Watch runs until Ctrl+C (PowerShell's Stop, which cancels the cmdlet's token), writing a result per interval.</summary>
    [Fact]
    public void Watch_writes_a_result_per_interval_until_stopped()
    {
        string name = InterfaceWithStatistics();
        using var ps = PowerShell.Create(_ps.Runspace);
        ps.AddCommand("Get-EnaLinkLocalStat").AddParameter("Interface", name).AddParameter("Watch").AddParameter("SampleInterval", 0.2);
        var output = new PSDataCollection<PSObject>();
        var input = new PSDataCollection<PSObject>();
        input.Complete();
        using var three = new CountdownEvent(3);
        output.DataAdded += (_, _) =>
        {
            if (!three.IsSet)
            {
                three.Signal();
            }
        };
        var started = DateTime.UtcNow;
        var async = ps.BeginInvoke(input, output);
        Assert.True(three.Wait(TimeSpan.FromSeconds(30)), "three results should arrive within 30 s");
        ps.Stop();
        Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(async));
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
        Assert.Empty(ps.Streams.Error);

        var results = output.Select(o => o.BaseObject).OfType<EnaInterfaceStatistics>().ToList();
        Assert.True(results.Count >= 3);
        Assert.All(results, x =>
        {
            Assert.Equal(name, x.Interface);
            Assert.Equal(2, x.SampleCount);
            Assert.InRange(x.Elapsed.TotalSeconds, 0.1, 5);
        });
        // Consecutive windows: each starts where the one before ended.
        Assert.Equal(results[0].Time, results[1].Start);
        Assert.Contains(ps.Streams.Progress, p => p.StatusDescription.Contains("Ctrl+C stops", StringComparison.Ordinal));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Watch_with_All_writes_name_value_pairs_with_changes_until_stopped()
    {
        string name = InterfaceWithStatistics();
        using var ps = PowerShell.Create(_ps.Runspace);
        ps.AddScript($"Get-EnaLinkLocalStat -Interface {name} -All -Watch -SampleInterval 0.2");
        var output = new PSDataCollection<PSObject>();
        var input = new PSDataCollection<PSObject>();
        input.Complete();
        int expected = EthtoolS(name).Count;
        using var done = new ManualResetEventSlim();
        output.DataAdded += (_, _) =>
        {
            if (output.Count >= 2 * expected)
            {
                done.Set();
            }
        };
        var async = ps.BeginInvoke(input, output);
        Assert.True(done.Wait(TimeSpan.FromSeconds(30)));
        ps.Stop();
        Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(async));
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
        var stats = output.Select(o => o.BaseObject).OfType<InterfaceStatistic>().ToList();
        Assert.All(stats, s => Assert.NotNull(s.Delta));
        Assert.Equal(stats.Take(expected).Select(s => s.Name), stats.Skip(expected).Take(expected).Select(s => s.Name));
    }

    [Fact]
    public void Results_pipe_back_by_interface_name()
    {
        string name = InterfaceWithStatistics();
        var r = _ps.Ok($"Get-EnaLinkLocalStat -Interface {name} | Get-EnaLinkLocalStat -Count 2 -SampleInterval 0.2");
        var result = Assert.Single(r.Objects<EnaInterfaceStatistics>());
        Assert.Equal(2, result.SampleCount);
    }
}
