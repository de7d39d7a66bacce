using System;
using System.Linq;
using System.Text.Json;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Http;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Emulator;

/// <summary>The emulator's decisions for each case in IMDS-FACTS, without sockets.</summary>
public sealed class RequestHandlerTests
{
    private readonly ManualTime _time = new();
    private readonly ImdsRequestHandler _handler;

    public RequestHandlerTests()
    {
        _handler = new ImdsRequestHandler(InstanceContent.CreateDefault(), _time);
    }

    private static HttpRequestMessage Req(string method, string path, params (string Name, string Value)[] headers)
    {
        string head = $"{method} {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n" + string.Concat(headers.Select(h => $"{h.Name}: {h.Value}\r\n"));
        var r = HttpRequestReader.Parse(head);
        Assert.Equal(HttpReadStatus.Request, r.Status);
        return r.Request!;
    }

    private EmulatorResponse Send(EmulatorSettings s, string method, string path, params (string, string)[] headers) => _handler.Handle(Req(method, path, headers), s);

    private string Token(EmulatorSettings s, int ttl = 21600)
    {
        var r = Send(s, "PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", ttl.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(200, r.Status);
        return r.Body;
    }

    [Fact]
    public void Token_put_issues_a_token_echoes_the_ttl_and_carries_the_hop_limit()
    {
        var s = new EmulatorSettings { HttpPutResponseHopLimit = 3 };
        var r = Send(s, "PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", "60"));
        Assert.Equal(200, r.Status);
        Assert.StartsWith("AQAEA", r.Body, StringComparison.Ordinal);
        Assert.True(r.Body.Length > 40);
        Assert.Equal(3, r.HopLimit);
        Assert.Contains(r.Headers, h => h.Key == "X-aws-ec2-metadata-token-ttl-seconds" && h.Value == "60");
        Assert.Equal(ImdsRequestKind.TokenRequest, r.Kind);
        Assert.NotEqual(r.Body, Token(s));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("21601")]
    [InlineData("abc")]
    [InlineData("1.5")]
    [InlineData("99999999999999")]
    public void Token_put_with_a_missing_or_invalid_ttl_is_400(string? ttl)
    {
        var s = new EmulatorSettings();
        var r = ttl is null ? Send(s, "PUT", "/latest/api/token") : Send(s, "PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", ttl));
        Assert.Equal(400, r.Status);
        Assert.Equal(1, r.HopLimit);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("21600")]
    public void Token_ttl_bounds_are_inclusive(string ttl)
    {
        Assert.Equal(200, Send(new EmulatorSettings(), "PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", ttl)).Status);
    }

    [Fact]
    public void Token_put_with_x_forwarded_for_is_403_as_proxies_cause()
    {
        var r = Send(new EmulatorSettings(), "PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", "60"), ("X-Forwarded-For", "10.0.0.5"));
        Assert.Equal(403, r.Status);
        Assert.Equal(string.Empty, r.Body);
    }

    [Fact]
    public void Token_put_on_a_version_path_is_403()
    {
        Assert.Equal(403, Send(new EmulatorSettings(), "PUT", "/2021-03-23/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", "60")).Status);
    }

    [Fact]
    public void Get_with_a_valid_token_reads_metadata_and_v1_works_when_tokens_are_optional()
    {
        var s = new EmulatorSettings();
        string token = Token(s);
        var v2 = Send(s, "GET", "/latest/meta-data/instance-id", ("X-aws-ec2-metadata-token", token));
        Assert.Equal(200, v2.Status);
        Assert.Equal("i-0123456789abcdef0", v2.Body);
        Assert.Equal(ImdsRequestKind.V2, v2.Kind);
        var v1 = Send(s, "GET", "/latest/meta-data/instance-id");
        Assert.Equal(200, v1.Status);
        Assert.Equal(ImdsRequestKind.V1, v1.Kind);
    }

    [Fact]
    public void Tokens_required_makes_v1_401_and_v2_200()
    {
        var s = new EmulatorSettings { HttpTokens = HttpTokensState.Required };
        Assert.Equal(401, Send(s, "GET", "/latest/meta-data/instance-id").Status);
        Assert.Equal(200, Send(s, "GET", "/latest/meta-data/instance-id", ("X-aws-ec2-metadata-token", Token(s))).Status);
    }

    [Fact]
    public void Invalid_and_expired_tokens_are_401()
    {
        var s = new EmulatorSettings();
        Assert.Equal(401, Send(s, "GET", "/latest/meta-data/", ("X-aws-ec2-metadata-token", "AQAEAnot-a-real-token")).Status);
        Assert.Equal(401, Send(s, "GET", "/latest/meta-data/", ("X-aws-ec2-metadata-token", string.Empty)).Status);
        string token = Token(s, ttl: 5);
        Assert.Equal(200, Send(s, "GET", "/latest/meta-data/", ("X-aws-ec2-metadata-token", token)).Status);
        _time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(401, Send(s, "GET", "/latest/meta-data/", ("X-aws-ec2-metadata-token", token)).Status);
    }

    [Fact]
    public void Endpoint_disabled_is_403_with_an_empty_body_for_everything()
    {
        var s = new EmulatorSettings { HttpEndpoint = FeatureState.Disabled };
        foreach (var r in new[]
        {
            Send(s, "PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", "60")),
            Send(s, "GET", "/latest/meta-data/instance-id"),
            Send(s, "GET", "/"),
        })
        {
            Assert.Equal(403, r.Status);
            Assert.Equal(string.Empty, r.Body);
        }
    }

    [Fact]
    public void Forwarded_for_on_get_with_token_is_403_only_when_switched_on()
    {
        var off = new EmulatorSettings();
        var on = new EmulatorSettings { RejectForwardedForOnGet = true };
        string token = Token(off);
        Assert.Equal(200, Send(off, "GET", "/latest/meta-data/instance-id", ("X-aws-ec2-metadata-token", token), ("X-Forwarded-For", "10.1.1.1")).Status);
        Assert.Equal(403, Send(on, "GET", "/latest/meta-data/instance-id", ("X-aws-ec2-metadata-token", token), ("X-Forwarded-For", "10.1.1.1")).Status);
    }

    [Fact]
    public void Unknown_paths_and_versions_are_404_with_the_xhtml_error_page()
    {
        var s = new EmulatorSettings();
        var r = Send(s, "GET", "/latest/meta-data/no-such-thing");
        Assert.Equal(404, r.Status);
        Assert.Contains("<title>404 - Not Found</title>", r.Body, StringComparison.Ordinal);
        Assert.Equal(404, Send(s, "GET", "/1999-01-01/meta-data/").Status);
        Assert.Equal(404, Send(s, "GET", "/meta-data/instance-id").Status);
    }

    [Fact]
    public void Methods_other_than_get_head_and_token_put_are_405()
    {
        var s = new EmulatorSettings();
        Assert.Equal(405, Send(s, "POST", "/latest/meta-data/").Status);
        Assert.Equal(405, Send(s, "DELETE", "/latest/api/token").Status);
        Assert.Equal(405, Send(s, "PUT", "/latest/meta-data/instance-id").Status);
        Assert.Equal(405, Send(s, "GET", "/latest/api/token").Status);
        Assert.Equal(200, Send(s, "HEAD", "/latest/meta-data/instance-id").Status);
    }

    [Fact]
    public void Listings_end_folders_with_a_slash_and_the_version_root_lists_its_parts()
    {
        var s = new EmulatorSettings();
        string root = Send(s, "GET", "/").Body;
        Assert.Contains("latest", root.Split('\n'));
        Assert.Contains("2021-03-23", root.Split('\n'));
        Assert.Equal(new[] { "dynamic", "meta-data", "user-data" }, Send(s, "GET", "/latest/").Body.Split('\n'));
        string[] md = Send(s, "GET", "/latest/meta-data/").Body.Split('\n');
        foreach (string expected in new[] { "ami-id", "block-device-mapping/", "hostname", "iam/", "instance-id", "instance-type", "local-ipv4", "mac", "network/", "placement/", "public-keys/", "services/" })
        {
            Assert.Contains(expected, md);
        }

        Assert.Equal(Send(s, "GET", "/latest/meta-data/").Body, Send(s, "GET", "/latest/meta-data").Body);
        Assert.Equal("0=demo-key", Send(s, "GET", "/latest/meta-data/public-keys/").Body);
        Assert.Equal("eu-west-1", Send(s, "GET", "/2021-03-23/meta-data/placement/region").Body);
        // botocore's region fetcher asks for the zone with a trailing slash; the service answers with the value.
        Assert.Equal("eu-west-1a", Send(s, "GET", "/latest/meta-data/placement/availability-zone/").Body);
    }

    [Fact]
    public void Tags_are_404_unless_instance_metadata_tags_is_enabled()
    {
        var off = new EmulatorSettings();
        var on = new EmulatorSettings { InstanceMetadataTags = FeatureState.Enabled };
        Assert.DoesNotContain("tags/", Send(off, "GET", "/latest/meta-data/").Body.Split('\n'));
        Assert.Equal(404, Send(off, "GET", "/latest/meta-data/tags/instance/Name").Status);
        Assert.Contains("tags/", Send(on, "GET", "/latest/meta-data/").Body.Split('\n'));
        Assert.Equal(new[] { "Environment", "Name" }, Send(on, "GET", "/latest/meta-data/tags/instance/").Body.Split('\n'));
        Assert.Equal("imds-demo", Send(on, "GET", "/latest/meta-data/tags/instance/Name").Body);
    }

    [Fact]
    public void Role_credentials_are_json_that_expires_in_the_future_and_rotate_before_expiry()
    {
        var s = new EmulatorSettings();
        Assert.Equal("ImdsTroubleshootDemoRole", Send(s, "GET", "/latest/meta-data/iam/security-credentials/").Body);
        using var first = JsonDocument.Parse(Send(s, "GET", "/latest/meta-data/iam/security-credentials/ImdsTroubleshootDemoRole").Body);
        Assert.Equal("Success", first.RootElement.GetProperty("Code").GetString());
        Assert.StartsWith("ASIA", first.RootElement.GetProperty("AccessKeyId").GetString(), StringComparison.Ordinal);
        DateTimeOffset expiration = DateTimeOffset.Parse(first.RootElement.GetProperty("Expiration").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(expiration > _time.GetUtcNow().AddHours(5));
        _time.Advance(TimeSpan.FromHours(5) + TimeSpan.FromMinutes(50));
        using var second = JsonDocument.Parse(Send(s, "GET", "/latest/meta-data/iam/security-credentials/ImdsTroubleshootDemoRole").Body);
        Assert.NotEqual(first.RootElement.GetProperty("AccessKeyId").GetString(), second.RootElement.GetProperty("AccessKeyId").GetString());
    }

    [Fact]
    public void Identity_document_is_json_with_the_instance_region()
    {
        using var doc = JsonDocument.Parse(Send(new EmulatorSettings(), "GET", "/latest/dynamic/instance-identity/document").Body);
        Assert.Equal("eu-west-1", doc.RootElement.GetProperty("region").GetString());
        Assert.Equal("i-0123456789abcdef0", doc.RootElement.GetProperty("instanceId").GetString());
    }

    [Fact]
    public void Throttling_answers_429_past_the_burst_and_recovers_at_the_rate()
    {
        var s = new EmulatorSettings { ThrottleRequestsPerSecond = 2, ThrottleBurst = 3 };
        var statuses = Enumerable.Range(0, 5).Select(_ => Send(s, "GET", "/latest/meta-data/instance-id").Status).ToArray();
        Assert.Equal(new[] { 200, 200, 200, 429, 429 }, statuses);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(200, Send(s, "GET", "/latest/meta-data/instance-id").Status);
        Assert.Equal(200, Send(s, "GET", "/latest/meta-data/instance-id").Status);
        Assert.Equal(429, Send(s, "GET", "/latest/meta-data/instance-id").Status);
    }

    [Fact]
    public void Throttling_by_drop_sends_nothing()
    {
        var s = new EmulatorSettings { ThrottleRequestsPerSecond = 1, ThrottleBurst = 1, ThrottleAction = ThrottleAction.Drop };
        Assert.False(Send(s, "GET", "/latest/meta-data/instance-id").Drop);
        var dropped = Send(s, "GET", "/latest/meta-data/instance-id");
        Assert.True(dropped.Drop);
        Assert.Equal(0, dropped.Status);
    }

    [Fact]
    public void No_role_scenario_has_no_iam_folder()
    {
        var handler = new ImdsRequestHandler(InstanceContent.CreateDefault().WithoutRole(), _time);
        var r = handler.Handle(Req("GET", "/latest/meta-data/iam/security-credentials/"), new EmulatorSettings());
        Assert.Equal(404, r.Status);
        Assert.DoesNotContain("iam/", handler.Handle(Req("GET", "/latest/meta-data/"), new EmulatorSettings()).Body.Split('\n'));
    }

    [Fact]
    public void Every_named_scenario_has_valid_settings_and_a_description()
    {
        Assert.Equal(Enum.GetNames<ImdsEmulatorScenario>(), EmulatorScenario.Names);
        foreach (var scenario in EmulatorScenario.All)
        {
            scenario.Settings.Validate();
            Assert.False(string.IsNullOrWhiteSpace(scenario.Description));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void Hop_limit_out_of_range_is_refused(int hop)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmulatorSettings { HttpPutResponseHopLimit = hop }.Validate());
    }
}
