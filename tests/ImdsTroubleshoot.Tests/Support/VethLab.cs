using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// A veth pair between two network namespaces of its own, built quiet: IPv6 off (no router solicitations, DAD or
/// MLD) and static neighbour entries (no ARP), so nothing moves a counter unless the test sends packets.
/// <code>
///   [A] vA 10.99.0.1 02:99:00:00:00:01 ──veth── vB 10.99.0.2 02:99:00:00:00:02 [B]
/// </code>
/// Namespaces are named like the network lab's (<see cref="NetworkLab.Prefix"/>PID-...), so a dead test run's
/// leftovers are swept the same way. Dispose deletes both namespaces, which deletes the pair.
/// </summary>
public sealed class VethLab : IDisposable
{
    public const string A = "vA";
    public const string B = "vB";
    public const string AddressA = "10.99.0.1";
    public const string AddressB = "10.99.0.2";
    private const string MacA = "02:99:00:00:00:01";
    private const string MacB = "02:99:00:00:00:02";

    private static int s_counter;
    private bool _disposed;

    private VethLab(string name)
    {
        NsA = name + "-a";
        NsB = name + "-b";
    }

    /// <summary>The namespace holding vA (the sender in the traffic recipe).</summary>
    public string NsA { get; }

    /// <summary>The namespace holding vB (the receiver).</summary>
    public string NsB { get; }

    /// <summary>Builds the pair; <paramref name="queues"/> sets numtxqueues/numrxqueues on both ends.</summary>
    public static VethLab Create(int queues = 1)
    {
        if (!LabPrerequisites.Met)
        {
            throw new InvalidOperationException("The veth lab needs root and iproute2 (ip netns). Run the tests as root.");
        }

        NetworkLab.SweepStale();
        var lab = new VethLab($"{NetworkLab.Prefix}{Environment.ProcessId}-ena{Interlocked.Increment(ref s_counter)}");
        try
        {
            lab.Build(queues);
        }
        catch
        {
            lab.Dispose();
            throw;
        }

        return lab;
    }

    private void Build(int queues)
    {
        string q = queues.ToString(CultureInfo.InvariantCulture);
        foreach (string ns in new[] { NsA, NsB })
        {
            Run("ip", "netns", "add", ns);
            Run("ip", "-n", ns, "link", "set", "lo", "up");
            Run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
            Run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1");
        }

        Run("ip", "link", "add", A, "netns", NsA, "address", MacA, "numtxqueues", q, "numrxqueues", q,
            "type", "veth", "peer", "name", B, "netns", NsB, "address", MacB, "numtxqueues", q, "numrxqueues", q);
        Run("ip", "-n", NsA, "addr", "add", AddressA + "/24", "dev", A);
        Run("ip", "-n", NsB, "addr", "add", AddressB + "/24", "dev", B);
        Run("ip", "-n", NsA, "neigh", "replace", AddressB, "lladdr", MacB, "dev", A, "nud", "permanent");
        Run("ip", "-n", NsB, "neigh", "replace", AddressA, "lladdr", MacA, "dev", B, "nud", "permanent");
        Run("ip", "-n", NsA, "link", "set", A, "up");
        Run("ip", "-n", NsB, "link", "set", B, "up");
    }

    /// <summary>
    /// Makes vB count received packets in its ethtool statistics: veth's NAPI path, where rx_queue_N_xdp_packets and
    /// _bytes are counted, is used only with GRO on at the receiver and TSO off at the sender.
    /// </summary>
    public void EnableNapiCounting()
    {
        Run("ip", "netns", "exec", NsB, "ethtool", "-K", B, "gro", "on");
        Run("ip", "netns", "exec", NsA, "ethtool", "-K", A, "tso", "off");
    }

    /// <summary>Sends <paramref name="count"/> ICMP echo requests (84 bytes each at IP level) from vA to vB.</summary>
    public void Ping(int count)
    {
        var r = ProcessRunner.Run("ip", new[] { "netns", "exec", NsA, "ping", "-c", count.ToString(CultureInfo.InvariantCulture), "-i", "0.05", "-W", "2", "-q", AddressB },
            TimeSpan.FromSeconds(30));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException("ping failed: " + r);
        }
    }

    /// <summary><c>ethtool ARGS</c> inside a namespace; throws on a non-zero exit.</summary>
    public static string Ethtool(string ns, params string[] args)
    {
        var all = new List<string> { "netns", "exec", ns, "ethtool" };
        all.AddRange(args);
        var r = ProcessRunner.Run("ip", all, TimeSpan.FromSeconds(30));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"ethtool {string.Join(' ', args)} in {ns} failed: {r}");
        }

        return r.Stdout;
    }

    public static void Run(string file, params string[] args)
    {
        var r = ProcessRunner.Run(file, args, TimeSpan.FromSeconds(30));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {r.Stderr.Trim()}");
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (string ns in new[] { NsA, NsB })
        {
            if (File.Exists("/run/netns/" + ns))
            {
                ProcessRunner.Run("ip", new[] { "netns", "del", ns }, TimeSpan.FromSeconds(30));
            }
        }
    }
}
