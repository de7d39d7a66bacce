using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>Every exported cmdlet has full help, read the way users read it: Get-Help -Full in a real runspace.</summary>
public sealed class HelpTests : IClassFixture<HelpTests.Session>
{
    private readonly PsSession _ps;

    public HelpTests(Session session)
    {
        _ps = session.Ps;
    }

    public sealed class Session : IDisposable
    {
        public PsSession Ps { get; } = new();

        public void Dispose() => Ps.Dispose();
    }

    public static IEnumerable<object[]> Cmdlets() => Repo.CmdletClassNames().Select(n => new object[] { n });

    private static string Text(object? value) => value switch
    {
        null => string.Empty,
        PSObject p when p.BaseObject is string s => s,
        PSObject p => string.Join("\n", AsArray(p).Select(x => x.Properties["Text"]?.Value?.ToString() ?? x.ToString())),
        _ => value.ToString() ?? string.Empty,
    };

    private static IEnumerable<PSObject> AsArray(object? value) => value switch
    {
        null => Array.Empty<PSObject>(),
        PSObject { BaseObject: object[] items } => items.Select(PSObject.AsPSObject),
        PSObject p => new[] { p },
        object[] items => items.Select(PSObject.AsPSObject),
        _ => new[] { PSObject.AsPSObject(value) },
    };

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void Cmdlet_has_synopsis_description_parameters_and_two_examples(string cmdlet)
    {
        var help = _ps.Ok($"Get-Help {cmdlet} -Full").Output.Single();
        string synopsis = Text(help.Properties["Synopsis"].Value).Trim();
        Assert.False(string.IsNullOrWhiteSpace(synopsis), "synopsis");
        Assert.DoesNotContain(cmdlet + " [", synopsis, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(Text(help.Properties["description"]?.Value)), "description");

        var examples = AsArray(((PSObject?)help.Properties["examples"]?.Value)?.Properties["example"]?.Value).ToList();
        Assert.True(examples.Count >= 2, $"{cmdlet}: {examples.Count} examples");
        Assert.All(examples, e => Assert.False(string.IsNullOrWhiteSpace(e.Properties["code"]?.Value?.ToString())));

        var described = AsArray(((PSObject?)help.Properties["parameters"]?.Value)?.Properties["parameter"]?.Value)
            .Where(p => !string.IsNullOrWhiteSpace(Text(p.Properties["description"]?.Value)))
            .Select(p => p.Properties["name"].Value.ToString()!)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        var parameters = _ps.Ok($"(Get-Command {cmdlet}).Parameters.Keys").Output.Select(o => o.ToString())
            .Where(p => !Common.Contains(p))
            .ToList();
        Assert.NotEmpty(parameters);
        var missing = parameters.Where(p => !described.Contains(p)).ToList();
        Assert.True(missing.Count == 0, $"{cmdlet}: no help description for -{string.Join(", -", missing)}");

        Assert.NotEmpty(AsArray(((PSObject?)help.Properties["returnValues"]?.Value)?.Properties["returnValue"]?.Value));
    }

    private static readonly HashSet<string> Common = new(StringComparer.OrdinalIgnoreCase)
    {
        "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable", "WarningVariable",
        "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable",
    };

    [Fact]
    public void About_topic_ships_and_walks_the_troubleshooting_flow()
    {
        var r = _ps.Ok("Get-Help about_ImdsTroubleshoot");
        string text = string.Join("\n", r.Output.Select(o => o.ToString()));
        Assert.Contains("IMDS", text, StringComparison.Ordinal);
        Assert.Contains("Start-ImdsEmulator", text, StringComparison.Ordinal);
        Assert.Contains("Invoke-ImdsDiagnosis -InstanceId", text, StringComparison.Ordinal);
        Assert.Contains("Invoke-ImdsDiagnosis -HostName", text, StringComparison.Ordinal);
    }
}
