using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>A counter counts events (only its change over time says what happens now); a gauge is a level.</summary>
public enum EnaCounterKind
{
    /// <summary>Cumulative since the last device reset; read it as a difference between two readings.</summary>
    Counter,

    /// <summary>A level at the moment of the reading; a difference means nothing.</summary>
    Gauge,
}

/// <summary>What an allowance applies to.</summary>
public enum EnaCounterScope
{
    /// <summary>A maximum of the whole instance (all its interfaces together).</summary>
    Instance,

    /// <summary>A maximum of each network interface separately.</summary>
    NetworkInterface,
}

/// <summary>One of the network performance counters the ENA driver reports (EC2 User Guide, "Monitor network performance for ENA settings").</summary>
public sealed class EnaCounterDefinition
{
    internal EnaCounterDefinition(string name, string shortName, EnaCounterKind kind, EnaCounterScope scope, string introducedIn, string meaning)
    {
        Name = name;
        ShortName = shortName;
        Kind = kind;
        Scope = scope;
        IntroducedIn = introducedIn;
        Meaning = meaning;
    }

    /// <summary>The name <c>ethtool -S</c> prints.</summary>
    public string Name { get; }

    /// <summary>A short label for tables: LinkLocal, Pps, BwIn, BwOut, Conntrack, ConntrackAvailable.</summary>
    public string ShortName { get; }

    public EnaCounterKind Kind { get; }

    public EnaCounterScope Scope { get; }

    /// <summary>The first out-of-tree ENA driver (amzn-drivers) version that reports it.</summary>
    public string IntroducedIn { get; }

    /// <summary>What the counter means, in plain words.</summary>
    public string Meaning { get; }

    public override string ToString() => Name;
}

/// <summary>The ENA allowance counters and how to recognise an ENA interface and an ENA driver too old to have them.</summary>
public static partial class EnaCounters
{
    public const string BwInAllowanceExceeded = "bw_in_allowance_exceeded";
    public const string BwOutAllowanceExceeded = "bw_out_allowance_exceeded";
    public const string PpsAllowanceExceeded = "pps_allowance_exceeded";
    public const string ConntrackAllowanceExceeded = "conntrack_allowance_exceeded";
    public const string LinkLocalAllowanceExceeded = "linklocal_allowance_exceeded";
    public const string ConntrackAllowanceAvailable = "conntrack_allowance_available";

    /// <summary>The driver name ENA reports (GDRVINFO and the PCI driver).</summary>
    public const string EnaDriverName = "ena";

    /// <summary>Amazon's PCI vendor id.</summary>
    public const string AmazonPciVendor = "0x1d0f";

    /// <summary>Link-local packets per second each network interface may send to IMDS, DNS and Time Sync together.</summary>
    public const int LinkLocalPacketsPerSecond = 1024;

    private static readonly string[] EnaPciDevices = { "0xec20", "0xec21", "0x1ec2", "0x0ec2", "0x0051" };

    /// <summary>The six counters, in the order the driver lists them.</summary>
    public static IReadOnlyList<EnaCounterDefinition> All { get; } = new[]
    {
        new EnaCounterDefinition(BwInAllowanceExceeded, "BwIn", EnaCounterKind.Counter, EnaCounterScope.Instance, "2.2.10",
            "Packets queued or dropped because the inbound aggregate bandwidth exceeded the maximum for the instance."),
        new EnaCounterDefinition(BwOutAllowanceExceeded, "BwOut", EnaCounterKind.Counter, EnaCounterScope.Instance, "2.2.10",
            "Packets queued or dropped because the outbound aggregate bandwidth exceeded the maximum for the instance."),
        new EnaCounterDefinition(PpsAllowanceExceeded, "Pps", EnaCounterKind.Counter, EnaCounterScope.Instance, "2.2.10",
            "Packets queued or dropped because the bidirectional packets per second exceeded the maximum for the instance."),
        new EnaCounterDefinition(ConntrackAllowanceExceeded, "Conntrack", EnaCounterKind.Counter, EnaCounterScope.Instance, "2.2.10",
            "Packets dropped because the instance tracked its maximum number of connections and new connections could not be established."),
        new EnaCounterDefinition(LinkLocalAllowanceExceeded, "LinkLocal", EnaCounterKind.Counter, EnaCounterScope.NetworkInterface, "2.2.10",
            "Packets dropped because traffic to the link-local services (the instance metadata service at 169.254.169.254, the Amazon DNS resolver, the Amazon Time Sync Service) exceeded "
            + LinkLocalPacketsPerSecond.ToString(CultureInfo.InvariantCulture) + " packets per second on this network interface."),
        new EnaCounterDefinition(ConntrackAllowanceAvailable, "ConntrackAvailable", EnaCounterKind.Gauge, EnaCounterScope.Instance, "2.8.1",
            "How many more connections the instance can track before it reaches its Connections Tracked allowance. A level, not a count of drops."),
    };

    /// <summary>The five counters of dropped or queued packets (all but the conntrack_allowance_available gauge).</summary>
    public static IReadOnlyList<EnaCounterDefinition> ExceededCounters { get; } = All.Where(c => c.Kind == EnaCounterKind.Counter).ToArray();

    public static EnaCounterDefinition? Find(string name) => All.FirstOrDefault(c => c.Name == name);

    public static bool IsEnaDriver(string? driver) => string.Equals(driver, EnaDriverName, StringComparison.Ordinal);

    public static bool IsEnaPciId(string? vendorId, string? deviceId) =>
        string.Equals(vendorId, AmazonPciVendor, StringComparison.OrdinalIgnoreCase)
        && deviceId is not null && EnaPciDevices.Contains(deviceId.ToLowerInvariant());

    [GeneratedRegex(@"^(?<major>\d+)\.(?<minor>\d+)(?:\.(?<patch>\d+))?(?<suffix>[A-Za-z]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex DriverVersionPattern();

    /// <summary>
    /// Reads an ENA driver version string. Out-of-tree (amzn-drivers) versions end in <c>g</c> (<c>2.13.0g</c>); old
    /// in-tree ones in <c>K</c>/<c>k</c> (<c>2.1.0K</c>, <c>1.2.0k</c>). A version with major 3 or more is not an ENA
    /// version at all: newer in-tree drivers have none and the kernel reports its own release instead.
    /// </summary>
    public static EnaDriverVersion ParseDriverVersion(string? version)
    {
        if (string.IsNullOrWhiteSpace(version))
        {
            return new EnaDriverVersion(version ?? string.Empty, null, EnaDriverFlavor.Unknown);
        }

        Match m = DriverVersionPattern().Match(version.Trim());
        if (m.Success)
        {
            int major = int.Parse(m.Groups["major"].Value, CultureInfo.InvariantCulture);
            int minor = int.Parse(m.Groups["minor"].Value, CultureInfo.InvariantCulture);
            int patch = m.Groups["patch"].Success ? int.Parse(m.Groups["patch"].Value, CultureInfo.InvariantCulture) : 0;
            string suffix = m.Groups["suffix"].Value;
            if (major <= 2)
            {
                var flavor = suffix switch
                {
                    "g" => EnaDriverFlavor.OutOfTree,
                    "K" or "k" => EnaDriverFlavor.InTree,
                    _ => EnaDriverFlavor.Unknown,
                };
                return new EnaDriverVersion(version, new Version(major, minor, patch), flavor);
            }
        }

        // "4.18.0-305.12.1.el8_4.x86_64", "6.8.0-1021-aws": the kernel's release, so an in-tree driver without a version.
        bool kernelRelease = Regex.IsMatch(version, @"^[3-9]\.\d+|^[1-9]\d\.\d+", RegexOptions.CultureInvariant);
        return new EnaDriverVersion(version, null, kernelRelease ? EnaDriverFlavor.InTreeKernelRelease : EnaDriverFlavor.Unknown);
    }
}

/// <summary>Where an ENA driver came from, as far as its version string tells.</summary>
public enum EnaDriverFlavor
{
    Unknown,

    /// <summary>The amzn-drivers GitHub driver (version ends in <c>g</c>).</summary>
    OutOfTree,

    /// <summary>An older in-tree driver with its own version (ends in <c>K</c>).</summary>
    InTree,

    /// <summary>An in-tree driver without a version: GDRVINFO carries the kernel's release instead.</summary>
    InTreeKernelRelease,
}

/// <summary>An ENA driver version string, read.</summary>
public sealed class EnaDriverVersion
{
    /// <summary>The first out-of-tree version with the five allowance counters.</summary>
    public static readonly Version CountersIntroduced = new(2, 2, 10);

    /// <summary>The first out-of-tree version with conntrack_allowance_available.</summary>
    public static readonly Version ConntrackAvailableIntroduced = new(2, 8, 1);

    internal EnaDriverVersion(string text, Version? version, EnaDriverFlavor flavor)
    {
        Text = text;
        Version = version;
        Flavor = flavor;
    }

    public string Text { get; }

    /// <summary>The ENA version number; null when the string is a kernel release or unreadable.</summary>
    public Version? Version { get; }

    public EnaDriverFlavor Flavor { get; }

    /// <summary>True when the version is known and older than 2.2.10, the first with the allowance counters.</summary>
    public bool PredatesAllowanceCounters => Version is not null && Version < CountersIntroduced;

    public override string ToString() => Text;
}
