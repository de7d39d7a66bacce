using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>
/// Every ioctl constant, struct size and field offset the reader hard-codes, checked by the C compiler against the
/// system's own headers (&lt;linux/ethtool.h&gt;, &lt;net/if.h&gt;...), for this machine and, where the cross compiler is
/// installed, for arm64.
/// </summary>
public sealed class EthtoolAbiTests
{
    private readonly ITestOutputHelper _log;

    public EthtoolAbiTests(ITestOutputHelper log)
    {
        _log = log;
    }

    /// <summary>The C expression each constant of EthtoolNative must equal.</summary>
    private static readonly Dictionary<string, string> CExpressions = new()
    {
        ["AfUnix"] = "AF_UNIX",
        ["AfInet"] = "AF_INET",
        ["SockDgram"] = "SOCK_DGRAM",
        ["SiocEthtool"] = "SIOCETHTOOL",
        ["IfNameSize"] = "IFNAMSIZ",
        ["IfreqSize"] = "sizeof(struct ifreq)",
        ["IfreqDataOffset"] = "offsetof(struct ifreq, ifr_data)",
        ["GDrvInfo"] = "ETHTOOL_GDRVINFO",
        ["GStrings"] = "ETHTOOL_GSTRINGS",
        ["GStats"] = "ETHTOOL_GSTATS",
        ["GSsetInfo"] = "ETHTOOL_GSSET_INFO",
        ["EthSsStats"] = "ETH_SS_STATS",
        ["EthGStringLength"] = "ETH_GSTRING_LEN",
        ["DrvInfoSize"] = "sizeof(struct ethtool_drvinfo)",
        ["DrvInfoDriverOffset"] = "offsetof(struct ethtool_drvinfo, driver)",
        ["DrvInfoVersionOffset"] = "offsetof(struct ethtool_drvinfo, version)",
        ["DrvInfoFirmwareOffset"] = "offsetof(struct ethtool_drvinfo, fw_version)",
        ["DrvInfoBusInfoOffset"] = "offsetof(struct ethtool_drvinfo, bus_info)",
        ["DrvInfoExpansionRomOffset"] = "offsetof(struct ethtool_drvinfo, erom_version)",
        ["DrvInfoStringLength"] = "sizeof(((struct ethtool_drvinfo *)0)->driver)",
        ["DrvInfoPrivFlagsOffset"] = "offsetof(struct ethtool_drvinfo, n_priv_flags)",
        ["DrvInfoNStatsOffset"] = "offsetof(struct ethtool_drvinfo, n_stats)",
        ["DrvInfoTestInfoOffset"] = "offsetof(struct ethtool_drvinfo, testinfo_len)",
        ["DrvInfoEepromOffset"] = "offsetof(struct ethtool_drvinfo, eedump_len)",
        ["DrvInfoRegDumpOffset"] = "offsetof(struct ethtool_drvinfo, regdump_len)",
        ["SsetInfoHeaderSize"] = "offsetof(struct ethtool_sset_info, data)",
        ["SsetInfoMaskOffset"] = "offsetof(struct ethtool_sset_info, sset_mask)",
        ["GStringsHeaderSize"] = "offsetof(struct ethtool_gstrings, data)",
        ["GStringsLengthOffset"] = "offsetof(struct ethtool_gstrings, len)",
        ["GStatsHeaderSize"] = "offsetof(struct ethtool_stats, data)",
        ["GStatsCountOffset"] = "offsetof(struct ethtool_stats, n_stats)",
        ["Eperm"] = "EPERM",
        ["Efault"] = "EFAULT",
        ["Eacces"] = "EACCES",
        ["Enodev"] = "ENODEV",
        ["Einval"] = "EINVAL",
        ["Eopnotsupp"] = "EOPNOTSUPP",
    };

    private static string CheckSource()
    {
        var constants = typeof(EthtoolReader).Assembly.GetType("ImdsTroubleshoot.Engine.Ena.EthtoolNative", throwOnError: true)!
            .GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .ToDictionary(f => f.Name, f => Convert.ToInt64(f.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(CExpressions.Keys.OrderBy(k => k, StringComparer.Ordinal), constants.Keys.OrderBy(k => k, StringComparer.Ordinal));
        var c = new StringBuilder("#include <stddef.h>\n#include <errno.h>\n#include <sys/socket.h>\n#include <net/if.h>\n#include <linux/sockios.h>\n#include <linux/ethtool.h>\n");
        foreach (var (name, expression) in CExpressions)
        {
            c.Append(System.Globalization.CultureInfo.InvariantCulture, $"_Static_assert(({expression}) == {constants[name]}L, \"{name}\");\n");
        }

        return c.ToString();
    }

    private static ProcessResult Compile(string compiler, string source) =>
        ProcessRunner.Run(compiler, new[] { "-fsyntax-only", "-x", "c", "-" }, TimeSpan.FromSeconds(60), stdin: source);

    [Fact]
    public void Constants_sizes_and_offsets_match_the_kernel_headers()
    {
        string source = CheckSource();
        var native = Compile("gcc", source);
        Assert.True(native.ExitCode == 0, "gcc (from tests/run-tests.sh's packages) rejected the layout:\n" + native);
        _log.WriteLine($"{CExpressions.Count} constants checked by gcc for {System.Runtime.InteropServices.RuntimeInformation.OSArchitecture}.");

        string cross = RuntimeInformationArm64() ? "x86_64-linux-gnu-gcc" : "aarch64-linux-gnu-gcc";
        if (File.Exists("/usr/bin/" + cross))
        {
            var other = Compile(cross, source);
            Assert.True(other.ExitCode == 0, $"{cross} rejected the layout:\n{other}");
            _log.WriteLine($"... and by {cross}.");
        }
    }

    private static bool RuntimeInformationArm64() => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64;

    [Fact]
    public void A_wrong_offset_would_be_caught()
    {
        string broken = CheckSource().Replace("n_stats)) == 180L", "n_stats)) == 184L", StringComparison.Ordinal);
        Assert.NotEqual(CheckSource(), broken);
        var r = Compile("gcc", broken);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("DrvInfoNStatsOffset", r.Stderr, StringComparison.Ordinal);
    }
}
