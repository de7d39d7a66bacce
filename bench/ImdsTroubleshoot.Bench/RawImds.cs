using System.Net.Sockets;
using System.Text;

namespace ImdsTroubleshoot.Bench;

/// <summary>The floor: one TCP connection, a token PUT and a GET written and read by hand.</summary>
public static class RawImds
{
    public static async Task<string> TokenAndGetAsync(string host, int port, string path)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(host, port);
        using var stream = new NetworkStream(socket);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"PUT /latest/api/token HTTP/1.1\r\nHost: {host}\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\n\r\n"));
        string token = await ReadBodyAsync(stream);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-aws-ec2-metadata-token: {token}\r\n\r\n"));
        return await ReadBodyAsync(stream);
    }

    private static async Task<string> ReadBodyAsync(NetworkStream stream)
    {
        var buffer = new byte[8192];
        int filled = 0;
        while (true)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(filled));
            if (n == 0)
            {
                throw new IOException("closed");
            }

            filled += n;
            string text = Encoding.ASCII.GetString(buffer, 0, filled);
            int headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headEnd < 0)
            {
                continue;
            }

            int lengthAt = text.IndexOf("Content-Length: ", StringComparison.OrdinalIgnoreCase);
            int lineEnd = text.IndexOf("\r\n", lengthAt, StringComparison.Ordinal);
            int length = int.Parse(text.AsSpan(lengthAt + 16, lineEnd - lengthAt - 16), System.Globalization.CultureInfo.InvariantCulture);
            if (filled >= headEnd + 4 + length)
            {
                return text.Substring(headEnd + 4, length);
            }
        }
    }
}
