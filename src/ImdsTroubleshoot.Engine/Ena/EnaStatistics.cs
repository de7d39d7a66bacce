using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>linklocal_allowance_exceeded of one ENA interface at one moment.</summary>
public sealed class EnaLinkLocalCounter
{
    internal EnaLinkLocalCounter(string interfaceName, string? driver, string? driverVersion, EnaCounterSupport support, ulong? value, string? problem)
    {
        Interface = interfaceName;
        Driver = driver;
        DriverVersion = driverVersion;
        Support = support;
        Value = value;
        Problem = problem;
    }

    public string Interface { get; }

    public string? Driver { get; }

    public string? DriverVersion { get; }

    public EnaCounterSupport Support { get; }

    /// <summary>True when the driver reports linklocal_allowance_exceeded (then Value is set).</summary>
    public bool Supported => Value is not null;

    /// <summary>Packets dropped at the link-local limit since the last device reset; null when not reported.</summary>
    public ulong? Value { get; }

    /// <summary>Why there is no value (old driver, read failure), in plain words; null when there is one.</summary>
    public string? Problem { get; }

    public override string ToString() => Value is null ? $"{Interface}: not available" : $"{Interface}: {Value.Value.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>linklocal_allowance_exceeded of every ENA interface of this network namespace, read at one moment.</summary>
public sealed class EnaLinkLocalReading
{
    internal EnaLinkLocalReading(DateTimeOffset time, IReadOnlyList<EnaLinkLocalCounter> interfaces, IReadOnlyList<EthtoolSnapshot> snapshots, string? note)
    {
        Time = time;
        Interfaces = interfaces;
        Snapshots = snapshots;
        Note = note;
    }

    public DateTimeOffset Time { get; }

    /// <summary>One entry per ENA interface (empty when there is none).</summary>
    public IReadOnlyList<EnaLinkLocalCounter> Interfaces { get; }

    /// <summary>True when at least one interface reports the counter.</summary>
    public bool Available => Interfaces.Any(i => i.Supported);

    /// <summary>Why the counter is not available (no ENA interface, old driver, a container), in plain words; null when it is.</summary>
    public string? Note { get; }

    /// <summary>The full snapshots the values came from, for deltas.</summary>
    public IReadOnlyList<EthtoolSnapshot> Snapshots { get; }
}

/// <summary>How linklocal_allowance_exceeded moved on one interface between two readings.</summary>
public sealed class EnaLinkLocalDelta
{
    internal EnaLinkLocalDelta(string interfaceName, ulong before, ulong after, ulong delta, bool reset)
    {
        Interface = interfaceName;
        Before = before;
        After = after;
        Delta = delta;
        Reset = reset;
    }

    public string Interface { get; }

    public ulong Before { get; }

    public ulong After { get; }

    /// <summary>Packets dropped at the link-local limit between the readings.</summary>
    public ulong Delta { get; }

    /// <summary>True when the counter went back (a device reset): Delta is then the value counted since.</summary>
    public bool Reset { get; }

    public override string ToString() => $"{Interface}: +{Delta.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>What ENA's link-local counter did during a window, e.g. an IMDS probe.</summary>
public sealed class EnaLinkLocalChange
{
    internal EnaLinkLocalChange(EnaLinkLocalReading before, EnaLinkLocalReading after, IReadOnlyList<EnaLinkLocalDelta> interfaces, IReadOnlyList<EnaInterfaceStatistics> details, string summary)
    {
        Before = before;
        After = after;
        Interfaces = interfaces;
        Details = details;
        Summary = summary;
    }

    public EnaLinkLocalReading Before { get; }

    public EnaLinkLocalReading After { get; }

    public TimeSpan Elapsed => After.Time - Before.Time;

    /// <summary>One entry per ENA interface that reported the counter both times.</summary>
    public IReadOnlyList<EnaLinkLocalDelta> Interfaces { get; }

    /// <summary>The full ENA verdict per interface over the window (all six counters, deltas, rates).</summary>
    public IReadOnlyList<EnaInterfaceStatistics> Details { get; }

    public bool Available => Interfaces.Count > 0;

    /// <summary>Link-local packets dropped during the window, all interfaces together.</summary>
    public ulong TotalDelta => Interfaces.Aggregate(0UL, (sum, i) => sum + i.Delta);

    /// <summary>True when link-local packets were dropped during the window.</summary>
    public bool Throttled => TotalDelta > 0;

    /// <summary>One or two sentences for a probe result, e.g. "ENA linklocal_allowance_exceeded rose by 37 on ens5 during the probe...".</summary>
    public string Summary { get; }

    public override string ToString() => Summary;
}

/// <summary>A reading taken before a probe; <see cref="Complete"/> reads again and reports the change.</summary>
public sealed class EnaLinkLocalProbe
{
    private readonly Func<CancellationToken, EnaLinkLocalReading> _read;

    internal EnaLinkLocalProbe(EnaLinkLocalReading before, Func<CancellationToken, EnaLinkLocalReading> read)
    {
        Before = before;
        _read = read;
    }

    public EnaLinkLocalReading Before { get; }

    /// <summary>Reads the counters again and compares with <see cref="Before"/>. Never throws for missing counters.</summary>
    public EnaLinkLocalChange Complete(CancellationToken cancellationToken = default) => EnaStatistics.Compare(Before, _read(cancellationToken));
}

/// <summary>Where the façade gets interfaces and snapshots from: the kernel, or (in tests) captures.</summary>
internal interface IEnaCounterSource
{
    IReadOnlyList<DiscoveredInterface> Discover();

    EthtoolSnapshot Read(DiscoveredInterface target, CancellationToken cancellationToken);
}

/// <summary>
/// The engine API for other features (Test-ImdsEndpoint, Invoke-ImdsDiagnosis): read ENA's
/// linklocal_allowance_exceeded without caring whether there is an ENA interface, and take a before/after
/// delta around an IMDS probe. Nothing here throws for "no ENA", "old driver" or "in a container"; those
/// come back as <see cref="EnaLinkLocalReading.Note"/>.
/// <code>
/// var window = EnaStatistics.StartProbe(token);      // reads linklocal_allowance_exceeded now
/// ... run the IMDS probe ...
/// EnaLinkLocalChange change = window.Complete(token); // reads again
/// if (change.Throttled) { /* change.Summary: "ENA linklocal_allowance_exceeded rose during the probe in 2.0 s: +37 on ens5 (100 -> 137). ..." */ }
/// else if (!change.Available) { /* change.Summary says why (no ENA, old driver, container) */ }
/// </code>
/// Each read of ENA statistics sends an admin command to the device: read around a probe, not in a loop.
/// </summary>
public static class EnaStatistics
{
    /// <summary>Reads linklocal_allowance_exceeded on every ENA interface of this process's network namespace.</summary>
    public static EnaLinkLocalReading TryReadLinkLocal(CancellationToken cancellationToken = default) => TryReadLinkLocal(new KernelSource(), cancellationToken);

    /// <summary>Reads the counters now; call <see cref="EnaLinkLocalProbe.Complete"/> after the probe for the delta.</summary>
    public static EnaLinkLocalProbe StartProbe(CancellationToken cancellationToken = default)
    {
        var source = new KernelSource();
        return new EnaLinkLocalProbe(TryReadLinkLocal(source, cancellationToken), ct => TryReadLinkLocal(source, ct));
    }

    internal static EnaLinkLocalProbe StartProbe(IEnaCounterSource source, CancellationToken cancellationToken) =>
        new(TryReadLinkLocal(source, cancellationToken), ct => TryReadLinkLocal(source, ct));

    internal static EnaLinkLocalReading TryReadLinkLocal(IEnaCounterSource source, CancellationToken cancellationToken)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        IReadOnlyList<DiscoveredInterface> found;
        try
        {
            found = source.Discover();
        }
        catch (Exception ex) when (ex is EthtoolException or IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            return new EnaLinkLocalReading(now, Array.Empty<EnaLinkLocalCounter>(), Array.Empty<EthtoolSnapshot>(), "The network interfaces could not be read: " + ex.Message);
        }

        var ena = found.Where(i => i.IsEna).ToList();
        if (ena.Count == 0)
        {
            return new EnaLinkLocalReading(now, Array.Empty<EnaLinkLocalCounter>(), Array.Empty<EthtoolSnapshot>(), EnaDiscovery.NoEnaInterfaceMessage(found, null));
        }

        var counters = new List<EnaLinkLocalCounter>();
        var snapshots = new List<EthtoolSnapshot>();
        foreach (var target in ena)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                EthtoolSnapshot snapshot = source.Read(target, cancellationToken);
                snapshots.Add(snapshot);
                now = snapshot.Time;
                EnaInterfaceStatistics interpreted = EnaInterpreter.Interpret(snapshot);
                ulong? value = interpreted.LinkLocalAllowanceExceeded;
                counters.Add(new EnaLinkLocalCounter(target.Name, snapshot.Driver, snapshot.DriverInfo?.Version, interpreted.Support, value,
                    value is null ? interpreted.Assessment : null));
            }
            catch (Exception ex) when (ex is EthtoolException or UnauthorizedAccessException)
            {
                counters.Add(new EnaLinkLocalCounter(target.Name, target.Driver, target.DriverInfo?.Version, EnaCounterSupport.NotReported, null, ex.Message));
            }
        }

        string? note = counters.Any(c => c.Supported) ? null : string.Join(" ", counters.Select(c => $"{c.Interface}: {c.Problem}"));
        return new EnaLinkLocalReading(now, counters, snapshots, note);
    }

    /// <summary>Compares two readings of the same namespace: the linklocal_allowance_exceeded delta per interface and a summary.</summary>
    public static EnaLinkLocalChange Compare(EnaLinkLocalReading before, EnaLinkLocalReading after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var deltas = new List<EnaLinkLocalDelta>();
        var details = new List<EnaInterfaceStatistics>();
        foreach (var b in before.Snapshots)
        {
            var a = after.Snapshots.FirstOrDefault(s => s.InterfaceName == b.InterfaceName);
            if (a is null)
            {
                continue;
            }

            var window = EnaInterpreter.Interpret(new[] { b, a });
            details.Add(window);
            var counter = window.Counter(EnaCounters.LinkLocalAllowanceExceeded);
            if (b.TryGetValue(EnaCounters.LinkLocalAllowanceExceeded, out ulong v0) && a.TryGetValue(EnaCounters.LinkLocalAllowanceExceeded, out ulong v1))
            {
                deltas.Add(new EnaLinkLocalDelta(b.InterfaceName, v0, v1, counter?.Delta ?? 0, counter?.Reset ?? false));
            }
        }

        return new EnaLinkLocalChange(before, after, deltas, details, Summarize(before, after, deltas));
    }

    private static string Summarize(EnaLinkLocalReading before, EnaLinkLocalReading after, IReadOnlyList<EnaLinkLocalDelta> deltas)
    {
        if (deltas.Count == 0)
        {
            return "ENA linklocal_allowance_exceeded is not available, so link-local throttling cannot be confirmed or ruled out from the guest: "
                + (after.Note ?? before.Note ?? "the counter was not read both before and after.");
        }

        double seconds = (after.Time - before.Time).TotalSeconds;
        string window = seconds > 0 ? " in " + EnaInterpreter.Seconds(after.Time - before.Time) : string.Empty;
        var moved = deltas.Where(d => d.Delta > 0).ToList();
        if (moved.Count > 0)
        {
            string each = string.Join("; ", moved.Select(d =>
                $"+{d.Delta.ToString("N0", CultureInfo.InvariantCulture)} on {d.Interface} ({d.Before.ToString(CultureInfo.InvariantCulture)} -> {d.After.ToString(CultureInfo.InvariantCulture)}{(d.Reset ? ", after a device reset" : string.Empty)})"));
            return $"ENA linklocal_allowance_exceeded rose during the probe{window}: {each}. Link-local packets (IMDS, DNS, Time Sync) were dropped at the "
                + EnaCounters.LinkLocalPacketsPerSecond.ToString(CultureInfo.InvariantCulture)
                + " packets/s limit of the interface: cache metadata and credentials, and retry with exponential backoff and jitter.";
        }

        string totals = string.Join(", ", deltas.Select(d => $"{d.Interface} {d.After.ToString(CultureInfo.InvariantCulture)}"));
        return $"ENA linklocal_allowance_exceeded did not move during the probe{window} ({totals} since the last device reset): no link-local packets were dropped, so the link-local limit is not the cause.";
    }

    /// <summary>The kernel: sysfs for the list, SIOCETHTOOL for the values, in this process's network namespace.</summary>
    private sealed class KernelSource : IEnaCounterSource
    {
        public IReadOnlyList<DiscoveredInterface> Discover()
        {
            using var reader = EthtoolReader.Open();
            return EnaDiscovery.Discover(reader);
        }

        public EthtoolSnapshot Read(DiscoveredInterface target, CancellationToken cancellationToken)
        {
            using var reader = EthtoolReader.Open();
            return reader.Read(target.Name, target.Entry.BusDriver, cancellationToken);
        }
    }
}
