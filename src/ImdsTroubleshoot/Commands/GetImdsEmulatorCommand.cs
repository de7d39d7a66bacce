using System.Management.Automation;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Commands;

/// <summary>Lists the IMDS emulators running in this process.</summary>
[Cmdlet(VerbsCommon.Get, "ImdsEmulator", DefaultParameterSetName = EmulatorSelection.ByName)]
[OutputType(typeof(ImdsEmulator))]
public sealed class GetImdsEmulatorCommand : ImdsCmdlet
{
    [Parameter(Position = 0, ParameterSetName = EmulatorSelection.ByName)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = EmulatorSelection.ById)]
    public int[]? Id { get; set; }

    protected override void EndProcessing()
    {
        var emulators = EmulatorSelection.Select(Name, Id, out var missing);
        foreach (var key in missing)
        {
            WriteError(EmulatorSelection.NotFound(key));
        }

        foreach (var emulator in emulators)
        {
            WriteObject(emulator);
        }
    }
}
