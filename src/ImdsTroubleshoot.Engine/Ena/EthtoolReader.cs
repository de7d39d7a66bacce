using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using ImdsTroubleshoot.Engine.Net;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>
/// Reads driver information and statistics of network interfaces straight from the kernel, the way
/// <c>ethtool -i</c> and <c>ethtool -S</c> do (ioctl SIOCETHTOOL: GDRVINFO, GSSET_INFO, GSTRINGS, GSTATS), with no
/// ethtool binary. Needs no privileges: the kernel lets anyone run these "get" commands.
/// </summary>
/// <remarks>
/// The kernel looks the name up in the network namespace the socket was created in, not the calling thread's.
/// <see cref="Open"/> with a namespace name creates the socket there (needs root), so one process can read the
/// interfaces of a lab namespace.
/// <para>
/// The count of statistics can change between asking for it and reading (ENA ≤ 2.x counted the active queues,
/// veth counts its channels, <c>ethtool -L</c> changes both). Older kernels then wrote the new, larger count
/// past the caller's buffer; kernels with the 2025 fix answer a mismatched count with 0 and write nothing.
/// This reader asks with the exact count, gives the kernel buffers in unmanaged memory with generous spare
/// room, accepts a result only when both the names and the values came back with that same count, and
/// otherwise asks again.
/// </para>
/// </remarks>
public sealed unsafe class EthtoolReader : IDisposable
{
    /// <summary>How often a read is retried when the set of statistics changes under it.</summary>
    public const int MaxAttempts = 8;

    /// <summary>No driver has anywhere near this many counters; a larger count is treated as corrupt.</summary>
    private const int MaxStatistics = 1 << 20;

    private readonly EthtoolSocketHandle _socket;
    private readonly TimeProvider _time;

    private EthtoolReader(EthtoolSocketHandle socket, string? networkNamespace, TimeProvider time)
    {
        _socket = socket;
        NetworkNamespace = networkNamespace;
        _time = time;
    }

    /// <summary>How many read rounds found the set of statistics changed and were retried (for diagnostics and tests).</summary>
    internal int Mismatches { get; private set; }

    /// <summary>The named network namespace the reader looks in; null for the process's own.</summary>
    public string? NetworkNamespace { get; }

    /// <summary>
    /// Opens a reader for the process's network namespace, or for the named one (<c>ip netns add NAME</c>; root only).
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    public static EthtoolReader Open(string? networkNamespace = null, TimeProvider? time = null)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Reading NIC statistics through SIOCETHTOOL needs Linux.");
        }

        EthtoolSocketHandle socket = networkNamespace is null
            ? CreateSocket()
            : Net.NetworkNamespace.Run(networkNamespace, CreateSocket);
        return new EthtoolReader(socket, networkNamespace, time ?? TimeProvider.System);
    }

    private static EthtoolSocketHandle CreateSocket()
    {
        // Any socket family reaches dev_ioctl; ethtool uses AF_INET. AF_UNIX works where IPv4 is disabled or filtered.
        int fd = EthtoolNative.Socket(EthtoolNative.AfInet, EthtoolNative.SockDgram, 0);
        if (fd < 0)
        {
            int inetErrno = Marshal.GetLastPInvokeError();
            fd = EthtoolNative.Socket(EthtoolNative.AfUnix, EthtoolNative.SockDgram, 0);
            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new EthtoolException($"Could not create a socket for ethtool requests: AF_INET: {EthtoolNative.Describe(inetErrno)}; AF_UNIX: {EthtoolNative.Describe(errno)}.", null, errno);
            }
        }

        return new EthtoolSocketHandle(fd);
    }

    /// <summary>
    /// ETHTOOL_GDRVINFO, as <c>ethtool -i</c>. Returns null when the interface has no driver information
    /// (EOPNOTSUPP, as on loopback).
    /// </summary>
    /// <exception cref="NetworkInterfaceNotFoundException">No interface of that name here (ENODEV).</exception>
    public EthtoolDriverInfo? GetDriverInfo(string interfaceName)
    {
        byte* buffer = (byte*)NativeMemory.AllocZeroed(EthtoolNative.DrvInfoSize);
        try
        {
            *(uint*)buffer = EthtoolNative.GDrvInfo;
            int errno = Ioctl(interfaceName, buffer);
            if (errno == EthtoolNative.Eopnotsupp)
            {
                return null;
            }

            ThrowOnError(errno, interfaceName, "ETHTOOL_GDRVINFO");
            return new EthtoolDriverInfo(
                CString(buffer + EthtoolNative.DrvInfoDriverOffset, EthtoolNative.DrvInfoStringLength),
                CString(buffer + EthtoolNative.DrvInfoVersionOffset, EthtoolNative.DrvInfoStringLength),
                CString(buffer + EthtoolNative.DrvInfoFirmwareOffset, EthtoolNative.DrvInfoStringLength),
                CString(buffer + EthtoolNative.DrvInfoExpansionRomOffset, EthtoolNative.DrvInfoStringLength),
                CString(buffer + EthtoolNative.DrvInfoBusInfoOffset, EthtoolNative.DrvInfoStringLength),
                ClampCount(*(uint*)(buffer + EthtoolNative.DrvInfoNStatsOffset)),
                ClampCount(*(uint*)(buffer + EthtoolNative.DrvInfoPrivFlagsOffset)),
                ClampCount(*(uint*)(buffer + EthtoolNative.DrvInfoTestInfoOffset)),
                ClampCount(*(uint*)(buffer + EthtoolNative.DrvInfoEepromOffset)),
                ClampCount(*(uint*)(buffer + EthtoolNative.DrvInfoRegDumpOffset)));
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>Every driver statistic of the interface, names and values in the driver's order, as <c>ethtool -S</c>.</summary>
    /// <exception cref="NetworkInterfaceNotFoundException">No interface of that name here (ENODEV).</exception>
    /// <exception cref="EthtoolStatisticsNotSupportedException">The driver exposes no statistics (loopback, bridge).</exception>
    /// <exception cref="EthtoolException">Any other failure, or a set of statistics that kept changing.</exception>
    public IReadOnlyList<EthtoolStatistic> GetStatistics(string interfaceName, CancellationToken cancellationToken = default)
    {
        int lastAsked = -1;
        string lastSeen = string.Empty;
        for (int attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = GetStatisticsCount(interfaceName);
            lastAsked = count;
            if (TryReadStatistics(interfaceName, count, out var statistics, out string mismatch))
            {
                return statistics!;
            }

            lastSeen = mismatch;
            Mismatches++;
            if (attempt > 2)
            {
                Thread.Sleep(attempt * 5);
            }
        }

        throw new EthtoolException($"The statistics of '{interfaceName}' kept changing while they were read ({MaxAttempts} attempts; last: asked for {lastAsked}, {lastSeen}). Try again.", interfaceName, 0);
    }

    /// <summary>Driver information (when there is some) and every statistic, stamped with the time of the read.</summary>
    public EthtoolSnapshot Read(string interfaceName, string? busDriver = null, CancellationToken cancellationToken = default)
    {
        EthtoolDriverInfo? info = GetDriverInfo(interfaceName);
        var statistics = GetStatistics(interfaceName, cancellationToken);
        return new EthtoolSnapshot(interfaceName, info, statistics, _time.GetUtcNow(), EthtoolSource.Kernel, busDriver);
    }

    /// <summary>ETHTOOL_GSSET_INFO for ETH_SS_STATS; falls back to GDRVINFO's n_stats on kernels without it.</summary>
    internal int GetStatisticsCount(string interfaceName)
    {
        byte* buffer = (byte*)NativeMemory.AllocZeroed(EthtoolNative.SsetInfoHeaderSize + 8);
        try
        {
            *(uint*)buffer = EthtoolNative.GSsetInfo;
            *(ulong*)(buffer + EthtoolNative.SsetInfoMaskOffset) = 1UL << (int)EthtoolNative.EthSsStats;
            int errno = Ioctl(interfaceName, buffer);
            int count;
            if (errno == EthtoolNative.Eopnotsupp)
            {
                // Kernels before 2.6.34 have no GSSET_INFO; ethtool falls back to n_stats as well.
                EthtoolDriverInfo? info = GetDriverInfo(interfaceName);
                count = info?.StatisticsCount ?? 0;
            }
            else
            {
                ThrowOnError(errno, interfaceName, "ETHTOOL_GSSET_INFO");
                ulong mask = *(ulong*)(buffer + EthtoolNative.SsetInfoMaskOffset);
                count = (mask & (1UL << (int)EthtoolNative.EthSsStats)) == 0 ? 0 : ClampCount(*(uint*)(buffer + EthtoolNative.SsetInfoHeaderSize));
            }

            if (count == 0)
            {
                throw new EthtoolStatisticsNotSupportedException(
                    $"The interface '{interfaceName}' has no driver statistics (its driver answers no ETH_SS_STATS set; 'ethtool -S {interfaceName}' prints 'no stats available').",
                    interfaceName, EthtoolNative.Eopnotsupp);
            }

            if (count > MaxStatistics)
            {
                throw new EthtoolException($"The driver of '{interfaceName}' reported {count} statistics, which is not plausible.", interfaceName, 0);
            }

            return count;
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>
    /// One GSTRINGS + GSTATS round with the count <paramref name="count"/>. False (with the reason) when the kernel
    /// answered with another count: the set changed and the caller should ask for the count again.
    /// </summary>
    internal bool TryReadStatistics(string interfaceName, int count, out IReadOnlyList<EthtoolStatistic>? statistics, out string mismatch)
    {
        statistics = null;
        // Spare room: kernels without the count check write their current count, whatever the caller asked for.
        int capacity = count + Math.Max(256, count);
        nuint stringsSize = (nuint)EthtoolNative.GStringsHeaderSize + ((nuint)capacity * EthtoolNative.EthGStringLength);
        nuint statsSize = (nuint)EthtoolNative.GStatsHeaderSize + ((nuint)capacity * sizeof(ulong));
        byte* strings = (byte*)NativeMemory.AllocZeroed(stringsSize);
        byte* stats = (byte*)NativeMemory.AllocZeroed(statsSize);
        try
        {
            *(uint*)strings = EthtoolNative.GStrings;
            *(uint*)(strings + 4) = EthtoolNative.EthSsStats;
            *(uint*)(strings + EthtoolNative.GStringsLengthOffset) = (uint)count;
            ThrowOnError(Ioctl(interfaceName, strings), interfaceName, "ETHTOOL_GSTRINGS");
            uint namesReturned = *(uint*)(strings + EthtoolNative.GStringsLengthOffset);
            if (namesReturned > capacity)
            {
                throw new EthtoolException($"The kernel returned {namesReturned} statistic names for '{interfaceName}', more than the {capacity} there was room for.", interfaceName, 0);
            }

            if (namesReturned != count)
            {
                mismatch = $"GSTRINGS answered {namesReturned}";
                return false;
            }

            *(uint*)stats = EthtoolNative.GStats;
            *(uint*)(stats + EthtoolNative.GStatsCountOffset) = (uint)count;
            ThrowOnError(Ioctl(interfaceName, stats), interfaceName, "ETHTOOL_GSTATS");
            uint valuesReturned = *(uint*)(stats + EthtoolNative.GStatsCountOffset);
            if (valuesReturned > capacity)
            {
                throw new EthtoolException($"The kernel returned {valuesReturned} statistic values for '{interfaceName}', more than the {capacity} there was room for.", interfaceName, 0);
            }

            if (valuesReturned != count)
            {
                mismatch = $"GSTATS answered {valuesReturned}";
                return false;
            }

            var list = new EthtoolStatistic[count];
            byte* name = strings + EthtoolNative.GStringsHeaderSize;
            ulong* value = (ulong*)(stats + EthtoolNative.GStatsHeaderSize);
            for (int i = 0; i < count; i++)
            {
                list[i] = new EthtoolStatistic(CString(name + ((nint)i * EthtoolNative.EthGStringLength), EthtoolNative.EthGStringLength), value[i]);
            }

            statistics = list;
            mismatch = string.Empty;
            return true;
        }
        finally
        {
            NativeMemory.Free(strings);
            NativeMemory.Free(stats);
        }
    }

    /// <summary>
    /// A raw ETHTOOL_GSTATS with the given count: returns the count the kernel wrote back. For tests that pin the
    /// kernel behaviour the reader depends on (a mismatched count comes back as 0 on kernels with the fix).
    /// </summary>
    internal uint RawStatisticsCall(string interfaceName, uint askedCount)
    {
        int capacity = (int)Math.Max(askedCount, 16) * 4 + 1024;
        byte* stats = (byte*)NativeMemory.AllocZeroed((nuint)EthtoolNative.GStatsHeaderSize + ((nuint)capacity * sizeof(ulong)));
        try
        {
            *(uint*)stats = EthtoolNative.GStats;
            *(uint*)(stats + EthtoolNative.GStatsCountOffset) = askedCount;
            ThrowOnError(Ioctl(interfaceName, stats), interfaceName, "ETHTOOL_GSTATS");
            return *(uint*)(stats + EthtoolNative.GStatsCountOffset);
        }
        finally
        {
            NativeMemory.Free(stats);
        }
    }

    private int Ioctl(string interfaceName, byte* data)
    {
        byte* ifr = stackalloc byte[EthtoolNative.IfreqSize];
        new Span<byte>(ifr, EthtoolNative.IfreqSize).Clear();
        EncodeName(interfaceName, new Span<byte>(ifr, EthtoolNative.IfNameSize - 1));
        *(nint*)(ifr + EthtoolNative.IfreqDataOffset) = (nint)data;
        bool added = false;
        try
        {
            _socket.DangerousAddRef(ref added);
            int rc = EthtoolNative.Ioctl(_socket.Fd, EthtoolNative.SiocEthtool, ifr);
            return rc < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
        finally
        {
            if (added)
            {
                _socket.DangerousRelease();
            }
        }
    }

    /// <summary>Checks a name the way the kernel will see it: 1..15 bytes, no '/', ':', whitespace or NUL.</summary>
    public static void ValidateInterfaceName(string interfaceName)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        int bytes = Encoding.UTF8.GetByteCount(interfaceName);
        if (bytes == 0 || bytes > EthtoolNative.IfNameSize - 1)
        {
            throw new ArgumentException($"'{interfaceName}' cannot be a network interface name: Linux names are 1 to 15 bytes long.", nameof(interfaceName));
        }

        foreach (char c in interfaceName)
        {
            if (c == '/' || c == ':' || c == '\0' || char.IsWhiteSpace(c))
            {
                throw new ArgumentException($"'{interfaceName}' cannot be a network interface name: it contains '{(c == '\0' ? "\\0" : c.ToString())}'.", nameof(interfaceName));
            }
        }
    }

    private static void EncodeName(string interfaceName, Span<byte> destination)
    {
        ValidateInterfaceName(interfaceName);
        Encoding.UTF8.GetBytes(interfaceName, destination);
    }

    private static void ThrowOnError(int errno, string interfaceName, string command)
    {
        switch (errno)
        {
            case 0:
                return;
            case EthtoolNative.Enodev:
                throw new NetworkInterfaceNotFoundException(
                    $"There is no network interface '{interfaceName}' in this network namespace ({command}: {EthtoolNative.Describe(errno)}).", interfaceName, errno);
            case EthtoolNative.Eopnotsupp:
                throw new EthtoolStatisticsNotSupportedException(
                    $"The driver of '{interfaceName}' does not support {command} ({EthtoolNative.Describe(errno)}): it has no statistics to read.", interfaceName, errno);
            case EthtoolNative.Eperm:
            case EthtoolNative.Eacces:
                throw new UnauthorizedAccessException(
                    $"Reading '{interfaceName}' with {command} was refused ({EthtoolNative.Describe(errno)}). The kernel lets any user read statistics; a security module (seccomp, SELinux, AppArmor) or a container runtime is blocking it here.");
            default:
                throw new EthtoolException($"{command} on '{interfaceName}' failed: {EthtoolNative.Describe(errno)} (errno {errno}).", interfaceName, errno);
        }
    }

    private static string CString(byte* field, int length)
    {
        var span = new ReadOnlySpan<byte>(field, length);
        int nul = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? span : span.Slice(0, nul));
    }

    private static int ClampCount(uint value) => value > int.MaxValue ? int.MaxValue : (int)value;

    public void Dispose() => _socket.Dispose();
}
