using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Ec2;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>Why a host could not be diagnosed over SSH.</summary>
public enum SshFailureKind
{
    /// <summary>No ssh client (OpenSSH) on this machine.</summary>
    ClientNotFound,

    /// <summary>"Permission denied": the key was refused, or no key was offered.</summary>
    AuthenticationFailed,

    /// <summary>ssh refused to use the key file (permissions too open, unreadable, wrong format).</summary>
    KeyFileRejected,

    ConnectionRefused,

    /// <summary>The TCP connection or the SSH handshake did not finish within ConnectTimeout (a dropping firewall, a down host).</summary>
    ConnectTimeout,

    /// <summary>No route to the host, network unreachable.</summary>
    HostUnreachable,

    /// <summary>The host name does not resolve.</summary>
    HostNameNotResolved,

    /// <summary>The host's key is not in known_hosts (and the policy is strict).</summary>
    HostKeyUnknown,

    /// <summary>The host's key differs from the one in known_hosts: possibly a different machine, possibly an attack.</summary>
    HostKeyChanged,

    /// <summary>sudo -n needs a password (or may not run sh) on the host.</summary>
    SudoPasswordRequired,

    /// <summary>The remote command failed before printing anything (no sh, no sudo, a restricted shell).</summary>
    RemoteCommandFailed,

    /// <summary>The whole run did not finish within its bound.</summary>
    Timeout,

    /// <summary>ssh failed in another way; its message says how.</summary>
    Failed,
}

public sealed class SshFailure
{
    public SshFailure(SshFailureKind kind, string message, string? detail = null)
    {
        Kind = kind;
        Message = message;
        Detail = detail;
    }

    public SshFailureKind Kind { get; }

    /// <summary>What happened and what to do, in one or two sentences.</summary>
    public string Message { get; }

    /// <summary>ssh's own stderr, shortened (host names, user names and paths; never key material).</summary>
    public string? Detail { get; }

    public override string ToString() => Kind + ": " + Message;
}

/// <summary>One host's outcome: findings (the same objects as a local diagnosis, Target = the host) or a typed failure.</summary>
public sealed class SshHostResult
{
    public required SshTarget Target { get; init; }

    public IReadOnlyList<ImdsFinding> Findings { get; init; } = Array.Empty<ImdsFinding>();

    public DiagnosisInput? Input { get; init; }

    public SshFailure? Failure { get; init; }

    /// <summary>ssh was stopped after <see cref="SshDiagnosisOptions.OutputCapBytes"/> of output (the findings say the evidence is incomplete).</summary>
    public bool OutputTruncated { get; init; }

    public TimeSpan Elapsed { get; init; }

    public bool Succeeded => Failure is null;
}

/// <summary>
/// Runs the collector on hosts with the system's OpenSSH client (<c>ssh ... -- host sh -s</c>, the script on stdin),
/// parses what it prints (data, never executed) and analyzes it with the same engine as a local diagnosis.
/// Several hosts run at once up to <see cref="SshDiagnosisOptions.ThrottleLimit"/>; each result is handed over as soon as it is known.
/// </summary>
public sealed class SshDiagnosis
{
    private readonly SshDiagnosisOptions _options;
    private readonly ISshProcessRunner _runner;
    private readonly string _client;
    private readonly Lazy<string> _script;

    /// <summary>Throws FileNotFoundException when no ssh client is found (nothing is started).</summary>
    public SshDiagnosis(SshDiagnosisOptions options, ISshProcessRunner? runner = null)
        : this(options, runner, null)
    {
    }

    /// <summary>Tests send their own script (output over the cap, a failing command) through the same transport.</summary>
    internal SshDiagnosis(SshDiagnosisOptions options, ISshProcessRunner? runner, string? script)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ThrottleLimit is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ThrottleLimit, "ThrottleLimit is 1..64.");
        }

        _options = options;
        _runner = runner ?? SshProcessRunner.Instance;
        _client = SshCommandLine.FindClient(options.SshClientPath)
            ?? throw new FileNotFoundException(options.SshClientPath is null
                ? "No ssh client was found on PATH. Install OpenSSH's client (Debian/Ubuntu: openssh-client; Amazon Linux/RHEL: openssh-clients; Windows: the OpenSSH Client optional feature)."
                : $"The ssh client '{options.SshClientPath}' does not exist.", options.SshClientPath ?? "ssh");
        _script = new Lazy<string>(() => script ?? Collector.Build(options.Collector), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The ssh client that is run.</summary>
    public string Client => _client;

    public IReadOnlyList<string> ArgumentsFor(SshTarget target) => SshCommandLine.Build(target, _options);

    /// <summary>Diagnoses every target, at most ThrottleLimit at once; <paramref name="completed"/> gets each result as it finishes (from a worker thread).</summary>
    public async Task RunManyAsync(IEnumerable<SshTarget> targets, Action<SshTarget>? started, Action<SshHostResult> completed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(completed);
        _ = _script.Value; // build once, before any process starts: a collector that cannot be built stops everything
        using var gate = new SemaphoreSlim(_options.ThrottleLimit, _options.ThrottleLimit);
        var running = new List<Task>();
        bool stopped = false;
        try
        {
            foreach (SshTarget target in targets)
            {
                await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                if (cancellationToken.IsCancellationRequested)
                {
                    // A running host that saw the cancellation first may have freed its slot for this one: start nothing.
                    gate.Release();
                    cancellationToken.ThrowIfCancellationRequested();
                }

                running.Add(Task.Run(
                    async () =>
                    {
                        try
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            started?.Invoke(target);
                            completed(await RunAsync(target, cancellationToken).ConfigureAwait(false));
                        }
                        finally
                        {
                            gate.Release();
                        }
                    },
                    CancellationToken.None));
            }
        }
        catch (OperationCanceledException)
        {
            stopped = true; // no new host starts; the running ones see the same token and stop too
        }

        try
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopped || cancellationToken.IsCancellationRequested)
        {
            stopped = true;
        }

        if (stopped)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    /// <summary>Diagnoses one host. Failures come back typed; only cancellation throws.</summary>
    public async Task<SshHostResult> RunAsync(SshTarget target, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        var request = new SshProcessRequest
        {
            FileName = _client,
            Arguments = ArgumentsFor(target),
            StandardInput = _script.Value,
            Timeout = _options.TotalTimeout,
            OutputCapBytes = _options.OutputCapBytes,
            ErrorCapChars = _options.ErrorCapChars,
        };
        SshProcessResult run;
        try
        {
            run = await _runner.RunAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException ex)
        {
            return new SshHostResult { Target = target, Failure = new SshFailure(SshFailureKind.ClientNotFound, ex.Message) };
        }

        SshHostResult result = Interpret(target, run);
        return result.Input is { } input ? await WithMetadataOptionsAsync(result, input, cancellationToken).ConfigureAwait(false) : result;
    }

    /// <summary>The host's findings with its metadata options from the EC2 API when asked, or with why they are not known.</summary>
    private async Task<SshHostResult> WithMetadataOptionsAsync(SshHostResult result, DiagnosisInput input, CancellationToken ct)
    {
        string? reason;
        ImdsMetadataOption? options = null;
        if (_options.ReadMetadataOptions is null)
        {
            reason = _options.MetadataOptionsUnavailable;
            if (reason is null)
            {
                return result;
            }
        }
        else if (input.InstanceId is null)
        {
            reason = "the host's IMDS could not say which instance it is: read them with Get-ImdsMetadataOption -InstanceId ID -Region REGION";
        }
        else
        {
            try
            {
                options = await _options.ReadMetadataOptions(input.InstanceId, input.Region, ct).ConfigureAwait(false);
                reason = options is null ? $"the EC2 API does not know {input.InstanceId}" : null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                reason = "the EC2 API could not be asked: " + ex.Message;
            }
        }

        input = input with { MetadataOptions = options, MetadataOptionsUnavailable = reason };
        return new SshHostResult
        {
            Target = result.Target,
            Input = input,
            Findings = DiagnosisEngine.Analyze(input).ToList(),
            OutputTruncated = result.OutputTruncated,
            Elapsed = result.Elapsed,
        };
    }

    /// <summary>What a finished ssh run means: findings from its output, or a typed failure.</summary>
    internal SshHostResult Interpret(SshTarget target, SshProcessResult run)
    {
        bool hasOutput = run.StandardOutput.Length > 0;
        if (!run.OutputTruncated && Classify(target, run) is { } failure)
        {
            return new SshHostResult { Target = target, Failure = failure, Elapsed = run.Elapsed };
        }

        var notes = new List<string>();
        if (run.OutputTruncated)
        {
            notes.Add($"The collector's output went past {_options.OutputCapBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes; ssh was stopped there and the rest was not read.");
        }
        else if (run.TimedOut)
        {
            notes.Add($"ssh was stopped after {_options.TotalTimeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s; the collector's output is incomplete.");
        }
        else if (run.ExitCode != 0 && hasOutput)
        {
            notes.Add($"The collector exited with status {run.ExitCode.ToString(CultureInfo.InvariantCulture)}" + (Short(run.StandardError) is { Length: > 0 } err ? ": " + err : "."));
        }

        DiagnosisInput input = CollectorOutputParser.Parse(run.StandardOutput, target.HostName);
        if (notes.Count > 0)
        {
            input = input with { CollectionNotes = input.CollectionNotes.Concat(notes).ToArray() };
        }

        return new SshHostResult
        {
            Target = target,
            Input = input,
            Findings = DiagnosisEngine.Analyze(input).ToList(),
            OutputTruncated = run.OutputTruncated,
            Elapsed = run.Elapsed,
        };
    }

    /// <summary>The failure a run without usable output stands for, or null when its output should be parsed.</summary>
    internal SshFailure? Classify(SshTarget target, SshProcessResult run)
    {
        string err = run.StandardError;
        string detail = Short(err);
        string host = target.Display;
        bool has(string text) => err.Contains(text, StringComparison.OrdinalIgnoreCase);
        string seconds(TimeSpan t) => t.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);

        if (run.TimedOut)
        {
            return run.StandardOutput.Length > 0 ? null : new SshFailure(SshFailureKind.Timeout,
                $"ssh to {host} did not finish within {seconds(_options.TotalTimeout)} s (connect {seconds(_options.ConnectTimeout)} s + the collector's budget); it was stopped. Raise -TimeoutSec or -ConnectTimeoutSec if the host is slow.", detail);
        }

        if (run.ExitCode == 0)
        {
            return null;
        }

        if (run.ExitCode == 255)
        {
            if (has("REMOTE HOST IDENTIFICATION HAS CHANGED") || (has("Host key for") && has("has changed")))
            {
                return new SshFailure(SshFailureKind.HostKeyChanged,
                    $"The host key of {host} is not the one in known_hosts: it may be a replaced instance (a new instance behind the same name or address) or someone in between. Nothing was run. If the change is expected, remove the old key (ssh-keygen -R {target.HostName}) and verify the new one.", detail);
            }

            if (has("Host key verification failed") || (has("No ") && has("host key is known")))
            {
                return new SshFailure(SshFailureKind.HostKeyUnknown,
                    $"The host key of {host} is not known (not in known_hosts), so it cannot be verified and nothing was run. Add the key to known_hosts (verify it from the instance's console output), pass -KnownHostsFilePath, or pass -AcceptNewHostKey to trust a host seen for the first time.", detail);
            }

            if (has("UNPROTECTED PRIVATE KEY FILE") || has("bad permissions") || has("invalid format") || (has("Load key") && has("error")))
            {
                return new SshFailure(SshFailureKind.KeyFileRejected,
                    $"ssh would not use the key file for {host}: it must be a private key readable only by its owner (chmod 600) and in a format ssh reads.", detail);
            }

            if (has("Permission denied") || has("Too many authentication failures"))
            {
                return new SshFailure(SshFailureKind.AuthenticationFailed,
                    $"{host} refused the login (Permission denied): check -UserName (ec2-user, ubuntu, admin...) and -KeyFilePath (the instance's key pair); a key with a passphrase must be loaded into ssh-agent, since nothing prompts.", detail);
            }

            if (has("Connection refused"))
            {
                return new SshFailure(SshFailureKind.ConnectionRefused,
                    $"{host} refused the connection: nothing listens on the SSH port, or a firewall rejects it. Check sshd on the host, -Port, and the security group.", detail);
            }

            if (has("Connection timed out") || has("Operation timed out") || has("timed out during banner exchange"))
            {
                return new SshFailure(SshFailureKind.ConnectTimeout,
                    $"The connection to {host} timed out after {seconds(_options.ConnectTimeout)} s: the host is down or a firewall (security group, network ACL) drops the SSH traffic.", detail);
            }

            if (has("No route to host") || has("Network is unreachable"))
            {
                return new SshFailure(SshFailureKind.HostUnreachable, $"{host} is unreachable from here (no route): check the address and the VPC routing or VPN.", detail);
            }

            if (has("Could not resolve hostname") || has("Name or service not known") || has("Temporary failure in name resolution"))
            {
                return new SshFailure(SshFailureKind.HostNameNotResolved, $"The host name {target.HostName} does not resolve: check the name, or give an IP address.", detail);
            }

            if (run.StandardOutput.Length == 0)
            {
                return new SshFailure(SshFailureKind.Failed, $"ssh to {host} failed (exit 255)" + (detail.Length > 0 ? ": " + detail : "."), detail);
            }

            return null;
        }

        if (has("sudo:") && (has("password is required") || has("a terminal is required") || has("not allowed to execute") || has("is not in the sudoers")))
        {
            return new SshFailure(SshFailureKind.SudoPasswordRequired,
                $"sudo on {host} would not run the collector without a password (-Sudo uses 'sudo -n'): allow the user passwordless sudo for sh, or log in as root, or run without -Sudo (the firewall check then says it needs root).", detail);
        }

        if (run.StandardOutput.Length > 0)
        {
            return null;
        }

        string missing = run.ExitCode == 127 ? " (a command was not found: the collector needs sh" + (_options.Sudo ? " and sudo" : string.Empty) + " on the host)" : string.Empty;
        return new SshFailure(SshFailureKind.RemoteCommandFailed,
            $"The collector on {host} exited with status {run.ExitCode.ToString(CultureInfo.InvariantCulture)} without output{missing}.", detail);
    }

    /// <summary>ssh's stderr, one line, at most 400 characters, without control characters.</summary>
    internal static string Short(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("@@@", StringComparison.Ordinal) && !l.StartsWith("Warning: Permanently added", StringComparison.Ordinal));
        string joined = new string(string.Join(" | ", lines).Select(c => char.IsControl(c) ? ' ' : c).ToArray());
        return joined.Length > 400 ? joined[..400] + "…" : joined;
    }
}

/// <summary>A host's failure as an exception (for error records); the message says what happened and what to do.</summary>
public sealed class SshDiagnosisException : Exception
{
    public SshDiagnosisException(SshFailure failure)
        : base(failure?.Message)
    {
        ArgumentNullException.ThrowIfNull(failure);
        Failure = failure;
    }

    public SshFailure Failure { get; }
}
