using System;
using System.Collections.Generic;
using System.Text.Json;

namespace ImdsTroubleshoot.Engine.Proxy.Parsing;

/// <summary>
/// Docker's JSON proxy settings: daemon.json <c>"proxies": {"http-proxy", "https-proxy", "no-proxy"}</c> (Engine 23+)
/// and the client's config.json <c>"proxies": {"default": {"httpProxy", "httpsProxy", "noProxy", "allProxy"}}</c>.
/// Offsets are kept so a value can be extended in place.
/// </summary>
internal static class DockerJsonParser
{
    public static readonly string[] DaemonKeys = { "http-proxy", "https-proxy", "no-proxy" };
    public static readonly string[] ClientKeys = { "httpProxy", "httpsProxy", "noProxy", "allProxy", "ftpProxy" };

    /// <summary>The environment variables a JSON key stands for (dockerd and the docker CLI set both cases).</summary>
    public static string[] EnvironmentNames(string key) => key switch
    {
        "http-proxy" or "httpProxy" => new[] { "HTTP_PROXY", "http_proxy" },
        "https-proxy" or "httpsProxy" => new[] { "HTTPS_PROXY", "https_proxy" },
        "no-proxy" or "noProxy" => new[] { "NO_PROXY", "no_proxy" },
        "allProxy" => new[] { "ALL_PROXY", "all_proxy" },
        "ftpProxy" => new[] { "FTP_PROXY", "ftp_proxy" },
        _ => Array.Empty<string>(),
    };

    /// <summary>Parses the file; <paramref name="objectEnd"/> is the offset of the closing brace of the proxies object (-1 if none).</summary>
    public static ParsedFile Parse(string path, string text, bool client, out int objectEnd)
    {
        objectEnd = -1;
        var statements = new List<EnvStatement>();
        byte[] bytes = ParsedFile.Encode(text);
        var lines = new LineMap(text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var path2 = new List<string>();
        string? pendingName = null;
        int pendingNameStart = 0;
        int depth = 0;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        depth++;
                        path2.Add(pendingName ?? string.Empty);
                        pendingName = null;
                        break;
                    case JsonTokenType.EndObject:
                        if (IsProxyObject(path2, client))
                        {
                            objectEnd = (int)reader.TokenStartIndex;
                        }

                        depth--;
                        path2.RemoveAt(path2.Count - 1);
                        break;
                    case JsonTokenType.StartArray:
                        path2.Add(pendingName ?? string.Empty);
                        pendingName = null;
                        break;
                    case JsonTokenType.EndArray:
                        path2.RemoveAt(path2.Count - 1);
                        break;
                    case JsonTokenType.PropertyName:
                        pendingName = reader.GetString();
                        pendingNameStart = (int)reader.TokenStartIndex;
                        break;
                    case JsonTokenType.String:
                        if (pendingName is not null && IsProxyObject(path2, client)
                            && Array.IndexOf(client ? ClientKeys : DaemonKeys, pendingName) >= 0)
                        {
                            int start = (int)reader.TokenStartIndex;
                            int close = start + (int)reader.ValueSpan.Length + 1;
                            int lineNo = lines.LineOf(pendingNameStart);
                            int lineStart = lines.LineStart(lineNo);
                            var (lineEnd, newline) = LineMap.LineEndAfter(text, close);
                            statements.Add(new EnvStatement
                            {
                                Kind = StatementKind.Set,
                                Name = pendingName,
                                Value = EnvStatement.Literal(reader.GetString() ?? string.Empty),
                                Exports = true,
                                Line = lineNo,
                                ValueStart = start + 1,
                                ValueEnd = close,
                                InsertAt = close,
                                Quote = '"',
                                LinePrefix = text.Substring(lineStart, pendingNameStart - lineStart),
                                LineEnd = lineEnd,
                                Newline = newline,
                            });
                        }

                        pendingName = null;
                        break;
                    default:
                        pendingName = null;
                        break;
                }
            }
        }
        catch (JsonException ex)
        {
            throw new System.IO.InvalidDataException($"{path} is not valid JSON: {ex.Message}", ex);
        }

        return new ParsedFile(path, client ? ProxyFileFormat.DockerClientJson : ProxyFileFormat.DockerDaemonJson, text, statements);
    }

    private static bool IsProxyObject(List<string> path, bool client) =>
        client ? path.Count == 3 && path[1] == "proxies" && path[2] == "default" : path.Count == 2 && path[1] == "proxies";
}
