using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Remote;
using ImdsTroubleshoot.Tests.Lab;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>
/// The SSH transport against a real sshd in the lab's instance namespace, reached from the host namespace through
/// the lab's host link: key auth, the script on stdin, every failure mode typed, every bound kept.
/// These send their own small scripts (not the collector) so they test the transport alone.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SshTransportLabTests
{
    private const int Port = 2222;

    private sealed class Lab : SshLab
    {
        public Lab(IReadOnlyDictionary<string, string>? setEnv = null, IEnumerable<string>? extraConfig = null)
            : base(Port, null, setEnv, extraConfig)
        {
        }

        public SshTarget Target(string? host = null, string user = "root", int port = Port, string? key = null) =>
            SshTarget.Create(host ?? Link.InstanceIPv4, user, port, key ?? Server.ClientKey);

        public SshDiagnosisOptions Options(string? knownHosts = null, SshHostKeyPolicy policy = SshHostKeyPolicy.Strict, bool sudo = false, double connectSec = 5, double? commandSec = null, int cap = SshDiagnosisOptions.DefaultOutputCapBytes) => new()
        {
            KnownHostsFilePath = knownHosts ?? Server.KnownHosts,
            HostKeyPolicy = policy,
            Sudo = sudo,
            ConnectTimeout = TimeSpan.FromSeconds(connectSec),
            CommandTimeout = commandSec is null ? null : TimeSpan.FromSeconds(commandSec.Value),
            OutputCapBytes = cap,
        };
    }

    private static Task<SshProcessResult> RunScript(SshTarget target, SshDiagnosisOptions options, string script, CancellationToken ct = default) =>
        SshProcessRunner.Instance.RunAsync(new SshProcessRequest
        {
            FileName = SshCommandLine.FindClient(null)!,
            Arguments = SshCommandLine.Build(target, options),
            StandardInput = script,
            Timeout = options.TotalTimeout,
            OutputCapBytes = options.OutputCapBytes,
            ErrorCapChars = options.ErrorCapChars,
        }, ct);

    private static SshHostResult Diagnose(SshTarget target, SshDiagnosisOptions options, string script) =>
        new SshDiagnosis(options, null, script).RunAsync(target, CancellationToken.None).GetAwaiter().GetResult();

    [LabFact]
    public void Key_auth_runs_the_script_from_stdin_inside_the_lab_namespace_over_IPv4_and_IPv6()
    {
        using var lab = new Lab();
        foreach (string host in new[] { lab.Link.InstanceIPv4, lab.Link.InstanceIPv6 })
        {
            var r = RunScript(lab.Target(host), lab.Options(), "id -u\nls /sys/class/net\nprintf 'done\\n'\n").GetAwaiter().GetResult();
            Assert.True(r.ExitCode == 0, $"{host}: exit {r.ExitCode} {r.StandardError}\n{lab.Server.Log}");
            string[] lines = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("0", lines[0]);
            // The lab instance's own interfaces: the script ran in that namespace, not here.
            Assert.Contains("eth-host", lines);
            Assert.Contains("veth-ctr", lines);
            Assert.Equal("done", lines[^1]);
            Assert.False(r.TimedOut || r.OutputTruncated);
        }
    }

    [LabFact]
    public void A_key_the_host_does_not_know_is_AuthenticationFailed()
    {
        using var lab = new Lab();
        string other = Path.Combine(lab.Server.Dir, "other_ed25519");
        SshLabServer.GenerateKey(other);
        var result = Diagnose(lab.Target(key: other), lab.Options(), "echo never");
        Assert.Equal(SshFailureKind.AuthenticationFailed, result.Failure?.Kind);
        Assert.Contains("Permission denied", result.Failure!.Detail, StringComparison.Ordinal);
        Assert.Empty(result.Findings);
    }

    [LabFact]
    public void A_user_without_the_key_is_AuthenticationFailed_and_a_key_with_open_permissions_is_KeyFileRejected()
    {
        using var lab = new Lab();
        Assert.Equal(SshFailureKind.AuthenticationFailed, Diagnose(lab.Target(user: "nosuchuser"), lab.Options(), "echo never").Failure?.Kind);

        string open = Path.Combine(lab.Server.Dir, "open_key");
        File.Copy(lab.Server.ClientKey, open);
        File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var rejected = Diagnose(lab.Target(key: open), lab.Options(), "echo never");
        Assert.Equal(SshFailureKind.KeyFileRejected, rejected.Failure?.Kind);
        Assert.Contains("chmod 600", rejected.Failure!.Message, StringComparison.Ordinal);
    }

    [LabFact]
    public void Nothing_listening_is_ConnectionRefused()
    {
        using var lab = new Lab();
        var result = Diagnose(lab.Target(port: Port + 1), lab.Options(), "echo never");
        Assert.Equal(SshFailureKind.ConnectionRefused, result.Failure?.Kind);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(5), result.Elapsed.ToString());
    }

    [LabFact]
    public void An_address_on_the_labs_link_that_nobody_holds_is_HostUnreachable()
    {
        using var lab = new Lab();
        // On-link in the host link's /64, no neighbour answers: the kernel says "No route to host" once neighbour discovery gives up.
        string nobody = lab.Link.InstanceIPv6[..^1] + "9";
        var result = Diagnose(lab.Target(host: nobody), lab.Options(connectSec: 10), "echo never");
        Assert.Equal(SshFailureKind.HostUnreachable, result.Failure?.Kind);
        Assert.Contains("No route to host", result.Failure!.Detail, StringComparison.Ordinal);
    }

    [LabFact]
    public void A_port_the_lab_drops_is_ConnectTimeout_within_the_connect_bound()
    {
        using var lab = new Lab();
        NetworkLab.Exec(lab.Net.InstanceNs, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "DROP");
        var sw = Stopwatch.StartNew();
        var result = Diagnose(lab.Target(), lab.Options(connectSec: 2), "echo never");
        sw.Stop();
        Assert.Equal(SshFailureKind.ConnectTimeout, result.Failure?.Kind);
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(1.5) && sw.Elapsed < TimeSpan.FromSeconds(8), sw.Elapsed.ToString());
    }

    [LabFact]
    public void An_unknown_host_key_fails_under_the_strict_policy_and_is_recorded_only_with_accept_new()
    {
        using var lab = new Lab();
        string empty = Path.Combine(lab.Server.Dir, "empty_known_hosts");
        File.WriteAllText(empty, string.Empty);
        var strict = Diagnose(lab.Target(), lab.Options(knownHosts: empty), "echo never");
        Assert.Equal(SshFailureKind.HostKeyUnknown, strict.Failure?.Kind);
        Assert.Empty(File.ReadAllText(empty));

        var r = RunScript(lab.Target(), lab.Options(knownHosts: empty, policy: SshHostKeyPolicy.AcceptNew), "echo first-use").GetAwaiter().GetResult();
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.Equal("first-use", r.StandardOutput.Trim());
        Assert.Contains(lab.Server.HostPublicKey.Split(' ')[1], File.ReadAllText(empty), StringComparison.Ordinal);
    }

    [LabFact]
    public void A_changed_host_key_fails_even_with_accept_new()
    {
        using var lab = new Lab();
        string otherHostKey = Path.Combine(lab.Server.Dir, "impostor");
        SshLabServer.GenerateKey(otherHostKey);
        string changed = Path.Combine(lab.Server.Dir, "changed_known_hosts");
        File.WriteAllText(changed, $"[{lab.Link.InstanceIPv4}]:{Port} {File.ReadAllText(otherHostKey + ".pub").Trim()}\n");
        foreach (var policy in new[] { SshHostKeyPolicy.Strict, SshHostKeyPolicy.AcceptNew })
        {
            var result = Diagnose(lab.Target(), lab.Options(knownHosts: changed, policy: policy), "echo never");
            Assert.Equal(SshFailureKind.HostKeyChanged, result.Failure?.Kind);
            Assert.Contains("ssh-keygen -R", result.Failure!.Message, StringComparison.Ordinal);
        }
    }

    [LabFact]
    public void Sudo_that_wants_a_password_is_SudoPasswordRequired_and_a_missing_sudo_is_RemoteCommandFailed()
    {
        // A stand-in sudo on the session's PATH that answers like sudo -n does when a password is needed
        // (this machine has no sudo installed, and the test must not change the host's sudoers).
        string bin = Directory.CreateTempSubdirectory("imds-fakesudo-").FullName;
        try
        {
            File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);
            string sudo = Path.Combine(bin, "sudo");
            File.WriteAllText(sudo, "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n");
            File.SetUnixFileMode(sudo, (UnixFileMode)0b111_101_101);
            using (var lab = new Lab(new Dictionary<string, string> { ["PATH"] = bin + ":/usr/bin:/bin" }))
            {
                var result = Diagnose(lab.Target(), lab.Options(sudo: true), "echo never");
                Assert.Equal(SshFailureKind.SudoPasswordRequired, result.Failure?.Kind);
            }

            using (var lab = new Lab(new Dictionary<string, string> { ["PATH"] = "/nonexistent:/bin" }))
            {
                var noSudo = Diagnose(lab.Target(), lab.Options(sudo: true), "echo never");
                Assert.Equal(SshFailureKind.RemoteCommandFailed, noSudo.Failure?.Kind);
                Assert.Contains("status 127", noSudo.Failure!.Message, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

    [LabFact]
    public void Output_over_the_cap_stops_reading_and_kills_ssh()
    {
        using var lab = new Lab();
        var sw = Stopwatch.StartNew();
        // 50 MB would take a while to send; the cap stops it at 64 KiB.
        var r = RunScript(lab.Target(), lab.Options(), "head -c 50000000 /dev/zero | tr '\\0' x\n").GetAwaiter().GetResult();
        sw.Stop();
        Assert.True(r.OutputTruncated);
        Assert.Equal(SshDiagnosisOptions.DefaultOutputCapBytes, r.StandardOutput.Length);
        Assert.Equal(-1, r.ExitCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), sw.Elapsed.ToString());
        Assert.Empty(SshLabServer.SshClientsWith(lab.Server.KnownHosts));
    }

    [LabFact]
    public void A_command_that_outlives_the_total_bound_is_killed_and_reported_as_Timeout()
    {
        using var lab = new Lab();
        var sw = Stopwatch.StartNew();
        var result = Diagnose(lab.Target(), lab.Options(connectSec: 3, commandSec: 2), "sleep 60\n");
        sw.Stop();
        Assert.Equal(SshFailureKind.Timeout, result.Failure?.Kind);
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(4.5) && sw.Elapsed < TimeSpan.FromSeconds(12), sw.Elapsed.ToString());
        Assert.Empty(SshLabServer.SshClientsWith(lab.Server.KnownHosts));
    }

    [LabFact]
    public void Cancellation_kills_ssh_at_once()
    {
        using var lab = new Lab();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        var sw = Stopwatch.StartNew();
        Assert.ThrowsAny<OperationCanceledException>(() => RunScript(lab.Target(), lab.Options(), "sleep 60\n", cts.Token).GetAwaiter().GetResult());
        sw.Stop();
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), sw.Elapsed.ToString());
        Assert.Empty(SshLabServer.SshClientsWith(lab.Server.KnownHosts));
    }
}
