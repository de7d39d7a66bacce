using System;
using System.Collections.Generic;
using System.Text;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Proxy.Parsing;

/// <summary>
/// Reads the environment assignments of a POSIX shell / bash startup file without running it: <c>export A=b</c>,
/// <c>A=b; export A</c>, <c>declare -x</c>, <c>unset</c>, <c>${A:+$A,}</c> references, quotes, backslash-newline
/// continuations, comments and heredocs (skipped). Conditionals and function bodies are read as if they ran; values
/// built by command substitution are kept as written and flagged as dynamic.
/// </summary>
internal static partial class ShellParser
{
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac", "time",
    };

    [GeneratedRegex(@"\A([A-Za-z_][A-Za-z0-9_]*)(\+?)=", RegexOptions.CultureInvariant)]
    private static partial Regex AssignmentRegex();

    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    private sealed class Word
    {
        public int Start;
        public int End;
        public bool Plain;

        public string Raw(string text) => text.Substring(Start, End - Start);
    }

    public static ParsedFile Parse(string path, string text)
    {
        var statements = new List<EnvStatement>();
        var lines = new LineMap(text);
        var words = new List<Word>();
        var heredocs = new List<(string Delimiter, bool StripTabs)>();
        int i = 0;
        int n = text.Length;

        void EndCommand()
        {
            if (words.Count > 0)
            {
                Command(text, lines, words, statements);
                words.Clear();
            }
        }

        while (i < n)
        {
            char c = text[i];
            if (c == '\n')
            {
                EndCommand();
                i++;
                if (heredocs.Count > 0)
                {
                    i = SkipHeredocs(text, i, heredocs);
                    heredocs.Clear();
                }

                continue;
            }

            if (c is ' ' or '\t')
            {
                i++;
                continue;
            }

            if (c == '\\' && i + 1 < n && text[i + 1] == '\n')
            {
                i += 2;
                continue;
            }

            if (c == '#')
            {
                while (i < n && text[i] != '\n')
                {
                    i++;
                }

                continue;
            }

            if (c is ';' or '&' or '|' or '(' or ')')
            {
                EndCommand();
                i++;
                continue;
            }

            if (c is '<' or '>')
            {
                bool heredoc = c == '<' && i + 1 < n && text[i + 1] == '<' && !(i + 2 < n && text[i + 2] == '<');
                bool hereString = c == '<' && i + 2 < n && text[i + 1] == '<' && text[i + 2] == '<';
                i++;
                bool stripTabs = false;
                if (heredoc)
                {
                    i++;
                    if (i < n && text[i] == '-')
                    {
                        stripTabs = true;
                        i++;
                    }
                }
                else if (hereString)
                {
                    i += 2;
                }

                while (i < n && (text[i] is '>' or '&' or '|'))
                {
                    i++;
                }

                while (i < n && text[i] is ' ' or '\t')
                {
                    i++;
                }

                if (i < n && text[i] != '\n')
                {
                    int start = i;
                    i = ScanWord(text, i, null);
                    if (heredoc)
                    {
                        heredocs.Add((Unquote(text.Substring(start, i - start)), stripTabs));
                    }
                }

                // A redirection's words are not part of the command's arguments.
                continue;
            }

            var word = new Word { Start = i };
            var parts = new List<ValuePart>();
            i = ScanWord(text, i, parts);
            word.End = i;
            word.Plain = parts.Count == 1 && parts[0] is LiteralPart || parts.Count == 0;
            words.Add(word);
        }

        EndCommand();
        return new ParsedFile(path, ProxyFileFormat.Shell, text, statements);
    }

    private static string Unquote(string raw)
    {
        var sb = new StringBuilder();
        foreach (char ch in raw)
        {
            if (ch is not '"' and not '\'' and not '\\')
            {
                sb.Append(ch);
            }
        }

        return sb.ToString();
    }

    private static int SkipHeredocs(string text, int i, List<(string Delimiter, bool StripTabs)> heredocs)
    {
        foreach (var (delimiter, stripTabs) in heredocs)
        {
            while (i < text.Length)
            {
                int nl = text.IndexOf('\n', i);
                int end = nl < 0 ? text.Length : nl;
                string line = text.Substring(i, end - i);
                i = nl < 0 ? text.Length : nl + 1;
                if ((stripTabs ? line.TrimStart('\t') : line) == delimiter)
                {
                    break;
                }
            }
        }

        return i;
    }

    /// <summary>Scans one shell word from <paramref name="i"/>; returns its end. With <paramref name="parts"/>, also splits it into value parts.</summary>
    internal static int ScanWord(string text, int i, List<ValuePart>? parts, int limit = -1)
    {
        int n = limit < 0 ? text.Length : limit;
        var lit = new StringBuilder();

        void Flush()
        {
            if (lit.Length > 0)
            {
                parts?.Add(new LiteralPart(lit.ToString()));
                lit.Clear();
            }
        }

        void Add(ValuePart p)
        {
            Flush();
            parts?.Add(p);
        }

        while (i < n)
        {
            char c = text[i];
            if (c is ' ' or '\t' or '\n' or ';' or '&' or '|' or '(' or ')' or '<' or '>')
            {
                break;
            }

            if (c == '\\')
            {
                if (i + 1 < n)
                {
                    if (text[i + 1] != '\n')
                    {
                        lit.Append(text[i + 1]);
                    }

                    i += 2;
                }
                else
                {
                    lit.Append('\\');
                    i++;
                }

                continue;
            }

            if (c == '\'')
            {
                int close = text.IndexOf('\'', i + 1);
                if (close < 0 || close >= n)
                {
                    close = n;
                }

                lit.Append(text, i + 1, close - i - 1);
                i = Math.Min(close + 1, n);
                continue;
            }

            if (c == '"')
            {
                i++;
                while (i < n && text[i] != '"')
                {
                    char d = text[i];
                    if (d == '\\' && i + 1 < n)
                    {
                        char e = text[i + 1];
                        if (e is '$' or '`' or '"' or '\\')
                        {
                            lit.Append(e);
                        }
                        else if (e != '\n')
                        {
                            lit.Append('\\').Append(e);
                        }

                        i += 2;
                        continue;
                    }

                    if (d == '$')
                    {
                        i = Dollar(text, i, n, Add, lit);
                        continue;
                    }

                    if (d == '`')
                    {
                        i = Backquote(text, i, n, Add);
                        continue;
                    }

                    lit.Append(d);
                    i++;
                }

                i = Math.Min(i + 1, n);
                continue;
            }

            if (c == '$')
            {
                i = Dollar(text, i, n, Add, lit);
                continue;
            }

            if (c == '`')
            {
                i = Backquote(text, i, n, Add);
                continue;
            }

            lit.Append(c);
            i++;
        }

        Flush();
        return i;
    }

    /// <summary>A `command substitution` is never run: it becomes one unknown part up to the closing backquote.</summary>
    private static int Backquote(string text, int i, int n, Action<ValuePart> add)
    {
        int close = text.IndexOf('`', i + 1);
        close = close < 0 || close >= n ? n - 1 : close;
        add(new UnknownPart(text.Substring(i, close - i + 1)));
        return close + 1;
    }

    private static int Dollar(string text, int i, int n, Action<ValuePart> add, StringBuilder lit)
    {
        if (i + 1 >= n)
        {
            lit.Append('$');
            return i + 1;
        }

        char c = text[i + 1];
        if (c == '{')
        {
            int close = MatchClose(text, i + 2, n, '{', '}');
            string inner = text.Substring(i + 2, Math.Max(0, close - i - 2));
            var m = Regex.Match(inner, @"\A([A-Za-z_][A-Za-z0-9_]*)(:?[-+=])?", RegexOptions.CultureInvariant);
            if (m.Success && (m.Length == inner.Length || m.Groups[2].Success))
            {
                var word = new List<ValuePart>();
                if (m.Groups[2].Success)
                {
                    int ws = i + 2 + m.Length;
                    ScanInner(text, ws, close, word);
                }

                add(new ParameterPart(m.Groups[1].Value, m.Groups[2].Success ? m.Groups[2].Value : string.Empty, word));
            }
            else
            {
                add(new UnknownPart(text.Substring(i, Math.Min(close + 1, n) - i)));
            }

            return Math.Min(close + 1, n);
        }

        if (c == '(')
        {
            int close = MatchClose(text, i + 2, n, '(', ')');
            add(new UnknownPart(text.Substring(i, Math.Min(close + 1, n) - i)));
            return Math.Min(close + 1, n);
        }

        if (char.IsAsciiLetter(c) || c == '_')
        {
            int j = i + 1;
            while (j < n && (char.IsAsciiLetterOrDigit(text[j]) || text[j] == '_'))
            {
                j++;
            }

            add(new ParameterPart(text.Substring(i + 1, j - i - 1), string.Empty, Array.Empty<ValuePart>()));
            return j;
        }

        if (char.IsAsciiDigit(c) || c is '@' or '*' or '#' or '?' or '-' or '$' or '!')
        {
            add(new UnknownPart(text.Substring(i, 2)));
            return i + 2;
        }

        lit.Append('$');
        return i + 1;
    }

    /// <summary>The word of ${NAME:-word}: quotes and expansions, but '}' and blanks do not end it.</summary>
    private static void ScanInner(string text, int start, int end, List<ValuePart> parts)
    {
        int i = start;
        var lit = new StringBuilder();
        while (i < end)
        {
            int next = ScanWord(text, i, parts, end);
            if (next == i)
            {
                // A blank or metacharacter inside ${...}: literal.
                parts.Add(new LiteralPart(text[i].ToString()));
                next = i + 1;
            }

            i = next;
        }
    }

    private static int MatchClose(string text, int i, int n, char open, char close)
    {
        int depth = 1;
        while (i < n)
        {
            char c = text[i];
            if (c == '\\')
            {
                i += 2;
                continue;
            }

            if (c == '\'')
            {
                int q = text.IndexOf('\'', i + 1);
                i = q < 0 ? n : q + 1;
                continue;
            }

            if (c == '"')
            {
                i++;
                while (i < n && text[i] != '"')
                {
                    i += text[i] == '\\' ? 2 : 1;
                }

                i++;
                continue;
            }

            if (c == open)
            {
                depth++;
            }
            else if (c == close && --depth == 0)
            {
                return i;
            }

            i++;
        }

        return n;
    }

    private static void Command(string text, LineMap lines, List<Word> words, List<EnvStatement> statements)
    {
        int w = 0;
        while (w < words.Count && words[w].Plain && Reserved.Contains(words[w].Raw(text)))
        {
            w++;
        }

        var assignments = new List<Word>();
        while (w < words.Count && AssignmentRegex().IsMatch(words[w].Raw(text)))
        {
            assignments.Add(words[w]);
            w++;
        }

        if (w == words.Count)
        {
            foreach (var a in assignments)
            {
                statements.Add(Assignment(text, lines, a, exports: false, words[0]));
            }

            return;
        }

        string command = words[w].Plain ? words[w].Raw(text) : string.Empty;
        if (assignments.Count > 0)
        {
            return; // NAME=value command ...: only that command sees NAME.
        }

        w++;
        switch (command)
        {
            case "export":
            case "declare":
            case "typeset":
            case "readonly":
                bool isExport = command == "export";
                bool exports = isExport;
                bool unexport = false;
                for (; w < words.Count; w++)
                {
                    string raw = words[w].Raw(text);
                    if (raw.Length > 1 && (raw[0] == '-' || raw[0] == '+') && NameRegex().IsMatch(raw.Substring(1).Replace("-", string.Empty, StringComparison.Ordinal) + "x"))
                    {
                        if (raw.Contains('f', StringComparison.Ordinal) || raw.Contains('p', StringComparison.Ordinal))
                        {
                            return;
                        }

                        if (isExport && raw.Contains('n', StringComparison.Ordinal))
                        {
                            unexport = true;
                        }

                        if (!isExport && raw.Contains('x', StringComparison.Ordinal))
                        {
                            exports = raw[0] == '-';
                            unexport = raw[0] == '+';
                        }

                        continue;
                    }

                    if (AssignmentRegex().IsMatch(raw))
                    {
                        statements.Add(Assignment(text, lines, words[w], exports && !unexport, words[0]));
                        if (unexport)
                        {
                            statements.Add(new EnvStatement { Kind = StatementKind.Unexport, Name = AssignmentRegex().Match(raw).Groups[1].Value, Line = lines.LineOf(words[w].Start) });
                        }
                    }
                    else if (NameRegex().IsMatch(raw) && (exports || unexport))
                    {
                        statements.Add(new EnvStatement { Kind = unexport ? StatementKind.Unexport : StatementKind.Export, Name = raw, Line = lines.LineOf(words[w].Start) });
                    }
                }

                break;
            case "unset":
                for (; w < words.Count; w++)
                {
                    string raw = words[w].Raw(text);
                    if (raw == "-f")
                    {
                        return;
                    }

                    if (NameRegex().IsMatch(raw))
                    {
                        statements.Add(new EnvStatement { Kind = StatementKind.Unset, Name = raw, Line = lines.LineOf(words[w].Start) });
                    }
                }

                break;
        }
    }

    private static EnvStatement Assignment(string text, LineMap lines, Word word, bool exports, Word first)
    {
        string raw = word.Raw(text);
        var m = AssignmentRegex().Match(raw);
        int valueStart = word.Start + m.Length;
        var parts = new List<ValuePart>();
        ScanWord(text, valueStart, parts, word.End);
        char quote = '\0';
        int insertAt = word.End;

        // A CR at the end of a word (CRLF file) is part of the value for the shell; new entries go before it.
        while (insertAt > valueStart && text[insertAt - 1] == '\r')
        {
            insertAt--;
        }

        if (insertAt == word.End && word.End > valueStart)
        {
            char last = text[word.End - 1];
            if ((last == '"' || last == '\'') && ClosesQuote(text, valueStart, word.End, last))
            {
                quote = last;
                insertAt = word.End - 1;
            }
        }

        int lineStart = lines.LineStart(lines.LineOf(first.Start));
        var (lineEnd, newline) = LineMap.LineEndAfter(text, word.End);
        return new EnvStatement
        {
            Kind = m.Groups[2].Value == "+" ? StatementKind.Append : StatementKind.Set,
            Name = m.Groups[1].Value,
            Value = parts,
            Exports = exports,
            Line = lines.LineOf(word.Start),
            ValueStart = valueStart,
            ValueEnd = word.End,
            InsertAt = insertAt,
            Quote = quote,
            LinePrefix = text.Substring(lineStart, word.Start - lineStart),
            LineEnd = lineEnd,
            Newline = newline,
        };
    }

    /// <summary>True when the quote character at end-1 closes a quoted run that starts inside [start, end).</summary>
    private static bool ClosesQuote(string text, int start, int end, char quote)
    {
        int i = start;
        char open = '\0';
        int lastClose = -1;
        while (i < end)
        {
            char c = text[i];
            if (open == '\0')
            {
                if (c == '\\')
                {
                    i += 2;
                    continue;
                }

                if (c is '"' or '\'')
                {
                    open = c;
                }
            }
            else if (open == '"' && c == '\\')
            {
                i += 2;
                continue;
            }
            else if (c == open)
            {
                open = '\0';
                lastClose = i;
            }

            i++;
        }

        return lastClose == end - 1 && text[end - 1] == quote;
    }
}
