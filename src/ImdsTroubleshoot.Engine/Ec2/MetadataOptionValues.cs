using System;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>Whether a change to an instance's metadata options is in effect (DescribeInstances MetadataOptions.State).</summary>
public enum MetadataOptionsState
{
    /// <summary>Being applied: the instance is not yet serving metadata with the new options.</summary>
    Pending,

    /// <summary>In effect on the instance.</summary>
    Applied,
}

/// <summary>Converts metadata option values between the EC2 wire form ("enabled", "required") and the engine's enums.</summary>
public static class MetadataOptionValues
{
    public static string ToWire(FeatureState value) => value == FeatureState.Enabled ? "enabled" : "disabled";

    public static string ToWire(HttpTokensState value) => value == HttpTokensState.Required ? "required" : "optional";

    public static string ToWire(MetadataOptionsState value) => value == MetadataOptionsState.Applied ? "applied" : "pending";

    /// <summary>Parses "enabled"/"disabled" in any case; null for anything else (absent or a value this version does not know).</summary>
    public static FeatureState? ParseFeature(string? wire) => Normal(wire) switch
    {
        "enabled" => FeatureState.Enabled,
        "disabled" => FeatureState.Disabled,
        _ => null,
    };

    public static HttpTokensState? ParseTokens(string? wire) => Normal(wire) switch
    {
        "optional" => HttpTokensState.Optional,
        "required" => HttpTokensState.Required,
        _ => null,
    };

    public static MetadataOptionsState? ParseState(string? wire) => Normal(wire) switch
    {
        "pending" => MetadataOptionsState.Pending,
        "applied" => MetadataOptionsState.Applied,
        _ => null,
    };

    private static string? Normal(string? wire) => wire?.Trim().ToLowerInvariant();
}
