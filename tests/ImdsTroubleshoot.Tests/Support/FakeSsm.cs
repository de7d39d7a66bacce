using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>What the fake does with a command sent to an instance.</summary>
public enum FakeSsmMode
{
    /// <summary>Really runs the script inside a lab namespace (CollectorRun), InProgress until it exits.</summary>
    Lab,

    /// <summary>A simulated instance: InProgress for <see cref="FakeSsmTarget.Duration"/>, then Success with recorded output.</summary>
    Recorded,

    /// <summary>Not a managed node: SendCommand fails for the whole request with InvalidInstanceId.</summary>
    NotManaged,

    /// <summary>Accepted, then Failed / Undeliverable (the agent never picks it up).</summary>
    Undeliverable,

    /// <summary>TimedOut / DeliveryTimedOut.</summary>
    DeliveryTimedOut,

    /// <summary>TimedOut / ExecutionTimedOut.</summary>
    ExecutionTimedOut,

    /// <summary>Failed / Failed with <see cref="FakeSsmTarget.ResponseCode"/> and <see cref="FakeSsmTarget.Stderr"/>.</summary>
    Failed,

    /// <summary>Failed / InvalidPlatform (a Windows instance given AWS-RunShellScript).</summary>
    InvalidPlatform,

    /// <summary>InProgress forever.</summary>
    NeverFinishes,
}

/// <summary>One instance the fake knows.</summary>
public sealed class FakeSsmTarget
{
    public required string InstanceId { get; init; }

    public FakeSsmMode Mode { get; init; }

    /// <summary>Lab: the namespace the script runs in, the uid it runs as, its environment.</summary>
    public string? Namespace { get; init; }

    public uint Uid { get; init; }

    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>Recorded: the collector output returned; Failed: what stdout had.</summary>
    public string Output { get; init; } = string.Empty;

    public string Stderr { get; init; } = string.Empty;

    public int ResponseCode { get; init; } = 1;

    /// <summary>How long a simulated invocation stays InProgress.</summary>
    public TimeSpan Duration { get; init; }
}

/// <summary>One request the fake received.</summary>
public sealed record FakeSsmCall(DateTimeOffset Time, string Operation, IReadOnlyList<string> InstanceIds, string? CommandId, int Status, string? ErrorCode, string? AccessKeyId, string UserAgent);

/// <summary>One SendCommand the fake accepted.</summary>
public sealed record FakeSsmCommand(string CommandId, IReadOnlyList<string> InstanceIds, string Script, int TimeoutSeconds, string? ExecutionTimeout, string? MaxConcurrency, string? MaxErrors, string? Comment);

/// <summary>
/// A loopback SSM endpoint speaking SSM's JSON 1.1 protocol (POST, X-Amz-Target: AmazonSSM.&lt;Operation&gt;, errors as
/// {"__type": ..., "message": ...} with status 400): SendCommand (AWS-RunShellScript), ListCommandInvocations (paged),
/// GetCommandInvocation and CancelCommand. Instances map to targets: a lab namespace where the script really runs, a simulated
/// instance with recorded output, or a failure mode. Every call is recorded; throttling can be injected on a schedule.
/// </summary>
public sealed class FakeSsm : IDisposable
{
    public const string RunShellScript = "AWS-RunShellScript";

    private readonly LoopbackHttpServer _server;
    private readonly object _lock = new();
    private readonly Dictionary<string, FakeSsmTarget> _targets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CommandState> _commands = new(StringComparer.Ordinal);
    private readonly List<string> _commandOrder = new();
    private readonly ConcurrentQueue<FakeSsmCall> _calls = new();
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _throttleEvery = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _throttleNext = new(StringComparer.Ordinal);
    private int _throttled;

    public FakeSsm()
    {
        _server = new LoopbackHttpServer(HandleAsync);
        Url = _server.Url;
    }

    public Uri Url { get; }

    /// <summary>Whether SendCommand's InvalidInstanceId message names the refused instances (real SSM's wording varies).</summary>
    public bool NameUnmanagedInstances { get; set; } = true;

    /// <summary>Operations answered with AccessDeniedException.</summary>
    public HashSet<string> DeniedOperations { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// A size limit on the "commands" parameter (characters of the joined script) and the error SendCommand answers
    /// with above it. Real SSM's limit and error are not documented; the module must cope with any of the likely ones.
    /// </summary>
    public (int MaxCharacters, string ErrorCode)? CommandsLimit { get; set; }

    /// <summary>How long SendCommand's answer takes after the command was created.</summary>
    public TimeSpan SendCommandDelay { get; set; }

    /// <summary>How long a lab script may run before the fake reports ExecutionTimedOut.</summary>
    public TimeSpan LabTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>The lab runs' results (exit code, stdout, stderr), in the order they finished.</summary>
    public ConcurrentQueue<ProcessResult> LabRuns { get; } = new();

    public int ThrottledCount => Volatile.Read(ref _throttled);

    public IReadOnlyList<FakeSsmCall> Calls => _calls.ToArray();

    public int Count(string operation) => _counts.TryGetValue(operation, out int n) ? n : 0;

    public IReadOnlyList<FakeSsmCommand> Commands
    {
        get
        {
            lock (_lock)
            {
                return _commandOrder.Select(id => _commands[id].Command).ToList();
            }
        }
    }

    public void Add(FakeSsmTarget target)
    {
        lock (_lock)
        {
            _targets[target.InstanceId] = target;
        }
    }

    public FakeSsmTarget AddLab(string instanceId, string ns, uint uid = 0, IReadOnlyDictionary<string, string>? environment = null)
    {
        var t = new FakeSsmTarget { InstanceId = instanceId, Mode = FakeSsmMode.Lab, Namespace = ns, Uid = uid, Environment = environment };
        Add(t);
        return t;
    }

    public FakeSsmTarget AddRecorded(string instanceId, string output, TimeSpan duration = default)
    {
        var t = new FakeSsmTarget { InstanceId = instanceId, Mode = FakeSsmMode.Recorded, Output = output, Duration = duration };
        Add(t);
        return t;
    }

    public FakeSsmTarget AddFailing(string instanceId, FakeSsmMode mode, int responseCode = 1, string stderr = "", TimeSpan duration = default)
    {
        var t = new FakeSsmTarget { InstanceId = instanceId, Mode = mode, ResponseCode = responseCode, Stderr = stderr, Duration = duration };
        Add(t);
        return t;
    }

    /// <summary>Every <paramref name="n"/>th call of <paramref name="operation"/> gets ThrottlingException.</summary>
    public void ThrottleEvery(string operation, int n)
    {
        lock (_lock)
        {
            _throttleEvery[operation] = n;
        }
    }

    /// <summary>The next <paramref name="count"/> calls of <paramref name="operation"/> get ThrottlingException.</summary>
    public void ThrottleNext(string operation, int count)
    {
        lock (_lock)
        {
            _throttleNext[operation] = count;
        }
    }

    private readonly record struct Answer(int Status, string Body, string? ErrorCode, IReadOnlyList<string>? InstanceIds = null, string? CommandId = null);

    private async Task HandleAsync(HttpListenerContext context)
    {
        string body = await LoopbackHttpServer.ReadBodyAsync(context).ConfigureAwait(false);
        string target = context.Request.Headers["X-Amz-Target"] ?? string.Empty;
        string operation = target.StartsWith("AmazonSSM.", StringComparison.Ordinal) ? target.Substring("AmazonSSM.".Length) : target;
        string? accessKey = Regex.Match(context.Request.Headers["Authorization"] ?? string.Empty, @"Credential=([^/\s,]+)/") is { Success: true } m ? m.Groups[1].Value : null;
        int n = _counts.AddOrUpdate(operation, 1, (_, c) => c + 1);
        Answer answer;
        try
        {
            answer = Process(operation, n, context.Request.ContentType, body);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            answer = Error("SerializationException", "Could not read the request: " + ex.Message);
        }

        if (operation == "SendCommand" && SendCommandDelay > TimeSpan.Zero)
        {
            // The command exists (ListCommandInvocations knows it) before its answer reaches the client.
            await Task.Delay(SendCommandDelay).ConfigureAwait(false);
        }

        _calls.Enqueue(new FakeSsmCall(DateTimeOffset.UtcNow, operation, answer.InstanceIds ?? Array.Empty<string>(), answer.CommandId, answer.Status, answer.ErrorCode, accessKey, context.Request.UserAgent ?? string.Empty));
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        if (answer.ErrorCode is not null)
        {
            context.Response.Headers["x-amzn-ErrorType"] = answer.ErrorCode;
        }

        await LoopbackHttpServer.RespondAsync(context, answer.Status, "application/x-amz-json-1.1", answer.Body).ConfigureAwait(false);
    }

    private static Answer Error(string code, string message, int status = 400, IReadOnlyList<string>? ids = null) =>
        new(status, JsonSerializer.Serialize(new Dictionary<string, string> { ["__type"] = code, ["message"] = message }), code, ids);

    private Answer Process(string operation, int callNumber, string? contentType, string body)
    {
        if (contentType is null || !contentType.StartsWith("application/x-amz-json-1.1", StringComparison.Ordinal))
        {
            return Error("UnknownOperationException", "Content-Type must be application/x-amz-json-1.1");
        }

        if (TakeThrottle(operation, callNumber))
        {
            Interlocked.Increment(ref _throttled);
            return Error("ThrottlingException", "Rate exceeded");
        }

        if (DeniedOperations.Contains(operation))
        {
            return Error("AccessDeniedException", $"User: arn:aws:iam::123456789012:user/test is not authorized to perform: ssm:{operation} because no identity-based policy allows the ssm:{operation} action");
        }

        using var doc = JsonDocument.Parse(body.Length == 0 ? "{}" : body);
        var root = doc.RootElement;
        return operation switch
        {
            "SendCommand" => Send(root),
            "ListCommandInvocations" => List(root),
            "GetCommandInvocation" => Get(root),
            "CancelCommand" => Cancel(root),
            _ => Error("UnknownOperationException", $"Unknown operation {operation}"),
        };
    }

    private bool TakeThrottle(string operation, int callNumber)
    {
        lock (_lock)
        {
            if (_throttleNext.TryGetValue(operation, out int next) && next > 0)
            {
                _throttleNext[operation] = next - 1;
                return true;
            }

            return _throttleEvery.TryGetValue(operation, out int every) && every > 0 && callNumber % every == 0;
        }
    }

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private Answer Send(JsonElement root)
    {
        var ids = root.TryGetProperty("InstanceIds", out var idsElement) ? idsElement.EnumerateArray().Select(x => x.GetString() ?? string.Empty).ToList() : new List<string>();
        if (ids.Count == 0)
        {
            return Error("ValidationException", "Either InstanceIds or Targets must be given.", ids: ids);
        }

        if (ids.Count > 50)
        {
            return Error("ValidationException", $"1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50 (got {ids.Count})", ids: ids);
        }

        if (Str(root, "DocumentName") != RunShellScript)
        {
            return Error("InvalidDocument", "Document " + Str(root, "DocumentName") + " does not exist in your account", ids: ids);
        }

        if (!root.TryGetProperty("Parameters", out var parameters) || !parameters.TryGetProperty("commands", out var commands) || commands.GetArrayLength() == 0)
        {
            return Error("InvalidParameters", "Parameter \"commands\" is required.", ids: ids);
        }

        int timeout = root.TryGetProperty("TimeoutSeconds", out var t) ? t.GetInt32() : 3600;
        if (timeout is < 30 or > 2592000)
        {
            return Error("ValidationException", $"1 validation error detected: Value '{timeout}' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000", ids: ids);
        }

        string? maxConcurrency = Str(root, "MaxConcurrency");
        string? maxErrors = Str(root, "MaxErrors");
        if (maxConcurrency is not null && !Regex.IsMatch(maxConcurrency, "^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$"))
        {
            return Error("ValidationException", $"Value '{maxConcurrency}' at 'maxConcurrency' failed to satisfy constraint", ids: ids);
        }

        if (maxErrors is not null && !Regex.IsMatch(maxErrors, "^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$"))
        {
            return Error("ValidationException", $"Value '{maxErrors}' at 'maxErrors' failed to satisfy constraint", ids: ids);
        }

        string? comment = Str(root, "Comment");
        if (comment is { Length: > 100 })
        {
            return Error("ValidationException", "Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100", ids: ids);
        }

        string? executionTimeout = parameters.TryGetProperty("executionTimeout", out var et) && et.GetArrayLength() > 0 ? et[0].GetString() : null;
        string script = string.Join("\n", commands.EnumerateArray().Select(x => x.GetString()));
        if (CommandsLimit is { } limit && script.Length > limit.MaxCharacters)
        {
            return Error(limit.ErrorCode, limit.ErrorCode switch
            {
                "MaxDocumentSizeExceeded" => "The size limit of a document is 64 KB.",
                "ValidationException" => $"1 validation error detected: Value at 'parameters' failed to satisfy constraint: Member must have length less than or equal to {limit.MaxCharacters}",
                _ => "Parameter \"commands\" is too large.",
            }, ids: ids);
        }
        string commandId;
        CommandState state;
        lock (_lock)
        {
            var unmanaged = ids.Where(id => !_targets.TryGetValue(id, out var target) || target.Mode == FakeSsmMode.NotManaged).Distinct().ToList();
            if (unmanaged.Count > 0)
            {
                return Error("InvalidInstanceId", NameUnmanagedInstances
                    ? $"Instances [[{string.Join(", ", unmanaged)}]] not in a valid state for account 123456789012"
                    : "The following scenarios can result in this error message: the instance is not managed by SSM, is not running, or is not in a valid state.", ids: ids);
            }

            commandId = Guid.NewGuid().ToString();
            state = new CommandState(new FakeSsmCommand(commandId, ids, script, timeout, executionTimeout, maxConcurrency, maxErrors, comment));
            foreach (string id in ids.Distinct())
            {
                state.Invocations[id] = new Invocation(_targets[id], DateTimeOffset.UtcNow);
            }

            _commands[commandId] = state;
            _commandOrder.Add(commandId);
        }

        foreach (var invocation in state.Invocations.Values.Where(i => i.Target.Mode == FakeSsmMode.Lab))
        {
            StartLab(invocation, script);
        }

        var answer = new Dictionary<string, object?>
        {
            ["Command"] = new Dictionary<string, object?>
            {
                ["CommandId"] = commandId,
                ["DocumentName"] = RunShellScript,
                ["InstanceIds"] = ids,
                ["Status"] = "Pending",
                ["TimeoutSeconds"] = timeout,
                ["MaxConcurrency"] = maxConcurrency ?? "50",
                ["MaxErrors"] = maxErrors ?? "0",
                ["TargetCount"] = ids.Count,
            },
        };
        return new Answer(200, JsonSerializer.Serialize(answer), null, ids, commandId);
    }

    private void StartLab(Invocation invocation, string script)
    {
        var target = invocation.Target;
        TimeSpan limit = LabTimeout;
        invocation.Lab = Task.Run(() =>
        {
            var result = CollectorRun.Run(target.Namespace!, script, target.Uid, target.Environment, limit);
            LabRuns.Enqueue(result);
            return result;
        });
    }

    private Answer List(JsonElement root)
    {
        string? commandId = Str(root, "CommandId");
        string? instanceId = Str(root, "InstanceId");
        int max = root.TryGetProperty("MaxResults", out var mr) ? mr.GetInt32() : 50;
        if (max is < 1 or > 50)
        {
            return Error("ValidationException", "Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 50");
        }

        int offset = 0;
        if (Str(root, "NextToken") is { Length: > 0 } token)
        {
            if (!int.TryParse(token.Replace("page-", string.Empty, StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out offset) || !token.StartsWith("page-", StringComparison.Ordinal))
            {
                return Error("InvalidNextToken", "The specified token isn't valid.");
            }
        }

        List<(string Id, Invocation Invocation)> all;
        lock (_lock)
        {
            if (commandId is null || !_commands.TryGetValue(commandId, out var state))
            {
                return Error("InvalidCommandId", "Invalid command ID " + commandId, ids: instanceId is null ? null : new[] { instanceId });
            }

            all = state.Invocations.Where(kv => instanceId is null || kv.Key == instanceId).Select(kv => (kv.Key, kv.Value)).ToList();
        }

        var slice = all.Skip(offset).Take(max).ToList();
        var invocations = slice.Select(x =>
        {
            var (status, details) = x.Invocation.StatusNow();
            return new Dictionary<string, object?>
            {
                ["CommandId"] = commandId,
                ["InstanceId"] = x.Id,
                ["DocumentName"] = RunShellScript,
                ["Status"] = status,
                ["StatusDetails"] = details,
            };
        }).ToList();
        var answer = new Dictionary<string, object?> { ["CommandInvocations"] = invocations };
        if (offset + slice.Count < all.Count)
        {
            answer["NextToken"] = "page-" + (offset + slice.Count).ToString(CultureInfo.InvariantCulture);
        }

        return new Answer(200, JsonSerializer.Serialize(answer), null, slice.Select(s => s.Id).ToList(), commandId);
    }

    private Answer Get(JsonElement root)
    {
        string? commandId = Str(root, "CommandId");
        string? instanceId = Str(root, "InstanceId");
        Invocation? invocation = null;
        lock (_lock)
        {
            if (commandId is not null && instanceId is not null && _commands.TryGetValue(commandId, out var state))
            {
                state.Invocations.TryGetValue(instanceId, out invocation);
            }
        }

        var ids = instanceId is null ? null : new[] { instanceId };
        if (invocation is null)
        {
            return Error("InvocationDoesNotExist", "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation operation", ids: ids);
        }

        var (status, details) = invocation.StatusNow();
        var (stdout, stderr, code) = invocation.OutputNow();
        var answer = new Dictionary<string, object?>
        {
            ["CommandId"] = commandId,
            ["InstanceId"] = instanceId,
            ["DocumentName"] = RunShellScript,
            ["PluginName"] = "aws:runShellScript",
            ["ResponseCode"] = code,
            ["Status"] = status,
            ["StatusDetails"] = details,
            ["StandardOutputContent"] = Truncate(stdout, 24_000),
            ["StandardErrorContent"] = Truncate(stderr, 8_000),
        };
        return new Answer(200, JsonSerializer.Serialize(answer), null, ids, commandId);
    }

    /// <summary>CancelCommand: the named invocations (all when none are named) that are still running become Cancelled.</summary>
    private Answer Cancel(JsonElement root)
    {
        string? commandId = Str(root, "CommandId");
        var ids = root.TryGetProperty("InstanceIds", out var idsElement) ? idsElement.EnumerateArray().Select(x => x.GetString() ?? string.Empty).ToList() : null;
        lock (_lock)
        {
            if (commandId is null || !_commands.TryGetValue(commandId, out var state))
            {
                return Error("InvalidCommandId", "Invalid command ID " + commandId, ids: ids);
            }

            if (ids is not null && ids.FirstOrDefault(id => !state.Invocations.ContainsKey(id)) is { } unknown)
            {
                return Error("InvalidInstanceId", $"Instance {unknown} is not a target of command {commandId}", ids: ids);
            }

            var named = ids ?? state.Invocations.Keys.ToList();
            foreach (string id in named)
            {
                state.Invocations[id].Cancel();
            }

            return new Answer(200, "{}", null, named, commandId);
        }
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text.Substring(0, max);

    public void Dispose()
    {
        _server.Dispose();
        Task[] labs;
        lock (_lock)
        {
            labs = _commands.Values.SelectMany(c => c.Invocations.Values).Select(i => i.Lab).OfType<Task>().ToArray();
        }

        // Lab scripts are bounded by LabTimeout; wait for them so that no process outlives the test's namespace.
        Task.WaitAll(labs, LabTimeout + TimeSpan.FromSeconds(10));
    }

    private sealed class CommandState
    {
        public CommandState(FakeSsmCommand command) => Command = command;

        public FakeSsmCommand Command { get; }

        public Dictionary<string, Invocation> Invocations { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Invocation
    {
        public Invocation(FakeSsmTarget target, DateTimeOffset sent)
        {
            Target = target;
            Sent = sent;
        }

        public FakeSsmTarget Target { get; }

        public DateTimeOffset Sent { get; }

        public Task<ProcessResult>? Lab { get; set; }

        /// <summary>Set by CancelCommand while the invocation was running (a lab script runs on to its bound, unread).</summary>
        public bool Cancelled { get; private set; }

        public void Cancel() => Cancelled = Cancelled || RunningNow;

        private bool RunningNow => Target.Mode == FakeSsmMode.NeverFinishes
            || (Target.Mode == FakeSsmMode.Lab ? Lab is { IsCompleted: false } : DateTimeOffset.UtcNow - Sent < Target.Duration);

        private bool Running => !Cancelled && RunningNow;

        public (string Status, string Details) StatusNow()
        {
            if (Running)
            {
                return DateTimeOffset.UtcNow - Sent < TimeSpan.FromMilliseconds(100) ? ("Pending", "Pending") : ("InProgress", "InProgress");
            }

            if (Cancelled)
            {
                return ("Cancelled", "Cancelled");
            }

            return Target.Mode switch
            {
                FakeSsmMode.Lab when Lab!.Result.TimedOut => ("TimedOut", "ExecutionTimedOut"),
                FakeSsmMode.Lab => Lab!.Result.ExitCode == 0 ? ("Success", "Success") : ("Failed", "Failed"),
                FakeSsmMode.Recorded => ("Success", "Success"),
                FakeSsmMode.Undeliverable => ("Failed", "Undeliverable"),
                FakeSsmMode.DeliveryTimedOut => ("TimedOut", "DeliveryTimedOut"),
                FakeSsmMode.ExecutionTimedOut => ("TimedOut", "ExecutionTimedOut"),
                FakeSsmMode.InvalidPlatform => ("Failed", "InvalidPlatform"),
                _ => ("Failed", "Failed"),
            };
        }

        public (string Stdout, string Stderr, int Code) OutputNow()
        {
            if (Running || Cancelled)
            {
                return (string.Empty, string.Empty, -1);
            }

            return Target.Mode switch
            {
                FakeSsmMode.Lab => (Lab!.Result.Stdout, Lab.Result.Stderr, Lab.Result.TimedOut ? -1 : Lab.Result.ExitCode),
                FakeSsmMode.Recorded => (Target.Output, Target.Stderr, 0),
                FakeSsmMode.Failed => (Target.Output, Target.Stderr, Target.ResponseCode),
                _ => (string.Empty, string.Empty, -1),
            };
        }
    }
}
