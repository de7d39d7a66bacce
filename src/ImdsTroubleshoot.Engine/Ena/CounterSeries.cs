using System;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>One statistic followed through a series of snapshots of the same interface.</summary>
internal readonly record struct SeriesResult(
    ulong? Last,
    ulong? Delta,
    double? PerSecond,
    double? PeakPerSecond,
    ulong? Minimum,
    ulong? Maximum,
    bool WentBackwards,
    int Present);

internal static class CounterSeries
{
    /// <summary>
    /// Follows <paramref name="name"/> through <paramref name="samples"/> (oldest first). For a counter, the delta is
    /// the sum of the changes between consecutive samples that both have it; a counter that went backwards was
    /// reset (a device reset zeroes ENA's counters), so that step counts the new value as its change. Rates are
    /// per second over the time those steps cover; the peak is the highest single-step rate.
    /// </summary>
    public static SeriesResult Compute(IReadOnlyList<EthtoolSnapshot> samples, string name, bool gauge)
    {
        ulong? last = null;
        ulong? min = null;
        ulong? max = null;
        ulong? delta = null;
        double seconds = 0;
        double? peak = null;
        bool backwards = false;
        int present = 0;
        EthtoolSnapshot? previous = null;
        ulong previousValue = 0;
        foreach (var sample in samples)
        {
            if (!sample.TryGetValue(name, out ulong value))
            {
                previous = null;
                continue;
            }

            present++;
            last = value;
            min = min is null ? value : Math.Min(min.Value, value);
            max = max is null ? value : Math.Max(max.Value, value);
            if (previous is not null && !gauge)
            {
                ulong step;
                if (value >= previousValue)
                {
                    step = value - previousValue;
                }
                else
                {
                    backwards = true;
                    step = value;
                }

                delta = (delta ?? 0) + step;
                double dt = (sample.Time - previous.Time).TotalSeconds;
                if (dt > 0)
                {
                    seconds += dt;
                    double rate = step / dt;
                    peak = peak is null ? rate : Math.Max(peak.Value, rate);
                }
            }

            previous = sample;
            previousValue = value;
        }

        double? perSecond = delta is not null && seconds > 0 ? delta.Value / seconds : null;
        return new SeriesResult(last, delta, perSecond, peak, min, max, backwards, present);
    }
}
