using System;
using System.Collections.Generic;
using System.Globalization;

namespace ImdsTroubleshoot.Cli;

internal sealed class CliOptions
{
    public const string Usage = """
Usage: imds-troubleshoot [options] [--] [POWERSHELL COMMAND LINE...]

Runs an ImdsTroubleshoot command line in a hosted PowerShell engine and renders the output as pwsh
would. With no command it runs Invoke-ImdsDiagnosis.

Options:
  --emulator SCENARIO  start the embedded IMDS emulator with SCENARIO on 127.0.0.1 and point every
                       client at it (AWS_EC2_METADATA_SERVICE_ENDPOINT) before running the command.
                       Scenarios: Healthy, TokensRequired, EndpointDisabled, HopLimit1, Throttled,
                       ThrottledDrop, ForwardedForRejected, TagsEnabled, Ipv6, NoRole, Slow.
  --json               write the output objects as a JSON array instead of tables.
  --file PATH          run a PowerShell script file instead of a command line.
  --verbose, --debug   show verbose / debug messages.
  --width N            format tables for N columns (default: the terminal, $COLUMNS or 120).
  --version, --help

Examples:
  imds-troubleshoot --emulator TokensRequired
  imds-troubleshoot 'Get-ImdsEmulator | Where-Object Running'
  imds-troubleshoot --emulator Healthy 'Get-ImdsMetadata -Category InstanceId, Region'

Exit codes: 0 success; 1 the command wrote an error; 2 usage; 3 a result has Status Fail; 130 stopped.

""";

    public string? Command { get; private set; }

    public string? Emulator { get; private set; }

    public string? File { get; private set; }

    public bool Json { get; private set; }

    public bool Verbose { get; private set; }

    public bool Debug { get; private set; }

    public int? Width { get; private set; }

    public bool ShowHelp { get; private set; }

    public bool ShowVersion { get; private set; }

    public static CliOptions Parse(IReadOnlyList<string> args)
    {
        var o = new CliOptions();
        var rest = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (rest.Count > 0 || !a.StartsWith("--", StringComparison.Ordinal))
            {
                rest.Add(a);
                continue;
            }

            string Next()
            {
                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"option {a} needs a value");
                }

                return args[++i];
            }

            switch (a)
            {
                case "--":
                    for (i++; i < args.Count; i++)
                    {
                        rest.Add(args[i]);
                    }

                    break;
                case "--emulator":
                    o.Emulator = Next();
                    break;
                case "--json":
                    o.Json = true;
                    break;
                case "--file":
                    o.File = Next();
                    break;
                case "--verbose":
                    o.Verbose = true;
                    break;
                case "--debug":
                    o.Debug = true;
                    break;
                case "--width":
                    string w = Next();
                    if (!int.TryParse(w, NumberStyles.None, CultureInfo.InvariantCulture, out int width) || width < 20 || width > 10000)
                    {
                        throw new ArgumentException($"--width needs a number between 20 and 10000, not '{w}'");
                    }

                    o.Width = width;
                    break;
                case "--help":
                    o.ShowHelp = true;
                    break;
                case "--version":
                    o.ShowVersion = true;
                    break;
                default:
                    throw new ArgumentException($"unknown option {a}");
            }
        }

        if (rest.Count > 0)
        {
            if (o.File is not null)
            {
                throw new ArgumentException("give either --file or a command line, not both");
            }

            o.Command = string.Join(" ", rest);
        }

        return o;
    }
}
