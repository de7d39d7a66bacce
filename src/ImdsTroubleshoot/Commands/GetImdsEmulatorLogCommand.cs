using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Commands;

/// <summary>Reads the request log of IMDS emulators: who asked for what, with or without a token, and what they got.</summary>
[Cmdlet(VerbsCommon.Get, "ImdsEmulatorLog", DefaultParameterSetName = EmulatorSelection.ByName)]
[OutputType(typeof(ImdsRequestRecord))]
public sealed class GetImdsEmulatorLogCommand : ImdsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = EmulatorSelection.ByInputObject)]
    public ImdsEmulator[]? InputObject { get; set; }

    [Parameter(ParameterSetName = EmulatorSelection.ByName)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    [Parameter]
    public ImdsRequestKind[]? Kind { get; set; }

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Last { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<ImdsEmulator> emulators = EmulatorSelection.Targets(ParameterSetName, InputObject, Name, null, WriteError);

        foreach (var emulator in emulators)
        {
            IEnumerable<ImdsRequestRecord> records = emulator.GetRequestLog();
            if (Kind is { Length: > 0 })
            {
                records = records.Where(r => Kind.Contains(r.Kind));
            }

            if (MyInvocation.BoundParameters.ContainsKey(nameof(Last)))
            {
                var list = records.ToList();
                records = list.Skip(System.Math.Max(0, list.Count - Last));
            }

            WriteObject(records, enumerateCollection: true);
        }
    }
}
