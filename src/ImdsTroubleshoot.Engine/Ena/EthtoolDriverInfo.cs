using System;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>What <c>ethtool -i</c> shows: the driver behind a network interface (ETHTOOL_GDRVINFO).</summary>
public sealed class EthtoolDriverInfo
{
    public EthtoolDriverInfo(string driver, string version, string firmwareVersion, string expansionRomVersion, string busInfo,
        int statisticsCount = 0, int privateFlagsCount = 0, int testInfoLength = 0, int eepromDumpLength = 0, int registerDumpLength = 0)
    {
        Driver = driver ?? string.Empty;
        Version = version ?? string.Empty;
        FirmwareVersion = firmwareVersion ?? string.Empty;
        ExpansionRomVersion = expansionRomVersion ?? string.Empty;
        BusInfo = busInfo ?? string.Empty;
        StatisticsCount = statisticsCount;
        PrivateFlagsCount = privateFlagsCount;
        TestInfoLength = testInfoLength;
        EepromDumpLength = eepromDumpLength;
        RegisterDumpLength = registerDumpLength;
    }

    /// <summary>The driver name, e.g. <c>ena</c>, <c>vif</c> (Xen netfront), <c>virtio_net</c>, <c>veth</c>.</summary>
    public string Driver { get; }

    /// <summary>
    /// The driver version. Drivers that do not set one report the running kernel's release (the kernel fills it
    /// in first), so an in-tree ENA shows e.g. <c>4.18.0-305.12.1.el8_4.x86_64</c>; the out-of-tree one <c>2.13.0g</c>.
    /// </summary>
    public string Version { get; }

    public string FirmwareVersion { get; }

    public string ExpansionRomVersion { get; }

    /// <summary>The bus address, e.g. <c>0000:00:05.0</c> for a PCI device; empty for virtual devices.</summary>
    public string BusInfo { get; }

    /// <summary>n_stats as GDRVINFO reports it (how many counters <c>ethtool -S</c> lists); 0 when unknown.</summary>
    public int StatisticsCount { get; }

    public int PrivateFlagsCount { get; }

    public int TestInfoLength { get; }

    public int EepromDumpLength { get; }

    public int RegisterDumpLength { get; }

    /// <summary>True when the driver reports statistics (<c>supports-statistics: yes</c>).</summary>
    public bool SupportsStatistics => StatisticsCount > 0;

    /// <summary>
    /// Parses the text <c>ethtool -i IFACE</c> prints (<c>driver: ena</c>, <c>version: 2.13.0g</c>, ...). Unknown
    /// lines are ignored; the <c>supports-*</c> lines cannot carry counts, so only <see cref="SupportsStatistics"/>
    /// is kept from them (as a count of 1).
    /// </summary>
    public static EthtoolDriverInfo Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string raw in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            string line = raw.TrimEnd();
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || line.StartsWith('#'))
            {
                continue;
            }

            string key = line.Substring(0, colon).Trim();
            string value = line.Substring(colon + 1).Trim();
            fields.TryAdd(key, value);
        }

        if (!fields.TryGetValue("driver", out string? driver))
        {
            throw new FormatException("This is not 'ethtool -i' output: there is no 'driver:' line.");
        }

        string Field(string key) => fields.TryGetValue(key, out string? v) ? v : string.Empty;
        int stats = Field("supports-statistics") == "yes" ? 1 : 0;
        return new EthtoolDriverInfo(driver, Field("version"), Field("firmware-version"), Field("expansion-rom-version"), Field("bus-info"), stats);
    }

    public override string ToString() => string.IsNullOrEmpty(Version) ? Driver : $"{Driver} {Version}";
}
