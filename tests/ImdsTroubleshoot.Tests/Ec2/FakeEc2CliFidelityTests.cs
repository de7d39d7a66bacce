using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ec2;

/// <summary>
/// The fake EC2 endpoint is only worth what an independent client says of it: the AWS CLI v2 (its own botocore and
/// EC2 model) must parse every answer the metadata-option cmdlets rely on, page, filter and fail the way it does
/// against EC2.
/// </summary>
public sealed class FakeEc2CliFidelityTests : IDisposable
{
    private readonly FakeEc2 _fake = new();

    public FakeEc2CliFidelityTests()
    {
        _fake.Add("i-0123456789abcdef0", "web-1", i =>
        {
            i.HttpEndpoint = "disabled";
            i.Tags["Env"] = "prod";
        });
        _fake.Add("i-0fedcba9876543210", "win-1", i =>
        {
            i.Platform = "windows";
            i.HttpTokens = "required";
            i.HttpPutResponseHopLimit = 2;
            i.HttpProtocolIpv6 = "enabled";
            i.InstanceMetadataTags = "enabled";
            i.Tags["Env"] = "test";
        });
        _fake.AddMany(3, (n, i) => i.Tags["Env"] = "prod");
    }

    public void Dispose() => _fake.Dispose();

    private ProcessResult Aws(params string[] args) =>
        ProcessRunner.Run(AwsEnvironment.AwsCliV2, args.Concat(new[] { "--endpoint-url", _fake.Url.ToString(), "--region", "eu-west-1", "--output", "json" }), TimeSpan.FromSeconds(60), AwsEnvironment.For());

    private static JsonElement[] Instances(ProcessResult r)
    {
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.False(doc.RootElement.TryGetProperty("NextToken", out _), "the CLI merged every page");
        return doc.RootElement.GetProperty("Reservations").EnumerateArray()
            .SelectMany(res => res.GetProperty("Instances").EnumerateArray()).Select(e => e.Clone()).ToArray();
    }

    [Fact]
    public void Describe_instances_parses_instances_tags_state_platform_and_metadata_options()
    {
        var instances = Instances(Aws("ec2", "describe-instances"));
        Assert.Equal(5, instances.Length);
        var request = Assert.Single(_fake.Requests);
        Assert.False(request.Parameters.ContainsKey("MaxResults"), "the CLI sends no MaxResults unless --page-size");
        Assert.StartsWith("aws-cli/2.", request.UserAgent, StringComparison.Ordinal);
        Assert.Equal("eu-west-1", request.SigningRegion);
        Assert.Equal(AwsEnvironment.AccessKeyId, request.AccessKeyId);

        var web = instances.Single(i => i.GetProperty("InstanceId").GetString() == "i-0123456789abcdef0");
        Assert.Equal("running", web.GetProperty("State").GetProperty("Name").GetString());
        Assert.Equal(16, web.GetProperty("State").GetProperty("Code").GetInt32());
        Assert.Contains(web.GetProperty("Tags").EnumerateArray(), t => t.GetProperty("Key").GetString() == "Name" && t.GetProperty("Value").GetString() == "web-1");
        Assert.False(web.TryGetProperty("Platform", out _));
        var m = web.GetProperty("MetadataOptions");
        Assert.Equal("applied", m.GetProperty("State").GetString());
        Assert.Equal("optional", m.GetProperty("HttpTokens").GetString());
        Assert.Equal(1, m.GetProperty("HttpPutResponseHopLimit").GetInt32());
        Assert.Equal("disabled", m.GetProperty("HttpEndpoint").GetString());
        Assert.Equal("disabled", m.GetProperty("HttpProtocolIpv6").GetString());
        Assert.Equal("disabled", m.GetProperty("InstanceMetadataTags").GetString());

        var win = instances.Single(i => i.GetProperty("InstanceId").GetString() == "i-0fedcba9876543210");
        Assert.Equal("windows", win.GetProperty("Platform").GetString());
        var wm = win.GetProperty("MetadataOptions");
        Assert.Equal(("required", 2, "enabled", "enabled"), (wm.GetProperty("HttpTokens").GetString(), wm.GetProperty("HttpPutResponseHopLimit").GetInt32(), wm.GetProperty("HttpProtocolIpv6").GetString(), wm.GetProperty("InstanceMetadataTags").GetString()));
    }

    [Fact]
    public void The_CLI_paginator_follows_NextToken_with_page_size()
    {
        _fake.AddMany(8, idOffset: 100);
        var instances = Instances(Aws("ec2", "describe-instances", "--page-size", "5"));
        Assert.Equal(13, instances.Select(i => i.GetProperty("InstanceId").GetString()).Distinct().Count());
        var requests = _fake.Requests;
        Assert.Equal(3, requests.Count);
        Assert.All(requests, r => Assert.Equal("5", r.Parameters["MaxResults"]));
        Assert.Equal(new[] { false, true, true }, requests.Select(r => r.Parameters.ContainsKey("NextToken")));
    }

    [Fact]
    public void Filters_and_instance_ids_select_what_EC2_would()
    {
        var prodOptional = Instances(Aws("ec2", "describe-instances", "--filters", "Name=tag:Env,Values=prod", "Name=metadata-options.http-tokens,Values=optional",
            "Name=metadata-options.http-endpoint,Values=enabled"));
        Assert.Equal(new[] { "fleet-1", "fleet-2", "fleet-3" }, prodOptional.Select(i => i.GetProperty("Tags").EnumerateArray().First(t => t.GetProperty("Key").GetString() == "Name").GetProperty("Value").GetString()));

        var wildcard = Instances(Aws("ec2", "describe-instances", "--filters", "Name=tag:Name,Values=w*"));
        Assert.Equal(2, wildcard.Length);

        var byId = Instances(Aws("ec2", "describe-instances", "--instance-ids", "i-0fedcba9876543210", "i-00000000000000002"));
        Assert.Equal(new[] { "i-0fedcba9876543210", "i-00000000000000002" }, byId.Select(i => i.GetProperty("InstanceId").GetString()));
        Assert.Equal("i-0fedcba9876543210", _fake.Requests.Last().Parameters["InstanceId.1"]);

        var query = Aws("ec2", "describe-instances", "--instance-ids", "i-0123456789abcdef0", "--query", "Reservations[].Instances[].MetadataOptions");
        Assert.True(query.ExitCode == 0, query.ToString());
        Assert.Contains("\"HttpEndpoint\": \"disabled\"", query.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("i-0000000000000dead", "InvalidInstanceID.NotFound", "The instance ID 'i-0000000000000dead' does not exist")]
    [InlineData("i-123", "InvalidInstanceID.Malformed", "Invalid id: \"i-123\"")]
    public void Bad_instance_ids_fail_with_the_EC2_code_and_message(string id, string code, string message)
    {
        var r = Aws("ec2", "describe-instances", "--instance-ids", id);
        Assert.Equal(254, r.ExitCode);
        Assert.Contains($"An error occurred ({code}) when calling the DescribeInstances operation: {message}", r.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, _fake.Calls("DescribeInstances"));
    }

    [Fact]
    public void Two_unknown_ids_get_the_plural_message()
    {
        var r = Aws("ec2", "describe-instances", "--instance-ids", "i-0000000000000dead", "i-0000000000000beef", "i-00000000000000001");
        Assert.Equal(254, r.ExitCode);
        Assert.Contains("The instance IDs 'i-0000000000000dead, i-0000000000000beef' do not exist", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void UnauthorizedOperation_is_a_403_the_CLI_does_not_retry()
    {
        _fake.DeniedActions.Add("ModifyInstanceMetadataOptions");
        var r = Aws("ec2", "modify-instance-metadata-options", "--instance-id", "i-0123456789abcdef0", "--http-endpoint", "enabled");
        Assert.Equal(254, r.ExitCode);
        Assert.Contains("(UnauthorizedOperation) when calling the ModifyInstanceMetadataOptions operation: You are not authorized to perform this operation.", r.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, _fake.Calls("ModifyInstanceMetadataOptions"));
        Assert.Equal(403, _fake.Requests.Single().Status);
    }

    [Fact]
    public void RequestLimitExceeded_is_retried_by_the_CLI_standard_mode_then_reported()
    {
        _fake.ThrottleAll = true;
        var r = Aws("ec2", "describe-instances");
        Assert.Equal(254, r.ExitCode);
        Assert.Contains("(RequestLimitExceeded) when calling the DescribeInstances operation (reached max retries: 2): Request limit exceeded.", r.Stderr, StringComparison.Ordinal);
        Assert.Equal(3, _fake.Calls("DescribeInstances"));
        Assert.All(_fake.Requests, q => Assert.Equal(503, q.Status));
    }

    [Fact]
    public void Modify_answers_pending_with_the_new_values_then_describe_shows_applied()
    {
        _fake.ApplyDelay = TimeSpan.FromMilliseconds(500);
        var r = Aws("ec2", "modify-instance-metadata-options", "--instance-id", "i-0123456789abcdef0", "--http-endpoint", "enabled", "--http-tokens", "required", "--http-put-response-hop-limit", "2");
        Assert.True(r.ExitCode == 0, r.ToString());
        using (var doc = JsonDocument.Parse(r.Stdout))
        {
            Assert.Equal("i-0123456789abcdef0", doc.RootElement.GetProperty("InstanceId").GetString());
            var m = doc.RootElement.GetProperty("InstanceMetadataOptions");
            Assert.Equal("pending", m.GetProperty("State").GetString());
            Assert.Equal("enabled", m.GetProperty("HttpEndpoint").GetString());
            Assert.Equal("required", m.GetProperty("HttpTokens").GetString());
            Assert.Equal(2, m.GetProperty("HttpPutResponseHopLimit").GetInt32());
        }

        var sent = _fake.Requests.Single().Parameters;
        Assert.Equal(("enabled", "required", "2"), (sent["HttpEndpoint"], sent["HttpTokens"], sent["HttpPutResponseHopLimit"]));
        Assert.False(sent.ContainsKey("HttpProtocolIpv6"), "only the options given are sent");

        Thread.Sleep(700);
        var after = Instances(Aws("ec2", "describe-instances", "--instance-ids", "i-0123456789abcdef0")).Single().GetProperty("MetadataOptions");
        Assert.Equal(("applied", "enabled", "required"), (after.GetProperty("State").GetString(), after.GetProperty("HttpEndpoint").GetString(), after.GetProperty("HttpTokens").GetString()));
    }

    [Fact]
    public void A_page_size_outside_5_to_1000_is_refused_as_by_EC2()
    {
        var r = Aws("ec2", "describe-instances", "--max-results", "2");
        Assert.Equal(254, r.ExitCode);
        Assert.Contains("(InvalidParameterValue) when calling the DescribeInstances operation: Value ( 2 ) for parameter maxResults is invalid.", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_hop_limit_is_refused_by_the_fake_as_by_EC2()
    {
        var r = Aws("ec2", "modify-instance-metadata-options", "--instance-id", "i-0123456789abcdef0", "--http-put-response-hop-limit", "65");
        Assert.Equal(254, r.ExitCode);
        Assert.Contains("(InvalidParameterValue)", r.Stderr, StringComparison.Ordinal);
    }
}
