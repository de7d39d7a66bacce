using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>One batch of results, as it arrives: what was read and which requested instances do not exist.</summary>
public sealed class MetadataOptionsPage
{
    public MetadataOptionsPage(IReadOnlyList<ImdsMetadataOption> items, IReadOnlyList<string> notFound, int pageNumber, bool isLast)
    {
        Items = items;
        NotFound = notFound;
        PageNumber = pageNumber;
        IsLast = isLast;
    }

    public IReadOnlyList<ImdsMetadataOption> Items { get; }

    /// <summary>Requested instance IDs that EC2 does not know (or that belong to another account).</summary>
    public IReadOnlyList<string> NotFound { get; }

    public int PageNumber { get; }

    public bool IsLast { get; }
}

/// <summary>
/// Reads instance metadata options with as few DescribeInstances calls as the API allows: a fleet in pages of
/// 1000 (MaxResults), instance IDs 1000 to a call. Results stream page by page. An unknown ID does not sink its
/// chunk: the IDs EC2 names in InvalidInstanceID.NotFound are reported and the rest are read again.
/// </summary>
public sealed class MetadataOptionsReader
{
    private readonly IEc2MetadataApi _api;
    private readonly int _pageSize;
    private readonly int _idChunkSize;
    private int _calls;

    public MetadataOptionsReader(IEc2MetadataApi api, int pageSize = Ec2Limits.MaxPageSize, int idChunkSize = Ec2Limits.MaxInstanceIdsPerCall)
    {
        ArgumentNullException.ThrowIfNull(api);
        if (pageSize is < Ec2Limits.MinPageSize or > Ec2Limits.MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "DescribeInstances pages hold 5 to 1000 instances.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(idChunkSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(idChunkSize, Ec2Limits.MaxInstanceIdsPerCall);
        _api = api;
        _pageSize = pageSize;
        _idChunkSize = idChunkSize;
    }

    /// <summary>DescribeInstances calls made so far (not counting the SDK's retries).</summary>
    public int Calls => Volatile.Read(ref _calls);

    private string Region => _api.Connection.Region;

    /// <summary>
    /// Every instance in the Region that matches <paramref name="filters"/> (all when empty), a page at a time. The
    /// next page is requested as soon as this one's NextToken is known, so that it travels while the caller works
    /// through this page; the calls are the same as without that (one per page).
    /// </summary>
    public async IAsyncEnumerable<MetadataOptionsPage> ReadAllAsync(IReadOnlyList<Ec2Filter> filters, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filters);
        Ec2Filter.CheckSet(filters);
        using var prefetch = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<Ec2InstancePage>? pending = DescribeAsync(new Ec2DescribeRequest { Filters = filters, MaxResults = _pageSize }, prefetch.Token);
        string? token = null;
        int page = 0;
        try
        {
            while (pending is not null)
            {
                var result = await pending.ConfigureAwait(false);
                pending = null;
                page++;
                if (result.NextToken is not null && result.NextToken == token)
                {
                    throw new AwsApiException(AwsErrorKind.Service, "DescribeInstances returned the same NextToken twice; stopping to avoid a loop.", operation: "DescribeInstances");
                }

                token = result.NextToken;
                if (token is not null)
                {
                    pending = DescribeAsync(new Ec2DescribeRequest { Filters = filters, MaxResults = _pageSize, NextToken = token }, prefetch.Token);
                }

                yield return new MetadataOptionsPage(result.Instances.Select(i => ImdsMetadataOption.From(i, Region)).ToList(), Array.Empty<string>(), page, token is null);
            }
        }
        finally
        {
            if (pending is not null)
            {
                // The caller stopped early: drop the page in flight.
                await prefetch.CancelAsync().ConfigureAwait(false);
                try
                {
                    await pending.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Nobody wants this page any more, nor its error.
                }
            }
        }
    }

    /// <summary>
    /// The given instances (well-formed IDs, each once), <see cref="Ec2Limits.MaxInstanceIdsPerCall"/> to a call,
    /// narrowed by <paramref name="filters"/>. Results come in the order of <paramref name="instanceIds"/>.
    /// An instance missing from the answer is reported in NotFound unless filters were given (then it simply
    /// did not match).
    /// </summary>
    public async IAsyncEnumerable<MetadataOptionsPage> ReadByIdsAsync(IEnumerable<string> instanceIds, IReadOnlyList<Ec2Filter> filters, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instanceIds);
        ArgumentNullException.ThrowIfNull(filters);
        Ec2Filter.CheckSet(filters);
        var ids = Chunking.Distinct(instanceIds);
        var malformed = ids.FirstOrDefault(id => !Ec2InstanceId.IsValid(id));
        if (malformed is not null)
        {
            throw new ArgumentException(Ec2InstanceId.Problem(malformed), nameof(instanceIds));
        }

        int page = 0;
        var chunks = Chunking.Chunk(ids, _idChunkSize).ToList();
        foreach (var chunk in chunks)
        {
            page++;
            var (items, notFound) = await ReadChunkAsync(chunk, filters, cancellationToken).ConfigureAwait(false);
            yield return new MetadataOptionsPage(items, notFound, page, page == chunks.Count);
        }
    }

    private async Task<(List<ImdsMetadataOption> Items, List<string> NotFound)> ReadChunkAsync(IReadOnlyList<string> chunk, IReadOnlyList<Ec2Filter> filters, CancellationToken cancellationToken)
    {
        var remaining = new List<string>(chunk);
        var notFound = new List<string>();
        var found = new List<Ec2InstanceRecord>();
        for (int attempt = 0; remaining.Count > 0; attempt++)
        {
            try
            {
                found.AddRange(await DescribeAllPagesAsync(new Ec2DescribeRequest { InstanceIds = remaining.ToArray(), Filters = filters }, cancellationToken).ConfigureAwait(false));
                break;
            }
            catch (AwsApiException ex) when (ex.Kind == AwsErrorKind.NotFound)
            {
                var named = Ec2InstanceId.FindIn(ex.Message).Where(remaining.Contains).ToList();
                if (named.Count == 0 || attempt >= 2)
                {
                    // The message did not say which IDs (or kept naming new ones): ask by filter, which never fails on unknown IDs.
                    found.AddRange(await ReadByIdFilterAsync(remaining, filters, cancellationToken).ConfigureAwait(false));
                    break;
                }

                notFound.AddRange(named);
                remaining.RemoveAll(named.Contains);
            }
        }

        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < chunk.Count; i++)
        {
            index[chunk[i]] = i;
        }

        var items = found
            .Where(r => index.ContainsKey(r.InstanceId))
            .GroupBy(r => r.InstanceId, StringComparer.Ordinal).Select(g => g.First())
            .OrderBy(r => index[r.InstanceId])
            .Select(r => ImdsMetadataOption.From(r, Region))
            .ToList();
        if (filters.Count == 0)
        {
            var seen = new HashSet<string>(items.Select(i => i.InstanceId), StringComparer.Ordinal);
            notFound.AddRange(chunk.Where(id => !seen.Contains(id) && !notFound.Contains(id)));
        }

        notFound.Sort((a, b) => index[a].CompareTo(index[b]));
        return (items, notFound);
    }

    private async Task<List<Ec2InstanceRecord>> ReadByIdFilterAsync(IReadOnlyList<string> ids, IReadOnlyList<Ec2Filter> filters, CancellationToken cancellationToken)
    {
        var result = new List<Ec2InstanceRecord>();
        bool userFiltersIds = filters.Any(f => f.Name == "instance-id");
        foreach (var chunk in Chunking.Chunk(ids, Ec2Limits.MaxFilterValues))
        {
            var all = userFiltersIds ? filters : filters.Append(new Ec2Filter("instance-id", chunk)).ToArray();
            Ec2Filter.CheckSet(all);
            result.AddRange(await DescribeAllPagesAsync(new Ec2DescribeRequest { Filters = all, MaxResults = _pageSize }, cancellationToken).ConfigureAwait(false));
        }

        return result;
    }

    private async Task<List<Ec2InstanceRecord>> DescribeAllPagesAsync(Ec2DescribeRequest request, CancellationToken cancellationToken)
    {
        var result = new List<Ec2InstanceRecord>();
        string? token = null;
        do
        {
            var page = await DescribeAsync(new Ec2DescribeRequest { InstanceIds = request.InstanceIds, Filters = request.Filters, MaxResults = request.MaxResults, NextToken = token }, cancellationToken).ConfigureAwait(false);
            result.AddRange(page.Instances);
            if (page.NextToken is not null && page.NextToken == token)
            {
                throw new AwsApiException(AwsErrorKind.Service, "DescribeInstances returned the same NextToken twice; stopping to avoid a loop.", operation: "DescribeInstances");
            }

            token = page.NextToken;
        }
        while (token is not null);
        return result;
    }

    private Task<Ec2InstancePage> DescribeAsync(Ec2DescribeRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return _api.DescribeInstancesAsync(request, cancellationToken);
    }
}
