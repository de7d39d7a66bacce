using System;
using System.Collections.Generic;
using System.Linq;
using ImdsTroubleshoot.Engine.Ena;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>
/// The ENA interpretation over captured <c>ethtool -S</c> outputs of real ENA (and non-ENA) interfaces, fed
/// through the same parser-to-snapshot path as a live reading.
/// </summary>
public sealed class EnaInterpretationTests
{
    private static readonly Dictionary<string, ulong> NoChange = new();

    [Fact]
    public void Modern_ENA_with_customer_metrics_reports_all_six_counters_and_what_they_mean()
    {
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("ens34", EnaFixtures.Modern, null));

        Assert.Equal("ens34", r.Interface);
        Assert.True(r.IsEna); // no ethtool -i in the capture: the counters themselves say ENA
        Assert.Equal(EnaCounterSupport.Supported, r.Support);
        Assert.Equal(3_241_329UL, r.BwInAllowanceExceeded);
        Assert.Equal(530UL, r.BwOutAllowanceExceeded);
        Assert.Equal(784UL, r.PpsAllowanceExceeded);
        Assert.Equal(0UL, r.ConntrackAllowanceExceeded);
        Assert.Equal(0UL, r.LinkLocalAllowanceExceeded);
        Assert.Equal(615_471UL, r.ConntrackAllowanceAvailable);
        Assert.All(r.Counters, c => Assert.True(c.Supported, c.Name));
        Assert.Equal(EnaCounters.All.Select(c => c.Name), r.Counters.Select(c => c.Name));

        // One reading: what happened since the device reset, not "now".
        Assert.Equal(EnaThrottling.SinceReset, r.Throttling);
        Assert.Equal(new[] { "bw_in_allowance_exceeded", "bw_out_allowance_exceeded", "pps_allowance_exceeded" }, r.ThrottledBy);
        Assert.Equal(EnaStatus.Warning, r.Status);
        Assert.Contains("since the last device reset", r.Assessment, StringComparison.Ordinal);
        Assert.Contains("bw_in_allowance_exceeded 3,241,329", r.Assessment, StringComparison.Ordinal);
        Assert.Contains("-Count", r.Assessment, StringComparison.Ordinal);
        Assert.Equal("since reset: BwIn, BwOut, Pps", r.Summary);
        Assert.DoesNotContain("conntrack_allowance_available", r.ThrottledBy);
        Assert.Null(r.LinkLocalDelta);
        Assert.False(r.Sampled);
        Assert.Null(r.Note);
        Assert.Equal(EthtoolSource.Text, r.Source);

        var linkLocal = r.Counter(EnaCounters.LinkLocalAllowanceExceeded)!;
        Assert.Equal(EnaCounterScope.NetworkInterface, linkLocal.Scope);
        Assert.Contains("169.254.169.254", linkLocal.Meaning, StringComparison.Ordinal);
        Assert.Contains("1024 packets per second", linkLocal.Meaning, StringComparison.Ordinal);
        var available = r.Counter(EnaCounters.ConntrackAllowanceAvailable)!;
        Assert.Equal(EnaCounterKind.Gauge, available.Kind);
        Assert.Contains("not a count of drops", available.Meaning, StringComparison.Ordinal);
        Assert.Equal("2.8.1", available.IntroducedIn);
    }

    [Fact]
    public void The_AWS_documentation_example_has_five_counters_and_says_the_sixth_is_not_reported()
    {
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("eth0", EnaFixtures.AwsDoc, null));
        Assert.Equal(EnaCounterSupport.Supported, r.Support);
        Assert.Equal(EnaThrottling.None, r.Throttling);
        Assert.Equal(EnaStatus.Ok, r.Status);
        Assert.Empty(r.ThrottledBy);
        Assert.Equal(0UL, r.LinkLocalAllowanceExceeded);
        Assert.Contains("all 5 counters are 0", r.Assessment, StringComparison.Ordinal);
        Assert.Equal("nothing exceeded since reset", r.Summary);

        var available = r.Counter(EnaCounters.ConntrackAllowanceAvailable)!;
        Assert.False(available.Supported);
        Assert.Null(available.Value); // unknown, never 0
        Assert.Null(r.ConntrackAllowanceAvailable);
        Assert.Contains("conntrack_allowance_available needs ENA 2.8.1", r.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void In_tree_ENA_on_Flatcar_reports_the_bandwidth_shaping_it_saw()
    {
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("eth0", EnaFixtures.Flatcar, EnaFixtures.DriverInfo("ena", "5.15.106-flatcar", "0000:00:05.0")));
        Assert.True(r.IsEna);
        Assert.Equal("ena", r.Driver);
        Assert.Equal("5.15.106-flatcar", r.DriverVersion);
        Assert.Equal("0000:00:05.0", r.BusInfo);
        Assert.Equal(EnaCounterSupport.Supported, r.Support);
        Assert.Equal(77_193UL, r.BwInAllowanceExceeded);
        Assert.Equal(8_487UL, r.BwOutAllowanceExceeded);
        Assert.Equal(new[] { "bw_in_allowance_exceeded", "bw_out_allowance_exceeded" }, r.ThrottledBy);
        Assert.DoesNotContain(EnaCounters.LinkLocalAllowanceExceeded, r.ThrottledBy);
        Assert.Equal(0UL, r.LinkLocalAllowanceExceeded);
    }

    [Fact]
    public void Link_local_drops_since_reset_are_called_out_for_IMDS()
    {
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("eth0", EnaFixtures.Synthesized2210, EnaFixtures.DriverInfo("ena", "2.2.10g", "0000:00:05.0")));
        Assert.Equal(1234UL, r.LinkLocalAllowanceExceeded);
        Assert.Equal(EnaThrottling.SinceReset, r.Throttling);
        Assert.Equal(new[] { "linklocal_allowance_exceeded" }, r.ThrottledBy);
        Assert.Equal(EnaStatus.Warning, r.Status);
        Assert.Contains("IMDS, DNS or Time Sync packets were dropped", r.Assessment, StringComparison.Ordinal);
        Assert.False(r.Counter(EnaCounters.ConntrackAllowanceAvailable)!.Supported);
    }

    [Fact]
    public void An_ENA_driver_older_than_2_2_10_is_not_reported_as_zeros()
    {
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("eth0", EnaFixtures.Old, EnaFixtures.Text(EnaFixtures.OldInfo)));
        Assert.True(r.IsEna);
        Assert.Equal("ena", r.Driver);
        Assert.Equal("1.2.0k", r.DriverVersion);
        Assert.Equal(EnaCounterSupport.DriverTooOld, r.Support);
        Assert.All(r.Counters, c =>
        {
            Assert.False(c.Supported);
            Assert.Null(c.Value);
        });
        Assert.Null(r.LinkLocalAllowanceExceeded);
        Assert.Equal(EnaThrottling.Unknown, r.Throttling);
        Assert.Equal(EnaStatus.NotApplicable, r.Status);
        Assert.Contains("1.2.0k is older than 2.2.10", r.Assessment, StringComparison.Ordinal);
        Assert.Equal("ENA 1.2.0k older than 2.2.10: no counters", r.Summary);
        Assert.Contains("unknown here, not 0", r.Assessment, StringComparison.Ordinal);
        Assert.Contains("amzn-drivers", r.Assessment, StringComparison.Ordinal);
    }

    [Fact]
    public void An_in_tree_ENA_that_reports_the_kernel_release_and_no_counters_is_explained()
    {
        // amzn-drivers#184: RHEL 8.4, `ethtool -i` version is the kernel release and `ethtool -S | grep exceeded` is empty.
        // Its statistics here are the 1.2.0k capture's (no allowance counters), with RHEL's version string.
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("eth0", EnaFixtures.Old, EnaFixtures.DriverInfo("ena", "4.18.0-305.12.1.el8_4.x86_64", "0000:00:05.0")));
        Assert.Equal(EnaCounterSupport.NotReported, r.Support);
        Assert.Contains("kernel release, 4.18.0-305.12.1.el8_4.x86_64", r.Assessment, StringComparison.Ordinal);
        Assert.Contains("about 5.9", r.Assessment, StringComparison.Ordinal);
        Assert.Equal(EnaThrottling.Unknown, r.Throttling);
    }

    [Fact]
    public void A_current_ENA_on_a_device_without_the_metrics_blames_the_device()
    {
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("eth0", EnaFixtures.Old, EnaFixtures.DriverInfo("ena", "2.17.0g", "0000:00:05.0")));
        Assert.Equal(EnaCounterSupport.NotReported, r.Support);
        Assert.Contains("this device does not offer them", r.Assessment, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1.2.0k", "1.2.0", EnaDriverFlavor.InTree, true)]
    [InlineData("2.1.0K", "2.1.0", EnaDriverFlavor.InTree, true)]
    [InlineData("2.2.9g", "2.2.9", EnaDriverFlavor.OutOfTree, true)]
    [InlineData("2.2.10g", "2.2.10", EnaDriverFlavor.OutOfTree, false)]
    [InlineData("2.13.0g", "2.13.0", EnaDriverFlavor.OutOfTree, false)]
    [InlineData("1.0.2", "1.0.2", EnaDriverFlavor.Unknown, true)]
    [InlineData("4.18.0-305.12.1.el8_4.x86_64", null, EnaDriverFlavor.InTreeKernelRelease, false)]
    [InlineData("6.8.0-1021-aws", null, EnaDriverFlavor.InTreeKernelRelease, false)]
    [InlineData("", null, EnaDriverFlavor.Unknown, false)]
    public void Reads_ENA_driver_version_strings(string text, string? version, EnaDriverFlavor flavor, bool tooOld)
    {
        var v = EnaCounters.ParseDriverVersion(text);
        Assert.Equal(version is null ? null : Version.Parse(version), v.Version);
        Assert.Equal(flavor, v.Flavor);
        Assert.Equal(tooOld, v.PredatesAllowanceCounters);
    }

    [Fact]
    public void Xen_netfront_is_not_ENA_and_says_so_rather_than_zero()
    {
        // The capture has no `ethtool -i`; netfront has no get_drvinfo, so the kernel reports its xenbus driver, "vif".
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("eth0", EnaFixtures.XenVif, EnaFixtures.DriverInfo("vif", "5.19.0-1025-aws", "vif-0")));
        Assert.False(r.IsEna);
        Assert.Equal(EnaCounterSupport.NotEna, r.Support);
        Assert.Null(r.LinkLocalAllowanceExceeded);
        Assert.All(r.Counters, c => Assert.False(c.Supported));
        Assert.Equal(EnaThrottling.Unknown, r.Throttling);
        Assert.Equal(EnaStatus.NotApplicable, r.Status);
        Assert.Contains("Xen netfront (driver vif)", r.Assessment, StringComparison.Ordinal);
        Assert.Equal("not ENA (vif): no counters", r.Summary);
        Assert.Contains("unknown, not 0", r.Assessment, StringComparison.Ordinal);
    }

    [Fact]
    public void Virtio_net_is_not_ENA()
    {
        var r = EnaInterpreter.Interpret(EnaFixtures.Snapshot("eth0", EnaFixtures.Virtio, EnaFixtures.Text(EnaFixtures.VirtioInfo)), note: "a namespace note");
        Assert.Equal(EnaCounterSupport.NotEna, r.Support);
        Assert.Equal("virtio_net", r.Driver);
        Assert.Equal("1.0.0", r.DriverVersion);
        Assert.Contains("probably not an EC2 instance", r.Assessment, StringComparison.Ordinal);
        Assert.Equal("a namespace note", r.Note);
    }

    [Fact]
    public void Sampling_a_link_local_storm_is_throttling_now_with_deltas_rates_and_a_fail()
    {
        var t0 = EnaFixtures.Snapshot("ens34", EnaFixtures.Modern, null);
        // Derived test data: 2 s later 37 link-local drops, 4 s later 37 more, the gauge going down.
        var t1 = EnaFixtures.Later(t0, TimeSpan.FromSeconds(2), new Dictionary<string, ulong>
        {
            [EnaCounters.LinkLocalAllowanceExceeded] = 37,
            [EnaCounters.ConntrackAllowanceAvailable] = 615_000,
        });
        var t2 = EnaFixtures.Later(t0, TimeSpan.FromSeconds(4), new Dictionary<string, ulong>
        {
            [EnaCounters.LinkLocalAllowanceExceeded] = 74,
            [EnaCounters.ConntrackAllowanceAvailable] = 615_200,
        });
        var r = EnaInterpreter.Interpret(new[] { t0, t1, t2 });

        Assert.True(r.Sampled);
        Assert.Equal(3, r.SampleCount);
        Assert.Equal(TimeSpan.FromSeconds(4), r.Elapsed);
        Assert.Equal(74UL, r.LinkLocalAllowanceExceeded);
        Assert.Equal(74UL, r.LinkLocalDelta);
        Assert.Equal(18.5, r.LinkLocalPerSecond);
        Assert.Equal(18.5, r.Counter(EnaCounters.LinkLocalAllowanceExceeded)!.PeakPerSecond);
        Assert.Equal(EnaThrottling.Now, r.Throttling);
        Assert.Equal(new[] { "linklocal_allowance_exceeded" }, r.ThrottledBy);
        Assert.Equal(EnaStatus.Fail, r.Status);
        Assert.StartsWith("Throttling now (3 samples over 4.0 s): linklocal_allowance_exceeded +74 (18.5/s)", r.Assessment, StringComparison.Ordinal);
        Assert.Contains("backoff", r.Assessment, StringComparison.Ordinal);
        Assert.Equal("LinkLocal +74 (18.5/s)", r.Summary);

        // Counters that did not move have a delta of 0 (not null); the gauge has none and keeps its lowest level.
        Assert.Equal(0UL, r.Counter(EnaCounters.PpsAllowanceExceeded)!.Delta);
        Assert.Equal(0.0, r.Counter(EnaCounters.PpsAllowanceExceeded)!.PerSecond);
        var gauge = r.Counter(EnaCounters.ConntrackAllowanceAvailable)!;
        Assert.Null(gauge.Delta);
        Assert.Null(gauge.PerSecond);
        Assert.Equal(615_200UL, gauge.Value);
        Assert.Equal(615_000UL, gauge.Minimum);
    }

    [Fact]
    public void Sampling_with_nothing_moving_is_not_throttling_now_even_with_old_drops()
    {
        var t0 = EnaFixtures.Snapshot("ens34", EnaFixtures.Modern, null);
        var t1 = EnaFixtures.Later(t0, TimeSpan.FromSeconds(5), NoChange);
        var r = EnaInterpreter.Interpret(new[] { t0, t1 });
        Assert.Equal(EnaThrottling.NotNow, r.Throttling);
        Assert.Equal(EnaStatus.Ok, r.Status);
        Assert.Empty(r.ThrottledBy);
        Assert.Equal(0UL, r.LinkLocalDelta);
        Assert.Equal(0.0, r.LinkLocalPerSecond);
        Assert.StartsWith("No throttling while sampling (2 samples over 5.0 s)", r.Assessment, StringComparison.Ordinal);
        Assert.Equal("nothing moved in 5.0 s", r.Summary);
        Assert.Contains("Earlier, since the last device reset: bw_in_allowance_exceeded 3,241,329", r.Assessment, StringComparison.Ordinal);
    }

    [Fact]
    public void Instance_allowances_exceeded_now_are_a_warning_not_a_link_local_fail()
    {
        var t0 = EnaFixtures.Snapshot("ens34", EnaFixtures.Modern, null);
        var t1 = EnaFixtures.Later(t0, TimeSpan.FromSeconds(1), new Dictionary<string, ulong> { [EnaCounters.PpsAllowanceExceeded] = 800 });
        var r = EnaInterpreter.Interpret(new[] { t0, t1 });
        Assert.Equal(EnaThrottling.Now, r.Throttling);
        Assert.Equal(EnaStatus.Warning, r.Status);
        Assert.Equal(16UL, r.Counter(EnaCounters.PpsAllowanceExceeded)!.Delta);
        Assert.Contains("packets-per-second allowance", r.Assessment, StringComparison.Ordinal);
    }

    [Fact]
    public void A_counter_that_goes_back_was_reset_and_counts_from_zero()
    {
        var t0 = EnaFixtures.Snapshot("eth0", EnaFixtures.Synthesized2210, null); // linklocal 1234
        var t1 = EnaFixtures.Later(t0, TimeSpan.FromSeconds(1), new Dictionary<string, ulong> { [EnaCounters.LinkLocalAllowanceExceeded] = 1240 });
        var t2 = EnaFixtures.Later(t0, TimeSpan.FromSeconds(2), new Dictionary<string, ulong> { [EnaCounters.LinkLocalAllowanceExceeded] = 3 });
        var r = EnaInterpreter.Interpret(new[] { t0, t1, t2 });
        var c = r.Counter(EnaCounters.LinkLocalAllowanceExceeded)!;
        Assert.True(c.Reset);
        Assert.Equal(6UL + 3UL, c.Delta);
        Assert.Contains("device was reset", r.Assessment, StringComparison.Ordinal);
    }

    [Fact]
    public void A_counter_missing_from_a_sample_breaks_its_series_instead_of_inventing_a_change()
    {
        var t0 = EnaFixtures.Snapshot("eth0", EnaFixtures.Synthesized2210, null);
        var t1 = EnaFixtures.Without(t0, TimeSpan.FromSeconds(1), EnaCounters.LinkLocalAllowanceExceeded);
        var t2 = EnaFixtures.Later(t0, TimeSpan.FromSeconds(2), new Dictionary<string, ulong> { [EnaCounters.LinkLocalAllowanceExceeded] = 5000 });
        var r = EnaInterpreter.Interpret(new[] { t0, t1, t2 });
        var c = r.Counter(EnaCounters.LinkLocalAllowanceExceeded)!;
        Assert.True(c.Supported);
        Assert.Null(c.Delta);
        Assert.Equal(0UL, r.Counter(EnaCounters.PpsAllowanceExceeded)!.Delta);
    }

    [Fact]
    public void Snapshots_of_different_interfaces_cannot_be_mixed()
    {
        var a = EnaFixtures.Snapshot("eth0", EnaFixtures.AwsDoc, null);
        var b = EnaFixtures.Snapshot("eth1", EnaFixtures.AwsDoc, null);
        Assert.Throws<ArgumentException>(() => EnaInterpreter.Interpret(new[] { a, b }));
        Assert.Throws<ArgumentException>(() => EnaInterpreter.Interpret(Array.Empty<EthtoolSnapshot>()));
    }

    [Fact]
    public void All_statistics_come_back_as_name_value_pairs_in_driver_order_with_signed_changes()
    {
        var t0 = EnaFixtures.Snapshot("ens34", EnaFixtures.Modern, null);
        var t1 = EnaFixtures.Later(t0, TimeSpan.FromSeconds(2), new Dictionary<string, ulong>
        {
            ["queue_3_rx_cnt"] = 18_958_702 + 200,
            [EnaCounters.ConntrackAllowanceAvailable] = 615_071,
        });
        var all = EnaInterpreter.AllStatistics(new[] { t0, t1 });
        Assert.Equal(t0.Statistics.Select(s => s.Name), all.Select(s => s.Name));
        Assert.Equal(Enumerable.Range(0, all.Count), all.Select(s => s.Index));
        var rx = all.Single(s => s.Name == "queue_3_rx_cnt");
        Assert.Equal(200, rx.Delta);
        Assert.Equal(100.0, rx.PerSecond);
        Assert.Equal(-400, all.Single(s => s.Name == EnaCounters.ConntrackAllowanceAvailable).Delta);
        Assert.All(EnaInterpreter.AllStatistics(new[] { t0 }), s => Assert.Null(s.Delta));
    }
}
