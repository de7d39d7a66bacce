using System;
using System.Collections;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Engine.Client;

public enum ImdsEndpointMode
{
    IPv4,
    IPv6,
}

/// <summary>The endpoint a client should use, and why (for verbose output and findings).</summary>
public sealed class ImdsEndpointChoice
{
    internal ImdsEndpointChoice(Uri endpoint, string source)
    {
        Endpoint = endpoint;
        Source = source;
    }

    /// <summary>Base URI ending in '/', e.g. http://169.254.169.254/.</summary>
    public Uri Endpoint { get; }

    /// <summary>Where the choice came from: -Endpoint, AWS_EC2_METADATA_SERVICE_ENDPOINT, ..._MODE, or the default.</summary>
    public string Source { get; }

    public override string ToString() => $"{Endpoint} ({Source})";
}

/// <summary>
/// Picks the IMDS endpoint the way the AWS SDKs do: an explicit endpoint, else
/// AWS_EC2_METADATA_SERVICE_ENDPOINT, else AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (IPv4/IPv6), else IPv4.
/// </summary>
public static class ImdsEndpointResolver
{
    public static ImdsEndpointChoice Resolve(Uri? explicitEndpoint, IDictionary? environment = null, ImdsEndpointMode? mode = null)
    {
        if (explicitEndpoint is not null)
        {
            return new ImdsEndpointChoice(Normalize(explicitEndpoint, "-Endpoint"), "-Endpoint");
        }

        environment ??= Environment.GetEnvironmentVariables();
        string? fromEnv = Get(environment, ImdsDefaults.EndpointEnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            if (!Uri.TryCreate(fromEnv.Trim(), UriKind.Absolute, out Uri? uri))
            {
                throw new ArgumentException($"{ImdsDefaults.EndpointEnvironmentVariable}='{fromEnv}' is not an absolute http:// URI.");
            }

            return new ImdsEndpointChoice(Normalize(uri, ImdsDefaults.EndpointEnvironmentVariable), ImdsDefaults.EndpointEnvironmentVariable);
        }

        if (mode is { } m)
        {
            return Default(m, "-AddressFamily");
        }

        string? modeText = Get(environment, ImdsDefaults.EndpointModeEnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(modeText))
        {
            if (modeText.Trim().Equals("IPv6", StringComparison.OrdinalIgnoreCase))
            {
                return Default(ImdsEndpointMode.IPv6, ImdsDefaults.EndpointModeEnvironmentVariable);
            }

            if (!modeText.Trim().Equals("IPv4", StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"{ImdsDefaults.EndpointModeEnvironmentVariable}='{modeText}' must be IPv4 or IPv6.");
            }
        }

        return Default(ImdsEndpointMode.IPv4, "default");
    }

    public static ImdsEndpointChoice Default(ImdsEndpointMode mode, string source) =>
        new(mode == ImdsEndpointMode.IPv6 ? ImdsDefaults.IPv6Endpoint : ImdsDefaults.IPv4Endpoint, source);

    /// <summary>True when AWS_EC2_METADATA_DISABLED is "true" (the SDKs then never contact IMDS).</summary>
    public static bool IsDisabledByEnvironment(IDictionary? environment = null) =>
        IsTrue(Get(environment ?? Environment.GetEnvironmentVariables(), ImdsDefaults.DisabledEnvironmentVariable));

    /// <summary>True when AWS_EC2_METADATA_V1_DISABLED is "true" (no IMDSv1 fallback).</summary>
    public static bool IsV1DisabledByEnvironment(IDictionary? environment = null) =>
        IsTrue(Get(environment ?? Environment.GetEnvironmentVariables(), ImdsDefaults.V1DisabledEnvironmentVariable));

    private static bool IsTrue(string? value) => value is not null && value.Trim().Equals("true", StringComparison.OrdinalIgnoreCase);

    private static string? Get(IDictionary environment, string name) => environment.Contains(name) ? environment[name] as string : null;

    private static Uri Normalize(Uri uri, string source)
    {
        if (!uri.IsAbsoluteUri || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"{source}: '{uri}' is not an http:// URI.");
        }

        string text = uri.GetLeftPart(UriPartial.Path);
        return new Uri(text.EndsWith('/') ? text : text + "/");
    }

    /// <summary>The endpoint's path joined with a metadata path ("latest/meta-data/...", with or without a leading '/').</summary>
    public static Uri Combine(Uri endpoint, string path) => new(endpoint, path.TrimStart('/'));

    internal static IEnumerable<string> Keys(IDictionary environment)
    {
        foreach (object key in environment.Keys)
        {
            if (key is string s)
            {
                yield return s;
            }
        }
    }
}
