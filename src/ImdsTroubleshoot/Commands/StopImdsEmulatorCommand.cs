using System.Collections.Generic;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Commands;

/// <summary>Stops IMDS emulators: closes their listeners and open connections.</summary>
[Cmdlet(VerbsLifecycle.Stop, "ImdsEmulator", SupportsShouldProcess = true, DefaultParameterSetName = EmulatorSelection.ByInputObject)]
[OutputType(typeof(ImdsEmulator))]
public sealed class StopImdsEmulatorCommand : ImdsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = EmulatorSelection.ByInputObject)]
    public ImdsEmulator[]? InputObject { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = EmulatorSelection.ByName)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = EmulatorSelection.ById)]
    public int[]? Id { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<ImdsEmulator> targets = EmulatorSelection.Targets(ParameterSetName, InputObject, Name, Id, WriteError);

        foreach (var emulator in targets)
        {
            if (!ShouldProcess($"IMDS emulator '{emulator.Name}' on {string.Join(", ", emulator.Endpoints)}", "Stop"))
            {
                continue;
            }

            emulator.Stop();
            EmulatorRegistry.Remove(emulator);
            WriteVerbose($"Stopped emulator '{emulator.Name}' after {emulator.RequestCount} requests.");
            if (PassThru.IsPresent)
            {
                WriteObject(emulator);
            }
        }
    }
}
