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
/// Usage: dotnet run -c Release --project bench/Ec2Fleet -- [--instances 10000] [--runs 5] [--out FILE]
/// Starts the fake EC2 endpoint with N instances, then runs, in turn and as separate processes:
///   aws ec2 describe-instances (AWS CLI v2 defaults: no MaxResults, one unpaginated call),
///   aws ec2 describe-instances --page-size 1000 (the CLI paginator in pages like ours),
///   imds-troubleshoot --json 'Get-ImdsMetadataOption -All' (this module, through its standalone host).
/// Each run's DescribeInstances calls are counted at the fake, its wall time measured from process start to exit,
/// and its output parsed to check that all N instances came back.
/// </summary>
public static class Program
{
    private const string Region = "us-east-1";
    private const string CliQuery = "Reservations[].Instances[].{InstanceId: InstanceId, Name: Tags[?Key=='Name']|[0].Value, State: State.Name, MetadataOptions: MetadataOptions}";

    public static int Main(string[] args)
    {
        int instances = Arg(args, "--instances", 10_000);
        int runs = Arg(args, "--runs", 5);
        string? outFile = args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault();
        string root = FindRoot();
        string cliDll = Path.Combine(root, "out", "imds-troubleshoot", "imds-troubleshoot.dll");
        if (!File.Exists(cliDll) || !File.Exists(AwsEnvironment.AwsCliV2))
        {
            Console.Error.WriteLine($"Needs {cliDll} (dotnet build -c Release ImdsTroubleshoot.sln) and {AwsEnvironment.AwsCliV2} (Debian package awscli).");
            return 2;
        }

        using var fake = new FakeEc2();
        fake.AddMany(instances, (i, inst) =>
        {
            inst.Tags["Env"] = i % 3 == 0 ? "prod" : "test";
            inst.HttpTokens = i % 4 == 0 ? "required" : "optional";
            inst.HttpEndpoint = i % 50 == 0 ? "disabled" : "enabled";
            inst.HttpPutResponseHopLimit = i % 5 == 0 ? 2 : 1;
        });
        var env = AwsEnvironment.For(region: Region);
        env["CI"] = "true";
        env["NO_COLOR"] = "1";
        env["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        env["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
        string url = fake.Url.ToString();

        var clients = new List<(string Name, string Command, Func<ProcessResult> Run, Func<string, int> Count)>
        {
            ("AWS CLI v2, defaults",
                $"aws ec2 describe-instances --endpoint-url URL --region {Region} --output json --query \"{CliQuery}\"",
                () => ProcessRunner.Run(AwsEnvironment.AwsCliV2, new[] { "ec2", "describe-instances", "--endpoint-url", url, "--region", Region, "--output", "json", "--query", CliQuery }, TimeSpan.FromMinutes(10), env),
                CountJsonArray),
            ("AWS CLI v2, --page-size 1000",
                $"aws ec2 describe-instances --page-size 1000 --endpoint-url URL --region {Region} --output json --query \"{CliQuery}\"",
                () => ProcessRunner.Run(AwsEnvironment.AwsCliV2, new[] { "ec2", "describe-instances", "--page-size", "1000", "--endpoint-url", url, "--region", Region, "--output", "json", "--query", CliQuery }, TimeSpan.FromMinutes(10), env),
                CountJsonArray),
            ("Get-ImdsMetadataOption -All",
                $"dotnet out/imds-troubleshoot/imds-troubleshoot.dll --json 'Get-ImdsMetadataOption -All -Region {Region} -EndpointUrl URL'",
                () => ProcessRunner.Run("dotnet", new[] { cliDll, "--json", $"Get-ImdsMetadataOption -All -Region {Region} -EndpointUrl {url}" }, TimeSpan.FromMinutes(10), env),
                CountJsonArray),
        };

        var times = clients.ToDictionary(c => c.Name, _ => new List<double>());
        var calls = clients.ToDictionary(c => c.Name, _ => new List<int>());
        Console.Error.WriteLine($"fake EC2 at {url} with {instances} instances; {runs} runs of each client (plus one warm-up)");
        for (int run = 0; run <= runs; run++)
        {
            // Rotate the order so that no client always runs first after the other's caches are warm.
            foreach (var c in clients.Skip(run % clients.Count).Concat(clients.Take(run % clients.Count)))
            {
                fake.ResetCounters();
                var sw = Stopwatch.StartNew();
                var r = c.Run();
                sw.Stop();
                int n = r.ExitCode == 0 ? c.Count(r.Stdout) : -1;
                if (n != instances)
                {
                    Console.Error.WriteLine($"{c.Name}: expected {instances} instances, got {n}: {r}");
                    return 1;
                }

                int describeCalls = fake.Calls("DescribeInstances");
                Console.Error.WriteLine($"{(run == 0 ? "warm-up" : $"run {run}")}: {c.Name}: {sw.Elapsed.TotalSeconds:F2} s, {describeCalls} call(s)");
                if (run > 0)
                {
                    times[c.Name].Add(sw.Elapsed.TotalSeconds);
                    calls[c.Name].Add(describeCalls);
                }
            }
        }

        // Informational: an open PowerShell session, where the engine, the module and the SDK are already loaded.
        fake.ResetCounters();
        string session = "$null = Get-ImdsMetadataOption -All -Region " + Region + " -EndpointUrl " + url + "; " +
            "1.." + runs + " | ForEach-Object { $sw = [Diagnostics.Stopwatch]::StartNew(); $n = @(Get-ImdsMetadataOption -All -Region " + Region + " -EndpointUrl " + url + ").Count; " +
            "'{0} {1}' -f $sw.Elapsed.TotalSeconds.ToString([cultureinfo]::InvariantCulture), $n }";
        var warm = ProcessRunner.Run("dotnet", new[] { cliDll, session }, TimeSpan.FromMinutes(10), env);
        var warmTimes = warm.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Trim().Split(' ')).Where(p => p.Length == 2 && p[1] == instances.ToString(CultureInfo.InvariantCulture))
            .Select(p => double.Parse(p[0], CultureInfo.InvariantCulture)).OrderBy(x => x).ToList();
        if (warm.ExitCode != 0 || warmTimes.Count != runs)
        {
            Console.Error.WriteLine("open-session run failed: " + warm);
            return 1;
        }

        int warmCalls = fake.Calls("DescribeInstances") / (runs + 1);

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{instances} instances, {runs} runs each (after one warm-up run), {Environment.ProcessorCount} CPU(s), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine("| client | DescribeInstances calls | wall time median (s) | min (s) | max (s) |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var c in clients)
        {
            var t = times[c.Name].OrderBy(x => x).ToList();
            md.AppendLine(CultureInfo.InvariantCulture, $"| {c.Name} | {string.Join("/", calls[c.Name].Distinct())} | {Median(t):F2} | {t.First():F2} | {t.Last():F2} |");
        }

        md.AppendLine(CultureInfo.InvariantCulture, $"| Get-ImdsMetadataOption -All, in an open session (no process start) | {warmCalls} | {Median(warmTimes):F2} | {warmTimes.First():F2} | {warmTimes.Last():F2} |");
        md.AppendLine();
        md.AppendLine("Commands (URL is the fake's loopback address):");
        md.AppendLine();
        foreach (var c in clients)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {c.Name}: `{c.Command}`");
        }

        md.AppendLine(CultureInfo.InvariantCulture, $"- in an open session: one `imds-troubleshoot` process timing `@(Get-ImdsMetadataOption -All -Region {Region} -EndpointUrl URL).Count` {runs} times after one untimed call");

        Console.Out.Write(md.ToString());
        if (outFile is not null)
        {
            File.WriteAllText(outFile, md.ToString());
        }

        return 0;
    }

    private static int CountJsonArray(string stdout)
    {
        using var doc = JsonDocument.Parse(stdout);
        return doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement.GetArrayLength() : -1;
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
