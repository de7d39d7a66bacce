using System;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>A loopback HTTP listener that records request heads and answers with a fixed response: stands in for an AWS API endpoint.</summary>
public sealed class CaptureServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<string, (int Status, string ContentType, string Body)> _respond;

    public CaptureServer(Func<string, (int Status, string ContentType, string Body)> respond)
    {
        _respond = respond;
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public ConcurrentQueue<string> Requests { get; } = new();

    public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

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

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    var buffer = new byte[256 * 1024];
                    int total = 0;
                    string text = string.Empty;
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    try
                    {
                        while (total < buffer.Length)
                        {
                            int n = await stream.ReadAsync(buffer.AsMemory(total), timeout.Token);
                            if (n == 0)
                            {
                                break;
                            }

                            total += n;
                            text = Encoding.UTF8.GetString(buffer, 0, total);
                            int headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                            if (headEnd < 0)
                            {
                                continue;
                            }

                            var m = System.Text.RegularExpressions.Regex.Match(text, @"(?im)^content-length:\s*(\d+)");
                            int length = m.Success ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
                            if (total >= headEnd + 4 + length)
                            {
                                break;
                            }
                        }
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }

                    Requests.Enqueue(text);
                    var (status, type, body) = _respond(text);
                    byte[] bodyBytes = Encoding.UTF8.GetBytes(body);
                    string head = $"HTTP/1.1 {status} X\r\nContent-Type: {type}\r\nContent-Length: {bodyBytes.Length}\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nConnection: close\r\n\r\n";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                    await stream.WriteAsync(bodyBytes);
                }
            });
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
