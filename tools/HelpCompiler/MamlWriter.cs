using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Xml;

namespace ImdsTroubleshoot.HelpCompiler;

/// <summary>Writes MAML (the format Get-Help reads for binary modules).</summary>
public static class MamlWriter
{
    private const string Msh = "http://msh";
    private const string Maml = "http://schemas.microsoft.com/maml/2004/10";
    private const string Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private const string Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    public static string Write(IEnumerable<CommandHelp> commands)
    {
        var sb = new StringBuilder();
        var settings = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false), OmitXmlDeclaration = false };
        using (var w = XmlWriter.Create(new Utf8StringWriter(sb), settings))
        {
            w.WriteStartDocument();
            w.WriteStartElement("helpItems", Msh);
            w.WriteAttributeString("schema", "maml");
            foreach (var c in commands)
            {
                WriteCommand(w, c);
            }

            w.WriteEndElement();
            w.WriteEndDocument();
        }

        return sb.ToString();
    }

    private static void WriteCommand(XmlWriter w, CommandHelp c)
    {
        w.WriteStartElement("command", "command", Command);
        w.WriteAttributeString("xmlns", "maml", null, Maml);
        w.WriteAttributeString("xmlns", "command", null, Command);
        w.WriteAttributeString("xmlns", "dev", null, Dev);

        w.WriteStartElement("command", "details", Command);
        w.WriteElementString("command", "name", Command, c.Name);
        w.WriteElementString("command", "verb", Command, c.Verb);
        w.WriteElementString("command", "noun", Command, c.Noun);
        Description(w, c.Synopsis);
        w.WriteEndElement();

        Description(w, c.Description);

        // Syntax: one item per parameter set named in the SYNTAX section.
        w.WriteStartElement("command", "syntax", Command);
        var sets = c.SyntaxSets.Count > 0 ? c.SyntaxSets.Select(s => s.Name).ToList() : new List<string> { "(All)" };
        foreach (string set in sets)
        {
            w.WriteStartElement("command", "syntaxItem", Command);
            w.WriteElementString("maml", "name", Maml, c.Name);
            foreach (var p in c.Parameters)
            {
                var meta = p.Metadata.FirstOrDefault(m => m.Sets.Contains(set) || m.Sets.Contains("(All)"));
                if (meta is null)
                {
                    continue;
                }

                WriteParameter(w, p, meta, inSyntax: true);
            }

            w.WriteEndElement();
        }

        w.WriteEndElement();

        w.WriteStartElement("command", "parameters", Command);
        foreach (var p in c.Parameters)
        {
            var meta = p.Metadata.FirstOrDefault() ?? new ParameterSetMetadata();
            WriteParameter(w, p, meta, inSyntax: false);
        }

        w.WriteEndElement();

        w.WriteStartElement("command", "inputTypes", Command);
        foreach (var t in c.Inputs)
        {
            w.WriteStartElement("command", "inputType", Command);
            TypeElement(w, t.Name);
            Description(w, t.Description);
            w.WriteEndElement();
        }

        w.WriteEndElement();

        w.WriteStartElement("command", "returnValues", Command);
        foreach (var t in c.Outputs)
        {
            w.WriteStartElement("command", "returnValue", Command);
            TypeElement(w, t.Name);
            Description(w, t.Description);
            w.WriteEndElement();
        }

        w.WriteEndElement();

        w.WriteStartElement("maml", "alertSet", Maml);
        w.WriteStartElement("maml", "alert", Maml);
        foreach (string para in Paragraphs(c.Notes))
        {
            w.WriteElementString("maml", "para", Maml, para);
        }

        w.WriteEndElement();
        w.WriteEndElement();

        w.WriteStartElement("command", "examples", Command);
        foreach (var e in c.Examples)
        {
            w.WriteStartElement("command", "example", Command);
            w.WriteElementString("maml", "title", Maml, "-------------------------- " + e.Title + " --------------------------");
            w.WriteElementString("dev", "code", Dev, e.Code);
            w.WriteStartElement("dev", "remarks", Dev);
            foreach (string para in Paragraphs(e.Remarks))
            {
                w.WriteElementString("maml", "para", Maml, para);
            }

            w.WriteEndElement();
            w.WriteEndElement();
        }

        w.WriteEndElement();

        w.WriteStartElement("command", "relatedLinks", Command);
        foreach (var (text, uri) in c.Links)
        {
            w.WriteStartElement("maml", "navigationLink", Maml);
            w.WriteElementString("maml", "linkText", Maml, text);
            w.WriteElementString("maml", "uri", Maml, uri);
            w.WriteEndElement();
        }

        w.WriteEndElement();
        w.WriteEndElement();
    }

    private static void WriteParameter(XmlWriter w, ParameterHelp p, ParameterSetMetadata meta, bool inSyntax)
    {
        bool isSwitch = meta.Type.Equals("SwitchParameter", StringComparison.OrdinalIgnoreCase);
        w.WriteStartElement("command", "parameter", Command);
        w.WriteAttributeString("required", meta.Required ? "true" : "false");
        w.WriteAttributeString("variableLength", meta.Type.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false");
        w.WriteAttributeString("globbing", meta.Wildcards ? "true" : "false");
        w.WriteAttributeString("pipelineInput", meta.PipelineInput);
        w.WriteAttributeString("position", meta.Position.Equals("Named", StringComparison.OrdinalIgnoreCase) ? "named" : meta.Position);
        w.WriteAttributeString("aliases", meta.Aliases.Count == 0 ? "none" : string.Join(", ", meta.Aliases));
        w.WriteElementString("maml", "name", Maml, p.Name);
        Description(w, p.Description);
        if (meta.AcceptedValues.Count > 0)
        {
            w.WriteStartElement("command", "parameterValueGroup", Command);
            foreach (string v in meta.AcceptedValues)
            {
                w.WriteStartElement("command", "parameterValue", Command);
                w.WriteAttributeString("required", "false");
                w.WriteAttributeString("command", "variableLength", Command, "false");
                w.WriteString(v);
                w.WriteEndElement();
            }

            w.WriteEndElement();
        }

        if (!isSwitch || !inSyntax)
        {
            w.WriteStartElement("command", "parameterValue", Command);
            w.WriteAttributeString("required", isSwitch ? "false" : "true");
            w.WriteAttributeString("variableLength", "false");
            w.WriteString(meta.Type);
            w.WriteEndElement();
        }

        TypeElement(w, meta.Type);
        w.WriteElementString("dev", "defaultValue", Dev, meta.DefaultValue);
        w.WriteEndElement();
    }

    private static void TypeElement(XmlWriter w, string name)
    {
        w.WriteStartElement("dev", "type", Dev);
        w.WriteElementString("maml", "name", Maml, name);
        w.WriteElementString("maml", "uri", Maml, string.Empty);
        w.WriteEndElement();
    }

    private static void Description(XmlWriter w, List<string> lines)
    {
        w.WriteStartElement("maml", "description", Maml);
        foreach (string para in Paragraphs(lines))
        {
            w.WriteElementString("maml", "para", Maml, para);
        }

        w.WriteEndElement();
    }

    /// <summary>Blank-line separated paragraphs; lines inside one are kept as written.</summary>
    public static IEnumerable<string> Paragraphs(IEnumerable<string> lines)
    {
        var current = new List<string>();
        foreach (string line in lines)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                if (current.Count > 0)
                {
                    yield return string.Join("\n", current);
                    current.Clear();
                }

                continue;
            }

            current.Add(line.TrimEnd());
        }

        if (current.Count > 0)
        {
            yield return string.Join("\n", current);
        }
    }

    private sealed class Utf8StringWriter : System.IO.StringWriter
    {
        public Utf8StringWriter(StringBuilder sb)
            : base(sb, System.Globalization.CultureInfo.InvariantCulture)
        {
        }

        public override Encoding Encoding => new UTF8Encoding(false);
    }
}

/// <summary>Turns about_*.md (platyPS about topic) into the plain text Get-Help shows.</summary>
public static class AboutWriter
{
    public static string Write(string markdown)
    {
        var sb = new StringBuilder();
        bool inFrontMatter = false;
        int lineNo = 0;
        foreach (string raw in markdown.Replace("\r\n", "\n").Split('\n'))
        {
            string line = raw;
            if (lineNo++ == 0 && line.Trim() == "---")
            {
                inFrontMatter = true;
                continue;
            }

            if (inFrontMatter)
            {
                if (line.Trim() == "---")
                {
                    inFrontMatter = false;
                }

                continue;
            }

            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                sb.Append("TOPIC\n    ").Append(line.Substring(2).Trim().ToLowerInvariant()).Append('\n');
                continue;
            }

            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                sb.Append('\n').Append(line.Substring(3).Trim().ToUpperInvariant()).Append('\n');
                continue;
            }

            if (line.StartsWith("### ", StringComparison.Ordinal))
            {
                sb.Append('\n').Append("  ").Append(line.Substring(4).Trim()).Append('\n');
                continue;
            }

            sb.Append(line.Length == 0 ? string.Empty : "    " + line).Append('\n');
        }

        return sb.ToString();
    }
}
