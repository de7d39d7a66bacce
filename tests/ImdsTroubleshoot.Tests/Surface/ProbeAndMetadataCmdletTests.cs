using System;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using System.Net.Http;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Probe;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>Test-ImdsEndpoint and Get-ImdsMetadata in a real runspace with the staged module, against emulators on loopback.</summary>
public sealed class ProbeAndMetadataCmdletTests : IDisposable
{
    private readonly PsSession _ps = new();

    public void Dispose() => _ps.Dispose();

    private static ImdsEmulator Start(string scenario, Func<EmulatorSettings, EmulatorSettings>? change = null)
    {
        var settings = EmulatorScenario.Get(scenario).Settings;
        return ImdsEmulator.Start(new EmulatorOptions
        {
            Name = "test-probe-" + scenario,
            ScenarioName = scenario,
            Settings = change is null ? settings : change(settings),
            Content = EmulatorScenario.Get(scenario).WithRole ? null : InstanceContent.CreateDefault().WithoutRole(),
            DropHoldTime = TimeSpan.FromSeconds(3),
        });
    }

    /// <summary>Probes with 3 s steps unless the test sets -TimeoutSec: a loaded CI machine must not turn into a verdict.</summary>
    private ImdsProbeResult[] Probe(Uri endpoint, string extra = "")
    {
        string timeout = extra.Contains("-TimeoutSec", StringComparison.Ordinal) ? string.Empty : " -TimeoutSec 3";
        var r = _ps.Ok($"Test-ImdsEndpoint -Endpoint '{endpoint}' {extra}{timeout}");
        return r.Objects<ImdsProbeResult>().ToArray();
    }

    private static ImdsProbeResult Step(ImdsProbeResult[] results, ProbeStep step) => results.Single(r => r.Step == step);

    private static void Exhaust(ImdsEmulator emulator, int requests)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(1) };
        for (int i = 0; i < requests; i++)
        {
            try
            {
                http.GetAsync(new Uri(emulator.Endpoint, "latest/meta-data/")).GetAwaiter().GetResult().Dispose();
            }
            catch (System.Threading.Tasks.TaskCanceledException)
            {
            }
        }
    }

    [Fact]
    public void Healthy_endpoint_passes_every_step_and_reads_naturally_in_a_pipeline()
    {
        using var e = Start("Healthy");
        var results = Probe(e.Endpoint);
        Assert.Equal(new[] { ProbeStep.Environment, ProbeStep.Connect, ProbeStep.Token, ProbeStep.MetadataV2, ProbeStep.MetadataV1 }, results.Select(r => r.Step));
        Assert.All(results, r => Assert.Equal(ProbeStatus.Pass, r.Status));
        Assert.Empty(_ps.Ok($"Test-ImdsEndpoint -Endpoint '{e.Endpoint}' -TimeoutSec 3 | Where-Object Status -ne 'Pass'").Output);
        Assert.True((bool)_ps.Ok($"Test-ImdsEndpoint -Endpoint '{e.Endpoint}' -TimeoutSec 3 -Quiet").Output.Single().BaseObject);
    }

    [Fact]
    public void Tokens_required_is_named_for_imdsv1_clients()
    {
        using var e = Start("TokensRequired");
        var results = Probe(e.Endpoint);
        Assert.Equal(ProbeStatus.Pass, Step(results, ProbeStep.MetadataV2).Status);
        var v1 = Step(results, ProbeStep.MetadataV1);
        Assert.Equal(ProbeOutcome.TokensRequired, v1.Outcome);
        Assert.Equal(ProbeStatus.Warn, v1.Status);
        Assert.Equal(401, v1.StatusCode);
        Assert.Contains("HttpTokens", v1.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Endpoint_disabled_is_named_with_the_fix()
    {
        using var e = Start("EndpointDisabled");
        var results = Probe(e.Endpoint, "-Path meta-data/instance-id");
        var token = Step(results, ProbeStep.Token);
        Assert.Equal(ProbeOutcome.EndpointDisabled, token.Outcome);
        Assert.Equal(ProbeStatus.Fail, token.Status);
        Assert.Contains("Set-ImdsMetadataOption -HttpEndpoint Enabled", token.RelatedCommand, StringComparison.Ordinal);
        Assert.Contains("--http-endpoint enabled", token.ShellCommand, StringComparison.Ordinal);
        Assert.Equal(ProbeOutcome.EndpointDisabled, Step(results, ProbeStep.MetadataV1).Outcome);
        Assert.Equal(ProbeOutcome.EndpointDisabled, Step(results, ProbeStep.Path).Outcome);
        Assert.Equal(ProbeStatus.Skipped, Step(results, ProbeStep.MetadataV2).Status);
        Assert.False((bool)_ps.Ok($"Test-ImdsEndpoint -Endpoint '{e.Endpoint}' -Quiet").Output.Single().BaseObject);
    }

    [Fact]
    public void A_proxy_that_adds_x_forwarded_for_is_named()
    {
        using var e = Start("Healthy");
        using var interceptor = RawServer.ForwardedForInterceptor(e.Endpoint);
        var token = Step(Probe(interceptor.Endpoint), ProbeStep.Token);
        Assert.Equal(ProbeOutcome.ForwardedForRejected, token.Outcome);
        Assert.Contains("X-Forwarded-For", token.Cause, StringComparison.Ordinal);
        Assert.Contains(e.GetRequestLog(), r => r.Kind == ImdsRequestKind.TokenRequest && r.ForwardedFor && r.StatusCode == 403);
    }

    [Fact]
    public void Path_404s_explain_tags_and_missing_roles_and_never_show_content()
    {
        using var e = Start("NoRole");
        var results = Probe(e.Endpoint, "-Path meta-data/tags/instance/Name, meta-data/iam/security-credentials/Anything, meta-data/instance-id");
        var paths = results.Where(r => r.Step == ProbeStep.Path).ToArray();
        Assert.Equal(ProbeOutcome.NotFound, paths[0].Outcome);
        Assert.Contains("InstanceMetadataTags", paths[0].Cause, StringComparison.Ordinal);
        Assert.Contains("IAM role", paths[1].Cause, StringComparison.Ordinal);
        Assert.Equal(ProbeStatus.Pass, paths[2].Status);
        Assert.DoesNotContain("i-0123456789abcdef0", paths[2].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Throttling_429_is_named_and_points_to_the_ena_counters()
    {
        using var e = Start("Throttled", s => s with { ThrottleRequestsPerSecond = 0.05, ThrottleBurst = 2 });
        Exhaust(e, 2);
        var failing = Probe(e.Endpoint).Where(r => r.Status == ProbeStatus.Fail).ToArray();
        Assert.NotEmpty(failing);
        Assert.Contains(failing, r => r.Outcome == ProbeOutcome.Throttled && r.StatusCode == 429);
        Assert.Contains(failing, r => r.RelatedCommand == "Get-EnaLinkLocalStat");
    }

    [Fact]
    public void Silent_drops_give_a_verdict_within_the_step_bounds()
    {
        using var e = Start("ThrottledDrop", s => s with { ThrottleRequestsPerSecond = 0.05, ThrottleBurst = 2 });
        Exhaust(e, 2);
        var sw = Stopwatch.StartNew();
        var results = Probe(e.Endpoint, "-TimeoutSec 0.5");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), sw.Elapsed.ToString());
        Assert.Contains(results, r => r.Outcome == ProbeOutcome.NoResponse && r.Status == ProbeStatus.Fail);
    }

    [Fact]
    public void A_slow_service_is_a_no_response_not_a_hang()
    {
        using var e = Start("Slow");
        var sw = Stopwatch.StartNew();
        var token = Step(Probe(e.Endpoint, "-TimeoutSec 1"), ProbeStep.Token);
        Assert.Equal(ProbeOutcome.NoResponse, token.Outcome);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), sw.Elapsed.ToString());
    }

    [Fact]
    public void No_token_or_credential_appears_in_any_stream()
    {
        using var e = Start("Healthy");
        string role = "meta-data/iam/security-credentials/ImdsTroubleshootDemoRole";
        var probe = _ps.Invoke($"Test-ImdsEndpoint -Endpoint '{e.Endpoint}' -Path {role} -Verbose -Debug");
        var read = _ps.Invoke($"Get-ImdsMetadata -Endpoint '{e.Endpoint}' -Category Credentials -Verbose -Debug; Get-ImdsMetadata -Endpoint '{e.Endpoint}' -Path meta-data/iam/ -Recurse -Verbose");
        string text = probe.AllText() + read.AllText();
        var credential = read.Objects<ImdsRoleCredential>().First();
        Assert.NotEmpty(e.IssuedTokens);
        foreach (string secret in e.IssuedTokens.Append(credential.GetSecretAccessKey()).Append(credential.GetSessionToken()))
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }

        Assert.Contains(credential.AccessKeyId!, text, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_reads_single_items_categories_and_listings()
    {
        using var e = Start("TagsEnabled");
        string ep = e.Endpoint.ToString();
        Assert.Equal("i-0123456789abcdef0", _ps.Ok($"Get-ImdsMetadata meta-data/instance-id -Endpoint '{ep}'").Output.Single().BaseObject);
        var values = _ps.Ok($"Get-ImdsMetadata -Category InstanceId, Region, AvailabilityZone, InstanceType, AccountId, RoleName, LocalIPv4, UserData -Endpoint '{ep}'").Output.Select(o => o.BaseObject).ToArray();
        Assert.Equal(new object[] { "i-0123456789abcdef0", "eu-west-1", "eu-west-1a", "t3.micro", "123456789012", "ImdsTroubleshootDemoRole", "172.31.20.15", "#!/bin/bash\necho hello from user-data\n" }, values);
        var doc = _ps.Ok($"Get-ImdsMetadata -Category IdentityDocument -Endpoint '{ep}'").Objects<ImdsIdentityDocument>().Single();
        Assert.Equal("eu-west-1", doc.Region);
        var tags = _ps.Ok($"Get-ImdsMetadata -Category Tags -Endpoint '{ep}'").Output.Single();
        Assert.Equal("imds-demo", tags.Properties["Name"].Value);
        Assert.Equal(new[] { "availability-zone", "availability-zone-id", "region" }, _ps.Ok($"Get-ImdsMetadata meta-data/placement/ -Endpoint '{ep}'").Output.Select(o => o.ToString()));
        var info = _ps.Ok($"Get-ImdsMetadata meta-data/iam/info -Endpoint '{ep}'").Output.Single();
        Assert.Equal("Success", info.Properties["Code"].Value);
        var piped = _ps.Ok($"'meta-data/mac', 'meta-data/ami-id' | Get-ImdsMetadata -Endpoint '{ep}'").Output.Select(o => o.ToString());
        Assert.Equal(new[] { "0a:1b:2c:3d:4e:5f", "ami-0abcdef1234567890" }, piped);
    }

    [Fact]
    public void Recurse_walks_the_tree_into_objects_with_typed_documents()
    {
        using var e = Start("Healthy");
        var items = _ps.Ok($"Get-ImdsMetadata -Recurse -Endpoint '{e.Endpoint}'").Objects<ImdsMetadataItem>().ToList();
        Assert.Equal(e.Content.Paths.Count(p => p.StartsWith("meta-data/", StringComparison.Ordinal) && !p.StartsWith("meta-data/tags/", StringComparison.Ordinal) && !p.EndsWith('/')), items.Count);
        Assert.IsType<ImdsRoleCredential>(items.Single(i => i.Kind == "Credential").Value);
        Assert.Equal("eu-west-1", items.Single(i => i.Path == "/latest/meta-data/placement/region").Value);
        var region = _ps.Ok($"Get-ImdsMetadata dynamic/ -Recurse -Endpoint '{e.Endpoint}' | Where-Object Kind -eq IdentityDocument | ForEach-Object {{ $_.Value.Region }}");
        Assert.Equal("eu-west-1", region.Output.Single().BaseObject);
    }

    [Fact]
    public void The_articles_no_proxy_fix_is_enough_for_the_probe()
    {
        using var e = Start("Healthy");
        var env = new System.Collections.Generic.Dictionary<string, string?> { ["HTTP_PROXY"] = "http://127.0.0.1:3128", ["http_proxy"] = "http://127.0.0.1:3128", ["NO_PROXY"] = "169.254.169.254", ["no_proxy"] = "169.254.169.254" };
        var r = Cli.Run(new[] { "--json", $"Test-ImdsEndpoint -Endpoint {e.Endpoint} -TimeoutSec 3 | Where-Object Step -eq Environment | ForEach-Object Outcome" }, env);
        Assert.Contains("Ok", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void The_identity_source_explains_a_refused_connection()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var source = new ImdsTroubleshoot.Engine.Client.ImdsInstanceIdentitySource(new Uri($"http://127.0.0.1:{port}/"));
        var ex = Assert.Throws<ImdsTroubleshoot.Engine.Ec2.InstanceIdentityUnavailableException>(() => source.TryGetAsync(System.Threading.CancellationToken.None).GetAwaiter().GetResult());
        Assert.Contains("refused", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Items_from_a_walk_pipe_into_another_read_with_verbose_on()
    {
        using var e = Start("Healthy");
        var r = _ps.Ok($"Get-ImdsMetadata meta-data/placement/ -Recurse -Endpoint '{e.Endpoint}' | Get-ImdsMetadata -Endpoint '{e.Endpoint}' -Verbose");
        Assert.Equal(new[] { "eu-west-1a", "euw1-az1", "eu-west-1" }, r.Output.Select(o => o.ToString()));
        Assert.Contains(r.Verbose, v => v.StartsWith("GET /latest/meta-data/placement/region with a token: HTTP 200", StringComparison.Ordinal));
    }

    [Fact]
    public void Instance_identity_credentials_are_secret_too()
    {
        string file = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"imds-idcred-{Guid.NewGuid():N}.json");
        System.IO.File.WriteAllText(file, "{ \"meta-data/identity-credentials/ec2/security-credentials/ec2-instance\": { \"$generate\": \"credentials\" }, \"meta-data/instance-id\": \"i-1\" }");
        try
        {
            var e = _ps.Ok($"Start-ImdsEmulator -Name test-idcred -ContentPath '{file}'").Objects<ImdsEmulator>().Single();
            var r = _ps.Ok($"Get-ImdsMetadata meta-data/identity-credentials/ -Recurse -Endpoint '{e.Endpoint}'");
            var credential = Assert.IsType<ImdsRoleCredential>(r.Objects<ImdsMetadataItem>().Single().Value);
            Assert.Equal("ec2-instance", credential.RoleName);
            Assert.DoesNotContain(credential.GetSecretAccessKey(), r.AllText(), StringComparison.Ordinal);
        }
        finally
        {
            System.IO.File.Delete(file);
        }
    }

    [Fact]
    public void Get_survives_a_throttled_service_within_its_bound()
    {
        using var e = Start("Throttled", s => s with { ThrottleRequestsPerSecond = 20, ThrottleBurst = 5 });
        var sw = Stopwatch.StartNew();
        var r = _ps.Ok($"Get-ImdsMetadata meta-data/network/ -Recurse -Endpoint '{e.Endpoint}' -TotalTimeoutSec 20");
        Assert.Equal(e.Content.Paths.Count(p => p.StartsWith("meta-data/network/", StringComparison.Ordinal)), r.Objects<ImdsMetadataItem>().Count());
        Assert.Contains(e.GetRequestLog(), x => x.StatusCode == 429);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), sw.Elapsed.ToString());
    }

    [Theory]
    [InlineData("Get-ImdsMetadata meta-data/no-such-item", "ImdsPathNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData("Get-ImdsMetadata '../etc/passwd'", "ImdsInvalidPath", ErrorCategory.InvalidArgument)]
    public void Read_failures_are_clear_errors(string script, string errorId, ErrorCategory category)
    {
        using var e = Start("Healthy");
        var error = Assert.Single(_ps.Invoke(script + $" -Endpoint '{e.Endpoint}'").AllErrors);
        Assert.StartsWith(errorId + ",", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(category, error.CategoryInfo.Category);
    }

    [Fact]
    public void Endpoint_disabled_read_is_forbidden_with_the_probe_as_next_step()
    {
        using var e = Start("EndpointDisabled");
        var error = Assert.Single(_ps.Invoke($"Get-ImdsMetadata meta-data/instance-id -Endpoint '{e.Endpoint}'").AllErrors);
        Assert.StartsWith("ImdsForbidden,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Contains("Test-ImdsEndpoint", error.ErrorDetails.RecommendedAction, StringComparison.Ordinal);
    }

    [Fact]
    public void Garbage_and_black_holes_are_errors_in_bounded_time()
    {
        using var garbage = RawServer.Garbage();
        var g = Assert.Single(_ps.Invoke($"Get-ImdsMetadata meta-data/instance-id -Endpoint '{garbage.Endpoint}' -TotalTimeoutSec 3").AllErrors);
        Assert.StartsWith("ImdsInvalidResponse,", g.FullyQualifiedErrorId, StringComparison.Ordinal);
        using var hole = RawServer.BlackHole();
        var sw = Stopwatch.StartNew();
        var h = Assert.Single(_ps.Invoke($"Get-ImdsMetadata meta-data/instance-id -Endpoint '{hole.Endpoint}' -TimeoutSec 0.5 -TotalTimeoutSec 2").AllErrors);
        Assert.StartsWith("ImdsTimeout,", h.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), sw.Elapsed.ToString());
        var probe = Probe(hole.Endpoint, "-TimeoutSec 0.5");
        Assert.Equal(ProbeOutcome.NoResponse, Step(probe, ProbeStep.Token).Outcome);
    }

    [Fact]
    public void The_environment_endpoint_and_switches_are_honoured()
    {
        using var e = Start("TokensRequired");
        var env = new System.Collections.Generic.Dictionary<string, string?> { ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = e.Endpoint.ToString().TrimEnd('/') };
        var r = Cli.Run(new[] { "Get-ImdsMetadata -Category InstanceId" }, env);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("i-0123456789abcdef0", r.Stdout.Trim());

        env["AWS_EC2_METADATA_DISABLED"] = "true";
        var disabled = Cli.Run(new[] { "Get-ImdsMetadata -Category InstanceId" }, env);
        Assert.Equal(1, disabled.ExitCode);
        Assert.Contains("AWS_EC2_METADATA_DISABLED", disabled.Stderr, StringComparison.Ordinal);
        var probe = Cli.Run(new[] { "--json", "Test-ImdsEndpoint" }, env);
        Assert.Contains("\"Outcome\": \"DisabledByEnvironment\"", probe.Stdout, StringComparison.Ordinal);
    }
}
