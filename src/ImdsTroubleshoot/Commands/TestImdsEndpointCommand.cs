using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Engine;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Probe;

namespace ImdsTroubleshoot.Commands;

/// <summary>Probes the instance metadata service step by step and says what works, what fails, why, and the fix.</summary>
[Cmdlet(VerbsDiagnostic.Test, "ImdsEndpoint")]
[OutputType(typeof(ImdsProbeResult))]
[OutputType(typeof(bool))]
public sealed class TestImdsEndpointCommand : ImdsCmdlet
{
    [Parameter(Position = 0)]
    [ValidateNotNull]
    public Uri? Endpoint { get; set; }

    [Parameter]
    public SwitchParameter IPv6 { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Path { get; set; }

    [Parameter]
    [ValidateRange(0.05, 120.0)]
    public double TimeoutSec { get; set; } = 1.0;

    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void EndProcessing()
    {
        ImdsEndpointChoice choice = ResolveEndpoint(Endpoint);

        var endpoints = new List<Uri> { choice.Endpoint };
        if (IPv6.IsPresent && !endpoints.Contains(ImdsDefaults.IPv6Endpoint) && choice.Endpoint.HostNameType != UriHostNameType.IPv6)
        {
            endpoints.Add(ImdsDefaults.IPv6Endpoint);
        }

        if (Path is not null)
        {
            foreach (string p in Path)
            {
                try
                {
                    ImdsClient.NormalizePath(p);
                }
                catch (ArgumentException ex)
                {
                    ThrowTerminatingError(ex, ErrorIds.ImdsInvalidPath, ErrorCategory.InvalidArgument, p);
                }
            }
        }

        var options = new ImdsProbeOptions
        {
            Endpoints = endpoints,
            EndpointSource = choice.Source,
            StepTimeout = TimeSpan.FromSeconds(TimeoutSec),
            Paths = Path ?? Array.Empty<string>(),
        };
        WriteVerbose($"Probing {string.Join(", ", endpoints)} ({choice.Source}); each step has {TimeoutSec:0.###} s; no proxy is used.");
        IReadOnlyList<ImdsProbeResult> results = RunAsync(ct => ImdsProbe.RunAsync(options, ct));
        if (Quiet.IsPresent)
        {
            WriteObject(results.All(r => r.Status != ProbeStatus.Fail));
            return;
        }

        foreach (var result in results)
        {
            WriteObject(result);
        }
    }
}
