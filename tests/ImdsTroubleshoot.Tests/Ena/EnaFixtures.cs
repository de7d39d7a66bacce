using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Tests.Support;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>Captured <c>ethtool -S</c>/<c>-i</c> outputs (provenance in each file's header) and snapshots built from them.</summary>
internal static class EnaFixtures
{
    public const string Modern = "ena-2.13-customer-metrics.ethtool-S.txt";
    public const string AwsDoc = "ena-2.2.10-aws-doc.ethtool-S.txt";
    public const string Flatcar = "ena-intree-flatcar-5.15.ethtool-S.txt";
    public const string Synthesized2210 = "ena-2.2.10-synthesized.ethtool-S.txt";
    public const string Old = "ena-1.2.0k-ethq15.ethtool-S.txt";
    public const string OldInfo = "ena-1.2.0k-ethq15.ethtool-i.txt";
    public const string XenVif = "xen-vif-ubuntu-5.19.ethtool-S.txt";
    public const string Virtio = "virtio-net-dev-vm.ethtool-S.txt";
    public const string VirtioInfo = "virtio-net-dev-vm.ethtool-i.txt";

    public static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    public static string Text(string file) => File.ReadAllText(Repo.Fixture(Path.Combine("Ena", file)));

    /// <summary>A capture through the same path a live reading takes: parse, then snapshot.</summary>
    public static EthtoolSnapshot Snapshot(string interfaceName, string statisticsFile, string? driverInfoText, DateTimeOffset? time = null) =>
        EthtoolText.ParseSnapshot(interfaceName, Text(statisticsFile), driverInfoText, time ?? T0);

    /// <summary>
    /// <c>ethtool -i</c> text for a driver whose capture came without one. Used only where the test says so: the
    /// driver name is what the kernel reports for that driver (from its source), the version is the test's choice.
    /// </summary>
    public static string DriverInfo(string driver, string version, string busInfo = "") =>
        $"driver: {driver}\nversion: {version}\nfirmware-version: \nexpansion-rom-version: \nbus-info: {busInfo}\nsupports-statistics: yes\n";

    /// <summary>The same snapshot later, with some statistics changed (test data derived from a capture).</summary>
    public static EthtoolSnapshot Later(EthtoolSnapshot from, TimeSpan after, IReadOnlyDictionary<string, ulong> changes)
    {
        var stats = from.Statistics.Select(s => changes.TryGetValue(s.Name, out ulong v) ? new EthtoolStatistic(s.Name, v) : s).ToList();
        return new EthtoolSnapshot(from.InterfaceName, from.DriverInfo, stats, from.Time + after, from.Source, from.BusDriver);
    }

    /// <summary>The same snapshot later without some statistics (a counter that disappeared).</summary>
    public static EthtoolSnapshot Without(EthtoolSnapshot from, TimeSpan after, params string[] names)
    {
        var stats = from.Statistics.Where(s => !names.Contains(s.Name)).ToList();
        return new EthtoolSnapshot(from.InterfaceName, from.DriverInfo, stats, from.Time + after, from.Source, from.BusDriver);
    }
}
