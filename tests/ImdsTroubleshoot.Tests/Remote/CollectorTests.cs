using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using ImdsTroubleshoot.Engine;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Engine.Remote;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>Collector.Build's validation and quoting, the script's syntax, and the parser on real and hostile output.</summary>
public sealed class CollectorTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Remote", name));

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.049)]
    [InlineData(120.01)]
    [InlineData(double.NaN)]
    [InlineData(-1)]
    public void Build_rejects_a_timeout_out_of_range(double timeout)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Collector.Build(new CollectorParameters { TimeoutSec = timeout }));
        Assert.Contains("TimeoutSec must be between 0.05 and 120 seconds", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(999)]
    [InlineData(23_501)]
    [InlineData(0)]
    public void Build_rejects_a_budget_out_of_range(int budget)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Collector.Build(new CollectorParameters { OutputBudget = budget }));
        Assert.Contains("OutputBudget must be between 1,000 and 23,500", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://169.254.169.254/;reboot")]
    [InlineData("http://169.254.169.254/$(reboot)")]
    [InlineData("http://169.254.169.254/`reboot`")]
    [InlineData("http://169.254.169.254/'; reboot; '")]
    [InlineData("http://user:secret@169.254.169.254/")]
    [InlineData("http://user@169.254.169.254/")]
    [InlineData("file:///etc/shadow")]
    [InlineData("ftp://169.254.169.254/")]
    [InlineData("http://169.254.169.254/?a=b")]
    [InlineData("http://169.254.169.254/#x")]
    [InlineData("http://exa_mple.com/")]
    [InlineData("http://[fe80::1%25eth0]/")]
    [InlineData("http://169.254.169.254/a%20b")]
    [InlineData("http://169.254.169.254/a\"b")]
    [InlineData("http://-bad-.example/")]
    public void Build_rejects_hostile_or_unusable_endpoints(string text)
    {
        // Either .NET refuses the text as a URI, or Build does, with a plain message.
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri))
        {
            Assert.Throws<UriFormatException>(() => new Uri(text, UriKind.Absolute));
            return;
        }

        var ex = Assert.ThrowsAny<ArgumentException>(() => Collector.Build(new CollectorParameters { Endpoint = uri }));
        Assert.DoesNotContain("   at ", ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("The endpoint", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://169.254.169.254", "http://169.254.169.254/")]
    [InlineData("http://127.0.0.1:8080/imds", "http://127.0.0.1:8080/imds/")]
    [InlineData("http://[fd00:ec2::254]/", "http://[fd00:ec2::254]/")]
    [InlineData("http://imds.internal.example:1234/", "http://imds.internal.example:1234/")]
    public void Build_accepts_ip_and_dns_endpoints_and_single_quotes_them(string text, string expected)
    {
        string script = Collector.Build(new CollectorParameters { Endpoint = new Uri(text), TimeoutSec = 0.25, IPv6 = true, OutputBudget = 5000 });
        Assert.Contains("\nIMDSC_ENDPOINT='" + expected + "'\n", script, StringComparison.Ordinal);
        Assert.Contains("\nIMDSC_TIMEOUT='0.25'\n", script, StringComparison.Ordinal);
        Assert.Contains("\nIMDSC_IPV6='1'\n", script, StringComparison.Ordinal);
        Assert.Contains("\nIMDSC_BUDGET='5000'\n", script, StringComparison.Ordinal);
        Assert.EndsWith("imdsc_main </dev/null\n", script, StringComparison.Ordinal);
    }

    [Fact]
    public void Quote_closes_and_reopens_around_a_single_quote()
    {
        Assert.Equal("'a'\\''b'", Collector.Quote("a'b"));
    }

    [Theory]
    [InlineData("sh")]
    [InlineData("dash")]
    [InlineData("busybox sh")]
    public void The_script_parses_with_sh_dash_and_busybox(string shell)
    {
        string path = Path.Combine(Path.GetTempPath(), $"imds-collector-{Guid.NewGuid():N}.sh");
        File.WriteAllText(path, Collector.Build(new CollectorParameters { Endpoint = new Uri("http://127.0.0.1:9/"), IPv6 = true }));
        try
        {
            string[] words = shell.Split(' ');
            var r = ProcessRunner.Run(words[0], words.Skip(1).Concat(new[] { "-n", path }), TimeSpan.FromSeconds(30));
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal(string.Empty, r.Stderr.Trim());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_script_uses_no_bashisms()
    {
        string script = Collector.Build(new CollectorParameters());
        // Shell code only: comments and single-quoted text (awk programs, sed expressions, literals) are not sh syntax.
        string withoutComments = string.Join('\n', script.Split('\n').Where(l => !l.TrimStart().StartsWith('#')));
        string unquoted = System.Text.RegularExpressions.Regex.Replace(withoutComments, "'[^']*'", "''");
        var code = unquoted.Split('\n').ToList();
        Assert.DoesNotContain(code, l => l.Contains("function flush", StringComparison.Ordinal));
        foreach (string bashism in new[] { @"(^|[\s;])\[\[ ", @"^\s*function\s+\w+\s*(\(\s*\))?\s*\{", @"(^|\s)local\s", "<<<", @"(^|[\s=(])\$'", "/dev/tcp", @"(^|\s)declare\s", @"\$\{!", "&>", "pipefail", @"\$\{[A-Za-z_]+:[0-9]" })
        {
            Assert.DoesNotContain(code, l => System.Text.RegularExpressions.Regex.IsMatch(l, bashism));
        }

        Assert.DoesNotContain(code, l => l.Contains("security-credentials", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("sh")]
    [InlineData("dash")]
    [InlineData("busybox sh")]
    public void The_packed_collector_parses_and_runs_a_script_as_it_is_from_a_file_or_stdin(string shell)
    {
        string[] words = shell.Split(' ');
        string path = Path.Combine(Path.GetTempPath(), $"imds-packed-{Guid.NewGuid():N}.sh");
        File.WriteAllText(path, Collector.Pack(Collector.Build(new CollectorParameters { Endpoint = new Uri("http://127.0.0.1:9/"), IPv6 = true })));
        try
        {
            var syntax = ProcessRunner.Run(words[0], words.Skip(1).Concat(new[] { "-n", path }), TimeSpan.FromSeconds(30));
            Assert.True(syntax.ExitCode == 0 && syntax.Stderr.Trim().Length == 0, syntax.ToString());

            // What the packed script runs behaves as the plain script: output, variables, quoting, exit code, stdin.
            string withStdin = "imdsc_x='it'\\''s'\nprintf '%s|%s\\n' \"$imdsc_x\" \"$(echo  two   words)\"\nread -r line || line=none\necho \"stdin: $line\"\nexit 7\n";
            File.WriteAllText(path, Collector.Pack(withStdin));
            var fromFile = ProcessRunner.Run(words[0], words.Skip(1).Append(path), TimeSpan.FromSeconds(30), stdin: "a line\n");
            Assert.Equal((7, "it's|two words\nstdin: a line\n", string.Empty), (fromFile.ExitCode, fromFile.Stdout, fromFile.Stderr));

            // Run as sh -s (how SSH delivers it), where the script is stdin: the same output as the plain script.
            string noStdin = "imdsc_x='it'\\''s'\nprintf '%s|%s\\n' \"$imdsc_x\" \"$(echo  two   words)\"\necho \"$0\" >/dev/null\nexit 5\n";
            var plain = ProcessRunner.Run(words[0], words.Skip(1).Append("-s"), TimeSpan.FromSeconds(30), stdin: noStdin);
            var packed = ProcessRunner.Run(words[0], words.Skip(1).Append("-s"), TimeSpan.FromSeconds(30), stdin: Collector.Pack(noStdin));
            Assert.Equal((5, "it's|two words\n", string.Empty), (plain.ExitCode, plain.Stdout, plain.Stderr));
            Assert.Equal((plain.ExitCode, plain.Stdout, plain.Stderr), (packed.ExitCode, packed.Stdout, packed.Stderr));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_packed_collector_is_under_half_the_size_and_unpacks_to_the_plain_one_exactly()
    {
        string plain = Collector.Build(new CollectorParameters { IPv6 = true, TimeoutSec = 2.5 });
        string packed = Collector.Pack(plain);
        Assert.StartsWith(Collector.PackedHeader + "\n", packed, StringComparison.Ordinal);
        Assert.True(packed.Length < plain.Length * 0.5, $"{packed.Length} of {plain.Length}");
        var lines = packed.Split('\n');
        Assert.All(lines, l => Assert.True(l.Length <= 160, l));
        int start = Array.FindIndex(lines, l => l.EndsWith("<<'IMDSC_PACKED' | gzip -dc", StringComparison.Ordinal)) + 1;
        int end = Array.IndexOf(lines, "IMDSC_PACKED");
        byte[] gz = Convert.FromBase64String(string.Concat(lines[start..end]));
        using var input = new System.IO.Compression.GZipStream(new MemoryStream(gz), System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(input, System.Text.Encoding.UTF8);
        Assert.Equal(plain, reader.ReadToEnd());
    }

    [Fact]
    public void A_packed_collector_on_a_system_without_base64_says_so_and_exits_3()
    {
        string bin = Path.Combine(Path.GetTempPath(), "imds-nobase64-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(bin);
        try
        {
            File.CreateSymbolicLink(Path.Combine(bin, "gzip"), "/usr/bin/busybox");
            var r = ProcessRunner.Run("/bin/sh", new[] { "-s" }, TimeSpan.FromSeconds(30), env: new Dictionary<string, string?> { ["PATH"] = bin }, stdin: Collector.Pack("echo should not run\n"));
            Assert.Equal(Collector.UnpackFailedExitCode, r.ExitCode);
            Assert.Equal(string.Empty, r.Stdout);
            Assert.Contains("needs base64 to unpack", r.Stderr, StringComparison.Ordinal);

            // With BusyBox's base64 and gzip it unpacks and runs.
            File.CreateSymbolicLink(Path.Combine(bin, "base64"), "/usr/bin/busybox");
            var ok = ProcessRunner.Run("/bin/sh", new[] { "-s" }, TimeSpan.FromSeconds(30), env: new Dictionary<string, string?> { ["PATH"] = bin }, stdin: Collector.Pack("echo ran\n"));
            Assert.Equal((0, "ran\n"), (ok.ExitCode, ok.Stdout));
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

    [Fact]
    public void A_real_output_parses_into_the_same_objects_a_local_run_builds()
    {
        DiagnosisInput input = CollectorOutputParser.Parse(Fixture("uid-rule-root.out"), "i-target");
        Assert.Equal("i-target", input.Target);
        Assert.Empty(input.CollectionNotes);
        Assert.Equal(0u, input.Uid);
        Assert.Equal(new Uri("http://169.254.169.254/"), input.Endpoint);
        Assert.Equal("default", input.EndpointSource);
        var probe = Assert.IsType<Engine.Probe.ProbeObservation>(input.Probe);
        Assert.True(probe.Connected);
        Assert.Equal(200, probe.Put!.StatusCode);
        Assert.Equal(41, probe.Put.Body.Length);
        Assert.DoesNotContain("SECRET", probe.Put.Body, StringComparison.Ordinal);
        Assert.Equal("21600", probe.Put.Header(ImdsDefaults.TokenTtlHeader));
        Assert.Equal(200, probe.GetV2!.StatusCode);
        Assert.Equal(401, probe.GetV1!.StatusCode);
        Assert.Equal("i-0123456789abcdef0", input.InstanceId);
        Assert.Equal("eu-west-1", input.Region);
        var v6 = Assert.IsType<Engine.Probe.ProbeObservation>(input.ProbeIpv6);
        Assert.Equal(ImdsTransportOutcome.ConnectionRefused, v6.Connect.Outcome);
        Assert.Equal("http://bob:****@proxy:3128", input.Environment["http_proxy"]);
        var firewall = Assert.IsType<FirewallReport>(input.Firewall);
        Assert.Contains(firewall.Rules, r => r.Blocks && r.Rule.Contains("--uid-owner 1000-10000", StringComparison.Ordinal));
        Assert.Contains(firewall.Subjects, s => s.Uid == 1000 && s.Access == FirewallAccess.Blocked);
        Assert.NotNull(input.ProxySettings);
        Assert.NotNull(input.Ena);
        Assert.False(input.Ena!.Available);

        var findings = DiagnosisEngine.Analyze(input);
        Assert.Equal(("Warn", "FirewallBlocksImdsForOthers"), (findings.Single(f => f.Check == DiagnosisCheck.Firewall).Status.ToString(), findings.Single(f => f.Check == DiagnosisCheck.Firewall).Outcome));
        Assert.Equal(FindingStatus.Pass, findings.Single(f => f.Check == DiagnosisCheck.Token).Status);
        // NO_PROXY=169.254.169.254 exempts the IPv4 endpoint only.
        Assert.Equal("ProxyCatchesImdsIpv6", findings.Single(f => f.Check == DiagnosisCheck.Proxy).Outcome);
    }

    [Fact]
    public void Parse_never_throws_for_nothing_garbage_or_another_version()
    {
        foreach (string? text in new[] { null, string.Empty, "\n\n", "hello world", "IMDSCOLLECT/2 budget=1\n@section meta\nuid=0\n@end\nIMDSCOLLECT/2 end\n", "@end\n@end\n|||\n=\n==\n@section\n" })
        {
            DiagnosisInput input = CollectorOutputParser.Parse(text!, "t");
            Assert.NotEmpty(input.CollectionNotes);
            Assert.Null(input.Probe);
            var findings = DiagnosisEngine.Analyze(input);
            Assert.Contains(findings, f => f.Check == DiagnosisCheck.Collection && f.Status == FindingStatus.Warn);
        }

        Assert.Contains(CollectorOutputParser.Parse("IMDSCOLLECT/7 x\n", "t").CollectionNotes, n => n.Contains("format 7", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_survives_random_bytes_and_10_MB()
    {
        var random = new Random(1234);
        for (int i = 0; i < 50; i++)
        {
            byte[] bytes = new byte[random.Next(1, 5000)];
            random.NextBytes(bytes);
            string text = (i % 2 == 0 ? "IMDSCOLLECT/1 budget=23500\n" : string.Empty) + Encoding.Latin1.GetString(bytes);
            DiagnosisInput input = CollectorOutputParser.Parse(text, "t");
            Assert.NotEmpty(input.CollectionNotes);
            _ = DiagnosisEngine.Analyze(input);
        }

        string huge = Fixture("uid-rule-root.out") + new string('x', 10 * 1024 * 1024);
        var big = CollectorOutputParser.Parse(huge, "t");
        Assert.Contains(big.CollectionNotes, n => n.Contains("only the first", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_of_output_cut_at_any_line_never_throws_and_says_it_was_truncated()
    {
        string full = Fixture("uid-rule-root.out");
        var cuts = new List<int>();
        for (int i = full.IndexOf('\n'); i >= 0 && i < full.Length - 1; i = full.IndexOf('\n', i + 1))
        {
            cuts.Add(i + 1);
        }

        Assert.True(cuts.Count > 100);
        foreach (int cut in cuts)
        {
            DiagnosisInput input = CollectorOutputParser.Parse(full.Substring(0, cut), "t");
            Assert.Contains(input.CollectionNotes, n => n.Contains("truncated", StringComparison.Ordinal));
            var findings = DiagnosisEngine.Analyze(input);
            Assert.Contains(findings, f => f.Check == DiagnosisCheck.Collection);
        }

        // Cut in the middle of lines too (every 7th character).
        for (int cut = 1; cut < full.Length; cut += 7)
        {
            DiagnosisInput input = CollectorOutputParser.Parse(full.Substring(0, cut), "t");
            Assert.NotEmpty(input.CollectionNotes);
            _ = DiagnosisEngine.Analyze(input);
        }
    }

    [Fact]
    public void Parse_of_output_missing_any_one_section_notes_it()
    {
        string full = Fixture("uid-rule-root.out");
        string[] lines = full.Split('\n');
        var starts = Enumerable.Range(0, lines.Length).Where(i => lines[i].StartsWith("@section ", StringComparison.Ordinal) || lines[i].StartsWith("@dump ", StringComparison.Ordinal)).ToList();
        foreach (int start in starts)
        {
            int end = Array.FindIndex(lines, start, l => l == "@end");
            var kept = lines.Take(start).Concat(lines.Skip(end + 1));
            DiagnosisInput input = CollectorOutputParser.Parse(string.Join('\n', kept), "t");
            _ = DiagnosisEngine.Analyze(input);
            string name = lines[start];
            if (name is "@section meta" or "@section env" or "@section platform" or "@section endpoint" or "@section probe" or "@section firewall")
            {
                Assert.True(input.CollectionNotes.Count > 0 || input.FirewallUnavailable is not null, name);
            }
        }
    }

    private static string EnaOutput(ulong before, ulong after, bool ethtool = true)
    {
        string Reading(string name, long time, ulong value) =>
            $"@section {name}\ntime={time}\n" + (ethtool ? string.Empty : "noethtool=1\n")
            + "if=lo 1 - 1 - - unknown -\nif=eth0 2 ena 0 0x1d0f 0xec20 up ena\n"
            + (ethtool
                ? $"stat.eth0=     bw_in_allowance_exceeded: 0\nstat.eth0=     bw_out_allowance_exceeded: 0\nstat.eth0=     pps_allowance_exceeded: 0\nstat.eth0=     conntrack_allowance_exceeded: 0\nstat.eth0=     linklocal_allowance_exceeded: {value}\n"
                  + "info.eth0=driver: ena\ninfo.eth0=version: 2.13.0g\ninfo.eth0=bus-info: 0000:00:05.0\n"
                : string.Empty)
            + "@end\n";
        return "IMDSCOLLECT/1 budget=23500\n@section meta\nuid=0\nuser=root\nhome=/root\nclient=/usr/bin/curl\ntimeout=1\nipv6=0\n@end\n"
            + "@section endpoint\nurl=http://169.254.169.254/\nsource=default\n@end\n"
            + "@section probe\nurl=http://169.254.169.254/\ntimeout=1\nput=0 200 0.000400 0.004000 56 169.254.169.254:80 10.0.0.5:40000 ttl=21600\nput.tokenlength=56\n"
            + "v2=0 200 0.000300 0.002000 300 169.254.169.254:80 10.0.0.5:40002 ttl=-\nv1=0 401 0.000300 0.002000 0 169.254.169.254:80 10.0.0.5:40004 ttl=-\n@end\n"
            + "@section env\n@end\n@section platform\nfile.sys/class/dmi/id/sys_vendor=Amazon EC2\n@end\n"
            + Reading("ena-before", 1796675130_000_000_000, before) + Reading("ena-after", 1796675132_500_000_000, after)
            + "@section firewall\nskipped=not root\n@end\n@section processes\nskipped=not root\n@end\nIMDSCOLLECT/1 end\n";
    }

    [Fact]
    public void Ena_counters_from_ethtool_lines_give_the_throttling_finding()
    {
        DiagnosisInput rising = CollectorOutputParser.Parse(EnaOutput(10, 25), "i-ena");
        Assert.True(rising.Ena!.Available);
        Assert.Equal(15UL, rising.Ena.TotalDelta);
        Assert.Equal("Ec2", PlatformVerdictOf(rising));
        var throttling = DiagnosisEngine.Analyze(rising).Single(f => f.Check == DiagnosisCheck.Throttling);
        Assert.Equal((FindingStatus.Fail, "LinkLocalPacketsDropped"), (throttling.Status, throttling.Outcome));
        Assert.Contains(throttling.Evidence, e => e.Contains("+15 on eth0 (10 -> 25)", StringComparison.Ordinal));

        DiagnosisInput quiet = CollectorOutputParser.Parse(EnaOutput(7, 7), "i-ena");
        var calm = DiagnosisEngine.Analyze(quiet).Single(f => f.Check == DiagnosisCheck.Throttling);
        Assert.Equal((FindingStatus.Warn, "LinkLocalDropsSinceReset"), (calm.Status, calm.Outcome));

        DiagnosisInput noEthtool = CollectorOutputParser.Parse(EnaOutput(0, 0, ethtool: false), "i-ena");
        Assert.False(noEthtool.Ena!.Available);
        Assert.Contains("ethtool is not installed on the target", noEthtool.Ena.Summary, StringComparison.Ordinal);
    }

    private static string PlatformVerdictOf(DiagnosisInput input) => input.Platform.Verdict.ToString();
}
