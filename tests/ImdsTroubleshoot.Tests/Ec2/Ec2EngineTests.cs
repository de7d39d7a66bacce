using System;
using System.Collections;
using System.Linq;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Emulator;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ec2;

/// <summary>Validation, chunking, filters, changes and the assessment: the engine's plain logic.</summary>
public sealed class Ec2EngineTests
{
    [Theory]
    [InlineData("i-0123456789abcdef0", true)]
    [InlineData("i-12345678", true)]
    [InlineData("i-123", false)]
    [InlineData("i-0123456789ABCDEF0", false)]
    [InlineData("i-0123456789abcdef", false)]
    [InlineData("i-0123456789abcdef0 ", false)]
    [InlineData("0123456789abcdef0", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Instance_ids_are_i_and_8_or_17_lowercase_hex_digits(string? id, bool valid)
    {
        Assert.Equal(valid, Ec2InstanceId.IsValid(id));
        Assert.Equal(valid, Ec2InstanceId.Problem(id) is null);
    }

    [Fact]
    public void A_malformed_id_gets_a_reason_with_the_EC2_code_and_a_hint()
    {
        Assert.Contains("InvalidInstanceID.Malformed", Ec2InstanceId.Problem("i-123"), StringComparison.Ordinal);
        Assert.Contains("lowercase", Ec2InstanceId.Problem("I-0123456789ABCDEF0"), StringComparison.Ordinal);
    }

    [Fact]
    public void Instance_ids_are_found_in_EC2_NotFound_messages()
    {
        Assert.Equal(new[] { "i-0000000000000abcd", "i-12345678" },
            Ec2InstanceId.FindIn("InvalidInstanceID.NotFound: The instance IDs 'i-0000000000000abcd, i-12345678' do not exist"));
        Assert.Equal(new[] { "i-0123456789abcdef0" }, Ec2InstanceId.FindIn("The instance ID 'i-0123456789abcdef0' does not exist"));
        Assert.Empty(Ec2InstanceId.FindIn("The instance ID does not exist"));
    }

    [Fact]
    public void Chunks_keep_order_and_respect_the_size()
    {
        var chunks = Chunking.Chunk(Enumerable.Range(1, 2501), Ec2Limits.MaxInstanceIdsPerCall).ToList();
        Assert.Equal(new[] { 1000, 1000, 501 }, chunks.Select(c => c.Count));
        Assert.Equal(Enumerable.Range(1, 2501), chunks.SelectMany(c => c));
        Assert.Empty(Chunking.Chunk(Array.Empty<int>(), 5));
        Assert.Equal(new[] { "b", "a", "c" }, Chunking.Distinct(new[] { "b", "a", "b", "c", "a" }));
    }

    [Fact]
    public void Filters_come_from_a_hashtable_with_one_value_or_many()
    {
        var filters = Ec2Filter.FromDictionary(new Hashtable { ["tag:Env"] = "prod", ["instance-state-name"] = new object[] { "running", "stopped" } })
            .OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        Assert.Equal("instance-state-name", filters[0].Name);
        Assert.Equal(new[] { "running", "stopped" }, filters[0].Values);
        Assert.Equal(new[] { "prod" }, filters[1].Values);
    }

    [Fact]
    public void Filters_outside_the_API_limits_are_refused_before_any_call()
    {
        Assert.Throws<ArgumentException>(() => new Ec2Filter("tag:Env", Enumerable.Range(0, 201).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        Assert.Throws<ArgumentException>(() => new Ec2Filter(" ", "x"));
        Assert.Throws<ArgumentException>(() => new Ec2Filter("tag:Env", Array.Empty<string>()));
        Assert.Throws<ArgumentException>(() => Ec2Filter.CheckSet(Enumerable.Range(0, 51).Select(i => new Ec2Filter("tag:K" + i, "v")).ToList()));
        Assert.Throws<ArgumentException>(() => Ec2Filter.CheckSet(new[] { new Ec2Filter("tag:Env", "a"), new Ec2Filter("tag:Env", "b") }));
        Ec2Filter.CheckSet(Enumerable.Range(0, 50).Select(i => new Ec2Filter("tag:K" + i, "v")).ToList());
    }

    [Fact]
    public void A_change_compares_against_the_current_options_and_says_from_and_to()
    {
        var current = new ImdsMetadataOption("i-0123456789abcdef0", "web-1", "running", MetadataOptionsState.Applied,
            FeatureState.Disabled, HttpTokensState.Optional, 2, FeatureState.Disabled, FeatureState.Disabled, "eu-west-1");
        var change = new MetadataOptionsChange { HttpEndpoint = FeatureState.Enabled, HttpTokens = HttpTokensState.Required, HttpPutResponseHopLimit = 2 };
        var differences = change.Compare(current);
        Assert.Equal("HttpEndpoint disabled -> enabled, HttpTokens optional -> required", MetadataOptionsChange.Describe(differences));
        Assert.Equal("HttpEndpoint -> enabled, HttpTokens -> required, HttpPutResponseHopLimit -> 2", MetadataOptionsChange.Describe(change.Compare(null)));
        Assert.False(change.IsSatisfiedBy(current));
        Assert.Equal("HttpEndpoint enabled, HttpTokens required, HttpPutResponseHopLimit 2", change.DescribeTarget());
        Assert.Equal("aws ec2 modify-instance-metadata-options --instance-id i-0123456789abcdef0 --http-endpoint enabled --http-tokens required --http-put-response-hop-limit 2 --region eu-west-1",
            change.ToAwsCli("i-0123456789abcdef0", "eu-west-1"));
    }

    [Fact]
    public void An_empty_change_or_a_hop_limit_outside_1_to_64_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new MetadataOptionsChange().Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new MetadataOptionsChange { HttpPutResponseHopLimit = 65 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new MetadataOptionsChange { HttpPutResponseHopLimit = 0 }.Validate());
    }

    private static ImdsMetadataOption Options(string endpoint, string tokens, int hop, string state = "applied", string instanceState = "running") =>
        ImdsMetadataOption.From(new Ec2InstanceRecord
        {
            InstanceId = "i-0123456789abcdef0",
            Name = "web-1",
            InstanceState = instanceState,
            MetadataOptions = new InstanceMetadataOptionsRecord { State = state, HttpEndpoint = endpoint, HttpTokens = tokens, HttpPutResponseHopLimit = hop, HttpProtocolIpv6 = "disabled", InstanceMetadataTags = "disabled" },
        }, "eu-west-1");

    [Fact]
    public void The_assessment_names_IMDS_off_IMDSv1_and_the_hop_limit_risk_in_plain_words()
    {
        var off = Options("disabled", "optional", 1);
        Assert.Equal(new[] { MetadataOptionFinding.ImdsDisabled }, off.Findings);
        Assert.Equal("IMDS off", off.Assessment);

        var v1 = Options("enabled", "optional", 1);
        Assert.Equal(new[] { MetadataOptionFinding.ImdsV1Allowed, MetadataOptionFinding.HopLimitOne }, v1.Findings);
        Assert.Equal("IMDSv1 allowed; hop limit 1: a risk if it runs containers", v1.Assessment);

        var good = Options("enabled", "required", 2);
        Assert.Empty(good.Findings);
        Assert.True(good.IsImdsV2Enforced);
        Assert.Equal("OK: IMDSv2 required", good.Assessment);

        var pendingStopped = Options("enabled", "required", 2, "pending", "stopped");
        Assert.Equal(new[] { MetadataOptionFinding.ChangePending, MetadataOptionFinding.NotRunning }, pendingStopped.Findings);
    }

    [Fact]
    public void Wire_values_map_in_any_case_and_unknown_ones_stay_unknown()
    {
        var o = ImdsMetadataOption.From(new Ec2InstanceRecord
        {
            InstanceId = "i-12345678",
            MetadataOptions = new InstanceMetadataOptionsRecord { State = "Applied", HttpEndpoint = "ENABLED", HttpTokens = "no-preference" },
        }, "us-east-1");
        Assert.Equal(MetadataOptionsState.Applied, o.State);
        Assert.Equal(FeatureState.Enabled, o.HttpEndpoint);
        Assert.Null(o.HttpTokens);
        Assert.Null(o.Name);
        Assert.Equal("metadata options not reported", o.Assessment);
    }

    [Fact]
    public void WithOptions_keeps_name_and_state_and_takes_the_new_values()
    {
        var before = Options("disabled", "optional", 1);
        var after = before.WithOptions(new InstanceMetadataOptionsRecord { State = "pending", HttpEndpoint = "enabled" });
        Assert.Equal("web-1", after.Name);
        Assert.Equal(FeatureState.Enabled, after.HttpEndpoint);
        Assert.Equal(HttpTokensState.Optional, after.HttpTokens);
        Assert.Equal(MetadataOptionsState.Pending, after.State);
    }

    [Theory]
    [InlineData("InvalidInstanceID.Malformed", AwsErrorKind.MalformedId)]
    [InlineData("InvalidInstanceID.NotFound", AwsErrorKind.NotFound)]
    [InlineData("UnauthorizedOperation", AwsErrorKind.Unauthorized)]
    [InlineData("AuthFailure", AwsErrorKind.AuthFailure)]
    [InlineData("RequestLimitExceeded", AwsErrorKind.Throttled)]
    [InlineData("InvalidParameterValue", AwsErrorKind.InvalidParameter)]
    [InlineData("SomethingNew", AwsErrorKind.Service)]
    [InlineData(null, AwsErrorKind.Service)]
    public void Service_error_codes_are_classified(string? code, AwsErrorKind kind)
    {
        Assert.Equal(kind, AwsApiException.KindOf(code));
    }

    [Theory]
    [InlineData("us-east-1", true)]
    [InlineData("eu-central-2", true)]
    [InlineData("us-gov-west-1", true)]
    [InlineData("cn-north-1", true)]
    [InlineData("eu-west", false)]
    [InlineData("EU-WEST-1", false)]
    [InlineData("eu_west_1", false)]
    public void Region_names_are_checked(string region, bool valid)
    {
        Assert.Equal(valid, AwsNames.IsRegion(region));
    }

    [Theory]
    [InlineData("http://127.0.0.1:4566", true)]
    [InlineData("https://ec2.eu-west-1.amazonaws.com", true)]
    [InlineData("ec2.eu-west-1.amazonaws.com", false)]
    [InlineData("ftp://host/", false)]
    [InlineData("http://host/?x=1", false)]
    public void Endpoint_urls_must_be_absolute_http_or_https(string url, bool valid)
    {
        if (valid)
        {
            Assert.Equal(new Uri(url), AwsNames.ParseEndpoint(url));
        }
        else
        {
            Assert.Equal(AwsErrorKind.InvalidEndpoint, Assert.Throws<AwsApiException>(() => AwsNames.ParseEndpoint(url)).Kind);
        }
    }

    [Fact]
    public void Credential_values_never_format_their_secrets()
    {
        var values = new AwsCredentialValues("AKIDEXAMPLE", "s3cr3t-value", "token-value");
        Assert.DoesNotContain("s3cr3t", values.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("AKID", values.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_summary_says_what_changed_and_what_did_not()
    {
        var s = new MetadataOptionsChangeSummary();
        s.AddRegion("eu-west-1");
        s.AddRequested(5);
        s.AddChanged();
        s.AddChanged();
        s.AddUnchanged();
        s.AddFailed();
        s.AddNotFound();
        s.AddApplied();
        s.AddApplied();
        Assert.Equal("Changed 2 of 5 instances in eu-west-1; 2 applied; 1 already had these options; 1 not found; 1 failed.", s.ToString());
        Assert.False(s.Complete);
    }
}
