using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Ena;

/// <summary>
/// Reads the text <c>ethtool -S IFACE</c> prints, so a capture from an instance (a support case, a forum post, a
/// file saved with <c>ethtool -S eth0 &gt; stats.txt</c>) goes through the same interpretation as a live reading.
/// </summary>
public static partial class EthtoolText
{
    [GeneratedRegex(@"^\s*(?<name>\S(?:.*\S)?): (?<value>[0-9]+)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex StatisticLine();

    /// <summary>
    /// Parses <c>ethtool -S</c> output. Lines before the <c>NIC statistics:</c> header (a shell prompt, comments) are
    /// skipped; after it every line of the form <c>name: value</c> is a statistic, in order. Lines that are not
    /// (a "…" where a public copy was cut, a comment starting with <c>#</c>) are skipped and counted in
    /// <paramref name="skippedLines"/>. Without the header, the whole text is read the same way.
    /// </summary>
    /// <exception cref="FormatException">No statistic line at all, or a value that does not fit 64 bits.</exception>
    public static IReadOnlyList<EthtoolStatistic> ParseStatistics(string text, out int skippedLines)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        int start = Array.FindIndex(lines, l => l.Trim() == "NIC statistics:");
        var result = new List<EthtoolStatistic>();
        skippedLines = 0;
        for (int i = start + 1; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Trim().Length == 0)
            {
                continue;
            }

            Match m = StatisticLine().Match(line);
            if (!m.Success || line.TrimStart().StartsWith('#'))
            {
                skippedLines++;
                continue;
            }

            string name = m.Groups["name"].Value;
            if (!ulong.TryParse(m.Groups["value"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
            {
                throw new FormatException($"Line {i + 1}: the value of '{name}' does not fit in 64 bits.");
            }

            result.Add(new EthtoolStatistic(name, value));
        }

        if (result.Count == 0)
        {
            throw new FormatException(start < 0
                ? "This is not 'ethtool -S' output: there is no 'NIC statistics:' header and no 'name: value' line."
                : "The 'ethtool -S' output lists no statistics.");
        }

        return result;
    }

    /// <summary>Parses <c>ethtool -S</c> output; see <see cref="ParseStatistics(string, out int)"/>.</summary>
    public static IReadOnlyList<EthtoolStatistic> ParseStatistics(string text) => ParseStatistics(text, out _);

    /// <summary>
    /// Builds a snapshot from captured text: <paramref name="statisticsText"/> is <c>ethtool -S</c> output and
    /// <paramref name="driverInfoText"/>, when there is one, <c>ethtool -i</c> output of the same interface.
    /// </summary>
    public static EthtoolSnapshot ParseSnapshot(string interfaceName, string statisticsText, string? driverInfoText, DateTimeOffset time)
    {
        EthtoolDriverInfo? info = driverInfoText is null ? null : EthtoolDriverInfo.Parse(driverInfoText);
        return new EthtoolSnapshot(interfaceName, info, ParseStatistics(statisticsText), time, EthtoolSource.Text);
    }
}
