using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// Debian's OpenSSH server (/usr/sbin/sshd) run by a test inside a lab namespace: its own config in a temp folder
/// (-f, -D -e: foreground, log to stderr), a generated ed25519 host key, a generated ed25519 client key in
/// authorized_keys, no PAM, and a temp known_hosts that holds the host key for the listening addresses. Killed on Dispose.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SshLabServer : IDisposable
{
    public const string SshdPath = "/usr/sbin/sshd";

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private bool _disposed;

    private SshLabServer(string dir, int port, string[] addresses, Process process)
    {
        Dir = dir;
        Port = port;
        Addresses = addresses;
        _process = process;
    }

    /// <summary>The temp folder with config, keys and known_hosts (deleted on Dispose).</summary>
    public string Dir { get; }

    public int Port { get; }

    public IReadOnlyList<string> Addresses { get; }

    public string ClientKey => Path.Combine(Dir, "client_ed25519");

    /// <summary>known_hosts with this server's host key for every listening address and port.</summary>
    public string KnownHosts => Path.Combine(Dir, "known_hosts");

    public string HostPublicKey => File.ReadAllText(Path.Combine(Dir, "host_ed25519_key.pub")).Trim();

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Generates an ed25519 key pair (no passphrase) at <paramref name="path"/>.</summary>
    public static void GenerateKey(string path, string comment = "imds-test")
    {
        ProcessRunner.Check("ssh-keygen", "-q", "-t", "ed25519", "-N", string.Empty, "-C", comment, "-f", path);
    }

    /// <summary>
    /// Starts sshd in <paramref name="ns"/> on <paramref name="addresses"/>:<paramref name="port"/> and waits until it accepts
    /// connections from the host namespace. <paramref name="setEnv"/> goes to the sessions' environment (sshd's SetEnv).
    /// </summary>
    public static SshLabServer Start(string ns, IReadOnlyList<string> addresses, int port = 2222, IReadOnlyDictionary<string, string>? setEnv = null, IEnumerable<string>? extraConfig = null)
    {
        string dir = Directory.CreateTempSubdirectory("imds-sshd-").FullName;
        // sshd reads authorized_keys as the logging-in user: the folder and that file must be readable by them.
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        GenerateKey(Path.Combine(dir, "host_ed25519_key"), "imds-test-host");
        GenerateKey(Path.Combine(dir, "client_ed25519"));
        string authorized = Path.Combine(dir, "authorized_keys");
        File.WriteAllText(authorized, File.ReadAllText(Path.Combine(dir, "client_ed25519.pub")));
        File.SetUnixFileMode(authorized, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        string hostKey = File.ReadAllText(Path.Combine(dir, "host_ed25519_key.pub")).Trim();
        File.WriteAllLines(Path.Combine(dir, "known_hosts"), addresses.Select(a => $"[{a}]:{port} {hostKey}"));

        var config = new List<string>
        {
            "Port " + port,
            "HostKey " + Path.Combine(dir, "host_ed25519_key"),
            "PidFile none",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "AuthorizedKeysFile " + authorized,
            "UseDNS no",
            "PrintMotd no",
            "LogLevel VERBOSE",
        };
        config.AddRange(addresses.Select(a => "ListenAddress " + a));
        if (setEnv is { Count: > 0 })
        {
            config.Add("SetEnv " + string.Join(' ', setEnv.Select(kv => $"\"{kv.Key}={kv.Value}\"")));
        }

        config.AddRange(extraConfig ?? Array.Empty<string>());
        string configPath = Path.Combine(dir, "sshd_config");
        File.WriteAllLines(configPath, config);

        // sshd's privilege-separation folder (the package creates it at boot through tmpfiles; a container may not have it).
        Directory.CreateDirectory("/run/sshd");
        var check = NetworkLab.Exec(ns, SshdPath, "-t", "-f", configPath);
        if (check.ExitCode != 0)
        {
            throw new InvalidOperationException("sshd rejected its test config: " + check);
        }

        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in new[] { "netns", "exec", ns, SshdPath, "-D", "-e", "-f", configPath })
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start sshd");
        var server = new SshLabServer(dir, port, addresses.ToArray(), process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (server._log)
                {
                    server._log.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            server.WaitListening(TimeSpan.FromSeconds(15));
        }
        catch
        {
            server.Dispose();
            throw;
        }

        return server;
    }

    private void WaitListening(TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < bound)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"sshd exited with {_process.ExitCode}: {Log}");
            }

            try
            {
                using var client = new TcpClient();
                if (client.ConnectAsync(Addresses[0], Port).Wait(TimeSpan.FromSeconds(1)) && client.Connected)
                {
                    return;
                }
            }
            catch (AggregateException)
            {
            }
            catch (SocketException)
            {
            }

            Thread.Sleep(100);
        }

        throw new TimeoutException($"sshd did not listen on {Addresses[0]}:{Port} within {bound.TotalSeconds} s: {Log}");
    }

    /// <summary>ssh client processes still running whose command line holds <paramref name="marker"/> (a test's unique temp path).</summary>
    public static List<int> SshClientsWith(string marker) =>
        Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).Select(n => int.Parse(n!, System.Globalization.CultureInfo.InvariantCulture))
            .Where(pid =>
            {
                try
                {
                    string cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
                    return cmd.Contains(marker, StringComparison.Ordinal) && cmd.Contains("BatchMode=yes", StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
                catch (UnauthorizedAccessException)
                {
                    return false;
                }
            }).ToList();

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
