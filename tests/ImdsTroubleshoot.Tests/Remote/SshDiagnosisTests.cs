using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Remote;
using Xunit;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>The SSH diagnosis with a recording runner in place of ssh: throttling, results as hosts finish, failure typing, nothing started for bad input.</summary>
public sealed class SshDiagnosisTests
{
    /// <summary>Answers per host after a delay, records every start and the most runs at once.</summary>
    private sealed class RecordingRunner : ISshProcessRunner
    {
        private int _running;

        public ConcurrentQueue<string> Started { get; } = new();

        public int MaxConcurrent { get; private set; }

        public Func<string, (TimeSpan Delay, SshProcessResult Result)> Answer { get; set; } = _ => (TimeSpan.Zero, new SshProcessResult { ExitCode = 255, StandardError = "ssh: connect to host h port 22: Connection refused" });

        public async Task<SshProcessResult> RunAsync(SshProcessRequest request, CancellationToken cancellationToken)
        {
            string host = request.Arguments[request.Arguments.ToList().IndexOf("--") + 1];
            Started.Enqueue(host);
            int now = Interlocked.Increment(ref _running);
            lock (this)
            {
                MaxConcurrent = Math.Max(MaxConcurrent, now);
            }

            try
            {
                var (delay, result) = Answer(host);
                await Task.Delay(delay, cancellationToken);
                return result;
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }
    }

    private static SshDiagnosisOptions Options(int throttle = 4) => new() { ThrottleLimit = throttle, SshClientPath = "/bin/sh" };

    [Fact]
    public async Task Hosts_run_at_most_ThrottleLimit_at_once_and_each_result_is_handed_over_as_it_finishes()
    {
        var runner = new RecordingRunner
        {
            // h0 is slowest: it finishes last although it started first (the other five share one slot: 0.5 s
            // against h0's 3 s leaves room for a loaded machine).
            Answer = h => (TimeSpan.FromMilliseconds(h == "h0" ? 3000 : 100), new SshProcessResult { ExitCode = 255, StandardError = "ssh: connect to host " + h + " port 22: Connection refused" }),
        };
        var diagnosis = new SshDiagnosis(Options(throttle: 2), runner, "echo x");
        var completed = new List<string>();
        await diagnosis.RunManyAsync(Enumerable.Range(0, 6).Select(i => SshTarget.Create("h" + i)), null, r =>
        {
            lock (completed)
            {
                completed.Add(r.Target.HostName);
            }

            Assert.Equal(SshFailureKind.ConnectionRefused, r.Failure?.Kind);
        }, CancellationToken.None);

        Assert.Equal(2, runner.MaxConcurrent);
        Assert.Equal(6, completed.Count);
        Assert.Equal("h0", completed[^1]);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => "h" + i).OrderBy(x => x), completed.OrderBy(x => x));
    }

    [Fact]
    public async Task Bad_input_never_reaches_a_runner_the_good_host_does()
    {
        var runner = new RecordingRunner();
        var diagnosis = new SshDiagnosis(Options(), runner, "echo x");
        var targets = new List<SshTarget>();
        var refused = new List<SshArgumentKind>();
        foreach (var (host, user, port) in new (string, string?, int?)[] { ("-oProxyCommand=id", null, null), ("good", "ec2-user", 22), ("good", "-l", null), ("good", null, 70000), ("a b", null, null) })
        {
            try
            {
                targets.Add(SshTarget.Create(host, user, port));
            }
            catch (SshArgumentException ex)
            {
                refused.Add(ex.Kind);
            }
        }

        await diagnosis.RunManyAsync(targets, null, _ => { }, CancellationToken.None);
        Assert.Equal(new[] { SshArgumentKind.HostName, SshArgumentKind.UserName, SshArgumentKind.Port, SshArgumentKind.HostName }, refused);
        Assert.Equal(new[] { "good" }, runner.Started.ToArray());
    }

    [Fact]
    public void No_ssh_client_is_a_FileNotFoundException_before_anything_starts()
    {
        var ex = Assert.Throws<System.IO.FileNotFoundException>(() => new SshDiagnosis(new SshDiagnosisOptions { SshClientPath = "/nonexistent/ssh" }, new RecordingRunner(), "x"));
        Assert.Contains("/nonexistent/ssh", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(255, "root@10.0.0.5: Permission denied (publickey).", SshFailureKind.AuthenticationFailed)]
    [InlineData(255, "ssh: connect to host 10.0.0.5 port 22: Connection refused", SshFailureKind.ConnectionRefused)]
    [InlineData(255, "ssh: connect to host 10.0.0.5 port 22: Connection timed out", SshFailureKind.ConnectTimeout)]
    [InlineData(255, "ssh: connect to host 10.0.0.5 port 22: No route to host", SshFailureKind.HostUnreachable)]
    [InlineData(255, "ssh: Could not resolve hostname nowhere.invalid: Name or service not known", SshFailureKind.HostNameNotResolved)]
    [InlineData(255, "No ED25519 host key is known for [10.0.0.5]:22 and you have requested strict checking.\nHost key verification failed.", SshFailureKind.HostKeyUnknown)]
    [InlineData(255, "@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.", SshFailureKind.HostKeyChanged)]
    [InlineData(255, "kex_exchange_identification: Connection closed by remote host", SshFailureKind.Failed)]
    [InlineData(1, "sudo: a password is required", SshFailureKind.SudoPasswordRequired)]
    [InlineData(127, "sh: 1: sudo: not found", SshFailureKind.RemoteCommandFailed)]
    public async Task Stderr_and_exit_codes_map_to_typed_failures(int exit, string stderr, SshFailureKind kind)
    {
        var runner = new RecordingRunner { Answer = _ => (TimeSpan.Zero, new SshProcessResult { ExitCode = exit, StandardError = stderr }) };
        var result = await new SshDiagnosis(Options(), runner, "x").RunAsync(SshTarget.Create("10.0.0.5"), CancellationToken.None);
        Assert.Equal(kind, result.Failure?.Kind);
        Assert.DoesNotContain("@@@", result.Failure!.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', result.Failure.Detail!);
    }

    [Fact]
    public async Task A_timeout_without_output_is_Timeout_and_long_stderr_is_kept_short()
    {
        var runner = new RecordingRunner { Answer = _ => (TimeSpan.Zero, new SshProcessResult { ExitCode = -1, TimedOut = true, StandardError = new string('e', 5000) }) };
        var result = await new SshDiagnosis(Options(), runner, "x").RunAsync(SshTarget.Create("h"), CancellationToken.None);
        Assert.Equal(SshFailureKind.Timeout, result.Failure?.Kind);
        Assert.True(result.Failure!.Detail!.Length <= 401);
    }

    [Fact]
    public async Task Metadata_options_are_read_for_the_instance_the_hosts_IMDS_names_and_otherwise_say_why_not()
    {
        string recorded = System.IO.File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", "Remote", "uid-rule-root.out"));
        var runner = new RecordingRunner { Answer = h => (TimeSpan.Zero, new SshProcessResult { ExitCode = 0, StandardOutput = h == "garbage" ? "no collector here\n" : recorded }) };
        var asked = new ConcurrentQueue<(string Id, string? Region)>();
        var options = new SshDiagnosisOptions
        {
            SshClientPath = "/bin/sh",
            ReadMetadataOptions = (id, region, _) =>
            {
                asked.Enqueue((id, region));
                return Task.FromResult<Engine.Ec2.ImdsMetadataOption?>(id == "i-0123456789abcdef0"
                    ? new Engine.Ec2.ImdsMetadataOption(id, "web-1", "running", Engine.Ec2.MetadataOptionsState.Applied, Engine.Emulator.FeatureState.Enabled, Engine.Emulator.HttpTokensState.Required, 1, Engine.Emulator.FeatureState.Disabled, Engine.Emulator.FeatureState.Disabled, region)
                    : null);
            },
        };
        var diagnosis = new SshDiagnosis(options, runner, "echo x");
        var ok = await diagnosis.RunAsync(SshTarget.Create("h1"), CancellationToken.None);
        Assert.Equal(("i-0123456789abcdef0", "eu-west-1"), Assert.Single(asked));
        Assert.Equal(1, ok.Input!.MetadataOptions!.HttpPutResponseHopLimit);
        Assert.Null(ok.Input.MetadataOptionsUnavailable);
        Assert.NotEqual(Engine.Diagnosis.FindingStatus.Skipped, ok.Findings.Single(f => f.Check == Engine.Diagnosis.DiagnosisCheck.MetadataOptions).Status);

        var unknown = await diagnosis.RunAsync(SshTarget.Create("garbage"), CancellationToken.None);
        Assert.Single(asked);
        Assert.StartsWith("the host's IMDS could not say which instance it is", unknown.Input!.MetadataOptionsUnavailable, StringComparison.Ordinal);

        var failing = new SshDiagnosis(new SshDiagnosisOptions { SshClientPath = "/bin/sh", ReadMetadataOptions = (_, _, _) => throw new InvalidOperationException("no credentials") }, runner, "echo x");
        var refused = await failing.RunAsync(SshTarget.Create("h1"), CancellationToken.None);
        Assert.Equal("the EC2 API could not be asked: no credentials", refused.Input!.MetadataOptionsUnavailable);
        Assert.Contains("no credentials", refused.Findings.Single(f => f.Check == Engine.Diagnosis.DiagnosisCheck.MetadataOptions).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancellation_stops_every_host()
    {
        var runner = new RecordingRunner { Answer = _ => (TimeSpan.FromSeconds(30), new SshProcessResult()) };
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new SshDiagnosis(Options(throttle: 2), runner, "x")
            .RunManyAsync(Enumerable.Range(0, 5).Select(i => SshTarget.Create("h" + i)), null, _ => { }, cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), sw.Elapsed.ToString());
        Assert.Equal(2, runner.Started.Count);
    }
}
