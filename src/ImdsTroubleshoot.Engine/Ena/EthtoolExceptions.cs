using System;
using System.IO;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>An ethtool request (SIOCETHTOOL) about a network interface failed.</summary>
public class EthtoolException : IOException
{
    public EthtoolException()
    {
    }

    public EthtoolException(string message)
        : base(message)
    {
    }

    public EthtoolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public EthtoolException(string message, string? interfaceName, int errno)
        : base(message)
    {
        InterfaceName = interfaceName;
        Errno = errno;
    }

    /// <summary>The interface asked about.</summary>
    public string? InterfaceName { get; }

    /// <summary>The errno the kernel returned (19 ENODEV, 95 EOPNOTSUPP, ...); 0 when the failure was not an errno.</summary>
    public int Errno { get; }
}

/// <summary>No network interface has that name in this process's network namespace (ENODEV).</summary>
public sealed class NetworkInterfaceNotFoundException : EthtoolException
{
    public NetworkInterfaceNotFoundException()
    {
    }

    public NetworkInterfaceNotFoundException(string message)
        : base(message)
    {
    }

    public NetworkInterfaceNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NetworkInterfaceNotFoundException(string message, string? interfaceName, int errno)
        : base(message, interfaceName, errno)
    {
    }
}

/// <summary>
/// The interface exists but its driver exposes no ethtool statistics (EOPNOTSUPP, or no ETH_SS_STATS set), as
/// loopback and bridges do; <c>ethtool -S</c> prints "no stats available" for it.
/// </summary>
public sealed class EthtoolStatisticsNotSupportedException : EthtoolException
{
    public EthtoolStatisticsNotSupportedException()
    {
    }

    public EthtoolStatisticsNotSupportedException(string message)
        : base(message)
    {
    }

    public EthtoolStatisticsNotSupportedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public EthtoolStatisticsNotSupportedException(string message, string? interfaceName, int errno)
        : base(message, interfaceName, errno)
    {
    }
}
