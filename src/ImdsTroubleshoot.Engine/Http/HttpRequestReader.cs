using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Engine.Http;

/// <summary>One parsed HTTP/1.x request as a server sees it.</summary>
public sealed class HttpRequestMessage
{
    internal HttpRequestMessage(string method, string target, string version, IReadOnlyList<KeyValuePair<string, string>> headers, int bodyLength)
    {
        Method = method;
        Target = target;
        Version = version;
        Headers = headers;
        BodyLength = bodyLength;
    }

    public string Method { get; }

    /// <summary>The request target in origin form (<c>/latest/meta-data/</c>), query string removed.</summary>
    public string Target { get; }

    public string Version { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    public int BodyLength { get; }

    /// <summary>The value of the first header with this name (case-insensitive), or null.</summary>
    public string? Header(string name)
    {
        foreach (var h in Headers)
        {
            if (string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return h.Value;
            }
        }

        return null;
    }

    public bool HasHeader(string name) => Header(name) is not null;

    public bool KeepAlive
    {
        get
        {
            string? connection = Header("Connection");
            if (Version == "HTTP/1.0")
            {
                return connection is not null && connection.Contains("keep-alive", StringComparison.OrdinalIgnoreCase);
            }

            return connection is null || !connection.Contains("close", StringComparison.OrdinalIgnoreCase);
        }
    }
}

public enum HttpReadStatus
{
    Request,
    Closed,
    Malformed,
    TooLarge,
    UnsupportedVersion,
}

public readonly record struct HttpReadResult(HttpReadStatus Status, HttpRequestMessage? Request, string? Problem);

/// <summary>
/// Reads HTTP/1.x requests from a stream with hard limits: a bounded header block, a bounded body,
/// strict framing (no chunked bodies, no header folding). Anything else is reported, never thrown,
/// so one hostile client cannot take the listener down.
/// </summary>
public sealed class HttpRequestReader
{
    private readonly Stream _stream;
    private readonly int _maxHeaderBytes;
    private readonly int _maxBodyBytes;
    private readonly byte[] _buffer;
    private int _start;
    private int _end;

    public HttpRequestReader(Stream stream, int maxHeaderBytes = 16 * 1024, int maxBodyBytes = 64 * 1024)
    {
        _stream = stream;
        _maxHeaderBytes = maxHeaderBytes;
        _maxBodyBytes = maxBodyBytes;
        _buffer = new byte[Math.Max(maxHeaderBytes, 4096) + 4096];
    }

    /// <summary>Reads the next request. Timeouts are the caller's: cancel <paramref name="cancellationToken"/>.</summary>
    public async Task<HttpReadResult> ReadAsync(CancellationToken cancellationToken)
    {
        int headerEnd;
        while ((headerEnd = FindHeaderEnd()) < 0)
        {
            if (_end - _start >= _maxHeaderBytes)
            {
                return new HttpReadResult(HttpReadStatus.TooLarge, null, "request line and headers exceed " + _maxHeaderBytes + " bytes");
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            int read = await _stream.ReadAsync(_buffer.AsMemory(_end, _buffer.Length - _end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return _end == _start
                    ? new HttpReadResult(HttpReadStatus.Closed, null, null)
                    : new HttpReadResult(HttpReadStatus.Malformed, null, "connection closed in the middle of a request");
            }

            _end += read;
        }

        string head;
        try
        {
            head = Latin1.GetString(_buffer, _start, headerEnd - _start);
        }
        catch (DecoderFallbackException)
        {
            return new HttpReadResult(HttpReadStatus.Malformed, null, "undecodable bytes in the header block");
        }

        _start = SkipTerminator(headerEnd);
        var parsed = Parse(head);
        if (parsed.Status != HttpReadStatus.Request)
        {
            return parsed;
        }

        int bodyLength = parsed.Request!.BodyLength;
        if (bodyLength > _maxBodyBytes)
        {
            return new HttpReadResult(HttpReadStatus.TooLarge, null, "body larger than " + _maxBodyBytes + " bytes");
        }

        // Discard the body: the metadata service never needs one.
        int remaining = bodyLength;
        while (remaining > 0)
        {
            int buffered = _end - _start;
            if (buffered > 0)
            {
                int take = Math.Min(buffered, remaining);
                _start += take;
                remaining -= take;
                continue;
            }

            _start = _end = 0;
            int read = await _stream.ReadAsync(_buffer.AsMemory(0, _buffer.Length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return new HttpReadResult(HttpReadStatus.Malformed, null, "connection closed before the body was complete");
            }

            _end = read;
        }

        return parsed;
    }

    private static readonly Encoding Latin1 = Encoding.Latin1;

    private int FindHeaderEnd()
    {
        // Accepts CRLFCRLF and, leniently, LFLF. Returns the index of the first byte of the terminator.
        for (int i = _start; i < _end; i++)
        {
            if (_buffer[i] != (byte)'\n')
            {
                continue;
            }

            if (i + 1 < _end && _buffer[i + 1] == (byte)'\n')
            {
                return i;
            }

            if (i + 2 < _end && _buffer[i + 1] == (byte)'\r' && _buffer[i + 2] == (byte)'\n')
            {
                return i;
            }
        }

        return -1;
    }

    private int SkipTerminator(int headerEnd)
    {
        // headerEnd points at the LF that ends the last header line; skip it and the empty line.
        int i = headerEnd + 1;
        if (i < _end && _buffer[i] == (byte)'\r')
        {
            i++;
        }

        return i + 1;
    }

    internal static HttpReadResult Parse(string head)
    {
        string[] lines = head.Split('\n');
        string requestLine = lines[0].TrimEnd('\r');
        string[] parts = requestLine.Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            return Malformed("bad request line");
        }

        string method = parts[0];
        foreach (char c in method)
        {
            if (c < 'A' || c > 'Z')
            {
                return Malformed("bad method token");
            }
        }

        string version = parts[2];
        if (!version.StartsWith("HTTP/", StringComparison.Ordinal))
        {
            return Malformed("bad protocol");
        }

        if (version is not ("HTTP/1.1" or "HTTP/1.0"))
        {
            return new HttpReadResult(HttpReadStatus.UnsupportedVersion, null, "unsupported protocol version " + version);
        }

        string? target = NormalizeTarget(parts[1]);
        if (target is null)
        {
            return Malformed("bad request target");
        }

        var headers = new List<KeyValuePair<string, string>>();
        long contentLength = 0;
        bool sawContentLength = false;
        for (int i = 1; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            if (line[0] is ' ' or '\t')
            {
                return Malformed("obsolete header folding");
            }

            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                return Malformed("header line without a name");
            }

            string name = line.Substring(0, colon);
            foreach (char c in name)
            {
                if (c <= ' ' || c >= 0x7f || c is '(' or ')' or ',' or '/' or ';' or '<' or '=' or '>' or '?' or '@' or '[' or '\\' or ']' or '{' or '}' or '"')
                {
                    return Malformed("bad header name");
                }
            }

            string value = line.Substring(colon + 1).Trim(' ', '\t');
            foreach (char c in value)
            {
                if ((c < ' ' && c != '\t') || c == 0x7f)
                {
                    return Malformed("control character in a header value");
                }
            }

            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (sawContentLength || !long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out contentLength))
                {
                    return Malformed("bad or repeated Content-Length");
                }

                sawContentLength = true;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                return Malformed("Transfer-Encoding is not accepted");
            }

            headers.Add(new KeyValuePair<string, string>(name, value));
        }

        if (version == "HTTP/1.1" && !headers.Exists(h => h.Key.Equals("Host", StringComparison.OrdinalIgnoreCase)))
        {
            // Real IMDS is lenient about Host; so are we. Recorded for completeness only.
        }

        int length = contentLength > int.MaxValue ? int.MaxValue : (int)contentLength;
        return new HttpReadResult(HttpReadStatus.Request, new HttpRequestMessage(method, target, version, headers, length), null);
    }

    private static HttpReadResult Malformed(string why) => new(HttpReadStatus.Malformed, null, why);

    private static string? NormalizeTarget(string raw)
    {
        string target = raw;
        if (target.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            // Absolute form, as a client configured to use us as a proxy would send.
            int slash = target.IndexOf('/', 7);
            target = slash < 0 ? "/" : target.Substring(slash);
        }

        if (target.Length == 0 || target[0] != '/')
        {
            return null;
        }

        int query = target.IndexOfAny(new[] { '?', '#' });
        if (query >= 0)
        {
            target = target.Substring(0, query);
        }

        foreach (char c in target)
        {
            if (c <= ' ' || c >= 0x7f)
            {
                return null;
            }
        }

        // Collapse runs of slashes: clients join "http://host/" + "/latest/..." differently (the AWS CLI v2
        // needs the endpoint to end in '/', AWSSDK.Core adds one of its own), and a web server in front of the
        // real service merges them.
        while (target.Contains("//", StringComparison.Ordinal))
        {
            target = target.Replace("//", "/", StringComparison.Ordinal);
        }

        return target;
    }
}
