using System;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.AwsApi;

/// <summary>Checks on names users type: Regions, endpoint URLs.</summary>
public static partial class AwsNames
{
    /// <summary>The public Region shape: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-5.</summary>
    [GeneratedRegex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();

    public static bool IsRegion(string? region) => region is not null && RegionPattern().IsMatch(region);

    /// <summary>Throws InvalidRegion unless <paramref name="region"/> looks like a Region name.</summary>
    public static string CheckRegion(string region)
    {
        string trimmed = region.Trim();
        if (!IsRegion(trimmed))
        {
            throw new AwsApiException(AwsErrorKind.InvalidRegion, $"'{region}' is not a Region name. Use a name such as us-east-1 or eu-west-1.");
        }

        return trimmed;
    }

    /// <summary>Parses an endpoint URL: absolute, http or https, no query or fragment. Throws InvalidEndpoint.</summary>
    public static Uri ParseEndpoint(string text)
    {
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out Uri? uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || string.IsNullOrEmpty(uri.Host))
        {
            throw new AwsApiException(AwsErrorKind.InvalidEndpoint, $"'{text}' is not an endpoint URL. Use an absolute http or https URL such as https://ec2.eu-west-1.amazonaws.com or http://127.0.0.1:4566.");
        }

        return uri;
    }
}
