using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace ImdsTroubleshoot.Cli;

/// <summary>A minimal console host: what Out-Default, Write-Host, warnings, verbose and progress need.</summary>
internal sealed class CliHost : PSHost
{
    private readonly CliHostUserInterface _ui;
    private readonly Guid _id = Guid.NewGuid();

    public CliHost(TextWriter output, TextWriter error, int width, bool interactive)
    {
        _ui = new CliHostUserInterface(output, error, width, interactive);
    }

    public int ExitCode { get; private set; }

    public bool ShouldExit { get; private set; }

    public override string Name => "imds-troubleshoot";

    public override Version Version => typeof(CliHost).Assembly.GetName().Version ?? new Version(0, 0);

    public override Guid InstanceId => _id;

    public override PSHostUserInterface UI => _ui;

    public CliHostUserInterface CliUI => _ui;

    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;

    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;

    public override void EnterNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by imds-troubleshoot.");

    public override void ExitNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by imds-troubleshoot.");

    public override void NotifyBeginApplication()
    {
    }

    public override void NotifyEndApplication()
    {
    }

    public override void SetShouldExit(int exitCode)
    {
        ShouldExit = true;
        ExitCode = exitCode;
    }
}

internal sealed class CliHostUserInterface : PSHostUserInterface
{
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly bool _interactive;
    private readonly CliRawUserInterface _raw;

    public CliHostUserInterface(TextWriter output, TextWriter error, int width, bool interactive)
    {
        _out = output;
        _err = error;
        _interactive = interactive;
        _raw = new CliRawUserInterface(width);
    }

    public int ErrorLines { get; private set; }

    /// <summary>Remove ANSI escape sequences (redirected output, NO_COLOR, TERM=dumb).</summary>
    public bool PlainText { get; set; }

    private static readonly System.Text.RegularExpressions.Regex s_ansi = new("\u001b\\[[0-9;?]*[A-Za-z]", System.Text.RegularExpressions.RegexOptions.Compiled);

    private string Clean(string value) => PlainText && value.Contains('\u001b', StringComparison.Ordinal) ? s_ansi.Replace(value, string.Empty) : value;

    public override PSHostRawUserInterface RawUI => _raw;

    public override bool SupportsVirtualTerminal => false;

    public override string ReadLine()
    {
        if (!_interactive)
        {
            throw new PSInvalidOperationException("imds-troubleshoot is not interactive here (no terminal or CI): pass -Confirm:$false or -Force instead of answering a prompt.");
        }

        return Console.ReadLine() ?? string.Empty;
    }

    public override SecureString ReadLineAsSecureString() => throw new PSInvalidOperationException("Reading secrets interactively is not supported by imds-troubleshoot.");

    public override void Write(string value) => _out.Write(Clean(value));

    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => _out.Write(Clean(value));

    public override void WriteLine(string value) => _out.WriteLine(Clean(value));

    public override void WriteErrorLine(string value)
    {
        ErrorLines++;
        _err.WriteLine(Clean(value));
    }

    public override void WriteDebugLine(string message) => _err.WriteLine("DEBUG: " + Clean(message));

    public override void WriteVerboseLine(string message) => _err.WriteLine("VERBOSE: " + Clean(message));

    public override void WriteWarningLine(string message) => _err.WriteLine("WARNING: " + Clean(message));

    public override void WriteInformation(InformationRecord record)
    {
    }

    public override void WriteProgress(long sourceId, ProgressRecord record)
    {
        if (!_interactive || Console.IsErrorRedirected)
        {
            return;
        }

        string line = record.RecordType == ProgressRecordType.Completed
            ? string.Empty
            : $"{record.Activity}: {record.StatusDescription}{(record.PercentComplete >= 0 ? $" ({record.PercentComplete}%)" : string.Empty)}";
        int width = Math.Max(10, _raw.BufferSize.Width - 1);
        if (line.Length > width)
        {
            line = line.Substring(0, width);
        }

        _err.Write("\r" + line.PadRight(width) + "\r");
    }

    public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions)
    {
        if (!_interactive)
        {
            throw new PSInvalidOperationException($"{caption}: {message} — imds-troubleshoot cannot prompt here; pass the value as a parameter.");
        }

        var result = new Dictionary<string, PSObject>();
        foreach (var d in descriptions)
        {
            _out.Write($"{d.Name}: ");
            result[d.Name] = PSObject.AsPSObject(Console.ReadLine() ?? string.Empty);
        }

        return result;
    }

    public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
    {
        if (!_interactive)
        {
            throw new PSInvalidOperationException($"{caption}: {message} — imds-troubleshoot cannot ask for confirmation here (no terminal). Pass -Confirm:$false (or -Force) to proceed, or -WhatIf to see what would change.");
        }

        _out.WriteLine(caption);
        _out.WriteLine(message);
        for (int i = 0; i < choices.Count; i++)
        {
            _out.Write($"[{choices[i].Label.Replace("&", string.Empty, StringComparison.Ordinal)}] ");
        }

        _out.Write($"(default is \"{choices[defaultChoice].Label.Replace("&", string.Empty, StringComparison.Ordinal)}\"): ");
        string answer = (Console.ReadLine() ?? string.Empty).Trim();
        if (answer.Length == 0)
        {
            return defaultChoice;
        }

        for (int i = 0; i < choices.Count; i++)
        {
            string label = choices[i].Label;
            int amp = label.IndexOf('&', StringComparison.Ordinal);
            string hot = amp >= 0 && amp + 1 < label.Length ? label[amp + 1].ToString() : label;
            if (answer.Equals(hot, StringComparison.OrdinalIgnoreCase) || answer.Equals(label.Replace("&", string.Empty, StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return defaultChoice;
    }

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
        throw new PSInvalidOperationException("imds-troubleshoot does not prompt for credentials.");

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
        throw new PSInvalidOperationException("imds-troubleshoot does not prompt for credentials.");
}

internal sealed class CliRawUserInterface : PSHostRawUserInterface
{
    private Size _size;

    public CliRawUserInterface(int width)
    {
        _size = new Size(width, 9999);
    }

    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;

    public override Size BufferSize
    {
        get => _size;
        set => _size = value;
    }

    public override Coordinates CursorPosition { get; set; }

    public override int CursorSize { get; set; } = 1;

    public override bool KeyAvailable => false;

    public override Size MaxPhysicalWindowSize => _size;

    public override Size MaxWindowSize => _size;

    public override Coordinates WindowPosition { get; set; }

    public override Size WindowSize
    {
        get => new(_size.Width, 50);
        set
        {
        }
    }

    public override string WindowTitle { get; set; } = "imds-troubleshoot";

    public override void FlushInputBuffer()
    {
    }

    public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();

    public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException();

    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) => throw new NotSupportedException();

    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) => throw new NotSupportedException();

    public override void SetBufferContents(Rectangle rectangle, BufferCell fill) => throw new NotSupportedException();
}
