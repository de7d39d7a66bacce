using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Ec2;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>How the collector goes out in SendCommand's commands parameter.</summary>
public enum CollectorDelivery
{
    /// <summary>Plain, readable in SSM's command history; packed (<see cref="Collector.Pack"/>) once SSM refuses the plain one's size.</summary>
    Auto,

    /// <summary>Always the plain script.</summary>
    Plain,

    /// <summary>Always packed: gzip-compressed and base64-encoded (needs base64 and gzip on the instances).</summary>
    Packed,
}

/// <summary>How a fleet diagnosis through SSM Run Command runs.</summary>
public sealed class SsmDiagnosisOptions
{
    /// <summary>What the collector does on each instance (probe bound, IPv6, output budget).</summary>
    public CollectorParameters Collector { get; init; } = new();

    /// <summary>The script to send instead of <see cref="Remote.Collector.Build"/>'s (tests; the transport treats it as opaque).</summary>
    public string? Script { get; init; }

    /// <summary>Plain or packed collector; by default plain, then packed if SSM refuses the plain one as too large.</summary>
    public CollectorDelivery Delivery { get; init; } = CollectorDelivery.Auto;

    /// <summary>Turns one instance's output into evidence; null: <see cref="CollectorOutputParser.Parse"/> (the transport tests give their own).</summary>
    public Func<string, string, DiagnosisInput>? Parser { get; init; }

    /// <summary>SendCommand TimeoutSeconds and the document's executionTimeout (30..3600).</summary>
    public int CommandTimeoutSeconds { get; init; } = 120;

    /// <summary>SendCommand MaxConcurrency ("10", "25%"); null: SSM's default.</summary>
    public string? MaxConcurrency { get; init; }

    /// <summary>SendCommand MaxErrors ("0", "10%"); null: SSM's default.</summary>
    public string? MaxErrors { get; init; }

    /// <summary>Instances per SendCommand (1..50).</summary>
    public int BatchSize { get; init; } = SsmLimits.MaxInstancesPerCommand;

    /// <summary>The Region the findings name, when the collector cannot tell.</summary>
    public string? Region { get; init; }

    /// <summary>Why the metadata options are not read, when no EC2 client is given.</summary>
    public string? MetadataOptionsUnavailable { get; init; }

    /// <summary>The first wait before polling, and the wait after a round that saw instances finish.</summary>
    public TimeSpan PollInitial { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between polling rounds.</summary>
    public TimeSpan PollMax { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The first wait after a throttled call; it doubles per throttle (with jitter), up to <see cref="ThrottleMaxWait"/>.</summary>
    public TimeSpan ThrottleInitialWait { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ThrottleMaxWait { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How many times one call is retried after ThrottlingException before its instances are reported Throttled.</summary>
    public int MaxThrottleRetries { get; init; } = 8;

    /// <summary>The bound on the whole run; null: twice the command timeout (delivery, then execution) plus <see cref="DeadlineMargin"/>.</summary>
    public TimeSpan? Deadline { get; init; }

    public TimeSpan DeadlineMargin { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The bound on the CancelCommand calls made when the run is stopped (Ctrl+C) or reaches its deadline with
    /// instances still running, so that the collector does not go on running on them unwatched.
    /// </summary>
    public TimeSpan CancelTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>GetCommandInvocation calls in flight at once.</summary>
    public int OutputReaders { get; init; } = 8;

    public string Comment { get; init; } = "ImdsTroubleshoot: Invoke-ImdsDiagnosis collector";

    public TimeSpan EffectiveDeadline => Deadline ?? TimeSpan.FromSeconds(2.0 * CommandTimeoutSeconds) + DeadlineMargin;

    /// <summary>Throws ArgumentException for values SSM would refuse.</summary>
    public void Check()
    {
        if (CommandTimeoutSeconds is < SsmLimits.MinTimeoutSeconds or > SsmLimits.MaxTimeoutSeconds)
        {
            throw new ArgumentException($"The command timeout must be {SsmLimits.MinTimeoutSeconds} to {SsmLimits.MaxTimeoutSeconds} seconds, not {CommandTimeoutSeconds}.");
        }

        if (BatchSize is < 1 or > SsmLimits.MaxInstancesPerCommand)
        {
            throw new ArgumentException($"A SendCommand takes 1 to {SsmLimits.MaxInstancesPerCommand} instances, not {BatchSize}.");
        }

        if ((SsmLimits.MaxConcurrencyProblem(MaxConcurrency) ?? SsmLimits.MaxErrorsProblem(MaxErrors)) is { } problem)
        {
            throw new ArgumentException(problem);
        }

        if (Comment.Length > 100)
        {
            throw new ArgumentException("A SendCommand comment has at most 100 characters.");
        }
    }
}

/// <summary>
/// Diagnoses instances through SSM Run Command: validates and dedupes the IDs, sends the collector with
/// AWS-RunShellScript in batches of at most 50, polls ListCommandInvocations with growing, jittered waits that back
/// off further when SSM throttles, reads each finished instance's output with GetCommandInvocation, and analyzes it
/// here with <see cref="DiagnosisEngine"/>, merged with the instance's metadata options from one batched
/// DescribeInstances. Each instance's result is handed over as soon as it is known; the whole run is bounded by
/// <see cref="SsmDiagnosisOptions.EffectiveDeadline"/>. Nothing an instance prints is executed here.
/// </summary>
public sealed class SsmFleetDiagnosis
{
    private const string InvalidInstanceIdCode = "InvalidInstanceId";
    private const string InvocationDoesNotExistCode = "InvocationDoesNotExist";

    private readonly ISsmCommandApi _ssm;
    private readonly IEc2MetadataApi? _ec2;
    private readonly SsmDiagnosisOptions _options;
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private int _throttles;

    public SsmFleetDiagnosis(ISsmCommandApi ssm, IEc2MetadataApi? ec2, SsmDiagnosisOptions options)
    {
        ArgumentNullException.ThrowIfNull(ssm);
        ArgumentNullException.ThrowIfNull(options);
        options.Check();
        _ssm = ssm;
        _ec2 = ec2;
        _options = options;
    }

    /// <summary>SSM calls made so far per operation (not counting the SDK's own retries).</summary>
    public IReadOnlyDictionary<string, int> Calls => new Dictionary<string, int>(_calls, StringComparer.Ordinal);

    /// <summary>Throttled SSM calls this diagnosis waited out.</summary>
    public int Throttles => Volatile.Read(ref _throttles);

    /// <summary>
    /// Runs the diagnosis. <paramref name="onResult"/> gets every input exactly once (invalid ones first), one call at a
    /// time, as each finishes; <paramref name="onLog"/> gets what a verbose stream shows (command IDs, batch sizes, waits).
    /// Throws <see cref="AwsApiException"/> only when nothing could be sent at all (no permission, no credentials, endpoint
    /// unreachable); later failures are per-instance results.
    /// </summary>
    public async Task RunAsync(IEnumerable<string> instanceIds, Action<SsmInstanceResult> onResult, Action<string>? onLog, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instanceIds);
        ArgumentNullException.ThrowIfNull(onResult);
        var emitLock = new object();
        var emitted = new HashSet<string>(StringComparer.Ordinal);
        void Emit(SsmInstanceResult result)
        {
            lock (emitLock)
            {
                if (result.Outcome == SsmInstanceOutcome.InvalidInstanceId || emitted.Add(result.InstanceId))
                {
                    onResult(result);
                }
            }
        }

        void Log(string message) => onLog?.Invoke(message);

        var valid = new List<string>();
        foreach (string id in instanceIds)
        {
            if (Ec2InstanceId.Problem(id) is { } problem)
            {
                Emit(new SsmInstanceResult(id ?? string.Empty, SsmInstanceOutcome.InvalidInstanceId, problem));
            }
            else
            {
                valid.Add(id);
            }
        }

        valid = Chunking.Distinct(valid);
        if (valid.Count == 0)
        {
            return;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        TimeSpan bound = _options.EffectiveDeadline;
        deadline.CancelAfter(bound);
        CancellationToken ct = deadline.Token;
        var clock = Stopwatch.StartNew();

        string script = _options.Script ?? Collector.Build(_options.Collector);
        var delivery = new DeliveryState(script, _options.Delivery);
        Task<MetadataOptionsLookup> metadata = ReadMetadataOptionsAsync(valid, Log, ct);

        var commandsSent = new List<SentCommand>();
        var batches = Chunking.Chunk(valid, _options.BatchSize).ToList();
        Log($"Sending the collector ({delivery.Describe()}) to {valid.Count} instance(s) in {batches.Count} SendCommand batch(es) of at most {_options.BatchSize}; " +
            $"TimeoutSeconds {_options.CommandTimeoutSeconds}, MaxConcurrency {_options.MaxConcurrency ?? "(SSM default)"}, MaxErrors {_options.MaxErrors ?? "(SSM default)"}; the run ends within {bound.TotalSeconds:0} s.");
        int batchNumber = 0;
        try
        {
            foreach (var batch in batches)
            {
                batchNumber++;
                await SendBatchAsync(batch, delivery, $"{batchNumber}/{batches.Count}", commandsSent, Emit, Log, firstBatch: commandsSent.Count == 0 && batchNumber == 1, ct).ConfigureAwait(false);
            }

            var lookup = commandsSent.Count > 0 ? await metadata.ConfigureAwait(false) : MetadataOptionsLookup.None;
            await PollAsync(commandsSent, lookup, Emit, Log, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && deadline.IsCancellationRequested)
        {
            // The run's own bound: every instance still waiting is cancelled and reported below.
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped by the caller (Ctrl+C): nobody will read what the instances still running print.
            await CancelPendingAsync(commandsSent, Log).ConfigureAwait(false);
            throw;
        }
        finally
        {
            if (!metadata.IsCompleted)
            {
                try
                {
                    await metadata.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Nobody waits for the metadata options any more.
                }
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        var cancelled = await CancelPendingAsync(commandsSent, Log).ConfigureAwait(false);

        // Every valid instance is reported once: those still waiting at the deadline, those whose output was being
        // read when it came, and those of batches the deadline kept from being sent.
        var commandOf = new Dictionary<string, SentCommand>(StringComparer.Ordinal);
        foreach (var sent in commandsSent)
        {
            foreach (string id in sent.InstanceIds)
            {
                commandOf[id] = sent;
            }
        }

        foreach (string id in valid)
        {
            bool reported;
            lock (emitLock)
            {
                reported = emitted.Contains(id);
            }

            if (reported)
            {
                continue;
            }

            Emit(commandOf.TryGetValue(id, out var sent)
                ? new SsmInstanceResult(id, SsmInstanceOutcome.NoResult,
                    $"SSM reported no final status for command {sent.CommandId} on {id} within {bound.TotalSeconds:0} s (the command's timeout of {_options.CommandTimeoutSeconds} s for delivery and for execution, plus a margin); " +
                    (cancelled.TryGetValue(sent.CommandId, out string? problem) && problem is not null
                        ? $"it could not be cancelled ({problem}), so it may run on there until its timeout."
                        : "it was cancelled there (CancelCommand)."))
                {
                    CommandId = sent.CommandId,
                    Status = sent.LastStatus(id),
                }
                : new SsmInstanceResult(id, SsmInstanceOutcome.NoResult, $"The command was not sent to {id} within the run's bound of {bound.TotalSeconds:0} s."));
        }

        Log($"Done in {clock.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", _calls.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"))}; {Throttles} throttled call(s) waited out.");
    }

    /// <summary>
    /// Sends CancelCommand for every command with instances that have not finished, naming those instances, within
    /// <see cref="SsmDiagnosisOptions.CancelTimeout"/>, whatever the caller's token says (it is already cancelled after Ctrl+C).
    /// Returns, per command tried, null when SSM took the cancellation, or why not. Never throws.
    /// </summary>
    private async Task<Dictionary<string, string?>> CancelPendingAsync(List<SentCommand> sent, Action<string> log)
    {
        var outcome = new Dictionary<string, string?>(StringComparer.Ordinal);
        var running = sent.Select(c => (Command: c, Ids: c.PendingIds())).Where(c => c.Ids.Count > 0).ToList();
        if (running.Count == 0)
        {
            return outcome;
        }

        using var bound = new CancellationTokenSource(_options.CancelTimeout);
        var tasks = running.Select(async c =>
        {
            string label = $"{c.Command.CommandId} ({c.Ids.Count} instance(s))";
            try
            {
                await WithThrottleRetryAsync("CancelCommand", c.Command.CommandId, async t =>
                {
                    await _ssm.CancelCommandAsync(c.Command.CommandId, c.Ids, t).ConfigureAwait(false);
                    return true;
                }, log, bound.Token).ConfigureAwait(false);
                log($"Cancelled command {label} on the instance(s) that had not finished (CancelCommand).");
                return (c.Command.CommandId, Problem: (string?)null);
            }
            catch (AwsApiException ex)
            {
                log($"CancelCommand for command {label} failed: {ex.Message} The command may run on there until its timeout of {_options.CommandTimeoutSeconds} s.");
                return (c.Command.CommandId, Problem: ex.ErrorCode is { Length: > 0 } code ? $"{code}: {ex.Message}" : ex.Message);
            }
            catch (OperationCanceledException)
            {
                log($"CancelCommand for command {label} did not succeed within {_options.CancelTimeout.TotalSeconds:0} s. The command may run on there until its timeout of {_options.CommandTimeoutSeconds} s.");
                return (c.Command.CommandId, Problem: $"CancelCommand did not succeed within {_options.CancelTimeout.TotalSeconds:0} s");
            }
        }).ToList();
        foreach (var (commandId, problem) in await Task.WhenAll(tasks).ConfigureAwait(false))
        {
            outcome[commandId] = problem;
        }

        return outcome;
    }

    private static List<string> SplitLines(string script)
    {
        var lines = script.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').ToList();
        while (lines.Count > 1 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        return lines;
    }

    // ---------- SendCommand ----------

    private async Task SendBatchAsync(IReadOnlyList<string> batch, DeliveryState delivery, string label, List<SentCommand> sent, Action<SsmInstanceResult> emit, Action<string> log, bool firstBatch, CancellationToken ct)
    {
        var request = new SsmSendCommandRequest
        {
            InstanceIds = batch,
            Commands = delivery.Commands,
            TimeoutSeconds = _options.CommandTimeoutSeconds,
            ExecutionTimeoutSeconds = _options.CommandTimeoutSeconds,
            MaxConcurrency = _options.MaxConcurrency,
            MaxErrors = _options.MaxErrors,
            Comment = _options.Comment,
        };
        ct.ThrowIfCancellationRequested();

        // Once sent, a SendCommand is not abandoned at Ctrl+C or the deadline: SSM may already have created the command,
        // and only its ID lets it be cancelled. The call gets CancelTimeout more to answer (waits between throttled
        // attempts still end at once).
        using var inFlight = new CancellationTokenSource();
        using var grace = ct.Register(() => inFlight.CancelAfter(_options.CancelTimeout));
        string commandId;
        try
        {
            commandId = await WithThrottleRetryAsync("SendCommand", label, _ => _ssm.SendCommandAsync(request, inFlight.Token), log, ct).ConfigureAwait(false);
        }
        catch (AwsApiException ex) when (ex.ErrorCode == InvalidInstanceIdCode)
        {
            await SplitUnmanagedAsync(batch, delivery, label, sent, emit, log, ex, ct).ConfigureAwait(false);
            return;
        }
        catch (AwsApiException ex) when (delivery.CanPack && IsSizeRefusal(ex))
        {
            string before = delivery.Describe();
            delivery.Pack();
            log($"SendCommand batch {label}: SSM refused the plain collector ({before}) with {ex.ErrorCode}: {ex.Message} Sending it packed ({delivery.Describe()}) from now on.");
            await SendBatchAsync(batch, delivery, label, sent, emit, log, firstBatch, ct).ConfigureAwait(false);
            return;
        }
        catch (AwsApiException ex) when (firstBatch && IsFleetWide(ex))
        {
            throw;
        }
        catch (AwsApiException ex)
        {
            var outcome = ex.Kind == AwsErrorKind.Throttled ? SsmInstanceOutcome.Throttled : SsmInstanceOutcome.RequestFailed;
            foreach (string id in batch)
            {
                emit(new SsmInstanceResult(id, outcome, ex.Message) { Error = ex });
            }

            return;
        }

        log($"SendCommand batch {label}: {batch.Count} instance(s), command {commandId}.");
        sent.Add(new SentCommand(commandId, batch));
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// SendCommand refuses a whole batch with InvalidInstanceId when any one instance is not a managed node (or not in
    /// a state to take commands). The IDs the message names are reported and the rest sent again; when it names none,
    /// the batch is halved until the refused instances stand alone.
    /// </summary>
    private async Task SplitUnmanagedAsync(IReadOnlyList<string> batch, DeliveryState delivery, string label, List<SentCommand> sent, Action<SsmInstanceResult> emit, Action<string> log, AwsApiException ex, CancellationToken ct)
    {
        var named = Ec2InstanceId.FindIn(ex.Message).Where(batch.Contains).ToList();
        if (batch.Count == 1 || named.Count == batch.Count)
        {
            foreach (string id in batch.Count == 1 ? batch : named)
            {
                emit(NotManaged(id, ex));
            }

            return;
        }

        if (named.Count > 0)
        {
            foreach (string id in named)
            {
                emit(NotManaged(id, ex));
            }

            var rest = batch.Where(id => !named.Contains(id)).ToList();
            log($"SendCommand batch {label}: SSM refused {string.Join(", ", named)} (InvalidInstanceId); sending the other {rest.Count} again.");
            await SendBatchAsync(rest, delivery, label, sent, emit, log, firstBatch: false, ct).ConfigureAwait(false);
            return;
        }

        int half = batch.Count / 2;
        log($"SendCommand batch {label}: SSM refused the batch of {batch.Count} (InvalidInstanceId) without naming the instance; sending it in halves to find it.");
        await SendBatchAsync(batch.Take(half).ToList(), delivery, label + "a", sent, emit, log, firstBatch: false, ct).ConfigureAwait(false);
        await SendBatchAsync(batch.Skip(half).ToList(), delivery, label + "b", sent, emit, log, firstBatch: false, ct).ConfigureAwait(false);
    }

    private static SsmInstanceResult NotManaged(string id, AwsApiException ex) => new(id, SsmInstanceOutcome.NotManaged,
        $"SSM cannot send commands to {id}: it is not a managed node in this account and Region, its SSM Agent is not online, or it is not running (SendCommand: InvalidInstanceId).")
    {
        Error = ex,
        Status = "InvalidInstanceId",
    };

    /// <summary>
    /// How SSM may refuse a commands parameter that is too large (the limit is not in the API reference): the
    /// documented InvalidParameters and MaxDocumentSizeExceeded, a ValidationException (every other SendCommand value is
    /// checked before the call), or HTTP 413. Another refusal of these kinds costs one packed retry.
    /// </summary>
    private static bool IsSizeRefusal(AwsApiException ex) =>
        ex.ErrorCode is "InvalidParameters" or "MaxDocumentSizeExceeded" or "ValidationException" or "RequestEntityTooLarge" or "RequestEntityTooLargeException"
        || ex.StatusCode == 413;

    private static bool IsFleetWide(AwsApiException ex) => ex.Kind is AwsErrorKind.Unauthorized or AwsErrorKind.AuthFailure or AwsErrorKind.NoCredentials or AwsErrorKind.NoRegion or AwsErrorKind.Network;

    // ---------- Polling ----------

    private async Task PollAsync(List<SentCommand> sent, MetadataOptionsLookup lookup, Action<SsmInstanceResult> emit, Action<string> log, CancellationToken ct)
    {
        TimeSpan wait = _options.PollInitial;
        int round = 0;
        while (sent.Any(s => s.HasPending))
        {
            TimeSpan jittered = Jitter(wait);
            int waiting = sent.Sum(s => s.PendingCount);
            log($"Waiting {jittered.TotalSeconds:0.0} s before polling {sent.Count(s => s.HasPending)} command(s) ({waiting} instance(s) not finished).");
            await Task.Delay(jittered, ct).ConfigureAwait(false);
            round++;
            int finished = 0;
            bool throttled = false;
            var toRead = new List<(SentCommand Command, string InstanceId, SsmInvocationStatus Invocation)>();
            foreach (var command in sent.Where(s => s.HasPending))
            {
                List<SsmInvocationStatus> invocations;
                try
                {
                    invocations = await ListAllAsync(command, log, ct).ConfigureAwait(false);
                }
                catch (AwsApiException ex) when (ex.Kind == AwsErrorKind.Throttled)
                {
                    throttled = true;
                    foreach (string id in command.TakeAllPending())
                    {
                        emit(new SsmInstanceResult(id, SsmInstanceOutcome.Throttled, $"ListCommandInvocations for command {command.CommandId} stayed throttled after {_options.MaxThrottleRetries} retries: {ex.Message}")
                        {
                            CommandId = command.CommandId,
                            Error = ex,
                        });
                    }

                    continue;
                }
                catch (AwsApiException ex)
                {
                    foreach (string id in command.TakeAllPending())
                    {
                        emit(new SsmInstanceResult(id, SsmInstanceOutcome.RequestFailed, ex.Message) { CommandId = command.CommandId, Error = ex });
                    }

                    continue;
                }

                foreach (var invocation in invocations)
                {
                    if (!command.IsPending(invocation.InstanceId))
                    {
                        continue;
                    }

                    command.Observe(invocation.InstanceId, invocation.Status);
                    if (SsmInvocationStates.IsTerminal(invocation.Status, invocation.StatusDetails) && command.Take(invocation.InstanceId))
                    {
                        toRead.Add((command, invocation.InstanceId, invocation));
                    }
                }
            }

            finished = toRead.Count;
            await FinishAsync(toRead, lookup, emit, log, ct).ConfigureAwait(false);
            wait = throttled ? Grow(wait, 2.0)
                : finished > 0 ? _options.PollInitial
                : Grow(wait, 1.6);
        }
    }

    private TimeSpan Grow(TimeSpan wait, double factor) => TimeSpan.FromTicks(Math.Min(_options.PollMax.Ticks, (long)(wait.Ticks * factor)));

    /// <summary>Between 75% and 125% of <paramref name="wait"/>, so that many clients do not poll in step.</summary>
    private static TimeSpan Jitter(TimeSpan wait) => TimeSpan.FromTicks((long)(wait.Ticks * (0.75 + (Random.Shared.NextDouble() * 0.5))));

    private async Task<List<SsmInvocationStatus>> ListAllAsync(SentCommand command, Action<string> log, CancellationToken ct)
    {
        var all = new List<SsmInvocationStatus>();
        string? token = null;
        do
        {
            string? current = token;
            var page = await WithThrottleRetryAsync("ListCommandInvocations", command.CommandId, c => _ssm.ListCommandInvocationsAsync(command.CommandId, current, c), log, ct).ConfigureAwait(false);
            all.AddRange(page.Invocations);
            if (page.NextToken is not null && page.NextToken == token)
            {
                throw new AwsApiException(AwsErrorKind.Service, "ListCommandInvocations returned the same NextToken twice; stopping to avoid a loop.", operation: "ListCommandInvocations");
            }

            token = page.NextToken;
        }
        while (token is not null);
        return all;
    }

    private async Task FinishAsync(List<(SentCommand Command, string InstanceId, SsmInvocationStatus Invocation)> finished, MetadataOptionsLookup lookup, Action<SsmInstanceResult> emit, Action<string> log, CancellationToken ct)
    {
        if (finished.Count == 0)
        {
            return;
        }

        using var readers = new SemaphoreSlim(Math.Max(1, _options.OutputReaders));
        var tasks = finished.Select(async f =>
        {
            await readers.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                emit(await FinishOneAsync(f.Command, f.InstanceId, f.Invocation, lookup, log, ct).ConfigureAwait(false));
            }
            finally
            {
                readers.Release();
            }
        }).ToList();
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private async Task<SsmInstanceResult> FinishOneAsync(SentCommand command, string id, SsmInvocationStatus invocation, MetadataOptionsLookup lookup, Action<string> log, CancellationToken ct)
    {
        var outcome = SsmInvocationStates.OutcomeOf(invocation.Status, invocation.StatusDetails);
        if (outcome is not (SsmInstanceOutcome.Diagnosed or SsmInstanceOutcome.CommandFailed))
        {
            return Failure(command.CommandId, id, outcome, invocation.Status, invocation.StatusDetails, null, null);
        }

        SsmInvocationResult result;
        try
        {
            result = await ReadInvocationAsync(command.CommandId, id, log, ct).ConfigureAwait(false);
        }
        catch (AwsApiException ex)
        {
            return new SsmInstanceResult(id, ex.Kind == AwsErrorKind.Throttled ? SsmInstanceOutcome.Throttled : SsmInstanceOutcome.RequestFailed,
                $"GetCommandInvocation for {id} (command {command.CommandId}) failed: {ex.Message}")
            {
                CommandId = command.CommandId,
                Status = invocation.Status,
                StatusDetails = invocation.StatusDetails,
                Error = ex,
            };
        }

        outcome = SsmInvocationStates.OutcomeOf(result.Status ?? invocation.Status, result.StatusDetails ?? invocation.StatusDetails);
        if (outcome != SsmInstanceOutcome.Diagnosed)
        {
            return Failure(command.CommandId, id, outcome, result.Status ?? invocation.Status, result.StatusDetails ?? invocation.StatusDetails, result.ResponseCode, result.StandardError);
        }

        DiagnosisInput input;
        IReadOnlyList<ImdsFinding> findings;
        try
        {
            input = (_options.Parser ?? CollectorOutputParser.Parse)(result.StandardOutput ?? string.Empty, id);
            input = lookup.Merge(input, id, _options.Region);
            findings = DiagnosisEngine.Analyze(input);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The parser is meant never to throw; if it does, this instance fails and the fleet goes on.
            return new SsmInstanceResult(id, SsmInstanceOutcome.AnalysisFailed, $"The collector's output from {id} ({(result.StandardOutput ?? string.Empty).Length} characters) could not be analyzed: {ex.Message}")
            {
                CommandId = command.CommandId,
                Status = result.Status,
                StatusDetails = result.StatusDetails,
                ResponseCode = result.ResponseCode,
            };
        }

        return new SsmInstanceResult(id, SsmInstanceOutcome.Diagnosed, $"Diagnosed through SSM command {command.CommandId}.")
        {
            CommandId = command.CommandId,
            Status = result.Status,
            StatusDetails = result.StatusDetails,
            ResponseCode = result.ResponseCode,
            Input = input,
            Findings = findings,
        };
    }

    /// <summary>GetCommandInvocation, waiting out throttling and the short while after a command in which SSM may not know the invocation yet.</summary>
    private async Task<SsmInvocationResult> ReadInvocationAsync(string commandId, string id, Action<string> log, CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await WithThrottleRetryAsync("GetCommandInvocation", id, c => _ssm.GetCommandInvocationAsync(commandId, id, c), log, ct).ConfigureAwait(false);
            }
            catch (AwsApiException ex) when (ex.ErrorCode == InvocationDoesNotExistCode && attempt < 3)
            {
                await Task.Delay(Jitter(_options.PollInitial), ct).ConfigureAwait(false);
            }
        }
    }

    private static SsmInstanceResult Failure(string commandId, string id, SsmInstanceOutcome outcome, string? status, string? details, int? responseCode, string? stderr)
    {
        string statusText = details is { Length: > 0 } && details != status ? $"{status} ({details})" : status ?? "unknown";
        string gist = Gist(stderr);
        string message = outcome switch
        {
            SsmInstanceOutcome.NotManaged => $"SSM could not deliver command {commandId} to {id} ({statusText}): the instance is not a managed node, its SSM Agent is offline, or it stopped.",
            SsmInstanceOutcome.InvalidPlatform => $"{id} cannot run AWS-RunShellScript ({statusText}): it is not a Linux instance (Windows instances are not diagnosed by this module).",
            SsmInstanceOutcome.TimedOut => $"Command {commandId} timed out on {id} ({statusText}): the instance did not take the command in time, or the collector did not finish.",
            SsmInstanceOutcome.Cancelled => $"Command {commandId} was cancelled on {id} ({statusText})" + (details is "Terminated" ? ": the command reached its MaxErrors and SSM stopped sending it." : "."),
            SsmInstanceOutcome.RequestFailed => $"SSM refused to run command {commandId} on {id} ({statusText}).",
            _ => $"The collector failed on {id} ({statusText}, response code {(responseCode?.ToString(CultureInfo.InvariantCulture) ?? "unknown")})" + (gist.Length > 0 ? ": " + gist : "."),
        };
        return new SsmInstanceResult(id, outcome, message)
        {
            CommandId = commandId,
            Status = status,
            StatusDetails = details,
            ResponseCode = responseCode,
            ErrorGist = gist.Length > 0 ? gist : null,
        };
    }

    /// <summary>The first lines of standard error, at most 300 characters, control characters removed.</summary>
    internal static string Gist(string? stderr)
    {
        if (string.IsNullOrWhiteSpace(stderr))
        {
            return string.Empty;
        }

        var lines = stderr.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(3);
        string text = new string(string.Join(" | ", lines).Select(c => char.IsControl(c) ? ' ' : c).ToArray());
        return text.Length <= 300 ? text : text.Substring(0, 297) + "...";
    }

    // ---------- Throttling ----------

    private async Task<T> WithThrottleRetryAsync<T>(string operation, string subject, Func<CancellationToken, Task<T>> call, Action<string> log, CancellationToken ct)
    {
        TimeSpan wait = _options.ThrottleInitialWait;
        for (int attempt = 0; ; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            _calls.AddOrUpdate(operation, 1, (_, n) => n + 1);
            try
            {
                return await call(ct).ConfigureAwait(false);
            }
            catch (AwsApiException ex) when (ex.Kind == AwsErrorKind.Throttled && attempt < _options.MaxThrottleRetries)
            {
                Interlocked.Increment(ref _throttles);
                TimeSpan jittered = Jitter(wait);
                log($"{operation} ({subject}) was throttled ({ex.ErrorCode}); retry {attempt + 1} of {_options.MaxThrottleRetries} in {jittered.TotalSeconds:0.0} s.");
                await Task.Delay(jittered, ct).ConfigureAwait(false);
                wait = TimeSpan.FromTicks(Math.Min(_options.ThrottleMaxWait.Ticks, wait.Ticks * 2));
            }
        }
    }

    // ---------- Metadata options ----------

    private async Task<MetadataOptionsLookup> ReadMetadataOptionsAsync(List<string> ids, Action<string> log, CancellationToken ct)
    {
        if (_ec2 is null)
        {
            return new MetadataOptionsLookup(null, null, _options.MetadataOptionsUnavailable ?? "the EC2 API was not asked");
        }

        var reader = new MetadataOptionsReader(_ec2);
        var found = new Dictionary<string, ImdsMetadataOption>(StringComparer.Ordinal);
        var notFound = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await foreach (var page in reader.ReadByIdsAsync(ids, Array.Empty<Ec2Filter>(), ct).ConfigureAwait(false))
            {
                foreach (var item in page.Items)
                {
                    found[item.InstanceId] = item;
                }

                notFound.UnionWith(page.NotFound);
            }
        }
        catch (AwsApiException ex)
        {
            log($"The metadata options could not be read: {ex.Message}");
            return new MetadataOptionsLookup(null, null, $"the EC2 API could not be asked: {ex.Message}");
        }

        log($"Read the metadata options of {found.Count} instance(s) with {reader.Calls} DescribeInstances call(s) ({_ec2.Connection.Region}).");
        return new MetadataOptionsLookup(found, notFound, null, _ec2.Connection.Region);
    }

    private sealed class MetadataOptionsLookup
    {
        public static readonly MetadataOptionsLookup None = new(null, null, "the EC2 API was not asked");

        private readonly Dictionary<string, ImdsMetadataOption>? _found;
        private readonly HashSet<string>? _notFound;
        private readonly string? _unavailable;
        private readonly string? _region;

        public MetadataOptionsLookup(Dictionary<string, ImdsMetadataOption>? found, HashSet<string>? notFound, string? unavailable, string? region = null)
        {
            _found = found;
            _notFound = notFound;
            _unavailable = unavailable;
            _region = region;
        }

        public DiagnosisInput Merge(DiagnosisInput input, string id, string? region)
        {
            string? knownRegion = input.Region ?? region ?? _region;
            if (_found is not null && _found.TryGetValue(id, out var options))
            {
                return input with { MetadataOptions = options, MetadataOptionsUnavailable = null, Region = knownRegion, InstanceId = input.InstanceId ?? id };
            }

            string reason = _unavailable
                ?? (_notFound?.Contains(id) == true ? $"DescribeInstances does not know {id} in {_region}" : $"DescribeInstances did not return {id}");
            return input with { MetadataOptions = null, MetadataOptionsUnavailable = input.MetadataOptionsUnavailable is null ? reason : input.MetadataOptionsUnavailable + "; " + reason, Region = knownRegion, InstanceId = input.InstanceId ?? id };
        }
    }

    /// <summary>The collector's lines as they go out: plain, or packed once (Auto) SSM refused the plain ones.</summary>
    private sealed class DeliveryState
    {
        private readonly string _script;
        private readonly CollectorDelivery _mode;
        private string _text;

        public DeliveryState(string script, CollectorDelivery mode)
        {
            _script = script;
            _mode = mode;
            IsPacked = mode == CollectorDelivery.Packed;
            _text = IsPacked ? Collector.Pack(script) : script;
            Commands = SplitLines(_text);
        }

        public bool IsPacked { get; private set; }

        public bool CanPack => _mode == CollectorDelivery.Auto && !IsPacked;

        public IReadOnlyList<string> Commands { get; private set; }

        public void Pack()
        {
            IsPacked = true;
            _text = Collector.Pack(_script);
            Commands = SplitLines(_text);
        }

        public string Describe() => IsPacked
            ? $"packed: {_text.Length} characters, {Commands.Count} lines, for a script of {_script.Length}"
            : $"{_text.Length} characters, {Commands.Count} lines";
    }

    /// <summary>One SendCommand and the instances of it that have not finished.</summary>
    private sealed class SentCommand
    {
        private readonly object _lock = new();
        private readonly HashSet<string> _pending;
        private readonly Dictionary<string, string?> _status = new(StringComparer.Ordinal);

        public SentCommand(string commandId, IReadOnlyList<string> instanceIds)
        {
            CommandId = commandId;
            InstanceIds = instanceIds;
            _pending = new HashSet<string>(instanceIds, StringComparer.Ordinal);
        }

        public string CommandId { get; }

        public IReadOnlyList<string> InstanceIds { get; }

        public bool HasPending
        {
            get
            {
                lock (_lock)
                {
                    return _pending.Count > 0;
                }
            }
        }

        public int PendingCount
        {
            get
            {
                lock (_lock)
                {
                    return _pending.Count;
                }
            }
        }

        public List<string> PendingIds()
        {
            lock (_lock)
            {
                return _pending.OrderBy(id => id, StringComparer.Ordinal).ToList();
            }
        }

        public bool IsPending(string id)
        {
            lock (_lock)
            {
                return _pending.Contains(id);
            }
        }

        public void Observe(string id, string? status)
        {
            lock (_lock)
            {
                _status[id] = status;
            }
        }

        public string? LastStatus(string id)
        {
            lock (_lock)
            {
                return _status.TryGetValue(id, out var s) ? s : null;
            }
        }

        public bool Take(string id)
        {
            lock (_lock)
            {
                return _pending.Remove(id);
            }
        }

        public List<string> TakeAllPending()
        {
            lock (_lock)
            {
                var all = _pending.ToList();
                _pending.Clear();
                return all;
            }
        }
    }
}
