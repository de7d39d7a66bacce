using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Engine.Client;

/// <summary>Kinds of metadata content, decided by path.</summary>
public static class ImdsPaths
{
    /// <summary>
    /// Paths that hold credentials: the role's (iam/security-credentials/ROLE) and the instance identity's
    /// (identity-credentials/ec2/security-credentials/ec2-instance). Their secrets are never shown unless asked.
    /// </summary>
    public static bool IsCredentialPath(string path, out string roleName)
    {
        roleName = string.Empty;
        string? rest = null;
        foreach (string marker in new[] { "/meta-data/iam/security-credentials/", "/meta-data/identity-credentials/ec2/security-credentials/" })
        {
            int i = path.IndexOf(marker, StringComparison.Ordinal);
            if (i >= 0)
            {
                rest = path.Substring(i + marker.Length).TrimEnd('/');
                break;
            }
        }

        if (rest is null)
        {
            return false;
        }

        if (rest.Length == 0 || rest.Contains('/', StringComparison.Ordinal))
        {
            return false;
        }

        roleName = rest;
        return true;
    }

    public static bool IsIdentityDocument(string path) => path.TrimEnd('/').EndsWith("/dynamic/instance-identity/document", StringComparison.Ordinal);

    public static bool IsJsonPath(string path)
    {
        string p = path.TrimEnd('/');
        return p.EndsWith("/iam/info", StringComparison.Ordinal) || p.EndsWith("/identity-credentials/ec2/info", StringComparison.Ordinal)
            || p.EndsWith("/events/maintenance/scheduled", StringComparison.Ordinal) || p.EndsWith("/events/maintenance/history", StringComparison.Ordinal)
            || p.EndsWith("/events/recommendations/rebalance", StringComparison.Ordinal) || p.EndsWith("/spot/instance-action", StringComparison.Ordinal);
    }

    /// <summary>Children named by a listing: "name/" are folders; "0=key-name" (public-keys) is folder "0/".</summary>
    public static IEnumerable<(string Name, bool IsFolder)> ParseListing(string folderPath, string listing)
    {
        bool versionRoot = folderPath.Count(c => c == '/') == 2;
        foreach (string raw in listing.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line.EndsWith('/'))
            {
                yield return (line.TrimEnd('/'), true);
            }
            else if (folderPath.EndsWith("/public-keys/", StringComparison.Ordinal) && line.Contains('=', StringComparison.Ordinal))
            {
                yield return (line.Substring(0, line.IndexOf('=', StringComparison.Ordinal)), true);
            }
            else if (versionRoot && line is "meta-data" or "dynamic")
            {
                yield return (line, true);
            }
            else
            {
                yield return (line, false);
            }
        }
    }
}

/// <summary>Walks a metadata folder and everything below it, in parallel within the client's pace.</summary>
public static class ImdsCrawler
{
    /// <summary>
    /// Returns the leaves (path, body) in path order, and the reads that failed below the root (the walk goes on
    /// past them). A failure to read the root folder itself is thrown.
    /// </summary>
    public static async Task<(IReadOnlyList<(string Path, string Body)> Items, IReadOnlyList<ImdsException> Failures)> CrawlAsync(
        ImdsClient client, string folder, int maxItems, int parallelism, Action<int>? progress, CancellationToken cancellationToken, Action<string>? trace = null)
    {
        string root = ImdsClient.NormalizePath(folder);
        if (!root.EndsWith('/'))
        {
            root += "/";
        }

        var leaves = new ConcurrentBag<(string Path, string Body)>();
        var failures = new ConcurrentBag<ImdsException>();
        var pending = new List<string> { root };
        int visited = 0;
        using var gate = new SemaphoreSlim(Math.Max(1, parallelism));
        while (pending.Count > 0)
        {
            var next = new ConcurrentBag<string>();
            var tasks = pending.Select(async path =>
            {
                await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    if (Interlocked.Increment(ref visited) > maxItems)
                    {
                        throw new InvalidOperationException($"The walk under {root} passed {maxItems} items; narrow the path or raise the limit.");
                    }

                    string body;
                    try
                    {
                        body = await client.GetStringAsync(path, cancellationToken, trace).ConfigureAwait(false);
                    }
                    catch (ImdsException ex) when (path != root)
                    {
                        failures.Add(ex);
                        return;
                    }

                    if (!path.EndsWith('/'))
                    {
                        leaves.Add((path, body));
                        return;
                    }

                    foreach (var (name, isFolder) in ImdsPaths.ParseListing(path, body))
                    {
                        next.Add(path + name + (isFolder ? "/" : string.Empty));
                    }
                }
                finally
                {
                    gate.Release();
                }
            }).ToList();
            await Task.WhenAll(tasks).ConfigureAwait(false);
            progress?.Invoke(Math.Min(visited, maxItems));
            pending = next.Distinct(StringComparer.Ordinal).OrderBy(p => p, StringComparer.Ordinal).ToList();
        }

        return (leaves.OrderBy(l => l.Path, StringComparer.Ordinal).ToList(), failures.OrderBy(f => f.Path, StringComparer.Ordinal).ToList());
    }
}
