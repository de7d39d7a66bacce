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
/// Usage: dotnet run -c Release --project bench/SsmFleet -- [--instances 500] [--runs 3] [--warmup 1]
///        [--peer both|sequential|parallel|none] [--out FILE]
/// Starts the local SSM endpoint with N simulated instances (each InProgress for 0.5 to 3 s, then Success with a real
/// collector output recorded in the lab) and the fake EC2 endpoint knowing them, then runs, as separate processes:
///   imds-troubleshoot --json 'Get-ImdsMetadataOption -All | Invoke-ImdsDiagnosis' (no throttling), and
///   the same with ThrottlingException injected on every 3rd ListCommandInvocations and GetCommandInvocation;
/// and, in the no-throttling rounds, its peer: bench/SsmFleet/awscli-fleet.sh, what a user does by hand with the AWS
/// CLI v2 (send-command per 50 instances with the same collector script, list-command-invocations until done, then
/// get-command-invocation per instance, one at a time or 8 at a time), which only gathers the raw outputs.
/// The order of the clients rotates each round. Each run's calls are counted at the fakes per operation, its wall time
/// measured from process start to exit, and its output checked: every instance must come back with its findings
/// (ours) or with the recorded collector output (the peer).
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
        string peerScript = Path.Combine(root, "bench", "SsmFleet", "awscli-fleet.sh");
        string peerMode = args.SkipWhile(a => a != "--peer").Skip(1).FirstOrDefault() ?? "both";
        int warmups = Arg(args, "--warmup", 1);
        bool peerSequential = peerMode is "both" or "sequential";
        bool peerParallel = peerMode is "both" or "parallel";
        if ((peerSequential || peerParallel) && !File.Exists(AwsEnvironment.AwsCliV2))
        {
            Console.Error.WriteLine($"Needs {AwsEnvironment.AwsCliV2} (Debian package awscli) for the peer, or --peer none.");
            return 2;
        }

        // The peer's input: the same collector script the module sends (its lines as the "commands" parameter, the
        // same executionTimeout), in a parameters file, and the instance ids, one a line.
        string temp = Directory.CreateTempSubdirectory("ssmfleet-peer-").FullName;
        string paramsFile = Path.Combine(temp, "parameters.json");
        string idsFile = Path.Combine(temp, "instance-ids.txt");
        var scriptLines = ImdsTroubleshoot.Engine.Remote.Collector.Build(new ImdsTroubleshoot.Engine.Remote.CollectorParameters())
            .Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        File.WriteAllText(paramsFile, JsonSerializer.Serialize(new Dictionary<string, string[]> { ["commands"] = scriptLines, ["executionTimeout"] = new[] { "120" } }));
        File.WriteAllLines(idsFile, Enumerable.Range(1, instances).Select(Id));

        const string Ours = "Invoke-ImdsDiagnosis: a full verdict for every instance";
        const string PeerSeq = "peer: AWS CLI v2 script, get-command-invocation one at a time: raw outputs only, no analysis";
        const string PeerPar = "peer: AWS CLI v2 script, get-command-invocation 8 at a time (xargs -P 8): raw outputs only, no analysis";
        var configs = new List<(string Name, Action<FakeSsm> Setup, List<string> Clients)>
        {
            ("no throttling", _ => { }, new List<string> { Ours }),
            ("ThrottlingException on every 3rd ListCommandInvocations and GetCommandInvocation", ssm =>
            {
                ssm.ThrottleEvery("ListCommandInvocations", 3);
                ssm.ThrottleEvery("GetCommandInvocation", 3);
            }, new List<string> { Ours }),
        };
        if (peerSequential)
        {
            configs[0].Clients.Add(PeerSeq);
        }

        if (peerParallel)
        {
            configs[0].Clients.Add(PeerPar);
        }

        var rows = new List<string>();
        var medians = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, setup, clients) in configs)
        {
            var times = clients.ToDictionary(c => c, _ => new List<double>());
            var callSets = clients.ToDictionary(c => c, _ => new List<Dictionary<string, int>>());
            var throttledCounts = clients.ToDictionary(c => c, _ => new List<int>());
            for (int run = 1 - warmups; run <= runs; run++)
            {
                // Rotate the order each round so that no client always runs first (as bench/Ec2Fleet does).
                int shift = ((run % clients.Count) + clients.Count) % clients.Count;
                foreach (string client in clients.Skip(shift).Concat(clients.Take(shift)))
                {
                    using var ssm = new FakeSsm();
                    using var ec2 = new FakeEc2();
                    var random = new Random(run + warmups - 1);
                    ec2.AddMany(instances, (i, inst) => inst.HttpPutResponseHopLimit = i % 5 == 0 ? 1 : 2);
                    for (int i = 0; i < instances; i++)
                    {
                        ssm.AddRecorded(Id(i + 1), output, TimeSpan.FromMilliseconds(500 + random.Next(2500)));
                    }

                    setup(ssm);
                    var env = AwsEnvironment.For(region: Region);
                    env["CI"] = "true";
                    env["NO_COLOR"] = "1";
                    env["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
                    env["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
                    var sw = Stopwatch.StartNew();
                    if (client == Ours)
                    {
                        string command = $"Get-ImdsMetadataOption -All -Region {Region} -EndpointUrl {ec2.Url} | Invoke-ImdsDiagnosis -Region {Region} -EndpointUrl {ssm.Url} -Ec2EndpointUrl {ec2.Url}";
                        var r = ProcessRunner.Run("dotnet", new[] { cliDll, "--json", command }, TimeSpan.FromMinutes(10), env);
                        sw.Stop();
                        int targets = CountTargets(r.Stdout);
                        if (r.ExitCode is not (0 or 3) || targets != instances)
                        {
                            Console.Error.WriteLine($"{name}: expected findings for {instances} instances, got {targets}: {r.ToString().Substring(0, Math.Min(4000, r.ToString().Length))}");
                            return 1;
                        }
                    }
                    else
                    {
                        string outDir = Path.Combine(temp, "outputs");
                        if (Directory.Exists(outDir))
                        {
                            Directory.Delete(outDir, recursive: true);
                        }

                        Directory.CreateDirectory(outDir);
                        string parallel = client == PeerPar ? "8" : "1";
                        var r = ProcessRunner.Run("/bin/sh", new[] { peerScript, ssm.Url.ToString(), Region, paramsFile, idsFile, outDir, parallel }, TimeSpan.FromMinutes(30), env);
                        sw.Stop();
                        string expected = output.TrimEnd('\n');
                        var files = Enumerable.Range(1, instances).Select(i => Path.Combine(outDir, Id(i) + ".out")).ToList();
                        int nonEmpty = files.Count(f => File.Exists(f) && new FileInfo(f).Length > 0);
                        int identical = files.Count(f => File.Exists(f) && File.ReadAllText(f).TrimEnd('\n') == expected);
                        Console.Error.WriteLine($"  {client}: {nonEmpty} non-empty outputs, {identical} identical to the recorded output");
                        if (r.ExitCode != 0 || nonEmpty != instances || identical != instances)
                        {
                            Console.Error.WriteLine($"{client}: expected {instances} outputs, got {nonEmpty} non-empty ({identical} identical): {r.ToString().Substring(0, Math.Min(4000, r.ToString().Length))}");
                            return 1;
                        }
                    }

                    var calls = new Dictionary<string, int>(StringComparer.Ordinal)
                    {
                        ["SendCommand"] = ssm.Count("SendCommand"),
                        ["ListCommandInvocations"] = ssm.Count("ListCommandInvocations"),
                        ["GetCommandInvocation"] = ssm.Count("GetCommandInvocation"),
                        ["DescribeInstances"] = ec2.Calls("DescribeInstances"),
                    };
                    Console.Error.WriteLine($"{(run <= 0 ? "warm-up" : $"run {run}")}: {name}: {client}: {sw.Elapsed.TotalSeconds:F2} s, {string.Join(", ", calls.Select(c => $"{c.Key} {c.Value}"))}, throttled {ssm.ThrottledCount}");
                    if (run > 0)
                    {
                        times[client].Add(sw.Elapsed.TotalSeconds);
                        callSets[client].Add(calls);
                        throttledCounts[client].Add(ssm.ThrottledCount);
                    }
                }
            }

            foreach (string client in clients)
            {
                var t = times[client];
                t.Sort();
                string Range(string op)
                {
                    var values = callSets[client].Select(c => c[op]).ToList();
                    return values.Min() == values.Max() ? values.Min().ToString(CultureInfo.InvariantCulture) : $"{values.Min()}-{values.Max()}";
                }

                medians[$"{name}|{client}"] = Median(t);
                rows.Add($"| {name} | {client} | {Range("SendCommand")} | {Range("ListCommandInvocations")} | {Range("GetCommandInvocation")} | {Range("DescribeInstances")} | {throttledCounts[client].Min()}-{throttledCounts[client].Max()} | {Median(t):F1} | {t.First():F1} | {t.Last():F1} |");
            }
        }

        Directory.Delete(temp, recursive: true);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{instances} simulated instances (each InProgress 0.5 to 3 s, then Success with a recorded collector output of {output.Length} characters), {runs} runs per row after {warmups} warm-up round(s), order rotating each round, {Environment.ProcessorCount} CPU(s), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine("| fake SSM endpoint | client | SendCommand | ListCommandInvocations | GetCommandInvocation | DescribeInstances | throttled answers | wall time median (s) | min (s) | max (s) |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string row in rows)
        {
            md.AppendLine(row);
        }

        md.AppendLine();
        double ours = medians[$"no throttling|{Ours}"];
        foreach (string peer in new[] { PeerSeq, PeerPar })
        {
            if (medians.TryGetValue($"no throttling|{peer}", out double m))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- {peer}: median {m:F1} s, {m / ours:F1}x ours ({ours:F1} s)");
            }
        }

        md.AppendLine();
        md.AppendLine("Commands (URLs are the fakes' loopback addresses):");
        md.AppendLine();
        md.AppendLine("- ours: `dotnet out/imds-troubleshoot/imds-troubleshoot.dll --json 'Get-ImdsMetadataOption -All -Region us-east-1 -EndpointUrl EC2URL | Invoke-ImdsDiagnosis -Region us-east-1 -EndpointUrl SSMURL -Ec2EndpointUrl EC2URL'`");
        md.AppendLine("- peer: `sh bench/SsmFleet/awscli-fleet.sh SSMURL us-east-1 parameters.json instance-ids.txt OUTDIR 1` (one at a time) or `... OUTDIR 8` (xargs -P 8)");
        Console.Out.Write(md.ToString());
        if (outFile is not null)
        {
            File.WriteAllText(outFile, md.ToString());
        }

        return 0;
    }

    private static string Id(int n) => $"i-{n:x17}";

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
