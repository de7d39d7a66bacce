using System;
using System.Collections.Generic;
using System.Globalization;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Engine.Client;

/// <summary>Why a metadata read failed, for error records and findings.</summary>
public enum ImdsFailure
{
    /// <summary>AWS_EC2_METADATA_DISABLED=true.</summary>
    DisabledByEnvironment,

    ConnectionRefused,

    ConnectTimeout,

    Unreachable,

    AccessDenied,

    /// <summary>Connected, no answer in time (hop limit, silent drops, a slow service).</summary>
    Timeout,

    /// <summary>The token request failed and IMDSv1 is not allowed.</summary>
    TokenUnavailable,

    /// <summary>HTTP 400 from the token PUT.</summary>
    BadTokenRequest,

    /// <summary>HTTP 401.</summary>
    Unauthorized,

    /// <summary>HTTP 403: IMDS turned off, or a proxy added X-Forwarded-For.</summary>
    Forbidden,

    /// <summary>HTTP 404.</summary>
    NotFound,

    MethodNotAllowed,

    /// <summary>HTTP 429 or 503 until the time bound ran out.</summary>
    Throttled,

    /// <summary>Another HTTP error status.</summary>
    HttpError,

    /// <summary>Not HTTP, reset, or too large.</summary>
    InvalidResponse,
}

/// <summary>A failed metadata read. The message never contains a token or a secret.</summary>
public sealed class ImdsException : Exception
{
    public ImdsException(ImdsFailure failure, string message, string path, int statusCode = 0, int attempts = 0, Exception? inner = null)
        : base(message, inner)
    {
        Failure = failure;
        Path = path;
        StatusCode = statusCode;
        Attempts = attempts;
    }

    public ImdsException()
        : this(ImdsFailure.HttpError, "IMDS request failed.", string.Empty)
    {
    }

    public ImdsException(string message)
        : this(ImdsFailure.HttpError, message, string.Empty)
    {
    }

    public ImdsException(string message, Exception innerException)
        : this(ImdsFailure.HttpError, message, string.Empty, inner: innerException)
    {
    }

    public ImdsFailure Failure { get; }

    public string Path { get; }

    public int StatusCode { get; }

    public int Attempts { get; }
}

public sealed class ImdsClientOptions
{
    public Uri Endpoint { get; init; } = ImdsDefaults.IPv4Endpoint;

    /// <summary>Time limit of one HTTP exchange (the AWS CLI uses 1 s).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Bound on one read including all retries and back-off.</summary>
    public TimeSpan TotalTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int MaxAttempts { get; init; } = 4;

    /// <summary>Allow IMDSv1 (no token) when the token request fails with 403/404/405 or times out.</summary>
    public bool AllowV1 { get; init; }

    /// <summary>Token lifetime requested in the PUT (1..21600 s).</summary>
    public int TokenTtlSeconds { get; init; } = ImdsDefaults.MaxTokenTtlSeconds;

    /// <summary>
    /// Client-side pace: at most this many requests a second sustained, in bursts of up to one second's worth, so
    /// polling stays far below the 1024 packets/s link-local limit while a one-off walk of the tree is not slowed.
    /// 0 = no pacing.
    /// </summary>
    public double MaxRequestsPerSecond { get; init; } = 100;

    public int MaxResponseBytes { get; init; } = 1024 * 1024;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Base of the exponential back-off (full jitter).</summary>
    public TimeSpan BackoffBase { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan BackoffCap { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>One successful read.</summary>
public sealed class ImdsReadResult
{
    internal ImdsReadResult(string path, string body, bool usedToken, int attempts)
    {
        Path = path;
        Body = body;
        UsedToken = usedToken;
        Attempts = attempts;
    }

    public string Path { get; }

    public string Body { get; }

    public bool UsedToken { get; }

    public int Attempts { get; }
}

/// <summary>
/// The metadata client users script against: IMDSv2 first with a cached token renewed before expiry, IMDSv1
/// only when allowed, keep-alive connections, retries with exponential back-off and full jitter on throttling,
/// timeouts and 5xx within a total time bound, and a client-side pace.
/// </summary>
public sealed class ImdsClient : IDisposable
{
    private static readonly TimeSpan RenewBefore = TimeSpan.FromSeconds(60);
    private readonly ImdsHttpTransport _transport;
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private readonly RequestPacer _pacer;
    private string? _token;
    private DateTimeOffset _tokenExpires;
    private DateTimeOffset _v2UnavailableUntil;

    public ImdsClient(ImdsClientOptions options)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        if (options.TokenTtlSeconds is < ImdsDefaults.MinTokenTtlSeconds or > ImdsDefaults.MaxTokenTtlSeconds)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.TokenTtlSeconds, "The token TTL must be between 1 and 21600 seconds.");
        }

        _transport = new ImdsHttpTransport(options.MaxResponseBytes);
        _pacer = new RequestPacer(options.MaxRequestsPerSecond, options.Time);
    }

    public ImdsClientOptions Options { get; }

    /// <summary>Requests sent so far (token PUTs and GETs, retries included).</summary>
    public long RequestCount => Interlocked.Read(ref _requests);

    private long _requests;

    /// <summary>
    /// Reads one path. <paramref name="trace"/> gets a line per exchange (method, path, outcome) for verbose output;
    /// it never carries a token or a body.
    /// </summary>
    public async Task<ImdsReadResult> GetAsync(string path, CancellationToken cancellationToken, Action<string>? trace = null)
    {
        string normalized = NormalizePath(path);
        using var total = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        total.CancelAfter(Options.TotalTimeout);
        long deadline = Environment.TickCount64 + (long)Options.TotalTimeout.TotalMilliseconds;
        int attempts = 0;
        ImdsException? last = null;
        bool refreshedToken = false;
        int throttled = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (attempts >= Options.MaxAttempts || total.IsCancellationRequested)
            {
                throw last ?? new ImdsException(ImdsFailure.Timeout, $"No answer for {normalized} within {Options.TotalTimeout.TotalSeconds:0.#} s.", normalized, attempts: attempts);
            }

            attempts++;
            string? token;
            try
            {
                token = await GetTokenAsync(total.Token, trace).ConfigureAwait(false);
            }
            catch (ImdsException ex) when (IsRetryable(ex.Failure))
            {
                last = ex;
                await BackoffAsync(attempts, total.Token, cancellationToken, trace).ConfigureAwait(false);
                continue;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw last ?? new ImdsException(ImdsFailure.Timeout, $"No answer for {normalized} within {Options.TotalTimeout.TotalSeconds:0.#} s.", normalized, attempts: attempts);
            }

            var headers = token is null ? null : new[] { new KeyValuePair<string, string>(ImdsDefaults.TokenHeader, token) };
            ImdsHttpResult result;
            try
            {
                await _pacer.WaitAsync(total.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _requests);
                result = await _transport.SendAsync(HttpMethod.Get, ImdsEndpointResolver.Combine(Options.Endpoint, normalized), headers, AttemptBudget(deadline), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw last ?? new ImdsException(ImdsFailure.Timeout, $"No answer for {normalized} within {Options.TotalTimeout.TotalSeconds:0.#} s.", normalized, attempts: attempts);
            }

            trace?.Invoke($"GET {normalized} {(token is null ? "without a token (IMDSv1)" : "with a token")}: {result}");
            if (result.IsSuccess)
            {
                return new ImdsReadResult(normalized, result.Body, token is not null, attempts);
            }

            last = ToException(result, normalized, attempts, token is not null);
            if (result.StatusCode == 401 && token is not null && !refreshedToken)
            {
                // Expired or revoked early: one fresh token, at once.
                refreshedToken = true;
                InvalidateToken();
                attempts--;
                continue;
            }

            if (!IsRetryable(last.Failure))
            {
                throw last;
            }

            if (last.Failure == ImdsFailure.Throttled)
            {
                // Throttling is waited out within the total time bound, however many answers it takes.
                throttled++;
                attempts--;
                await BackoffAsync(throttled, total.Token, cancellationToken, trace).ConfigureAwait(false);
                continue;
            }

            await BackoffAsync(attempts, total.Token, cancellationToken, trace).ConfigureAwait(false);
        }
    }

    public async Task<string> GetStringAsync(string path, CancellationToken cancellationToken, Action<string>? trace = null) =>
        (await GetAsync(path, cancellationToken, trace).ConfigureAwait(false)).Body;

    /// <summary>One attempt's time: the attempt timeout, cut to what is left of the total bound.</summary>
    private TimeSpan AttemptBudget(long deadline)
    {
        long left = deadline - Environment.TickCount64;
        return TimeSpan.FromMilliseconds(Math.Max(1, Math.Min(Options.AttemptTimeout.TotalMilliseconds, left)));
    }

    private static bool IsRetryable(ImdsFailure failure) => failure is ImdsFailure.Throttled or ImdsFailure.Timeout or ImdsFailure.ConnectTimeout or ImdsFailure.InvalidResponse or ImdsFailure.HttpError;

    private async Task BackoffAsync(int attempt, CancellationToken total, CancellationToken user, Action<string>? trace)
    {
        double capMs = Math.Min(Options.BackoffCap.TotalMilliseconds, Options.BackoffBase.TotalMilliseconds * Math.Pow(2, attempt - 1));
        var delay = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * capMs);
        trace?.Invoke($"retrying in {delay.TotalMilliseconds:F0} ms (attempt {attempt} of {Options.MaxAttempts})");
        try
        {
            await Task.Delay(delay, Options.Time, total).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!user.IsCancellationRequested)
        {
            // The total bound ran out while waiting; the loop reports the last failure.
        }
    }

    public void InvalidateToken()
    {
        _token = null;
    }

    /// <summary>A cached IMDSv2 token, renewed a minute before it expires; null when IMDSv1 is used instead.</summary>
    private async Task<string?> GetTokenAsync(CancellationToken cancellationToken, Action<string>? trace)
    {
        DateTimeOffset now = Options.Time.GetUtcNow();
        if (_token is { } cached && _tokenExpires - now > RenewBefore)
        {
            return cached;
        }

        if (Options.AllowV1 && now < _v2UnavailableUntil)
        {
            return null;
        }

        await _tokenLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            now = Options.Time.GetUtcNow();
            if (_token is { } again && _tokenExpires - now > RenewBefore)
            {
                return again;
            }

            await _pacer.WaitAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _requests);
            var headers = new[] { new KeyValuePair<string, string>(ImdsDefaults.TokenTtlHeader, Options.TokenTtlSeconds.ToString(CultureInfo.InvariantCulture)) };
            var result = await _transport.SendAsync(HttpMethod.Put, ImdsEndpointResolver.Combine(Options.Endpoint, ImdsDefaults.TokenPath), headers, Options.AttemptTimeout, cancellationToken).ConfigureAwait(false);
            trace?.Invoke($"PUT {ImdsDefaults.TokenPath}: {result}");
            if (result.IsSuccess && result.Body.Length > 0)
            {
                _token = result.Body.Trim();
                int ttl = int.TryParse(result.Header(ImdsDefaults.TokenTtlHeader), NumberStyles.None, CultureInfo.InvariantCulture, out int granted) ? granted : Options.TokenTtlSeconds;
                _tokenExpires = now.AddSeconds(Math.Min(ttl, Options.TokenTtlSeconds));
                return _token;
            }

            // The SDKs treat 403/404/405 and a timeout on the PUT as "no IMDSv2 here".
            bool noV2 = result.StatusCode is 403 or 404 or 405 || result.Outcome == ImdsTransportOutcome.ResponseTimeout;
            if (noV2 && Options.AllowV1)
            {
                // Do not pay a failing PUT before every read; try IMDSv2 again in a few minutes.
                _v2UnavailableUntil = now + TimeSpan.FromMinutes(5);
                trace?.Invoke("the token request failed; falling back to IMDSv1 (allowed) for the next 5 minutes");
                return null;
            }

            var failure = ToException(result, ImdsDefaults.TokenPath, 1, false);
            if (failure.Failure is ImdsFailure.NotFound or ImdsFailure.MethodNotAllowed)
            {
                throw new ImdsException(ImdsFailure.TokenUnavailable,
                    $"HTTP {result.StatusCode} for the token request: this endpoint does not offer IMDSv2, and IMDSv1 is not allowed (-AllowV1 falls back).", ImdsDefaults.TokenPath, result.StatusCode, 1);
            }

            if (failure.Failure == ImdsFailure.Timeout)
            {
                throw new ImdsException(ImdsFailure.Timeout,
                    failure.Message + " Connected but no token: the hop limit may be too low for a container (IMDSv1 is not allowed; -AllowV1 falls back).", ImdsDefaults.TokenPath, 0, 1);
            }

            throw failure;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    private static ImdsException ToException(ImdsHttpResult r, string path, int attempts, bool withToken)
    {
        if (r.Outcome != ImdsTransportOutcome.Response)
        {
            return r.Outcome switch
            {
                ImdsTransportOutcome.ConnectionRefused => new ImdsException(ImdsFailure.ConnectionRefused, $"Connection refused by the metadata endpoint ({r.Message}). A local firewall REJECT rule is the usual cause.", path, 0, attempts),
                ImdsTransportOutcome.ConnectTimeout => new ImdsException(ImdsFailure.ConnectTimeout, $"No TCP connection to the metadata endpoint ({r.Message}): a DROP rule, no route, or not an EC2 instance.", path, 0, attempts),
                ImdsTransportOutcome.Unreachable => new ImdsException(ImdsFailure.Unreachable, $"The metadata endpoint is unreachable ({r.Message}).", path, 0, attempts),
                ImdsTransportOutcome.AccessDenied => new ImdsException(ImdsFailure.AccessDenied, $"The system refused the connection ({r.Message}): a local firewall rule.", path, 0, attempts),
                ImdsTransportOutcome.ResponseTimeout => new ImdsException(ImdsFailure.Timeout, $"The metadata service did not answer {path} in time ({r.Message}).", path, 0, attempts),
                ImdsTransportOutcome.ResponseTooLarge => new ImdsException(ImdsFailure.InvalidResponse, $"The answer for {path} is too large ({r.Message}).", path, 0, attempts),
                _ => new ImdsException(ImdsFailure.InvalidResponse, $"The answer for {path} is not valid HTTP ({r.Outcome}: {r.Message}).", path, 0, attempts),
            };
        }

        return r.StatusCode switch
        {
            400 => new ImdsException(ImdsFailure.BadTokenRequest, "HTTP 400 Bad Request: the token request was not valid (TTL header missing or outside 1..21600).", path, 400, attempts),
            401 => new ImdsException(ImdsFailure.Unauthorized, withToken
                ? $"HTTP 401 Unauthorized for {path}: the token is invalid or expired."
                : $"HTTP 401 Unauthorized for {path}: IMDSv2 is required (HttpTokens=required) and the request had no token.", path, 401, attempts),
            403 => new ImdsException(ImdsFailure.Forbidden, $"HTTP 403 Forbidden for {path}: IMDS is turned off (HttpEndpoint=disabled), or the request went through a proxy that added X-Forwarded-For.", path, 403, attempts),
            404 => new ImdsException(ImdsFailure.NotFound, $"HTTP 404 Not Found: {path} does not exist on this instance (check the path; tags need InstanceMetadataTags=enabled; iam/ needs an instance profile).", path, 404, attempts),
            405 => new ImdsException(ImdsFailure.MethodNotAllowed, $"HTTP 405 Method Not Allowed for {path}.", path, 405, attempts),
            429 => new ImdsException(ImdsFailure.Throttled, $"HTTP 429 Too Many Requests for {path}: IMDS is throttling this instance.", path, 429, attempts),
            503 => new ImdsException(ImdsFailure.Throttled, $"HTTP 503 Service Unavailable for {path}.", path, 503, attempts),
            _ => new ImdsException(ImdsFailure.HttpError, $"HTTP {r.StatusCode} for {path}.", path, r.StatusCode, attempts),
        };
    }

    /// <summary>"/latest/meta-data/x", from "meta-data/x", "latest/meta-data/x" or "/latest/meta-data/x".</summary>
    public static string NormalizePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string p = path.Trim();
        if (p.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || p.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            p = new Uri(p).AbsolutePath;
        }

        p = p.TrimStart('/');
        foreach (char c in p)
        {
            if (c <= ' ' || c >= 0x7f || c is '?' or '#' or '\\')
            {
                throw new ArgumentException($"'{path}' is not a metadata path: it contains '{(c <= ' ' ? "whitespace or a control character" : c.ToString())}'.", nameof(path));
            }
        }

        foreach (string segment in p.Split('/'))
        {
            if (segment is "." or "..")
            {
                throw new ArgumentException($"'{path}' is not a metadata path: it contains '{segment}'.", nameof(path));
            }
        }

        string first = p.Split('/')[0];
        bool versioned = first == "latest" || (first.Length > 0 && char.IsDigit(first[0]));
        return "/" + (versioned ? p : "latest/" + p);
    }

    public void Dispose()
    {
        _transport.Dispose();
        _tokenLock.Dispose();
    }
}

/// <summary>A token bucket: at most <c>rate</c> requests a second sustained, bursts of one second's worth.</summary>
internal sealed class RequestPacer
{
    private readonly double _rate;
    private readonly double _burst;
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private double _tokens;
    private DateTimeOffset _last;

    public RequestPacer(double ratePerSecond, TimeProvider time)
    {
        _rate = ratePerSecond;
        _burst = Math.Max(1, ratePerSecond);
        _tokens = _burst;
        _time = time;
        _last = time.GetUtcNow();
    }

    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        if (_rate <= 0)
        {
            return;
        }

        while (true)
        {
            TimeSpan wait;
            lock (_lock)
            {
                var now = _time.GetUtcNow();
                _tokens = Math.Min(_burst, _tokens + ((now - _last).TotalSeconds * _rate));
                _last = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    return;
                }

                wait = TimeSpan.FromSeconds((1 - _tokens) / _rate);
            }

            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
    }
}
