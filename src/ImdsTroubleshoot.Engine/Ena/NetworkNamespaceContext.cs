using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>
/// Which network namespace this process sees, and whether that is likely not the host's. The ethtool ioctl and
/// sysfs answer for the process's own namespace only: inside a container the interface is the container's veth
/// and the host's ENA counters (where link-local drops are counted) cannot be seen.
/// </summary>
public sealed class NetworkNamespaceContext
{
    private NetworkNamespaceContext(string? namespaceId, string? initNamespaceId, string? container, IReadOnlyList<string> virtualInterfaces, int interfaceCount)
    {
        NamespaceId = namespaceId;
        InitNamespaceId = initNamespaceId;
        Container = container;
        VirtualInterfaces = virtualInterfaces;
        OnlyVirtualInterfaces = interfaceCount > 0 && virtualInterfaces.Count == interfaceCount;
    }

    /// <summary>This process's network namespace, as <c>readlink /proc/self/ns/net</c> shows it (<c>net:[4026531840]</c>).</summary>
    public string? NamespaceId { get; }

    /// <summary>PID 1's network namespace; null when it cannot be read (it needs root with CAP_SYS_PTRACE).</summary>
    public string? InitNamespaceId { get; }

    /// <summary>True/false when both namespaces could be read; null otherwise.</summary>
    public bool? SameAsInit => NamespaceId is null || InitNamespaceId is null ? null : NamespaceId == InitNamespaceId;

    /// <summary>A container runtime this process seems to run under (docker, podman, kubernetes...), or null.</summary>
    public string? Container { get; }

    /// <summary>
    /// True when every interface visible here is virtual (veth, loopback, bridges: no device behind it). A host, and a
    /// container with host networking, sees at least one NIC with a device; a container or a namespace of its own does not.
    /// </summary>
    public bool OnlyVirtualInterfaces { get; }

    /// <summary>The virtual interfaces seen (all of them when <see cref="OnlyVirtualInterfaces"/>).</summary>
    public IReadOnlyList<string> VirtualInterfaces { get; }

    /// <summary>True when the host's interfaces are probably not the ones visible here.</summary>
    public bool LikelyIsolated => SameAsInit == false || OnlyVirtualInterfaces;

    /// <summary>What this means for reading ENA counters, in plain words; null when nothing suggests isolation.</summary>
    public string? Note
    {
        get
        {
            if (SameAsInit == false)
            {
                return $"This process runs in a network namespace of its own ({NamespaceId}; PID 1 is in {InitNamespaceId}), as under 'ip netns exec' or in a container: only that namespace's interfaces are visible, not the host's ENA interfaces, so linklocal_allowance_exceeded cannot be read here. Run this in the host's network namespace.";
            }

            if (OnlyVirtualInterfaces)
            {
                string where = Container is null ? "a container or a network namespace of its own" : $"a container ({Container})";
                return $"Every network interface here is virtual ({string.Join(", ", VirtualInterfaces)}): this process runs in {where}, where the host's ENA interface and its linklocal_allowance_exceeded are not visible. Run this on the host, or in a container with host networking (docker run --network host, Kubernetes hostNetwork: true).";
            }

            return null;
        }
    }

    /// <summary>Looks at this process's namespace and at <paramref name="interfaces"/> (default: sysfs's list).</summary>
    public static NetworkNamespaceContext Detect(IEnumerable<NetworkInterfaceEntry>? interfaces = null)
    {
        var list = (interfaces ?? NetworkInterfaceInventory.List()).ToList();
        string? self = ReadLink("/proc/self/ns/net");
        string? init = ReadLink("/proc/1/ns/net");
        return new NetworkNamespaceContext(self, init, DetectContainer(), list.Where(i => i.IsVirtual).Select(i => i.Name).ToList(), list.Count);
    }

    internal static NetworkNamespaceContext Create(string? namespaceId, string? initNamespaceId, string? container, IReadOnlyList<string> virtualInterfaces, int interfaceCount) =>
        new(namespaceId, initNamespaceId, container, virtualInterfaces, interfaceCount);

    private static string? DetectContainer() =>
        ContainerFrom(marker => File.Exists("/" + marker), Environment.GetEnvironmentVariable, ReadCgroup);

    private static string ReadCgroup()
    {
        try
        {
            return File.Exists("/proc/1/cgroup") ? File.ReadAllText("/proc/1/cgroup") : string.Empty;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    /// <summary>
    /// The container runtime these facts point to, or null: the marker files (relative to "/"), the environment
    /// variables runtimes set, then the runtime named in PID 1's cgroup. Here or on a remote collector's target.
    /// </summary>
    internal static string? ContainerFrom(Func<string, bool> markerExists, Func<string, string?> variable, Func<string> pid1Cgroup)
    {
        if (markerExists(".dockerenv"))
        {
            return "docker";
        }

        if (markerExists("run/.containerenv"))
        {
            return "podman";
        }

        if (!string.IsNullOrEmpty(variable("KUBERNETES_SERVICE_HOST")))
        {
            return "kubernetes";
        }

        string? marker = variable("container");
        if (!string.IsNullOrEmpty(marker))
        {
            return marker;
        }

        string cgroup = pid1Cgroup();
        foreach (string runtime in new[] { "kubepods", "docker", "containerd", "libpod", "lxc" })
        {
            if (cgroup.Contains(runtime, StringComparison.Ordinal))
            {
                return runtime == "kubepods" ? "kubernetes" : runtime;
            }
        }

        return null;
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
