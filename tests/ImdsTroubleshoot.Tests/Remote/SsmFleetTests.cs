using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Remote;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>
/// The SSM fleet diagnosis through the STAGED bridge (AWSSDK.SimpleSystemsManagement in its own load context) against
/// the local SSM endpoint: batches, throttling, per-instance failures, bounds, streaming. The transport treats the
/// script as opaque, so these tests send a stand-in script and read the output with a stand-in parser that records
/// what it was given; the lab tests (SsmLabTests) run the real collector.
/// </summary>
public sealed class SsmFleetTests : IDisposable
{
    private const string Script = "echo collector stand-in\nexit 0\n";
    private readonly FakeSsm _ssm = new();
    private readonly FakeEc2 _ec2 = new();
    private readonly ConcurrentDictionary<string, string> _parsed = new(StringComparer.Ordinal);

    public void Dispose()
    {
        _ssm.Dispose();
        _ec2.Dispose();
    }

    private static string Id(int n) => $"i-{n:x17}";

    private static AwsConnectionOptions Connection(Uri endpoint) => new()
    {
        Region = "eu-west-1",
        EndpointUrl = endpoint,
        SessionCredentials = StagedBridge.Credentials(),
        RequestTimeout = TimeSpan.FromSeconds(10),
    };

    private DiagnosisInput Parse(string output, string target)
    {
        _parsed[target] = output;
        return new DiagnosisInput { Target = target, CollectionNotes = new[] { "stand-in parser: " + output.Length + " characters" } };
    }

    private SsmDiagnosisOptions Options(Func<SsmDiagnosisOptions, SsmDiagnosisOptions>? change = null)
    {
        var o = new SsmDiagnosisOptions
        {
            Script = Script,
            Parser = Parse,
            PollInitial = TimeSpan.FromMilliseconds(200),
            PollMax = TimeSpan.FromSeconds(1),
            ThrottleInitialWait = TimeSpan.FromMilliseconds(100),
            ThrottleMaxWait = TimeSpan.FromSeconds(1),
            CommandTimeoutSeconds = 60,
        };
        return change is null ? o : change(o);
    }

    private async Task<(List<SsmInstanceResult> Results, List<string> Log, SsmFleetDiagnosis Fleet, TimeSpan Elapsed)> RunAsync(IEnumerable<string> ids, SsmDiagnosisOptions options, bool withEc2 = true, CancellationToken ct = default)
    {
        using var ssm = StagedBridge.Instance.ConnectSsm(Connection(_ssm.Url));
        using var ec2 = withEc2 ? StagedBridge.Instance.ConnectEc2(Connection(_ec2.Url)) : null;
        var fleet = new SsmFleetDiagnosis(ssm, ec2, options);
        var results = new List<SsmInstanceResult>();
        var log = new List<string>();
        var sw = Stopwatch.StartNew();
        await fleet.RunAsync(ids, r => results.Add(r), m => { lock (log) { log.Add(m); } }, ct);
        return (results, log, fleet, sw.Elapsed);
    }

    [Fact]
    public async Task Five_hundred_instances_go_in_ten_commands_of_50_each_reported_once_through_throttling()
    {
        var ids = Enumerable.Range(1, 500).Select(Id).ToList();
        _ec2.AddMany(500, (i, inst) => inst.HttpPutResponseHopLimit = i % 2 == 0 ? 1 : 2);
        for (int i = 0; i < ids.Count; i++)
        {
            _ssm.AddRecorded(ids[i], "output of " + ids[i], TimeSpan.FromMilliseconds(i % 7 * 150));
        }

        _ssm.ThrottleEvery("ListCommandInvocations", 3);
        _ssm.ThrottleEvery("GetCommandInvocation", 3);
        _ssm.ThrottleNext("SendCommand", 1);

        var (results, log, fleet, elapsed) = await RunAsync(ids, Options());

        Assert.Equal(10, _ssm.Count("SendCommand") - 1); // one throttled, then 10 accepted
        var sends = _ssm.Calls.Where(c => c.Operation == "SendCommand" && c.Status == 200).ToList();
        Assert.Equal(10, sends.Count);
        Assert.All(sends, s => Assert.InRange(s.InstanceIds.Count, 1, 50));
        Assert.Equal(ids.OrderBy(x => x), sends.SelectMany(s => s.InstanceIds).OrderBy(x => x));
        Assert.Equal(500, results.Count);
        Assert.Equal(ids.OrderBy(x => x), results.Select(r => r.InstanceId).OrderBy(x => x));
        Assert.All(results, r => Assert.True(r.Outcome == SsmInstanceOutcome.Diagnosed, r.ToString()));
        Assert.All(results, r => Assert.Equal("output of " + r.InstanceId, _parsed[r.InstanceId]));
        Assert.All(results, r => Assert.All(r.Findings, f => Assert.Equal(r.InstanceId, f.Target)));

        // The metadata options came from one DescribeInstances for the fleet and were merged per instance.
        Assert.Equal(1, _ec2.Calls("DescribeInstances"));
        Assert.All(results, r => Assert.Equal(r.InstanceId, r.Input!.MetadataOptions!.InstanceId));
        var hop1 = results.Single(r => r.InstanceId == Id(1));
        Assert.Equal(1, hop1.Input!.MetadataOptions!.HttpPutResponseHopLimit);
        Assert.Equal("Warn", hop1.Findings.Single(f => f.Check == DiagnosisCheck.MetadataOptions).Status.ToString());

        // Throttling happened and was survived, and the run said how it waited.
        Assert.True(_ssm.ThrottledCount >= 10, _ssm.ThrottledCount.ToString());
        Assert.Contains(log, l => l.Contains("SendCommand batch 1/10: 50 instance(s), command ", StringComparison.Ordinal));
        Assert.Equal(500, _ssm.Calls.Count(c => c.Operation == "GetCommandInvocation" && c.Status == 200));
        Assert.True(elapsed < TimeSpan.FromSeconds(90), elapsed.ToString());
    }

    [Fact]
    public async Task Bad_unmanaged_timed_out_and_failed_instances_get_their_own_outcomes_while_the_rest_succeed()
    {
        var healthy = Enumerable.Range(1, 40).Select(Id).ToList();
        foreach (string id in healthy)
        {
            _ssm.AddRecorded(id, "ok " + id);
        }

        _ssm.AddFailing(Id(101), FakeSsmMode.NotManaged);
        _ssm.AddFailing(Id(102), FakeSsmMode.Undeliverable);
        _ssm.AddFailing(Id(103), FakeSsmMode.DeliveryTimedOut);
        _ssm.AddFailing(Id(104), FakeSsmMode.ExecutionTimedOut);
        _ssm.AddFailing(Id(105), FakeSsmMode.Failed, responseCode: 127, stderr: "sh: 1: curl: not found\nsh: 2: wget: not found\n");
        _ssm.AddFailing(Id(106), FakeSsmMode.InvalidPlatform);
        var input = new List<string>(healthy) { Id(101), Id(102), Id(103), Id(104), Id(105), Id(106), "i-XYZ", "", Id(1), Id(107) };

        var (results, log, _, _) = await RunAsync(input, Options(), withEc2: false);

        SsmInstanceResult Of(string id) => results.Single(r => r.InstanceId == id);
        Assert.Equal(49, results.Count); // 40 healthy + 6 failing + 1 unknown to SSM + 2 malformed; the repeated Id(1) once
        Assert.Equal(SsmInstanceOutcome.NotManaged, Of(Id(101)).Outcome);
        Assert.Equal(SsmInstanceOutcome.NotManaged, Of(Id(107)).Outcome);
        Assert.Equal(("NotManaged", "Undeliverable"), (Of(Id(102)).Outcome.ToString(), Of(Id(102)).StatusDetails));
        Assert.Equal(("TimedOut", "DeliveryTimedOut"), (Of(Id(103)).Outcome.ToString(), Of(Id(103)).StatusDetails));
        Assert.Equal(("TimedOut", "ExecutionTimedOut"), (Of(Id(104)).Outcome.ToString(), Of(Id(104)).StatusDetails));
        var failed = Of(Id(105));
        Assert.Equal((SsmInstanceOutcome.CommandFailed, 127), (failed.Outcome, failed.ResponseCode));
        Assert.Equal("sh: 1: curl: not found | sh: 2: wget: not found", failed.ErrorGist);
        Assert.Contains("response code 127", failed.Message, StringComparison.Ordinal);
        Assert.Equal(SsmInstanceOutcome.InvalidPlatform, Of(Id(106)).Outcome);
        Assert.Equal(SsmInstanceOutcome.InvalidInstanceId, Of("i-XYZ").Outcome);
        Assert.Equal(SsmInstanceOutcome.InvalidInstanceId, Of("").Outcome);
        Assert.All(healthy, id => Assert.Equal(SsmInstanceOutcome.Diagnosed, Of(id).Outcome));
        Assert.All(healthy, id => Assert.Contains("the EC2 API was not asked", Of(id).Input!.MetadataOptionsUnavailable, StringComparison.Ordinal));

        // The malformed IDs never reached SSM; the unmanaged ones were named by SSM and the rest sent again.
        Assert.DoesNotContain(_ssm.Calls, c => c.InstanceIds.Contains("i-XYZ") || c.InstanceIds.Contains(""));
        var accepted = _ssm.Calls.Where(c => c.Operation == "SendCommand" && c.Status == 200).SelectMany(c => c.InstanceIds).ToList();
        Assert.Equal(accepted.Distinct().Count(), accepted.Count);
        Assert.DoesNotContain(Id(101), accepted);
        Assert.Contains(log, l => l.Contains("InvalidInstanceId", StringComparison.Ordinal));
    }

    [Fact]
    public async Task When_SSM_does_not_name_the_unmanaged_instance_the_batch_is_halved_until_it_stands_alone()
    {
        _ssm.NameUnmanagedInstances = false;
        var ids = Enumerable.Range(1, 16).Select(Id).ToList();
        foreach (string id in ids.Where(id => id != Id(11)))
        {
            _ssm.AddRecorded(id, "ok");
        }

        var (results, _, _, _) = await RunAsync(ids, Options(), withEc2: false);
        Assert.Equal(16, results.Count);
        Assert.Equal(SsmInstanceOutcome.NotManaged, results.Single(r => r.InstanceId == Id(11)).Outcome);
        Assert.Equal(15, results.Count(r => r.Outcome == SsmInstanceOutcome.Diagnosed));
        // 16 -> 8+8 -> 4+4 -> 2+2 -> 1+1: log2(16) levels of refused halves, each accepted half sent once.
        Assert.Equal(5, _ssm.Calls.Count(c => c.Operation == "SendCommand" && c.ErrorCode == "InvalidInstanceId"));
        Assert.Equal(4, _ssm.Calls.Count(c => c.Operation == "SendCommand" && c.Status == 200));
    }

    [Fact]
    public async Task Throttling_past_the_bound_is_a_per_instance_Throttled_result_not_a_hang()
    {
        var ids = Enumerable.Range(1, 3).Select(Id).ToList();
        foreach (string id in ids)
        {
            _ssm.AddRecorded(id, "ok");
        }

        _ssm.ThrottleNext("SendCommand", 10_000);
        var (results, log, fleet, elapsed) = await RunAsync(ids, Options(o => new SsmDiagnosisOptions
        {
            Script = o.Script, Parser = o.Parser, PollInitial = o.PollInitial, ThrottleInitialWait = TimeSpan.FromMilliseconds(50), MaxThrottleRetries = 2,
        }), withEc2: false);
        Assert.All(results, r => Assert.Equal(SsmInstanceOutcome.Throttled, r.Outcome));
        Assert.Equal(3, results.Count);
        Assert.Equal(2, fleet.Throttles);
        Assert.Equal(2, log.Count(l => l.Contains("SendCommand (1/1) was throttled", StringComparison.Ordinal)));
        Assert.True(elapsed < TimeSpan.FromSeconds(60), elapsed.ToString());
    }

    [Fact]
    public async Task An_instance_that_never_finishes_is_reported_NoResult_at_the_runs_own_deadline()
    {
        _ssm.AddRecorded(Id(1), "ok");
        _ssm.AddFailing(Id(2), FakeSsmMode.NeverFinishes);
        var (results, _, _, elapsed) = await RunAsync(new[] { Id(1), Id(2) }, Options(o => new SsmDiagnosisOptions
        {
            Script = o.Script, Parser = o.Parser, PollInitial = o.PollInitial, PollMax = o.PollMax, Deadline = TimeSpan.FromSeconds(3),
        }), withEc2: false);
        Assert.Equal(SsmInstanceOutcome.Diagnosed, results.Single(r => r.InstanceId == Id(1)).Outcome);
        var stuck = results.Single(r => r.InstanceId == Id(2));
        Assert.Equal((SsmInstanceOutcome.NoResult, "InProgress"), (stuck.Outcome, stuck.Status));
        Assert.InRange(elapsed, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(15));

        // The collector does not go on running unwatched: the command is cancelled on the instance that had not
        // finished, and only there.
        var cancel = Assert.Single(_ssm.Calls, c => c.Operation == "CancelCommand");
        Assert.Equal((200, stuck.CommandId), (cancel.Status, cancel.CommandId));
        Assert.Equal(new[] { Id(2) }, cancel.InstanceIds);
        Assert.EndsWith("it was cancelled there (CancelCommand).", stuck.Message, StringComparison.Ordinal);
    }

    /// <summary>A stand-in as large as the collector and as compressible as a script is (about 34 KB).</summary>
    private static string LargeScript() => string.Concat(Enumerable.Range(1, 900).Select(n => $"echo 'collector stand-in line {n}'\n"));

    [Theory]
    [InlineData("InvalidParameters")]
    [InlineData("MaxDocumentSizeExceeded")]
    [InlineData("ValidationException")]
    public async Task When_SSM_refuses_the_plain_collectors_size_it_goes_packed_once_and_for_every_later_batch(string errorCode)
    {
        var ids = Enumerable.Range(1, 60).Select(Id).ToList();
        ids.ForEach(id => _ssm.AddRecorded(id, "ok"));
        string script = LargeScript();
        _ssm.CommandsLimit = (24_000, errorCode);
        var (results, log, _, _) = await RunAsync(ids, Options(o => new SsmDiagnosisOptions
        {
            Script = script, Parser = o.Parser, PollInitial = o.PollInitial, PollMax = o.PollMax,
        }), withEc2: false);

        Assert.All(results, r => Assert.True(r.Outcome == SsmInstanceOutcome.Diagnosed, r.ToString()));
        Assert.Equal(60, results.Count);
        var sends = _ssm.Calls.Where(c => c.Operation == "SendCommand").ToList();
        Assert.Equal(new[] { (400, errorCode), (200, (string?)null), (200, null) }, sends.Select(c => (c.Status, c.ErrorCode)));
        Assert.Equal(2, _ssm.Commands.Count);
        Assert.All(_ssm.Commands, c => Assert.Equal(Collector.Pack(script).TrimEnd('\n'), c.Script));
        Assert.Single(log, l => l.Contains($"SSM refused the plain collector ({script.Length} characters", StringComparison.Ordinal) && l.Contains("with " + errorCode, StringComparison.Ordinal) && l.Contains("Sending it packed (packed: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_refusal_the_packed_collector_cannot_cure_is_reported_per_instance_after_one_retry()
    {
        var ids = Enumerable.Range(1, 60).Select(Id).ToList();
        ids.ForEach(id => _ssm.AddRecorded(id, "ok"));
        _ssm.CommandsLimit = (1_000, "InvalidParameters");
        var (results, _, _, _) = await RunAsync(ids, Options(o => new SsmDiagnosisOptions { Script = LargeScript(), Parser = o.Parser }), withEc2: false);
        Assert.Equal(60, results.Count);
        Assert.All(results, r => Assert.Equal((SsmInstanceOutcome.RequestFailed, "InvalidParameters"), (r.Outcome, r.Error!.ErrorCode)));
        Assert.Equal(3, _ssm.Count("SendCommand")); // plain, packed; the second batch packed at once
    }

    [Fact]
    public async Task With_Plain_delivery_the_script_is_never_packed_and_with_Packed_always()
    {
        _ssm.AddRecorded(Id(1), "ok");
        _ssm.CommandsLimit = (24_000, "InvalidParameters");
        var (plain, _, _, _) = await RunAsync(new[] { Id(1) }, Options(o => new SsmDiagnosisOptions { Script = LargeScript(), Parser = o.Parser, Delivery = CollectorDelivery.Plain }), withEc2: false);
        Assert.Equal(SsmInstanceOutcome.RequestFailed, Assert.Single(plain).Outcome);
        Assert.Equal(1, _ssm.Count("SendCommand"));

        var (packed, _, _, _) = await RunAsync(new[] { Id(1) }, Options(o => new SsmDiagnosisOptions { Script = "echo small\n", Parser = o.Parser, PollInitial = o.PollInitial, Delivery = CollectorDelivery.Packed }), withEc2: false);
        Assert.Equal(SsmInstanceOutcome.Diagnosed, Assert.Single(packed).Outcome);
        Assert.StartsWith(Collector.PackedHeader, Assert.Single(_ssm.Commands).Script, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_the_run_cancels_the_command_where_it_still_runs_and_returns_promptly()
    {
        _ssm.AddRecorded(Id(1), "ok");
        _ssm.AddFailing(Id(2), FakeSsmMode.NeverFinishes);
        _ssm.AddFailing(Id(3), FakeSsmMode.NeverFinishes);
        using var ssm = StagedBridge.Instance.ConnectSsm(Connection(_ssm.Url));
        var fleet = new SsmFleetDiagnosis(ssm, null, Options());
        using var cts = new CancellationTokenSource();
        var log = new ConcurrentQueue<string>();
        var results = new List<SsmInstanceResult>();
        var sw = Stopwatch.StartNew();

        // Ctrl+C once the fast instance has answered.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fleet.RunAsync(new[] { Id(1), Id(2), Id(3) }, r => { results.Add(r); cts.Cancel(); }, log.Enqueue, cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), sw.Elapsed.ToString());
        Assert.Equal(new[] { Id(1) }, results.Select(r => r.InstanceId));

        var command = Assert.Single(_ssm.Commands);
        var cancel = Assert.Single(_ssm.Calls, c => c.Operation == "CancelCommand");
        Assert.Equal((200, command.CommandId), (cancel.Status, cancel.CommandId));
        Assert.Equal(new[] { Id(2), Id(3) }, cancel.InstanceIds);
        Assert.Contains(log, l => l.StartsWith($"Cancelled command {command.CommandId} (2 instance(s))", StringComparison.Ordinal));

        // SSM now says so too.
        var page = await ssm.ListCommandInvocationsAsync(command.CommandId, null, CancellationToken.None);
        Assert.Equal(
            new[] { (Id(1), "Success"), (Id(2), "Cancelled"), (Id(3), "Cancelled") },
            page.Invocations.Select(i => (i.InstanceId, i.Status ?? string.Empty)).OrderBy(i => i.InstanceId));
    }

    [Fact]
    public async Task Ctrl_C_while_SendCommand_is_in_flight_waits_for_its_command_ID_and_cancels_that_command()
    {
        _ssm.AddFailing(Id(1), FakeSsmMode.NeverFinishes);
        _ssm.AddFailing(Id(2), FakeSsmMode.NeverFinishes);
        _ssm.SendCommandDelay = TimeSpan.FromSeconds(1.5);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(0.5));
        var sw = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunAsync(new[] { Id(1), Id(2) }, Options(), withEc2: false, ct: cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), sw.Elapsed.ToString());
        var command = Assert.Single(_ssm.Commands);
        var cancel = Assert.Single(_ssm.Calls, c => c.Operation == "CancelCommand");
        Assert.Equal((200, command.CommandId), (cancel.Status, cancel.CommandId));
        Assert.Equal(new[] { Id(1), Id(2) }, cancel.InstanceIds);
        Assert.Equal(1, _ssm.Count("SendCommand"));
    }

    [Fact]
    public async Task A_SendCommand_answer_that_never_comes_after_Ctrl_C_is_waited_for_only_CancelTimeout()
    {
        _ssm.AddFailing(Id(1), FakeSsmMode.NeverFinishes);
        _ssm.SendCommandDelay = TimeSpan.FromSeconds(30);
        using var ssm = StagedBridge.Instance.ConnectSsm(Connection(_ssm.Url));
        var fleet = new SsmFleetDiagnosis(ssm, null, Options(o => new SsmDiagnosisOptions { Script = o.Script, Parser = o.Parser, CancelTimeout = TimeSpan.FromSeconds(2) }));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(0.5));
        var sw = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fleet.RunAsync(new[] { Id(1) }, _ => { }, null, cts.Token));
        Assert.InRange(sw.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(8));
        Assert.Equal(0, _ssm.Count("CancelCommand"));
    }

    [Fact]
    public async Task When_CancelCommand_is_refused_the_result_says_the_command_may_run_on()
    {
        _ssm.AddFailing(Id(1), FakeSsmMode.NeverFinishes);
        _ssm.DeniedOperations.Add("CancelCommand");
        var (results, log, _, elapsed) = await RunAsync(new[] { Id(1) }, Options(o => new SsmDiagnosisOptions
        {
            Script = o.Script, Parser = o.Parser, PollInitial = o.PollInitial, PollMax = o.PollMax, Deadline = TimeSpan.FromSeconds(2), CommandTimeoutSeconds = 45,
        }), withEc2: false);
        var stuck = Assert.Single(results);
        Assert.Equal(SsmInstanceOutcome.NoResult, stuck.Outcome);
        Assert.Contains("it could not be cancelled (AccessDeniedException: ", stuck.Message, StringComparison.Ordinal);
        Assert.Contains("ssm:CancelCommand", stuck.Message, StringComparison.Ordinal);
        Assert.EndsWith("so it may run on there until its timeout.", stuck.Message, StringComparison.Ordinal);
        Assert.Contains(log, l => l.Contains("may run on there until its timeout of 45 s", StringComparison.Ordinal));
        Assert.True(elapsed < TimeSpan.FromSeconds(15), elapsed.ToString());
    }

    [Fact]
    public async Task A_CancelCommand_that_gets_no_answer_is_bounded()
    {
        _ssm.AddFailing(Id(1), FakeSsmMode.NeverFinishes);
        _ssm.ThrottleNext("CancelCommand", 10_000);
        var (results, log, _, elapsed) = await RunAsync(new[] { Id(1) }, Options(o => new SsmDiagnosisOptions
        {
            Script = o.Script, Parser = o.Parser, PollInitial = o.PollInitial, PollMax = o.PollMax, Deadline = TimeSpan.FromSeconds(2),
            ThrottleInitialWait = TimeSpan.FromSeconds(1), CancelTimeout = TimeSpan.FromSeconds(2),
        }), withEc2: false);
        var stuck = Assert.Single(results);
        Assert.Contains("it could not be cancelled (CancelCommand did not succeed within 2 s)", stuck.Message, StringComparison.Ordinal);
        Assert.True(_ssm.Count("CancelCommand") >= 1);
        Assert.InRange(elapsed, TimeSpan.FromSeconds(3.5), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Instances_the_deadline_kept_from_being_sent_are_still_each_reported_once()
    {
        var ids = Enumerable.Range(1, 60).Select(Id).ToList();
        foreach (string id in ids)
        {
            _ssm.AddRecorded(id, "ok");
        }

        _ssm.ThrottleNext("SendCommand", 10_000);
        var (results, log, _, elapsed) = await RunAsync(ids, Options(o => new SsmDiagnosisOptions
        {
            Script = o.Script, Parser = o.Parser, ThrottleInitialWait = TimeSpan.FromSeconds(1), MaxThrottleRetries = 8, Deadline = TimeSpan.FromSeconds(2),
        }), withEc2: false);
        Assert.True(results.Count == 60, string.Join("\n", log));
        Assert.Equal(ids, results.Select(r => r.InstanceId).OrderBy(x => x));
        Assert.All(results, r => Assert.Equal(SsmInstanceOutcome.NoResult, r.Outcome));
        Assert.All(results, r => Assert.Contains("was not sent", r.Message, StringComparison.Ordinal));
        Assert.True(elapsed < TimeSpan.FromSeconds(15), elapsed.ToString());
    }

    [Fact]
    public async Task Results_stream_as_instances_finish_not_at_the_end()
    {
        _ssm.AddRecorded(Id(1), "fast");
        _ssm.AddRecorded(Id(2), "slow", TimeSpan.FromSeconds(4));
        using var ssm = StagedBridge.Instance.ConnectSsm(Connection(_ssm.Url));
        var fleet = new SsmFleetDiagnosis(ssm, null, Options());
        var sw = Stopwatch.StartNew();
        var times = new Dictionary<string, TimeSpan>();
        await fleet.RunAsync(new[] { Id(1), Id(2) }, r => times[r.InstanceId] = sw.Elapsed, null, CancellationToken.None);
        Assert.True(times[Id(1)] < TimeSpan.FromSeconds(3), times[Id(1)].ToString());
        Assert.True(times[Id(2)] >= TimeSpan.FromSeconds(4), times[Id(2)].ToString());
    }

    [Fact]
    public async Task Cancellation_stops_the_polling_promptly()
    {
        _ssm.AddFailing(Id(1), FakeSsmMode.NeverFinishes);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        var sw = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunAsync(new[] { Id(1) }, Options(), withEc2: false, ct: cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), sw.Elapsed.ToString());
    }

    [Fact]
    public async Task Access_denied_on_the_first_SendCommand_stops_the_run_with_one_error()
    {
        _ssm.AddRecorded(Id(1), "ok");
        _ssm.DeniedOperations.Add("SendCommand");
        var ex = await Assert.ThrowsAsync<AwsApiException>(() => RunAsync(new[] { Id(1) }, Options(), withEc2: false));
        Assert.Equal(AwsErrorKind.Unauthorized, ex.Kind);
        Assert.Equal("AccessDeniedException", ex.ErrorCode);
        Assert.Contains("ssm:SendCommand", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_the_EC2_API_refuses_the_metadata_options_say_why_and_the_diagnosis_goes_on()
    {
        _ssm.AddRecorded(Id(1), "ok");
        _ec2.Add(Id(1));
        _ec2.DeniedActions.Add("DescribeInstances");
        var (results, _, _, _) = await RunAsync(new[] { Id(1) }, Options());
        var r = Assert.Single(results);
        Assert.Equal(SsmInstanceOutcome.Diagnosed, r.Outcome);
        Assert.Null(r.Input!.MetadataOptions);
        Assert.Contains("UnauthorizedOperation", r.Input.MetadataOptionsUnavailable, StringComparison.Ordinal);
        Assert.Contains("UnauthorizedOperation", r.Findings.Single(f => f.Check == DiagnosisCheck.MetadataOptions).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendCommand_carries_the_script_lines_timeouts_concurrency_and_errors()
    {
        _ssm.AddRecorded(Id(1), "ok");
        var (results, _, _, _) = await RunAsync(new[] { Id(1) }, Options(o => new SsmDiagnosisOptions
        {
            Script = "line one\nline 'two' \"quoted\"\n\nlast\n", Parser = o.Parser, PollInitial = o.PollInitial, CommandTimeoutSeconds = 45, MaxConcurrency = "10%", MaxErrors = "3",
        }), withEc2: false);
        Assert.Equal(SsmInstanceOutcome.Diagnosed, Assert.Single(results).Outcome);
        var command = Assert.Single(_ssm.Commands);
        Assert.Equal("line one\nline 'two' \"quoted\"\n\nlast", command.Script);
        Assert.Equal((45, "45", "10%", "3"), (command.TimeoutSeconds, command.ExecutionTimeout, command.MaxConcurrency, command.MaxErrors));
        Assert.StartsWith("ImdsTroubleshoot", command.Comment, StringComparison.Ordinal);
        Assert.All(_ssm.Calls, c => Assert.Equal("AKIDSTAGEDBRIDGE01", c.AccessKeyId));
    }

    [Fact]
    public async Task The_bridge_maps_SSM_errors_to_engine_errors()
    {
        _ssm.AddRecorded(Id(1), "ok");
        using var api = StagedBridge.Instance.ConnectSsm(Connection(_ssm.Url));
        Assert.Equal(("SSM", "eu-west-1"), (api.Connection.Service, api.Connection.Region));
        var missing = await Assert.ThrowsAsync<AwsApiException>(() => api.GetCommandInvocationAsync(Guid.NewGuid().ToString(), Id(1), CancellationToken.None));
        Assert.Equal(("InvocationDoesNotExist", "GetCommandInvocation"), (missing.ErrorCode, missing.Operation));
        var unmanaged = await Assert.ThrowsAsync<AwsApiException>(() => api.SendCommandAsync(new SsmSendCommandRequest { InstanceIds = new[] { Id(9) }, Commands = new[] { "true" } }, CancellationToken.None));
        Assert.Equal("InvalidInstanceId", unmanaged.ErrorCode);
        Assert.Contains(Id(9), unmanaged.Message, StringComparison.Ordinal);
        _ssm.ThrottleNext("ListCommandInvocations", 100);
        var throttled = await Assert.ThrowsAsync<AwsApiException>(() => api.ListCommandInvocationsAsync("x", null, CancellationToken.None));
        Assert.Equal((AwsErrorKind.Throttled, "ThrottlingException"), (throttled.Kind, throttled.ErrorCode));

        var unknownCommand = await Assert.ThrowsAsync<AwsApiException>(() => api.CancelCommandAsync(Guid.NewGuid().ToString(), new[] { Id(1) }, CancellationToken.None));
        Assert.Equal(("InvalidCommandId", "CancelCommand"), (unknownCommand.ErrorCode, unknownCommand.Operation));

        string id = await api.SendCommandAsync(new SsmSendCommandRequest { InstanceIds = new[] { Id(1) }, Commands = new[] { "true" } }, CancellationToken.None);
        await Task.Delay(200);
        var result = await api.GetCommandInvocationAsync(id, Id(1), CancellationToken.None);
        Assert.Equal(("Success", "Success", 0, "ok"), (result.Status, result.StatusDetails, result.ResponseCode, result.StandardOutput));
    }

    [Theory]
    [InlineData("10", null, true)]
    [InlineData("25%", "0", true)]
    [InlineData("100%", "100%", true)]
    [InlineData("0", null, false)]
    [InlineData("101%", null, false)]
    [InlineData("ten", null, false)]
    [InlineData(null, "-1", false)]
    [InlineData(null, "5 ; rm -rf /", false)]
    public void MaxConcurrency_and_MaxErrors_are_checked_like_SSM_checks_them(string? concurrency, string? errors, bool ok)
    {
        var options = new SsmDiagnosisOptions { MaxConcurrency = concurrency, MaxErrors = errors };
        if (ok)
        {
            options.Check();
        }
        else
        {
            Assert.Throws<ArgumentException>(options.Check);
        }
    }

    [Theory]
    [InlineData("Success", "Success", true, SsmInstanceOutcome.Diagnosed)]
    [InlineData("Failed", "Undeliverable", true, SsmInstanceOutcome.NotManaged)]
    [InlineData("Failed", "InvalidPlatform", true, SsmInstanceOutcome.InvalidPlatform)]
    [InlineData("TimedOut", "Delivery Timed Out", true, SsmInstanceOutcome.TimedOut)]
    [InlineData("Cancelled", "Terminated", true, SsmInstanceOutcome.Cancelled)]
    [InlineData("Failed", "Failed", true, SsmInstanceOutcome.CommandFailed)]
    [InlineData("InProgress", "InProgress", false, SsmInstanceOutcome.CommandFailed)]
    [InlineData("Pending", "Pending", false, SsmInstanceOutcome.CommandFailed)]
    [InlineData("Delayed", "Delayed", false, SsmInstanceOutcome.CommandFailed)]
    public void Invocation_statuses_are_read_as_SSM_documents_them(string status, string details, bool terminal, SsmInstanceOutcome outcome)
    {
        Assert.Equal(terminal, SsmInvocationStates.IsTerminal(status, details));
        if (terminal)
        {
            Assert.Equal(outcome, SsmInvocationStates.OutcomeOf(status, details));
        }
    }
}
