using System.Diagnostics;
using System.Globalization;
using System.Text;
using Amazon.Util;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Bench;

/// <summary>
/// Comparisons with programs outside this process, in one run:
/// (b) a whole-tree walk: ours vs AWSSDK.Core vs a curl loop making the same requests;
/// (c) time to a verdict on a blackholed endpoint (a namespace whose route to 169.254.169.254 leads into a dummy
///     interface): Test-ImdsEndpoint vs AWSSDK.Core vs the AWS CLI vs plain curl. Needs root for (c).
/// </summary>
public static class External
{
    public static int Run(string[] args)
    {
        bool skipCurlBlackhole = args.Contains("--no-curl-blackhole");
        var report = new StringBuilder();
        Walk(report);
        if (Environment.UserName == "root")
        {
            Blackhole(report, skipCurlBlackhole);
        }
        else
        {
            report.AppendLine("(c) skipped: needs root to build a network namespace");
        }

        Console.WriteLine(report.ToString());
        return 0;
    }

    private static void Walk(StringBuilder report)
    {
        using var emulator = ImdsEmulator.Start(new EmulatorOptions { Name = "bench-walk", Settings = new EmulatorSettings { HttpPutResponseHopLimit = 2 }, LogCapacity = 100_000 });
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_SERVICE_ENDPOINT", emulator.Endpoint.ToString());

        // The exact request set our walk makes (listings and leaves), for the curl loop to repeat.
        using (var probe = new ImdsClient(new ImdsClientOptions { Endpoint = emulator.Endpoint, MaxRequestsPerSecond = 0 }))
        {
            emulator.ClearRequestLog();
            ImdsCrawler.CrawlAsync(probe, "/latest/meta-data/", 5000, 8, null, CancellationToken.None).GetAwaiter().GetResult();
        }

        var paths = emulator.GetRequestLog().Where(r => r.Method == "GET").Select(r => r.Path).ToList();
        string script = Path.Combine(Path.GetTempPath(), "imds-curl-walk.sh");
        var sb = new StringBuilder("#!/bin/bash\nset -e\nE=" + emulator.Endpoint.ToString().TrimEnd('/') + "\n");
        sb.Append("T=$(curl -s --noproxy '*' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' $E/latest/api/token)\n");
        foreach (string p in paths)
        {
            sb.Append("curl -s --noproxy '*' -o /dev/null -H \"X-aws-ec2-metadata-token: $T\" \"$E").Append(p).Append("\"\n");
        }

        File.WriteAllText(script, sb.ToString());
        const int runs = 7;
        var ours = Time(runs, () =>
        {
            using var c = new ImdsClient(new ImdsClientOptions { Endpoint = emulator.Endpoint });
            ImdsCrawler.CrawlAsync(c, "/latest/meta-data/", 5000, 8, null, CancellationToken.None).GetAwaiter().GetResult();
        });
        var oursUnpaced = Time(runs, () =>
        {
            using var c = new ImdsClient(new ImdsClientOptions { Endpoint = emulator.Endpoint, MaxRequestsPerSecond = 0 });
            ImdsCrawler.CrawlAsync(c, "/latest/meta-data/", 5000, 8, null, CancellationToken.None).GetAwaiter().GetResult();
        });
        var sdk = Time(runs, () => ReadBenchmarks.SdkWalkAt());
        var curl = Time(runs, () => RunProcess("bash", script));
        report.AppendLine($"(b) walk of /latest/meta-data/ ({paths.Count} GETs: listings and leaves), median of {runs} runs, same emulator:");
        report.AppendLine("| client | median | vs ImdsTroubleshoot (paced) |");
        report.AppendLine("|---|---|---|");
        report.AppendLine($"| ImdsTroubleshoot, default pace (100 req/s, bursts of 100) | {Ms(ours)} | 1.0x |");
        report.AppendLine($"| ImdsTroubleshoot, no pacing | {Ms(oursUnpaced)} | {Ratio(oursUnpaced, ours)} |");
        report.AppendLine($"| AWSSDK.Core EC2InstanceMetadata GetItems/GetData | {Ms(sdk)} | {Ratio(sdk, ours)} |");
        report.AppendLine($"| curl loop (one token, one curl per GET) | {Ms(curl)} | {Ratio(curl, ours)} |");
        report.AppendLine();
    }

    private static void Blackhole(StringBuilder report, bool skipCurl)
    {
        // The client's namespace reaches 169.254.169.254 on-link; the other end swallows every packet (INPUT DROP).
        string ns = "imdsbench-" + Environment.ProcessId;
        string sink = ns + "-sink";
        Check("ip", "netns", "add", ns);
        Check("ip", "netns", "add", sink);
        try
        {
            Check("ip", "-n", ns, "link", "set", "lo", "up");
            Check("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "eth0", "netns", sink);
            Check("ip", "-n", ns, "addr", "add", "169.254.0.2/16", "dev", "eth0");
            Check("ip", "-n", ns, "link", "set", "eth0", "up");
            Check("ip", "-n", sink, "addr", "add", "169.254.169.254/16", "dev", "eth0");
            Check("ip", "-n", sink, "link", "set", "eth0", "up");
            Check("ip", "netns", "exec", sink, "iptables", "-A", "INPUT", "-j", "DROP");
            Thread.Sleep(2000); // let the links come up before anything is timed
            string root = RepoRoot();
            string cli = Path.Combine(root, "out", "imds-troubleshoot", "imds-troubleshoot.dll");
            string sdkDll = Path.Combine(AppContext.BaseDirectory, "AWSSDK.Core.dll");
            var results = new List<(string Name, TimeSpan Time, string Result)>();
            var baseline = Median(() => TimeIn(ns, "dotnet", cli, "'ready'"));
            var ours = Median(() => TimeIn(ns, "dotnet", cli, "--json", "Test-ImdsEndpoint | Where-Object Step -eq Connect | Select-Object -ExpandProperty Outcome"));
            results.Add(("imds-troubleshoot Test-ImdsEndpoint (process incl. start-up)", ours.Time, ours.Output));
            results.Add(("imds-troubleshoot start-up alone ('ready')", baseline.Time, baseline.Output));
            var sdk = Median(() => TimeIn(ns, "dotnet", cli, $"[void][System.Reflection.Assembly]::LoadFrom('{sdkDll}'); \"id=$([Amazon.Util.EC2InstanceMetadata]::InstanceId)\""));
            results.Add(("AWSSDK.Core EC2InstanceMetadata.InstanceId (same host process)", sdk.Time, sdk.Output));
            var awscli = Median(() => TimeIn(ns, "env", "-i", "PATH=/usr/bin:/bin", "HOME=/tmp", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "/usr/bin/aws", "configure", "list"));
            results.Add(("AWS CLI v2 `aws configure list` (credentials from IMDS)", awscli.Time, awscli.Output.Contains("<not set>", StringComparison.Ordinal) ? "no credentials" : awscli.Output));
            if (!skipCurl)
            {
                var curl = TimeIn(ns, "curl", "-s", "http://169.254.169.254/latest/meta-data/instance-id");
                results.Add(("curl with no -m (the article's command)", curl.Time, "exit " + curl.Output));
            }

            TimeSpan probeOnly = ours.Time - baseline.Time;
            report.AppendLine("(c) time to a verdict on a blackholed 169.254.169.254 (median of 3 runs; curl once), same namespace:");
            report.AppendLine("| client | wall time | result |");
            report.AppendLine("|---|---|---|");
            foreach (var r in results)
            {
                report.AppendLine($"| {r.Name} | {Ms(r.Time)} | {r.Result.Replace('\n', ' ').Trim()} |");
            }

            report.AppendLine($"Test-ImdsEndpoint's own time (wall minus start-up): {Ms(probeOnly)}; AWSSDK.Core's (wall minus the same start-up): {Ms(sdk.Time - baseline.Time)}, {Ratio(sdk.Time - baseline.Time, probeOnly)} ours.");
        }
        finally
        {
            RunProcess("ip", "netns", "del", ns);
            RunProcess("ip", "netns", "del", sink);
        }
    }

    private static (TimeSpan Time, string Output) Median(Func<(TimeSpan Time, string Output)> run)
    {
        var runs = Enumerable.Range(0, 3).Select(_ => run()).OrderBy(r => r.Time).ToList();
        return runs[1];
    }

    private static (TimeSpan Time, string Output) TimeIn(string ns, params string[] command)
    {
        var args = new List<string> { "netns", "exec", ns };
        args.AddRange(command);
        var sw = Stopwatch.StartNew();
        string output = RunProcess("ip", args.ToArray());
        return (sw.Elapsed, output);
    }

    private static TimeSpan Time(int runs, Action action)
    {
        action();
        var times = new List<TimeSpan>();
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed);
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static string RunProcess(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment.Remove("HTTP_PROXY");
        psi.Environment.Remove("http_proxy");
        psi.Environment.Remove("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(300_000))
        {
            p.Kill(true);
        }

        string text = stdout.Result.Trim();
        return text.Length > 0 ? text : p.ExitCode.ToString(CultureInfo.InvariantCulture);
    }

    private static void Check(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {p.StandardError.ReadToEnd()}");
        }
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

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture) + " ms";

    private static string Ratio(TimeSpan a, TimeSpan b) => (a.TotalMilliseconds / Math.Max(0.001, b.TotalMilliseconds)).ToString("0.0", CultureInfo.InvariantCulture) + "x";
}
