using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ec2;

/// <summary>
/// The engine's reader and writer through the STAGED bridge (AWSSDK.EC2 in its own load context) against the fake EC2
/// endpoint: the number of calls, pagination, chunking, unknown IDs, pacing under a real token bucket, waiting.
/// </summary>
public sealed class MetadataOptionsApiTests : IDisposable
{
    private readonly FakeEc2 _fake = new();

    public void Dispose() => _fake.Dispose();

    private IEc2MetadataApi Connect(string region = "eu-west-1") => StagedBridge.Instance.ConnectEc2(new AwsConnectionOptions
    {
        Region = region,
        EndpointUrl = _fake.Url,
        SessionCredentials = StagedBridge.Credentials(),
    });

    private static async Task<List<MetadataOptionsPage>> All(IAsyncEnumerable<MetadataOptionsPage> pages)
    {
        var list = new List<MetadataOptionsPage>();
        await foreach (var page in pages)
        {
            list.Add(page);
        }

        return list;
    }

    [Fact]
    public async Task A_fleet_is_read_in_pages_of_1000_with_MaxResults_and_NextToken()
    {
        _fake.AddMany(2500);
        using var api = Connect();
        var reader = new MetadataOptionsReader(api);
        var pages = await All(reader.ReadAllAsync(Array.Empty<Ec2Filter>(), CancellationToken.None));

        Assert.Equal(new[] { 1000, 1000, 500 }, pages.Select(p => p.Items.Count));
        Assert.Equal(new[] { false, false, true }, pages.Select(p => p.IsLast));
        Assert.Equal(2500, pages.SelectMany(p => p.Items).Select(i => i.InstanceId).Distinct().Count());
        Assert.All(pages.SelectMany(p => p.Items), i => Assert.Equal("eu-west-1", i.Region));
        Assert.Equal(3, reader.Calls);
        var requests = _fake.Requests.Where(r => r.Action == "DescribeInstances").ToList();
        Assert.Equal(3, requests.Count);
        Assert.All(requests, r => Assert.Equal("1000", r.Parameters["MaxResults"]));
        Assert.False(requests[0].Parameters.ContainsKey("NextToken"));
        Assert.True(requests[1].Parameters.ContainsKey("NextToken"));
        Assert.All(requests, r => Assert.Equal("eu-west-1", r.SigningRegion));
    }

    [Fact]
    public async Task The_next_page_is_requested_while_the_caller_works_and_dropped_if_it_stops()
    {
        _fake.AddMany(3000);
        using var api = Connect();
        var reader = new MetadataOptionsReader(api);
        var callsWhileHoldingPage = new List<int>();
        await foreach (var page in reader.ReadAllAsync(Array.Empty<Ec2Filter>(), CancellationToken.None))
        {
            // While the caller still holds this page, the request for the next one is already out.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!page.IsLast && _fake.Calls("DescribeInstances") <= page.PageNumber && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            callsWhileHoldingPage.Add(_fake.Calls("DescribeInstances"));
        }

        Assert.Equal(new[] { 2, 3, 3 }, callsWhileHoldingPage);
        Assert.Equal(3, reader.Calls);

        _fake.ResetCounters();
        var early = new MetadataOptionsReader(api);
        await foreach (var page in early.ReadAllAsync(Array.Empty<Ec2Filter>(), CancellationToken.None))
        {
            break;
        }

        Assert.Equal(2, early.Calls); // the first page and the one already in flight, no more
    }

    [Fact]
    public async Task Filters_go_to_the_API_and_narrow_the_fleet()
    {
        _fake.AddMany(20, (i, inst) =>
        {
            inst.Tags["Env"] = i < 5 ? "prod" : "test";
            inst.HttpTokens = i < 2 ? "required" : "optional";
        });
        using var api = Connect();
        var filters = new[] { new Ec2Filter("tag:Env", "prod"), new Ec2Filter("metadata-options.http-tokens", "optional") };
        var items = (await All(new MetadataOptionsReader(api).ReadAllAsync(filters, CancellationToken.None))).SelectMany(p => p.Items).ToList();
        Assert.Equal(new[] { "fleet-3", "fleet-4", "fleet-5" }, items.Select(i => i.Name));
        var sent = _fake.Requests.Single().Parameters;
        Assert.Equal("tag:Env", sent["Filter.1.Name"]);
        Assert.Equal("prod", sent["Filter.1.Value.1"]);
        Assert.Equal("metadata-options.http-tokens", sent["Filter.2.Name"]);
    }

    [Fact]
    public async Task Instance_ids_go_1000_to_a_call_and_come_back_in_the_order_asked()
    {
        var fleet = _fake.AddMany(2100);
        var ids = fleet.Select(i => i.InstanceId).Reverse().ToList();
        using var api = Connect();
        var reader = new MetadataOptionsReader(api);
        var pages = await All(reader.ReadByIdsAsync(ids, Array.Empty<Ec2Filter>(), CancellationToken.None));

        Assert.Equal(ids, pages.SelectMany(p => p.Items).Select(i => i.InstanceId));
        Assert.Equal(3, reader.Calls);
        var counts = _fake.Requests.Select(r => r.Parameters.Keys.Count(k => k.StartsWith("InstanceId.", StringComparison.Ordinal))).ToList();
        Assert.Equal(new[] { 1000, 1000, 100 }, counts);
        Assert.All(_fake.Requests, r => Assert.False(r.Parameters.ContainsKey("MaxResults")));
    }

    [Fact]
    public async Task Unknown_ids_named_by_EC2_are_reported_and_the_rest_are_read_with_one_more_call()
    {
        _fake.AddMany(5);
        using var api = Connect();
        var reader = new MetadataOptionsReader(api);
        var ids = new[] { "i-00000000000000001", "i-0000000000000dead", "i-00000000000000003", "i-0000000000000beef" };
        var page = (await All(reader.ReadByIdsAsync(ids, Array.Empty<Ec2Filter>(), CancellationToken.None))).Single();

        Assert.Equal(new[] { "i-00000000000000001", "i-00000000000000003" }, page.Items.Select(i => i.InstanceId));
        Assert.Equal(new[] { "i-0000000000000dead", "i-0000000000000beef" }, page.NotFound);
        Assert.Equal(2, reader.Calls);
        Assert.Equal(new[] { 400, 200 }, _fake.Requests.Select(r => r.Status));
    }

    [Fact]
    public async Task When_EC2_does_not_name_the_unknown_ids_the_reader_asks_by_filter()
    {
        _fake.AddMany(5);
        _fake.VagueNotFoundMessages = true;
        using var api = Connect();
        var reader = new MetadataOptionsReader(api);
        var ids = new[] { "i-00000000000000002", "i-0000000000000dead" };
        var page = (await All(reader.ReadByIdsAsync(ids, Array.Empty<Ec2Filter>(), CancellationToken.None))).Single();

        Assert.Equal(new[] { "i-00000000000000002" }, page.Items.Select(i => i.InstanceId));
        Assert.Equal(new[] { "i-0000000000000dead" }, page.NotFound);
        var last = _fake.Requests.Last().Parameters;
        Assert.Equal("instance-id", last["Filter.1.Name"]);
        Assert.Equal("1000", last["MaxResults"]);
    }

    [Fact]
    public async Task Malformed_ids_are_refused_before_any_call()
    {
        using var api = Connect();
        var reader = new MetadataOptionsReader(api);
        await Assert.ThrowsAsync<ArgumentException>(() => All(reader.ReadByIdsAsync(new[] { "i-00000000000000001", "i-123" }, Array.Empty<Ec2Filter>(), CancellationToken.None)));
        Assert.Equal(0, _fake.TotalCalls);
    }

    [Fact]
    public async Task Throttling_is_retried_by_the_SDK_Standard_mode_then_reported_as_Throttled()
    {
        _fake.AddMany(3);
        using var api = Connect();
        _fake.ThrottleNext(2);
        var page = await api.DescribeInstancesAsync(new Ec2DescribeRequest(), CancellationToken.None);
        Assert.Equal(3, page.Instances.Count);
        Assert.Equal(3, _fake.Calls("DescribeInstances"));

        _fake.ResetCounters();
        _fake.ThrottleAll = true;
        var ex = await Assert.ThrowsAsync<AwsApiException>(() => api.DescribeInstancesAsync(new Ec2DescribeRequest(), CancellationToken.None));
        Assert.Equal(AwsErrorKind.Throttled, ex.Kind);
        Assert.Equal("RequestLimitExceeded", ex.ErrorCode);
        Assert.Equal(503, ex.StatusCode);
        Assert.Equal(3, _fake.Calls("DescribeInstances"));
    }

    [Fact]
    public async Task Service_errors_keep_their_code_and_kind()
    {
        _fake.AddMany(1);
        using var api = Connect();
        var malformed = await Assert.ThrowsAsync<AwsApiException>(() => api.DescribeInstancesAsync(new Ec2DescribeRequest { InstanceIds = new[] { "i-123" } }, CancellationToken.None));
        Assert.Equal((AwsErrorKind.MalformedId, "InvalidInstanceID.Malformed", 400), (malformed.Kind, malformed.ErrorCode, malformed.StatusCode));

        _fake.DeniedActions.Add("DescribeInstances");
        var denied = await Assert.ThrowsAsync<AwsApiException>(() => api.DescribeInstancesAsync(new Ec2DescribeRequest(), CancellationToken.None));
        Assert.Equal((AwsErrorKind.Unauthorized, "UnauthorizedOperation", 403), (denied.Kind, denied.ErrorCode, denied.StatusCode));
        Assert.Equal(2, _fake.Calls("DescribeInstances")); // one each: neither error is retried
    }

    [Fact]
    public async Task Writes_paced_by_the_token_bucket_never_trip_EC2_throttling()
    {
        // EC2's bucket scaled down (burst 10, 5/s) and the writer's scaled the same way as the shipped defaults (80, 4/s).
        var fleet = _fake.AddMany(30);
        _fake.SetRateLimit("ModifyInstanceMetadataOptions", 10, 5);
        using var api = Connect();
        var writer = new MetadataOptionsWriter(api, new TokenBucket(8, 4), maxConcurrency: 4);
        var change = new MetadataOptionsChange { HttpTokens = HttpTokensState.Required };
        var planned = fleet.Select(i => new PlannedMetadataChange(i.InstanceId, null, change.Compare(null))).ToList();

        var sw = Stopwatch.StartNew();
        var outcomes = new List<MetadataChangeOutcome>();
        await foreach (var o in writer.ApplyAsync(planned, change, CancellationToken.None))
        {
            outcomes.Add(o);
        }

        Assert.All(outcomes, o => Assert.True(o.Succeeded, o.Error?.Message));
        Assert.Equal(30, outcomes.Count);
        Assert.Equal(0, _fake.ThrottledCount);
        Assert.Equal(30, _fake.Calls("ModifyInstanceMetadataOptions"));
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(4.5), $"took {sw.Elapsed}: not paced"); // (30 - 8) / 4 = 5.5 s
        Assert.All(fleet, i => Assert.Equal("required", i.HttpTokens));
    }

    [Fact]
    public async Task Without_pacing_the_same_burst_trips_EC2_throttling()
    {
        // The control for the test above: the fake's bucket really throttles a burst that is not paced.
        var fleet = _fake.AddMany(30);
        _fake.SetRateLimit("ModifyInstanceMetadataOptions", 10, 5);
        using var api = Connect();
        var writer = new MetadataOptionsWriter(api, new TokenBucket(1000, 1000), maxConcurrency: 8);
        var change = new MetadataOptionsChange { HttpTokens = HttpTokensState.Required };
        await foreach (var unused in writer.ApplyAsync(fleet.Select(i => new PlannedMetadataChange(i.InstanceId, null, change.Compare(null))), change, CancellationToken.None))
        {
        }

        Assert.True(_fake.ThrottledCount > 0);
    }

    [Fact]
    public async Task One_instance_failing_does_not_stop_the_others()
    {
        var fleet = _fake.AddMany(4);
        _fake.DeniedInstances.Add(fleet[1].InstanceId);
        using var api = Connect();
        var writer = new MetadataOptionsWriter(api, new TokenBucket(100, 100));
        var change = new MetadataOptionsChange { HttpEndpoint = FeatureState.Disabled };
        var outcomes = new List<MetadataChangeOutcome>();
        await foreach (var o in writer.ApplyAsync(fleet.Select(i => new PlannedMetadataChange(i.InstanceId, null, change.Compare(null))).ToList(), change, CancellationToken.None))
        {
            outcomes.Add(o);
        }

        var failed = Assert.Single(outcomes, o => !o.Succeeded);
        Assert.Equal(fleet[1].InstanceId, failed.InstanceId);
        Assert.Equal(AwsErrorKind.Unauthorized, failed.Error!.Kind);
        Assert.Equal(3, outcomes.Count(o => o.Succeeded && o.Result!.HttpEndpoint == FeatureState.Disabled && o.Result.State == MetadataOptionsState.Pending));
    }

    [Fact]
    public async Task Waiting_polls_until_applied_or_reports_what_is_still_pending_at_the_deadline()
    {
        var fleet = _fake.AddMany(2);
        _fake.ApplyDelay = TimeSpan.FromMilliseconds(1200);
        using var api = Connect();
        var writer = new MetadataOptionsWriter(api, new TokenBucket(100, 100)) { FirstPoll = TimeSpan.FromMilliseconds(300) };
        var change = new MetadataOptionsChange { HttpPutResponseHopLimit = 2 };
        var changed = new List<MetadataChangeOutcome>();
        await foreach (var o in writer.ApplyAsync(fleet.Select(i => new PlannedMetadataChange(i.InstanceId, null, change.Compare(null))).ToList(), change, CancellationToken.None))
        {
            changed.Add(o);
        }

        Assert.All(changed, o => Assert.Equal(MetadataOptionsState.Pending, o.Result!.State));
        var applied = new List<MetadataChangeOutcome>();
        await foreach (var o in writer.WaitUntilAppliedAsync(changed, TimeSpan.FromSeconds(20), CancellationToken.None))
        {
            applied.Add(o);
        }

        Assert.All(applied, o => Assert.True(o.Succeeded && o.Result!.State == MetadataOptionsState.Applied && o.Result.HttpPutResponseHopLimit == 2));
        Assert.Equal(2, applied.Count);

        _fake.ApplyDelay = TimeSpan.FromMinutes(5);
        changed.Clear();
        await foreach (var o in writer.ApplyAsync(new[] { new PlannedMetadataChange(fleet[0].InstanceId, null, change.Compare(null)) }, new MetadataOptionsChange { HttpPutResponseHopLimit = 3 }, CancellationToken.None))
        {
            changed.Add(o);
        }

        var sw = Stopwatch.StartNew();
        var late = new List<MetadataChangeOutcome>();
        await foreach (var o in writer.WaitUntilAppliedAsync(changed, TimeSpan.FromSeconds(1.5), CancellationToken.None))
        {
            late.Add(o);
        }

        var pending = Assert.Single(late);
        Assert.Equal("NotApplied", pending.Error!.ErrorCode);
        Assert.Contains("still pending", pending.Error.Message, StringComparison.Ordinal);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), sw.Elapsed.ToString());
    }

    [Fact]
    public async Task Writes_to_one_Region_and_endpoint_share_one_pacer_in_the_process()
    {
        using var a = Connect();
        using var b = Connect();
        using var other = Connect("us-west-2");
        Assert.Same(MetadataOptionsWriter.PacerFor(a.Connection), MetadataOptionsWriter.PacerFor(b.Connection));
        Assert.NotSame(MetadataOptionsWriter.PacerFor(a.Connection), MetadataOptionsWriter.PacerFor(other.Connection));
        Assert.Equal(Ec2Limits.PacedModifyBurst, MetadataOptionsWriter.PacerFor(a.Connection).Capacity);
        await Task.CompletedTask;
    }
}
