using System;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>
/// Parses IP text the way the clients do. <see cref="IPAddress.TryParse(string?, out IPAddress?)"/> is far more
/// lenient ("169.254" parses), so each client's rule is written out here.
/// </summary>
internal static class IpText
{
    /// <summary>inet_pton(AF_INET) and Go's ParseIP for IPv4: four decimal octets, no leading zeros.</summary>
    public static bool TryParseStrictIPv4(string text, out uint address)
    {
        address = 0;
        string[] parts = text.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }

        foreach (string part in parts)
        {
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0'))
            {
                return false;
            }

            uint value = 0;
            foreach (char c in part)
            {
                if (c is < '0' or > '9')
                {
                    return false;
                }

                value = (value * 10) + (uint)(c - '0');
            }

            if (value > 255)
            {
                return false;
            }

            address = (address << 8) | value;
        }

        return true;
    }

    /// <summary>A strict IPv6 literal (no brackets, no zone, no port), or an IPv4 literal; IPv4-mapped IPv6 becomes IPv4.</summary>
    public static IPAddress? ParseStrictIP(string text)
    {
        if (TryParseStrictIPv4(text, out uint v4))
        {
            return new IPAddress(new[] { (byte)(v4 >> 24), (byte)(v4 >> 16), (byte)(v4 >> 8), (byte)v4 });
        }

        if (text.Length == 0 || !text.Contains(':', StringComparison.Ordinal) || text.AsSpan().IndexOfAny("[]%/ \t\r\n") >= 0)
        {
            return null;
        }

        if (!IPAddress.TryParse(text, out IPAddress? ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return null;
        }

        return ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;
    }

    /// <summary>glibc inet_aton: 1 to 4 parts, each decimal, 0x hex or 0 octal (what Python's socket.inet_aton accepts).</summary>
    public static bool TryParseInetAton(string text, out uint address)
    {
        address = 0;
        string[] parts = text.Split('.');
        if (parts.Length is 0 or > 4)
        {
            return false;
        }

        var values = new ulong[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            string p = parts[i];
            if (p.Length == 0)
            {
                return false;
            }

            int radix = 10;
            string digits = p;
            if (p.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            {
                radix = 16;
                digits = p.Substring(2);
            }
            else if (p.Length > 1 && p[0] == '0')
            {
                radix = 8;
                digits = p.Substring(1);
            }

            ulong v = 0;
            foreach (char c in digits)
            {
                int d = c switch
                {
                    >= '0' and <= '9' => c - '0',
                    >= 'a' and <= 'f' => c - 'a' + 10,
                    >= 'A' and <= 'F' => c - 'A' + 10,
                    _ => 99,
                };
                if (d >= radix)
                {
                    return false;
                }

                v = (v * (ulong)radix) + (ulong)d;
                if (v > uint.MaxValue)
                {
                    return false;
                }
            }

            values[i] = v;
        }

        ulong result;
        switch (values.Length)
        {
            case 1:
                result = values[0];
                break;
            case 2:
                if (values[0] > 0xff || values[1] > 0xffffff)
                {
                    return false;
                }

                result = (values[0] << 24) | values[1];
                break;
            case 3:
                if (values[0] > 0xff || values[1] > 0xff || values[2] > 0xffff)
                {
                    return false;
                }

                result = (values[0] << 24) | (values[1] << 16) | values[2];
                break;
            default:
                if (values[0] > 0xff || values[1] > 0xff || values[2] > 0xff || values[3] > 0xff)
                {
                    return false;
                }

                result = (values[0] << 24) | (values[1] << 16) | (values[2] << 8) | values[3];
                break;
        }

        address = (uint)result;
        return true;
    }

    public static uint ToUInt32(IPAddress ipv4)
    {
        byte[] b = ipv4.GetAddressBytes();
        return ((uint)b[0] << 24) | ((uint)b[1] << 16) | ((uint)b[2] << 8) | b[3];
    }

    /// <summary>C atoi: optional blanks and sign, then digits; anything else stops (0 when none).</summary>
    public static long Atoi(string text)
    {
        int i = 0;
        while (i < text.Length && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r' || text[i] == '\v' || text[i] == '\f'))
        {
            i++;
        }

        bool negative = false;
        if (i < text.Length && (text[i] == '+' || text[i] == '-'))
        {
            negative = text[i] == '-';
            i++;
        }

        long value = 0;
        while (i < text.Length && text[i] >= '0' && text[i] <= '9' && value < int.MaxValue)
        {
            value = (value * 10) + (text[i] - '0');
            i++;
        }

        return negative ? -value : value;
    }

    /// <summary>Python int() of a string: surrounding whitespace, optional sign, digits with single underscores.</summary>
    public static bool TryPythonInt(string text, out long value)
    {
        value = 0;
        string t = text.Trim();
        if (t.Length == 0)
        {
            return false;
        }

        t = t.Replace("_", string.Empty, StringComparison.Ordinal);
        return long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Go's net.SplitHostPort.</summary>
    public static bool GoSplitHostPort(string hostport, out string host, out string port)
    {
        host = string.Empty;
        port = string.Empty;
        int i = hostport.LastIndexOf(':');
        if (i < 0)
        {
            return false;
        }

        int j = 0, k = 0;
        if (hostport.Length > 0 && hostport[0] == '[')
        {
            int end = hostport.IndexOf(']', StringComparison.Ordinal);
            if (end < 0)
            {
                return false;
            }

            if (end + 1 == hostport.Length || end + 1 != i)
            {
                return false;
            }

            host = hostport.Substring(1, end - 1);
            j = 1;
            k = end + 1;
        }
        else
        {
            host = hostport.Substring(0, i);
            if (host.Contains(':', StringComparison.Ordinal))
            {
                return false;
            }
        }

        if (hostport.IndexOf('[', j) >= 0 || hostport.IndexOf(']', k) >= 0)
        {
            return false;
        }

        port = hostport.Substring(i + 1);
        return true;
    }

    /// <summary>Go's net.ParseCIDR: an IP literal, a slash, a decimal prefix length within the address size.</summary>
    public static bool GoParseCidr(string text, out IPAddress network, out int prefix)
    {
        network = IPAddress.None;
        prefix = 0;
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return false;
        }

        string addr = text.Substring(0, slash);
        string bits = text.Substring(slash + 1);
        bool isV4 = TryParseStrictIPv4(addr, out _);
        IPAddress? ip = isV4 ? ParseStrictIP(addr) : ParseV6NoMapping(addr);
        if (ip is null || bits.Length == 0 || bits.Length > 3)
        {
            return false;
        }

        foreach (char c in bits)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        prefix = int.Parse(bits, CultureInfo.InvariantCulture);
        if ((bits.Length > 1 && bits[0] == '0') || prefix > (isV4 ? 32 : 128))
        {
            return false;
        }

        network = ip;
        return true;
    }

    private static IPAddress? ParseV6NoMapping(string text)
    {
        if (!text.Contains(':', StringComparison.Ordinal) || text.AsSpan().IndexOfAny("[]%/ \t\r\n") >= 0)
        {
            return null;
        }

        return IPAddress.TryParse(text, out IPAddress? ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 ? ip : null;
    }

    /// <summary>True when <paramref name="ip"/> lies in network/prefix (IPv4-mapped networks compare as IPv4).</summary>
    public static bool CidrContains(IPAddress network, int prefix, IPAddress ip)
    {
        IPAddress net = network;
        if (net.AddressFamily == AddressFamily.InterNetworkV6 && net.IsIPv4MappedToIPv6)
        {
            net = net.MapToIPv4();
            prefix = Math.Max(0, prefix - 96);
        }

        if (net.AddressFamily != ip.AddressFamily)
        {
            return false;
        }

        byte[] a = net.GetAddressBytes();
        byte[] b = ip.GetAddressBytes();
        int full = prefix / 8;
        for (int i = 0; i < full; i++)
        {
            if (a[i] != b[i])
            {
                return false;
            }
        }

        int rest = prefix % 8;
        if (rest == 0)
        {
            return true;
        }

        int mask = 0xff << (8 - rest) & 0xff;
        return (a[full] & mask) == (b[full] & mask);
    }
}
