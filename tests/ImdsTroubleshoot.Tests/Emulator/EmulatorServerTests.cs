using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Emulator;
using Xunit;

namespace ImdsTroubleshoot.Tests.Emulator;

/// <summary>The emulator on real sockets: any bytes a client sends get an HTTP error or a closed connection, never a crash or a hung listener.</summary>
public sealed class EmulatorServerTests : IDisposable
{
    private readonly ImdsEmulator _emulator;

    public EmulatorServerTests()
    {
        _emulator = ImdsEmulator.Start(new EmulatorOptions
        {
            Name = "test-server",
            Settings = new EmulatorSettings { HttpPutResponseHopLimit = 2 },
            RequestReadTimeout = TimeSpan.FromSeconds(2),
            DropHoldTime = TimeSpan.FromSeconds(3),
        });
    }

    public void Dispose() => _emulator.Dispose();

    private IPEndPoint EndPoint => _emulator.Listeners[0];

    /// <summary>Sends raw bytes and reads until the server closes or <paramref name="wait"/> passes.</summary>
    private async Task<(string Response, bool Closed)> RawAsync(byte[] payload, TimeSpan wait, bool halfClose = false)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(EndPoint.Address, EndPoint.Port);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // The server accepted and reset the connection before connect() returned here (a loaded machine): closed.
            return (string.Empty, true);
        }

        var stream = client.GetStream();
        await stream.WriteAsync(payload);
        if (halfClose)
        {
            client.Client.Shutdown(SocketShutdown.Send);
        }

        var buffer = new byte[64 * 1024];
        var sb = new StringBuilder();
        using var cts = new CancellationTokenSource(wait);
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(buffer, cts.Token);
                if (n == 0)
                {
                    return (sb.ToString(), true);
                }

                sb.Append(Encoding.Latin1.GetString(buffer, 0, n));
            }
        }
        catch (OperationCanceledException)
        {
            return (sb.ToString(), false);
        }
        catch (System.IO.IOException)
        {
            return (sb.ToString(), true);
        }
    }

    private Task<(string Response, bool Closed)> RawAsync(string text, TimeSpan wait) => RawAsync(Encoding.Latin1.GetBytes(text), wait);

    private async Task AssertStillServesAsync()
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        Assert.Equal("i-0123456789abcdef0", await http.GetStringAsync(new Uri(_emulator.Endpoint, "latest/meta-data/instance-id")));
    }

    [Fact]
    public async Task A_well_formed_request_gets_the_real_services_headers()
    {
        var (response, _) = await RawAsync("GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response, StringComparison.Ordinal);
        Assert.Contains("\r\nServer: EC2ws\r\n", response, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Type: text/plain\r\n", response, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\ni-0123456789abcdef0", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Head_sends_headers_only()
    {
        var (response, _) = await RawAsync("HEAD /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.Contains("Content-Length: 19\r\n", response, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GARBAGE\r\n\r\n")]
    [InlineData("GET\r\n\r\n")]
    [InlineData("get /latest/ HTTP/1.1\r\n\r\n")]
    [InlineData("GET latest HTTP/1.1\r\n\r\n")]
    [InlineData("GET /latest/ SPDY/3\r\n\r\n")]
    [InlineData("GET /latest/ HTTP/1.1\r\nNoColonHere\r\n\r\n")]
    [InlineData("GET /latest/ HTTP/1.1\r\n folded: header\r\n\r\n")]
    [InlineData("GET /latest/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n")]
    [InlineData("GET /latest/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")]
    [InlineData("PUT /latest/api/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")]
    [InlineData("GET /latest/\u0001 HTTP/1.1\r\n\r\n")]
    public async Task Malformed_requests_get_400_and_a_closed_connection(string request)
    {
        var (response, closed) = await RawAsync(request, TimeSpan.FromSeconds(5));
        Assert.StartsWith("HTTP/1.1 400 Bad Request", response, StringComparison.Ordinal);
        Assert.True(closed);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Unsupported_http_version_gets_505()
    {
        var (response, _) = await RawAsync("GET /latest/ HTTP/2.0\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.StartsWith("HTTP/1.1 505", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Huge_headers_get_431_and_a_closed_connection()
    {
        string request = "GET /latest/ HTTP/1.1\r\nX-Big: " + new string('a', 100_000) + "\r\n\r\n";
        var (response, closed) = await RawAsync(request, TimeSpan.FromSeconds(5));
        Assert.StartsWith("HTTP/1.1 431", response, StringComparison.Ordinal);
        Assert.True(closed);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Oversized_body_gets_413()
    {
        var (response, _) = await RawAsync("PUT /latest/api/token HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.StartsWith("HTTP/1.1 413", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Random_binary_garbage_never_hangs_the_listener()
    {
        var random = new Random(1234);
        for (int i = 0; i < 20; i++)
        {
            var bytes = new byte[random.Next(1, 5000)];
            random.NextBytes(bytes);
            bytes[^1] = (byte)'\n';
            var (response, closed) = await RawAsync(bytes.Concat(Encoding.ASCII.GetBytes("\r\n\r\n")).ToArray(), TimeSpan.FromSeconds(5), halfClose: true);
            Assert.True(closed || response.StartsWith("HTTP/1.1 4", StringComparison.Ordinal), $"iteration {i}: {response}");
        }

        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_slow_client_is_disconnected_after_the_read_timeout()
    {
        var started = DateTime.UtcNow;
        var (response, closed) = await RawAsync("GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n", TimeSpan.FromSeconds(10));
        Assert.True(closed);
        Assert.Equal(string.Empty, response);
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 1.5, 8);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_client_that_closes_midway_leaves_the_server_serving()
    {
        var (_, closed) = await RawAsync(Encoding.ASCII.GetBytes("GET /latest/meta-data/ HTT"), TimeSpan.FromSeconds(5), halfClose: true);
        Assert.True(closed);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Pipelined_keep_alive_requests_are_answered_in_order()
    {
        string two = "GET /latest/meta-data/instance-type HTTP/1.1\r\nHost: x\r\n\r\nGET /latest/meta-data/placement/region HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        var (response, closed) = await RawAsync(two, TimeSpan.FromSeconds(5));
        Assert.True(closed);
        int a = response.IndexOf("t3.micro", StringComparison.Ordinal);
        int b = response.IndexOf("eu-west-1", StringComparison.Ordinal);
        Assert.True(a > 0 && b > a, response);
    }

    [Fact]
    public async Task Many_parallel_clients_are_all_served()
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromSeconds(20) };
        var tasks = Enumerable.Range(0, 300).Select(_ => http.GetStringAsync(new Uri(_emulator.Endpoint, "latest/meta-data/local-ipv4")));
        var results = await Task.WhenAll(tasks);
        Assert.All(results, r => Assert.Equal("172.31.20.15", r));
    }

    [Fact]
    public async Task Settings_change_while_running_and_the_log_records_each_request()
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        var uri = new Uri(_emulator.Endpoint, "latest/meta-data/instance-id");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(uri)).StatusCode);
        _emulator.UpdateSettings(s => s with { HttpTokens = HttpTokensState.Required });
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(uri)).StatusCode);
        _emulator.UpdateSettings(s => s with { HttpEndpoint = FeatureState.Disabled });
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(uri)).StatusCode);

        var log = _emulator.GetRequestLog().Where(r => r.Path == "/latest/meta-data/instance-id").ToList();
        Assert.Equal(new[] { 200, 401, 403 }, log.Select(r => r.StatusCode).ToArray());
        Assert.All(log, r => Assert.True(r.IsImdsV1));
        Assert.All(log, r => Assert.Equal("127.0.0.1", r.ClientAddress));
        Assert.Equal("IMDSv1 request while HttpTokens=required", log[1].Reason);
    }

    [Fact]
    public async Task Throttled_by_dropping_the_client_waits_and_gets_nothing()
    {
        _emulator.UpdateSettings(s => s with { ThrottleRequestsPerSecond = 0.001, ThrottleBurst = 1, ThrottleAction = ThrottleAction.Drop });
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(1) };
        var uri = new Uri(_emulator.Endpoint, "latest/meta-data/instance-id");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(uri)).StatusCode);
        await Assert.ThrowsAsync<TaskCanceledException>(() => http.GetAsync(uri));
        Assert.Contains(_emulator.GetRequestLog(), r => r.StatusCode == 0 && r.Reason == "throttled: dropped");
    }

    [Fact]
    public async Task Latency_delays_every_answer()
    {
        _emulator.UpdateSettings(s => s with { Latency = TimeSpan.FromMilliseconds(400) });
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await http.GetStringAsync(new Uri(_emulator.Endpoint, "latest/meta-data/instance-id"));
        Assert.True(sw.ElapsedMilliseconds >= 380, sw.ElapsedMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Connections_past_the_limit_are_closed_at_once()
    {
        _emulator.UpdateSettings(s => s with { MaxConnections = 2 });
        using var a = new TcpClient();
        using var b = new TcpClient();
        await a.ConnectAsync(EndPoint.Address, EndPoint.Port);
        await b.ConnectAsync(EndPoint.Address, EndPoint.Port);
        await Task.Delay(200);
        var (response, closed) = await RawAsync("GET /latest/ HTTP/1.1\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.True(closed);
        Assert.Equal(string.Empty, response);
        Assert.Contains(_emulator.GetRequestLog(), r => r.Reason == "connection limit reached");
    }

    [Fact]
    public async Task Stop_closes_the_listener()
    {
        var emulator = ImdsEmulator.Start(new EmulatorOptions { Name = "test-stop" });
        var ep = emulator.Listeners[0];
        emulator.Stop();
        Assert.False(emulator.Running);
        using var client = new TcpClient();
        var ex = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(ep.Address, ep.Port));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    [Fact]
    public async Task Ipv6_listener_refuses_connections_while_HttpProtocolIpv6_is_disabled()
    {
        if (!Socket.OSSupportsIPv6)
        {
            throw new InvalidOperationException("this machine has no IPv6 loopback");
        }

        using var emulator = ImdsEmulator.Start(new EmulatorOptions { Name = "test-v6", Addresses = new[] { IPAddress.IPv6Loopback } });
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        var uri = new Uri(emulator.Endpoint, "latest/meta-data/instance-id");
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync(uri));
        emulator.UpdateSettings(s => s with { HttpProtocolIpv6 = FeatureState.Enabled });
        Assert.Equal("i-0123456789abcdef0", await http.GetStringAsync(uri));
    }
}
