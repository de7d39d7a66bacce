using System;
using System.Globalization;
using System.Management.Automation;

namespace ImdsTroubleshoot;

/// <summary>
/// Lets a TimeSpan parameter take seconds: <c>-SampleInterval 2</c> or <c>0.5</c> means seconds (PowerShell would
/// otherwise read a bare number as ticks), and strings like <c>'00:00:05'</c>, <c>'5s'</c>, <c>'500ms'</c>, <c>'2m'</c>
/// work too. A TimeSpan passes through unchanged.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class SecondsToTimeSpanAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        object? value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        switch (value)
        {
            case TimeSpan span:
                return span;
            case int or long or short or byte or uint or ulong or ushort or sbyte or double or float or decimal:
                return FromSeconds(Convert.ToDouble(value, CultureInfo.InvariantCulture), value);
            case string text:
                return Parse(text.Trim());
            default:
                return inputData;
        }
    }

    private static TimeSpan Parse(string text)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds))
        {
            return FromSeconds(seconds, text);
        }

        (string suffix, double factor)[] units = { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600) };
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text.AsSpan(0, text.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out double amount))
            {
                return FromSeconds(amount * factor, text);
            }
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out TimeSpan span))
        {
            return span;
        }

        throw new ArgumentTransformationMetadataException($"'{text}' is not a time: give seconds (2, 0.5), a unit ('500ms', '5s', '2m') or a TimeSpan ('00:00:05').");
    }

    private static TimeSpan FromSeconds(double seconds, object original)
    {
        if (double.IsNaN(seconds) || double.IsInfinity(seconds) || seconds < 0 || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            throw new ArgumentTransformationMetadataException($"'{original}' is not a usable number of seconds.");
        }

        return TimeSpan.FromSeconds(seconds);
    }
}
