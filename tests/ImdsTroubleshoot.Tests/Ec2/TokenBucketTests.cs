using System;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ec2;

public sealed class TokenBucketTests
{
    [Fact]
    public void A_full_bucket_lets_the_burst_through_then_spaces_calls_at_the_refill_rate()
    {
        var time = new ManualTime();
        var bucket = new TokenBucket(Ec2Limits.ModifyMetadataOptionsBurst, Ec2Limits.ModifyMetadataOptionsRefillPerSecond, time);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(TimeSpan.Zero, bucket.Reserve());
        }

        // The 101st call waits one refill interval (200 ms at 5/s), the 102nd two, and so on: queued in order.
        Assert.Equal(TimeSpan.FromMilliseconds(200), bucket.Reserve());
        Assert.Equal(TimeSpan.FromMilliseconds(400), bucket.Reserve());
        Assert.Equal(-2, bucket.Available, 3);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(3, bucket.Available, 3);
        Assert.Equal(TimeSpan.Zero, bucket.Reserve());
    }

    [Fact]
    public void Refill_never_exceeds_the_capacity()
    {
        var time = new ManualTime();
        var bucket = new TokenBucket(10, 4, time);
        bucket.Reserve();
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(10, bucket.Available, 3);
    }

    [Fact]
    public void Calls_through_the_bucket_never_exceed_burst_plus_rate_times_elapsed()
    {
        // The invariant EC2 enforces, checked at every reservation over a long simulated run.
        var time = new ManualTime();
        var bucket = new TokenBucket(Ec2Limits.PacedModifyBurst, Ec2Limits.PacedModifyPerSecond, time);
        DateTimeOffset start = time.GetUtcNow();
        var rng = new Random(7);
        for (int call = 1; call <= 1000; call++)
        {
            TimeSpan wait = bucket.Reserve();
            time.Advance(wait + TimeSpan.FromMilliseconds(rng.Next(0, 50)));
            double elapsed = (time.GetUtcNow() - start).TotalSeconds;
            Assert.True(call <= Ec2Limits.PacedModifyBurst + (Ec2Limits.PacedModifyPerSecond * elapsed) + 1e-6, $"call {call} at {elapsed:F3}s");
        }
    }

    [Fact]
    public void The_paced_bucket_stays_under_the_documented_ModifyInstanceMetadataOptions_bucket()
    {
        Assert.True(Ec2Limits.PacedModifyBurst < Ec2Limits.ModifyMetadataOptionsBurst);
        Assert.True(Ec2Limits.PacedModifyPerSecond < Ec2Limits.ModifyMetadataOptionsRefillPerSecond);
    }

    [Fact]
    public async Task WaitAsync_waits_for_the_token_and_gives_it_back_when_cancelled()
    {
        var bucket = new TokenBucket(1, 20);
        await bucket.WaitAsync(CancellationToken.None);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await bucket.WaitAsync(CancellationToken.None);
        Assert.True(sw.ElapsedMilliseconds >= 35, $"{sw.ElapsedMilliseconds} ms");

        var slow = new TokenBucket(1, 0.1);
        await slow.WaitAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow.WaitAsync(cts.Token));
        Assert.True(slow.Available > -0.5, $"available {slow.Available}");
    }

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(1, 0.0)]
    [InlineData(1, double.NaN)]
    public void Rejects_a_bucket_that_cannot_work(int capacity, double rate)
    {
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => new TokenBucket(capacity, rate));
    }
}
