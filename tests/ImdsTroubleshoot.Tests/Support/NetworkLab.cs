using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// A real network lab built from Linux network namespaces, torn down on Dispose (and swept on the next run
/// if a test process died):
/// <code>
///   [container] eth0 10.200.0.2 ──veth── veth-ctr 10.200.0.1 [instance] eth0 169.254.0.2 ──veth── eth0 169.254.169.254 [imds]
///               fd00:c0::2                fd00:c0::1   (forwards)       fd00:ec2::2                  fd00:ec2::254
/// </code>
/// The instance reaches IMDS on-link (0 routed hops); the container is one routed hop further, like a
/// Docker bridge or a pod. The emulator listens in the imds namespace on port 80.
/// </summary>
public sealed class NetworkLab : IDisposable
{
    public const string Prefix = "imdslab-";
    public const string InstanceIPv4 = "169.254.0.2";
    public const string InstanceIPv6 = "fd00:ec2::2";
    public const string ContainerIPv4 = "10.200.0.2";
    public const string ContainerIPv6 = "fd00:c0::2";
    public const string ContainerGatewayIPv4 = "10.200.0.1";

    private static int s_counter;
    private readonly List<ImdsEmulator> _emulators = new();
    private bool _disposed;

    private NetworkLab(string name)
    {
        Name = name;
        ImdsNs = name + "-imds";
        InstanceNs = name + "-inst";
        ContainerNs = name + "-ctr";
    }

    public string Name { get; }

    public string ImdsNs { get; }

    public string InstanceNs { get; }

    public string ContainerNs { get; }

    public IEnumerable<string> Namespaces => new[] { ImdsNs, InstanceNs, ContainerNs };

    public static NetworkLab Create()
    {
        if (!LabPrerequisites.Met)
        {
            throw new InvalidOperationException("The network lab needs root and iproute2 (ip netns). Run the tests as root, as the README's test command does; set IMDS_TESTS_SKIP_LAB=1 only to skip on purpose.");
        }

        SweepStale();
        var lab = new NetworkLab($"{Prefix}{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}");
        try
        {
            lab.Build();
        }
        catch
        {
            lab.Dispose();
            throw;
        }

        return lab;
    }

    private void Build()
    {
        foreach (string ns in Namespaces)
        {
            Ip("netns", "add", ns);
            Ip("-n", ns, "link", "set", "lo", "up");
        }

        // instance <-> imds, on-link, both ends called eth0 as on a real instance.
        Ip("link", "add", "eth0", "netns", InstanceNs, "type", "veth", "peer", "name", "eth0", "netns", ImdsNs);
        Ip("-n", ImdsNs, "addr", "add", "169.254.169.254/16", "dev", "eth0");
        Ip("-n", ImdsNs, "addr", "add", "fd00:ec2::254/64", "dev", "eth0", "nodad");
        Ip("-n", ImdsNs, "link", "set", "eth0", "up");
        Ip("-n", InstanceNs, "addr", "add", InstanceIPv4 + "/16", "dev", "eth0");
        Ip("-n", InstanceNs, "addr", "add", InstanceIPv6 + "/64", "dev", "eth0", "nodad");
        Ip("-n", InstanceNs, "link", "set", "eth0", "up");

        // container <-> instance, routed: one hop to IMDS.
        Ip("link", "add", "veth-ctr", "netns", InstanceNs, "type", "veth", "peer", "name", "eth0", "netns", ContainerNs);
        Ip("-n", InstanceNs, "addr", "add", ContainerGatewayIPv4 + "/24", "dev", "veth-ctr");
        Ip("-n", InstanceNs, "addr", "add", "fd00:c0::1/64", "dev", "veth-ctr", "nodad");
        Ip("-n", InstanceNs, "link", "set", "veth-ctr", "up");
        Ip("-n", ContainerNs, "addr", "add", ContainerIPv4 + "/24", "dev", "eth0");
        Ip("-n", ContainerNs, "addr", "add", ContainerIPv6 + "/64", "dev", "eth0", "nodad");
        Ip("-n", ContainerNs, "link", "set", "eth0", "up");
        Ip("-n", ContainerNs, "route", "add", "default", "via", ContainerGatewayIPv4);
        Ip("-n", ContainerNs, "-6", "route", "add", "default", "via", "fd00:c0::1");
        Exec(InstanceNs, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        Exec(InstanceNs, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1");
        Ip("-n", ImdsNs, "route", "add", "10.200.0.0/24", "via", InstanceIPv4);
        Ip("-n", ImdsNs, "-6", "route", "add", "fd00:c0::/64", "via", InstanceIPv6);
    }

    /// <summary>Starts an emulator on 169.254.169.254:80 and [fd00:ec2::254]:80 inside the imds namespace.</summary>
    public ImdsEmulator StartEmulator(EmulatorSettings settings, InstanceContent? content = null, string? scenario = null)
    {
        var emulator = ImdsEmulator.Start(new EmulatorOptions
        {
            Addresses = new[] { IPAddress.Parse("169.254.169.254"), IPAddress.Parse("fd00:ec2::254") },
            Port = 80,
            NetworkNamespace = ImdsNs,
            Name = Name,
            ScenarioName = scenario,
            Settings = settings,
            Content = content,
        });
        _emulators.Add(emulator);
        return emulator;
    }

    /// <summary>
    /// A veth from the host's own namespace into the instance namespace, so clients running here (ssh) reach a server
    /// the test runs in the lab: host side 10.201.X.Y+1/30 and fd00:201:N::1/64, instance side +2 and fd00:201:N::2.
    /// The host reaches only these addresses; the link goes with the instance namespace on Dispose. Call once per lab.
    /// </summary>
    public HostLink ConnectHost()
    {
        int index = (int)((((uint)Environment.ProcessId * 16) + (uint)Interlocked.Increment(ref s_hostLinks)) % 16384);
        for (int attempt = 0; attempt < 64; attempt++, index = (index + 1) % 16384)
        {
            string hostIPv4 = $"10.201.{index / 64}.{(index % 64 * 4) + 1}";
            string hostIf = $"ih{Environment.ProcessId % 100000}x{index}";
            if (hostIf.Length > 15 || ProcessRunner.Run("ip", new[] { "-o", "addr", "show", "to", $"10.201.{index / 64}.{index % 64 * 4}/30" }, TimeSpan.FromSeconds(10)).Stdout.Trim().Length > 0)
            {
                continue;
            }

            var link = new HostLink(hostIf, hostIPv4, $"10.201.{index / 64}.{(index % 64 * 4) + 2}", $"fd00:201:{index:x}::1", $"fd00:201:{index:x}::2");
            Ip("link", "add", hostIf, "type", "veth", "peer", "name", "eth-host", "netns", InstanceNs);
            Ip("addr", "add", link.HostIPv4 + "/30", "dev", hostIf);
            Ip("addr", "add", link.HostIPv6 + "/64", "dev", hostIf, "nodad");
            Ip("link", "set", hostIf, "up");
            Ip("-n", InstanceNs, "addr", "add", link.InstanceIPv4 + "/30", "dev", "eth-host");
            Ip("-n", InstanceNs, "addr", "add", link.InstanceIPv6 + "/64", "dev", "eth-host", "nodad");
            Ip("-n", InstanceNs, "link", "set", "eth-host", "up");
            return link;
        }

        throw new InvalidOperationException("No free 10.201.0.0/16 subnet for a host link.");
    }

    private static int s_hostLinks;

    /// <summary>Runs a program inside a namespace (argument list, no shell).</summary>
    public static ProcessResult Exec(string ns, params string[] command) => ExecWithTimeout(ns, TimeSpan.FromSeconds(60), command);

    public static ProcessResult ExecWithTimeout(string ns, TimeSpan timeout, params string[] command)
    {
        var args = new List<string> { "netns", "exec", ns };
        args.AddRange(command);
        return ProcessRunner.Run("ip", args, timeout, new Dictionary<string, string?>
        {
            ["HTTP_PROXY"] = null,
            ["http_proxy"] = null,
            ["HTTPS_PROXY"] = null,
            ["https_proxy"] = null,
            ["ALL_PROXY"] = null,
            ["all_proxy"] = null,
        });
    }

    /// <summary>curl from a namespace, with a hard time limit; returns curl's own exit code (7 refused, 28 timeout).</summary>
    public static ProcessResult Curl(string ns, double maxSeconds, params string[] args)
    {
        var command = new List<string> { "curl", "-sS", "--noproxy", "*", "-m", maxSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        command.AddRange(args);
        return ExecWithTimeout(ns, TimeSpan.FromSeconds(maxSeconds + 30), command.ToArray());
    }

    private static void Ip(params string[] args)
    {
        var r = ProcessRunner.Run("ip", args, TimeSpan.FromSeconds(30));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed: {r.Stderr.Trim()}");
        }
    }

    /// <summary>Deletes lab namespaces whose creating process is gone.</summary>
    public static void SweepStale()
    {
        if (!Directory.Exists("/run/netns"))
        {
            return;
        }

        foreach (string path in Directory.GetFiles("/run/netns", Prefix + "*"))
        {
            string name = Path.GetFileName(path);
            string[] parts = name.Substring(Prefix.Length).Split('-');
            if (parts.Length > 0 && int.TryParse(parts[0], out int pid) && !Directory.Exists("/proc/" + pid))
            {
                ProcessRunner.Run("ip", new[] { "netns", "del", name }, TimeSpan.FromSeconds(30));
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var e in _emulators)
        {
            e.Stop();
        }

        foreach (string ns in Namespaces)
        {
            if (File.Exists("/run/netns/" + ns))
            {
                ProcessRunner.Run("ip", new[] { "netns", "del", ns }, TimeSpan.FromSeconds(30));
            }
        }
    }
}

/// <summary>The host-to-instance link of <see cref="NetworkLab.ConnectHost"/>: the host's interface and both ends' addresses.</summary>
public sealed record HostLink(string HostInterface, string HostIPv4, string InstanceIPv4, string HostIPv6, string InstanceIPv6);
