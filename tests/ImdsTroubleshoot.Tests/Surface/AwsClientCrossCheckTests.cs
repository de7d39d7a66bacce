using System;
using System.Collections.Generic;
using System.Linq;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>Runs alone: these tests point process-wide environment variables at an emulator.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "Process environment";
}

/// <summary>
/// Clients that AWS wrote read from the emulator as from the real service: AWSSDK.Core's EC2InstanceMetadata in
/// process, and the AWS CLI v2 (botocore) as a separate program. And they fail as their docs say.
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class AwsClientCrossCheckTests
{
    private const string AwsCli = "/usr/bin/aws";

    private static ImdsEmulator Start(string scenario) => ImdsEmulator.Start(new EmulatorOptions
    {
        Name = "test-sdk-" + scenario,
        ScenarioName = scenario,
        Settings = EmulatorScenario.Get(scenario).Settings,
    });

    /// <summary>
    /// AWSSDK.Core in a fresh process (its EC2InstanceMetadata keeps static caches), loaded into the imds-troubleshoot
    /// host with Assembly.LoadFrom and pointed at the emulator through AWS_EC2_METADATA_SERVICE_ENDPOINT.
    /// </summary>
    private static string[] DotnetSdk(ImdsEmulator emulator)
    {
        var r = Support.Cli.Run(
            new[] { $"[void][System.Reflection.Assembly]::LoadFrom('{Repo.AwsSdkCoreDll}'); $m = [Amazon.Util.EC2InstanceMetadata]; \"id=$($m::InstanceId)\"; \"region=$($m::Region.SystemName)\"; $c = $m::IAMSecurityCredentials; if ($c) {{ foreach ($k in $c.Keys) {{ \"role=$k key=$($c[$k].AccessKeyId) code=$($c[$k].Code)\" }} }} else {{ 'role=' }}" },
            new Dictionary<string, string?> { ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = emulator.Endpoint.ToString() });
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToArray();
    }

    [Theory]
    [InlineData("Healthy")]
    [InlineData("TokensRequired")]
    public void AwsSdk_dotnet_reads_instance_id_region_and_role_credentials_over_imdsv2(string scenario)
    {
        using var emulator = Start(scenario);
        var lines = DotnetSdk(emulator);
        Assert.Equal("id=i-0123456789abcdef0", lines[0]);
        Assert.Equal("region=eu-west-1", lines[1]);
        Assert.Matches(@"^role=ImdsTroubleshootDemoRole key=ASIA\w{16} code=Success$", lines[2]);

        var log = emulator.GetRequestLog();
        Assert.Contains(log, r => r.Kind == ImdsRequestKind.TokenRequest && r.StatusCode == 200);
        Assert.DoesNotContain(log, r => r.Kind == ImdsRequestKind.V1);
        Assert.All(log.Where(r => r.Kind == ImdsRequestKind.V2), r => Assert.Equal(200, r.StatusCode));
    }

    [Fact]
    public void AwsSdk_dotnet_gets_nothing_when_the_endpoint_is_disabled()
    {
        using var emulator = Start("EndpointDisabled");
        var lines = DotnetSdk(emulator);
        Assert.Equal(new[] { "id=", "region=", "role=" }, lines);
        Assert.Contains(emulator.GetRequestLog(), r => r.StatusCode == 403);
    }

    private static ProcessResult RunAwsCli(ImdsEmulator emulator, params string[] args)
    {
        var env = new Dictionary<string, string?>
        {
            ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = emulator.Endpoint.ToString(),
            ["AWS_CONFIG_FILE"] = "/nonexistent/config",
            ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials",
            ["AWS_ACCESS_KEY_ID"] = null,
            ["AWS_SECRET_ACCESS_KEY"] = null,
            ["AWS_SESSION_TOKEN"] = null,
            ["AWS_PROFILE"] = null,
            ["AWS_REGION"] = null,
            ["AWS_DEFAULT_REGION"] = null,
            ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = null,
            ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = null,
            ["HTTP_PROXY"] = null,
            ["http_proxy"] = null,
            ["HTTPS_PROXY"] = null,
            ["https_proxy"] = null,
            ["AWS_PAGER"] = string.Empty,
        };
        return ProcessRunner.Run(AwsCli, args, TimeSpan.FromSeconds(60), env);
    }

    [Fact]
    public void Aws_cli_v2_takes_role_credentials_and_region_from_the_emulator_over_imdsv2()
    {
        using var emulator = Start("TokensRequired");
        var list = RunAwsCli(emulator, "configure", "list");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Matches(@"access_key\s+\*+\w{4}\s+iam-role", list.Stdout);

        // A signed call to a local stand-in for STS: the signature's credential scope carries the region, and the
        // access key is the emulator's. No traffic leaves loopback.
        using var sts = new CaptureServer(_ => (200, "text/xml",
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:sts::123456789012:assumed-role/ImdsTroubleshootDemoRole/i-0123456789abcdef0</Arn><UserId>AROAEXAMPLE:i-0123456789abcdef0</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"));
        var call = RunAwsCli(emulator, "sts", "get-caller-identity", "--endpoint-url", sts.Url.ToString(), "--output", "text");
        Assert.True(call.ExitCode == 0, call.ToString());
        Assert.Contains("123456789012", call.Stdout, StringComparison.Ordinal);
        string request = Assert.Single(sts.Requests);
        Assert.Matches(@"Credential=ASIA\w+/\d{8}/eu-west-1/sts/aws4_request", request);
        Assert.Contains("X-Amz-Security-Token: IQoJb3JpZ2luX2VjE", request, StringComparison.Ordinal);

        var log = emulator.GetRequestLog();
        Assert.Contains(log, r => r.Kind == ImdsRequestKind.TokenRequest && r.StatusCode == 200);
        Assert.DoesNotContain(log, r => r.Kind == ImdsRequestKind.V1);
    }

    [Fact]
    public void Aws_cli_v2_finds_no_credentials_when_the_endpoint_is_disabled()
    {
        using var emulator = Start("EndpointDisabled");
        var list = RunAwsCli(emulator, "configure", "list");
        Assert.Matches(@"access_key\s+<not set>", list.Stdout);
        Assert.Contains(emulator.GetRequestLog(), r => r.StatusCode == 403);
    }
}
