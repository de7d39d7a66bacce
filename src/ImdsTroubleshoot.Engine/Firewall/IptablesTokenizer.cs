using System;
using System.Collections.Generic;
using System.Text;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>
/// Splits an iptables-save rule line into arguments exactly as iptables-restore does (xshared.c
/// add_param_to_argv, iptables 1.8): only <c>"</c> quotes; inside quotes a backslash escapes the next character;
/// outside quotes backslashes and <c>'</c> are literal; a closing quote ends the word; <c>""</c> is an empty word.
/// The result, with <c>-A</c> replaced by <c>-D</c>, deletes that exact rule when passed as an argument list.
/// </summary>
public static class IptablesTokenizer
{
    public static IReadOnlyList<string> Split(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var words = new List<string>();
        var word = new StringBuilder();
        bool inQuotes = false;
        bool escaped = false;
        bool quoted = false;
        foreach (char c in line)
        {
            if (inQuotes)
            {
                if (escaped)
                {
                    word.Append(c);
                    escaped = false;
                    continue;
                }

                if (c == '\\')
                {
                    escaped = true;
                    continue;
                }

                if (c != '"')
                {
                    word.Append(c);
                    continue;
                }

                // The closing quote ends the word, as in iptables-restore.
                inQuotes = false;
                Flush();
                continue;
            }

            if (c == '"')
            {
                inQuotes = true;
                quoted = true;
                continue;
            }

            if (c is ' ' or '\t' or '\n')
            {
                if (word.Length > 0 || quoted)
                {
                    Flush();
                }

                continue;
            }

            word.Append(c);
        }

        if (inQuotes)
        {
            throw new FormatException("unterminated quote");
        }

        if (word.Length > 0 || quoted)
        {
            Flush();
        }

        return words;

        void Flush()
        {
            words.Add(word.ToString());
            word.Clear();
            quoted = false;
        }
    }

    /// <summary>Quotes one word the way iptables-save prints it (double quotes when needed; <c>" \ '</c> escaped).</summary>
    public static string QuoteForSave(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word.Length > 0 && word.IndexOfAny(new[] { ' ', '\t', '"', '\\', '\'' }) < 0)
        {
            return word;
        }

        var sb = new StringBuilder("\"");
        foreach (char c in word)
        {
            if (c is '"' or '\\' or '\'')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.Append('"').ToString();
    }
}

/// <summary>Quotes arguments for a POSIX shell, for commands shown to people (never run through a shell here).</summary>
public static class ShellQuote
{
    public static string Word(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word.Length > 0 && IsPlain(word))
        {
            return word;
        }

        return "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    public static string Join(IEnumerable<string> words)
    {
        ArgumentNullException.ThrowIfNull(words);
        var sb = new StringBuilder();
        foreach (string w in words)
        {
            if (sb.Length > 0)
            {
                sb.Append(' ');
            }

            sb.Append(Word(w));
        }

        return sb.ToString();
    }

    private static bool IsPlain(string word)
    {
        foreach (char c in word)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or ':' or ',' or '+' or '=' or '@' or '%'))
            {
                return false;
            }
        }

        return true;
    }
}
