using System;
using System.Runtime.InteropServices;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>
/// The kernel's ethtool ioctl interface (<c>SIOCETHTOOL</c>), as <c>ethtool -i</c> and <c>ethtool -S</c> use it.
/// Values from <c>&lt;linux/sockios.h&gt;</c> and <c>&lt;linux/ethtool.h&gt;</c>. The struct offsets are the same on
/// x86_64 and arm64: every field used is a u32/u64 at a naturally aligned offset or a byte array, and the only
/// pointer (<c>ifr_data</c>) sits at offset 16 of <c>struct ifreq</c> on every Linux ABI.
/// </summary>
internal static unsafe partial class EthtoolNative
{
    public const int AfUnix = 1;
    public const int AfInet = 2;
    public const int SockDgram = 2;

    /// <summary><c>ioctl</c> request number. glibc declares the request as <c>unsigned long</c>.</summary>
    public const uint SiocEthtool = 0x8946;

    /// <summary>Size of <c>ifr_name</c>, NUL included: names are at most 15 bytes.</summary>
    public const int IfNameSize = 16;

    /// <summary><c>struct ifreq</c>: 40 bytes on 64-bit Linux (16-byte name + 24-byte union).</summary>
    public const int IfreqSize = 40;

    /// <summary>Offset of <c>ifr_data</c> (a pointer) in <c>struct ifreq</c>.</summary>
    public const int IfreqDataOffset = 16;

    public const uint GDrvInfo = 0x03;
    public const uint GStrings = 0x1b;
    public const uint GStats = 0x1d;
    public const uint GSsetInfo = 0x37;

    /// <summary>String-set id of the driver statistics (the names <c>ethtool -S</c> prints).</summary>
    public const uint EthSsStats = 1;

    /// <summary>Each statistic name is padded with NULs to 32 bytes; a name of exactly 32 bytes has no NUL.</summary>
    public const int EthGStringLength = 32;

    /// <summary><c>struct ethtool_drvinfo</c>: 196 bytes.</summary>
    public const int DrvInfoSize = 196;
    public const int DrvInfoDriverOffset = 4;
    public const int DrvInfoVersionOffset = 36;
    public const int DrvInfoFirmwareOffset = 68;
    public const int DrvInfoBusInfoOffset = 100;
    public const int DrvInfoExpansionRomOffset = 132;
    public const int DrvInfoStringLength = 32;
    public const int DrvInfoPrivFlagsOffset = 176;
    public const int DrvInfoNStatsOffset = 180;
    public const int DrvInfoTestInfoOffset = 184;
    public const int DrvInfoEepromOffset = 188;
    public const int DrvInfoRegDumpOffset = 192;

    /// <summary><c>struct ethtool_sset_info</c> header: cmd u32 @0, reserved u32 @4, sset_mask u64 @8, u32 data[] @16.</summary>
    public const int SsetInfoHeaderSize = 16;
    public const int SsetInfoMaskOffset = 8;

    /// <summary><c>struct ethtool_gstrings</c> header: cmd @0, string_set @4, len @8, u8 data[] @12.</summary>
    public const int GStringsHeaderSize = 12;
    public const int GStringsLengthOffset = 8;

    /// <summary><c>struct ethtool_stats</c> header: cmd @0, n_stats @4, u64 data[] @8.</summary>
    public const int GStatsHeaderSize = 8;
    public const int GStatsCountOffset = 4;

    // errno values: the generic numbers, shared by x86_64 and arm64.
    public const int Eperm = 1;
    public const int Efault = 14;
    public const int Eacces = 13;
    public const int Enodev = 19;
    public const int Einval = 22;
    public const int Eopnotsupp = 95;

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "strerror")]
    private static partial nint StrError(int errnum);

    /// <summary>The C library's text for an errno ("No such device").</summary>
    public static string Describe(int errno)
    {
        try
        {
            nint text = StrError(errno);
            return text == 0 ? "errno " + errno : (Marshal.PtrToStringUTF8(text) ?? "errno " + errno);
        }
        catch (EntryPointNotFoundException)
        {
            return "errno " + errno;
        }
    }
}

/// <summary>A socket file descriptor, closed once.</summary>
internal sealed class EthtoolSocketHandle : Microsoft.Win32.SafeHandles.SafeHandleMinusOneIsInvalid
{
    public EthtoolSocketHandle(int fd)
        : base(ownsHandle: true)
    {
        SetHandle(fd);
    }

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => EthtoolNative.Close((int)handle) == 0;
}
