using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.HelpCompiler;

public sealed class ParameterSetMetadata
{
    public List<string> Sets { get; } = new();
    public string Type { get; set; } = "Object";
    public List<string> Aliases { get; } = new();
    public bool Required { get; set; }
    public string Position { get; set; } = "Named";
    public string DefaultValue { get; set; } = "None";
    public string PipelineInput { get; set; } = "False";
    public bool Wildcards { get; set; }
    public List<string> AcceptedValues { get; } = new();
}

public sealed class ParameterHelp
{
    public string Name { get; set; } = string.Empty;
    public List<string> Description { get; } = new();
    public List<ParameterSetMetadata> Metadata { get; } = new();
}

public sealed class ExampleHelp
{
    public string Title { get; set; } = string.Empty;
    public string Code { get; set; } = string.Empty;
    public List<string> Remarks { get; } = new();
}

public sealed class TypeHelp
{
    public string Name { get; set; } = string.Empty;
    public List<string> Description { get; } = new();
}

/// <summary>One cmdlet's help, parsed from platyPS markdown.</summary>
public sealed class CommandHelp
{
    public string Name { get; private set; } = string.Empty;
    public string Source { get; private set; } = string.Empty;
    public List<string> Synopsis { get; } = new();
    public List<string> Description { get; } = new();
    public List<(string Name, bool IsDefault)> SyntaxSets { get; } = new();
    public List<ExampleHelp> Examples { get; } = new();
    public List<ParameterHelp> Parameters { get; } = new();
    public List<TypeHelp> Inputs { get; } = new();
    public List<TypeHelp> Outputs { get; } = new();
    public List<string> Notes { get; } = new();
    public List<(string Text, string Uri)> Links { get; } = new();

    public string Verb => Name.Split('-')[0];
    public string Noun => Name.Contains('-') ? Name.Substring(Name.IndexOf('-') + 1) : string.Empty;

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Name) || !Name.Contains('-'))
        {
            yield return "no '# Verb-Noun' title";
        }

        if (Synopsis.Count == 0 || Synopsis.All(string.IsNullOrWhiteSpace))
        {
            yield return "empty SYNOPSIS";
        }

        if (Description.Count == 0 || Description.All(string.IsNullOrWhiteSpace))
        {
            yield return "empty DESCRIPTION";
        }

        if (Examples.Count < 2)
        {
            yield return $"{Examples.Count} example(s); at least 2 are needed";
        }

        foreach (var e in Examples.Where(e => string.IsNullOrWhiteSpace(e.Code)))
        {
            yield return $"example '{e.Title}' has no code";
        }

        foreach (var p in Parameters)
        {
            if (p.Description.All(string.IsNullOrWhiteSpace))
            {
                yield return $"parameter -{p.Name} has no description";
            }

            if (p.Metadata.Count == 0)
            {
                yield return $"parameter -{p.Name} has no yaml metadata block";
            }
        }

        if (Outputs.Count == 0)
        {
            yield return "no OUTPUTS entry";
        }
    }

    private static readonly Regex Heading = new(@"^(#{1,3})\s+(.*?)\s*$", RegexOptions.Compiled);

    public static CommandHelp Parse(string markdown, string source)
    {
        var help = new CommandHelp { Source = source };
        string[] lines = markdown.Replace("\r\n", "\n").Split('\n');
        int i = 0;

        // Front matter.
        if (lines.Length > 0 && lines[0].Trim() == "---")
        {
            i = 1;
            while (i < lines.Length && lines[i].Trim() != "---")
            {
                i++;
            }

            i++;
        }

        string? section = null;
        ParameterHelp? parameter = null;
        ExampleHelp? example = null;
        TypeHelp? type = null;
        bool exampleCodeDone = false;

        for (; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                string fence = line.Trim();
                var block = new List<string>();
                i++;
                while (i < lines.Length && !lines[i].StartsWith("```", StringComparison.Ordinal))
                {
                    block.Add(lines[i]);
                    i++;
                }

                if (section == "PARAMETERS" && parameter is not null && fence.StartsWith("```yaml", StringComparison.Ordinal))
                {
                    parameter.Metadata.Add(ParseYaml(block));
                }
                else if (section == "EXAMPLES" && example is not null && !exampleCodeDone)
                {
                    example.Code = string.Join("\n", block).TrimEnd();
                    exampleCodeDone = true;
                }
                else if (section == "EXAMPLES" && example is not null)
                {
                    example.Remarks.Add(string.Join("\n", block));
                }

                continue;
            }

            var m = Heading.Match(line);
            if (m.Success)
            {
                int level = m.Groups[1].Value.Length;
                string text = m.Groups[2].Value;
                if (level == 1)
                {
                    help.Name = text;
                    continue;
                }

                if (level == 2)
                {
                    section = text.ToUpperInvariant();
                    parameter = null;
                    example = null;
                    type = null;
                    continue;
                }

                switch (section)
                {
                    case "SYNTAX":
                        bool isDefault = text.EndsWith("(Default)", StringComparison.Ordinal);
                        string set = isDefault ? text.Substring(0, text.Length - "(Default)".Length).Trim() : text.Trim();
                        help.SyntaxSets.Add((set, isDefault));
                        break;
                    case "EXAMPLES":
                        example = new ExampleHelp { Title = text };
                        exampleCodeDone = false;
                        help.Examples.Add(example);
                        break;
                    case "PARAMETERS":
                        if (text.Equals("CommonParameters", StringComparison.OrdinalIgnoreCase))
                        {
                            parameter = null;
                        }
                        else
                        {
                            parameter = new ParameterHelp { Name = text.TrimStart('-') };
                            help.Parameters.Add(parameter);
                        }

                        break;
                    case "INPUTS":
                        type = new TypeHelp { Name = text };
                        help.Inputs.Add(type);
                        break;
                    case "OUTPUTS":
                        type = new TypeHelp { Name = text };
                        help.Outputs.Add(type);
                        break;
                }

                continue;
            }

            switch (section)
            {
                case "SYNOPSIS":
                    help.Synopsis.Add(line);
                    break;
                case "DESCRIPTION":
                    help.Description.Add(line);
                    break;
                case "EXAMPLES":
                    if (example is not null && exampleCodeDone)
                    {
                        example.Remarks.Add(line);
                    }

                    break;
                case "PARAMETERS":
                    parameter?.Description.Add(line);
                    break;
                case "INPUTS":
                case "OUTPUTS":
                    type?.Description.Add(line);
                    break;
                case "NOTES":
                    help.Notes.Add(line);
                    break;
                case "RELATED LINKS":
                    var link = Regex.Match(line, @"^\s*\[(?<t>[^\]]*)\]\((?<u>[^)]*)\)");
                    if (link.Success)
                    {
                        help.Links.Add((link.Groups["t"].Value, link.Groups["u"].Value));
                    }

                    break;
            }
        }

        return help;
    }

    private static ParameterSetMetadata ParseYaml(List<string> block)
    {
        var meta = new ParameterSetMetadata();
        foreach (string raw in block)
        {
            int colon = raw.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            string key = raw.Substring(0, colon).Trim();
            string value = raw.Substring(colon + 1).Trim();
            switch (key)
            {
                case "Type":
                    meta.Type = value;
                    break;
                case "Parameter Sets":
                    meta.Sets.AddRange(value.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0));
                    break;
                case "Aliases":
                    meta.Aliases.AddRange(value.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0));
                    break;
                case "Accepted values":
                    meta.AcceptedValues.AddRange(value.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0));
                    break;
                case "Required":
                    meta.Required = value.StartsWith("True", StringComparison.OrdinalIgnoreCase);
                    break;
                case "Position":
                    meta.Position = value;
                    break;
                case "Default value":
                    meta.DefaultValue = value;
                    break;
                case "Accept pipeline input":
                    meta.PipelineInput = value;
                    break;
                case "Accept wildcard characters":
                    meta.Wildcards = value.StartsWith("True", StringComparison.OrdinalIgnoreCase);
                    break;
            }
        }

        if (meta.Sets.Count == 0)
        {
            meta.Sets.Add("(All)");
        }

        return meta;
    }
}
