using System;
using System.Collections.Generic;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>An interface found by <see cref="EnaDiscovery"/>, with its driver as sysfs and GDRVINFO tell it.</summary>
public sealed class DiscoveredInterface
{
    internal DiscoveredInterface(NetworkInterfaceEntry entry, EthtoolDriverInfo? driverInfo)
    {
        Entry = entry;
        DriverInfo = driverInfo;
    }

    public NetworkInterfaceEntry Entry { get; }

    public string Name => Entry.Name;

    /// <summary>GDRVINFO; null for interfaces without driver information (loopback).</summary>
    public EthtoolDriverInfo? DriverInfo { get; }

    /// <summary>GDRVINFO's driver name, else the sysfs bus driver; null when neither is known.</summary>
    public string? Driver => !string.IsNullOrEmpty(DriverInfo?.Driver) ? DriverInfo!.Driver : Entry.BusDriver;

    public bool IsEna => Entry.IsEna || EnaCounters.IsEnaDriver(DriverInfo?.Driver);

    public override string ToString() => $"{Name} ({Driver ?? "no driver"})";
}

/// <summary>Finds the network interfaces of this network namespace and which of them are ENA.</summary>
public static class EnaDiscovery
{
    /// <summary>Every interface in sysfs, with GDRVINFO read through <paramref name="reader"/>.</summary>
    public static IReadOnlyList<DiscoveredInterface> Discover(EthtoolReader reader, string sysClassNet = NetworkInterfaceInventory.DefaultRoot)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var result = new List<DiscoveredInterface>();
        foreach (var entry in NetworkInterfaceInventory.List(sysClassNet))
        {
            EthtoolDriverInfo? info = null;
            try
            {
                info = reader.GetDriverInfo(entry.Name);
            }
            catch (EthtoolException)
            {
                // Gone since sysfs listed it, or a sysfs of another namespace: keep what sysfs says.
            }
            catch (UnauthorizedAccessException)
            {
            }

            result.Add(new DiscoveredInterface(entry, info));
        }

        return result;
    }

    /// <summary>"eth0 (virtio_net), lo (no driver)": for messages.</summary>
    public static string DescribeDrivers(IEnumerable<DiscoveredInterface> interfaces)
    {
        ArgumentNullException.ThrowIfNull(interfaces);
        var list = interfaces.ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list.Select(i => i.ToString()));
    }

    /// <summary>
    /// The message for "no ENA interface here": which interfaces and drivers there are, what that means, and, when this
    /// process sits in a container or namespace of its own, that the host's ENA is invisible from here.
    /// </summary>
    public static string NoEnaInterfaceMessage(IReadOnlyList<DiscoveredInterface> interfaces, NetworkNamespaceContext? context)
    {
        ArgumentNullException.ThrowIfNull(interfaces);
        string text = $"No ENA network interface in this network namespace. Interfaces and their drivers: {DescribeDrivers(interfaces)}. "
            + "ENA's allowance counters (linklocal_allowance_exceeded and the others) exist only on ENA interfaces of Nitro instances; Xen netfront (vif), ixgbevf, virtio_net and virtual interfaces have none.";
        string? note = (context ?? NetworkNamespaceContext.Detect(interfaces.Select(i => i.Entry))).Note;
        return note is null ? text : text + " " + note;
    }
}
