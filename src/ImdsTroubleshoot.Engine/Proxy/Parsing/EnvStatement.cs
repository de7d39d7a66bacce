using System;
using System.Collections.Generic;
using System.Text;

namespace ImdsTroubleshoot.Engine.Proxy.Parsing;

internal enum StatementKind
{
    /// <summary>NAME=value.</summary>
    Set,

    /// <summary>NAME+=value (shell).</summary>
    Append,

    /// <summary>unset NAME / UnsetEnvironment=NAME.</summary>
    Unset,

    /// <summary>export NAME (no value).</summary>
    Export,

    /// <summary>export -n NAME / declare +x NAME.</summary>
    Unexport,

    /// <summary>An empty systemd Environment= (clears the unit's list so far).</summary>
    Reset,

    /// <summary>EnvironmentFile=PATH in a unit (Name holds the path).</summary>
    IncludeFile,

    /// <summary>An empty EnvironmentFile= (clears the list of files).</summary>
    ResetFiles,
}

/// <summary>One piece of a value: literal text, a variable reference, or something only a shell could know.</summary>
internal abstract class ValuePart
{
    public abstract string Evaluate(Func<string, string?> lookup, ref bool dynamic);
}

internal sealed class LiteralPart : ValuePart
{
    public LiteralPart(string text) => Text = text;

    public string Text { get; }

    public override string Evaluate(Func<string, string?> lookup, ref bool dynamic) => Text;
}

/// <summary>$NAME, ${NAME}, ${NAME:-word}, ${NAME:+word}, ${NAME-word}, ${NAME+word}, ${NAME:=word}.</summary>
internal sealed class ParameterPart : ValuePart
{
    public ParameterPart(string name, string op, IReadOnlyList<ValuePart> word)
    {
        Name = name;
        Op = op;
        Word = word;
    }

    public string Name { get; }

    public string Op { get; }

    public IReadOnlyList<ValuePart> Word { get; }

    public override string Evaluate(Func<string, string?> lookup, ref bool dynamic)
    {
        string? v = lookup(Name);
        switch (Op)
        {
            case ":-":
            case ":=":
                return string.IsNullOrEmpty(v) ? ShellValue.Evaluate(Word, lookup, ref dynamic) : v;
            case "-":
            case "=":
                return v ?? ShellValue.Evaluate(Word, lookup, ref dynamic);
            case ":+":
                return string.IsNullOrEmpty(v) ? string.Empty : ShellValue.Evaluate(Word, lookup, ref dynamic);
            case "+":
                return v is null ? string.Empty : ShellValue.Evaluate(Word, lookup, ref dynamic);
            default:
                return v ?? string.Empty;
        }
    }
}

/// <summary>$(...), `...`, $1, ${x%y}: kept as written and flagged.</summary>
internal sealed class UnknownPart : ValuePart
{
    public UnknownPart(string raw) => Raw = raw;

    public string Raw { get; }

    public override string Evaluate(Func<string, string?> lookup, ref bool dynamic)
    {
        dynamic = true;
        return Raw;
    }
}

internal static class ShellValue
{
    public static string Evaluate(IReadOnlyList<ValuePart> parts, Func<string, string?> lookup, ref bool dynamic)
    {
        var sb = new StringBuilder();
        foreach (var p in parts)
        {
            sb.Append(p.Evaluate(lookup, ref dynamic));
        }

        return sb.ToString();
    }
}

/// <summary>
/// One statement of a configuration file that touches an environment variable, with where it sits in the
/// file's text (offsets into the Latin-1 decoded bytes, so edits keep every other byte).
/// </summary>
internal sealed class EnvStatement
{
    public StatementKind Kind { get; init; }

    public string Name { get; init; } = string.Empty;

    public IReadOnlyList<ValuePart> Value { get; init; } = Array.Empty<ValuePart>();

    /// <summary>The assignment also exports the variable (export NAME=..., declare -x, every non-shell format).</summary>
    public bool Exports { get; init; }

    /// <summary>1-based line of the statement.</summary>
    public int Line { get; init; }

    /// <summary>Where the raw value text starts and ends (end exclusive).</summary>
    public int ValueStart { get; init; }

    public int ValueEnd { get; init; }

    /// <summary>Where entries appended to the value go (before a closing quote).</summary>
    public int InsertAt { get; init; }

    /// <summary>The quote the value (or the whole systemd assignment) is written in: '\0', '"' or '\''.</summary>
    public char Quote { get; init; }

    /// <summary>Text before the name on its line (indentation, "export ", "Environment=\"" ...), for writing a sibling line.</summary>
    public string LinePrefix { get; init; } = string.Empty;

    /// <summary>Offset just past the end of the statement's last physical line (after its line terminator, if any).</summary>
    public int LineEnd { get; init; }

    /// <summary>The line terminator of that line ("\n", "\r\n" or "" at the end of the file).</summary>
    public string Newline { get; init; } = "\n";

    /// <summary>The consumer keeps junk after the insertion point (pam_env keeps a closing quote followed by blanks): end additions with a comma.</summary>
    public bool NeedsTrailingSeparator { get; init; }

    /// <summary>For IncludeFile: the leading '-' (file may be missing).</summary>
    public bool Optional { get; init; }

    public string Evaluate(Func<string, string?> lookup, out bool dynamic)
    {
        dynamic = false;
        return ShellValue.Evaluate(Value, lookup, ref dynamic);
    }

    public static IReadOnlyList<ValuePart> Literal(string text) => new ValuePart[] { new LiteralPart(text) };
}

/// <summary>A parsed file: its bytes as Latin-1 text (one char per byte) and the statements found.</summary>
internal sealed class ParsedFile
{
    public ParsedFile(string path, ProxyFileFormat format, string text, IReadOnlyList<EnvStatement> statements)
    {
        Path = path;
        Format = format;
        Text = text;
        Statements = statements;
    }

    /// <summary>The path as the target system sees it (e.g. /etc/environment), not the path under a mounted root.</summary>
    public string Path { get; }

    public ProxyFileFormat Format { get; }

    public string Text { get; }

    public IReadOnlyList<EnvStatement> Statements { get; }

    public static string Decode(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    public static byte[] Encode(string text) => Encoding.Latin1.GetBytes(text);

    /// <summary>The predominant line terminator of the text.</summary>
    public string PreferredNewline()
    {
        int crlf = 0, lf = 0;
        for (int i = 0; i < Text.Length; i++)
        {
            if (Text[i] == '\n')
            {
                if (i > 0 && Text[i - 1] == '\r')
                {
                    crlf++;
                }
                else
                {
                    lf++;
                }
            }
        }

        return crlf > lf ? "\r\n" : "\n";
    }
}

/// <summary>Line numbers for offsets.</summary>
internal sealed class LineMap
{
    private readonly List<int> _starts = new() { 0 };

    public LineMap(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                _starts.Add(i + 1);
            }
        }
    }

    public int LineOf(int offset)
    {
        int idx = _starts.BinarySearch(offset);
        return idx >= 0 ? idx + 1 : ~idx;
    }

    public int LineStart(int line) => _starts[line - 1];

    /// <summary>Offset past the line terminator of the line holding <paramref name="offset"/>, and that terminator.</summary>
    public static (int End, string Newline) LineEndAfter(string text, int offset)
    {
        int nl = text.IndexOf('\n', Math.Min(offset, text.Length));
        if (nl < 0)
        {
            return (text.Length, string.Empty);
        }

        return (nl + 1, nl > 0 && text[nl - 1] == '\r' ? "\r\n" : "\n");
    }
}
