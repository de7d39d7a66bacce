using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>
/// The fleet-health runbook in examples/ runs under Invoke-Pester on pwsh, which this machine does not have: parse it
/// with the engine's parser and check that every command, parameter, property and value it relies on exists in
/// the staged module, so it cannot rot when the cmdlets change.
/// </summary>
public sealed class RunbookTests
{
    private const string RunbookPath = "examples/FleetHealth.Tests.ps1";

    // Pester 5's DSL and the pwsh built-ins the runbook uses that this engine host does not load (Utility).
    private static readonly Dictionary<string, string[]> s_external = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Describe"] = new[] { "ForEach", "Tag", "Skip" },
        ["Context"] = new[] { "ForEach", "Tag", "Skip" },
        ["It"] = new[] { "ForEach", "TestCases", "Tag", "Skip" },
        ["BeforeAll"] = Array.Empty<string>(),
        ["BeforeDiscovery"] = Array.Empty<string>(),
        ["AfterAll"] = Array.Empty<string>(),
        ["Should"] = new[] { "Be", "Not", "BeNullOrEmpty", "Because", "BeTrue", "BeFalse", "BeLike", "Match", "Contain" },
        ["Group-Object"] = new[] { "Property", "AsHashTable", "AsString" },
        ["Select-Object"] = new[] { "ExpandProperty", "Property", "First" },
        ["New-PesterContainer"] = new[] { "Path", "Data" },
        ["Invoke-Pester"] = new[] { "Container", "Output" },
    };

    private static ScriptBlockAst Parse()
    {
        ScriptBlockAst ast = Parser.ParseFile(Path.Combine(Repo.Root, RunbookPath), out _, out ParseError[] errors);
        Assert.Empty(errors);
        return ast;
    }

    [Fact]
    public void Every_command_and_parameter_the_runbook_uses_exists()
    {
        ScriptBlockAst ast = Parse();
        var functions = ast.FindAll(a => a is FunctionDefinitionAst, true).Cast<FunctionDefinitionAst>().Select(f => f.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        // The examples in the help comment are commands too: parse them as well.
        var helpExamples = ast.GetHelpContent().Examples.Select(e => Parser.ParseInput(e, out _, out _));
        var commands = new[] { (Ast)ast }.Concat(helpExamples)
            .SelectMany(a => a.FindAll(x => x is CommandAst, true).Cast<CommandAst>())
            .Where(c => c.GetCommandName() is { } n && !functions.Contains(n))
            .ToList();
        Assert.Contains(commands, c => c.GetCommandName() == "Invoke-ImdsDiagnosis");

        using var ps = new PsSession();
        var problems = new List<string>();
        foreach (CommandAst command in commands)
        {
            string name = command.GetCommandName();
            IEnumerable<string> known;
            if (s_external.TryGetValue(name, out string[]? external))
            {
                known = external;
            }
            else
            {
                var info = ps.Invoke("param($n) Get-Command -Name $n -ErrorAction SilentlyContinue", new Dictionary<string, object> { ["n"] = name }).Objects<CommandInfo>().FirstOrDefault();
                if (info is null)
                {
                    problems.Add($"{name}: no such command");
                    continue;
                }

                known = info.Parameters.Keys.Concat(info.Parameters.Values.SelectMany(p => p.Aliases));
            }

            foreach (CommandParameterAst parameter in command.CommandElements.OfType<CommandParameterAst>())
            {
                if (!known.Any(k => k.StartsWith(parameter.ParameterName, StringComparison.OrdinalIgnoreCase)))
                {
                    problems.Add($"{name} -{parameter.ParameterName}: no such parameter");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Every_property_and_value_the_runbook_relies_on_exists()
    {
        ScriptBlockAst ast = Parse();
        var propertyOwners = new[] { typeof(ImdsFinding), typeof(ImdsMetadataOption), typeof(ErrorRecord) };
        bool IsProperty(string name) => propertyOwners.Any(t => t.GetProperty(name) is not null);

        var problems = new List<string>();
        var members = ast.FindAll(a => a is MemberExpressionAst, true).Cast<MemberExpressionAst>()
            .Select(m => (m.Member as StringConstantExpressionAst)?.Value).OfType<string>().ToList();
        Assert.Contains("HttpTokens", members);
        foreach (string member in members.Where(m => !IsProperty(m) && m is not "Keys" and not "Values" and not "Count"))
        {
            problems.Add($".{member}: no such property on a finding, a metadata option or an error record");
        }

        // Property names given to Where-Object/Group-Object (first positional argument, or -Property).
        foreach (CommandAst command in ast.FindAll(a => a is CommandAst, true).Cast<CommandAst>().Where(c => c.GetCommandName() is "Where-Object" or "Group-Object"))
        {
            var elements = command.CommandElements.Skip(1).ToList();
            int propertyAt = elements.FindIndex(e => e is CommandParameterAst p && p.ParameterName.Equals("Property", StringComparison.OrdinalIgnoreCase));
            CommandElementAst? property = propertyAt >= 0 ? elements[propertyAt + 1] : elements.FirstOrDefault(e => e is StringConstantExpressionAst);
            if (property is StringConstantExpressionAst { Value: var p } && !IsProperty(p))
            {
                problems.Add($"{command}: no property {p}");
            }
        }

        // Values: the checks asked for, and the statuses, outcomes and HttpTokens values compared against.
        var checks = ast.FindAll(a => a is CommandAst c && c.GetCommandName() == "Get-Finding", true).Cast<CommandAst>()
            .Select(c => c.CommandElements.Last()).OfType<StringConstantExpressionAst>().Select(s => s.Value).ToList();
        Assert.NotEmpty(checks);
        problems.AddRange(checks.Where(c => !Enum.TryParse<DiagnosisCheck>(c, out _)).Select(c => $"check '{c}' is not a DiagnosisCheck"));

        string engineSource = File.ReadAllText(Path.Combine(Repo.Root, "src/ImdsTroubleshoot.Engine/Diagnosis/DiagnosisEngine.cs"));
        var compared = ast.FindAll(a => a is CommandAst c && c.GetCommandName() == "Should", true).Cast<CommandAst>()
            .SelectMany(c => c.CommandElements.Zip(c.CommandElements.Skip(1)))
            .Where(pair => pair.First is CommandParameterAst { ParameterName: "Be" } && pair.Second is StringConstantExpressionAst)
            .Select(pair => ((StringConstantExpressionAst)pair.Second).Value).ToList();
        Assert.Contains("Required", compared);
        foreach (string value in compared)
        {
            bool known = Enum.TryParse<FindingStatus>(value, out _) || Enum.TryParse<HttpTokensState>(value, out _)
                || engineSource.Contains('"' + value + '"', StringComparison.Ordinal);
            if (!known)
            {
                problems.Add($"Should -Be '{value}': not a status, an HttpTokens value or an outcome the engine emits");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
