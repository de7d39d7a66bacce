using System;
using System.IO;
using System.Linq;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>Interface enumeration from sysfs, and what it tells about ENA and about being in a container.</summary>
public sealed class NetworkInterfaceInventoryTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "imds-sysfs-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>
    /// A sysfs laid out as the kernel does it: /sys/class/net/IF is a link into /sys/devices; a device-backed interface
    /// has device/driver pointing into /sys/bus/*/drivers/NAME, PCI devices have vendor/device files.
    /// </summary>
    private string FakeSysfs()
    {
        string classNet = Path.Combine(_root, "class", "net");
        Directory.CreateDirectory(classNet);
        void Device(string name, int index, string devicePath, string? bus, string? driver, string? vendor, string? device)
        {
            string dir = Path.Combine(_root, "devices", devicePath, "net", name);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "ifindex"), index + "\n");
            File.WriteAllText(Path.Combine(dir, "operstate"), "up\n");
            if (bus is not null)
            {
                string deviceDir = Path.Combine(_root, "devices", devicePath);
                string driverDir = Path.Combine(_root, "bus", bus, "drivers", driver!);
                Directory.CreateDirectory(driverDir);
                File.CreateSymbolicLink(Path.Combine(deviceDir, "driver"), Path.GetRelativePath(deviceDir, driverDir));
                File.CreateSymbolicLink(Path.Combine(dir, "device"), Path.GetRelativePath(dir, deviceDir));
                if (vendor is not null)
                {
                    File.WriteAllText(Path.Combine(deviceDir, "vendor"), vendor + "\n");
                    File.WriteAllText(Path.Combine(deviceDir, "device"), device + "\n");
                }
            }

            File.CreateSymbolicLink(Path.Combine(classNet, name), Path.GetRelativePath(classNet, dir));
        }

        Device("lo", 1, "virtual", null, null, null, null);
        Device("fake-ena5", 2, "pci0000:00/0000:00:05.0", "pci", "ena", "0x1d0f", "0xec20");
        Device("fake-vif1", 3, "vif-1", "xen", "vif", null, null);
        Device("fake-ixg6", 4, "pci0000:00/0000:00:06.0", "pci", "ixgbevf", "0x8086", "0x10ed");
        Device("fake-veth0", 5, "virtual", null, null, null, null);
        File.WriteAllText(Path.Combine(classNet, "bonding_masters"), string.Empty);
        return classNet;
    }

    [Fact]
    public void Reads_drivers_pci_ids_and_virtual_interfaces_from_sysfs()
    {
        var list = NetworkInterfaceInventory.List(FakeSysfs());
        Assert.Equal(new[] { "lo", "fake-ena5", "fake-vif1", "fake-ixg6", "fake-veth0" }, list.Select(i => i.Name));
        var ena = list[1];
        Assert.Equal("ena", ena.BusDriver);
        Assert.Equal("0x1d0f", ena.VendorId);
        Assert.Equal("0xec20", ena.DeviceId);
        Assert.True(ena.IsEna);
        Assert.False(ena.IsVirtual);
        Assert.Equal("vif", list[2].BusDriver);
        Assert.False(list[2].IsEna);
        Assert.Equal("ixgbevf", list[3].BusDriver);
        Assert.False(list[3].IsEna);
        Assert.True(list[0].IsVirtual);
        Assert.Null(list[4].BusDriver);
        Assert.True(list[4].IsVirtual);
        Assert.Equal(5, list[4].Index);
        Assert.Equal("up", list[4].OperState);
        Assert.Null(NetworkInterfaceInventory.Find("nope0", FakeSysfsPath()));
        Assert.Null(NetworkInterfaceInventory.Find("../x", FakeSysfsPath()));
        Assert.Equal("ena", NetworkInterfaceInventory.Find("fake-ena5", FakeSysfsPath())!.BusDriver);
    }

    private string FakeSysfsPath() => Path.Combine(_root, "class", "net");

    [Fact]
    public void An_ENA_device_is_recognised_by_its_PCI_ids_even_under_another_driver_name()
    {
        Assert.True(EnaCounters.IsEnaPciId("0x1d0f", "0xEC20"));
        Assert.True(EnaCounters.IsEnaPciId("0x1D0F", "0x0051"));
        Assert.False(EnaCounters.IsEnaPciId("0x1d0f", "0xefa0"));
        Assert.False(EnaCounters.IsEnaPciId("0x8086", "0xec20"));
    }

    [Fact]
    public void Discovery_keeps_what_sysfs_says_when_the_kernel_does_not_know_the_name()
    {
        // The fake interfaces do not exist for the ioctl (ENODEV): discovery still lists them with their sysfs driver.
        using var reader = EthtoolReader.Open();
        var found = EnaDiscovery.Discover(reader, FakeSysfs());
        Assert.Equal(new[] { "fake-ena5" }, found.Where(f => f.IsEna).Select(f => f.Name));
        Assert.All(found.Where(f => f.Name != "lo"), f => Assert.Null(f.DriverInfo));
        string message = EnaDiscovery.NoEnaInterfaceMessage(found.Where(f => !f.IsEna).ToList(), null);
        Assert.Contains("lo (no driver), fake-vif1 (vif), fake-ixg6 (ixgbevf), fake-veth0 (no driver)", message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_real_sysfs_lists_the_interfaces_ip_link_shows()
    {
        static string[] Ip() => ProcessRunner.Check("ip", "-o", "link", "show").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':')[1].Trim().Split('@')[0])
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToArray();

        // Other tests on this machine may add or remove interfaces: compare when ip shows the same list before and after.
        for (int attempt = 0; ; attempt++)
        {
            var before = Ip();
            var names = NetworkInterfaceInventory.List().Select(i => i.Name).OrderBy(n => n, StringComparer.Ordinal).ToArray();
            if (before.SequenceEqual(Ip()) || attempt == 5)
            {
                Assert.Equal(before, names);
                break;
            }
        }

        var ours = NetworkInterfaceInventory.List();
        Assert.True(ours.Single(i => i.Name == "lo").IsVirtual);
        Assert.Equal(ours.Select(i => i.Index).OrderBy(i => i), ours.Select(i => i.Index));
    }

    [Fact]
    public void A_namespace_of_its_own_or_only_virtual_interfaces_get_a_note_a_host_does_not()
    {
        var own = NetworkNamespaceContext.Create("net:[4026532400]", "net:[4026531833]", null, new[] { "lo", "eth0" }, 2);
        Assert.False(own.SameAsInit);
        Assert.True(own.LikelyIsolated);
        Assert.Contains("network namespace of its own (net:[4026532400]; PID 1 is in net:[4026531833])", own.Note, StringComparison.Ordinal);

        var container = NetworkNamespaceContext.Create("net:[1]", null, "docker", new[] { "lo", "eth0" }, 2);
        Assert.Null(container.SameAsInit);
        Assert.Contains("a container (docker)", container.Note, StringComparison.Ordinal);
        Assert.Contains("(lo, eth0)", container.Note, StringComparison.Ordinal);

        // A container with host networking sees the host's NIC: nothing to warn about.
        var hostNetwork = NetworkNamespaceContext.Create("net:[1]", null, "docker", new[] { "lo" }, 2);
        Assert.False(hostNetwork.LikelyIsolated);
        Assert.Null(hostNetwork.Note);
        var host = NetworkNamespaceContext.Create("net:[1]", "net:[1]", null, new[] { "lo" }, 2);
        Assert.True(host.SameAsInit);
        Assert.Null(host.Note);
    }

    [Fact]
    public void Interface_names_are_checked_as_the_kernel_would()
    {
        EthtoolReader.ValidateInterfaceName("eth0");
        EthtoolReader.ValidateInterfaceName("a23456789012345"); // 15 bytes
        Assert.Throws<ArgumentException>(() => EthtoolReader.ValidateInterfaceName("a234567890123456"));
        Assert.Throws<ArgumentException>(() => EthtoolReader.ValidateInterfaceName(string.Empty));
        Assert.Throws<ArgumentException>(() => EthtoolReader.ValidateInterfaceName("a/b"));
        Assert.Throws<ArgumentException>(() => EthtoolReader.ValidateInterfaceName("eth0:1"));
        Assert.Throws<ArgumentException>(() => EthtoolReader.ValidateInterfaceName("é12345678901234")); // 15 characters, 16 bytes
    }
}
