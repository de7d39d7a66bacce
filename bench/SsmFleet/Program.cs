using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using ImdsTroubleshoot.Tests.Support;

namespace ImdsTroubleshoot.Bench;

/// <summary>
/// Usage: dotnet run -c Release --project bench/SsmFleet -- [--instances 500] [--runs 3] [--out FILE]
/// Starts the local SSM endpoint with N simulated instances (each InProgress for 0.5 to 3 s, then Success with a real
/// collector output recorded in the lab) and the fake EC2 endpoint knowing them, then runs, as separate processes:
///   imds-troubleshoot --json 'Get-ImdsMetadataOption -All | Invoke-ImdsDiagnosis' (no throttling), and
///   the same with ThrottlingException injected on every 3rd ListCommandInvocations and GetCommandInvocation.
/// Each run's calls are counted at the fakes per operation, its wall time measured from process start to exit, and
/// its JSON output checked: every instance must come back with its findings.
/// </summary>
public static class Program
{
    private const string Region = "us-east-1";

    public static int Main(string[] args)
    {
        int instances = Arg(args, "--instances", 500);
        int runs = Arg(args, "--runs", 3);
        string? outFile = args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault();
        string root = FindRoot();
        string cliDll = Path.Combine(root, "out", "imds-troubleshoot", "imds-troubleshoot.dll");
        string recorded = Path.Combine(root, "tests", "ImdsTroubleshoot.Tests", "Fixtures", "Remote", "uid-rule-root.out");
        if (!File.Exists(cliDll) || !File.Exists(recorded))
        {
            Console.Error.WriteLine($"Needs {cliDll} (dotnet build -c Release ImdsTroubleshoot.sln) and {recorded}.");
            return 2;
        }

        string output = File.ReadAllText(recorded);
        var configs = new List<(string Name, Action<FakeSsm> Setup)>
        {
            ("no throttling", _ => { }),
            ("ThrottlingException on every 3rd ListCommandInvocations and GetCommandInvocation", ssm =>
            {
                ssm.ThrottleEvery("ListCommandInvocations", 3);
                ssm.ThrottleEvery("GetCommandInvocation", 3);
            }),
        };
        var rows = new List<string>();
        foreach (var (name, setup) in configs)
        {
            var times = new List<double>();
            var callSets = new List<Dictionary<string, int>>();
            var throttledCounts = new List<int>();
            for (int run = 0; run <= runs; run++)
            {
                using var ssm = new FakeSsm();
                using var ec2 = new FakeEc2();
                var random = new Random(run);
                ec2.AddMany(instances, (i, inst) => inst.HttpPutResponseHopLimit = i % 5 == 0 ? 1 : 2);
                for (int i = 0; i < instances; i++)
                {
                    ssm.AddRecorded($"i-{i + 1:x17}", output, TimeSpan.FromMilliseconds(500 + random.Next(2500)));
                }

                setup(ssm);
                var env = AwsEnvironment.For(region: Region);
                env["CI"] = "true";
                env["NO_COLOR"] = "1";
                env["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
                env["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
                string command = $"Get-ImdsMetadataOption -All -Region {Region} -EndpointUrl {ec2.Url} | Invoke-ImdsDiagnosis -Region {Region} -EndpointUrl {ssm.Url} -Ec2EndpointUrl {ec2.Url}";
                var sw = Stopwatch.StartNew();
                var r = ProcessRunner.Run("dotnet", new[] { cliDll, "--json", command }, TimeSpan.FromMinutes(10), env);
                sw.Stop();
                int targets = CountTargets(r.Stdout);
                if (r.ExitCode is not (0 or 3) || targets != instances)
                {
                    Console.Error.WriteLine($"{name}: expected findings for {instances} instances, got {targets}: {r.ToString().Substring(0, Math.Min(4000, r.ToString().Length))}");
                    return 1;
                }

                var calls = new Dictionary<string, int>(StringComparer.Ordinal)
                {
                    ["SendCommand"] = ssm.Count("SendCommand"),
                    ["ListCommandInvocations"] = ssm.Count("ListCommandInvocations"),
                    ["GetCommandInvocation"] = ssm.Count("GetCommandInvocation"),
                    ["DescribeInstances"] = ec2.Calls("DescribeInstances"),
                };
                Console.Error.WriteLine($"{(run == 0 ? "warm-up" : $"run {run}")}: {name}: {sw.Elapsed.TotalSeconds:F2} s, {string.Join(", ", calls.Select(c => $"{c.Key} {c.Value}"))}, throttled {ssm.ThrottledCount}");
                if (run > 0)
                {
                    times.Add(sw.Elapsed.TotalSeconds);
                    callSets.Add(calls);
                    throttledCounts.Add(ssm.ThrottledCount);
                }
            }

            times.Sort();
            string Range(string op)
            {
                var values = callSets.Select(c => c[op]).ToList();
                return values.Min() == values.Max() ? values.Min().ToString(CultureInfo.InvariantCulture) : $"{values.Min()}-{values.Max()}";
            }

            rows.Add($"| {name} | {Range("SendCommand")} | {Range("ListCommandInvocations")} | {Range("GetCommandInvocation")} | {Range("DescribeInstances")} | {throttledCounts.Min()}-{throttledCounts.Max()} | {Median(times):F1} | {times.First():F1} | {times.Last():F1} |");
        }

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{instances} simulated instances (each InProgress 0.5 to 3 s, then Success with a recorded collector output of {output.Length} characters), {runs} runs per row after one warm-up run, {Environment.ProcessorCount} CPU(s), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine("| fake SSM endpoint | SendCommand | ListCommandInvocations | GetCommandInvocation | DescribeInstances | throttled answers | wall time median (s) | min (s) | max (s) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string row in rows)
        {
            md.AppendLine(row);
        }

        md.AppendLine();
        md.AppendLine("Command (URLs are the fakes' loopback addresses): `dotnet out/imds-troubleshoot/imds-troubleshoot.dll --json 'Get-ImdsMetadataOption -All -Region us-east-1 -EndpointUrl EC2URL | Invoke-ImdsDiagnosis -Region us-east-1 -EndpointUrl SSMURL -Ec2EndpointUrl EC2URL'`");
        Console.Out.Write(md.ToString());
        if (outFile is not null)
        {
            File.WriteAllText(outFile, md.ToString());
        }

        return 0;
    }

    private static int CountTargets(string stdout)
    {
        try
        {
            using var doc = JsonDocument.Parse(stdout);
            return doc.RootElement.ValueKind == JsonValueKind.Array
                ? doc.RootElement.EnumerateArray().Select(e => e.GetProperty("Target").GetString()).Distinct().Count()
                : -1;
        }
        catch (JsonException)
        {
            return -1;
        }
    }

    private static double Median(List<double> sorted) => sorted.Count == 0 ? double.NaN
        : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string FindRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "ImdsTroubleshoot.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("ImdsTroubleshoot.sln not found above " + AppContext.BaseDirectory);
    }
}
