using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using ImdsTroubleshoot.Engine.Http;

namespace ImdsTroubleshoot.Engine.Emulator;

/// <summary>What a request was, for the request log.</summary>
public enum ImdsRequestKind
{
    /// <summary>A token PUT (IMDSv2 session start).</summary>
    TokenRequest,

    /// <summary>A GET/HEAD carrying a token.</summary>
    V2,

    /// <summary>A GET/HEAD without a token.</summary>
    V1,

    /// <summary>Any other method or a request that could not be parsed.</summary>
    Other,
}

/// <summary>The emulator's answer to one request, before it goes on the wire.</summary>
public sealed class EmulatorResponse
{
    internal EmulatorResponse(int status, string body, string contentType = "text/plain")
    {
        Status = status;
        Body = body;
        ContentType = contentType;
    }

    public int Status { get; }

    public string Body { get; }

    public string ContentType { get; }

    /// <summary>IP TTL / hop limit to send this response with (token PUT responses).</summary>
    public int? HopLimit { get; init; }

    /// <summary>Do not answer at all (throttled by dropping).</summary>
    public bool Drop { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = Array.Empty<KeyValuePair<string, string>>();

    public ImdsRequestKind Kind { get; init; }

    /// <summary>Why the emulator answered this way, in a few words (for the request log).</summary>
    public string Reason { get; init; } = string.Empty;

    public bool TokenPresented { get; init; }

    public static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status " + status.ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary>
/// The metadata service's decisions, without sockets: token issue and validation, HttpTokens,
/// HttpEndpoint, X-Forwarded-For, versions, listings, 404/405, throttling.
/// </summary>
public sealed class ImdsRequestHandler
{
    /// <summary>Version folders the service lists at <c>/</c>.</summary>
    public static readonly IReadOnlyList<string> Versions = new[]
    {
        "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01", "2008-09-01",
        "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25", "2014-11-05", "2015-10-20",
        "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24", "2019-10-01",
        "2020-10-27", "2021-01-03", "2021-03-23", "2021-07-15", "2022-09-24", "2024-04-11", "latest",
    };

    private const int MaxTokens = 100_000;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _tokens = new(StringComparer.Ordinal);
    private readonly TokenBucket _bucket = new();

    public ImdsRequestHandler(InstanceContent content, TimeProvider? time = null)
    {
        Content = content;
        Time = time ?? TimeProvider.System;
    }

    public InstanceContent Content { get; }

    public TimeProvider Time { get; }

    public int ActiveTokenCount => _tokens.Count;

    internal IReadOnlyCollection<string> IssuedTokens => _tokens.Keys.ToArray();

    public EmulatorResponse Handle(HttpRequestMessage request, EmulatorSettings settings)
    {
        DateTimeOffset now = Time.GetUtcNow();
        bool tokenPresented = request.HasHeader(ImdsDefaults.TokenHeader);
        ImdsRequestKind kind = request.Method switch
        {
            "PUT" => ImdsRequestKind.TokenRequest,
            "GET" or "HEAD" => tokenPresented ? ImdsRequestKind.V2 : ImdsRequestKind.V1,
            _ => ImdsRequestKind.Other,
        };

        EmulatorResponse Answer(int status, string reason, string body = "", string contentType = "text/plain", int? hopLimit = null, IReadOnlyList<KeyValuePair<string, string>>? headers = null) =>
            new(status, body, contentType)
            {
                Kind = kind,
                Reason = reason,
                HopLimit = hopLimit,
                TokenPresented = tokenPresented,
                Headers = headers ?? Array.Empty<KeyValuePair<string, string>>(),
            };

        if (settings.ThrottleRequestsPerSecond is { } rate && !_bucket.TryTake(rate, settings.ThrottleBurst, now))
        {
            if (settings.ThrottleAction == ThrottleAction.Drop)
            {
                return new EmulatorResponse(0, string.Empty) { Drop = true, Kind = kind, Reason = "throttled: dropped", TokenPresented = tokenPresented };
            }

            return Answer(429, "throttled", ErrorPage(429));
        }

        if (settings.HttpEndpoint == FeatureState.Disabled)
        {
            return Answer(403, "HttpEndpoint disabled");
        }

        string path = request.Target;
        if (request.Method == "PUT")
        {
            int? hop = settings.HttpPutResponseHopLimit;
            if (IsTokenPath(path, out string version))
            {
                if (version != "latest")
                {
                    return Answer(403, "token PUT on a version path", hopLimit: hop);
                }

                if (request.HasHeader(ImdsDefaults.ForwardedForHeader))
                {
                    return Answer(403, "token PUT with X-Forwarded-For", hopLimit: hop);
                }

                string? ttlText = request.Header(ImdsDefaults.TokenTtlHeader);
                if (ttlText is null
                    || !int.TryParse(ttlText, NumberStyles.None, CultureInfo.InvariantCulture, out int ttl)
                    || ttl < ImdsDefaults.MinTokenTtlSeconds || ttl > ImdsDefaults.MaxTokenTtlSeconds)
                {
                    return Answer(400, ttlText is null ? "token PUT without TTL header" : "token PUT with invalid TTL", ErrorPage(400), "text/html", hop);
                }

                string token = IssueToken(now, ttl);
                return Answer(200, "token issued", token, hopLimit: hop, headers: new[]
                {
                    new KeyValuePair<string, string>(ImdsDefaults.TokenTtlHeader, ttl.ToString(CultureInfo.InvariantCulture)),
                });
            }

            return Answer(405, "PUT is only for the token path", ErrorPage(405), "text/html", headers: Allow("GET, HEAD"));
        }

        if (request.Method is not ("GET" or "HEAD"))
        {
            return Answer(405, request.Method + " not allowed", ErrorPage(405), "text/html", headers: Allow(IsTokenPath(path, out _) ? "OPTIONS, PUT" : "GET, HEAD"));
        }

        if (tokenPresented)
        {
            string token = request.Header(ImdsDefaults.TokenHeader)!;
            if (!_tokens.TryGetValue(token, out DateTimeOffset expiry))
            {
                return Answer(401, "invalid token", ErrorPage(401), "text/html");
            }

            if (expiry <= now)
            {
                _tokens.TryRemove(token, out _);
                return Answer(401, "expired token", ErrorPage(401), "text/html");
            }

            if (settings.RejectForwardedForOnGet && request.HasHeader(ImdsDefaults.ForwardedForHeader))
            {
                return Answer(403, "GET with token and X-Forwarded-For");
            }
        }
        else if (settings.HttpTokens == HttpTokensState.Required)
        {
            return Answer(401, "IMDSv1 request while HttpTokens=required", ErrorPage(401), "text/html");
        }

        if (IsTokenPath(path, out _))
        {
            return Answer(405, "GET on the token path", ErrorPage(405), "text/html", headers: Allow("OPTIONS, PUT"));
        }

        return Serve(path, settings, now, Answer);
    }

    private EmulatorResponse Serve(string path, EmulatorSettings settings, DateTimeOffset now, Func<int, string, string, string, int?, IReadOnlyList<KeyValuePair<string, string>>?, EmulatorResponse> answer)
    {
        if (path == "/")
        {
            return answer(200, "version listing", string.Join("\n", Versions), "text/plain", null, null);
        }

        string trimmed = path.Substring(1);
        int slash = trimmed.IndexOf('/', StringComparison.Ordinal);
        string version = slash < 0 ? trimmed : trimmed.Substring(0, slash);
        if (!Versions.Contains(version, StringComparer.Ordinal))
        {
            return answer(404, "unknown version", ErrorPage(404), "text/html", null, null);
        }

        string relative = slash < 0 ? string.Empty : trimmed.Substring(slash + 1);
        var result = Content.Lookup(relative, settings.InstanceMetadataTags == FeatureState.Enabled, now);
        switch (result.Kind)
        {
            case ContentResultKind.NotFound:
                return answer(404, "not found", ErrorPage(404), "text/html", null, null);
            case ContentResultKind.Listing when relative.Length == 0:
                // The version root lists its parts without trailing slashes.
                return answer(200, "listing", string.Join("\n", result.Text.Split('\n').Select(s => s.TrimEnd('/'))), "text/plain", null, null);
            case ContentResultKind.Listing:
                return answer(200, "listing", result.Text, "text/plain", null, null);
            default:
                return answer(200, "value", result.Text, "text/plain", null, null);
        }
    }

    private string IssueToken(DateTimeOffset now, int ttlSeconds)
    {
        if (_tokens.Count >= MaxTokens)
        {
            foreach (var kv in _tokens.Where(kv => kv.Value <= now).ToList())
            {
                _tokens.TryRemove(kv.Key, out _);
            }

            if (_tokens.Count >= MaxTokens)
            {
                // Still full of live tokens: forget the ones closest to expiry.
                foreach (var kv in _tokens.OrderBy(kv => kv.Value).Take(MaxTokens / 10).ToList())
                {
                    _tokens.TryRemove(kv.Key, out _);
                }
            }
        }

        string token = "AQAEA" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(39)).Replace('+', '-').Replace('/', '_');
        _tokens[token] = now.AddSeconds(ttlSeconds);
        return token;
    }

    /// <summary>True for <c>/latest/api/token</c> and <c>/VERSION/api/token</c>; <paramref name="version"/> gets the version.</summary>
    private static bool IsTokenPath(string path, out string version)
    {
        version = string.Empty;
        string p = path.TrimEnd('/');
        if (!p.EndsWith("/api/token", StringComparison.Ordinal))
        {
            return false;
        }

        string head = p.Substring(0, p.Length - "/api/token".Length).TrimStart('/');
        if (head.Length == 0 || head.Contains('/', StringComparison.Ordinal))
        {
            return false;
        }

        version = head;
        return true;
    }

    private static IReadOnlyList<KeyValuePair<string, string>> Allow(string methods) => new[] { new KeyValuePair<string, string>("Allow", methods) };

    /// <summary>The XHTML error page the real service sends (its 403 has an empty body).</summary>
    public static string ErrorPage(int status)
    {
        string title = status.ToString(CultureInfo.InvariantCulture) + " - " + EmulatorResponse.ReasonPhrase(status);
        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n");
        sb.Append("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n");
        sb.Append("<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n <head>\n  <title>").Append(title).Append("</title>\n </head>\n");
        sb.Append(" <body>\n  <h1>").Append(title).Append("</h1>\n </body>\n</html>\n");
        return sb.ToString();
    }

    /// <summary>A token bucket refilled at the configured rate.</summary>
    private sealed class TokenBucket
    {
        private readonly object _lock = new();
        private double _tokens = double.NaN;
        private DateTimeOffset _last;

        public bool TryTake(double ratePerSecond, int burst, DateTimeOffset now)
        {
            lock (_lock)
            {
                if (double.IsNaN(_tokens))
                {
                    _tokens = burst;
                    _last = now;
                }

                double elapsed = Math.Max(0, (now - _last).TotalSeconds);
                _tokens = Math.Min(burst, _tokens + (elapsed * ratePerSecond));
                _last = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    return true;
                }

                return false;
            }
        }
    }
}
