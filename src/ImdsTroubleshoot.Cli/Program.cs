using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Threading;

namespace ImdsTroubleshoot.Cli;

/// <summary>
/// imds-troubleshoot: runs ImdsTroubleshoot commands where there is no pwsh. Exit codes: 0 success;
/// 1 the command wrote an error or failed; 2 usage error; 3 a result reported Status = Fail; 130 stopped by Ctrl+C.
/// </summary>
public static class Program
{
    public const int ExitOk = 0;
    public const int ExitError = 1;
    public const int ExitUsage = 2;
    public const int ExitFinding = 3;
    public const int ExitCancelled = 130;

    private const string DefaultCommand = "Invoke-ImdsDiagnosis";

    public static int Main(string[] args)
    {
        CliOptions options;
        try
        {
            options = CliOptions.Parse(args);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine("imds-troubleshoot: " + ex.Message);
            Console.Error.WriteLine("Try 'imds-troubleshoot --help'.");
            return ExitUsage;
        }

        if (options.ShowHelp)
        {
            Console.Out.Write(CliOptions.Usage);
            return ExitOk;
        }

        if (options.ShowVersion)
        {
            Console.Out.WriteLine("imds-troubleshoot " + (typeof(Program).Assembly.GetName().Version?.ToString(3) ?? "?"));
            return ExitOk;
        }

        return new Runner(options).Run();
    }

    private sealed class Runner
    {
        private readonly CliOptions _options;
        private PowerShell? _current;
        private int _cancelPresses;

        public Runner(CliOptions options)
        {
            _options = options;
        }

        public int Run()
        {
            string? modulePath = ModuleLocator.Find();
            if (modulePath is null)
            {
                Console.Error.WriteLine("imds-troubleshoot: the ImdsTroubleshoot module was not found next to this program (Modules/ImdsTroubleshoot/<version>/). Set IMDS_TROUBLESHOOT_MODULE to the psd1 path.");
                return ExitError;
            }

            bool interactive = !Console.IsInputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));
            var host = new CliHost(Console.Out, Console.Error, _options.Width ?? ConsoleWidth(), interactive);
            var iss = InitialSessionState.CreateDefault2();
            Shims.AddMissing(iss);
            iss.ImportPSModule(new[] { modulePath });
            if (_options.Verbose)
            {
                iss.Variables.Add(new SessionStateVariableEntry("VerbosePreference", ActionPreference.Continue, string.Empty));
            }

            if (_options.Debug)
            {
                iss.Variables.Add(new SessionStateVariableEntry("DebugPreference", ActionPreference.Continue, string.Empty));
            }

            string moduleRoot = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(modulePath)!)!)!;
            string? psModulePath = Environment.GetEnvironmentVariable("PSModulePath");
            Environment.SetEnvironmentVariable("PSModulePath", string.IsNullOrEmpty(psModulePath) ? moduleRoot : moduleRoot + Path.PathSeparator + psModulePath);

            Console.CancelKeyPress += OnCancel;
            using var runspace = RunspaceFactory.CreateRunspace(host, iss);
            runspace.Open();
            host.CliUI.PlainText = SetOutputRendering(runspace);
            try
            {
                if (_options.Emulator is not null)
                {
                    int started = StartEmulator(runspace, host);
                    if (started != ExitOk)
                    {
                        return started;
                    }
                }

                string? command = _options.Command;
                if (_options.File is not null)
                {
                    if (!File.Exists(_options.File))
                    {
                        Console.Error.WriteLine($"imds-troubleshoot: the script file '{_options.File}' does not exist.");
                        return ExitUsage;
                    }

                    command = ". " + QuoteLiteral(Path.GetFullPath(_options.File));
                }

                if (command is null)
                {
                    if (!CommandExists(runspace, DefaultCommand))
                    {
                        Console.Out.Write(CliOptions.Usage);
                        return ExitUsage;
                    }

                    command = DefaultCommand;
                }

                return Execute(runspace, host, command);
            }
            finally
            {
                Console.CancelKeyPress -= OnCancel;
                using var cleanup = PowerShell.Create(runspace);
                cleanup.AddScript("Get-ImdsEmulator -ErrorAction SilentlyContinue | Stop-ImdsEmulator -Confirm:$false -ErrorAction SilentlyContinue");
                try
                {
                    cleanup.Invoke();
                }
                catch (RuntimeException)
                {
                }
            }
        }

        private int StartEmulator(Runspace runspace, CliHost host)
        {
            using var ps = PowerShell.Create(runspace);
            ps.AddCommand("Start-ImdsEmulator").AddParameter("Scenario", _options.Emulator).AddParameter("Name", "cli");
            Collection<PSObject> started;
            try
            {
                started = ps.Invoke();
            }
            catch (RuntimeException ex)
            {
                Render(runspace, new[] { PSObject.AsPSObject(ex.ErrorRecord) });
                return ExitError;
            }

            if (ps.HadErrors || started.Count == 0)
            {
                Render(runspace, ps.Streams.Error.Select(PSObject.AsPSObject).ToArray());
                return ExitError;
            }

            string endpoint = started[0].Properties["Endpoint"].Value.ToString()!;
            // Every client in this process, ours and the AWS SDK's, now talks to the emulator.
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint);
            Console.Error.WriteLine($"imds-troubleshoot: using the embedded IMDS emulator, scenario {_options.Emulator}, at {endpoint} (AWS_EC2_METADATA_SERVICE_ENDPOINT).");
            return ExitOk;
        }

        private int Execute(Runspace runspace, CliHost host, string command)
        {
            using var ps = PowerShell.Create(runspace);
            _current = ps;
            var stats = new CliOutputStats();
            var collected = new List<PSObject>();
            try
            {
                ps.AddScript(command);
                ps.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
                ps.AddCommand("Measure-ImdsCliOutput").AddParameter("Stats", stats);
                if (_options.Json)
                {
                    collected.AddRange(ps.Invoke());
                }
                else
                {
                    // Streams in order, as pwsh's console does.
                    ps.AddCommand("Out-Default");
                    ps.Invoke();
                }
            }
            catch (PipelineStoppedException)
            {
                Console.Error.WriteLine("imds-troubleshoot: stopped.");
                return ExitCancelled;
            }
            catch (RuntimeException ex)
            {
                Render(runspace, new[] { PSObject.AsPSObject(ex.ErrorRecord) });
                stats.Errors++;
            }
            finally
            {
                _current = null;
            }

            if (Volatile.Read(ref _cancelPresses) > 0)
            {
                Console.Error.WriteLine("imds-troubleshoot: stopped.");
                return ExitCancelled;
            }

            if (_options.Json)
            {
                Console.Out.WriteLine(JsonOutput.Serialize(collected.Where(o => o.BaseObject is not ErrorRecord).ToList()));
                Render(runspace, collected.Where(o => o.BaseObject is ErrorRecord).ToArray());
            }

            if (host.ShouldExit)
            {
                return host.ExitCode;
            }

            // `exit N` in a script (or a native command that failed last) leaves $LASTEXITCODE, as pwsh -File reports.
            if (LastExitCode(runspace) is int code && code != 0)
            {
                return code;
            }

            if (stats.Errors > 0)
            {
                return ExitError;
            }

            return stats.FailedStatus ? ExitFinding : ExitOk;
        }

        private static int? LastExitCode(Runspace runspace)
        {
            using var ps = PowerShell.Create(runspace);
            ps.AddScript("$global:LASTEXITCODE");
            var result = ps.Invoke();
            return result.Count == 1 && result[0]?.BaseObject is int code ? code : null;
        }

        /// <summary>Renders objects the way pwsh's console does: through Out-Default and the format views.</summary>
        private static void Render(Runspace runspace, IReadOnlyList<PSObject> items)
        {
            if (items.Count == 0)
            {
                return;
            }

            using var ps = PowerShell.Create(runspace);
            ps.AddCommand("Out-Default");
            try
            {
                ps.Invoke(items);
            }
            catch (RuntimeException ex)
            {
                Console.Error.WriteLine(ex.Message);
            }
        }

        /// <summary>Plain text when output is redirected or NO_COLOR is set, as pwsh's console does.</summary>
        private static bool SetOutputRendering(Runspace runspace)
        {
            bool plain = Console.IsOutputRedirected || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"))
                || Environment.GetEnvironmentVariable("TERM") == "dumb";
            using var ps = PowerShell.Create(runspace);
            ps.AddScript(plain ? "$PSStyle.OutputRendering = 'PlainText'" : "$PSStyle.OutputRendering = 'Ansi'");
            ps.Invoke();
            return plain;
        }

        private static bool CommandExists(Runspace runspace, string name)
        {
            using var ps = PowerShell.Create(runspace);
            ps.AddCommand("Get-Command").AddParameter("Name", name).AddParameter("ErrorAction", "SilentlyContinue");
            return ps.Invoke().Count > 0;
        }

        private void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            if (Interlocked.Increment(ref _cancelPresses) > 1)
            {
                // A second Ctrl+C: leave now.
                return;
            }

            e.Cancel = true;
            _current?.BeginStop(null, null);
        }

        private static int ConsoleWidth()
        {
            if (!Console.IsOutputRedirected)
            {
                try
                {
                    if (Console.WindowWidth > 0)
                    {
                        return Console.WindowWidth;
                    }
                }
                catch (IOException)
                {
                }
            }

            return int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out int columns) && columns > 20 ? columns : 120;
        }

        private static string QuoteLiteral(string s) => "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'";
    }
}

/// <summary>Finds the module this host runs: next to the program, or where IMDS_TROUBLESHOOT_MODULE points.</summary>
internal static class ModuleLocator
{
    public static string? Find()
    {
        string? overridePath = Environment.GetEnvironmentVariable("IMDS_TROUBLESHOOT_MODULE");
        if (!string.IsNullOrEmpty(overridePath))
        {
            return File.Exists(overridePath) ? Path.GetFullPath(overridePath) : null;
        }

        string root = Path.Combine(AppContext.BaseDirectory, "Modules", "ImdsTroubleshoot");
        if (!Directory.Exists(root))
        {
            return null;
        }

        return Directory.GetDirectories(root)
            .Select(d => (Dir: d, Version: Version.TryParse(Path.GetFileName(d), out var v) ? v : null))
            .Where(x => x.Version is not null && File.Exists(Path.Combine(x.Dir, "ImdsTroubleshoot.psd1")))
            .OrderByDescending(x => x.Version)
            .Select(x => Path.Combine(x.Dir, "ImdsTroubleshoot.psd1"))
            .FirstOrDefault();
    }
}
