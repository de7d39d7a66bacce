using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Client;

/// <summary>The metadata client against the emulator and hostile servers on loopback.</summary>
public sealed class ImdsClientTests
{
    private static ImdsEmulator Emulator(EmulatorSettings? settings = null, TimeProvider? time = null) => ImdsEmulator.Start(new EmulatorOptions
    {
        Name = "test-client",
        Settings = settings ?? new EmulatorSettings { HttpPutResponseHopLimit = 2 },
        TimeProvider = time,
        DropHoldTime = TimeSpan.FromSeconds(2),
    });

    private static ImdsClient Client(Uri endpoint, Func<ImdsClientOptions, ImdsClientOptions>? change = null)
    {
        var options = new ImdsClientOptions { Endpoint = endpoint };
        return new ImdsClient(change is null ? options : change(options));
    }

    [Theory]
    [InlineData("meta-data/instance-id", "/latest/meta-data/instance-id")]
    [InlineData("/latest/meta-data/", "/latest/meta-data/")]
    [InlineData("latest/user-data", "/latest/user-data")]
    [InlineData("2021-03-23/meta-data/ami-id", "/2021-03-23/meta-data/ami-id")]
    [InlineData("http://169.254.169.254/latest/meta-data/mac", "/latest/meta-data/mac")]
    [InlineData("dynamic/instance-identity/document", "/latest/dynamic/instance-identity/document")]
    public void Paths_are_normalized(string input, string expected) => Assert.Equal(expected, ImdsClient.NormalizePath(input));

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("meta-data/a b")]
    [InlineData("meta-data/x?y")]
    [InlineData("meta-data/\u00e9")]
    public void Bad_paths_are_refused(string input) => Assert.Throws<ArgumentException>(() => ImdsClient.NormalizePath(input));

    [Fact]
    public async Task Reads_over_imdsv2_with_one_cached_token_and_keep_alive_connections()
    {
        using var emulator = Emulator();
        using var client = Client(emulator.Endpoint);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal("i-0123456789abcdef0", await client.GetStringAsync("meta-data/instance-id", CancellationToken.None));
        }

        var log = emulator.GetRequestLog();
        Assert.Single(log, r => r.Kind == ImdsRequestKind.TokenRequest);
        Assert.Equal(10, log.Count(r => r.Kind == ImdsRequestKind.V2 && r.StatusCode == 200));
        Assert.DoesNotContain(log, r => r.Kind == ImdsRequestKind.V1);
        Assert.True(log.Select(r => r.ConnectionId).Distinct().Count() <= 2, "keep-alive: the reads share a connection");
    }

    [Fact]
    public async Task The_token_is_renewed_before_it_expires()
    {
        using var emulator = Emulator();
        using var client = Client(emulator.Endpoint, o => new ImdsClientOptions { Endpoint = o.Endpoint, TokenTtlSeconds = 64 });
        await client.GetStringAsync("meta-data/instance-id", CancellationToken.None);
        await client.GetStringAsync("meta-data/instance-id", CancellationToken.None);
        Assert.Single(emulator.GetRequestLog(), r => r.Kind == ImdsRequestKind.TokenRequest);
        await Task.Delay(4200);
        await client.GetStringAsync("meta-data/instance-id", CancellationToken.None);
        Assert.Equal(2, emulator.GetRequestLog().Count(r => r.Kind == ImdsRequestKind.TokenRequest));
    }

    [Fact]
    public async Task A_token_the_service_no_longer_accepts_is_replaced_once()
    {
        var time = new ManualTime();
        using var emulator = Emulator(time: time);
        using var client = Client(emulator.Endpoint);
        await client.GetStringAsync("meta-data/instance-id", CancellationToken.None);
        time.Advance(TimeSpan.FromHours(7));
        Assert.Equal("t3.micro", await client.GetStringAsync("meta-data/instance-type", CancellationToken.None));
        var log = emulator.GetRequestLog();
        Assert.Contains(log, r => r.StatusCode == 401 && r.Reason == "expired token");
        Assert.Equal(2, log.Count(r => r.Kind == ImdsRequestKind.TokenRequest));
    }

    [Fact]
    public async Task Throttling_429_is_survived_with_backoff_within_the_bound()
    {
        using var emulator = Emulator(new EmulatorSettings { ThrottleRequestsPerSecond = 10, ThrottleBurst = 5 });
        using var client = Client(emulator.Endpoint, o => new ImdsClientOptions { Endpoint = o.Endpoint, MaxAttempts = 10, TotalTimeout = TimeSpan.FromSeconds(15) });
        var sw = Stopwatch.StartNew();
        var reads = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.GetStringAsync("meta-data/local-ipv4", CancellationToken.None)));
        Assert.All(reads, r => Assert.Equal("172.31.20.15", r));
        Assert.Contains(emulator.GetRequestLog(), r => r.StatusCode == 429);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), sw.Elapsed.ToString());
    }

    [Fact]
    public async Task Client_side_pacing_keeps_under_the_service_limit()
    {
        using var emulator = Emulator(new EmulatorSettings { ThrottleRequestsPerSecond = 10, ThrottleBurst = 10 });
        using var client = Client(emulator.Endpoint, o => new ImdsClientOptions { Endpoint = o.Endpoint, MaxRequestsPerSecond = 8 });
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 12; i++)
        {
            await client.GetStringAsync("meta-data/mac", CancellationToken.None);
        }

        Assert.DoesNotContain(emulator.GetRequestLog(), r => r.StatusCode == 429);
        // A burst of 8, then 8 a second: 13 requests (a token PUT and 12 GETs) take over half a second.
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(0.55), "13 requests at 8/s after a burst of 8: " + sw.Elapsed);
    }

    [Fact]
    public async Task Silent_drops_are_retried_and_the_read_succeeds_within_the_bound()
    {
        using var emulator = Emulator(new EmulatorSettings { ThrottleRequestsPerSecond = 4, ThrottleBurst = 1, ThrottleAction = ThrottleAction.Drop });
        using var client = Client(emulator.Endpoint, o => new ImdsClientOptions { Endpoint = o.Endpoint, AttemptTimeout = TimeSpan.FromMilliseconds(300), MaxAttempts = 10, TotalTimeout = TimeSpan.FromSeconds(8), MaxRequestsPerSecond = 0 });
        var sw = Stopwatch.StartNew();
        var reads = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.GetStringAsync("meta-data/ami-id", CancellationToken.None)));
        Assert.All(reads, r => Assert.Equal("ami-0abcdef1234567890", r));
        Assert.Contains(emulator.GetRequestLog(), r => r.Reason == "throttled: dropped");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8));
    }

    [Fact]
    public async Task A_black_hole_fails_within_the_total_bound()
    {
        using var hole = RawServer.BlackHole();
        using var client = Client(hole.Endpoint, o => new ImdsClientOptions { Endpoint = o.Endpoint, AttemptTimeout = TimeSpan.FromMilliseconds(400), TotalTimeout = TimeSpan.FromSeconds(2) });
        var sw = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<ImdsException>(() => client.GetStringAsync("meta-data/instance-id", CancellationToken.None));
        Assert.Equal(ImdsFailure.Timeout, ex.Failure);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.3, 3.5);
    }

    [Fact]
    public async Task Garbage_is_an_invalid_response_not_a_crash()
    {
        using var garbage = RawServer.Garbage();
        using var client = Client(garbage.Endpoint, o => new ImdsClientOptions { Endpoint = o.Endpoint, TotalTimeout = TimeSpan.FromSeconds(3) });
        var ex = await Assert.ThrowsAsync<ImdsException>(() => client.GetStringAsync("meta-data/instance-id", CancellationToken.None));
        Assert.Equal(ImdsFailure.InvalidResponse, ex.Failure);
    }

    [Fact]
    public async Task A_body_that_never_ends_is_cut_off_in_bounded_time_and_memory()
    {
        using var endless = RawServer.EndlessBody();
        using var client = Client(endless.Endpoint, o => new ImdsClientOptions { Endpoint = o.Endpoint, TotalTimeout = TimeSpan.FromSeconds(3), MaxAttempts = 1, AllowV1 = true });
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var sw = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<ImdsException>(() => client.GetStringAsync("meta-data/instance-id", CancellationToken.None));
        Assert.Equal(ImdsFailure.InvalidResponse, ex.Failure);
        Assert.Contains("too large", ex.Message, StringComparison.Ordinal);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4));
        Assert.True(GC.GetTotalMemory(forceFullCollection: true) - before < 50 * 1024 * 1024);
    }

    [Fact]
    public async Task Imdsv1_is_used_only_when_allowed()
    {
        // An endpoint without IMDSv2 (PUT answers 404), like an old mock.
        using var emulatorBehind = Emulator();
        using var noV2 = new RawServer(async (s, head, ct) =>
        {
            if (head.StartsWith("PUT ", StringComparison.Ordinal))
            {
                await RawServer.WriteAsync(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", ct);
                return;
            }

            await RawServer.WriteAsync(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nv1-ok", ct);
        });
        using var strict = Client(noV2.Endpoint);
        var ex = await Assert.ThrowsAsync<ImdsException>(() => strict.GetStringAsync("meta-data/instance-id", CancellationToken.None));
        Assert.Equal(ImdsFailure.TokenUnavailable, ex.Failure);
        using var lenient = Client(noV2.Endpoint, o => new ImdsClientOptions { Endpoint = o.Endpoint, AllowV1 = true });
        Assert.Equal("v1-ok", await lenient.GetStringAsync("meta-data/instance-id", CancellationToken.None));
    }

    [Theory]
    [InlineData("EndpointDisabled", ImdsFailure.Forbidden)]
    [InlineData("NoRole", ImdsFailure.NotFound)]
    public async Task Http_failures_map_to_their_failure_kinds(string scenario, ImdsFailure expected)
    {
        using var emulator = Emulator(EmulatorScenario.Get(scenario).Settings);
        var content = scenario == "NoRole" ? InstanceContent.CreateDefault().WithoutRole() : null;
        using var e2 = content is null ? null : ImdsEmulator.Start(new EmulatorOptions { Name = "test-norole", Content = content });
        using var client = Client((e2 ?? emulator).Endpoint);
        var ex = await Assert.ThrowsAsync<ImdsException>(() => client.GetStringAsync("meta-data/iam/security-credentials/", CancellationToken.None));
        Assert.Equal(expected, ex.Failure);
    }

    [Fact]
    public async Task The_whole_tree_is_walked_into_every_leaf()
    {
        using var emulator = Emulator(new EmulatorSettings { InstanceMetadataTags = FeatureState.Enabled });
        using var client = Client(emulator.Endpoint);
        var (items, failures) = await ImdsCrawler.CrawlAsync(client, "/latest/", 5000, 8, null, CancellationToken.None);
        Assert.Empty(failures);
        var expected = emulator.Content.Paths.Where(p => !p.EndsWith('/')).Select(p => "/latest/" + p).OrderBy(p => p, StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, items.Select(i => i.Path).ToArray());
        Assert.Contains(items, i => i.Path == "/latest/meta-data/public-keys/0/openssh-key");
        Assert.Single(emulator.GetRequestLog(), r => r.Kind == ImdsRequestKind.TokenRequest);
    }

    [Fact]
    public async Task A_walk_stops_at_the_item_limit()
    {
        using var emulator = Emulator();
        using var client = Client(emulator.Endpoint);
        await Assert.ThrowsAsync<InvalidOperationException>(() => ImdsCrawler.CrawlAsync(client, "/latest/meta-data/", 10, 4, null, CancellationToken.None));
    }

    [Fact]
    public void Role_credentials_keep_their_secrets_out_of_ToString()
    {
        string json = "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"s3cr3t-value\",\"Token\":\"t0k3n-value\",\"Expiration\":\"2026-11-23T18:00:00Z\"}";
        var c = ImdsRoleCredential.Parse("Role", json);
        Assert.DoesNotContain("s3cr3t", c.ToString(), StringComparison.Ordinal);
        Assert.Equal("s3cr3t-value", c.GetSecretAccessKey());
        Assert.Equal("t0k3n-value", c.GetSessionToken());
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 18, 0, 0, TimeSpan.Zero), c.Expiration);
        Assert.Throws<FormatException>(() => ImdsRoleCredential.Parse("Role", "<html>not json</html>"));
    }
}
