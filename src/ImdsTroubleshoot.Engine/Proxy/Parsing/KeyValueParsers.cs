using System;
using System.Collections.Generic;
using System.Text;

namespace ImdsTroubleshoot.Engine.Proxy.Parsing;

/// <summary>
/// pam_env's /etc/environment (libpam 1.5 _parse_env_file, verified by running pam_env): KEY=VALUE lines, an
/// optional "export " (one space), '#' anywhere ends the value, an opening quote is removed and the closing one
/// only when it is the last character, trailing blanks and CR are kept, no $ expansion, backslash-newline joins
/// lines, the last assignment of a key wins.
/// </summary>
internal static class PamEnvironmentParser
{
    public static ParsedFile Parse(string path, string text)
    {
        var statements = new List<EnvStatement>();
        var lines = new LineMap(text);
        int pos = 0;
        while (pos < text.Length)
        {
            int lineStart = pos;

            // Join backslash-newline continuations into one logical line, remembering where each char came from.
            var logical = new StringBuilder();
            var origin = new List<int>();
            int end;
            while (true)
            {
                int nl = text.IndexOf('\n', pos);
                end = nl < 0 ? text.Length : nl;
                if (end > pos && text[end - 1] == '\\' && nl >= 0)
                {
                    for (int k = pos; k < end - 1; k++)
                    {
                        logical.Append(text[k]);
                        origin.Add(k);
                    }

                    pos = nl + 1;
                    continue;
                }

                for (int k = pos; k < end; k++)
                {
                    logical.Append(text[k]);
                    origin.Add(k);
                }

                pos = nl < 0 ? text.Length : nl + 1;
                break;
            }

            string line = logical.ToString();
            int i = 0;
            while (i < line.Length && line[i] is ' ' or '\t')
            {
                i++;
            }

            if (i >= line.Length || line[i] == '#')
            {
                continue;
            }

            bool exported = false;
            if (string.CompareOrdinal(line, i, "export ", 0, 7) == 0)
            {
                exported = true;
                i += 7;
            }

            int eq = line.IndexOf('=', i);
            if (eq <= i)
            {
                continue;
            }

            string key = line.Substring(i, eq - i);
            if (!IsPamKey(key))
            {
                continue;
            }

            int valueStart = eq + 1;
            int hash = line.IndexOf('#', valueStart);
            int valueEnd = hash < 0 ? line.Length : hash;
            string raw = line.Substring(valueStart, valueEnd - valueStart);
            string value = raw;
            char quote = '\0';
            bool dirtyEnd = false;
            int insertLogical = valueEnd;
            if (value.Length > 0 && (value[0] == '"' || value[0] == '\''))
            {
                quote = value[0];
                value = value.Substring(1);
                if (value.Length > 0 && value[^1] == quote)
                {
                    value = value[..^1];
                    insertLogical = valueEnd - 1;
                }
                else
                {
                    // The closing quote is not the last character (trailing blanks or CR): pam_env keeps it.
                    int lastQuote = raw.LastIndexOf(quote);
                    insertLogical = lastQuote > 0 ? valueStart + lastQuote : valueEnd;
                    dirtyEnd = true;
                }
            }
            else
            {
                while (insertLogical > valueStart && line[insertLogical - 1] is ' ' or '\t' or '\r')
                {
                    insertLogical--;
                }
            }

            int Map(int logicalIndex) => logicalIndex < origin.Count ? origin[logicalIndex] : (origin.Count > 0 ? origin[^1] + 1 : lineStart);

            var (lineEndOffset, newline) = LineMap.LineEndAfter(text, Math.Max(lineStart, pos - 1));
            statements.Add(new EnvStatement
            {
                Kind = StatementKind.Set,
                Name = key,
                Value = EnvStatement.Literal(value),
                Exports = true,
                Line = lines.LineOf(lineStart),
                ValueStart = Map(valueStart),
                ValueEnd = Map(valueEnd),
                InsertAt = Map(insertLogical),
                Quote = quote,
                NeedsTrailingSeparator = dirtyEnd,
                LinePrefix = line.Substring(0, i - (exported ? 7 : 0)) + (exported ? "export " : string.Empty),
                LineEnd = pos <= text.Length && pos > 0 && text[pos - 1] == '\n' ? pos : lineEndOffset,
                Newline = pos > 0 && text[pos - 1] == '\n' ? (pos > 1 && text[pos - 2] == '\r' ? "\r\n" : "\n") : string.Empty,
            });
        }

        return new ParsedFile(path, ProxyFileFormat.PamEnvironment, text, statements);
    }

    private static bool IsPamKey(string key)
    {
        foreach (char c in key)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        return key.Length > 0;
    }
}

/// <summary>
/// systemd's EnvironmentFile= syntax (systemd.exec(5), env-file.c): KEY=VALUE lines; '#' and ';' comment lines;
/// "export" is not accepted; leading and trailing whitespace (CR too) of unquoted values is dropped; single quotes are
/// literal, double quotes take backslash escapes; backslash-newline continues.
/// </summary>
internal static class EnvironmentFileParser
{
    public static ParsedFile Parse(string path, string text)
    {
        var statements = new List<EnvStatement>();
        var lines = new LineMap(text);
        int pos = 0;
        while (pos < text.Length)
        {
            int lineStart = pos;
            int i = pos;
            while (i < text.Length && text[i] is ' ' or '\t' or '\r')
            {
                i++;
            }

            if (i >= text.Length || text[i] == '\n' || text[i] == '#' || text[i] == ';')
            {
                int nl0 = text.IndexOf('\n', i);
                pos = nl0 < 0 ? text.Length : nl0 + 1;
                continue;
            }

            int keyStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != '\n')
            {
                i++;
            }

            if (i >= text.Length || text[i] != '=')
            {
                int nl0 = text.IndexOf('\n', i);
                pos = nl0 < 0 ? text.Length : nl0 + 1;
                continue;
            }

            string key = text.Substring(keyStart, i - keyStart).TrimEnd(' ', '\t');
            i++;
            while (i < text.Length && text[i] is ' ' or '\t')
            {
                i++;
            }

            int valueStart = i;
            var value = new StringBuilder();
            char quote = '\0';
            int insertAt = -1;
            int lastNonBlank = valueStart;
            int pendingBlank = 0;
            while (i < text.Length && text[i] != '\n')
            {
                char c = text[i];
                if (quote == '\0' && (c == '"' || c == '\''))
                {
                    quote = c;
                    int close = i + 1;
                    var inner = new StringBuilder();
                    while (close < text.Length && text[close] != c)
                    {
                        if (c == '"' && text[close] == '\\' && close + 1 < text.Length)
                        {
                            if (text[close + 1] != '\n')
                            {
                                inner.Append(text[close + 1]);
                            }

                            close += 2;
                            continue;
                        }

                        inner.Append(text[close]);
                        close++;
                    }

                    value.Append(inner);
                    insertAt = close;
                    i = Math.Min(close + 1, text.Length);
                    lastNonBlank = i;
                    pendingBlank = 0;
                    continue;
                }

                if (c == '\\' && i + 1 < text.Length)
                {
                    if (text[i + 1] == '\n')
                    {
                        i += 2;
                        continue;
                    }

                    value.Append(text[i + 1]);
                    i += 2;
                    lastNonBlank = i;
                    pendingBlank = 0;
                    continue;
                }

                if (c is ' ' or '\t' or '\r')
                {
                    pendingBlank++;
                    value.Append(c);
                    i++;
                    continue;
                }

                value.Append(c);
                i++;
                lastNonBlank = i;
                pendingBlank = 0;
            }

            string v = value.ToString();
            if (pendingBlank > 0)
            {
                v = v.Substring(0, v.Length - pendingBlank);
            }

            int nl = text.IndexOf('\n', i);
            pos = nl < 0 ? text.Length : nl + 1;
            if (!IsName(key))
            {
                continue;
            }

            statements.Add(new EnvStatement
            {
                Kind = StatementKind.Set,
                Name = key,
                Value = EnvStatement.Literal(v),
                Exports = true,
                Line = lines.LineOf(lineStart),
                ValueStart = valueStart,
                ValueEnd = lastNonBlank,
                InsertAt = insertAt >= 0 ? insertAt : lastNonBlank,
                Quote = quote,
                LinePrefix = text.Substring(lineStart, keyStart - lineStart),
                LineEnd = pos,
                Newline = nl < 0 ? string.Empty : (nl > 0 && text[nl - 1] == '\r' ? "\r\n" : "\n"),
            });
        }

        return new ParsedFile(path, ProxyFileFormat.EnvironmentFile, text, statements);
    }

    internal static bool IsName(string key)
    {
        if (key.Length == 0 || char.IsAsciiDigit(key[0]))
        {
            return false;
        }

        foreach (char c in key)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        return true;
    }
}
