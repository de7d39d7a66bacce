using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Lab;

/// <summary>
/// Test-ImdsEndpoint and Get-ImdsMetadata run as users run them, through the CLI inside the lab's instance and
/// container namespaces, against the emulator on 169.254.169.254:80 and [fd00:ec2::254]:80.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class ProbeLabTests
{
    private sealed record Step(string Name, string Status, string Outcome, double Ms, string Detail, string? Cause, string[] Evidence, string? ShellCommand);

    /// <summary>Runs Test-ImdsEndpoint in a namespace (as a uid) and returns its steps; CLI exit 0 or 3 (a step failed).</summary>
    private static (List<Step> Steps, ProcessResult Run) Probe(string ns, string args = "", int? uid = null, Dictionary<string, string?>? env = null)
    {
        var r = Cli.Run(new[] { "--json", "Test-ImdsEndpoint " + args }, env, TimeSpan.FromSeconds(90), ns, uid);
        Assert.True(r.ExitCode is 0 or 3, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var steps = doc.RootElement.EnumerateArray().Select(e => new Step(
            e.GetProperty("Step").GetString()!, e.GetProperty("Status").GetString()!, e.GetProperty("Outcome").GetString()!,
            TimeSpan.Parse(e.GetProperty("Elapsed").GetString()!, System.Globalization.CultureInfo.InvariantCulture).TotalMilliseconds,
            e.GetProperty("Detail").GetString()!, e.GetProperty("Cause").GetString(),
            e.GetProperty("Evidence").EnumerateArray().Select(x => x.GetString()!).ToArray(), e.GetProperty("ShellCommand").GetString())).ToList();
        return (steps, r);
    }

    private static Step Of(List<Step> steps, string name) => steps.First(s => s.Name == name);

    [LabFact]
    public void On_the_instance_a_healthy_service_passes_and_each_setting_is_named()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        var (healthy, run) = Probe(lab.InstanceNs);
        Assert.Equal(0, run.ExitCode);
        Assert.All(healthy, s => Assert.Equal("Pass", s.Status));
        Assert.Contains(emulator.GetRequestLog(), r => r.ClientAddress == NetworkLab.InstanceIPv4 && r.Kind == ImdsRequestKind.TokenRequest);

        emulator.UpdateSettings(s => s with { HttpTokens = HttpTokensState.Required });
        Assert.Equal("TokensRequired", Of(Probe(lab.InstanceNs).Steps, "MetadataV1").Outcome);

        emulator.UpdateSettings(s => s with { HttpEndpoint = FeatureState.Disabled });
        var (disabled, disabledRun) = Probe(lab.InstanceNs);
        Assert.Equal(3, disabledRun.ExitCode);
        Assert.Equal("EndpointDisabled", Of(disabled, "Token").Outcome);
    }

    [LabFact]
    public void From_a_container_hop_limit_1_is_named_and_hop_limit_2_passes()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        var (steps, _) = Probe(lab.ContainerNs);
        var token = Of(steps, "Token");
        Assert.Equal("HopLimitExceeded", token.Outcome);
        Assert.Equal("Fail", token.Status);
        Assert.Contains("HttpPutResponseHopLimit", token.Cause, StringComparison.Ordinal);
        Assert.Equal("Pass", Of(steps, "Connect").Status);
        Assert.Equal("ImdsV1Allowed", Of(steps, "MetadataV1").Outcome);

        emulator.UpdateSettings(s => s with { HttpPutResponseHopLimit = 2 });
        var (fixedSteps, fixedRun) = Probe(lab.ContainerNs);
        Assert.Equal(0, fixedRun.ExitCode);
        Assert.All(fixedSteps, s => Assert.Equal("Pass", s.Status));
    }

    [LabFact]
    public void A_reject_rule_for_users_is_connection_refused_for_them_only()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        var add = NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-m", "owner", "--uid-owner", "1000-10000", "-j", "REJECT");
        Assert.True(add.ExitCode == 0, add.ToString());

        var (user, _) = Probe(lab.InstanceNs, uid: 1000);
        var connect = Of(user, "Connect");
        Assert.Equal("ConnectionRefused", connect.Outcome);
        Assert.Contains("REJECT", connect.Cause, StringComparison.Ordinal);
        Assert.Contains(connect.Evidence, e => e == "uid 1000");
        Assert.Contains(connect.Evidence, e => e.Contains("run as root", StringComparison.Ordinal));
        Assert.True(connect.Ms < 500, connect.Ms.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.All(user.Where(s => s.Name is "Token" or "MetadataV2" or "MetadataV1"), s => Assert.Equal("Skipped", s.Status));

        var (root, rootRun) = Probe(lab.InstanceNs);
        Assert.Equal(0, rootRun.ExitCode);
        Assert.Equal("Pass", Of(root, "Connect").Status);
    }

    [LabFact]
    public void A_reject_rule_for_root_is_named_with_its_removal_command()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings());
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "--dport", "80", "-j", "REJECT");
        var (steps, _) = Probe(lab.InstanceNs);
        var connect = Of(steps, "Connect");
        Assert.Equal("ConnectionRefused", connect.Outcome);
        Assert.Contains("rejects this traffic for uid 0", connect.Cause, StringComparison.Ordinal);
        Assert.Contains(connect.Evidence, e => e.StartsWith("firewall: filter OUTPUT", StringComparison.Ordinal) || e.StartsWith("firewall: ", StringComparison.Ordinal));
        Assert.StartsWith("iptables-nft -t filter -D OUTPUT", connect.ShellCommand, StringComparison.Ordinal);
    }

    [LabFact]
    public void A_drop_rule_gives_a_verdict_within_the_bound_not_two_minutes()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings());
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-d", "169.254.169.254", "-j", "DROP");
        var (steps, run) = Probe(lab.InstanceNs, "-TimeoutSec 1");
        var connect = Of(steps, "Connect");
        Assert.Equal("ConnectTimeout", connect.Outcome);
        // Run as root, the probe reads the firewall and names the rule that explains the timeout.
        Assert.Contains("drops this traffic for uid 0", connect.Cause, StringComparison.Ordinal);
        Assert.Contains("-d 169.254.169.254/32 -j DROP", connect.Cause, StringComparison.Ordinal);
        Assert.Equal("iptables-nft -t filter -D OUTPUT -d 169.254.169.254/32 -j DROP", connect.ShellCommand);
        Assert.InRange(connect.Ms, 900, 1600);
        Assert.True(steps.Sum(s => s.Ms) < 2000, "verdict within about the step timeout");
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(20), "CLI start-up plus a 1 s probe: " + run.Elapsed);

        // The same client reading metadata fails fast too, with an error that points at the probe.
        var read = Cli.Run(new[] { "Get-ImdsMetadata -Category InstanceId -TimeoutSec 0.5 -TotalTimeoutSec 2" }, null, TimeSpan.FromSeconds(60), lab.InstanceNs);
        Assert.Equal(1, read.ExitCode);
        Assert.Contains("No TCP connection", read.Stderr, StringComparison.Ordinal);
    }

    [LabFact]
    public void The_ipv6_endpoint_answers_only_when_enabled()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        var (off, _) = Probe(lab.InstanceNs, "-IPv6");
        var v6Connect = off.Where(s => s.Name == "Connect").Skip(1).Single();
        Assert.Equal("ConnectionRefused", v6Connect.Outcome);

        emulator.UpdateSettings(s => s with { HttpProtocolIpv6 = FeatureState.Enabled });
        var (on, onRun) = Probe(lab.InstanceNs, "-IPv6");
        Assert.Equal(0, onRun.ExitCode);
        Assert.Equal(2, on.Count(s => s.Name == "Token" && s.Status == "Pass"));

        // AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 makes IPv6 the endpoint, as the SDKs do.
        var (mode, _) = Probe(lab.InstanceNs, env: new Dictionary<string, string?> { ["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] = "IPv6" });
        Assert.Contains(mode, s => s.Name == "Connect" && s.Status == "Pass");
        Assert.Contains(emulator.GetRequestLog(), r => r.ClientAddress == NetworkLab.InstanceIPv6 && r.Kind == ImdsRequestKind.TokenRequest);
    }

    [LabFact]
    public void Get_ImdsMetadata_in_a_container_with_hop_limit_1_falls_back_only_when_allowed()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        var strict = Cli.Run(new[] { "Get-ImdsMetadata -Category InstanceId -TotalTimeoutSec 4" }, null, TimeSpan.FromSeconds(60), lab.ContainerNs);
        Assert.Equal(1, strict.ExitCode);
        Assert.Contains("hop limit", strict.Stderr, StringComparison.Ordinal);
        Assert.True(strict.Elapsed < TimeSpan.FromSeconds(25), strict.Elapsed.ToString());

        var lenient = Cli.Run(new[] { "Get-ImdsMetadata -Category InstanceId -AllowV1" }, null, TimeSpan.FromSeconds(60), lab.ContainerNs);
        Assert.True(lenient.ExitCode == 0, lenient.ToString());
        Assert.Equal("i-0123456789abcdef0", lenient.Stdout.Trim());
        Assert.Contains(emulator.GetRequestLog(), r => r.ClientAddress == NetworkLab.ContainerIPv4 && r.Kind == ImdsRequestKind.V1 && r.StatusCode == 200);

        var v1Off = Cli.Run(new[] { "Get-ImdsMetadata -Category InstanceId -AllowV1 -TotalTimeoutSec 3" },
            new Dictionary<string, string?> { ["AWS_EC2_METADATA_V1_DISABLED"] = "true" }, TimeSpan.FromSeconds(60), lab.ContainerNs);
        Assert.Equal(1, v1Off.ExitCode);
        Assert.Contains("AWS_EC2_METADATA_V1_DISABLED=true overrides -AllowV1", v1Off.Stderr, StringComparison.Ordinal);
    }

    [LabFact]
    public void A_real_proxy_in_the_environment_is_reported_and_bypassed()
    {
        using var emulator = ImdsEmulator.Start(new EmulatorOptions { Name = "test-proxy", Settings = new EmulatorSettings { HttpPutResponseHopLimit = 2 } });
        using var proxy = new Tinyproxy();
        string proxyUrl = proxy.Url.ToString();
        var env = new Dictionary<string, string?> { ["HTTP_PROXY"] = proxyUrl, ["http_proxy"] = proxyUrl };

        // A client that honours the environment (curl) goes through the proxy ...
        var curl = ProcessRunner.Run("curl", new[] { "-sS", "-m", "5", new Uri(emulator.Endpoint, "latest/meta-data/instance-id").ToString() }, TimeSpan.FromSeconds(30), env);
        Assert.Equal("i-0123456789abcdef0", curl.Stdout.Trim());
        Assert.Contains("GET http://127.0.0.1:" + emulator.Listeners[0].Port + "/latest/meta-data/instance-id", proxy.Log, StringComparison.Ordinal);

        // ... the probe reports the proxy, and itself goes direct.
        var (steps, _) = Probe(string.Empty, $"-Endpoint {emulator.Endpoint}", env: env);
        var environment = Of(steps, "Environment");
        Assert.Equal("ProxyInEnvironment", environment.Outcome);
        Assert.Equal("Warn", environment.Status);
        Assert.Contains("http_proxy", environment.Detail, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("from the process environment", environment.Detail, StringComparison.Ordinal);
        Assert.All(steps.Where(s => s.Name != "Environment"), s => Assert.Equal("Pass", s.Status));
        Assert.DoesNotContain("/latest/api/token", proxy.Log, StringComparison.Ordinal);
        Assert.Contains(emulator.GetRequestLog(), r => r.Kind == ImdsRequestKind.TokenRequest && r.UserAgent!.StartsWith("ImdsTroubleshoot/", StringComparison.Ordinal));
    }

    [LabFact]
    public void The_probe_names_the_file_that_sets_the_proxy()
    {
        using var emulator = ImdsEmulator.Start(new EmulatorOptions { Name = "test-proxy-file", Settings = new EmulatorSettings { HttpPutResponseHopLimit = 2 } });
        string home = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "imds-home-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(home);
        try
        {
            System.IO.File.WriteAllText(System.IO.Path.Combine(home, ".bashrc"), "# proxy for the office\nexport http_proxy=http://user:secret@127.0.0.1:3128\nexport HTTP_PROXY=$http_proxy\n");
            var env = new Dictionary<string, string?> { ["HOME"] = home, ["http_proxy"] = "http://user:secret@127.0.0.1:3128", ["HTTP_PROXY"] = "http://user:secret@127.0.0.1:3128" };
            var (steps, run) = Probe(string.Empty, $"-Endpoint {emulator.Endpoint}", env: env);
            var environment = Of(steps, "Environment");
            Assert.Equal("ProxyInEnvironment", environment.Outcome);
            Assert.Contains(home + "/.bashrc:", environment.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("secret", run.Combined, StringComparison.Ordinal);
        }
        finally
        {
            System.IO.Directory.Delete(home, recursive: true);
        }
    }
}
