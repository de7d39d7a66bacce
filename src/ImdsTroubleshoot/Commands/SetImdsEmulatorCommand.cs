using System;
using System.Collections.Generic;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Commands;

/// <summary>Changes the settings of a running IMDS emulator (its instance metadata options and faults).</summary>
[Cmdlet(VerbsCommon.Set, "ImdsEmulator", SupportsShouldProcess = true, DefaultParameterSetName = EmulatorSelection.ByInputObject)]
[OutputType(typeof(ImdsEmulator))]
public sealed class SetImdsEmulatorCommand : EmulatorSettingsCommandBase
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
    public SwitchParameter ClearLog { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<ImdsEmulator> targets = EmulatorSelection.Targets(ParameterSetName, InputObject, Name, Id, WriteError);

        string change = DescribeBoundSettings();
        if (ClearLog.IsPresent)
        {
            change = change == "no setting" ? "clear the request log" : change + "; clear the request log";
        }

        foreach (var emulator in targets)
        {
            if (!emulator.Running)
            {
                WriteError(new InvalidOperationException($"The emulator '{emulator.Name}' is stopped."), ErrorIds.EmulatorNotFound, ErrorCategory.InvalidOperation, emulator);
                continue;
            }

            if (!ShouldProcess($"IMDS emulator '{emulator.Name}'", $"Set {change}"))
            {
                continue;
            }

            try
            {
                emulator.UpdateSettings(ApplyBoundSettings);
                if (ClearLog.IsPresent)
                {
                    emulator.ClearRequestLog();
                }
            }
            catch (ArgumentOutOfRangeException ex)
            {
                WriteError(ex, ErrorIds.EmulatorInvalidSetting, ErrorCategory.InvalidArgument, emulator);
                continue;
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                WriteError(new InvalidOperationException($"The emulator '{emulator.Name}' could not listen on its IPv6 address ({ex.Message}); its settings are unchanged.", ex),
                    ErrorIds.EmulatorStartFailed, ErrorCategory.ResourceUnavailable, emulator);
                continue;
            }

            WriteVerbose($"Emulator '{emulator.Name}': {change}.");
            if (PassThru.IsPresent)
            {
                WriteObject(emulator);
            }
        }
    }
}
