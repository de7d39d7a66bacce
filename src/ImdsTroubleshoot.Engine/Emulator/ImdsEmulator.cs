using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Http;
using ImdsTroubleshoot.Engine.Net;

namespace ImdsTroubleshoot.Engine.Emulator;

/// <summary>How and where to start an emulator.</summary>
public sealed class EmulatorOptions
{
    /// <summary>Addresses to listen on; default 127.0.0.1.</summary>
    public IReadOnlyList<IPAddress> Addresses { get; init; } = new[] { IPAddress.Loopback };

    /// <summary>Port; 0 picks a free one (the same port is then used for every address).</summary>
    public int Port { get; init; }

    /// <summary>A named network namespace (<c>ip netns</c>) to open the listeners in; null for this one.</summary>
    public string? NetworkNamespace { get; init; }

    public string? Name { get; init; }

    public string? ScenarioName { get; init; }

    public EmulatorSettings Settings { get; init; } = new();

    public InstanceContent? Content { get; init; }

    public TimeProvider? TimeProvider { get; init; }

    /// <summary>A client must send a whole request line and headers within this time, else it is disconnected.</summary>
    public TimeSpan RequestReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a dropped (throttled) connection is held open without an answer.</summary>
    public TimeSpan DropHoldTime { get; init; } = TimeSpan.FromSeconds(30);

    public int LogCapacity { get; init; } = 10_000;
}

/// <summary>
/// An instance metadata service emulator: a small HTTP/1.1 server over raw sockets that behaves as
/// IMDS-FACTS describes, including the hop limit (IP TTL) of token responses.
/// </summary>
public sealed class ImdsEmulator : IAsyncDisposable, IDisposable
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;
    private static int s_nextId;
    private readonly List<Listener> _listeners = new();
    private readonly object _listenerLock = new();

    /// <summary>A bound address; IPv6 ones listen only while HttpProtocolIpv6 is enabled, as on the real service.</summary>
    private sealed class Listener
    {
        public Listener(IPEndPoint endPoint)
        {
            EndPoint = endPoint;
        }

        public IPEndPoint EndPoint { get; set; }

        public Socket? Socket { get; set; }

        public bool IsIPv6 => EndPoint.AddressFamily == AddressFamily.InterNetworkV6;
    }
    private readonly ConcurrentDictionary<long, Socket> _connections = new();
    private readonly ConcurrentQueue<ImdsRequestRecord> _log = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _acceptLoops = new();
    private readonly EmulatorOptions _options;
    private readonly ImdsRequestHandler _handler;
    private EmulatorSettings _settings;
    private long _nextConnection;
    private long _sequence;
    private long _requestCount;
    private int _stopped;

    private ImdsEmulator(EmulatorOptions options)
    {
        _options = options;
        _settings = options.Settings.Validate();
        var content = options.Content ?? InstanceContent.CreateDefault();
        _handler = new ImdsRequestHandler(content, options.TimeProvider);
        Id = Interlocked.Increment(ref s_nextId);
        Name = string.IsNullOrWhiteSpace(options.Name) ? "imds" + Id.ToString(CultureInfo.InvariantCulture) : options.Name!;
        Scenario = options.ScenarioName;
        NetworkNamespace = options.NetworkNamespace;
        StartTime = DateTimeOffset.Now;
    }

    public int Id { get; }

    public string Name { get; }

    public string? Scenario { get; }

    public string? NetworkNamespace { get; }

    public DateTimeOffset StartTime { get; }

    public bool Running => Volatile.Read(ref _stopped) == 0;

    public EmulatorSettings Settings => Volatile.Read(ref _settings);

    public InstanceContent Content => _handler.Content;

    public IReadOnlyList<IPEndPoint> Listeners => _listeners.Select(l => l.EndPoint).ToArray();

    /// <summary>Tokens issued so far (for tests that check no output stream ever shows one).</summary>
    internal IReadOnlyCollection<string> IssuedTokens => _handler.IssuedTokens;

    /// <summary>The first listener as an http:// URI, ready for clients.</summary>
    public Uri Endpoint => ToUri(_listeners[0].EndPoint);

    public IReadOnlyList<Uri> Endpoints => _listeners.Select(l => ToUri(l.EndPoint)).ToArray();

    public long RequestCount => Interlocked.Read(ref _requestCount);

    public int ActiveConnections => _connections.Count;

    public static Uri ToUri(IPEndPoint ep) => ep.AddressFamily == AddressFamily.InterNetworkV6
        ? new Uri($"http://[{ep.Address}]:{ep.Port.ToString(CultureInfo.InvariantCulture)}/")
        : new Uri($"http://{ep.Address}:{ep.Port.ToString(CultureInfo.InvariantCulture)}/");

    public static ImdsEmulator Start(EmulatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Addresses.Count == 0)
        {
            throw new ArgumentException("At least one address to listen on is needed.", nameof(options));
        }

        if (options.Port is < 0 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Port, "The port must be between 0 and 65535.");
        }

        var emulator = new ImdsEmulator(options);
        try
        {
            emulator.InNamespace(() => emulator.OpenListeners());
        }
        catch
        {
            emulator.CloseListeners();
            throw;
        }

        return emulator;
    }

    private void InNamespace(Action action)
    {
        if (NetworkNamespace is { } ns)
        {
            Net.NetworkNamespace.Run(ns, () => { action(); return 0; });
        }
        else
        {
            action();
        }
    }

    private void OpenListeners()
    {
        int port = _options.Port;
        foreach (IPAddress address in _options.Addresses)
        {
            var listener = new Listener(new IPEndPoint(address, port));
            _listeners.Add(listener);
            Bind(listener);
            port = listener.EndPoint.Port;
            if (listener.IsIPv6 && _settings.HttpProtocolIpv6 == FeatureState.Disabled)
            {
                // Keep the port (found by binding once), but do not listen while IPv6 is off: connects are refused.
                listener.Socket!.Dispose();
                listener.Socket = null;
            }
        }
    }

    private void Bind(Listener listener)
    {
        var socket = new Socket(listener.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (listener.IsIPv6)
            {
                socket.DualMode = false;
            }

            // SO_REUSEADDR only: rebinding past TIME_WAIT is fine, a second listener on the same port is not.
            // (.NET's ReuseAddress option also sets SO_REUSEPORT on Linux, which would allow that.)
            socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            socket.Bind(listener.EndPoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        listener.EndPoint = (IPEndPoint)socket.LocalEndPoint!;
        listener.Socket = socket;
        var ep = listener.EndPoint;
        lock (_acceptLoops)
        {
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(socket, ep)));
        }
    }

    /// <summary>Opens or closes the IPv6 listeners to match HttpProtocolIpv6.</summary>
    private void ApplyIpv6(EmulatorSettings settings)
    {
        lock (_listenerLock)
        {
            foreach (var listener in _listeners.Where(l => l.IsIPv6))
            {
                if (settings.HttpProtocolIpv6 == FeatureState.Enabled && listener.Socket is null && Running)
                {
                    InNamespace(() => Bind(listener));
                }
                else if (settings.HttpProtocolIpv6 == FeatureState.Disabled && listener.Socket is not null)
                {
                    listener.Socket.Dispose();
                    listener.Socket = null;
                }
            }
        }
    }

    /// <summary>Changes settings while running; connections already open see the change on their next request.</summary>
    public EmulatorSettings UpdateSettings(Func<EmulatorSettings, EmulatorSettings> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        while (true)
        {
            EmulatorSettings current = Settings;
            EmulatorSettings next = change(current).Validate();
            bool ipv6On = current.HttpProtocolIpv6 == FeatureState.Disabled && next.HttpProtocolIpv6 == FeatureState.Enabled;
            if (ipv6On)
            {
                // Listen first: if the address cannot be bound, the setting stays as it was.
                ApplyIpv6(next);
            }

            if (ReferenceEquals(Interlocked.CompareExchange(ref _settings, next, current), current))
            {
                if (current.HttpProtocolIpv6 == FeatureState.Enabled && next.HttpProtocolIpv6 == FeatureState.Disabled)
                {
                    ApplyIpv6(next);
                }

                return next;
            }

            if (ipv6On)
            {
                ApplyIpv6(Settings);
            }
        }
    }

    /// <summary>The request log, oldest first (the newest <see cref="EmulatorOptions.LogCapacity"/> entries).</summary>
    public IReadOnlyList<ImdsRequestRecord> GetRequestLog() => _log.ToArray();

    public void ClearRequestLog()
    {
        while (_log.TryDequeue(out _))
        {
        }
    }

    private async Task AcceptLoopAsync(Socket listener, IPEndPoint endPoint)
    {
        CancellationToken ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // Out of descriptors or a reset during accept: keep serving.
                try
                {
                    await Task.Delay(50, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            _ = Task.Run(() => ServeConnectionAsync(client, endPoint));
        }
    }

    private async Task ServeConnectionAsync(Socket socket, IPEndPoint listener)
    {
        long id = Interlocked.Increment(ref _nextConnection);
        var remote = socket.RemoteEndPoint as IPEndPoint;
        string clientAddress = remote?.Address.ToString() ?? "?";
        int clientPort = remote?.Port ?? 0;
        string listenerText = listener.ToString();
        CancellationToken stopping = _stop.Token;

        if (_connections.Count >= Settings.MaxConnections)
        {
            Record(id, listenerText, clientAddress, clientPort, "-", "-", ImdsRequestKind.Other, false, false, null, 0, "connection limit reached");
            Abort(socket);
            return;
        }

        _connections[id] = socket;
        socket.NoDelay = true;
        try
        {
            using var stream = new NetworkStream(socket, ownsSocket: false);
            var reader = new HttpRequestReader(stream);
            while (!stopping.IsCancellationRequested)
            {
                HttpReadResult read;
                using (var readTimeout = CancellationTokenSource.CreateLinkedTokenSource(stopping))
                {
                    readTimeout.CancelAfter(_options.RequestReadTimeout);
                    try
                    {
                        read = await reader.ReadAsync(readTimeout.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }

                if (read.Status == HttpReadStatus.Closed)
                {
                    return;
                }

                if (read.Status != HttpReadStatus.Request)
                {
                    int status = read.Status switch
                    {
                        HttpReadStatus.TooLarge => read.Problem!.StartsWith("body", StringComparison.Ordinal) ? 413 : 431,
                        HttpReadStatus.UnsupportedVersion => 505,
                        _ => 400,
                    };
                    Interlocked.Increment(ref _requestCount);
                    Record(id, listenerText, clientAddress, clientPort, "-", "-", ImdsRequestKind.Other, false, false, null, status, read.Problem ?? "malformed request");
                    await WriteAsync(stream, socket, status, ImdsRequestHandler.ErrorPage(status), "text/html", Array.Empty<KeyValuePair<string, string>>(), head: false, keepAlive: false, hopLimit: null, stopping).ConfigureAwait(false);
                    return;
                }

                HttpRequestMessage request = read.Request!;
                Interlocked.Increment(ref _requestCount);
                EmulatorSettings settings = Settings;
                EmulatorResponse response = _handler.Handle(request, settings);
                bool forwarded = request.HasHeader(ImdsDefaults.ForwardedForHeader);
                string? agent = request.Header("User-Agent");
                if (response.Drop)
                {
                    Record(id, listenerText, clientAddress, clientPort, request.Method, request.Target, response.Kind, response.TokenPresented, forwarded, agent, 0, response.Reason);
                    await HoldAsync(stream, stopping).ConfigureAwait(false);
                    return;
                }

                if (settings.Latency > TimeSpan.Zero)
                {
                    await Task.Delay(settings.Latency, stopping).ConfigureAwait(false);
                }

                bool keepAlive = request.KeepAlive;
                Record(id, listenerText, clientAddress, clientPort, request.Method, request.Target, response.Kind, response.TokenPresented, forwarded, agent, response.Status, response.Reason);
                await WriteAsync(stream, socket, response.Status, response.Body, response.ContentType, response.Headers, request.Method == "HEAD", keepAlive, response.HopLimit, stopping).ConfigureAwait(false);
                if (!keepAlive)
                {
                    return;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _connections.TryRemove(id, out _);
            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }

            socket.Dispose();
        }
    }

    private async Task HoldAsync(Stream stream, CancellationToken stopping)
    {
        // Answer nothing, as dropped packets do; read and discard until the client gives up or the hold ends.
        using var hold = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        hold.CancelAfter(_options.DropHoldTime);
        var sink = new byte[4096];
        try
        {
            while (await stream.ReadAsync(sink, hold.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task WriteAsync(Stream stream, Socket socket, int status, string body, string contentType,
        IReadOnlyList<KeyValuePair<string, string>> headers, bool head, bool keepAlive, int? hopLimit, CancellationToken ct)
    {
        byte[] bodyBytes = Encoding.UTF8.GetBytes(body);
        var sb = new StringBuilder(256);
        sb.Append("HTTP/1.1 ").Append(status.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(EmulatorResponse.ReasonPhrase(status)).Append("\r\n");
        if (bodyBytes.Length > 0 || status != 403)
        {
            sb.Append("Content-Type: ").Append(contentType).Append("\r\n");
        }

        sb.Append("Accept-Ranges: none\r\n");
        sb.Append("Date: ").Append(DateTime.UtcNow.ToString("r", CultureInfo.InvariantCulture)).Append("\r\n");
        sb.Append("Server: EC2ws\r\n");
        foreach (var h in headers)
        {
            sb.Append(h.Key).Append(": ").Append(h.Value).Append("\r\n");
        }

        sb.Append("Content-Length: ").Append(bodyBytes.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        sb.Append("Connection: ").Append(keepAlive ? "keep-alive" : "close").Append("\r\n\r\n");
        byte[] headBytes = Encoding.Latin1.GetBytes(sb.ToString());

        if (hopLimit is { } ttl)
        {
            // The real service sends token responses with IP TTL = HttpPutResponseHopLimit. It is set on the
            // connection and left there: a retransmission must not escape with a larger TTL.
            socket.Ttl = (short)ttl;
        }

        var payload = new byte[headBytes.Length + (head ? 0 : bodyBytes.Length)];
        Buffer.BlockCopy(headBytes, 0, payload, 0, headBytes.Length);
        if (!head)
        {
            Buffer.BlockCopy(bodyBytes, 0, payload, headBytes.Length, bodyBytes.Length);
        }

        using var writeTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        writeTimeout.CancelAfter(TimeSpan.FromSeconds(30));
        await stream.WriteAsync(payload, writeTimeout.Token).ConfigureAwait(false);
        await stream.FlushAsync(writeTimeout.Token).ConfigureAwait(false);
    }

    private static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (SocketException)
        {
            socket.Dispose();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Record(long connection, string listener, string clientAddress, int clientPort, string method, string path, ImdsRequestKind kind,
        bool tokenPresented, bool forwardedFor, string? userAgent, int status, string reason)
    {
        long sequence = Interlocked.Increment(ref _sequence);
        _log.Enqueue(new ImdsRequestRecord(sequence, connection, DateTimeOffset.Now, Name, listener, clientAddress, clientPort, method, path, kind, tokenPresented, forwardedFor, userAgent, status, reason));
        while (_log.Count > _options.LogCapacity && _log.TryDequeue(out _))
        {
        }
    }

    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        CloseListeners();
        foreach (var socket in _connections.Values)
        {
            Abort(socket);
        }

        try
        {
            Task[] loops;
            lock (_acceptLoops)
            {
                loops = _acceptLoops.ToArray();
            }

            Task.WaitAll(loops, TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }

    private void CloseListeners()
    {
        lock (_listenerLock)
        {
            foreach (var listener in _listeners)
            {
                listener.Socket?.Dispose();
                listener.Socket = null;
            }
        }
    }

    public void Dispose() => Stop();

    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    public override string ToString() => $"{Name} ({string.Join(", ", Endpoints.Select(u => u.ToString()))})";
}
