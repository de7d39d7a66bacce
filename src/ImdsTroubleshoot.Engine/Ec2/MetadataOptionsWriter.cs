using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>An instance to change, with what it has now (null when it could not be read) and what will change.</summary>
public sealed class PlannedMetadataChange
{
    public PlannedMetadataChange(string instanceId, ImdsMetadataOption? current, IReadOnlyList<MetadataOptionDifference> differences)
    {
        InstanceId = instanceId;
        Current = current;
        Differences = differences;
    }

    public string InstanceId { get; }

    public ImdsMetadataOption? Current { get; }

    public IReadOnlyList<MetadataOptionDifference> Differences { get; }
}

/// <summary>What became of one instance: its options after the call, or the error.</summary>
public sealed class MetadataChangeOutcome
{
    public MetadataChangeOutcome(PlannedMetadataChange planned, ImdsMetadataOption? result, AwsApiException? error)
    {
        Planned = planned;
        Result = result;
        Error = error;
    }

    public PlannedMetadataChange Planned { get; }

    public string InstanceId => Planned.InstanceId;

    /// <summary>The options as ModifyInstanceMetadataOptions or the last DescribeInstances reported them.</summary>
    public ImdsMetadataOption? Result { get; }

    public AwsApiException? Error { get; }

    public bool Succeeded => Error is null;
}

/// <summary>
/// Changes instance metadata options across many instances without tripping EC2's throttling: every
/// ModifyInstanceMetadataOptions call takes a token from a <see cref="TokenBucket"/> sized under the documented
/// bucket (burst 100, 5/s), a few calls run at once, and one instance's failure does not stop the others.
/// </summary>
public sealed class MetadataOptionsWriter
{
    private static readonly ConcurrentDictionary<string, TokenBucket> s_pacers = new(StringComparer.Ordinal);

    private readonly IEc2MetadataApi _api;
    private readonly TokenBucket _pacer;
    private readonly int _maxConcurrency;
    private readonly TimeProvider _time;
    private int _calls;

    public MetadataOptionsWriter(IEc2MetadataApi api, TokenBucket? pacer = null, int maxConcurrency = 4, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrency, 1);
        _api = api;
        _pacer = pacer ?? PacerFor(api.Connection);
        _maxConcurrency = maxConcurrency;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>ModifyInstanceMetadataOptions calls made so far.</summary>
    public int Calls => Volatile.Read(ref _calls);

    public TokenBucket Pacer => _pacer;

    /// <summary>First poll of <see cref="WaitUntilAppliedAsync"/>; later polls back off by half each time.</summary>
    public TimeSpan FirstPoll { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxPoll { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The pacer shared by every write to one Region and endpoint in this process (EC2's bucket is per account
    /// and Region, so two commands in a row share it too).
    /// </summary>
    public static TokenBucket PacerFor(AwsConnectionInfo connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        string key = connection.Region + "|" + connection.Endpoint;
        return s_pacers.GetOrAdd(key, _ => new TokenBucket(Ec2Limits.PacedModifyBurst, Ec2Limits.PacedModifyPerSecond));
    }

    /// <summary>Sends <paramref name="change"/> to each planned instance; outcomes stream back as calls finish.</summary>
    public async IAsyncEnumerable<MetadataChangeOutcome> ApplyAsync(IEnumerable<PlannedMetadataChange> planned, MetadataOptionsChange change, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(planned);
        ArgumentNullException.ThrowIfNull(change);
        change.Validate();
        var outcomes = Channel.CreateUnbounded<MetadataChangeOutcome>(new UnboundedChannelOptions { SingleReader = true });
        Task producer = Task.Run(() => ProduceAsync(planned, change, outcomes.Writer, cancellationToken), CancellationToken.None);
        await foreach (var outcome in outcomes.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            yield return outcome;
        }

        await producer.ConfigureAwait(false);
    }

    private async Task ProduceAsync(IEnumerable<PlannedMetadataChange> planned, MetadataOptionsChange change, ChannelWriter<MetadataChangeOutcome> writer, CancellationToken cancellationToken)
    {
        using var gate = new SemaphoreSlim(_maxConcurrency);
        var running = new List<Task>();
        try
        {
            foreach (var item in planned)
            {
                await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    await _pacer.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    gate.Release();
                    throw;
                }

                running.Add(ModifyOneAsync(item, change, gate, writer, cancellationToken));
            }

            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            try
            {
                await Task.WhenAll(running).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The first failure is the one to report.
            }

            writer.TryComplete(ex);
            return;
        }

        writer.TryComplete();
    }

    private async Task ModifyOneAsync(PlannedMetadataChange item, MetadataOptionsChange change, SemaphoreSlim gate, ChannelWriter<MetadataChangeOutcome> writer, CancellationToken cancellationToken)
    {
        MetadataChangeOutcome outcome;
        try
        {
            Interlocked.Increment(ref _calls);
            var options = await _api.ModifyInstanceMetadataOptionsAsync(item.InstanceId, change, cancellationToken).ConfigureAwait(false);
            var before = item.Current ?? new ImdsMetadataOption(item.InstanceId, null, null, null, null, null, null, null, null, _api.Connection.Region);
            outcome = new MetadataChangeOutcome(item, before.WithOptions(options), null);
        }
        catch (AwsApiException ex)
        {
            outcome = new MetadataChangeOutcome(item, item.Current, ex);
        }
        finally
        {
            gate.Release();
        }

        writer.TryWrite(outcome);
    }

    /// <summary>
    /// Polls DescribeInstances until each instance reports State = applied, or <paramref name="timeout"/> passes.
    /// Yields each instance once: applied (Succeeded), gone (NotFound error) or still pending at the deadline
    /// (an error of kind <see cref="AwsErrorKind.Service"/> with the code "NotApplied").
    /// </summary>
    public async IAsyncEnumerable<MetadataChangeOutcome> WaitUntilAppliedAsync(IReadOnlyList<MetadataChangeOutcome> changed, TimeSpan timeout, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changed);
        var pending = new Dictionary<string, MetadataChangeOutcome>(StringComparer.Ordinal);
        foreach (var outcome in changed.Where(o => o.Succeeded))
        {
            if (outcome.Result?.State == MetadataOptionsState.Applied)
            {
                yield return outcome;
            }
            else
            {
                pending[outcome.InstanceId] = outcome;
            }
        }

        var reader = new MetadataOptionsReader(_api);
        DateTimeOffset deadline = _time.GetUtcNow() + timeout;
        TimeSpan delay = FirstPoll;
        while (pending.Count > 0)
        {
            TimeSpan left = deadline - _time.GetUtcNow();
            if (left > TimeSpan.Zero)
            {
                await Task.Delay(delay < left ? delay : left, _time, cancellationToken).ConfigureAwait(false);
            }

            await foreach (var page in reader.ReadByIdsAsync(pending.Keys.ToList(), Array.Empty<Ec2Filter>(), cancellationToken).ConfigureAwait(false))
            {
                foreach (var item in page.Items)
                {
                    if (!pending.TryGetValue(item.InstanceId, out var before))
                    {
                        continue;
                    }

                    if (item.State == MetadataOptionsState.Applied)
                    {
                        pending.Remove(item.InstanceId);
                        yield return new MetadataChangeOutcome(before.Planned, item, null);
                    }
                    else
                    {
                        pending[item.InstanceId] = new MetadataChangeOutcome(before.Planned, item, null);
                    }
                }

                foreach (string id in page.NotFound)
                {
                    if (pending.Remove(id, out var gone))
                    {
                        yield return new MetadataChangeOutcome(gone.Planned, gone.Result, new AwsApiException(AwsErrorKind.NotFound,
                            $"The instance ID '{id}' no longer exists; it was not seen with the new options applied.", "InvalidInstanceID.NotFound", operation: "DescribeInstances"));
                    }
                }
            }

            if (pending.Count > 0 && _time.GetUtcNow() >= deadline)
            {
                foreach (var left2 in pending.Values.ToList())
                {
                    string state = left2.Result?.InstanceState is { } s ? $" The instance is {s}" + (s == "running" ? "." : "; stopped instances apply changes when they start.") : string.Empty;
                    yield return new MetadataChangeOutcome(left2.Planned, left2.Result, new AwsApiException(AwsErrorKind.Service,
                        $"The new metadata options of {left2.InstanceId} were still pending after {timeout.TotalSeconds:0} s.{state} Check again later with Get-ImdsMetadataOption -InstanceId {left2.InstanceId}.",
                        "NotApplied", operation: "DescribeInstances"));
                }

                pending.Clear();
            }

            delay = TimeSpan.FromTicks(Math.Min(MaxPoll.Ticks, (long)(delay.Ticks * 1.5)));
        }
    }
}
