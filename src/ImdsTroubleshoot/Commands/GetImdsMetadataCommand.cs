using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text.Json;
using ImdsTroubleshoot.Engine.Client;

namespace ImdsTroubleshoot.Commands;

/// <summary>Reads instance metadata over IMDSv2 with a cached token, paced, with retries and back-off.</summary>
[Cmdlet(VerbsCommon.Get, "ImdsMetadata", DefaultParameterSetName = ByPath)]
[OutputType(typeof(string), typeof(ImdsIdentityDocument), typeof(ImdsRoleCredential), typeof(PSObject), ParameterSetName = new[] { ByPath, ByCategory })]
[OutputType(typeof(ImdsMetadataItem), ParameterSetName = new[] { ByPath })]
public sealed class GetImdsMetadataCommand : ImdsCmdlet
{
    public const string ByPath = "ByPath";
    public const string ByCategory = "ByCategory";

    private ImdsClient? _client;

    [Parameter(Position = 0, ParameterSetName = ByPath, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = { "/latest/meta-data/" };

    [Parameter(Mandatory = true, ParameterSetName = ByCategory)]
    public ImdsMetadataCategory[]? Category { get; set; }

    [Parameter(ParameterSetName = ByPath)]
    public SwitchParameter Recurse { get; set; }

    [Parameter]
    [ValidateNotNull]
    public Uri? Endpoint { get; set; }

    [Parameter]
    public SwitchParameter AllowV1 { get; set; }

    [Parameter]
    [ValidateRange(0.05, 120.0)]
    public double TimeoutSec { get; set; } = 1.0;

    [Parameter]
    [ValidateRange(0.1, 600.0)]
    public double TotalTimeoutSec { get; set; } = 10.0;

    [Parameter]
    [ValidateRange(0.0, 100_000.0)]
    public double MaxRequestsPerSecond { get; set; } = 100;

    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public int MaxItems { get; set; } = 5000;

    [Parameter]
    public SwitchParameter Raw { get; set; }

    protected override void BeginProcessing()
    {
        if (Endpoint is null && ImdsEndpointResolver.IsDisabledByEnvironment())
        {
            ThrowTerminatingError(new ImdsException(ImdsFailure.DisabledByEnvironment, "AWS_EC2_METADATA_DISABLED=true: IMDS reads are turned off in this environment.", string.Empty), ErrorIds.ImdsDisabledByEnvironment, ErrorCategory.NotEnabled, null,
                "Unset AWS_EC2_METADATA_DISABLED, or pass -Endpoint explicitly.");
        }

        ImdsEndpointChoice choice = ResolveEndpoint(Endpoint);

        bool allowV1 = AllowV1.IsPresent;
        if (allowV1 && ImdsEndpointResolver.IsV1DisabledByEnvironment())
        {
            WriteWarning("AWS_EC2_METADATA_V1_DISABLED=true overrides -AllowV1: only IMDSv2 is used.");
            allowV1 = false;
        }

        _client = ImdsClientCache.Get(new ImdsClientOptions
        {
            Endpoint = choice.Endpoint,
            AllowV1 = allowV1,
            AttemptTimeout = TimeSpan.FromSeconds(TimeoutSec),
            TotalTimeout = TimeSpan.FromSeconds(TotalTimeoutSec),
            MaxRequestsPerSecond = MaxRequestsPerSecond,
        });
        WriteVerbose($"Endpoint {choice}; IMDSv1 fallback {(allowV1 ? "allowed" : "off")}; pace {MaxRequestsPerSecond} requests/s; no proxy.");
    }

    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
            {
                case ByCategory:
                    foreach (var category in Category!)
                    {
                        ReadCategory(category);
                    }

                    break;
                default:
                    foreach (string path in Path)
                    {
                        if (Recurse.IsPresent)
                        {
                            Walk(path);
                        }
                        else
                        {
                            ReadPath(path);
                        }
                    }

                    break;
            }
    }

    private string? Normalize(string path)
    {
        try
        {
            return ImdsClient.NormalizePath(path);
        }
        catch (ArgumentException ex)
        {
            WriteError(ex, ErrorIds.ImdsInvalidPath, ErrorCategory.InvalidArgument, path);
            return null;
        }
    }

    private string? Read(string path)
    {
        try
        {
            return RunAsync(ct => _client!.GetStringAsync(path, ct, PostVerbose));
        }
        catch (ImdsException ex)
        {
            WriteError(ImdsErrors.From(ex, path));
            return null;
        }
    }

    private void ReadPath(string raw)
    {
        string? path = Normalize(raw);
        if (path is null)
        {
            return;
        }

        string? body = Read(path);
        if (body is null)
        {
            return;
        }

        if (Raw.IsPresent)
        {
            WriteObject(body);
        }
        else if (path.EndsWith('/'))
        {
            WriteObject(body.Split('\n', StringSplitOptions.RemoveEmptyEntries), enumerateCollection: true);
        }
        else
        {
            WriteObject(Convert(path, body));
        }
    }

    private void ReadCategory(ImdsMetadataCategory category)
    {
        string path = ImdsCategories.PathOf(category)!;
        switch (category)
        {
            case ImdsMetadataCategory.RoleName:
            case ImdsMetadataCategory.Credentials:
                string? roles = Read(path);
                string? role = roles?.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim();
                if (roles is not null && role is null)
                {
                    WriteError(new ImdsException(ImdsFailure.NotFound, "The instance has no IAM role (instance profile) attached.", path), ErrorIds.ImdsPathNotFound, ErrorCategory.ObjectNotFound, category);
                    return;
                }

                if (role is null)
                {
                    return;
                }

                if (category == ImdsMetadataCategory.RoleName)
                {
                    WriteObject(role);
                }
                else
                {
                    ReadPath(path + role);
                }

                return;
            case ImdsMetadataCategory.AccountId:
                string? document = Read(path);
                if (document is not null && Convert(path, document) is ImdsIdentityDocument identity)
                {
                    WriteObject(identity.AccountId);
                }

                return;
            case ImdsMetadataCategory.Tags:
                string? names = Read(path);
                if (names is null)
                {
                    return;
                }

                var tags = new PSObject();
                foreach (string name in names.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    string? value = Read(path + name.Trim());
                    tags.Properties.Add(new PSNoteProperty(name.Trim(), value));
                }

                WriteObject(tags);
                return;
            default:
                ReadPath(path);
                return;
        }
    }

    private void Walk(string raw)
    {
        string? root = Normalize(raw);
        if (root is null)
        {
            return;
        }

        var progress = new ProgressRecord(1, "Reading instance metadata", "under " + root);
        (IReadOnlyList<(string Path, string Body)> Items, IReadOnlyList<ImdsException> Failures) result;
        try
        {
            result = RunAsync(ct => ImdsCrawler.CrawlAsync(_client!, root, MaxItems, parallelism: 8,
                n => Post(() => { progress.StatusDescription = $"{n} items under {root}"; WriteProgress(progress); }), ct, PostVerbose));
        }
        catch (ImdsException ex)
        {
            WriteError(ImdsErrors.From(ex, root));
            return;
        }
        catch (InvalidOperationException ex)
        {
            WriteError(ex, ErrorIds.ImdsWalkTooLarge, ErrorCategory.LimitsExceeded, root, "Walk a smaller folder, or raise -MaxItems.");
            return;
        }
        finally
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }

        foreach (var failure in result.Failures)
        {
            WriteError(ImdsErrors.From(failure, failure.Path));
        }

        foreach (var (path, body) in result.Items)
        {
            object? value = Raw.IsPresent ? body : Convert(path, body);
            if (value is null)
            {
                continue;
            }

            string kind = value switch
            {
                ImdsRoleCredential => "Credential",
                ImdsIdentityDocument => "IdentityDocument",
                PSObject => "Json",
                _ => "Text",
            };
            WriteObject(new ImdsMetadataItem(path, value, kind));
        }
    }

    /// <summary>Typed objects for the documents people script against; JSON as objects; the rest as text.</summary>
    private object? Convert(string path, string body)
    {
        try
        {
            if (ImdsPaths.IsCredentialPath(path, out string role))
            {
                return ImdsRoleCredential.Parse(role, body);
            }

            if (ImdsPaths.IsIdentityDocument(path))
            {
                return ImdsIdentityDocument.Parse(body);
            }

            if (ImdsPaths.IsJsonPath(path))
            {
                using var doc = JsonDocument.Parse(body);
                return ToPSObject(doc.RootElement);
            }
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            WriteError(new InvalidDataException($"{path} did not hold the JSON document expected there: {ex.Message}", ex), ErrorIds.ImdsInvalidDocument, ErrorCategory.InvalidData, path);
            return null;
        }

        return body;
    }

    private static object? ToPSObject(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => ObjectOf(e),
        JsonValueKind.Array => e.EnumerateArray().Select(ToPSObject).ToArray(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out long l) ? l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    private static PSObject ObjectOf(JsonElement e)
    {
        var o = new PSObject();
        foreach (var p in e.EnumerateObject())
        {
            if (o.Properties[p.Name] is null)
            {
                o.Properties.Add(new PSNoteProperty(p.Name, ToPSObject(p.Value)));
            }
        }

        return o;
    }
}
