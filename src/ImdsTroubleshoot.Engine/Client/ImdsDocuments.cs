using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security;
using System.Text.Json;

namespace ImdsTroubleshoot.Engine.Client;

/// <summary>dynamic/instance-identity/document, parsed.</summary>
public sealed class ImdsIdentityDocument
{
    private ImdsIdentityDocument()
    {
    }

    public string? AccountId { get; private init; }

    public string? Architecture { get; private init; }

    public string? AvailabilityZone { get; private init; }

    public string? ImageId { get; private init; }

    public string? InstanceId { get; private init; }

    public string? InstanceType { get; private init; }

    public string? KernelId { get; private init; }

    public string? RamdiskId { get; private init; }

    public DateTimeOffset? PendingTime { get; private init; }

    public string? PrivateIp { get; private init; }

    public string? Region { get; private init; }

    public string? Version { get; private init; }

    public IReadOnlyList<string> BillingProducts { get; private init; } = Array.Empty<string>();

    public IReadOnlyList<string> MarketplaceProductCodes { get; private init; } = Array.Empty<string>();

    public static ImdsIdentityDocument Parse(string json)
    {
        using var doc = ImdsJson.ParseObject(json, "the instance identity document");
        JsonElement e = doc.RootElement;
        return new ImdsIdentityDocument
        {
            AccountId = ImdsJson.String(e, "accountId"),
            Architecture = ImdsJson.String(e, "architecture"),
            AvailabilityZone = ImdsJson.String(e, "availabilityZone"),
            ImageId = ImdsJson.String(e, "imageId"),
            InstanceId = ImdsJson.String(e, "instanceId"),
            InstanceType = ImdsJson.String(e, "instanceType"),
            KernelId = ImdsJson.String(e, "kernelId"),
            RamdiskId = ImdsJson.String(e, "ramdiskId"),
            PendingTime = ImdsJson.Time(e, "pendingTime"),
            PrivateIp = ImdsJson.String(e, "privateIp"),
            Region = ImdsJson.String(e, "region"),
            Version = ImdsJson.String(e, "version"),
            BillingProducts = ImdsJson.Strings(e, "billingProducts"),
            MarketplaceProductCodes = ImdsJson.Strings(e, "marketplaceProductCodes"),
        };
    }

    public override string ToString() => $"{InstanceId} {InstanceType} {Region} account {AccountId}";
}

/// <summary>
/// Role credentials from iam/security-credentials/ROLE. The secret key and session token are SecureStrings,
/// hidden from display, verbose and JSON output; <see cref="GetSecretAccessKey"/> and <see cref="GetSessionToken"/>
/// return them when the caller asks.
/// </summary>
public sealed class ImdsRoleCredential
{
    private readonly SecureString _secret;
    private readonly SecureString _token;

    private ImdsRoleCredential(string roleName, string? code, string? type, string? accessKeyId, SecureString secret, SecureString token, DateTimeOffset? expiration, DateTimeOffset? lastUpdated)
    {
        RoleName = roleName;
        Code = code;
        Type = type;
        AccessKeyId = accessKeyId;
        _secret = secret;
        _token = token;
        Expiration = expiration;
        LastUpdated = lastUpdated;
    }

    public string RoleName { get; }

    public string? Code { get; }

    public string? Type { get; }

    public string? AccessKeyId { get; }

    public SecureString SecretAccessKey => _secret;

    public SecureString SessionToken => _token;

    public DateTimeOffset? Expiration { get; }

    public DateTimeOffset? LastUpdated { get; }

    public string GetSecretAccessKey() => Reveal(_secret);

    public string GetSessionToken() => Reveal(_token);

    public static ImdsRoleCredential Parse(string roleName, string json)
    {
        using var doc = ImdsJson.ParseObject(json, "the role credentials");
        JsonElement e = doc.RootElement;
        return new ImdsRoleCredential(roleName, ImdsJson.String(e, "Code"), ImdsJson.String(e, "Type"), ImdsJson.String(e, "AccessKeyId"),
            Secure(ImdsJson.String(e, "SecretAccessKey")), Secure(ImdsJson.String(e, "Token")), ImdsJson.Time(e, "Expiration"), ImdsJson.Time(e, "LastUpdated"));
    }

    private static SecureString Secure(string? value)
    {
        var s = new SecureString();
        foreach (char c in value ?? string.Empty)
        {
            s.AppendChar(c);
        }

        s.MakeReadOnly();
        return s;
    }

    private static string Reveal(SecureString s)
    {
        IntPtr p = System.Runtime.InteropServices.Marshal.SecureStringToGlobalAllocUnicode(s);
        try
        {
            return System.Runtime.InteropServices.Marshal.PtrToStringUni(p) ?? string.Empty;
        }
        finally
        {
            System.Runtime.InteropServices.Marshal.ZeroFreeGlobalAllocUnicode(p);
        }
    }

    public override string ToString() => $"{RoleName} {AccessKeyId} (expires {Expiration:u})";
}

/// <summary>One item of a metadata tree walk.</summary>
public sealed class ImdsMetadataItem
{
    public ImdsMetadataItem(string path, object? value, string kind)
    {
        Path = path;
        Value = value;
        Kind = kind;
    }

    /// <summary>The full path, e.g. /latest/meta-data/placement/region.</summary>
    public string Path { get; }

    public string Name => Path.TrimEnd('/').Split('/')[^1];

    /// <summary>Text, a parsed document, or a credential object (secrets hidden).</summary>
    public object? Value { get; }

    /// <summary>Text, Json, IdentityDocument, Credential.</summary>
    public string Kind { get; }

    public override string ToString() => $"{Path} = {Value}";
}

internal static class ImdsJson
{
    public static JsonDocument ParseObject(string json, string what)
    {
        try
        {
            var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 32 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new FormatException($"{what} is not a JSON object.");
            }

            return doc;
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{what} is not valid JSON ({ex.Message}).", ex);
        }
    }

    public static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            _ => v.GetRawText(),
        } : null;

    public static DateTimeOffset? Time(JsonElement e, string name) =>
        String(e, name) is { } s && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    public static IReadOnlyList<string> Strings(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString() ?? string.Empty : x.GetRawText()).ToArray()
            : Array.Empty<string>();
}
