using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>A network interface as sysfs shows it (<c>/sys/class/net/NAME</c>).</summary>
public sealed class NetworkInterfaceEntry
{
    public NetworkInterfaceEntry(string name, int index, string? busDriver, bool isVirtual, string? vendorId, string? deviceId, string? operState)
    {
        Name = name;
        Index = index;
        BusDriver = busDriver;
        IsVirtual = isVirtual;
        VendorId = vendorId;
        DeviceId = deviceId;
        OperState = operState;
    }

    public string Name { get; }

    /// <summary>The ifindex; 0 when sysfs did not say.</summary>
    public int Index { get; }

    /// <summary>
    /// The driver bound to the interface's device (<c>device/driver</c>): <c>ena</c>, <c>vif</c> (Xen netfront),
    /// <c>ixgbevf</c>, <c>virtio_net</c>... Null for virtual interfaces (veth, loopback, bridges), which have no device.
    /// </summary>
    public string? BusDriver { get; }

    /// <summary>True for interfaces without a device (<c>/sys/devices/virtual/net/...</c>): veth, lo, bridges, tunnels.</summary>
    public bool IsVirtual { get; }

    /// <summary>The PCI vendor id (<c>0x1d0f</c> is Amazon, ENA's vendor), when the device has one.</summary>
    public string? VendorId { get; }

    public string? DeviceId { get; }

    public string? OperState { get; }

    /// <summary>True when the device is an ENA by its driver or its PCI ids (vendor 0x1d0f, an ENA device id).</summary>
    public bool IsEna => EnaCounters.IsEnaDriver(BusDriver) || EnaCounters.IsEnaPciId(VendorId, DeviceId);

    public override string ToString() => $"{Name} ({BusDriver ?? (IsVirtual ? "virtual" : "no driver")})";
}

/// <summary>Lists network interfaces from sysfs. sysfs shows the network namespace it was mounted in (a container's own).</summary>
public static class NetworkInterfaceInventory
{
    public const string DefaultRoot = "/sys/class/net";

    /// <summary>Every interface under <paramref name="root"/> (default <c>/sys/class/net</c>), in ifindex order.</summary>
    public static IReadOnlyList<NetworkInterfaceEntry> List(string root = DefaultRoot)
    {
        if (!Directory.Exists(root))
        {
            return Array.Empty<NetworkInterfaceEntry>();
        }

        var result = new List<NetworkInterfaceEntry>();
        foreach (string path in Directory.EnumerateFileSystemEntries(root))
        {
            string name = Path.GetFileName(path);
            if (name.Length == 0 || File.Exists(path) && !IsLink(path))
            {
                continue; // bonding_masters and other plain files
            }

            var entry = Describe(name, root);
            if (entry is not null)
            {
                result.Add(entry);
            }
        }

        return result.OrderBy(e => e.Index == 0 ? int.MaxValue : e.Index).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>One interface, or null when <paramref name="name"/> is not there.</summary>
    public static NetworkInterfaceEntry? Find(string name, string root = DefaultRoot)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name is "." or "..")
        {
            return null;
        }

        return Directory.Exists(Path.Combine(root, name)) ? Describe(name, root) : null;
    }

    private static NetworkInterfaceEntry? Describe(string name, string root)
    {
        string dir = Path.Combine(root, name);
        if (!Directory.Exists(dir))
        {
            return null;
        }

        string device = Path.Combine(dir, "device");
        bool hasDevice = Directory.Exists(device);
        string? driver = null;
        string driverLink = Path.Combine(device, "driver");
        if (hasDevice)
        {
            string? target = LinkTarget(driverLink);
            if (target is not null)
            {
                driver = Path.GetFileName(target.TrimEnd('/'));
            }
            else if (ReadLine(Path.Combine(device, "uevent"), "DRIVER=") is { } fromUevent)
            {
                driver = fromUevent;
            }
        }

        int index = int.TryParse(ReadFirstLine(Path.Combine(dir, "ifindex")), NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : 0;
        string? self = LinkTarget(dir);
        bool isVirtual = !hasDevice || (self?.Contains("/virtual/", StringComparison.Ordinal) ?? false);
        return new NetworkInterfaceEntry(name, index, driver, isVirtual,
            hasDevice ? ReadFirstLine(Path.Combine(device, "vendor")) : null,
            hasDevice ? ReadFirstLine(Path.Combine(device, "device")) : null,
            ReadFirstLine(Path.Combine(dir, "operstate")));
    }

    private static bool IsLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string? LinkTarget(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.LinkTarget ?? (Directory.Exists(path) ? new DirectoryInfo(path).LinkTarget : null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ReadFirstLine(string path)
    {
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            using var reader = new StreamReader(path);
            return reader.ReadLine()?.Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ReadLine(string path, string prefix)
    {
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            foreach (string line in File.ReadLines(path))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line.Substring(prefix.Length).Trim();
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }
}
