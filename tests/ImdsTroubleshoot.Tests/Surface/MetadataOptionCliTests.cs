using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>
/// The metadata-option cmdlets in separate processes (the imds-troubleshoot host), where the environment is the
/// user's: the SDK's default credential and Region chains, shared config files, AWS_ENDPOINT_URL_EC2, and a session
/// that already holds another AWS SDK.
/// </summary>
public sealed class MetadataOptionCliTests : IDisposable
{
    private readonly FakeEc2 _fake = new();

    public MetadataOptionCliTests()
    {
        _fake.Add("i-0123456789abcdef0", "web-1", i => i.HttpEndpoint = "disabled");
        _fake.Add("i-0fedcba9876543210", "api-1", i => i.HttpTokens = "required");
    }

    public void Dispose() => _fake.Dispose();

    private static Dictionary<string, string?> Env(Action<Dictionary<string, string?>>? change = null, Uri? endpoint = null, string? region = "eu-west-1", bool credentials = true)
    {
        var env = AwsEnvironment.For(endpoint, region, credentials);
        change?.Invoke(env);
        return env;
    }

    private static string[] Lines(ProcessResult r) => r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    private static string CatchId(string command) =>
        "try { " + command + " -ErrorAction Stop } catch { \"$($_.FullyQualifiedErrorId)|$($_.CategoryInfo.Category)\"; \"$($_.Exception.Message)\" }";

    [Fact]
    public void Environment_credentials_Region_and_AWS_ENDPOINT_URL_EC2_are_used_as_the_SDK_does()
    {
        var r = Cli.Run(new[] { "--verbose", "Get-ImdsMetadataOption -All | ForEach-Object { $_.InstanceId + ' ' + $_.Region + ' ' + $_.Assessment }" }, Env(endpoint: _fake.Url));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(new[] { "i-0123456789abcdef0 eu-west-1 IMDS off", "i-0fedcba9876543210 eu-west-1 hop limit 1: a risk if it runs containers" }, Lines(r));
        var request = _fake.Requests.Single();
        Assert.Equal((AwsEnvironment.AccessKeyId, "eu-west-1"), (request.AccessKeyId, request.SigningRegion));
        Assert.Contains("app/ImdsTroubleshoot", request.UserAgent, StringComparison.Ordinal);
        Assert.Contains("(AWS_ENDPOINT_URL_EC2), credentials from environment variables (AWS_ACCESS_KEY_ID)", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void With_no_instance_given_it_finds_its_own_instance_and_Region_through_IMDS()
    {
        using var emulator = ImdsTroubleshoot.Engine.Emulator.ImdsEmulator.Start(new ImdsTroubleshoot.Engine.Emulator.EmulatorOptions
        {
            Name = "test-self-cli",
            Settings = new ImdsTroubleshoot.Engine.Emulator.EmulatorSettings { HttpTokens = ImdsTroubleshoot.Engine.Emulator.HttpTokensState.Required },
        });
        var env = Env(e =>
        {
            e["AWS_EC2_METADATA_DISABLED"] = null;
            e["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = emulator.Endpoint.ToString();
        }, endpoint: _fake.Url, region: null);
        var r = Cli.Run(new[] { "Get-ImdsMetadataOption | ForEach-Object { $_.InstanceId + ' ' + $_.Region + ' ' + $_.Assessment }" }, env);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("i-0123456789abcdef0 eu-west-1 IMDS off", r.Stdout.Trim());
        Assert.Contains(emulator.GetRequestLog(), x => x.Path == "/latest/dynamic/instance-identity/document" && x.Kind == ImdsTroubleshoot.Engine.Emulator.ImdsRequestKind.V2 && x.StatusCode == 200);
        Assert.Equal("eu-west-1", _fake.Requests.Single().SigningRegion);
    }

    [Fact]
    public void ProfileName_takes_keys_and_Region_from_the_shared_files_over_the_environment()
    {
        string dir = Directory.CreateTempSubdirectory("imds-aws-profile-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config"), "[default]\nregion = sa-east-1\n\n[profile dev]\nregion = ap-northeast-1\n");
            File.WriteAllText(Path.Combine(dir, "credentials"), "[dev]\naws_access_key_id = AKIDPROFILEDEV0001\naws_secret_access_key = profile-secret-not-real\n");
            var env = Env(e =>
            {
                e["AWS_CONFIG_FILE"] = Path.Combine(dir, "config");
                e["AWS_SHARED_CREDENTIALS_FILE"] = Path.Combine(dir, "credentials");
            });
            var r = Cli.Run(new[] { $"(Get-ImdsMetadataOption -InstanceId i-0fedcba9876543210 -ProfileName dev -EndpointUrl {_fake.Url}).Region" }, env);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal("ap-northeast-1", r.Stdout.Trim());
            Assert.Equal(("AKIDPROFILEDEV0001", "ap-northeast-1"), (_fake.Requests.Single().AccessKeyId, _fake.Requests.Single().SigningRegion));
            Assert.DoesNotContain("profile-secret-not-real", r.Combined, StringComparison.Ordinal);

            var missing = Cli.Run(new[] { CatchId($"Get-ImdsMetadataOption -All -ProfileName nope -EndpointUrl {_fake.Url}") }, env);
            Assert.Equal("AwsProfileNotFound,ImdsTroubleshoot.Commands.GetImdsMetadataOptionCommand|ObjectNotFound", Lines(missing)[0]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void No_credentials_anywhere_is_AwsCredentialsNotFound_before_any_call()
    {
        var r = Cli.Run(new[] { CatchId($"Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -EndpointUrl {_fake.Url}") }, Env(credentials: false));
        var lines = Lines(r);
        Assert.Equal("AwsCredentialsNotFound,ImdsTroubleshoot.Commands.GetImdsMetadataOptionCommand|AuthenticationError", lines[0]);
        Assert.Contains("No AWS credentials were found", lines[1], StringComparison.Ordinal);
        Assert.Equal(0, _fake.TotalCalls);
    }

    [Fact]
    public void No_Region_anywhere_is_AwsRegionNotFound_before_any_call()
    {
        var r = Cli.Run(new[] { CatchId("Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0") }, Env(region: null));
        var lines = Lines(r);
        Assert.Equal("AwsRegionNotFound,ImdsTroubleshoot.Commands.GetImdsMetadataOptionCommand|InvalidArgument", lines[0]);
        Assert.Contains("Pass -Region", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void WhatIf_names_the_instance_and_the_change_and_changes_nothing()
    {
        var r = Cli.Run(new[] { $"Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0, i-0fedcba9876543210 -HttpEndpoint Enabled -HttpTokens Required -EndpointUrl {_fake.Url} -WhatIf" }, Env());
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(new[]
        {
            "What if: Performing the operation \"Set HttpEndpoint disabled -> enabled, HttpTokens optional -> required\" on target \"EC2 instance i-0123456789abcdef0 (web-1) in eu-west-1\".",
        }, Lines(r));
        Assert.Equal(0, _fake.Calls("ModifyInstanceMetadataOptions"));
    }

    [Fact]
    public void Adaptive_retry_mode_from_the_environment_does_not_turn_one_throttle_into_a_failure()
    {
        // AWS_RETRY_MODE=adaptive makes the SDK give up after the first throttle; the module sets Standard in code.
        _fake.ThrottleNext(1);
        var r = Cli.Run(new[] { $"(Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -EndpointUrl {_fake.Url}).InstanceId" }, Env(e => e["AWS_RETRY_MODE"] = "adaptive"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("i-0123456789abcdef0", r.Stdout.Trim());
        Assert.Equal(2, _fake.Calls("DescribeInstances"));
    }

    [Fact]
    public void Works_in_a_session_that_loaded_another_AWSSDK_Core_first_and_leaves_that_SDK_working()
    {
        string core37 = Repo.Fixture("AwsSdkCore37/AWSSDK.Core.dll");
        Assert.True(File.Exists(core37), core37);
        _fake.RequiredAccessKeyId = "AKIDFROMOLDSDK00001";
        string script = string.Join("\n", new[]
        {
            "Remove-Module ImdsTroubleshoot",
            $"$old = [System.Reflection.Assembly]::LoadFrom('{core37}')",
            "\"old=$([System.Diagnostics.FileVersionInfo]::GetVersionInfo($old.Location).FileVersion)\"",
            "Import-Module ImdsTroubleshoot",
            "$loaded = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -like 'AWSSDK*' -or $_.GetName().Name -eq 'ImdsTroubleshoot.Aws' } | ForEach-Object { $_.GetName().Name + '/' + $_.GetName().Version }",
            "\"afterImport=$($loaded -join ',')\"",
            // AWS.Tools' session credentials as the OLD SDK's object: our cmdlet must read them across SDK copies.
            "$StoredAWSCredentials = $old.GetType('Amazon.Runtime.BasicAWSCredentials')::new('AKIDFROMOLDSDK00001', 'old-sdk-secret-not-real')",
            "$StoredAWSRegion = 'eu-west-1'",
            $"$r = @(Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0, i-0fedcba9876543210 -EndpointUrl {_fake.Url})",
            "\"results=$(($r | ForEach-Object { $_.InstanceId + ':' + $_.HttpEndpoint }) -join ',')\"",
            "foreach ($ctx in [System.Runtime.Loader.AssemblyLoadContext]::All) { foreach ($a in $ctx.Assemblies) { if ($a.GetName().Name -in 'AWSSDK.Core', 'AWSSDK.EC2', 'ImdsTroubleshoot.Aws') { \"ctx=$($ctx.Name):$($a.GetName().Name)/$([System.Diagnostics.FileVersionInfo]::GetVersionInfo($a.Location).FileVersion)\" } } }",
            // The old SDK still works after ours: its credentials, and its own HTTP call to IMDS (the embedded emulator).
            "\"oldcreds=$($StoredAWSCredentials.GetCredentials().AccessKey)\"",
            "$imds = Start-ImdsEmulator -Name old-sdk; $env:AWS_EC2_METADATA_SERVICE_ENDPOINT = $imds.Endpoint.AbsoluteUri",
            "\"oldimds=$($old.GetType('Amazon.Util.EC2InstanceMetadata')::InstanceId)\"",
        });
        var env = Env(e => e["AWS_EC2_METADATA_DISABLED"] = null, credentials: false);
        var r = Cli.Run(new[] { script }, env);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = Lines(r);

        Assert.Equal("old=3.7.402.0", lines[0]);
        Assert.Equal("afterImport=AWSSDK.Core/3.3.0.0", lines[1]); // importing loaded nothing of ours
        Assert.Equal("results=i-0123456789abcdef0:Disabled,i-0fedcba9876543210:Enabled", lines[2]);
        Assert.Equal(new[]
        {
            "ctx=Default:AWSSDK.Core/3.7.402.0",
            "ctx=ImdsTroubleshoot.Dependencies:AWSSDK.Core/4.0.102.19",
            "ctx=ImdsTroubleshoot.Dependencies:AWSSDK.EC2/4.0.132.2",
            "ctx=ImdsTroubleshoot.Dependencies:ImdsTroubleshoot.Aws/0.1.0.0",
        }, lines.Where(l => l.StartsWith("ctx=", StringComparison.Ordinal)).OrderBy(l => l, StringComparer.Ordinal));
        Assert.Contains("oldcreds=AKIDFROMOLDSDK00001", lines);
        Assert.Contains("oldimds=i-0123456789abcdef0", lines);
        Assert.All(_fake.Requests, q => Assert.Equal("AKIDFROMOLDSDK00001", q.AccessKeyId));
        Assert.DoesNotContain("old-sdk-secret-not-real", r.Combined, StringComparison.Ordinal);
    }
}
