using System;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Probe;
using ImdsTroubleshoot.Tests.Ena;
using Xunit;

namespace ImdsTroubleshoot.Tests.Probe;

/// <summary>The probe's throttling results carry the ENA counter and its delta over the probe.</summary>
public sealed class ProbeThrottleEvidenceTests
{
    private static ImdsEmulator Dropping()
    {
        var e = ImdsEmulator.Start(new EmulatorOptions
        {
            Name = "test-throttle-evidence",
            Settings = new EmulatorSettings { HttpPutResponseHopLimit = 2, ThrottleRequestsPerSecond = 0.01, ThrottleBurst = 1, ThrottleAction = ThrottleAction.Drop },
            DropHoldTime = TimeSpan.FromSeconds(2),
        });
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        http.GetAsync(new Uri(e.Endpoint, "latest/meta-data/")).GetAwaiter().GetResult().Dispose();
        return e;
    }

    [Fact]
    public async Task Dropped_requests_name_the_link_local_counter_and_its_delta()
    {
        using var emulator = Dropping();
        var source = new EnaStatisticsTests.CaptureSource()
            .Add("ens5", "ena", EnaStatisticsTests.Ena, () => EnaStatisticsTests.Modern("ens5", TimeSpan.Zero, 100), () => EnaStatisticsTests.Modern("ens5", TimeSpan.FromSeconds(2), 137));
        var options = new ImdsProbeOptions
        {
            Endpoints = new[] { emulator.Endpoint },
            StepTimeout = TimeSpan.FromMilliseconds(500),
            ThrottleWindow = ct =>
            {
                var probe = EnaStatistics.StartProbe(source, ct);
                return done => { var c = probe.Complete(done); return new ThrottleObservation(c.Throttled, c.Summary); };
            },
        };
        var results = await ImdsProbe.RunAsync(options, CancellationToken.None);
        var failed = results.Where(r => r.Outcome == ProbeOutcome.NoResponse).ToList();
        Assert.NotEmpty(failed);
        Assert.All(failed, r => Assert.Contains(r.Evidence, e => e.Contains("linklocal_allowance_exceeded", StringComparison.Ordinal) && e.Contains("+37 on ens5 (100 -> 137)", StringComparison.Ordinal)));
        Assert.All(failed, r => Assert.Equal("Get-EnaLinkLocalStat", r.RelatedCommand));
    }

    [Fact]
    public async Task Without_an_ena_interface_the_evidence_says_the_counter_is_not_available()
    {
        using var emulator = Dropping();
        var results = await ImdsProbe.RunAsync(new ImdsProbeOptions { Endpoints = new[] { emulator.Endpoint }, StepTimeout = TimeSpan.FromMilliseconds(500) }, CancellationToken.None);
        var failed = results.First(r => r.Outcome == ProbeOutcome.NoResponse);
        Assert.Contains(failed.Evidence, e => e.Contains("linklocal_allowance_exceeded is not available", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_healthy_probe_carries_no_throttling_evidence()
    {
        using var emulator = ImdsEmulator.Start(new EmulatorOptions { Name = "test-quiet" });
        var results = await ImdsProbe.RunAsync(new ImdsProbeOptions { Endpoints = new[] { emulator.Endpoint }, StepTimeout = TimeSpan.FromSeconds(3) }, CancellationToken.None);
        Assert.All(results, r => Assert.DoesNotContain(r.Evidence, e => e.Contains("linklocal", StringComparison.Ordinal)));
    }
}
