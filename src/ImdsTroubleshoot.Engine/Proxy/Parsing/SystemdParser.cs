using System;
using System.Collections.Generic;
using System.Text;

namespace ImdsTroubleshoot.Engine.Proxy.Parsing;

/// <summary>
/// systemd unit files and drop-ins (Environment=, EnvironmentFile=, UnsetEnvironment= in [Service]) and
/// system.conf (DefaultEnvironment= in [Manager]). Assignments are blank-separated words; quotes may wrap the
/// whole assignment or part of it; C escapes; an empty Environment= resets the list; "%%" is a percent sign.
/// </summary>
internal static class SystemdParser
{
    public static ParsedFile Parse(string path, string text, bool manager)
    {
        var statements = new List<EnvStatement>();
        var lines = new LineMap(text);
        string section = string.Empty;
        int pos = 0;
        while (pos < text.Length)
        {
            int lineStart = pos;
            int nl = text.IndexOf('\n', pos);
            int end = nl < 0 ? text.Length : nl;

            // Continuation lines: a trailing backslash joins the next line (the value spans both).
            while (end > pos && TrimEndCr(text, pos, end) is int te && te > pos && text[te - 1] == '\\' && nl >= 0)
            {
                int next = text.IndexOf('\n', nl + 1);
                nl = next;
                end = next < 0 ? text.Length : next;
                if (next < 0)
                {
                    break;
                }
            }

            pos = nl < 0 ? text.Length : nl + 1;
            string newline = nl < 0 ? string.Empty : (nl > 0 && text[nl - 1] == '\r' ? "\r\n" : "\n");
            int i = lineStart;
            while (i < end && text[i] is ' ' or '\t')
            {
                i++;
            }

            if (i >= end || text[i] is '#' or ';' or '\r')
            {
                continue;
            }

            if (text[i] == '[')
            {
                int close = text.IndexOf(']', i);
                section = close > i && close < end ? text.Substring(i + 1, close - i - 1) : string.Empty;
                continue;
            }

            int eq = text.IndexOf('=', i);
            if (eq < 0 || eq >= end)
            {
                continue;
            }

            string key = text.Substring(i, eq - i).Trim();
            int v = eq + 1;
            while (v < end && text[v] is ' ' or '\t')
            {
                v++;
            }

            int valueEnd = TrimEndCr(text, v, end);
            while (valueEnd > v && text[valueEnd - 1] is ' ' or '\t')
            {
                valueEnd--;
            }

            bool inSection = manager ? section == "Manager" : section is "Service" or "Socket" or "Mount" or "Swap";
            if (!inSection)
            {
                continue;
            }

            int line = lines.LineOf(lineStart);
            string prefix = text.Substring(lineStart, v - lineStart);
            if ((manager && key == "DefaultEnvironment") || (!manager && key == "Environment"))
            {
                if (valueEnd <= v)
                {
                    statements.Add(new EnvStatement { Kind = StatementKind.Reset, Line = line, LineEnd = pos, Newline = newline });
                    continue;
                }

                foreach (var (ws, we, word) in Words(text, v, valueEnd))
                {
                    int eqw = word.IndexOf('=', StringComparison.Ordinal);
                    if (eqw <= 0 || !EnvironmentFileParser.IsName(word.Substring(0, eqw)))
                    {
                        continue;
                    }

                    char last = text[we - 1];
                    bool quoted = (last == '"' || last == '\'') && we - ws > 1 && text.IndexOf(last, ws) < we - 1;
                    statements.Add(new EnvStatement
                    {
                        Kind = StatementKind.Set,
                        Name = word.Substring(0, eqw),
                        Value = EnvStatement.Literal(word.Substring(eqw + 1).Replace("%%", "%", StringComparison.Ordinal)),
                        Exports = true,
                        Line = line,
                        ValueStart = ws,
                        ValueEnd = we,
                        InsertAt = quoted ? we - 1 : we,
                        Quote = quoted ? last : '\0',
                        LinePrefix = prefix,
                        LineEnd = pos,
                        Newline = newline,
                    });
                }
            }
            else if (!manager && key == "UnsetEnvironment")
            {
                foreach (var (_, _, word) in Words(text, v, valueEnd))
                {
                    int eqw = word.IndexOf('=', StringComparison.Ordinal);
                    statements.Add(new EnvStatement { Kind = StatementKind.Unset, Name = eqw < 0 ? word : word.Substring(0, eqw), Line = line });
                }
            }
            else if (!manager && key == "EnvironmentFile")
            {
                string file = text.Substring(v, valueEnd - v).Trim();
                if (file.Length == 0)
                {
                    statements.Add(new EnvStatement { Kind = StatementKind.ResetFiles, Line = line });
                    continue;
                }

                bool optional = file[0] == '-';
                statements.Add(new EnvStatement { Kind = StatementKind.IncludeFile, Name = optional ? file.Substring(1) : file, Optional = optional, Line = line });
            }
        }

        return new ParsedFile(path, manager ? ProxyFileFormat.SystemdManager : ProxyFileFormat.SystemdUnit, text, statements);
    }

    private static int TrimEndCr(string text, int start, int end) => end > start && text[end - 1] == '\r' ? end - 1 : end;

    /// <summary>systemd extract_first_word(EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE): raw span and unquoted text of each word.</summary>
    internal static IEnumerable<(int Start, int End, string Word)> Words(string text, int start, int end)
    {
        int i = start;
        while (i < end)
        {
            while (i < end && text[i] is ' ' or '\t' or '\n' or '\r' or '\\' && !(text[i] == '\\' && i + 1 < end && text[i + 1] != '\n'))
            {
                i++;
            }

            if (i >= end)
            {
                yield break;
            }

            int ws = i;
            var sb = new StringBuilder();
            char quote = '\0';
            while (i < end)
            {
                char c = text[i];
                if (quote == '\0' && c is ' ' or '\t' or '\n' or '\r')
                {
                    break;
                }

                if (c == '\\' && i + 1 < end)
                {
                    char e = text[i + 1];
                    if (e == '\n' || (e == '\r' && i + 2 < end && text[i + 2] == '\n'))
                    {
                        i += e == '\n' ? 2 : 3;
                        continue;
                    }

                    sb.Append(e switch { 'n' => '\n', 't' => '\t', 'r' => '\r', 'a' => '\a', 'b' => '\b', 'f' => '\f', 'v' => '\v', 's' => ' ', _ => e });
                    i += 2;
                    continue;
                }

                if (quote == '\0' && c is '"' or '\'')
                {
                    quote = c;
                    i++;
                    continue;
                }

                if (quote != '\0' && c == quote)
                {
                    quote = '\0';
                    i++;
                    continue;
                }

                sb.Append(c);
                i++;
            }

            yield return (ws, i, sb.ToString());
        }
    }
}
