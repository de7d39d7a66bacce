using System;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// A loopback TCP server with a scripted, usually hostile, behaviour: for clients that must survive endpoints that
/// answer garbage, never finish, never answer, or sit in the path like a transparent proxy.
/// </summary>
public sealed class RawServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<NetworkStream, string, CancellationToken, Task> _behaviour;
    private int _connections;

    /// <param name="behaviour">Called per request with the connection and the request head that was read.</param>
    public RawServer(Func<NetworkStream, string, CancellationToken, Task> behaviour)
    {
        _behaviour = behaviour;
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public Uri Endpoint => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    public int Connections => Volatile.Read(ref _connections);

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    try
                    {
                        while (!_stop.IsCancellationRequested)
                        {
                            string? head = await ReadHeadAsync(stream, _stop.Token);
                            if (head is null)
                            {
                                return;
                            }

                            await _behaviour(stream, head, _stop.Token);
                        }
                    }
                    catch (Exception)
                    {
                    }
                }
            });
        }
    }

    private static async Task<string?> ReadHeadAsync(NetworkStream stream, CancellationToken ct)
    {
        var sb = new StringBuilder();
        var one = new byte[1];
        while (!sb.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, ct) == 0)
            {
                return null;
            }

            sb.Append((char)one[0]);
            if (sb.Length > 64 * 1024)
            {
                return null;
            }
        }

        return sb.ToString();
    }

    public static Task WriteAsync(NetworkStream stream, string text, CancellationToken ct) => stream.WriteAsync(Encoding.ASCII.GetBytes(text), ct).AsTask();

    /// <summary>Accepts and reads, never answers, holds the connection until stopped.</summary>
    public static RawServer BlackHole() => new(async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct));

    /// <summary>Answers every request with bytes that are not HTTP.</summary>
    public static RawServer Garbage() => new(async (s, _, ct) =>
    {
        await WriteAsync(s, "\u0016\u0003\u0001garbage that is not HTTP at all\r\n\r\n", ct);
        s.Close();
    });

    /// <summary>Answers 200 with a huge Content-Length and trickles bytes forever.</summary>
    public static RawServer EndlessBody() => new(async (s, _, ct) =>
    {
        await WriteAsync(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 999999999\r\n\r\n", ct);
        var chunk = Encoding.ASCII.GetBytes(new string('x', 64 * 1024));
        while (!ct.IsCancellationRequested)
        {
            await s.WriteAsync(chunk, ct);
            await Task.Delay(5, ct);
        }
    });

    /// <summary>
    /// A transparent interceptor in front of <paramref name="target"/> that adds X-Forwarded-For (what kube2iam or an
    /// HTTP proxy does) and relays the answer.
    /// </summary>
    public static RawServer ForwardedForInterceptor(Uri target) => new(async (s, head, ct) =>
    {
        string forwarded = head.Replace("\r\n\r\n", "\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n", StringComparison.Ordinal);
        using var upstream = new TcpClient();
        await upstream.ConnectAsync(target.Host, target.Port, ct);
        var u = upstream.GetStream();
        await WriteAsync(u, forwarded, ct);
        await u.CopyToAsync(s, ct);
        s.Close();
    });

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
