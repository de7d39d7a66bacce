using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Ena;

namespace ImdsTroubleshoot.Commands;

/// <summary>
/// Reads ENA's allowance counters (linklocal_allowance_exceeded and the others) the way <c>ethtool -S</c> does,
/// straight from the kernel, and says in plain words whether packets are being shaped or dropped.
/// </summary>
[Cmdlet(VerbsCommon.Get, "EnaLinkLocalStat", DefaultParameterSetName = OnceSet)]
[OutputType(typeof(EnaInterfaceStatistics), typeof(InterfaceStatistic))]
public sealed class GetEnaLinkLocalStatCommand : ImdsCmdlet
{
    public const string OnceSet = "Once";
    public const string SampleSet = "Sample";
    public const string WatchSet = "Watch";

    private const int ProgressId = 0x454e41;
    private static readonly TimeSpan MaximumInterval = TimeSpan.FromHours(1);

    private readonly List<string> _requested = new();

    /// <summary>Interface names; wildcards allowed. Default: every ENA interface (with -All: every interface).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("InterfaceName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Interface { get; set; }

    /// <summary>Any interface, not only ENA, and every statistic as name/value pairs.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    [Parameter(ParameterSetName = SampleSet)]
    [Parameter(ParameterSetName = WatchSet)]
    [SecondsToTimeSpan]
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(1);

    [Parameter(ParameterSetName = SampleSet)]
    [ValidateRange(2, 1_000_000)]
    public int Count { get; set; } = 5;

    [Parameter(Mandatory = true, ParameterSetName = WatchSet)]
    public SwitchParameter Watch { get; set; }

    private sealed record Target(string Name, string? BusDriver, bool KnownEna, bool Explicit);

    protected override void BeginProcessing()
    {
        if (SampleInterval < EthtoolSampler.MinimumInterval || SampleInterval > MaximumInterval)
        {
            ThrowTerminatingError(new ArgumentOutOfRangeException(nameof(SampleInterval), SampleInterval,
                    $"-SampleInterval must be from {EthtoolSampler.MinimumInterval.TotalSeconds.ToString(CultureInfo.InvariantCulture)} seconds to 1 hour; {SampleInterval} is not."),
                ErrorIds.InvalidSampleInterval, ErrorCategory.InvalidArgument, SampleInterval,
                "Use 1 second or more: every read of ENA statistics sends a command to the device.");
        }
    }

    protected override void ProcessRecord()
    {
        if (Interface is not null)
        {
            _requested.AddRange(Interface);
        }
    }

    protected override void EndProcessing()
    {
        EthtoolReader reader;
        try
        {
            reader = EthtoolReader.Open();
        }
        catch (PlatformNotSupportedException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.InterfaceStatisticsReadFailed, ErrorCategory.NotImplemented, null);
            return;
        }
        catch (EthtoolException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.InterfaceStatisticsReadFailed, ErrorCategory.ResourceUnavailable, null);
            return;
        }

        using (reader)
        {
            var discovered = EnaDiscovery.Discover(reader);
            var context = NetworkNamespaceContext.Detect(discovered.Select(d => d.Entry));
            var targets = SelectTargets(discovered, context);
            if (targets.Count > 0)
            {
                Sample(reader, targets, context);
            }
        }
    }

    private List<Target> SelectTargets(IReadOnlyList<DiscoveredInterface> discovered, NetworkNamespaceContext context)
    {
        var targets = new List<Target>();
        void Add(Target t)
        {
            if (!targets.Any(x => x.Name == t.Name))
            {
                targets.Add(t);
            }
        }

        if (_requested.Count > 0)
        {
            foreach (string name in _requested)
            {
                if (WildcardPattern.ContainsWildcardCharacters(name))
                {
                    var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
                    var matches = discovered.Where(d => pattern.IsMatch(d.Name)).ToList();
                    if (matches.Count == 0)
                    {
                        WriteVerbose($"No interface matches '{name}'. Interfaces here: {EnaDiscovery.DescribeDrivers(discovered)}.");
                    }

                    foreach (var d in matches)
                    {
                        Add(new Target(d.Name, d.Entry.BusDriver, d.IsEna, Explicit: false));
                    }

                    continue;
                }

                try
                {
                    EthtoolReader.ValidateInterfaceName(name);
                }
                catch (ArgumentException ex)
                {
                    WriteError(ex, ErrorIds.InvalidInterfaceName, ErrorCategory.InvalidArgument, name);
                    continue;
                }

                var known = discovered.FirstOrDefault(d => d.Name == name);
                Add(new Target(name, known?.Entry.BusDriver, known?.IsEna ?? false, Explicit: true));
            }

            return targets;
        }

        if (All.IsPresent)
        {
            foreach (var d in discovered)
            {
                Add(new Target(d.Name, d.Entry.BusDriver, d.IsEna, Explicit: false));
            }

            return targets;
        }

        foreach (var d in discovered.Where(d => d.IsEna))
        {
            Add(new Target(d.Name, d.Entry.BusDriver, KnownEna: true, Explicit: false));
        }

        if (targets.Count == 0)
        {
            ThrowTerminatingError(new InvalidOperationException(EnaDiscovery.NoEnaInterfaceMessage(discovered, context)),
                ErrorIds.NoEnaInterface, ErrorCategory.ObjectNotFound, null,
                "Run this on an EC2 instance with ENA networking (Nitro), in the host's network namespace. 'Get-EnaLinkLocalStat -All' lists the statistics the drivers here do have.");
        }

        return targets;
    }

    private void Sample(EthtoolReader reader, List<Target> targets, NetworkNamespaceContext context)
    {
        var busDrivers = targets.ToDictionary(t => t.Name, t => t.BusDriver, StringComparer.Ordinal);
        var sampler = EthtoolSampler.ForReader(reader, busDrivers);
        int? count = ParameterSetName switch
        {
            SampleSet => Count,
            WatchSet => null,
            _ => 1,
        };
        TimeSpan interval = SampleInterval;
        var series = targets.ToDictionary(t => t.Name, _ => new List<EthtoolSnapshot>(), StringComparer.Ordinal);
        var byName = targets.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var t in targets)
        {
            WriteVerbose($"Reading {t.Name}{(t.BusDriver is null ? string.Empty : $" (device driver {t.BusDriver})")} through SIOCETHTOOL, as 'ethtool -S {t.Name}' does.");
        }

        try
        {
            foreach (var round in sampler.Run(targets.Select(t => t.Name).ToList(), interval, count, CancellationToken))
            {
                foreach (var failure in round.Failures)
                {
                    ReportFailure(failure, byName[failure.Interface]);
                }

                foreach (var snapshot in round.Snapshots)
                {
                    var list = series[snapshot.InterfaceName];
                    list.Add(snapshot);
                    if (count is null)
                    {
                        if (list.Count > 2)
                        {
                            list.RemoveAt(0);
                        }

                        if (list.Count == 2)
                        {
                            Emit(list, byName[snapshot.InterfaceName], context);
                        }
                    }
                }

                if (count is not 1)
                {
                    WriteProgress(Progress(round, series, interval));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: the pipeline is stopping.
            return;
        }

        if (count is not 1)
        {
            WriteProgress(new ProgressRecord(ProgressId, "Get-EnaLinkLocalStat", "Done") { RecordType = ProgressRecordType.Completed });
        }

        if (count is not null)
        {
            foreach (var t in targets)
            {
                if (series[t.Name].Count > 0)
                {
                    Emit(series[t.Name], t, context);
                }
            }
        }
    }

    private void Emit(IReadOnlyList<EthtoolSnapshot> samples, Target target, NetworkNamespaceContext context)
    {
        if (All.IsPresent)
        {
            WriteObject(EnaInterpreter.AllStatistics(samples), enumerateCollection: true);
            return;
        }

        var result = EnaInterpreter.Interpret(samples, target.KnownEna ? null : context.Note);
        WriteObject(result);
    }

    private ProgressRecord Progress(EthtoolSampleRound round, Dictionary<string, List<EthtoolSnapshot>> series, TimeSpan interval)
    {
        string seconds = interval.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        var parts = new List<string>();
        foreach (var (name, samples) in series)
        {
            if (samples.Count == 0)
            {
                continue;
            }

            if (All.IsPresent)
            {
                parts.Add($"{name} {samples[^1].Statistics.Count} statistics");
                continue;
            }

            var now = EnaInterpreter.Interpret(samples);
            var linkLocal = now.Counter(EnaCounters.LinkLocalAllowanceExceeded);
            parts.Add(!linkLocal!.Supported ? $"{name} no ENA counters"
                : samples.Count < 2 ? $"{name} linklocal {linkLocal.Value}"
                : $"{name} linklocal +{linkLocal.Delta} ({(linkLocal.PerSecond ?? 0).ToString("0.0", CultureInfo.InvariantCulture)}/s)");
        }

        string status;
        int percent;
        int remaining = -1;
        if (round.Total is int total)
        {
            status = $"Sample {round.Number} of {total}, every {seconds} s: {string.Join("; ", parts)}";
            percent = (int)Math.Min(100, round.Number * 100L / total);
            remaining = (int)Math.Ceiling(interval.TotalSeconds * (total - round.Number));
        }
        else
        {
            status = $"Sample {round.Number}, every {seconds} s: {string.Join("; ", parts)}. Ctrl+C stops.";
            percent = -1;
        }

        return new ProgressRecord(ProgressId, "Get-EnaLinkLocalStat", status)
        {
            PercentComplete = percent,
            SecondsRemaining = remaining,
            CurrentOperation = round.Number == 1 && round.Total is null ? "First reading taken; results start after the next one." : null,
        };
    }

    private void ReportFailure(EthtoolSampleFailure failure, Target target)
    {
        switch (failure.Exception)
        {
            case NetworkInterfaceNotFoundException ex:
                WriteError(ex, ErrorIds.NetworkInterfaceNotFound, ErrorCategory.ObjectNotFound, failure.Interface,
                    "List the interfaces with 'ip link' or 'Get-EnaLinkLocalStat -All'. A container's or another network namespace's interfaces are visible only from inside it.");
                break;
            case EthtoolStatisticsNotSupportedException ex when !target.Explicit:
                WriteVerbose($"{failure.Interface}: no driver statistics, skipped ({ex.Message})");
                break;
            case EthtoolStatisticsNotSupportedException ex:
                WriteError(ex, ErrorIds.InterfaceStatisticsNotSupported, ErrorCategory.NotImplemented, failure.Interface,
                    "This interface has no driver statistics at all (loopback and bridges have none); ENA counters exist only on ENA interfaces.");
                break;
            case UnauthorizedAccessException ex:
                WriteError(ex, ErrorIds.InterfaceStatisticsAccessDenied, ErrorCategory.PermissionDenied, failure.Interface,
                    "Reading statistics needs no root; check the seccomp/SELinux/AppArmor profile or container runtime that blocks ioctl(SIOCETHTOOL).");
                break;
            default:
                WriteError(failure.Exception, ErrorIds.InterfaceStatisticsReadFailed, ErrorCategory.ReadError, failure.Interface);
                break;
        }
    }
}
