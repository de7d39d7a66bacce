using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Lab;

/// <summary>
/// A real proxy in the lab: Debian's tinyproxy runs in the container namespace (10.200.0.2:8888) with its default
/// route removed, so like a corporate proxy it cannot reach this instance's link-local IMDS. Clients in the instance
/// namespace with http_proxy/HTTP_PROXY set and no exemption (curl and the AWS CLI v2) fail through it; after
/// Repair-ImdsProxy, in the session or in the file their environment is built from, they reach the emulator directly.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class ProxyLabTests
{
    private const string ProxyUrl = "http://10.200.0.2:8888";
    private const string Url = "http://169.254.169.254/latest/meta-data/instance-id";

    private sealed class TinyProxy : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _log = new();
        private readonly string _dir;

        public TinyProxy(string ns)
        {
            _dir = Directory.CreateTempSubdirectory("imds-tinyproxy-").FullName;
            string conf = Path.Join(_dir, "tinyproxy.conf");
            File.WriteAllText(conf, "Port 8888\nListen 10.200.0.2\nTimeout 5\nMaxClients 20\nLogLevel Info\n");
            var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[] { "netns", "exec", ns, "tinyproxy", "-d", "-c", conf })
            {
                psi.ArgumentList.Add(a);
            }

            _process = Process.Start(psi)!;
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!Log.Contains("Accepting connections", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline && !_process.HasExited, "tinyproxy did not start: " + Log);
                System.Threading.Thread.Sleep(50);
            }
        }

        public string Log
        {
            get
            {
                lock (_log)
                {
                    return _log.ToString();
                }
            }
        }

        public int Requests => Log.Split('\n').Count(l => l.Contains("Request (file descriptor", StringComparison.Ordinal));

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_log)
                {
                    _log.AppendLine(line);
                }
            }
        }

        public void Dispose()
        {
            // `ip netns exec` execs tinyproxy: this PID is tinyproxy's own.
            try
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }

            _process.Dispose();
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static readonly Dictionary<string, string?> AwsIsolation = new()
    {
        ["HOME"] = "/tmp",
        ["AWS_CONFIG_FILE"] = "/nonexistent/config",
        ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials",
        ["AWS_PAGER"] = string.Empty,
    };

    /// <summary>A client process in the instance namespace with exactly this environment.</summary>
    private static ProcessResult Client(NetworkLab lab, IDictionary<string, string> env, params string[] command)
    {
        var args = new List<string> { "env", "-i", "PATH=/usr/bin:/bin" };
        args.AddRange(AwsIsolation.Select(kv => $"{kv.Key}={kv.Value}"));
        args.AddRange(env.Select(kv => $"{kv.Key}={kv.Value}"));
        args.AddRange(command);
        return NetworkLab.ExecWithTimeout(lab.InstanceNs, TimeSpan.FromSeconds(60), args.ToArray());
    }

    private static (NetworkLab Lab, ImdsEmulator Emulator) CreateLab()
    {
        var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });

        // The proxy host has no way to this instance's link-local IMDS (as a real proxy elsewhere in the VPC).
        ProcessRunner.Check("ip", "-n", lab.ContainerNs, "route", "del", "default");
        ProcessRunner.Check("ip", "-n", lab.ContainerNs, "-6", "route", "del", "default");
        return (lab, emulator);
    }

    [LabFact]
    public void Clients_fail_through_tinyproxy_and_reach_imds_directly_after_a_session_repair()
    {
        var (lab, emulator) = CreateLab();
        using var _ = lab;
        using var proxy = new TinyProxy(lab.ContainerNs);
        var proxied = new Dictionary<string, string> { ["http_proxy"] = ProxyUrl, ["HTTP_PROXY"] = ProxyUrl };

        // Before: curl gets tinyproxy's error page; the AWS CLI finds no credentials; IMDS saw nothing.
        var curl = Client(lab, proxied, "curl", "-sS", "-f", "-m", "10", Url);
        Assert.True(curl.ExitCode == 22, "curl should get an HTTP error from the proxy: " + curl);
        var aws = Client(lab, proxied, "/usr/bin/aws", "configure", "list");
        Assert.Matches(@"access_key\s+<not set>", aws.Stdout);
        Assert.Contains("GET http://169.254.169.254/latest/meta-data/instance-id", proxy.Log, StringComparison.Ordinal);
        Assert.Contains("PUT http://169.254.169.254/latest/api/token", proxy.Log, StringComparison.Ordinal);
        Assert.Empty(emulator.GetRequestLog());
        int proxiedRequests = proxy.Requests;

        // Get-ImdsProxyConfiguration in that session says so; Repair-ImdsProxy fixes the session; the same clients,
        // started from the repaired session, go direct.
        var env = new Dictionary<string, string?>(AwsIsolation) { ["http_proxy"] = ProxyUrl, ["HTTP_PROXY"] = ProxyUrl, ["PATH"] = "/usr/bin:/bin" };
        var r = Cli.Run(new[]
        {
            "Get-ImdsProxyConfiguration -ExcludeRunningProcesses | Where-Object Source -eq ProcessEnvironment | ForEach-Object { 'before ' + $_.Variable + ' ' + $_.Exempt + ' ' + ($_.ImdsExempt.NotExempt -join ',') }; " +
            "Repair-ImdsProxy -Scope Session -Confirm:$false; " +
            "'NO_PROXY=' + $env:NO_PROXY; 'no_proxy=' + $env:no_proxy; " +
            $"& curl -sS -f -m 10 {Url}; ''; & /usr/bin/aws configure list",
        }, env, TimeSpan.FromSeconds(120), lab.InstanceNs);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("before HTTP_PROXY False Curl,PythonRequests,Botocore,Go,DotNet", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("before http_proxy False", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("NO_PROXY=169.254.169.254,fd00:ec2::254,[fd00:ec2::254]", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("no_proxy=169.254.169.254,fd00:ec2::254,[fd00:ec2::254]", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("i-0123456789abcdef0", r.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"access_key\s+\*+\w{4}\s+iam-role", r.Stdout);

        var log = emulator.GetRequestLog();
        Assert.Contains(log, x => x.Path == "/latest/meta-data/instance-id" && x.StatusCode == 200);
        Assert.Contains(log, x => x.Kind == ImdsRequestKind.TokenRequest && x.StatusCode == 200);
        Assert.All(log, x => Assert.Equal(NetworkLab.InstanceIPv4, x.ClientAddress));
        Assert.All(log, x => Assert.False(x.ForwardedFor));
        Assert.Equal(proxiedRequests, proxy.Requests);
    }

    [LabFact]
    public void Clients_whose_environment_comes_from_a_repaired_profile_file_reach_imds_directly()
    {
        var (lab, emulator) = CreateLab();
        using var _ = lab;
        using var proxy = new TinyProxy(lab.ContainerNs);
        using var root = new FakeRoot();
        string file = root.Write("etc/profile.d/proxy.sh",
            $"# corporate proxy\nexport http_proxy={ProxyUrl}\nexport HTTP_PROXY=$http_proxy\nexport no_proxy=localhost,127.0.0.1\n");
        byte[] original = File.ReadAllBytes(file);

        // The clients' environment is built by bash from the file, as a login shell would.
        ProcessResult FromProfile(string command) => Client(lab, new Dictionary<string, string>(), "bash", "--noprofile", "--norc", "-c", $". {file}; {command}");

        Assert.Equal(22, FromProfile($"curl -sS -f -m 10 {Url}").ExitCode);
        Assert.Matches(@"access_key\s+<not set>", FromProfile("/usr/bin/aws configure list").Stdout);
        Assert.Empty(emulator.GetRequestLog());

        // -WhatIf changes nothing.
        var whatIf = Cli.Run(new[] { $"Repair-ImdsProxy -Scope Machine -RootPath '{root.Path}' -WhatIf" }, null);
        Assert.True(whatIf.ExitCode == 0, whatIf.ToString());
        Assert.Contains($"on target \"{file}\"", whatIf.Combined, StringComparison.Ordinal);
        Assert.Equal(original, File.ReadAllBytes(file));

        var repair = Cli.Run(new[] { $"Repair-ImdsProxy -Scope Machine -RootPath '{root.Path}' -Confirm:$false -PassThru | ForEach-Object {{ $_.Status.ToString() + ' ' + $_.Target + ' backup=' + $_.BackupPath }}" }, null);
        Assert.True(repair.ExitCode == 0, repair.ToString());
        Assert.Contains("Repaired " + file, repair.Stdout, StringComparison.Ordinal);
        string text = File.ReadAllText(file);
        Assert.Equal("# corporate proxy\nexport http_proxy=" + ProxyUrl + "\nexport HTTP_PROXY=$http_proxy\n" +
            "export no_proxy=localhost,127.0.0.1,169.254.169.254,fd00:ec2::254,[fd00:ec2::254]\n" +
            "export NO_PROXY=localhost,127.0.0.1,169.254.169.254,fd00:ec2::254,[fd00:ec2::254]\n", text);

        var curl = FromProfile($"curl -sS -f -m 10 {Url}");
        Assert.True(curl.ExitCode == 0, curl.ToString());
        Assert.Equal("i-0123456789abcdef0", curl.Stdout.Trim());
        Assert.Matches(@"access_key\s+\*+\w{4}\s+iam-role", FromProfile("/usr/bin/aws configure list").Stdout);
        Assert.All(emulator.GetRequestLog(), x => Assert.Equal(NetworkLab.InstanceIPv4, x.ClientAddress));
        Assert.Contains(emulator.GetRequestLog(), x => x.Kind == ImdsRequestKind.TokenRequest && x.StatusCode == 200);

        // A second run finds nothing to do.
        var again = Cli.Run(new[] { $"@(Repair-ImdsProxy -Scope Machine -RootPath '{root.Path}' -Confirm:$false -PassThru).Count" }, null);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal("0", again.Stdout.Trim());
        Assert.Equal(text, File.ReadAllText(file));
    }
}
