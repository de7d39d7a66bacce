using System;

namespace ImdsTroubleshoot.Engine.Emulator;

/// <summary>One request the emulator saw, as users read it from the request log.</summary>
public sealed class ImdsRequestRecord
{
    internal ImdsRequestRecord(long sequence, long connectionId, DateTimeOffset time, string emulatorName, string listener, string clientAddress, int clientPort,
        string method, string path, ImdsRequestKind kind, bool tokenPresented, bool forwardedFor, string? userAgent, int statusCode, string reason)
    {
        Sequence = sequence;
        ConnectionId = connectionId;
        Time = time;
        EmulatorName = emulatorName;
        Listener = listener;
        ClientAddress = clientAddress;
        ClientPort = clientPort;
        Method = method;
        Path = path;
        Kind = kind;
        TokenPresented = tokenPresented;
        ForwardedFor = forwardedFor;
        UserAgent = userAgent;
        StatusCode = statusCode;
        Reason = reason;
    }

    public long Sequence { get; }

    /// <summary>The TCP connection the request came on (keep-alive clients reuse one).</summary>
    public long ConnectionId { get; }

    public DateTimeOffset Time { get; }

    public string EmulatorName { get; }

    /// <summary>The address:port the request arrived on.</summary>
    public string Listener { get; }

    public string ClientAddress { get; }

    public int ClientPort { get; }

    public string Method { get; }

    public string Path { get; }

    /// <summary>TokenRequest, V2 (GET with a token), V1 (GET without a token) or Other.</summary>
    public ImdsRequestKind Kind { get; }

    /// <summary>True when the request was an IMDSv1 call (a GET or HEAD without a token).</summary>
    public bool IsImdsV1 => Kind == ImdsRequestKind.V1;

    public bool TokenPresented { get; }

    public bool ForwardedFor { get; }

    public string? UserAgent { get; }

    /// <summary>The HTTP status sent; 0 when nothing was sent (dropped, reset, or the client gave up).</summary>
    public int StatusCode { get; }

    public string Reason { get; }

    public override string ToString() => $"{Time:HH:mm:ss.fff} {ClientAddress} {Method} {Path} {StatusCode} ({Reason})";
}
