using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Ec2;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>How a host's key is checked. Never "StrictHostKeyChecking no": an unverified host could feed us any evidence.</summary>
public enum SshHostKeyPolicy
{
    /// <summary>StrictHostKeyChecking=yes: the key must already be in known_hosts (the user's, or -KnownHostsFilePath); an unknown or changed key fails.</summary>
    Strict,

    /// <summary>StrictHostKeyChecking=accept-new: a host seen for the first time is trusted and its key recorded; a changed key still fails.</summary>
    AcceptNew,
}

/// <summary>What a remote diagnosis over SSH is bounded by and how it connects (the same for every host of one command).</summary>
public sealed class SshDiagnosisOptions
{
    public const int DefaultOutputCapBytes = 64 * 1024;
    public const int DefaultErrorCapChars = 2_000;

    /// <summary>What the collector is asked to do on each host.</summary>
    public CollectorParameters Collector { get; init; } = new();

    /// <summary>Run the collector with <c>sudo -n sh -s</c> (reading the firewall needs root); sudo must not ask for a password.</summary>
    public bool Sudo { get; init; }

    public SshHostKeyPolicy HostKeyPolicy { get; init; } = SshHostKeyPolicy.Strict;

    /// <summary>A known_hosts file (UserKnownHostsFile) instead of ~/.ssh/known_hosts; validated, absolute.</summary>
    public string? KnownHostsFilePath { get; init; }

    /// <summary>ssh's ConnectTimeout (TCP connect and the SSH handshake).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The collector's run on the host, after the connection; null: <see cref="DefaultCommandBudget"/> of the collector's TimeoutSec.</summary>
    public TimeSpan? CommandTimeout { get; init; }

    public int OutputCapBytes { get; init; } = DefaultOutputCapBytes;

    public int ErrorCapChars { get; init; } = DefaultErrorCapChars;

    /// <summary>The ssh client; null: found on PATH.</summary>
    public string? SshClientPath { get; init; }

    /// <summary>How many hosts at once (1..64).</summary>
    public int ThrottleLimit { get; init; } = 4;

    /// <summary>
    /// Reads an instance's metadata options through the EC2 API (instance ID and Region as the host's IMDS told the
    /// collector); throws with a plain reason when it cannot. Null: the EC2 API is not asked.
    /// </summary>
    public Func<string, string?, CancellationToken, Task<ImdsMetadataOption?>>? ReadMetadataOptions { get; init; }

    /// <summary>Why the EC2 API is not asked, when <see cref="ReadMetadataOptions"/> is null.</summary>
    public string? MetadataOptionsUnavailable { get; init; }

    /// <summary>
    /// The time the collector gets on a host: 30 s for starting the shell and reading files, plus 20 probe steps of
    /// TimeoutSec each (the collector bounds each of its steps by TimeoutSec).
    /// </summary>
    public static TimeSpan DefaultCommandBudget(double timeoutSec) => TimeSpan.FromSeconds(30 + (20 * timeoutSec));

    /// <summary>The whole run of one host: connect, then the command.</summary>
    public TimeSpan TotalTimeout => ConnectTimeout + (CommandTimeout ?? DefaultCommandBudget(Collector.TimeoutSec));
}

/// <summary>The ssh client's argument list for a target (never a shell line), and a printable form of it for verbose output.</summary>
public static class SshCommandLine
{
    /// <summary>The remote command: the collector arrives on stdin.</summary>
    public static IReadOnlyList<string> RemoteCommand(bool sudo) => sudo ? new[] { "sudo", "-n", "sh", "-s" } : new[] { "sh", "-s" };

    public static IReadOnlyList<string> Build(SshTarget target, SshDiagnosisOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        int connectSeconds = Math.Max(1, (int)Math.Ceiling(options.ConnectTimeout.TotalSeconds));
        var args = new List<string>
        {
            // No prompts (passwords, passphrases, host keys): a missing key or an unknown host fails instead of hanging.
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=" + connectSeconds.ToString(CultureInfo.InvariantCulture),
            "-o", "StrictHostKeyChecking=" + (options.HostKeyPolicy == SshHostKeyPolicy.AcceptNew ? "accept-new" : "yes"),
            // The host being diagnosed gets nothing of ours: no agent, no X11, no port forwards, no local commands,
            // and no long-lived multiplexing master left behind (an existing one may still be used).
            "-o", "ForwardAgent=no",
            "-o", "ForwardX11=no",
            "-o", "ClearAllForwardings=yes",
            "-o", "PermitLocalCommand=no",
            "-o", "ControlMaster=no",
            "-o", "RemoteCommand=none",
            "-o", "RequestTTY=no",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
        };
        if (options.KnownHostsFilePath is not null)
        {
            args.Add("-o");
            args.Add("UserKnownHostsFile=" + ConfigPath(options.KnownHostsFilePath));
        }

        if (target.Port is { } port)
        {
            args.Add("-p");
            args.Add(port.ToString(CultureInfo.InvariantCulture));
        }

        if (target.KeyFilePath is not null)
        {
            args.Add("-i");
            args.Add(TokenEscaped(target.KeyFilePath));
            args.Add("-o");
            args.Add("IdentitiesOnly=yes");
        }

        if (target.UserName is not null)
        {
            args.Add("-l");
            args.Add(target.UserName);
        }

        args.Add("--");
        args.Add(target.HostName);
        args.AddRange(RemoteCommand(options.Sudo));
        return args;
    }

    /// <summary>The command as a person would type it (for -Verbose); holds no secrets: paths and names only.</summary>
    public static string Display(string program, IEnumerable<string> arguments) =>
        string.Join(' ', new[] { program }.Concat(arguments).Select(Quote));

    private static string Quote(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:@%+,".Contains(c, StringComparison.Ordinal))
            ? value
            : "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>ssh expands %-tokens in IdentityFile and UserKnownHostsFile: a literal '%' is written '%%'.</summary>
    private static string TokenEscaped(string path) => path.Replace("%", "%%", StringComparison.Ordinal);

    /// <summary>A path for a -o option (split on whitespace like a config line): double-quoted when it has spaces.</summary>
    private static string ConfigPath(string path)
    {
        string escaped = TokenEscaped(path);
        return escaped.Any(char.IsWhiteSpace) ? "\"" + escaped + "\"" : escaped;
    }

    /// <summary>The ssh client on PATH, or the given one when it exists; null when there is none.</summary>
    public static string? FindClient(string? explicitPath)
    {
        if (explicitPath is not null)
        {
            return File.Exists(explicitPath) ? Path.GetFullPath(explicitPath) : null;
        }

        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Path.IsPathRooted(folder))
            {
                continue; // never a relative PATH entry: the current directory could hold anything
            }

            string candidate = Path.Combine(folder, OperatingSystem.IsWindows() ? "ssh.exe" : "ssh");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
