using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>One driver statistic as <c>ethtool -S</c> prints it: a name (at most 32 bytes) and a 64-bit value.</summary>
public sealed class EthtoolStatistic
{
    public EthtoolStatistic(string name, ulong value)
    {
        Name = name ?? throw new ArgumentNullException(nameof(name));
        Value = value;
    }

    public string Name { get; }

    public ulong Value { get; }

    public override string ToString() => $"{Name}: {Value.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>Where a snapshot's numbers came from.</summary>
public enum EthtoolSource
{
    /// <summary>Read from the kernel with SIOCETHTOOL, as <c>ethtool -S</c> does.</summary>
    Kernel,

    /// <summary>Parsed from the text <c>ethtool -S</c> printed (a capture).</summary>
    Text,
}

/// <summary>The driver information and every statistic of one interface, read at one moment.</summary>
public sealed class EthtoolSnapshot
{
    private readonly Dictionary<string, ulong> _byName;

    public EthtoolSnapshot(string interfaceName, EthtoolDriverInfo? driverInfo, IReadOnlyList<EthtoolStatistic> statistics, DateTimeOffset time, EthtoolSource source,
        string? busDriver = null)
    {
        InterfaceName = interfaceName ?? throw new ArgumentNullException(nameof(interfaceName));
        DriverInfo = driverInfo;
        Statistics = statistics ?? throw new ArgumentNullException(nameof(statistics));
        Time = time;
        Source = source;
        BusDriver = busDriver;
        _byName = new Dictionary<string, ulong>(statistics.Count, StringComparer.Ordinal);
        foreach (var s in statistics)
        {
            // Truncated names can repeat; the first one wins, as a reader of ethtool -S would see it first.
            _byName.TryAdd(s.Name, s.Value);
        }
    }

    public string InterfaceName { get; }

    /// <summary>ETHTOOL_GDRVINFO; null when the driver gives none (loopback) or the capture had no <c>ethtool -i</c>.</summary>
    public EthtoolDriverInfo? DriverInfo { get; }

    /// <summary>The driver of the interface's device from sysfs (<c>/sys/class/net/IF/device/driver</c>), when known.</summary>
    public string? BusDriver { get; }

    /// <summary>The statistics in the driver's order, exactly as <c>ethtool -S</c> lists them.</summary>
    public IReadOnlyList<EthtoolStatistic> Statistics { get; }

    public DateTimeOffset Time { get; }

    public EthtoolSource Source { get; }

    /// <summary>The driver name: GDRVINFO's, else the sysfs bus driver's; null when neither is known.</summary>
    public string? Driver => !string.IsNullOrEmpty(DriverInfo?.Driver) ? DriverInfo!.Driver : BusDriver;

    public bool TryGetValue(string name, out ulong value) => _byName.TryGetValue(name, out value);

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The statistics as <c>ethtool -S</c> prints them, byte for byte: a header, then five spaces, name, colon, value.</summary>
    public string ToEthtoolText()
    {
        var sb = new StringBuilder("NIC statistics:\n");
        foreach (var s in Statistics)
        {
            sb.Append("     ").Append(s.Name).Append(": ").Append(s.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return sb.ToString();
    }

    public override string ToString() => $"{InterfaceName} ({Driver ?? "unknown driver"}): {Statistics.Count} statistics at {Time:HH:mm:ss.fff}";
}
