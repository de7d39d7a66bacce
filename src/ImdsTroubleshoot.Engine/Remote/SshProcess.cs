using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>One run of the ssh client: the program, its argument list (never a shell), what goes to its stdin, and its bounds.</summary>
public sealed class SshProcessRequest
{
    public required string FileName { get; init; }

    public required IReadOnlyList<string> Arguments { get; init; }

    public required string StandardInput { get; init; }

    /// <summary>The whole run, connection included; past it the process tree is killed.</summary>
    public required TimeSpan Timeout { get; init; }

    /// <summary>Stdout past this many bytes is not read: the process tree is killed and what was read is kept.</summary>
    public required int OutputCapBytes { get; init; }

    /// <summary>Stderr past this many characters is drained and dropped.</summary>
    public required int ErrorCapChars { get; init; }
}

public sealed class SshProcessResult
{
    /// <summary>ssh's exit code (255: ssh's own failure; else the remote command's), -1 when it was killed.</summary>
    public int ExitCode { get; init; }

    public string StandardOutput { get; init; } = string.Empty;

    public string StandardError { get; init; } = string.Empty;

    public bool TimedOut { get; init; }

    /// <summary>Stdout went past the cap: the rest was not read and ssh was killed.</summary>
    public bool OutputTruncated { get; init; }

    public TimeSpan Elapsed { get; init; }
}

/// <summary>Runs the ssh client. Tests replace it to prove what would have been started (or that nothing was).</summary>
public interface ISshProcessRunner
{
    /// <summary>Runs to the end, the timeout or the cap; throws OperationCanceledException on cancellation (after killing the tree)
    /// and FileNotFoundException when the program cannot be started.</summary>
    Task<SshProcessResult> RunAsync(SshProcessRequest request, CancellationToken cancellationToken);
}

/// <summary>Starts the real program with an argument list, bounded in time and output; kills the whole process tree when a bound is hit or on Ctrl+C.</summary>
public sealed class SshProcessRunner : ISshProcessRunner
{
    public static SshProcessRunner Instance { get; } = new();

    public async Task<SshProcessResult> RunAsync(SshProcessRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var psi = new ProcessStartInfo(request.FileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardErrorEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
        };
        foreach (string argument in request.Arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        // ssh's own messages in English, whatever the user's locale (they are classified by their text).
        psi.Environment["LC_ALL"] = "C";

        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new FileNotFoundException($"Could not start {request.FileName}: {ex.Message}", request.FileName, ex);
        }

        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(request.Timeout);
        var output = new MemoryStream();
        bool truncated = false;
        Task<bool> readOut = ReadCappedAsync(process.StandardOutput.BaseStream, output, request.OutputCapBytes);
        Task<string> readErr = ReadErrorAsync(process.StandardError, request.ErrorCapChars);
        Task writeIn = WriteInputAsync(process.StandardInput, request.StandardInput);

        bool killed = false;
        try
        {
            Task exited = process.WaitForExitAsync(bound.Token);
            Task first = await Task.WhenAny(exited, readOut).ConfigureAwait(false);
            if (first == readOut && await readOut.ConfigureAwait(false))
            {
                truncated = true;
                killed = Kill(process);
            }

            await exited.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            killed = Kill(process);
        }

        if (killed)
        {
            // Bounded: the tree is gone or going; never wait on it forever.
            await Task.WhenAny(process.WaitForExitAsync(CancellationToken.None), Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        await Task.WhenAny(Task.WhenAll(readOut, readErr, writeIn), Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
        if (readOut.IsCompletedSuccessfully && readOut.Result)
        {
            truncated = true;
        }

        string stdout;
        lock (output)
        {
            stdout = Encoding.UTF8.GetString(output.GetBuffer(), 0, (int)output.Length);
        }

        return new SshProcessResult
        {
            ExitCode = killed || !process.HasExited ? -1 : process.ExitCode,
            StandardOutput = stdout,
            StandardError = readErr.IsCompletedSuccessfully ? readErr.Result : string.Empty,
            TimedOut = killed && !truncated,
            OutputTruncated = truncated,
            Elapsed = stopwatch.Elapsed,
        };
    }

    private static bool Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        catch (Win32Exception)
        {
            // Could not signal (gone in between).
        }

        return true;
    }

    /// <summary>Copies up to <paramref name="cap"/> bytes; true when more was there (the stream is then left unread).</summary>
    private static async Task<bool> ReadCappedAsync(Stream source, MemoryStream target, int cap)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                int n = await source.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false);
                if (n == 0)
                {
                    return false;
                }

                lock (target)
                {
                    int room = cap - (int)target.Length;
                    target.Write(buffer, 0, Math.Min(room, n));
                    if (n > room)
                    {
                        return true;
                    }
                }
            }
        }
        catch (IOException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private static async Task<string> ReadErrorAsync(StreamReader reader, int cap)
    {
        var kept = new StringBuilder();
        var buffer = new char[4096];
        try
        {
            int n;
            while ((n = await reader.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false)) > 0)
            {
                int room = cap - kept.Length;
                if (room > 0)
                {
                    kept.Append(buffer, 0, Math.Min(room, n));
                }
            }
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        return kept.ToString();
    }

    private static async Task WriteInputAsync(StreamWriter writer, string input)
    {
        try
        {
            await writer.WriteAsync(input).ConfigureAwait(false);
            await writer.FlushAsync().ConfigureAwait(false);
            writer.Close();
        }
        catch (IOException)
        {
            // ssh exited without reading its input (it could not connect); its exit code and stderr tell why.
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
