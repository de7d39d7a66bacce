using System;
using System.Collections.Generic;
using System.Globalization;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>Whether an interface reports ENA's allowance counters, and if not, why not.</summary>
public enum EnaCounterSupport
{
    /// <summary>The allowance counters are reported (each counter still has its own Supported flag).</summary>
    Supported,

    /// <summary>An ENA driver older than 2.2.10, the first that reports the counters.</summary>
    DriverTooOld,

    /// <summary>An ENA driver that does not report them: an in-tree driver of an older kernel, or a device that does not offer them.</summary>
    NotReported,

    /// <summary>Not an ENA interface (Xen netfront <c>vif</c>, <c>ixgbevf</c>, <c>virtio_net</c>, <c>veth</c>...): the counters do not exist.</summary>
    NotEna,
}

/// <summary>What the counters say about throttling.</summary>
public enum EnaThrottling
{
    /// <summary>The counters are not available, so nothing can be said (this is not "no throttling").</summary>
    Unknown,

    /// <summary>One reading: every allowance counter is 0 since the last device reset.</summary>
    None,

    /// <summary>One reading: some counter is above 0, so shaping happened at some time since the last device reset.</summary>
    SinceReset,

    /// <summary>Sampled: no allowance counter moved while sampling.</summary>
    NotNow,

    /// <summary>Sampled: an allowance counter moved while sampling: packets are being queued or dropped now.</summary>
    Now,
}

/// <summary>The verdict as scripts read it; the imds-troubleshoot CLI exits with 3 when a result is Fail.</summary>
public enum EnaStatus
{
    /// <summary>Nothing exceeded (in the window sampled, or since the device reset).</summary>
    Ok,

    /// <summary>An allowance was exceeded earlier, or an instance allowance (bandwidth, PPS, connections) is being exceeded now.</summary>
    Warning,

    /// <summary>Link-local packets (IMDS, DNS, Time Sync) are being dropped now.</summary>
    Fail,

    /// <summary>No counters to judge by (not ENA, or a driver without them).</summary>
    NotApplicable,
}

/// <summary>One ENA allowance counter of one interface: its value, what it means, and how it moved while sampling.</summary>
public sealed class EnaAllowanceCounter
{
    internal EnaAllowanceCounter(string interfaceName, EnaCounterDefinition definition, bool supported, ulong? value, ulong? delta, double? perSecond,
        double? peakPerSecond, ulong? minimum, bool reset)
    {
        Interface = interfaceName;
        Name = definition.Name;
        ShortName = definition.ShortName;
        Kind = definition.Kind;
        Scope = definition.Scope;
        Supported = supported;
        Value = value;
        Delta = delta;
        PerSecond = perSecond;
        PeakPerSecond = peakPerSecond;
        Minimum = minimum;
        Reset = reset;
        Meaning = definition.Meaning;
        IntroducedIn = definition.IntroducedIn;
    }

    public string Interface { get; }

    /// <summary>The name <c>ethtool -S</c> prints, e.g. <c>linklocal_allowance_exceeded</c>.</summary>
    public string Name { get; }

    public string ShortName { get; }

    public EnaCounterKind Kind { get; }

    public EnaCounterScope Scope { get; }

    /// <summary>False when this driver/device does not report the counter: then Value is null, never 0.</summary>
    public bool Supported { get; }

    /// <summary>The latest value: packets since the last device reset for a counter, the current level for the gauge.</summary>
    public ulong? Value { get; }

    /// <summary>How much the counter rose while sampling; null for one reading and for the gauge.</summary>
    public ulong? Delta { get; }

    /// <summary>The rise per second over the sampled time; null for one reading and for the gauge.</summary>
    public double? PerSecond { get; }

    /// <summary>The highest rise per second between two consecutive samples.</summary>
    public double? PeakPerSecond { get; }

    /// <summary>For the gauge: the lowest level seen while sampling.</summary>
    public ulong? Minimum { get; }

    /// <summary>True when the counter went backwards while sampling (the device was reset); the delta then counts from 0.</summary>
    public bool Reset { get; }

    /// <summary>What the counter means, in plain words.</summary>
    public string Meaning { get; }

    /// <summary>The first out-of-tree ENA driver version that reports it.</summary>
    public string IntroducedIn { get; }

    public override string ToString() => !Supported
        ? $"{Name}: not reported"
        : Delta is null ? $"{Name}: {Value}" : $"{Name}: {Value} (+{Delta})";
}

/// <summary>
/// The ENA allowance counters of one network interface with a plain-words verdict: one reading, or a window
/// of samples with deltas and rates.
/// </summary>
public sealed class EnaInterfaceStatistics
{
    internal EnaInterfaceStatistics(string interfaceName, EthtoolDriverInfo? driverInfo, string? driver, bool isEna, EnaCounterSupport support,
        IReadOnlyList<EnaAllowanceCounter> counters, DateTimeOffset start, DateTimeOffset time, int sampleCount, EnaThrottling throttling,
        IReadOnlyList<string> throttledBy, EnaStatus status, string summary, string assessment, string? note, EthtoolSource source)
    {
        Summary = summary;
        Interface = interfaceName;
        Driver = driver;
        DriverVersion = driverInfo?.Version;
        FirmwareVersion = string.IsNullOrEmpty(driverInfo?.FirmwareVersion) ? null : driverInfo!.FirmwareVersion;
        BusInfo = string.IsNullOrEmpty(driverInfo?.BusInfo) ? null : driverInfo!.BusInfo;
        IsEna = isEna;
        Support = support;
        Counters = counters;
        Start = start;
        Time = time;
        SampleCount = sampleCount;
        Throttling = throttling;
        ThrottledBy = throttledBy;
        Status = status;
        Assessment = assessment;
        Note = note;
        Source = source;
    }

    public string Interface { get; }

    /// <summary>The driver: <c>ena</c>, <c>vif</c>, <c>virtio_net</c>, <c>veth</c>...; null when unknown.</summary>
    public string? Driver { get; }

    /// <summary>The driver version as <c>ethtool -i</c> shows it (a kernel release for drivers without one).</summary>
    public string? DriverVersion { get; }

    public string? FirmwareVersion { get; }

    public string? BusInfo { get; }

    public bool IsEna { get; }

    public EnaCounterSupport Support { get; }

    /// <summary>The six counters, each with its Supported flag, value, meaning and, when sampled, delta and rate.</summary>
    public IReadOnlyList<EnaAllowanceCounter> Counters { get; }

    public ulong? LinkLocalAllowanceExceeded => Value(EnaCounters.LinkLocalAllowanceExceeded);

    public ulong? PpsAllowanceExceeded => Value(EnaCounters.PpsAllowanceExceeded);

    public ulong? BwInAllowanceExceeded => Value(EnaCounters.BwInAllowanceExceeded);

    public ulong? BwOutAllowanceExceeded => Value(EnaCounters.BwOutAllowanceExceeded);

    public ulong? ConntrackAllowanceExceeded => Value(EnaCounters.ConntrackAllowanceExceeded);

    /// <summary>A level (connections the instance can still track), not a count of drops.</summary>
    public ulong? ConntrackAllowanceAvailable => Value(EnaCounters.ConntrackAllowanceAvailable);

    /// <summary>How much linklocal_allowance_exceeded rose while sampling (null for one reading or when not reported).</summary>
    public ulong? LinkLocalDelta => Counter(EnaCounters.LinkLocalAllowanceExceeded)?.Delta;

    /// <summary>linklocal_allowance_exceeded's rise per second while sampling.</summary>
    public double? LinkLocalPerSecond => Counter(EnaCounters.LinkLocalAllowanceExceeded)?.PerSecond;

    /// <summary>When the first sample was read.</summary>
    public DateTimeOffset Start { get; }

    /// <summary>When the last sample was read.</summary>
    public DateTimeOffset Time { get; }

    /// <summary>The time between the first and the last sample (zero for one reading).</summary>
    public TimeSpan Elapsed => Time - Start;

    /// <summary>How many readings this result is made of (1 = a single reading, no deltas).</summary>
    public int SampleCount { get; }

    public bool Sampled => SampleCount > 1;

    public EnaThrottling Throttling { get; }

    /// <summary>The counters that moved while sampling (or, for one reading, that are above 0).</summary>
    public IReadOnlyList<string> ThrottledBy { get; }

    public EnaStatus Status { get; }

    /// <summary>The verdict in a few words for tables, e.g. "LinkLocal +1,840 (460/s)" or "not ENA (virtio_net)".</summary>
    public string Summary { get; }

    /// <summary>The verdict in plain words, with what to do.</summary>
    public string Assessment { get; }

    /// <summary>Context: the driver's history, or that this process sits in a container/network namespace.</summary>
    public string? Note { get; }

    /// <summary>Kernel (read live) or Text (a parsed <c>ethtool -S</c> capture).</summary>
    public EthtoolSource Source { get; }

    public EnaAllowanceCounter? Counter(string name)
    {
        foreach (var c in Counters)
        {
            if (c.Name == name)
            {
                return c;
            }
        }

        return null;
    }

    private ulong? Value(string name) => Counter(name)?.Value;

    public override string ToString() => $"{Interface} ({Driver ?? "?"}): {Throttling}: {Assessment}";
}

/// <summary>One driver statistic of one interface (<c>-All</c>): the name/value pairs <c>ethtool -S</c> prints, with changes when sampled.</summary>
public sealed class InterfaceStatistic
{
    internal InterfaceStatistic(string interfaceName, string? driver, int index, string name, ulong value, long? delta, double? perSecond, DateTimeOffset time)
    {
        Interface = interfaceName;
        Driver = driver;
        Index = index;
        Name = name;
        Value = value;
        Delta = delta;
        PerSecond = perSecond;
        Time = time;
    }

    public string Interface { get; }

    public string? Driver { get; }

    /// <summary>The position in the driver's list (0-based), as <c>ethtool -S</c> orders it.</summary>
    public int Index { get; }

    public string Name { get; }

    /// <summary>The value at the last reading.</summary>
    public ulong Value { get; }

    /// <summary>
    /// Last value minus first value while sampling (null for one reading). Drivers do not say which statistics
    /// are counters and which are levels, so this is a plain difference and can be negative.
    /// </summary>
    public long? Delta { get; }

    /// <summary>Delta per second over the sampled time.</summary>
    public double? PerSecond { get; }

    public DateTimeOffset Time { get; }

    public override string ToString() => $"{Interface} {Name}: {Value.ToString(CultureInfo.InvariantCulture)}";
}
