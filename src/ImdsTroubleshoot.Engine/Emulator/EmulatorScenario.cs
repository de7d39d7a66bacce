using System;
using System.Collections.Generic;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Emulator;

/// <summary>A named set of emulator settings for demos and tests.</summary>
public sealed class EmulatorScenario
{
    private EmulatorScenario(string name, string description, EmulatorSettings settings, bool withRole = true)
    {
        Name = name;
        Description = description;
        Settings = settings;
        WithRole = withRole;
    }

    public string Name { get; }

    public string Description { get; }

    public EmulatorSettings Settings { get; }

    /// <summary>Whether the instance has an IAM role (instance profile).</summary>
    public bool WithRole { get; }

    public override string ToString() => Name;

    public static IReadOnlyList<EmulatorScenario> All { get; } = new[]
    {
        new EmulatorScenario("Healthy", "IMDS on, IMDSv1 and IMDSv2 both allowed, hop limit 2, an instance role.", new EmulatorSettings { HttpPutResponseHopLimit = 2 }),
        new EmulatorScenario("TokensRequired", "HttpTokens=required: a GET without a token gets 401; IMDSv2 works.", new EmulatorSettings { HttpTokens = HttpTokensState.Required, HttpPutResponseHopLimit = 2 }),
        new EmulatorScenario("EndpointDisabled", "HttpEndpoint=disabled: every request gets 403.", new EmulatorSettings { HttpEndpoint = FeatureState.Disabled }),
        new EmulatorScenario("HopLimit1", "HttpPutResponseHopLimit=1 (the EC2 default): a client one routed hop away (a container) never gets its token.", new EmulatorSettings { HttpTokens = HttpTokensState.Required, HttpPutResponseHopLimit = 1 }),
        new EmulatorScenario("Throttled", "Past 5 requests/s (burst 5) requests get 429 Too Many Requests.", new EmulatorSettings { HttpPutResponseHopLimit = 2, ThrottleRequestsPerSecond = 5, ThrottleBurst = 5, ThrottleAction = ThrottleAction.Respond429 }),
        new EmulatorScenario("ThrottledDrop", "Past 5 requests/s (burst 5) requests are silently dropped, like the link-local packet shaper.", new EmulatorSettings { HttpPutResponseHopLimit = 2, ThrottleRequestsPerSecond = 5, ThrottleBurst = 5, ThrottleAction = ThrottleAction.Drop }),
        new EmulatorScenario("ForwardedForRejected", "Requests carrying X-Forwarded-For (added by proxies) get 403, the token PUT and GETs with a token.", new EmulatorSettings { HttpPutResponseHopLimit = 2, RejectForwardedForOnGet = true }),
        new EmulatorScenario("TagsEnabled", "InstanceMetadataTags=enabled: tags/instance/ lists the instance tags.", new EmulatorSettings { HttpPutResponseHopLimit = 2, InstanceMetadataTags = FeatureState.Enabled }),
        new EmulatorScenario("Ipv6", "HttpProtocolIpv6=enabled: the service also answers on [fd00:ec2::254].", new EmulatorSettings { HttpPutResponseHopLimit = 2, HttpProtocolIpv6 = FeatureState.Enabled }),
        new EmulatorScenario("NoRole", "No instance profile: iam/ is 404, so SDKs find no credentials.", new EmulatorSettings { HttpPutResponseHopLimit = 2 }, withRole: false),
        new EmulatorScenario("Slow", "Every answer is delayed by 1.5 s, longer than the 1 s timeout most SDKs use.", new EmulatorSettings { HttpPutResponseHopLimit = 2, Latency = TimeSpan.FromMilliseconds(1500) }),
    };

    public static IReadOnlyList<string> Names { get; } = All.Select(s => s.Name).ToArray();

    public static EmulatorScenario Get(ImdsEmulatorScenario scenario) => Get(scenario.ToString());

    public static EmulatorScenario Get(string name)
    {
        return All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"There is no emulator scenario named '{name}'. Known scenarios: {string.Join(", ", Names)}.", nameof(name));
    }
}

/// <summary>The named scenarios, for parameter binding and tab completion.</summary>
public enum ImdsEmulatorScenario
{
    Healthy,
    TokensRequired,
    EndpointDisabled,
    HopLimit1,
    Throttled,
    ThrottledDrop,
    ForwardedForRejected,
    TagsEnabled,
    Ipv6,
    NoRole,
    Slow,
}
