using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;
using Microsoft.PowerShell.Commands.Internal.Format;

namespace ImdsTroubleshoot.Cli;

/// <summary>
/// The System.Management.Automation package has the Core cmdlets only. These give the host the few
/// Utility cmdlets that pipelines in our docs use. Format-Table and Format-List are PowerShell's own
/// formatter (the Utility cmdlets are thin shells over it); Select-Object is a reduced version.
/// They are added only where the real ones are missing.
/// </summary>
internal static class Shims
{
    public static void AddMissing(InitialSessionState iss)
    {
        var existing = new HashSet<string>(iss.Commands.Select(c => c.Name), StringComparer.OrdinalIgnoreCase);
        void Add(string name, Type type)
        {
            if (!existing.Contains(name))
            {
                iss.Commands.Add(new SessionStateCmdletEntry(name, type, null));
            }
        }

        if (FormatterShape.Available)
        {
            Add("Format-Table", typeof(FormatTableShim));
            Add("Format-List", typeof(FormatListShim));
        }

        Add("Select-Object", typeof(SelectObjectShim));
        Add("Measure-ImdsCliOutput", typeof(MeasureImdsCliOutputCommand));
    }
}

/// <summary>Reaches PowerShell's internal formatter implementation (FormatShape.Table / List).</summary>
internal static class FormatterShape
{
    private static readonly Type? s_inner = typeof(PSObject).Assembly.GetType("Microsoft.PowerShell.Commands.Internal.Format.InnerFormatShapeCommand");
    private static readonly Type? s_shape = typeof(PSObject).Assembly.GetType("Microsoft.PowerShell.Commands.Internal.Format.FormatShape");
    private static readonly FieldInfo? s_implementation = typeof(FrontEndCommandBase).GetField("implementation", BindingFlags.Instance | BindingFlags.NonPublic);

    public static bool Available => s_inner is not null && s_shape is not null && s_implementation is not null;

    public static void Attach(FrontEndCommandBase command, string shapeName)
    {
        object shape = Enum.Parse(s_shape!, shapeName);
        object inner = Activator.CreateInstance(s_inner!, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, null, new[] { shape }, null)!;
        s_implementation!.SetValue(command, inner);
    }
}

[Cmdlet(VerbsCommon.Format, "Table")]
public sealed class FormatTableShim : OuterFormatTableBase
{
    public FormatTableShim()
    {
        FormatterShape.Attach(this, "Table");
    }
}

[Cmdlet(VerbsCommon.Format, "List")]
public sealed class FormatListShim : OuterFormatTableAndListBase
{
    public FormatListShim()
    {
        FormatterShape.Attach(this, "List");
    }
}

/// <summary>Select-Object with -Property (names and wildcards), -ExpandProperty, -First, -Last and -Skip.</summary>
[Cmdlet(VerbsCommon.Select, "Object")]
public sealed class SelectObjectShim : PSCmdlet
{
    private readonly List<PSObject> _buffer = new();
    private int _seen;
    private int _emitted;

    [Parameter(ValueFromPipeline = true)]
    public PSObject? InputObject { get; set; }

    [Parameter(Position = 0)]
    public string[]? Property { get; set; }

    [Parameter]
    public string? ExpandProperty { get; set; }

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int First { get; set; } = -1;

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Last { get; set; } = -1;

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Skip { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject is null)
        {
            return;
        }

        if (_seen++ < Skip)
        {
            return;
        }

        if (Last >= 0)
        {
            _buffer.Add(InputObject);
            if (_buffer.Count > Last)
            {
                _buffer.RemoveAt(0);
            }

            return;
        }

        if (First >= 0 && _emitted >= First)
        {
            return;
        }

        _emitted++;
        Emit(InputObject);
    }

    protected override void EndProcessing()
    {
        foreach (var item in _buffer)
        {
            Emit(item);
        }
    }

    private void Emit(PSObject input)
    {
        if (ExpandProperty is not null)
        {
            var p = input.Properties[ExpandProperty];
            if (p is null)
            {
                WriteError(new ErrorRecord(new PSArgumentException($"Property \"{ExpandProperty}\" cannot be found."), "ExpandPropertyNotFound", ErrorCategory.InvalidArgument, input));
                return;
            }

            WriteObject(p.Value, enumerateCollection: true);
            return;
        }

        if (Property is null || Property.Length == 0)
        {
            WriteObject(input);
            return;
        }

        var result = new PSObject();
        foreach (string name in Property)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
            foreach (var p in input.Properties.Where(p => pattern.IsMatch(p.Name)))
            {
                object? value;
                try
                {
                    value = p.Value;
                }
                catch (GetValueException)
                {
                    value = null;
                }

                if (result.Properties[p.Name] is null)
                {
                    result.Properties.Add(new PSNoteProperty(p.Name, value));
                }
            }
        }

        WriteObject(result);
    }
}

/// <summary>What passed through the host's output pipeline.</summary>
public sealed class CliOutputStats
{
    public int Errors { get; set; }

    public bool FailedStatus { get; set; }
}

/// <summary>The host's tap between the user's command and Out-Default: counts errors and Fail results, passes everything on in order.</summary>
[Cmdlet("Measure", "ImdsCliOutput")]
public sealed class MeasureImdsCliOutputCommand : Cmdlet
{
    [Parameter(ValueFromPipeline = true)]
    public PSObject? InputObject { get; set; }

    [Parameter(Mandatory = true)]
    public CliOutputStats? Stats { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject is null)
        {
            return;
        }

        if (InputObject.BaseObject is ErrorRecord)
        {
            Stats!.Errors++;
        }
        else
        {
            try
            {
                if (InputObject.Properties["Status"]?.Value?.ToString() == "Fail")
                {
                    Stats!.FailedStatus = true;
                }
            }
            catch (GetValueException)
            {
            }
        }

        WriteObject(InputObject);
    }
}
