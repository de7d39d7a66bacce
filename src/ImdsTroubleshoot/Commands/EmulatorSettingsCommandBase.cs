using System;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Commands;

/// <summary>The emulator settings that Start-ImdsEmulator and Set-ImdsEmulator both take.</summary>
public abstract class EmulatorSettingsCommandBase : ImdsCmdlet
{
    [Parameter]
    public HttpTokensState HttpTokens { get; set; }

    [Parameter]
    public FeatureState HttpEndpoint { get; set; }

    [Parameter]
    [Alias("HopLimit")]
    [ValidateRange(1, 64)]
    public int HttpPutResponseHopLimit { get; set; }

    [Parameter]
    public FeatureState HttpProtocolIpv6 { get; set; }

    [Parameter]
    public FeatureState InstanceMetadataTags { get; set; }

    [Parameter]
    public bool RejectForwardedForOnGet { get; set; }

    [Parameter]
    [ValidateRange(0.0, 1_000_000.0)]
    public double ThrottleRequestsPerSecond { get; set; }

    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public int ThrottleBurst { get; set; }

    [Parameter]
    public ThrottleAction ThrottleAction { get; set; }

    [Parameter]
    [ValidateRange(0, 300_000)]
    public int LatencyMilliseconds { get; set; }

    [Parameter]
    [ValidateRange(1, 100_000)]
    public int MaxConnections { get; set; }

    /// <summary>Applies the parameters the user gave (and only those) to <paramref name="settings"/>.</summary>
    protected EmulatorSettings ApplyBoundSettings(EmulatorSettings settings)
    {
        var bound = MyInvocation.BoundParameters;
        if (bound.ContainsKey(nameof(HttpTokens)))
        {
            settings = settings with { HttpTokens = HttpTokens };
        }

        if (bound.ContainsKey(nameof(HttpEndpoint)))
        {
            settings = settings with { HttpEndpoint = HttpEndpoint };
        }

        if (bound.ContainsKey(nameof(HttpPutResponseHopLimit)))
        {
            settings = settings with { HttpPutResponseHopLimit = HttpPutResponseHopLimit };
        }

        if (bound.ContainsKey(nameof(HttpProtocolIpv6)))
        {
            settings = settings with { HttpProtocolIpv6 = HttpProtocolIpv6 };
        }

        if (bound.ContainsKey(nameof(InstanceMetadataTags)))
        {
            settings = settings with { InstanceMetadataTags = InstanceMetadataTags };
        }

        if (bound.ContainsKey(nameof(RejectForwardedForOnGet)))
        {
            settings = settings with { RejectForwardedForOnGet = RejectForwardedForOnGet };
        }

        if (bound.ContainsKey(nameof(ThrottleRequestsPerSecond)))
        {
            settings = settings with { ThrottleRequestsPerSecond = ThrottleRequestsPerSecond > 0 ? ThrottleRequestsPerSecond : null };
        }

        if (bound.ContainsKey(nameof(ThrottleBurst)))
        {
            settings = settings with { ThrottleBurst = ThrottleBurst };
        }

        if (bound.ContainsKey(nameof(ThrottleAction)))
        {
            settings = settings with { ThrottleAction = ThrottleAction };
        }

        if (bound.ContainsKey(nameof(LatencyMilliseconds)))
        {
            settings = settings with { Latency = TimeSpan.FromMilliseconds(LatencyMilliseconds) };
        }

        if (bound.ContainsKey(nameof(MaxConnections)))
        {
            settings = settings with { MaxConnections = MaxConnections };
        }

        return settings;
    }

    /// <summary>A short, human description of what the bound parameters change.</summary>
    protected string DescribeBoundSettings()
    {
        var parts = new System.Collections.Generic.List<string>();
        foreach (var kv in MyInvocation.BoundParameters)
        {
            if (typeof(EmulatorSettingsCommandBase).GetProperty(kv.Key, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly) is not null)
            {
                parts.Add($"{kv.Key}={kv.Value}");
            }
        }

        return parts.Count == 0 ? "no setting" : string.Join(", ", parts);
    }
}
