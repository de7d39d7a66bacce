using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>An interface that could not be read in a sampling round; it is left out of the rounds after.</summary>
public sealed class EthtoolSampleFailure
{
    internal EthtoolSampleFailure(string interfaceName, Exception exception)
    {
        Interface = interfaceName;
        Exception = exception;
    }

    public string Interface { get; }

    public Exception Exception { get; }
}

/// <summary>One sampling round: a snapshot of every interface still being sampled.</summary>
public sealed class EthtoolSampleRound
{
    internal EthtoolSampleRound(int number, int? total, DateTimeOffset time, IReadOnlyList<EthtoolSnapshot> snapshots, IReadOnlyList<EthtoolSampleFailure> failures, TimeSpan elapsed)
    {
        Number = number;
        Total = total;
        Time = time;
        Snapshots = snapshots;
        Failures = failures;
        Elapsed = elapsed;
    }

    /// <summary>1 for the first round.</summary>
    public int Number { get; }

    /// <summary>How many rounds there will be; null when sampling runs until cancelled.</summary>
    public int? Total { get; }

    public DateTimeOffset Time { get; }

    /// <summary>Time since the first round started.</summary>
    public TimeSpan Elapsed { get; }

    public IReadOnlyList<EthtoolSnapshot> Snapshots { get; }

    /// <summary>Interfaces that failed in this round (they are not sampled again).</summary>
    public IReadOnlyList<EthtoolSampleFailure> Failures { get; }

    public bool IsLast => Total is not null && Number >= Total;
}

/// <summary>
/// Reads a set of interfaces every <c>interval</c>, <c>count</c> times or until cancelled, on a fixed schedule
/// (round k starts at k × interval after the first, however long a read takes). Each round is handed to the caller as
/// it completes, so a cmdlet can show progress and write results while sampling goes on.
/// </summary>
public sealed class EthtoolSampler
{
    /// <summary>The shortest interval: each ENA statistics read sends an admin command to the device.</summary>
    public static readonly TimeSpan MinimumInterval = TimeSpan.FromMilliseconds(100);

    private readonly Func<string, CancellationToken, EthtoolSnapshot> _read;
    private readonly TimeProvider _time;

    public EthtoolSampler(Func<string, CancellationToken, EthtoolSnapshot> read, TimeProvider? time = null)
    {
        _read = read ?? throw new ArgumentNullException(nameof(read));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A sampler over the kernel, through <paramref name="reader"/>.</summary>
    public static EthtoolSampler ForReader(EthtoolReader reader, IReadOnlyDictionary<string, string?>? busDrivers = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return new EthtoolSampler((name, token) => reader.Read(name, busDrivers is not null && busDrivers.TryGetValue(name, out string? d) ? d : null, token), time);
    }

    /// <summary>
    /// Samples <paramref name="interfaces"/>. With <paramref name="count"/> null it runs until
    /// <paramref name="cancellationToken"/> is cancelled, then throws <see cref="OperationCanceledException"/>.
    /// Sampling ends early when every interface has failed.
    /// </summary>
    public IEnumerable<EthtoolSampleRound> Run(IReadOnlyList<string> interfaces, TimeSpan interval, int? count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(interfaces);
        if (interval < MinimumInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, $"The sample interval must be at least {MinimumInterval.TotalMilliseconds} ms.");
        }

        if (count is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "The sample count must be 1 or more.");
        }

        return RunIterator(interfaces.ToList(), interval, count, cancellationToken);
    }

    private IEnumerable<EthtoolSampleRound> RunIterator(List<string> active, TimeSpan interval, int? count, CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        for (int number = 1; count is null || number <= count; number++)
        {
            if (number > 1)
            {
                TimeSpan due = interval * (number - 1);
                TimeSpan wait = due - _time.GetElapsedTime(start);
                if (wait > TimeSpan.Zero)
                {
                    Task.Delay(wait, _time, cancellationToken).GetAwaiter().GetResult();
                }
            }

            cancellationToken.ThrowIfCancellationRequested();
            var snapshots = new List<EthtoolSnapshot>(active.Count);
            var failures = new List<EthtoolSampleFailure>();
            foreach (string name in active)
            {
                try
                {
                    snapshots.Add(_read(name, cancellationToken));
                }
                catch (Exception ex) when (ex is EthtoolException or UnauthorizedAccessException)
                {
                    failures.Add(new EthtoolSampleFailure(name, ex));
                }
            }

            foreach (var failure in failures)
            {
                active.Remove(failure.Interface);
            }

            bool exhausted = active.Count == 0;
            yield return new EthtoolSampleRound(number, exhausted ? number : count, _time.GetUtcNow(), snapshots, failures, _time.GetElapsedTime(start));
            if (exhausted)
            {
                yield break;
            }
        }
    }
}
