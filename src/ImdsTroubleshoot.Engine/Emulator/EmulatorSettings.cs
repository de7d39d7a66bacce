using System;

namespace ImdsTroubleshoot.Engine.Emulator;

/// <summary>IMDSv2 enforcement, as the EC2 API names it (<c>HttpTokens</c>).</summary>
public enum HttpTokensState
{
    Optional,
    Required,
}

/// <summary>On/off switches as the EC2 API names them (<c>HttpEndpoint</c>, <c>HttpProtocolIpv6</c>, <c>InstanceMetadataTags</c>).</summary>
public enum FeatureState
{
    Enabled,
    Disabled,
}

/// <summary>What the emulator does with a request over its rate limit.</summary>
public enum ThrottleAction
{
    /// <summary>Answer 429 Too Many Requests (seen in the field).</summary>
    Respond429,

    /// <summary>Never answer, as the link-local packet shaper does when it drops packets.</summary>
    Drop,
}

/// <summary>
/// The emulated instance's metadata options plus the emulator's own fault switches. Immutable: change a
/// running emulator with <see cref="ImdsEmulator.UpdateSettings"/>.
/// </summary>
public sealed record EmulatorSettings
{
    public FeatureState HttpEndpoint { get; init; } = FeatureState.Enabled;

    public HttpTokensState HttpTokens { get; init; } = HttpTokensState.Optional;

    /// <summary>IP TTL / IPv6 hop limit of the token PUT response, 1..64 (EC2 default 1).</summary>
    public int HttpPutResponseHopLimit { get; init; } = 1;

    public FeatureState HttpProtocolIpv6 { get; init; } = FeatureState.Disabled;

    public FeatureState InstanceMetadataTags { get; init; } = FeatureState.Disabled;

    /// <summary>Answer 403 to a GET that carries both a token and X-Forwarded-For (seen in the field, not documented).</summary>
    public bool RejectForwardedForOnGet { get; init; }

    /// <summary>Requests per second allowed before throttling; null turns throttling off.</summary>
    public double? ThrottleRequestsPerSecond { get; init; }

    /// <summary>Requests allowed in a burst above the steady rate.</summary>
    public int ThrottleBurst { get; init; } = 1;

    public ThrottleAction ThrottleAction { get; init; } = ThrottleAction.Respond429;

    /// <summary>Delay added before every answer.</summary>
    public TimeSpan Latency { get; init; } = TimeSpan.Zero;

    /// <summary>Simultaneous connections accepted; past this a new connection is closed at once.</summary>
    public int MaxConnections { get; init; } = 512;

    public EmulatorSettings Validate()
    {
        if (HttpPutResponseHopLimit is < ImdsDefaults.MinHopLimit or > ImdsDefaults.MaxHopLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(HttpPutResponseHopLimit), HttpPutResponseHopLimit, "The hop limit must be between 1 and 64.");
        }

        if (ThrottleRequestsPerSecond is { } rps && (double.IsNaN(rps) || rps <= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(ThrottleRequestsPerSecond), rps, "The throttle rate must be greater than zero.");
        }

        if (ThrottleBurst < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ThrottleBurst), ThrottleBurst, "The throttle burst must be at least 1.");
        }

        if (Latency < TimeSpan.Zero || Latency > TimeSpan.FromMinutes(5))
        {
            throw new ArgumentOutOfRangeException(nameof(Latency), Latency, "The latency must be between 0 and 5 minutes.");
        }

        if (MaxConnections < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "MaxConnections must be at least 1.");
        }

        return this;
    }
}
