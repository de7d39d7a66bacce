using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>One framed part of the collector's output: a section of key=value lines, a command's dump or a file.</summary>
internal sealed class CollectorSection
{
    public CollectorSection(string kind, string name)
    {
        Kind = kind;
        Name = name;
    }

    /// <summary>"section", "dump" or "file".</summary>
    public string Kind { get; }

    public string Name { get; }

    public List<KeyValuePair<string, string>> Fields { get; } = new();

    public List<string> Payload { get; } = new();

    /// <summary>Its "@end" arrived.</summary>
    public bool Closed { get; set; }

    public string? Get(string key)
    {
        foreach (var kv in Fields)
        {
            if (kv.Key == key)
            {
                return kv.Value;
            }
        }

        return null;
    }

    public IEnumerable<string> All(string key) => Fields.Where(kv => kv.Key == key).Select(kv => kv.Value);

    public string PayloadText => Payload.Count == 0 ? string.Empty : string.Join("\n", Payload) + "\n";

    /// <summary>The payload was left out entirely for the output budget.</summary>
    public bool Omitted => Get("omitted") is not null;

    public bool Reduced => Get("reduced") is not null;

    public bool Truncated => Get("truncated") is not null;
}

/// <summary>
/// The frame of the collector's output, read line by line without trusting it: a header line
/// <c>IMDSCOLLECT/1 budget=N</c>, sections (<c>@section NAME</c>, <c>@dump NAME</c>, <c>@file PATH</c>) each closed by
/// <c>@end</c>, key=value lines, payload lines that start with '|', and the end line <c>IMDSCOLLECT/1 end</c>.
/// Whatever does not fit is counted and noted, never thrown.
/// </summary>
internal sealed class CollectorOutput
{
    public const string Magic = "IMDSCOLLECT/";

    /// <summary>More than this is not read (the collector never prints a tenth of it).</summary>
    public const int MaxChars = 1_000_000;

    public int? Version { get; private set; }

    public bool HeaderSeen { get; private set; }

    public bool EndSeen { get; private set; }

    public string? Fatal { get; private set; }

    public List<CollectorSection> Sections { get; } = new();

    public List<string> Notes { get; } = new();

    public int GarbledLines { get; private set; }

    public CollectorSection? Section(string name) => Sections.FirstOrDefault(s => s.Kind == "section" && s.Name == name);

    public CollectorSection? Dump(string name) => Sections.FirstOrDefault(s => s.Kind == "dump" && s.Name == name);

    public IEnumerable<CollectorSection> Files => Sections.Where(s => s.Kind == "file");

    public static CollectorOutput Read(string? text)
    {
        var o = new CollectorOutput();
        if (string.IsNullOrEmpty(text))
        {
            o.Notes.Add("the collector printed nothing (it did not run, or its output was lost)");
            return o;
        }

        if (text.Length > MaxChars)
        {
            o.Notes.Add($"the collector's output is {text.Length.ToString("N0", CultureInfo.InvariantCulture)} characters, far more than it ever prints: only the first {MaxChars.ToString("N0", CultureInfo.InvariantCulture)} were read");
            text = text.Substring(0, MaxChars);
        }

        CollectorSection? current = null;
        int start = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (start <= text.Length)
        {
            int nl = text.IndexOf('\n', start);
            string line = nl < 0 ? text.Substring(start) : text.Substring(start, nl - start);
            start = nl < 0 ? text.Length + 1 : nl + 1;
            if (line.EndsWith('\r'))
            {
                line = line.Substring(0, line.Length - 1);
            }

            if (line.Length == 0)
            {
                continue;
            }

            if (!o.HeaderSeen && o.Sections.Count == 0 && line.StartsWith(Magic, StringComparison.Ordinal))
            {
                o.HeaderSeen = true;
                string rest = line.Substring(Magic.Length);
                int space = rest.IndexOf(' ', StringComparison.Ordinal);
                string version = space < 0 ? rest : rest.Substring(0, space);
                o.Version = int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : -1;
                continue;
            }

            if (line.StartsWith(Magic, StringComparison.Ordinal) && line.EndsWith(" end", StringComparison.Ordinal))
            {
                o.EndSeen = true;
                current = null;
                continue;
            }

            if (o.EndSeen)
            {
                o.GarbledLines++;
                continue;
            }

            if (line[0] == '@')
            {
                int space = line.IndexOf(' ', StringComparison.Ordinal);
                string verb = space < 0 ? line.Substring(1) : line.Substring(1, space - 1);
                string arg = space < 0 ? string.Empty : line.Substring(space + 1);
                switch (verb)
                {
                    case "section":
                    case "dump":
                    case "file":
                        if (current is not null && !current.Closed)
                        {
                            o.Notes.Add($"the collector's {Describe(current)} was cut off (no end marker)");
                        }

                        current = new CollectorSection(verb, arg);
                        if (seen.Add(verb + " " + arg))
                        {
                            o.Sections.Add(current);
                        }
                        else
                        {
                            o.GarbledLines++;
                        }

                        continue;
                    case "end":
                        if (current is null)
                        {
                            o.GarbledLines++;
                        }
                        else
                        {
                            current.Closed = true;
                            current = null;
                        }

                        continue;
                    case "fatal":
                        o.Fatal = arg;
                        continue;
                    default:
                        o.GarbledLines++;
                        continue;
                }
            }

            if (current is null)
            {
                o.GarbledLines++;
                continue;
            }

            if (line[0] == '|')
            {
                current.Payload.Add(line.Substring(1));
                continue;
            }

            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && IsKey(line.AsSpan(0, eq)))
            {
                current.Fields.Add(new KeyValuePair<string, string>(line.Substring(0, eq), line.Substring(eq + 1)));
            }
            else
            {
                o.GarbledLines++;
            }
        }

        if (current is not null && !current.Closed)
        {
            o.Notes.Add($"the collector's output was truncated inside its {Describe(current)}");
        }

        if (!o.HeaderSeen)
        {
            o.Notes.Add("the collector's output does not start with its header line (garbled, or not the collector's output)");
        }
        else if (o.Version != Collector.FormatVersion)
        {
            o.Notes.Add($"the collector's output is format {o.Version?.ToString(CultureInfo.InvariantCulture) ?? "?"}; this version of the module reads format {Collector.FormatVersion}");
        }

        if (o.HeaderSeen && !o.EndSeen)
        {
            string after = o.Sections.Count == 0 ? "its header" : Describe(o.Sections[^1]);
            o.Notes.Add($"the collector's output was truncated: it stops after {after} (no end line)");
        }

        if (o.GarbledLines > 0)
        {
            o.Notes.Add($"{o.GarbledLines.ToString(CultureInfo.InvariantCulture)} line(s) of the collector's output were garbled and ignored");
        }

        if (o.Fatal is not null)
        {
            o.Notes.Add("the collector stopped: " + Clean(o.Fatal));
        }

        return o;
    }

    private static bool IsKey(ReadOnlySpan<char> key)
    {
        if (key.Length > 200)
        {
            return false;
        }

        foreach (char c in key)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-' or '/' or ':'))
            {
                return false;
            }
        }

        return true;
    }

    public static string Describe(CollectorSection s) => s.Kind switch
    {
        "dump" => $"'{Clean(s.Name)}' dump",
        "file" => $"copy of {Clean(s.Name)}",
        _ => $"'{Clean(s.Name)}' section",
    };

    /// <summary>Text from the target made safe to show: printable, one line, bounded.</summary>
    public static string Clean(string? text, int max = 300)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var chars = text.Take(max).Select(c => char.IsControl(c) ? ' ' : c).ToArray();
        string s = new string(chars).Trim();
        return text.Length > max ? s + "…" : s;
    }
}
