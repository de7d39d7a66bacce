using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>The integrator's API: linklocal_allowance_exceeded per ENA interface, and its delta around a probe.</summary>
public sealed class EnaStatisticsTests
{
    /// <summary>Interfaces and their successive snapshots, from captures: what the kernel would hand out, in order.</summary>
    internal sealed class CaptureSource : IEnaCounterSource
    {
        private readonly List<DiscoveredInterface> _interfaces = new();
        private readonly Dictionary<string, Queue<Func<EthtoolSnapshot>>> _reads = new();

        public CaptureSource Add(string name, string? busDriver, EthtoolDriverInfo? info, params Func<EthtoolSnapshot>[] reads)
        {
            var entry = new NetworkInterfaceEntry(name, _interfaces.Count + 2, busDriver, busDriver is null, busDriver == "ena" ? "0x1d0f" : null, busDriver == "ena" ? "0xec20" : null, "up");
            _interfaces.Add(new DiscoveredInterface(entry, info));
            _reads[name] = new Queue<Func<EthtoolSnapshot>>(reads);
            return this;
        }

        public IReadOnlyList<DiscoveredInterface> Discover() => _interfaces;

        public EthtoolSnapshot Read(DiscoveredInterface target, CancellationToken cancellationToken) => _reads[target.Name].Dequeue()();
    }

    internal static readonly EthtoolDriverInfo Ena = new("ena", "2.13.0g", string.Empty, string.Empty, "0000:00:05.0", 77);

    internal static EthtoolSnapshot Modern(string name, TimeSpan at, ulong linkLocal)
    {
        var s = EthtoolText.ParseSnapshot(name, EnaFixtures.Text(EnaFixtures.Modern), EnaFixtures.DriverInfo("ena", "2.13.0g", "0000:00:05.0"), EnaFixtures.T0);
        return EnaFixtures.Later(s, at, new Dictionary<string, ulong> { [EnaCounters.LinkLocalAllowanceExceeded] = linkLocal });
    }

    [Fact]
    public void A_probe_during_which_link_local_packets_were_dropped_reports_the_delta()
    {
        var source = new CaptureSource()
            .Add("ens5", "ena", Ena, () => Modern("ens5", TimeSpan.Zero, 100), () => Modern("ens5", TimeSpan.FromSeconds(3), 137))
            .Add("ens6", "ena", Ena, () => Modern("ens6", TimeSpan.Zero, 0), () => Modern("ens6", TimeSpan.FromSeconds(3), 0))
            .Add("lo", null, null);

        var probe = EnaStatistics.StartProbe(source, CancellationToken.None);
        Assert.True(probe.Before.Available);
        Assert.Equal(new[] { "ens5", "ens6" }, probe.Before.Interfaces.Select(i => i.Interface));
        Assert.Equal(100UL, probe.Before.Interfaces[0].Value);
        Assert.Equal("2.13.0g", probe.Before.Interfaces[0].DriverVersion);
        Assert.Null(probe.Before.Note);

        var change = probe.Complete();
        Assert.True(change.Available);
        Assert.True(change.Throttled);
        Assert.Equal(37UL, change.TotalDelta);
        Assert.Equal(TimeSpan.FromSeconds(3), change.Elapsed);
        var ens5 = change.Interfaces.Single(i => i.Interface == "ens5");
        Assert.Equal((100UL, 137UL, 37UL), (ens5.Before, ens5.After, ens5.Delta));
        Assert.Equal(0UL, change.Interfaces.Single(i => i.Interface == "ens6").Delta);
        Assert.Contains("+37 on ens5 (100 -> 137)", change.Summary, StringComparison.Ordinal);
        Assert.Contains("1024 packets/s", change.Summary, StringComparison.Ordinal);
        Assert.DoesNotContain("ens6", change.Summary, StringComparison.Ordinal);
        // The full verdict over the window rides along, e.g. for Invoke-ImdsDiagnosis.
        Assert.Equal(EnaStatus.Fail, change.Details.Single(d => d.Interface == "ens5").Status);
        Assert.Equal(EnaThrottling.NotNow, change.Details.Single(d => d.Interface == "ens6").Throttling);
    }

    [Fact]
    public void A_quiet_probe_rules_out_the_link_local_limit()
    {
        var source = new CaptureSource()
            .Add("ens5", "ena", Ena, () => Modern("ens5", TimeSpan.Zero, 12), () => Modern("ens5", TimeSpan.FromSeconds(1), 12));
        var change = EnaStatistics.StartProbe(source, CancellationToken.None).Complete();
        Assert.False(change.Throttled);
        Assert.Equal(0UL, change.TotalDelta);
        Assert.Contains("did not move during the probe in 1.0 s (ens5 12 since the last device reset)", change.Summary, StringComparison.Ordinal);
        Assert.Contains("not the cause", change.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_an_ENA_interface_the_reading_says_why_and_which_drivers_there_are()
    {
        var virtio = EthtoolDriverInfo.Parse(EnaFixtures.Text(EnaFixtures.VirtioInfo));
        var source = new CaptureSource().Add("eth0", "virtio_net", virtio).Add("lo", null, null);
        var reading = EnaStatistics.TryReadLinkLocal(source, CancellationToken.None);
        Assert.False(reading.Available);
        Assert.Empty(reading.Interfaces);
        Assert.Contains("No ENA network interface", reading.Note, StringComparison.Ordinal);
        Assert.Contains("eth0 (virtio_net), lo (no driver)", reading.Note, StringComparison.Ordinal);

        var change = EnaStatistics.Compare(reading, reading);
        Assert.False(change.Available);
        Assert.False(change.Throttled);
        Assert.StartsWith("ENA linklocal_allowance_exceeded is not available", change.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_virtual_interfaces_mean_a_container_where_the_host_ENA_is_invisible()
    {
        var veth = new EthtoolDriverInfo("veth", "1.0", string.Empty, string.Empty, string.Empty, 10);
        var source = new CaptureSource().Add("eth0", null, veth).Add("lo", null, null);
        var reading = EnaStatistics.TryReadLinkLocal(source, CancellationToken.None);
        Assert.Contains("eth0 (veth)", reading.Note, StringComparison.Ordinal);
        Assert.Contains("Every network interface here is virtual (eth0, lo)", reading.Note, StringComparison.Ordinal);
        Assert.Contains("host networking", reading.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void An_old_ENA_driver_gives_no_value_and_a_reason_instead_of_zero()
    {
        var old = EthtoolDriverInfo.Parse(EnaFixtures.Text(EnaFixtures.OldInfo));
        var source = new CaptureSource().Add("eth0", "ena", old, () => EnaFixtures.Snapshot("eth0", EnaFixtures.Old, EnaFixtures.Text(EnaFixtures.OldInfo)));
        var reading = EnaStatistics.TryReadLinkLocal(source, CancellationToken.None);
        var eth0 = Assert.Single(reading.Interfaces);
        Assert.False(eth0.Supported);
        Assert.Null(eth0.Value);
        Assert.Equal(EnaCounterSupport.DriverTooOld, eth0.Support);
        Assert.Contains("older than 2.2.10", eth0.Problem, StringComparison.Ordinal);
        Assert.False(reading.Available);
        Assert.Contains("eth0: The ENA driver 1.2.0k", reading.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void A_read_failure_is_a_reason_not_an_exception()
    {
        var source = new CaptureSource().Add("ens5", "ena", Ena,
            () => throw new NetworkInterfaceNotFoundException("There is no network interface 'ens5' in this network namespace.", "ens5", 19));
        var reading = EnaStatistics.TryReadLinkLocal(source, CancellationToken.None);
        var ens5 = Assert.Single(reading.Interfaces);
        Assert.Null(ens5.Value);
        Assert.Contains("no network interface 'ens5'", ens5.Problem, StringComparison.Ordinal);
    }

    /// <summary>The real thing on this machine: the ENA interfaces the API finds are exactly those ethtool -i calls "ena".</summary>
    [Fact]
    public void On_this_machine_the_reading_matches_what_ethtool_says_about_each_interface()
    {
        var enaByEthtool = Directory.GetFileSystemEntries("/sys/class/net")
            .Select(Path.GetFileName)
            .Where(name => ProcessRunner.Run("ethtool", new[] { "-i", name! }, TimeSpan.FromSeconds(30)).Stdout.Contains("driver: ena\n", StringComparison.Ordinal))
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToList();

        var probe = EnaStatistics.StartProbe();
        var change = probe.Complete();
        Assert.Equal(enaByEthtool, probe.Before.Interfaces.Select(i => i.Interface).OrderBy(n => n, StringComparer.Ordinal));
        if (enaByEthtool.Count == 0)
        {
            Assert.False(probe.Before.Available);
            Assert.Contains("No ENA network interface", probe.Before.Note, StringComparison.Ordinal);
            foreach (string name in Directory.GetFileSystemEntries("/sys/class/net").Select(p => Path.GetFileName(p)))
            {
                Assert.Contains(name + " (", probe.Before.Note, StringComparison.Ordinal);
            }

            Assert.StartsWith("ENA linklocal_allowance_exceeded is not available", change.Summary, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(probe.Before.Interfaces.Count(i => i.Supported), change.Interfaces.Count);
        }
    }
}
