using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ImdsTroubleshoot.Engine.Emulator;

/// <summary>
/// The metadata an emulated instance serves, as a flat map of paths under <c>/latest/</c>
/// (<c>meta-data/instance-id</c>) to text. Folders and their listings follow from the paths.
/// </summary>
public sealed class InstanceContent
{
    private const string GenerateKey = "$generate";
    private readonly SortedDictionary<string, Item> _items;
    private readonly object _credentialLock = new();
    private GeneratedCredential? _credential;

    private InstanceContent(SortedDictionary<string, Item> items)
    {
        _items = items;
    }

    /// <summary>How long generated role credentials live (the service rotates them well before this).</summary>
    public TimeSpan CredentialLifetime { get; init; } = TimeSpan.FromHours(6);

    public int Count => _items.Count;

    public IEnumerable<string> Paths => _items.Keys;

    public string? InstanceId => TextOf("meta-data/instance-id");

    public string? Region => TextOf("meta-data/placement/region");

    public string? AvailabilityZone => TextOf("meta-data/placement/availability-zone");

    public string? RoleName => _items.Keys
        .Where(k => k.StartsWith("meta-data/iam/security-credentials/", StringComparison.Ordinal))
        .Select(k => k.Substring("meta-data/iam/security-credentials/".Length))
        .FirstOrDefault(k => k.Length > 0 && !k.Contains('/', StringComparison.Ordinal));

    public static string DefaultJson
    {
        get
        {
            using var stream = typeof(InstanceContent).Assembly.GetManifestResourceStream("ImdsTroubleshoot.Engine.Emulator.default-instance.json")
                ?? throw new InvalidOperationException("The default instance content is missing from the assembly.");
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }
    }

    public static InstanceContent CreateDefault() => Parse(DefaultJson, "default instance");

    public static InstanceContent LoadFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"The content file '{path}' does not exist.", path);
        }

        if (info.Length > 16 * 1024 * 1024)
        {
            throw new InvalidDataException($"The content file '{path}' is larger than 16 MiB.");
        }

        return Parse(File.ReadAllText(path, Encoding.UTF8), path);
    }

    /// <summary>Parses content JSON. Throws <see cref="InvalidDataException"/> with the reason when it is not valid.</summary>
    public static InstanceContent Parse(string json, string sourceName = "content")
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{sourceName} is not valid JSON: {ex.Message}", ex);
        }

        if (root is not JsonObject obj)
        {
            throw new InvalidDataException($"{sourceName} must be a JSON object that maps metadata paths to values.");
        }

        var items = new SortedDictionary<string, Item>(StringComparer.Ordinal);
        foreach (var (key, value) in obj)
        {
            if (key.StartsWith('$'))
            {
                continue;
            }

            string path = NormalizeKey(key, sourceName);
            items[path] = value switch
            {
                null => new Item(ItemKind.Text, string.Empty),
                JsonObject o when o.Count == 1 && o[GenerateKey] is JsonValue g && g.TryGetValue(out string? what) =>
                    what == "credentials" ? new Item(ItemKind.GeneratedCredentials, string.Empty)
                        : throw new InvalidDataException($"{sourceName}: '{key}' asks to generate '{what}'; only \"credentials\" can be generated."),
                JsonObject or JsonArray => new Item(ItemKind.Json, value.ToJsonString(new JsonSerializerOptions { WriteIndented = true })),
                JsonValue v when v.TryGetValue(out string? s) => new Item(ItemKind.Text, s),
                _ => new Item(ItemKind.Text, value.ToJsonString()),
            };
        }

        foreach (string path in items.Keys)
        {
            if (path.EndsWith('/'))
            {
                continue;
            }

            // A path cannot be both a value and a folder.
            string prefix = path + "/";
            if (items.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal) && k != prefix))
            {
                throw new InvalidDataException($"{sourceName}: '{path}' is given both as a value and as a folder.");
            }
        }

        return new InstanceContent(items);
    }

    /// <summary>A copy without the instance profile (the "no role attached" case).</summary>
    public InstanceContent WithoutRole()
    {
        var items = new SortedDictionary<string, Item>(StringComparer.Ordinal);
        foreach (var kv in _items.Where(kv => !kv.Key.StartsWith("meta-data/iam/", StringComparison.Ordinal)))
        {
            items.Add(kv.Key, kv.Value);
        }

        return new InstanceContent(items) { CredentialLifetime = CredentialLifetime };
    }

    private static string NormalizeKey(string key, string sourceName)
    {
        string path = key.Trim();
        if (path.StartsWith("/latest/", StringComparison.Ordinal))
        {
            path = path.Substring("/latest/".Length);
        }

        if (path.Length == 0 || path.StartsWith('/') || path.Contains("//", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{sourceName}: '{key}' is not a metadata path like 'meta-data/instance-id'.");
        }

        foreach (string segment in path.TrimEnd('/').Split('/'))
        {
            if (segment is "." or ".." || segment.Any(c => c <= ' ' || c >= 0x7f || c is '?' or '#'))
            {
                throw new InvalidDataException($"{sourceName}: '{key}' has an invalid path segment '{segment}'.");
            }
        }

        string top = path.Split('/')[0];
        if (top is not ("meta-data" or "dynamic" or "user-data"))
        {
            throw new InvalidDataException($"{sourceName}: '{key}' must start with meta-data/, dynamic/ or be user-data.");
        }

        return path;
    }

    private string? TextOf(string path) => _items.TryGetValue(path, out var item) && item.Kind == ItemKind.Text ? item.Value : null;

    /// <summary>Looks up a path relative to a version root (<c>meta-data/</c>, <c>""</c> for the root).</summary>
    internal ContentResult Lookup(string relativePath, bool tagsEnabled, DateTimeOffset now)
    {
        if (!tagsEnabled && IsTagPath(relativePath))
        {
            return ContentResult.NotFound;
        }

        string folderKey = relativePath.Length == 0 || relativePath.EndsWith('/') ? relativePath : relativePath + "/";
        string leafKey = relativePath.TrimEnd('/');

        // A value is served with or without a trailing slash: the AWS CLI asks for placement/availability-zone/.
        if (leafKey.Length > 0 && _items.TryGetValue(leafKey, out var leaf))
        {
            return new ContentResult(ContentResultKind.Value, Render(leaf, now));
        }

        if (_items.TryGetValue(folderKey, out var explicitListing) && folderKey.Length > 0)
        {
            return new ContentResult(ContentResultKind.Listing, explicitListing.Value);
        }

        var children = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string key in _items.Keys)
        {
            if (!key.StartsWith(folderKey, StringComparison.Ordinal) || key.Length == folderKey.Length)
            {
                continue;
            }

            if (!tagsEnabled && IsTagPath(key))
            {
                continue;
            }

            string rest = key.Substring(folderKey.Length);
            int slash = rest.IndexOf('/', StringComparison.Ordinal);
            children.Add(slash < 0 ? rest : rest.Substring(0, slash + 1));
        }

        if (children.Count == 0)
        {
            return ContentResult.NotFound;
        }

        return new ContentResult(ContentResultKind.Listing, string.Join("\n", children));
    }

    private static bool IsTagPath(string path) =>
        path.Equals("meta-data/tags", StringComparison.Ordinal) || path.StartsWith("meta-data/tags/", StringComparison.Ordinal);

    private string Render(Item item, DateTimeOffset now) => item.Kind switch
    {
        ItemKind.GeneratedCredentials => CredentialsJson(now),
        _ => item.Value,
    };

    private string CredentialsJson(DateTimeOffset now)
    {
        GeneratedCredential credential;
        lock (_credentialLock)
        {
            // Rotate like the real service: well before expiry.
            if (_credential is null || _credential.Expiration - now < TimeSpan.FromMinutes(15) || _credential.Issued > now)
            {
                _credential = GeneratedCredential.Create(now, CredentialLifetime);
            }

            credential = _credential;
        }

        var doc = new JsonObject
        {
            ["Code"] = "Success",
            ["LastUpdated"] = Iso(credential.Issued),
            ["Type"] = "AWS-HMAC",
            ["AccessKeyId"] = credential.AccessKeyId,
            ["SecretAccessKey"] = credential.SecretAccessKey,
            ["Token"] = credential.Token,
            ["Expiration"] = Iso(credential.Expiration),
        };
        return doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private enum ItemKind
    {
        Text,
        Json,
        GeneratedCredentials,
    }

    private sealed record Item(ItemKind Kind, string Value);

    private sealed record GeneratedCredential(DateTimeOffset Issued, DateTimeOffset Expiration, string AccessKeyId, string SecretAccessKey, string Token)
    {
        public static GeneratedCredential Create(DateTimeOffset now, TimeSpan lifetime)
        {
            const string upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
            var key = new StringBuilder("ASIA");
            foreach (byte b in RandomNumberGenerator.GetBytes(16))
            {
                key.Append(upper[b % upper.Length]);
            }

            string secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(30));
            string token = "IQoJb3JpZ2luX2VjE" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(300));
            var issued = new DateTimeOffset(now.UtcDateTime.Ticks - (now.UtcDateTime.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
            return new GeneratedCredential(issued, issued + lifetime, key.ToString(), secret, token);
        }
    }
}

internal enum ContentResultKind
{
    NotFound,
    Value,
    Listing,
}

internal readonly record struct ContentResult(ContentResultKind Kind, string Text)
{
    public static ContentResult NotFound => new(ContentResultKind.NotFound, string.Empty);
}
