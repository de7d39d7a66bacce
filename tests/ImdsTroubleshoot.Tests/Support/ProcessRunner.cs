using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Tests.Support;

public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, bool TimedOut)
{
    public string Combined => Stdout + Stderr;

    public override string ToString() => $"exit {ExitCode}{(TimedOut ? " (timed out)" : string.Empty)} after {Elapsed.TotalSeconds:F1}s\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs programs with an argument list (never through a shell) and a hard time limit.</summary>
public static class ProcessRunner
{
    public static ProcessResult Run(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string?>? env = null, string? stdin = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (env is not null)
        {
            foreach (var kv in env)
            {
                if (kv.Value is null)
                {
                    psi.Environment.Remove(kv.Key);
                }
                else
                {
                    psi.Environment[kv.Key] = kv.Value;
                }
            }
        }

        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        Task outTask = Task.Run(async () =>
        {
            string? line;
            while ((line = await p.StandardOutput.ReadLineAsync()) is not null)
            {
                lock (stdout)
                {
                    stdout.AppendLine(line);
                }
            }
        });
        Task errTask = Task.Run(async () =>
        {
            string? line;
            while ((line = await p.StandardError.ReadLineAsync()) is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(line);
                }
            }
        });
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
        }

        p.StandardInput.Close();
        bool exited = p.WaitForExit((int)timeout.TotalMilliseconds);
        if (!exited)
        {
            try
            {
                p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }

            p.WaitForExit(5000);
        }

        Task.WaitAll(new[] { outTask, errTask }, TimeSpan.FromSeconds(5));
        sw.Stop();
        lock (stdout)
        {
            lock (stderr)
            {
                return new ProcessResult(exited ? p.ExitCode : -1, stdout.ToString(), stderr.ToString(), sw.Elapsed, !exited);
            }
        }
    }

    public static ProcessResult Run(string file, params string[] args) => Run(file, args, TimeSpan.FromSeconds(60));

    /// <summary>Runs and throws with the output when the exit code is not 0.</summary>
    public static ProcessResult Check(string file, params string[] args)
    {
        var r = Run(file, args, TimeSpan.FromSeconds(60));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {r}");
        }

        return r;
    }
}
