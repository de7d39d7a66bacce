using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>A loopback HTTP listener that records requests (head and body) and answers with a fixed response: stands in for an AWS API endpoint.</summary>
public sealed class CaptureServer : IDisposable
{
    private readonly RawServer _server;
    private readonly Func<string, (int Status, string ContentType, string Body)> _respond;

    public CaptureServer(Func<string, (int Status, string ContentType, string Body)> respond)
    {
        _respond = respond;
        _server = new RawServer(AnswerAsync);
    }

    public ConcurrentQueue<string> Requests { get; } = new();

    public Uri Url => _server.Endpoint;

    private async Task AnswerAsync(NetworkStream stream, string head, CancellationToken stop)
    {
        var m = Regex.Match(head, @"(?im)^content-length:\s*(\d+)");
        int length = m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var body = new byte[Math.Min(length, 256 * 1024)];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        await stream.ReadExactlyAsync(body, timeout.Token);

        string text = head + Encoding.UTF8.GetString(body);
        Requests.Enqueue(text);
        var (status, type, answer) = _respond(text);
        byte[] answerBytes = Encoding.UTF8.GetBytes(answer);
        await RawServer.WriteAsync(stream, $"HTTP/1.1 {status} X\r\nContent-Type: {type}\r\nContent-Length: {answerBytes.Length}\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nConnection: close\r\n\r\n", stop);
        await stream.WriteAsync(answerBytes, stop);
        stream.Close();
    }

    public void Dispose() => _server.Dispose();
}
