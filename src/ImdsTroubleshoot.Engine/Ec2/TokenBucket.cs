using System;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>
/// A token bucket, the model EC2 throttles with: <see cref="Capacity"/> calls at once, then
/// <see cref="RefillPerSecond"/> per second. Callers reserve a token and wait until it is theirs, so the calls
/// leave in order and never faster than the bucket allows. Thread-safe; time comes from a <see cref="TimeProvider"/>.
/// </summary>
public sealed class TokenBucket
{
    private readonly object _lock = new();
    private readonly TimeProvider _time;
    private double _tokens;
    private DateTimeOffset _last;

    public TokenBucket(int capacity, double refillPerSecond, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        if (double.IsNaN(refillPerSecond) || refillPerSecond <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(refillPerSecond), refillPerSecond, "The refill rate must be greater than zero.");
        }

        Capacity = capacity;
        RefillPerSecond = refillPerSecond;
        _time = time ?? TimeProvider.System;
        _tokens = capacity;
        _last = _time.GetUtcNow();
    }

    public int Capacity { get; }

    public double RefillPerSecond { get; }

    /// <summary>Tokens available now (negative while callers are queued for future tokens).</summary>
    public double Available
    {
        get
        {
            lock (_lock)
            {
                Refill();
                return _tokens;
            }
        }
    }

    /// <summary>Takes the next token and says how long to wait before it may be used (zero when one is free now).</summary>
    public TimeSpan Reserve()
    {
        lock (_lock)
        {
            Refill();
            _tokens -= 1;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / RefillPerSecond);
        }
    }

    /// <summary>Reserves a token and waits for it. On cancellation the token is given back.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        TimeSpan wait = Reserve();
        if (wait <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            lock (_lock)
            {
                _tokens = Math.Min(Capacity, _tokens + 1);
            }

            throw;
        }
    }

    private void Refill()
    {
        DateTimeOffset now = _time.GetUtcNow();
        double seconds = (now - _last).TotalSeconds;
        if (seconds > 0)
        {
            _tokens = Math.Min(Capacity, _tokens + (seconds * RefillPerSecond));
            _last = now;
        }
    }

    public override string ToString() => $"burst {Capacity}, {RefillPerSecond}/s";
}
