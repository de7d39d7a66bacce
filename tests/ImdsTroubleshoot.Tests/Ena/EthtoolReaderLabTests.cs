using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Tests.Lab;
using ImdsTroubleshoot.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>
/// The SIOCETHTOOL reader against the kernel, on veth pairs in namespaces the tests build, checked against the
/// ethtool binary reading the same interface at the same moment.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class EthtoolReaderLabTests
{
    private readonly ITestOutputHelper _log;

    public EthtoolReaderLabTests(ITestOutputHelper log)
    {
        _log = log;
    }

    /// <summary>
    /// ethtool -S, our reader, ethtool -S again, until both ethtool readings agree (the counters were quiet in
    /// between); then ours must be byte-identical. The veth lab sends nothing by itself, so the first try normally holds.
    /// </summary>
    private static (string Ethtool, string Ours) ReadBothQuiescent(EthtoolReader reader, string ns, string iface)
    {
        for (int attempt = 0; attempt < 10; attempt++)
        {
            string before = VethLab.Ethtool(ns, "-S", iface);
            string ours = reader.Read(iface).ToEthtoolText();
            string after = VethLab.Ethtool(ns, "-S", iface);
            if (before == after)
            {
                return (before, ours);
            }

            Thread.Sleep(200);
        }

        throw new InvalidOperationException($"The counters of {iface} never stood still for one reading.");
    }

    [LabFact]
    public void Statistics_are_byte_identical_to_ethtool_S_on_both_ends_of_a_veth_pair()
    {
        using var lab = VethLab.Create();
        lab.EnableNapiCounting();
        lab.Ping(5);
        using var readerB = EthtoolReader.Open(lab.NsB);
        using var readerA = EthtoolReader.Open(lab.NsA);

        var (ethtoolB, oursB) = ReadBothQuiescent(readerB, lab.NsB, VethLab.B);
        Assert.Equal(ethtoolB, oursB);
        // Moved by the test's own packets: 5 echo requests of 84 bytes each went through vB's NAPI path.
        Assert.Contains("     rx_queue_0_xdp_packets: 5\n", oursB, StringComparison.Ordinal);
        Assert.Contains("     rx_queue_0_xdp_bytes: 420\n", oursB, StringComparison.Ordinal);
        Assert.StartsWith("NIC statistics:\n     peer_ifindex: ", oursB, StringComparison.Ordinal);

        var (ethtoolA, oursA) = ReadBothQuiescent(readerA, lab.NsA, VethLab.A);
        Assert.Equal(ethtoolA, oursA);
        Assert.Equal(10, readerA.GetStatistics(VethLab.A).Count);
    }

    [LabFact]
    public void Driver_information_matches_ethtool_i()
    {
        using var lab = VethLab.Create();
        using var reader = EthtoolReader.Open(lab.NsB);
        var ours = reader.GetDriverInfo(VethLab.B);
        var theirs = EthtoolDriverInfo.Parse(VethLab.Ethtool(lab.NsB, "-i", VethLab.B));
        Assert.NotNull(ours);
        Assert.Equal("veth", ours!.Driver);
        Assert.Equal(theirs.Driver, ours.Driver);
        Assert.Equal(theirs.Version, ours.Version);
        Assert.Equal(theirs.FirmwareVersion, ours.FirmwareVersion);
        Assert.Equal(theirs.ExpansionRomVersion, ours.ExpansionRomVersion);
        Assert.Equal(theirs.BusInfo, ours.BusInfo);
        Assert.Equal(theirs.SupportsStatistics, ours.SupportsStatistics);
        // GDRVINFO's n_stats is the number of statistics GSTRINGS/GSTATS then return.
        Assert.Equal(reader.GetStatistics(VethLab.B).Count, ours.StatisticsCount);
    }

    [LabFact]
    public void Per_queue_statistics_of_a_multi_queue_veth_match_ethtool()
    {
        using var lab = VethLab.Create(queues: 2);
        using var reader = EthtoolReader.Open(lab.NsA);
        var (ethtool, ours) = ReadBothQuiescent(reader, lab.NsA, VethLab.A);
        Assert.Equal(ethtool, ours);
        var names = reader.GetStatistics(VethLab.A).Select(s => s.Name).ToList();
        Assert.Equal(19, names.Count);
        Assert.Equal(ExpectedVethNames(2, 2), names);
    }

    /// <summary>The veth statistic names for a number of active rx and tx queues (kernel drivers/net/veth.c).</summary>
    private static List<string> ExpectedVethNames(int rx, int tx)
    {
        var names = new List<string> { "peer_ifindex" };
        string[] rxNames = { "xdp_packets", "xdp_bytes", "drops", "xdp_redirect", "xdp_drops", "xdp_tx", "xdp_tx_errors" };
        for (int i = 0; i < rx; i++)
        {
            names.AddRange(rxNames.Select(n => $"rx_queue_{i}_{n}"));
        }

        for (int i = 0; i < tx; i++)
        {
            names.Add($"tx_queue_{i}_xdp_xmit");
            names.Add($"tx_queue_{i}_xdp_xmit_errors");
        }

        return names;
    }

    /// <summary>
    /// A set of statistics that changes while it is read (ethtool -L changes veth's channel count, and with it the
    /// number of counters): every reading must be one complete, self-consistent set, never a mix or a crash.
    /// </summary>
    [LabFact]
    public void A_set_of_statistics_that_changes_during_reads_is_always_read_whole()
    {
        using var lab = VethLab.Create(queues: 4);
        var valid = new Dictionary<int, List<string>>();
        (int Rx, int Tx)[] configurations = { (1, 1), (4, 4), (2, 3), (3, 1) };
        foreach (var (rx, tx) in configurations)
        {
            valid[1 + (7 * rx) + (2 * tx)] = ExpectedVethNames(rx, tx);
        }

        using var stop = new CancellationTokenSource();
        int flips = 0;
        var flipper = new Thread(() =>
        {
            int i = 0;
            while (!stop.IsCancellationRequested)
            {
                var (rx, tx) = configurations[i++ % configurations.Length];
                VethLab.Ethtool(lab.NsA, "-L", VethLab.A, "rx", rx.ToString(CultureInfo.InvariantCulture), "tx", tx.ToString(CultureInfo.InvariantCulture));
                Interlocked.Increment(ref flips);
            }
        }) { IsBackground = true };
        flipper.Start();
        using var reader = EthtoolReader.Open(lab.NsA);
        var seen = new HashSet<int>();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(4);
            int reads = 0;
            while (DateTime.UtcNow < deadline || seen.Count < 2)
            {
                var names = reader.GetStatistics(VethLab.A).Select(s => s.Name).ToList();
                Assert.True(valid.TryGetValue(names.Count, out var expected), $"{names.Count} statistics is no channel configuration: {string.Join(",", names)}");
                Assert.Equal(expected, names);
                seen.Add(names.Count);
                reads++;
                Assert.True(DateTime.UtcNow < deadline.AddSeconds(20), "the channel count never changed");
            }

            _log.WriteLine($"{reads} reads while ethtool -L changed the channels {Volatile.Read(ref flips)} times; sets seen: {string.Join(", ", seen)}; rounds retried because the set changed: {reader.Mismatches}");
        }
        finally
        {
            stop.Cancel();
            flipper.Join();
        }

        Assert.True(seen.Count >= 2, "the reader should have seen more than one channel configuration");
    }

    /// <summary>
    /// What the reader relies on when the count changed between GSSET_INFO and GSTATS: a kernel with the 2025 fix
    /// answers a mismatched count with 0 and writes nothing; an older one writes its current count. Either way the
    /// answer is never the wrong count asked for, and the reader's round with a wrong count reports a mismatch.
    /// </summary>
    [LabFact]
    public void A_mismatched_count_is_detected_whatever_the_kernel_does_with_it()
    {
        using var lab = VethLab.Create();
        using var reader = EthtoolReader.Open(lab.NsB);
        int real = reader.GetStatisticsCount(VethLab.B);
        Assert.Equal(10, real);
        Assert.Equal(10u, reader.RawStatisticsCall(VethLab.B, 10));
        uint answered = reader.RawStatisticsCall(VethLab.B, 3);
        _log.WriteLine($"GSTATS asked for 3 of {real}: the kernel answered {answered} ({(answered == 0 ? "count check present" : "old behaviour: current count written")}).");
        Assert.True(answered is 0 or 10, $"GSTATS with a wrong count answered {answered}");
        Assert.True(reader.RawStatisticsCall(VethLab.B, 11) is 0 or 10);

        Assert.False(reader.TryReadStatistics(VethLab.B, 3, out var none, out string mismatch));
        Assert.Null(none);
        Assert.Matches("GSTRINGS answered (0|10)", mismatch);
        Assert.False(reader.TryReadStatistics(VethLab.B, 11, out _, out _));
        Assert.True(reader.TryReadStatistics(VethLab.B, 10, out var all, out _));
        Assert.Equal(10, all!.Count);
    }

    [LabFact]
    public void An_unknown_interface_and_an_interface_of_another_namespace_are_ENODEV()
    {
        using var lab = VethLab.Create();
        using var readerB = EthtoolReader.Open(lab.NsB);
        var missing = Assert.Throws<NetworkInterfaceNotFoundException>(() => readerB.GetStatistics("nope0"));
        Assert.Equal(19, missing.Errno);
        Assert.Equal("nope0", missing.InterfaceName);
        Assert.Contains("No such device", missing.Message, StringComparison.Ordinal);
        Assert.Throws<NetworkInterfaceNotFoundException>(() => readerB.GetDriverInfo("nope0"));

        // The socket's namespace decides: vA lives in A, so a reader of B, and one of the test's own namespace, cannot see it.
        Assert.Throws<NetworkInterfaceNotFoundException>(() => readerB.GetStatistics(VethLab.A));
        using var own = EthtoolReader.Open();
        Assert.Throws<NetworkInterfaceNotFoundException>(() => own.GetStatistics(VethLab.B));

        // ethtool agrees.
        var ethtool = ProcessRunner.Run("ip", new[] { "netns", "exec", lab.NsB, "ethtool", "-S", "nope0" }, TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, ethtool.ExitCode);
        Assert.Contains("No such device", ethtool.Stderr, StringComparison.Ordinal);
    }

    [LabFact]
    public void Loopback_and_a_bridge_have_no_statistics_as_ethtool_says()
    {
        using var lab = VethLab.Create();
        VethLab.Run("ip", "-n", lab.NsA, "link", "add", "br0", "type", "bridge");
        using var reader = EthtoolReader.Open(lab.NsA);

        Assert.Null(reader.GetDriverInfo("lo"));
        var lo = Assert.Throws<EthtoolStatisticsNotSupportedException>(() => reader.GetStatistics("lo"));
        Assert.Equal("lo", lo.InterfaceName);
        Assert.Contains("no stats available", lo.Message, StringComparison.Ordinal);
        var ethtoolLo = ProcessRunner.Run("ip", new[] { "netns", "exec", lab.NsA, "ethtool", "-S", "lo" }, TimeSpan.FromSeconds(30));
        Assert.Equal(94, ethtoolLo.ExitCode);
        Assert.Contains("no stats available", ethtoolLo.Stderr, StringComparison.Ordinal);

        var bridge = reader.GetDriverInfo("br0");
        Assert.NotNull(bridge);
        var theirs = EthtoolDriverInfo.Parse(VethLab.Ethtool(lab.NsA, "-i", "br0"));
        Assert.Equal("bridge", bridge!.Driver);
        Assert.Equal(theirs.Version, bridge.Version);
        Assert.Equal(theirs.BusInfo, bridge.BusInfo);
        Assert.Throws<EthtoolStatisticsNotSupportedException>(() => reader.GetStatistics("br0"));
    }

    [LabFact]
    public void Sampled_deltas_and_rates_follow_the_packets_sent_between_samples()
    {
        using var lab = VethLab.Create();
        lab.EnableNapiCounting();
        using var reader = EthtoolReader.Open(lab.NsB);
        var sampler = EthtoolSampler.ForReader(reader);
        var samples = new List<EthtoolSnapshot>();
        foreach (var round in sampler.Run(new[] { VethLab.B }, TimeSpan.FromMilliseconds(500), 3, CancellationToken.None))
        {
            Assert.Empty(round.Failures);
            samples.Add(Assert.Single(round.Snapshots));
            if (round.Number == 1)
            {
                lab.Ping(7); // between the first and the second sample only
            }
        }

        Assert.Equal(3, samples.Count);
        var all = EnaInterpreter.AllStatistics(samples);
        var packets = all.Single(s => s.Name == "rx_queue_0_xdp_packets");
        var bytes = all.Single(s => s.Name == "rx_queue_0_xdp_bytes");
        Assert.Equal(7, packets.Delta);
        Assert.Equal(7L * 84, bytes.Delta);
        Assert.Equal(7UL, packets.Value);
        double seconds = (samples[2].Time - samples[0].Time).TotalSeconds;
        Assert.InRange(seconds, 0.9, 10);
        Assert.Equal(7 / seconds, packets.PerSecond!.Value, 6);
        Assert.Equal(0, all.Single(s => s.Name == "peer_ifindex").Delta);

        // The second interval saw nothing: the counter moved in exactly one step.
        var series = CounterSeriesProbe(samples, "rx_queue_0_xdp_packets");
        Assert.Equal(new ulong[] { 0, 7, 7 }, series);
        Assert.True(samples[1].Time - samples[0].Time >= TimeSpan.FromMilliseconds(450));

        // veth is no ENA: the interpretation says so rather than reporting zeros.
        var ena = EnaInterpreter.Interpret(samples);
        Assert.Equal(EnaCounterSupport.NotEna, ena.Support);
        Assert.Equal("veth", ena.Driver);
        Assert.Null(ena.LinkLocalAllowanceExceeded);
        Assert.Null(ena.LinkLocalDelta);
        Assert.Equal(EnaThrottling.Unknown, ena.Throttling);
        Assert.Equal(3, ena.SampleCount);
    }

    private static ulong[] CounterSeriesProbe(IEnumerable<EthtoolSnapshot> samples, string name) =>
        samples.Select(s => s.TryGetValue(name, out ulong v) ? v : throw new InvalidOperationException(name + " missing")).ToArray();
}
