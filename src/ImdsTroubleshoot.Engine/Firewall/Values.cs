using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Net.Sockets;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>Three-valued logic: a match the evaluator cannot decide is Unknown, never silently false.</summary>
internal enum Tri
{
    False,
    True,
    Unknown,
}

internal static class TriExtensions
{
    public static Tri Not(this Tri t) => t switch
    {
        Tri.True => Tri.False,
        Tri.False => Tri.True,
        _ => Tri.Unknown,
    };

    public static Tri And(this Tri a, Tri b) => a == Tri.False || b == Tri.False ? Tri.False : a == Tri.Unknown || b == Tri.Unknown ? Tri.Unknown : Tri.True;

    public static Tri Or(this Tri a, Tri b) => a == Tri.True || b == Tri.True ? Tri.True : a == Tri.Unknown || b == Tri.Unknown ? Tri.Unknown : Tri.False;

    public static Tri From(bool b) => b ? Tri.True : Tri.False;
}

/// <summary>An inclusive range of addresses of one family (a single address, a CIDR or an iprange).</summary>
internal readonly record struct AddressSpan(bool IsIPv6, UInt128 First, UInt128 Last)
{
    public static AddressSpan Single(IPAddress address)
    {
        UInt128 v = ToNumber(address);
        return new AddressSpan(address.AddressFamily == AddressFamily.InterNetworkV6, v, v);
    }

    public static AddressSpan Prefix(IPAddress address, int length)
    {
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        int bits = v6 ? 128 : 32;
        if (length < 0 || length > bits)
        {
            throw new FormatException($"prefix length {length} is out of range");
        }

        UInt128 v = ToNumber(address);
        UInt128 hostMask = length == bits ? UInt128.Zero : (UInt128.One << (bits - length)) - 1;
        UInt128 first = v & ~hostMask;
        if (!v6)
        {
            first &= uint.MaxValue;
        }

        return new AddressSpan(v6, first, first | hostMask);
    }

    public bool IsSingle => First == Last;

    public static UInt128 ToNumber(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        byte[] bytes = address.GetAddressBytes();
        UInt128 v = UInt128.Zero;
        foreach (byte b in bytes)
        {
            v = (v << 8) | b;
        }

        return v;
    }

    public static IPAddress ToAddress(UInt128 value, bool v6)
    {
        int n = v6 ? 16 : 4;
        byte[] bytes = new byte[n];
        for (int i = n - 1; i >= 0; i--)
        {
            bytes[i] = (byte)(value & 0xff);
            value >>= 8;
        }

        return new IPAddress(bytes);
    }

    /// <summary>Parses "a.b.c.d", "a.b.c.d/len", "a.b.c.d/m.a.s.k" (contiguous masks only; others throw), IPv6 likewise.</summary>
    public static AddressSpan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        string addressText = slash < 0 ? text : text.Substring(0, slash);
        if (!IPAddress.TryParse(addressText, out IPAddress? address))
        {
            throw new FormatException($"'{text}' is not an address (host names are resolved when a rule is added, and are never in a dump)");
        }

        if (slash < 0)
        {
            return Single(address);
        }

        string maskText = text.Substring(slash + 1);
        if (int.TryParse(maskText, NumberStyles.None, CultureInfo.InvariantCulture, out int len))
        {
            return Prefix(address, len);
        }

        if (IPAddress.TryParse(maskText, out IPAddress? mask) && mask.AddressFamily == address.AddressFamily)
        {
            UInt128 m = ToNumber(mask);
            int bits = address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
            int ones = 0;
            while (ones < bits && ((m >> (bits - 1 - ones)) & UInt128.One) == UInt128.One)
            {
                ones++;
            }

            UInt128 rebuilt = ones == 0 ? UInt128.Zero : ((UInt128.One << ones) - 1) << (bits - ones);
            if (rebuilt != m)
            {
                throw new FormatException($"non-contiguous mask in '{text}'");
            }

            return Prefix(address, ones);
        }

        throw new FormatException($"'{text}' has an invalid mask");
    }

    public override string ToString()
    {
        IPAddress first = ToAddress(First, IsIPv6);
        if (IsSingle)
        {
            return first.ToString();
        }

        UInt128 size = Last - First;
        int bits = IsIPv6 ? 128 : 32;
        for (int len = 0; len <= bits; len++)
        {
            UInt128 hostMask = len == bits ? UInt128.Zero : (UInt128.One << (bits - len)) - 1;
            if (hostMask == size && (First & hostMask) == UInt128.Zero)
            {
                return first + "/" + len.ToString(CultureInfo.InvariantCulture);
            }
        }

        return first + "-" + ToAddress(Last, IsIPv6);
    }
}

/// <summary>What a packet field holds for the evaluator: absent (the rule breaks), unknown, or a known value or range.</summary>
internal readonly struct FieldValue
{
    private FieldValue(FieldValueKind kind, ulong lo, ulong hi, AddressSpan address, string? name)
    {
        Kind = kind;
        Low = lo;
        High = hi;
        Address = address;
        Name = name;
    }

    public FieldValueKind Kind { get; }

    public ulong Low { get; }

    public ulong High { get; }

    public AddressSpan Address { get; }

    public string? Name { get; }

    public static FieldValue Missing { get; } = new(FieldValueKind.Missing, 0, 0, default, null);

    public static FieldValue Unknown { get; } = new(FieldValueKind.Unknown, 0, 0, default, null);

    public static FieldValue Number(ulong v) => new(FieldValueKind.Number, v, v, default, null);

    public static FieldValue NumberRange(ulong lo, ulong hi) => new(FieldValueKind.Number, lo, hi, default, null);

    public static FieldValue Of(AddressSpan span) => new(FieldValueKind.Address, 0, 0, span, null);

    public static FieldValue Interface(string name) => new(FieldValueKind.Name, 0, 0, default, name);
}

internal enum FieldValueKind
{
    Missing,
    Unknown,
    Number,
    Address,
    Name,
}

/// <summary>One element of a match's right-hand side: a number or range, an address span, an interface pattern.</summary>
internal abstract class SetElement
{
    public abstract Tri Contains(FieldValue value);

    public abstract override string ToString();
}

internal sealed class NumberElement : SetElement
{
    public NumberElement(ulong low, ulong high, Func<ulong, string>? format = null)
    {
        Low = Math.Min(low, high);
        High = Math.Max(low, high);
        Format = format;
    }

    public ulong Low { get; }

    public ulong High { get; }

    private Func<ulong, string>? Format { get; }

    public override Tri Contains(FieldValue value)
    {
        if (value.Kind != FieldValueKind.Number)
        {
            return value.Kind == FieldValueKind.Unknown ? Tri.Unknown : Tri.False;
        }

        if (value.Low >= Low && value.High <= High)
        {
            return Tri.True;
        }

        return value.High < Low || value.Low > High ? Tri.False : Tri.Unknown;
    }

    public override string ToString()
    {
        string F(ulong v) => Format is null ? v.ToString(CultureInfo.InvariantCulture) : Format(v);
        return Low == High ? F(Low) : F(Low) + "-" + F(High);
    }
}

internal sealed class AddressElement : SetElement
{
    public AddressElement(AddressSpan span)
    {
        Span = span;
    }

    public AddressSpan Span { get; }

    public override Tri Contains(FieldValue value)
    {
        if (value.Kind != FieldValueKind.Address)
        {
            return value.Kind == FieldValueKind.Unknown ? Tri.Unknown : Tri.False;
        }

        AddressSpan v = value.Address;
        if (v.IsIPv6 != Span.IsIPv6)
        {
            return Tri.False;
        }

        if (v.First >= Span.First && v.Last <= Span.Last)
        {
            return Tri.True;
        }

        return v.Last < Span.First || v.First > Span.Last ? Tri.False : Tri.Unknown;
    }

    public override string ToString() => Span.ToString();
}

/// <summary>An interface name: iptables <c>eni+</c> and nft <c>"eni*"</c> are prefix wildcards; nft <c>"eni\*"</c> is a literal star.</summary>
internal sealed class InterfaceElement : SetElement
{
    public InterfaceElement(string name, bool prefix, string display)
    {
        Name = name;
        IsPrefix = prefix;
        Display = display;
    }

    public string Name { get; }

    public bool IsPrefix { get; }

    private string Display { get; }

    public static InterfaceElement FromIptables(string text) =>
        text.EndsWith('+') ? new InterfaceElement(text.Substring(0, text.Length - 1), true, text) : new InterfaceElement(text, false, text);

    public static InterfaceElement FromNft(string text)
    {
        if (text.EndsWith("\\*", StringComparison.Ordinal))
        {
            return new InterfaceElement(text.Substring(0, text.Length - 2) + "*", false, text);
        }

        return text.EndsWith('*') ? new InterfaceElement(text.Substring(0, text.Length - 1), true, text) : new InterfaceElement(text, false, text);
    }

    public override Tri Contains(FieldValue value)
    {
        if (value.Kind != FieldValueKind.Name)
        {
            return value.Kind == FieldValueKind.Unknown ? Tri.Unknown : Tri.False;
        }

        return TriExtensions.From(IsPrefix ? value.Name!.StartsWith(Name, StringComparison.Ordinal) : string.Equals(value.Name, Name, StringComparison.Ordinal));
    }

    public override string ToString() => Display;
}

/// <summary>The right-hand side of a match: any of its elements. A set it cannot read makes every match Unknown.</summary>
internal sealed class ValueSet
{
    public ValueSet(IEnumerable<SetElement> elements, string? name = null)
    {
        Elements = elements.ToList();
        Name = name;
    }

    public List<SetElement> Elements { get; }

    /// <summary>A named nft set (<c>@imds_addrs</c>), for display.</summary>
    public string? Name { get; }

    public static ValueSet Of(params SetElement[] elements) => new(elements);

    public Tri Contains(FieldValue value)
    {
        Tri result = Tri.False;
        foreach (SetElement e in Elements)
        {
            result = result.Or(e.Contains(value));
            if (result == Tri.True)
            {
                return result;
            }
        }

        return result;
    }

    /// <summary>OR of every number (for bitmask fields).</summary>
    public ulong Bits => Elements.OfType<NumberElement>().Aggregate(0UL, (acc, e) => acc | e.Low);

    public override string ToString() => Name is not null ? "@" + Name : Elements.Count == 1 ? Elements[0].ToString() : "{ " + string.Join(", ", Elements) + " }";
}
