using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Engine.Client;

/// <summary>How one HTTP exchange with IMDS ended, as far as the network is concerned.</summary>
public enum ImdsTransportOutcome
{
    /// <summary>An HTTP response arrived (any status).</summary>
    Response,

    /// <summary>The TCP connection was refused (RST): a REJECT rule, or nothing listening.</summary>
    ConnectionRefused,

    /// <summary>No answer to the TCP connect within the timeout: a DROP rule, no route to a live host, not EC2.</summary>
    ConnectTimeout,

    /// <summary>The kernel said the network or host is unreachable (no route, or ICMP unreachable from a firewall).</summary>
    Unreachable,

    /// <summary>The connect was refused by the local system (EACCES/EPERM: a local firewall reject on IPv6, or policy).</summary>
    AccessDenied,

    /// <summary>Connected (or reused a connection) but no complete response within the timeout: hop limit, silent drop, a slow service.</summary>
    ResponseTimeout,

    /// <summary>The peer reset or closed the connection before a complete response.</summary>
    ConnectionReset,

    /// <summary>The bytes that came back are not HTTP/1.x.</summary>
    InvalidResponse,

    /// <summary>The response body was larger than the limit.</summary>
    ResponseTooLarge,

    /// <summary>Something else failed (the message says what).</summary>
    Error,
}

/// <summary>One HTTP exchange with IMDS. Never holds a token value.</summary>
public sealed class ImdsHttpResult
{
    internal ImdsHttpResult(ImdsTransportOutcome outcome, int statusCode, string body, bool connected, TimeSpan elapsed, string? message, IReadOnlyDictionary<string, string> headers)
    {
        Outcome = outcome;
        StatusCode = statusCode;
        Body = body;
        Connected = connected;
        Elapsed = elapsed;
        Message = message;
        Headers = headers;
    }

    public ImdsTransportOutcome Outcome { get; }

    /// <summary>HTTP status, or 0 when no response arrived.</summary>
    public int StatusCode { get; }

    public string Body { get; }

    /// <summary>Whether a TCP connection to the endpoint was established for this exchange.</summary>
    public bool Connected { get; }

    public TimeSpan Elapsed { get; }

    public string? Message { get; }

    public IReadOnlyDictionary<string, string> Headers { get; }

    public bool IsSuccess => Outcome == ImdsTransportOutcome.Response && StatusCode is >= 200 and < 300;

    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;

    public override string ToString() => Outcome == ImdsTransportOutcome.Response
        ? $"HTTP {StatusCode} ({Body.Length} bytes, {Elapsed.TotalMilliseconds:F0} ms)"
        : $"{Outcome} after {Elapsed.TotalMilliseconds:F0} ms{(Message is null ? string.Empty : ": " + Message)}";
}

/// <summary>
/// HTTP/1.1 to IMDS with no proxy (never: IMDS is link-local), no redirects, keep-alive connections, a bounded
/// response size and a hard time limit per exchange. Network failures come back classified, not thrown.
/// </summary>
public sealed class ImdsHttpTransport : IDisposable
{
    private static readonly HttpRequestOptionsKey<ConnectState> ConnectKey = new("imds.connect");
    private readonly HttpClient _http;
    private readonly int _maxResponseBytes;

    /// <summary>Set once any connection of this transport completed its TCP handshake.</summary>
    private int _anyConnected;

    public ImdsHttpTransport(int maxResponseBytes = 1024 * 1024, int maxConnections = 16)
    {
        _maxResponseBytes = maxResponseBytes;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            Proxy = null,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            MaxConnectionsPerServer = maxConnections,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(20),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxResponseHeadersLength = 64,
            ConnectTimeout = Timeout.InfiniteTimeSpan,
            ConnectCallback = (context, ct) => ConnectAsync(context, () => Interlocked.Exchange(ref _anyConnected, 1), ct),
        };
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("ImdsTroubleshoot/" + (typeof(ImdsHttpTransport).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    private sealed class ConnectState
    {
        public bool Started;
        public bool Completed;
    }

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, Action connected, CancellationToken cancellationToken)
    {
        context.InitialRequestMessage.Options.TryGetValue(ConnectKey, out ConnectState? state);
        if (state is not null)
        {
            state.Started = true;
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            if (state is not null)
            {
                state.Completed = true;
            }

            connected();
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task<ImdsHttpResult> SendAsync(HttpMethod method, Uri uri, IEnumerable<KeyValuePair<string, string>>? headers, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var state = new ConnectState();
        var sw = Stopwatch.StartNew();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            using var request = new HttpRequestMessage(method, uri) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            request.Options.Set(ConnectKey, state);
            if (headers is not null)
            {
                foreach (var h in headers)
                {
                    request.Headers.TryAddWithoutValidation(h.Key, h.Value);
                }
            }

            if (method == HttpMethod.Put)
            {
                request.Content = new ByteArrayContent(Array.Empty<byte>());
            }

            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            var responseHeaders = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var h in response.Headers)
            {
                responseHeaders[h.Key] = string.Join(", ", h.Value);
            }

            foreach (var h in response.Content.Headers)
            {
                responseHeaders[h.Key] = string.Join(", ", h.Value);
            }

            if (response.Content.Headers.ContentLength is long declared && declared > _maxResponseBytes)
            {
                return Result(ImdsTransportOutcome.ResponseTooLarge, (int)response.StatusCode, $"the response declares {declared} bytes; the limit is {_maxResponseBytes}", true);
            }

            await using Stream stream = await response.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
            using var buffer = new MemoryStream();
            byte[] chunk = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(chunk, cts.Token).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > _maxResponseBytes)
                {
                    return Result(ImdsTransportOutcome.ResponseTooLarge, (int)response.StatusCode, $"the response body passed the limit of {_maxResponseBytes} bytes", true);
                }

                buffer.Write(chunk, 0, read);
            }

            return new ImdsHttpResult(ImdsTransportOutcome.Response, (int)response.StatusCode, Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length), true, sw.Elapsed, null, responseHeaders);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            bool connected = WasConnected(state);
            return Result(connected ? ImdsTransportOutcome.ResponseTimeout : ImdsTransportOutcome.ConnectTimeout, 0,
                connected ? $"no complete response within {timeout.TotalSeconds:0.###} s" : $"no TCP connection within {timeout.TotalSeconds:0.###} s", connected);
        }
        catch (HttpRequestException ex)
        {
            bool connected = WasConnected(state);
            return Classify(ex, connected);
        }
        catch (IOException ex)
        {
            return Result(ImdsTransportOutcome.ConnectionReset, 0, ex.Message, true);
        }

        ImdsHttpResult Result(ImdsTransportOutcome outcome, int status, string message, bool connected) =>
            new(outcome, status, string.Empty, connected, sw.Elapsed, message, new Dictionary<string, string>());

        ImdsHttpResult Classify(HttpRequestException ex, bool connected)
        {
            var socketError = FindSocketError(ex);
            ImdsTransportOutcome outcome = socketError switch
            {
                SocketError.ConnectionRefused => ImdsTransportOutcome.ConnectionRefused,
                SocketError.NetworkUnreachable or SocketError.HostUnreachable or SocketError.NetworkDown or SocketError.HostDown => ImdsTransportOutcome.Unreachable,
                SocketError.AccessDenied => ImdsTransportOutcome.AccessDenied,
                SocketError.TimedOut => connected ? ImdsTransportOutcome.ResponseTimeout : ImdsTransportOutcome.ConnectTimeout,
                SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown => ImdsTransportOutcome.ConnectionReset,
                _ => ex.HttpRequestError switch
                {
                    HttpRequestError.InvalidResponse => ImdsTransportOutcome.InvalidResponse,
                    HttpRequestError.ResponseEnded => ImdsTransportOutcome.ConnectionReset,
                    HttpRequestError.ConfigurationLimitExceeded => ImdsTransportOutcome.ResponseTooLarge,
                    _ => ImdsTransportOutcome.Error,
                },
            };
            string message = socketError is { } se ? $"{se}: {Innermost(ex).Message}" : Innermost(ex).Message;
            return Result(outcome, 0, message, connected && outcome is not (ImdsTransportOutcome.ConnectionRefused or ImdsTransportOutcome.Unreachable or ImdsTransportOutcome.AccessDenied));
        }
    }

    /// <summary>
    /// Whether this request had a TCP connection: its own connect completed, or it waited for the pool and some
    /// connection of this transport has connected before. (A connect attempt outlives a cancelled request, so a
    /// retry can wait on the first attempt's connect without starting one of its own.)
    /// </summary>
    private bool WasConnected(ConnectState state) => state.Completed || (!state.Started && Volatile.Read(ref _anyConnected) == 1);

    private static SocketError? FindSocketError(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is SocketException se)
            {
                return se.SocketErrorCode;
            }
        }

        return null;
    }

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex;
    }

    /// <summary>A bare TCP connect with a time limit (the probe's first step).</summary>
    public static async Task<ImdsHttpResult> ConnectOnlyAsync(Uri endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var sw = Stopwatch.StartNew();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        var empty = new Dictionary<string, string>();
        try
        {
            await socket.ConnectAsync(new DnsEndPoint(endpoint.IdnHost, endpoint.Port), cts.Token).ConfigureAwait(false);
            return new ImdsHttpResult(ImdsTransportOutcome.Response, 0, string.Empty, true, sw.Elapsed, $"connected to {socket.RemoteEndPoint} from {socket.LocalEndPoint}", empty);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ImdsHttpResult(ImdsTransportOutcome.ConnectTimeout, 0, string.Empty, false, sw.Elapsed, $"no TCP connection within {timeout.TotalSeconds:0.###} s", empty);
        }
        catch (SocketException ex)
        {
            var outcome = ex.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => ImdsTransportOutcome.ConnectionRefused,
                SocketError.NetworkUnreachable or SocketError.HostUnreachable or SocketError.NetworkDown or SocketError.HostDown => ImdsTransportOutcome.Unreachable,
                SocketError.AccessDenied => ImdsTransportOutcome.AccessDenied,
                SocketError.TimedOut => ImdsTransportOutcome.ConnectTimeout,
                _ => ImdsTransportOutcome.Error,
            };
            return new ImdsHttpResult(outcome, 0, string.Empty, false, sw.Elapsed, $"{ex.SocketErrorCode}: {ex.Message}", empty);
        }
    }

    public void Dispose() => _http.Dispose();
}
