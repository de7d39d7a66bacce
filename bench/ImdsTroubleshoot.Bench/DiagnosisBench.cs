using System.Diagnostics;
using System.Globalization;
using System.Text;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Bench;

/// <summary>
/// Time from start to a full verdict, per emulator scenario: in process (LocalDiagnosis + DiagnosisEngine, the same
/// calls Invoke-ImdsDiagnosis makes) and as users run it (`imds-troubleshoot --emulator SCENARIO`, a new process).
/// </summary>
public static class DiagnosisBench
{
    public static int Run()
    {
        var report = new StringBuilder();
        report.AppendLine("| scenario | verdict | in process, median of 5 | imds-troubleshoot --emulator, median of 3 |");
        report.AppendLine("|---|---|---|---|");
        string cli = Path.Combine(RepoRoot(), "out", "imds-troubleshoot", "imds-troubleshoot.dll");
        foreach (string scenario in new[] { "Healthy", "TokensRequired", "EndpointDisabled", "HopLimit1", "Throttled", "ThrottledDrop", "NoRole", "Slow" })
        {
            var times = new List<TimeSpan>();
            string verdict = string.Empty;
            for (int i = 0; i < 6; i++)
            {
                var s = EmulatorScenario.Get(scenario);
                using var emulator = ImdsEmulator.Start(new EmulatorOptions { Name = "bench-" + scenario, Settings = s.Settings, DropHoldTime = TimeSpan.FromSeconds(3), Content = s.WithRole ? null : InstanceContent.CreateDefault().WithoutRole() });
                var sw = Stopwatch.StartNew();
                var input = LocalDiagnosis.GatherAsync(new LocalDiagnosisOptions { Endpoint = emulator.Endpoint, ReadFirewall = false, Ec2Api = Ec2ApiUse.Never }, null, CancellationToken.None).GetAwaiter().GetResult();
                var findings = DiagnosisEngine.Analyze(input);
                sw.Stop();
                if (i > 0)
                {
                    times.Add(sw.Elapsed);
                }

                verdict = string.Join(", ", findings.Where(f => f.Status is FindingStatus.Fail or FindingStatus.Warn).Select(f => $"{f.Check} {f.Status}"));
            }

            times.Sort();
            var cliTimes = new List<TimeSpan>();
            for (int i = 0; i < 3; i++)
            {
                var sw = Stopwatch.StartNew();
                RunCli(cli, scenario);
                cliTimes.Add(sw.Elapsed);
            }

            cliTimes.Sort();
            report.AppendLine($"| {scenario} | {(verdict.Length == 0 ? "all pass" : verdict)} | {Ms(times[times.Count / 2])} | {Ms(cliTimes[1])} |");
        }

        Console.WriteLine(report.ToString());
        return 0;
    }

    private static void RunCli(string cli, string scenario)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(cli);
        psi.ArgumentList.Add("--emulator");
        psi.ArgumentList.Add(scenario);
        psi.Environment.Remove("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        psi.Environment["CI"] = "true";
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
    }

    private static string RepoRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "ImdsTroubleshoot.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("repository root not found");
    }

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms";
}
