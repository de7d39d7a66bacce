using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>What a finished program left behind: exit code and its two output streams, read separately.</summary>
public sealed class CommandResult
{
    public CommandResult(int exitCode, string standardOutput, string standardError, bool timedOut = false)
    {
        ExitCode = exitCode;
        StandardOutput = standardOutput ?? string.Empty;
        StandardError = standardError ?? string.Empty;
        TimedOut = timedOut;
    }

    public int ExitCode { get; }

    public string StandardOutput { get; }

    public string StandardError { get; }

    public bool TimedOut { get; }

    public override string ToString() => $"exit {ExitCode}{(TimedOut ? " (timed out)" : string.Empty)}: {StandardError.Trim()}";
}

/// <summary>
/// Runs the firewall tools. Always an argument list, never a shell; always a time limit. Tests replace it with
/// captured dumps; <see cref="SystemCommandRunner"/> runs the real programs.
/// </summary>
public interface ICommandRunner
{
    /// <summary>The full path of a program, or null when it is not installed.</summary>
    string? Resolve(string program);

    CommandResult Run(string program, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, string? standardInput = null);

    /// <summary>Reads a file as this runner's programs would see it (in its network namespace for /proc/net); null when it does not exist.</summary>
    string? ReadFile(string path);
}

/// <summary>Runs real programs (found in the sbin/bin folders, whatever PATH says) with LC_ALL=C.</summary>
public sealed class SystemCommandRunner : ICommandRunner
{
    private static readonly string[] s_folders = { "/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin" };

    public static SystemCommandRunner Instance { get; } = new();

    public string? Resolve(string program)
    {
        ArgumentException.ThrowIfNullOrEmpty(program);
        if (program.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(program) ? program : null;
        }

        foreach (string folder in s_folders)
        {
            string candidate = Path.Combine(folder, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(folder, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public string? ReadFile(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    public CommandResult Run(string program, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, string? standardInput = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var psi = new ProcessStartInfo(Resolve(program) ?? program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        // Stable, parseable messages whatever the user's locale.
        psi.Environment["LC_ALL"] = "C";
        psi.Environment["LANG"] = "C";

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new FileNotFoundException($"Could not run {program}: {ex.Message}", program, ex);
        }

        Task<string> stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            if (standardInput is not null)
            {
                process.StandardInput.Write(standardInput);
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The program exited without reading its input; its exit code tells the rest.
        }

        bool exited;
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            linked.CancelAfter(timeout);
            try
            {
                process.WaitForExitAsync(linked.Token).GetAwaiter().GetResult();
                exited = true;
            }
            catch (OperationCanceledException)
            {
                exited = false;
            }
        }

        if (!exited)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }

            process.WaitForExit(5000);
            cancellationToken.ThrowIfCancellationRequested();
            return new CommandResult(-1, Complete(stdout), Complete(stderr), timedOut: true);
        }

        process.WaitForExit();
        return new CommandResult(process.ExitCode, Complete(stdout), Complete(stderr));
    }

    private static string Complete(Task<string> reader) => reader.Wait(TimeSpan.FromSeconds(5)) ? reader.Result : string.Empty;
}

/// <summary>Runs every program inside a named network namespace (<c>ip netns exec NAME ...</c>).</summary>
public sealed class NamespaceCommandRunner : ICommandRunner
{
    private readonly ICommandRunner _inner;

    public NamespaceCommandRunner(ICommandRunner inner, string networkNamespace)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _ = Net.NetworkNamespace.PathOf(networkNamespace);
        _inner = inner;
        NetworkNamespace = networkNamespace;
    }

    public string NetworkNamespace { get; }

    public string? Resolve(string program) => _inner.Resolve(program);

    public string? ReadFile(string path)
    {
        // /proc/net and /proc/sys/net are per network namespace: read them from a thread inside it.
        if (path.StartsWith("/proc/net/", StringComparison.Ordinal) || path.StartsWith("/proc/sys/net/", StringComparison.Ordinal))
        {
            string threadPath = path.StartsWith("/proc/net/", StringComparison.Ordinal) ? "/proc/thread-self/net/" + path.Substring("/proc/net/".Length) : path;
            return Net.NetworkNamespace.Run(NetworkNamespace, () => _inner.ReadFile(threadPath));
        }

        return _inner.ReadFile(path);
    }

    public CommandResult Run(string program, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, string? standardInput = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        string ip = _inner.Resolve("ip") ?? throw new FileNotFoundException("iproute2 (ip) is needed to run commands in a network namespace.", "ip");
        var args = new List<string> { "netns", "exec", NetworkNamespace, _inner.Resolve(program) ?? program };
        args.AddRange(arguments);
        return _inner.Run(ip, args, timeout, cancellationToken, standardInput);
    }
}
