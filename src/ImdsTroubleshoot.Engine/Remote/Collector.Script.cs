using System;
using System.Globalization;
using System.IO;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Remote;

public static partial class Collector
{
    /// <summary>The output format the script prints and the parser reads (the first line says it).</summary>
    public const int FormatVersion = 1;

    public const double MinTimeoutSec = 0.05;
    public const double MaxTimeoutSec = 120;
    public const int MinOutputBudget = 1_000;
    /// <summary>500 characters under what GetCommandInvocation returns of standard output.</summary>
    public const int MaxOutputBudget = SsmLimits.MaxOutputCharacters - 500;

    private static readonly Lazy<string> s_body = new(LoadBody);

    [GeneratedRegex(@"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsName();

    [GeneratedRegex(@"^https?://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9._~/-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex SafeUrl();

    private static string LoadBody()
    {
        using Stream stream = typeof(Collector).Assembly.GetManifestResourceStream("ImdsTroubleshoot.Engine.Remote.collector.sh")
            ?? throw new InvalidOperationException("The collector script is missing from the engine assembly.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    }

    /// <summary>The endpoint as the script will use it (http[s]://host[:port]/path/), or an exception saying what is wrong.</summary>
    public static Uri ValidateEndpoint(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!endpoint.IsAbsoluteUri || endpoint.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"The endpoint '{endpoint.OriginalString}' is not an absolute http:// URI.", nameof(endpoint));
        }

        if (endpoint.UserInfo.Length > 0 || endpoint.OriginalString.Contains('@', StringComparison.Ordinal))
        {
            throw new ArgumentException("The endpoint must not carry a user name or password.", nameof(endpoint));
        }

        if (endpoint.OriginalString.Contains('%', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The endpoint '{endpoint.OriginalString}' has a percent sign (an encoded character or an IPv6 zone): neither can be used.", nameof(endpoint));
        }

        string host = endpoint.Host;
        bool ok = endpoint.HostNameType switch
        {
            UriHostNameType.IPv4 => IPAddress.TryParse(host, out _),
            UriHostNameType.IPv6 => IPAddress.TryParse(host.Trim('[', ']'), out IPAddress? v6) && v6.ScopeId == 0 && !host.Contains('%', StringComparison.Ordinal),
            UriHostNameType.Dns => DnsName().IsMatch(host),
            _ => false,
        };
        if (!ok)
        {
            throw new ArgumentException($"The endpoint's host '{host}' is neither an IP address nor a valid DNS name.", nameof(endpoint));
        }

        if (endpoint.Query.Length > 0 || endpoint.Fragment.Length > 0)
        {
            throw new ArgumentException("The endpoint must not have a query or a fragment.", nameof(endpoint));
        }

        string text = endpoint.GetLeftPart(UriPartial.Path);
        if (!text.EndsWith('/'))
        {
            text += "/";
        }

        if (!SafeUrl().IsMatch(text))
        {
            throw new ArgumentException($"The endpoint '{endpoint.OriginalString}' has characters that cannot be used in its path (letters, digits, '.', '_', '~', '-', '/' only).", nameof(endpoint));
        }

        return new Uri(text);
    }

    /// <summary>The script for these parameters (every value is validated and quoted before it goes in).</summary>
    public static string Build(CollectorParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (double.IsNaN(parameters.TimeoutSec) || parameters.TimeoutSec < MinTimeoutSec || parameters.TimeoutSec > MaxTimeoutSec)
        {
            throw new ArgumentOutOfRangeException(nameof(parameters), parameters.TimeoutSec,
                $"TimeoutSec must be between {MinTimeoutSec.ToString(CultureInfo.InvariantCulture)} and {MaxTimeoutSec.ToString(CultureInfo.InvariantCulture)} seconds.");
        }

        if (parameters.OutputBudget < MinOutputBudget || parameters.OutputBudget > MaxOutputBudget)
        {
            throw new ArgumentOutOfRangeException(nameof(parameters), parameters.OutputBudget,
                $"OutputBudget must be between {MinOutputBudget.ToString("N0", CultureInfo.InvariantCulture)} and {MaxOutputBudget.ToString("N0", CultureInfo.InvariantCulture)} characters.");
        }

        string endpoint = parameters.Endpoint is null ? string.Empty : ValidateEndpoint(parameters.Endpoint).AbsoluteUri;
        string timeout = Math.Round(parameters.TimeoutSec, 3).ToString("0.###", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append("#!/bin/sh\n");
        sb.Append("# Generated by ImdsTroubleshoot: ").Append("Invoke-ImdsDiagnosis remote collector.\n");
        sb.Append("IMDSC_TIMEOUT=").Append(Quote(timeout)).Append('\n');
        sb.Append("IMDSC_IPV6=").Append(Quote(parameters.IPv6 ? "1" : "0")).Append('\n');
        sb.Append("IMDSC_ENDPOINT=").Append(Quote(endpoint)).Append('\n');
        sb.Append("IMDSC_BUDGET=").Append(Quote(parameters.OutputBudget.ToString(CultureInfo.InvariantCulture))).Append('\n');
        sb.Append(s_body.Value);
        return sb.ToString();
    }

    /// <summary>Single-quotes a value for sh (values are validated first; a quote inside is closed, escaped and reopened).</summary>
    internal static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
