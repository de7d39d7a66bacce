using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>
/// Turns ethtool snapshots (read live or parsed from <c>ethtool -S</c> text) into the ENA allowance verdict. Counters
/// are found by name, never by position; a missing counter is "not reported", never 0.
/// </summary>
public static class EnaInterpreter
{
    /// <summary>One reading: absolute values since the last device reset, no deltas.</summary>
    public static EnaInterfaceStatistics Interpret(EthtoolSnapshot snapshot, string? note = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return Interpret(new[] { snapshot }, note);
    }

    /// <summary>A series of readings of one interface, oldest first: values, deltas and rates over the window.</summary>
    public static EnaInterfaceStatistics Interpret(IReadOnlyList<EthtoolSnapshot> samples, string? note = null)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0)
        {
            throw new ArgumentException("At least one snapshot is needed.", nameof(samples));
        }

        EthtoolSnapshot first = samples[0];
        EthtoolSnapshot last = samples[^1];
        if (samples.Any(s => s.InterfaceName != first.InterfaceName))
        {
            throw new ArgumentException("All snapshots must be of the same interface.", nameof(samples));
        }

        EthtoolDriverInfo? info = samples.Select(s => s.DriverInfo).LastOrDefault(i => i is not null);
        string? driver = samples.Select(s => s.Driver).LastOrDefault(d => !string.IsNullOrEmpty(d));
        bool sampled = samples.Count > 1;

        var counters = new List<EnaAllowanceCounter>();
        foreach (var definition in EnaCounters.All)
        {
            var series = CounterSeries.Compute(samples, definition.Name, definition.Kind == EnaCounterKind.Gauge);
            bool gauge = definition.Kind == EnaCounterKind.Gauge;
            counters.Add(new EnaAllowanceCounter(first.InterfaceName, definition, series.Present > 0, series.Last,
                gauge || !sampled ? null : series.Delta,
                gauge || !sampled ? null : series.PerSecond,
                gauge || !sampled ? null : series.PeakPerSecond,
                gauge && sampled ? series.Minimum : null,
                !gauge && series.WentBackwards));
        }

        bool anyReported = counters.Any(c => c.Supported && c.Kind == EnaCounterKind.Counter);
        bool isEna = EnaCounters.IsEnaDriver(driver) || (driver is null && anyReported);
        EnaDriverVersion version = EnaCounters.ParseDriverVersion(info?.Version);
        EnaCounterSupport support = anyReported ? EnaCounterSupport.Supported
            : !isEna ? EnaCounterSupport.NotEna
            : version.PredatesAllowanceCounters || version.Flavor == EnaDriverFlavor.InTree ? EnaCounterSupport.DriverTooOld
            : EnaCounterSupport.NotReported;

        var exceeded = counters.Where(c => c.Kind == EnaCounterKind.Counter && c.Supported).ToList();
        EnaThrottling throttling;
        List<EnaAllowanceCounter> by;
        if (support != EnaCounterSupport.Supported)
        {
            throttling = EnaThrottling.Unknown;
            by = new List<EnaAllowanceCounter>();
        }
        else if (sampled)
        {
            by = exceeded.Where(c => c.Delta > 0).ToList();
            throttling = by.Count > 0 ? EnaThrottling.Now
                : exceeded.All(c => c.Delta is null) ? EnaThrottling.Unknown
                : EnaThrottling.NotNow;
        }
        else
        {
            by = exceeded.Where(c => c.Value > 0).ToList();
            throttling = by.Count > 0 ? EnaThrottling.SinceReset : EnaThrottling.None;
        }

        bool linkLocalNow = throttling == EnaThrottling.Now && by.Any(c => c.Name == EnaCounters.LinkLocalAllowanceExceeded);
        EnaStatus status = throttling switch
        {
            EnaThrottling.Unknown => EnaStatus.NotApplicable,
            EnaThrottling.Now => linkLocalNow ? EnaStatus.Fail : EnaStatus.Warning,
            EnaThrottling.SinceReset => EnaStatus.Warning,
            _ => EnaStatus.Ok,
        };

        TimeSpan elapsed = last.Time - first.Time;
        string assessment = support switch
        {
            EnaCounterSupport.Supported => Assess(throttling, by, exceeded, samples.Count, elapsed),
            EnaCounterSupport.NotEna => NotEnaText(first.InterfaceName, driver),
            _ => UnsupportedEnaText(support, version),
        };

        string summary = support switch
        {
            EnaCounterSupport.Supported => throttling switch
            {
                EnaThrottling.Now => string.Join(", ", by.Select(c => $"{c.ShortName} +{N(c.Delta)} ({Rate(c.PerSecond)}/s)")),
                EnaThrottling.NotNow => $"nothing moved in {Seconds(elapsed)}",
                EnaThrottling.SinceReset => "since reset: " + string.Join(", ", by.Select(c => c.ShortName)),
                EnaThrottling.None => "nothing exceeded since reset",
                _ => "no consecutive samples",
            },
            EnaCounterSupport.NotEna => $"not ENA ({(string.IsNullOrEmpty(driver) ? "unknown driver" : driver)}): no counters",
            EnaCounterSupport.DriverTooOld => $"ENA {version.Text} older than 2.2.10: no counters",
            _ => "ENA without allowance counters",
        };

        var missing = counters.Where(c => !c.Supported).Select(c => c.Name).ToList();
        string? notes = note;
        if (support == EnaCounterSupport.Supported && missing.Count > 0)
        {
            string missingText = "Not reported by this driver/device, so unknown (not 0): " + string.Join(", ", missing)
                + (missing.Contains(EnaCounters.ConntrackAllowanceAvailable)
                    ? " (conntrack_allowance_available needs ENA 2.8.1 or later and a device that offers it)."
                    : ".");
            notes = notes is null ? missingText : notes + " " + missingText;
        }

        return new EnaInterfaceStatistics(first.InterfaceName, info, driver, isEna, support, counters, first.Time, last.Time, samples.Count, throttling,
            by.Select(c => c.Name).ToArray(), status, summary, assessment, notes, last.Source);
    }

    /// <summary>
    /// Every statistic of an interface as name/value pairs, in the driver's order (<c>-All</c>); with more than one
    /// sample, each carries last-minus-first and its rate per second.
    /// </summary>
    public static IReadOnlyList<InterfaceStatistic> AllStatistics(IReadOnlyList<EthtoolSnapshot> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0)
        {
            throw new ArgumentException("At least one snapshot is needed.", nameof(samples));
        }

        EthtoolSnapshot first = samples[0];
        EthtoolSnapshot last = samples[^1];
        double seconds = (last.Time - first.Time).TotalSeconds;
        bool sampled = samples.Count > 1;
        var result = new List<InterfaceStatistic>(last.Statistics.Count);
        for (int i = 0; i < last.Statistics.Count; i++)
        {
            var s = last.Statistics[i];
            long? delta = null;
            double? rate = null;
            if (sampled && first.TryGetValue(s.Name, out ulong before))
            {
                delta = s.Value >= before ? (long)Math.Min(s.Value - before, long.MaxValue) : -(long)Math.Min(before - s.Value, long.MaxValue);
                rate = seconds > 0 ? delta.Value / seconds : null;
            }

            result.Add(new InterfaceStatistic(last.InterfaceName, last.Driver, i, s.Name, s.Value, delta, rate, last.Time));
        }

        return result;
    }

    internal static string Rate(double? perSecond) => perSecond is null ? "?" : perSecond.Value.ToString(perSecond.Value >= 100 ? "0" : "0.0", CultureInfo.InvariantCulture);

    internal static string Seconds(TimeSpan span) => span.TotalSeconds.ToString(span.TotalSeconds >= 100 ? "0" : "0.0", CultureInfo.InvariantCulture) + " s";

    private static string N(ulong? value) => value?.ToString("N0", CultureInfo.InvariantCulture) ?? "?";

    private static string Assess(EnaThrottling throttling, IReadOnlyList<EnaAllowanceCounter> by, IReadOnlyList<EnaAllowanceCounter> exceeded, int samples, TimeSpan elapsed)
    {
        switch (throttling)
        {
            case EnaThrottling.Now:
                return $"Throttling now ({samples} samples over {Seconds(elapsed)}): " + string.Join(" ", by.Select(NowPhrase));
            case EnaThrottling.NotNow:
            {
                string text = $"No throttling while sampling ({samples} samples over {Seconds(elapsed)}): no allowance counter moved.";
                var earlier = exceeded.Where(c => c.Value > 0).ToList();
                if (earlier.Count > 0)
                {
                    text += " Earlier, since the last device reset: " + string.Join(", ", earlier.Select(c => $"{c.Name} {N(c.Value)}")) + ".";
                }

                return text;
            }

            case EnaThrottling.SinceReset:
                return "Allowances were exceeded at some time since the last device reset: "
                    + string.Join(", ", by.Select(c => $"{c.Name} {N(c.Value)}"))
                    + ". One reading cannot tell whether it is happening now: take readings some seconds apart (Get-EnaLinkLocalStat -Count 5) and look at the deltas."
                    + (by.Any(c => c.Name == EnaCounters.LinkLocalAllowanceExceeded)
                        ? " linklocal_allowance_exceeded above 0 means IMDS, DNS or Time Sync packets were dropped at the " + EnaCounters.LinkLocalPacketsPerSecond.ToString(CultureInfo.InvariantCulture) + " packets/s limit of this interface."
                        : string.Empty);
            case EnaThrottling.None:
                return $"No allowance was exceeded since the last device reset: all {exceeded.Count} counters are 0.";
            default:
                return "The allowance counters did not appear in two consecutive samples, so their change cannot be computed.";
        }
    }

    private static string NowPhrase(EnaAllowanceCounter c)
    {
        string head = $"{c.Name} +{N(c.Delta)} ({Rate(c.PerSecond)}/s)";
        return c.Name switch
        {
            EnaCounters.LinkLocalAllowanceExceeded => head + ": packets to IMDS (169.254.169.254), the Amazon DNS resolver or Amazon Time Sync are being dropped because this interface sends more than "
                + EnaCounters.LinkLocalPacketsPerSecond.ToString(CultureInfo.InvariantCulture) + " link-local packets per second. Cache metadata and credentials, retry with exponential backoff and jitter, and cache DNS answers locally.",
            EnaCounters.PpsAllowanceExceeded => head + ": the instance is over its packets-per-second allowance; packets are queued or dropped.",
            EnaCounters.BwInAllowanceExceeded => head + ": the instance is over its inbound bandwidth allowance.",
            EnaCounters.BwOutAllowanceExceeded => head + ": the instance is over its outbound bandwidth allowance.",
            EnaCounters.ConntrackAllowanceExceeded => head + ": the instance tracks its maximum number of connections; new connections are dropped.",
            _ => head + ".",
        } + (c.Reset ? " (The counter went back while sampling: the device was reset.)" : string.Empty);
    }

    private static string NotEnaText(string interfaceName, string? driver)
    {
        string what = driver switch
        {
            null or "" => "a driver that does not name itself",
            "vif" => "Xen netfront (driver vif), the network interface of Xen instance types without enhanced networking",
            "ixgbevf" => "the Intel 82599 virtual function (ixgbevf), the older enhanced networking of C3, C4, R3, I2 and M4 instances",
            "virtio_net" => "virtio_net, a paravirtual NIC of KVM/QEMU and Firecracker virtual machines; EC2 instances do not use it, so this is probably not an EC2 instance",
            "veth" => "veth, one end of a virtual pair as containers and network namespaces use; an ENA interface, if there is one, is in the host's network namespace",
            _ => $"the driver {driver}",
        };
        return $"Not an ENA interface: '{interfaceName}' uses {what}. ENA's allowance counters (linklocal_allowance_exceeded and the others) do not exist here, so they are unknown, not 0.";
    }

    private static string UnsupportedEnaText(EnaCounterSupport support, EnaDriverVersion version)
    {
        const string Unknown = " The allowance counters are unknown here, not 0.";
        if (support == EnaCounterSupport.DriverTooOld)
        {
            return $"The ENA driver {version.Text} is older than 2.2.10, the first version that reports the allowance counters (linklocal_allowance_exceeded and the others)."
                + Unknown + " Install a current ENA driver (github.com/amzn/amzn-drivers) or move to a newer kernel or AMI.";
        }

        return version.Flavor switch
        {
            EnaDriverFlavor.InTreeKernelRelease =>
                $"This in-tree ENA driver (its version is the kernel release, {version.Text}) does not report the allowance counters."
                + Unknown + " The GitHub driver has them since 2.2.10 and mainline Linux since about 5.9; distributions backport them. Update the kernel or install the ENA driver from github.com/amzn/amzn-drivers.",
            _ when version.Version is not null =>
                $"The ENA driver {version.Text} can report the allowance counters, but this device does not offer them (the driver lists them only when the device advertises them)." + Unknown,
            _ => $"This ENA driver (version '{version.Text}') does not report the allowance counters." + Unknown
                + " They need ENA 2.2.10 or later (github.com/amzn/amzn-drivers) or a kernel of about 5.9 or later.",
        };
    }
}
