using System;
using System.Collections.Generic;
using System.Linq;
using ImdsTroubleshoot.Engine.Proxy;
using Xunit;

namespace ImdsTroubleshoot.Tests.Proxy;

/// <summary>
/// The NO_PROXY dialects. Each row is a case of the experiment matrix in notes/proxy.md §3, measured with the real
/// clients on this Debian box (curl 7.88, CPython urllib, requests 2.34, botocore, Go 1.19, .NET): P = through the
/// proxy, D = direct, E = the request fails (Go's CGI guard). Columns: curl, urllib, requests, botocore, Go, .NET.
/// urllib and botocore are one family here (botocore asks urllib), so both columns must agree with it.
/// </summary>
public sealed class NoProxyDialectTests
{
    private const string P = "http://proxy.example:3128";

    public static IEnumerable<object[]> EnvironmentCases() => new[]
    {
        Row("A1", "PPPPPP", "http_proxy", P),
        Row("A2", "DPPPPP", "HTTP_PROXY", P),
        Row("A3", "DDDDDD", "HTTPS_PROXY", P, "https_proxy", P),
        Row("A4", "PDPDDP", "ALL_PROXY", P),
        Row("A5", "PDPDDP", "all_proxy", P),
        Row("A6", "DDDDEP", "HTTP_PROXY", P, "REQUEST_METHOD", "GET"),
        Row("A7", "PPPPEP", "http_proxy", P, "REQUEST_METHOD", "GET"),
        Row("A8", "PPPPDP", "http_proxy", P, "NO_PROXY", "169.254.169.254", "no_proxy", "example.com"),
        Row("A9", "DDDDPD", "http_proxy", P, "NO_PROXY", "example.com", "no_proxy", "169.254.169.254"),
        Row("A10", "DPDPDP", "http_proxy", P, "NO_PROXY", "169.254.169.254", "no_proxy", string.Empty),
        Row("A11", "PPPPPP", "http_proxy", P, "HTTP_PROXY", string.Empty),
        Row("A12", "DDDDPP", "http_proxy", string.Empty, "HTTP_PROXY", P),
    };

    private static object[] Row(string id, string expected, params string[] pairs) => new object[] { id, expected, pairs };

    [Theory]
    [MemberData(nameof(EnvironmentCases))]
    public void Variable_precedence_per_family_matches_the_measured_matrix(string id, string expected, string[] pairs)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < pairs.Length; i += 2)
        {
            env[pairs[i]] = pairs[i + 1];
        }

        AssertRow(id, expected, ProxyEnvironmentEvaluator.Evaluate(env), ipv6: false);
    }

    // N*/S* rows: target http://169.254.169.254/; V* rows: http://[fd00:ec2::254]/. Proxy in http_proxy and HTTP_PROXY,
    // the value in NO_PROXY and no_proxy.
    [Theory]
    [InlineData("N1", "169.254.169.254", "DDDDDD")]
    [InlineData("N2", "169.254.169.254:80", "PPPPDP")]
    [InlineData("N3", "169.254.0.0/16", "DPDPDP")]
    [InlineData("N4", "169.254.169.254/32", "DPDPDP")]
    [InlineData("N5", ".169.254.169.254", "PDDDPD")]
    [InlineData("N6", "169.254", "PDDDDP")]
    [InlineData("N7", ".254", "PDDDDD")]
    [InlineData("N8", "*", "DDDDDP")]
    [InlineData("N9", "localhost,*", "PPPPDP")]
    [InlineData("N10", "*.254", "PPPPDP")]
    [InlineData("N11", "localhost, 169.254.169.254", "DDDDDD")]
    [InlineData("N12", " 169.254.169.254 ", "DDDDDD")]
    [InlineData("N13", "localhost;169.254.169.254", "PPPPPP")]
    [InlineData("N14", "169.254.169.*", "PPPPPP")]
    [InlineData("N15", "169.254.169.254:8080", "PPPPPP")]
    [InlineData("N16", "instance-data", "PPPPPP")]
    [InlineData("N17", "169.254.169.254,", "DDDDDD")]
    [InlineData("N18", "169.254.0.0/255.255.0.0", "PPPPPP")]
    [InlineData("N19", "localhost,127.0.0.1", "PPPPPP")]
    [InlineData("S1", "169.254.169.254\r", "PDDDDD")]
    [InlineData("S2", "localhost,169.254.169.254\r", "PDDDDD")]
    [InlineData("S3", "localhost\t169.254.169.254", "DPPPPP")]
    [InlineData("S4", "$NO_PROXY,169.254.169.254", "DDDDDD")]
    [InlineData("S5", "\"169.254.169.254\"", "PPPPPP")]
    [InlineData("S6", "'169.254.169.254'", "PPPPPP")]
    [InlineData("S7", "localhost 169.254.169.254", "DPPPPP")]
    [InlineData("S8", "169.254.169.254,fd00:ec2::254,[fd00:ec2::254]", "DDDDDD")]
    [InlineData("S9", "\t169.254.169.254", "DDDDDD")]
    [InlineData("S13", ",169.254.169.254", "DDDDDD")]
    [InlineData("S14", "localhost,,169.254.169.254", "DDDDDD")]
    [InlineData("S15", "localhost , 169.254.169.254", "DDDDDD")]
    [InlineData("V1", "fd00:ec2::254", "DPDPDP")]
    [InlineData("V2", "[fd00:ec2::254]", "PDPDPD")]
    [InlineData("V3", "[fd00:ec2::254]:80", "PPPPDP")]
    [InlineData("V4", "fd00:ec2::/32", "PPPPDP")]
    [InlineData("V5", "FD00:EC2::254", "DPDPDP")]
    [InlineData("V6", "fd00:ec2:0:0:0:0:0:254", "PPPPDP")]
    [InlineData("V7", "*", "DDDDDP")]
    [InlineData("V8", "169.254.169.254", "PPPPPP")]
    [InlineData("V9", "::254", "PPPPPP")]
    [InlineData("V10", "fd00:ec2::254/128", "PPPPDP")]
    [InlineData("V-S8", "169.254.169.254,fd00:ec2::254,[fd00:ec2::254]", "DDDDDD")]
    [InlineData("S10", "fd00:ec2::254\r", "PPDPDP")]
    [InlineData("S11", "localhost,169.254.169.254,fd00:ec2::254", "DPDPDP")]
    [InlineData("S12", "localhost,169.254.169.254,[fd00:ec2::254]", "PDPDPD")]
    public void No_proxy_dialects_match_the_measured_matrix(string id, string noProxy, string expected)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["http_proxy"] = P,
            ["HTTP_PROXY"] = P,
            ["NO_PROXY"] = noProxy,
            ["no_proxy"] = noProxy,
        };
        bool ipv6 = id.StartsWith('V') || id is "S10" or "S11" or "S12";
        AssertRow(id, expected, ProxyEnvironmentEvaluator.Evaluate(env), ipv6);
    }

    private static void AssertRow(string id, string expected, ImdsExemption exemption, bool ipv6)
    {
        // Columns curl, urllib, requests, botocore, Go, .NET -> families.
        var columns = new[]
        {
            ProxyClientFamily.Curl, ProxyClientFamily.Botocore, ProxyClientFamily.PythonRequests,
            ProxyClientFamily.Botocore, ProxyClientFamily.Go, ProxyClientFamily.DotNet,
        };
        string actual = new(columns.Select(f =>
        {
            var v = exemption.Verdicts.Single(x => x.Family == f);
            return (ipv6 ? v.Ipv6 : v.Ipv4) switch
            {
                ProxyOutcome.Proxied => 'P',
                ProxyOutcome.Refused => 'E',
                _ => 'D',
            };
        }).ToArray());
        Assert.True(expected == actual, $"{id}: expected {expected}, got {actual}");
    }

    [Fact]
    public void The_value_the_repair_writes_exempts_both_addresses_for_every_family_in_either_variable_alone()
    {
        foreach (string variable in new[] { "NO_PROXY", "no_proxy" })
        {
            var env = new Dictionary<string, string> { ["http_proxy"] = P, ["HTTP_PROXY"] = P, ["ALL_PROXY"] = P };
            env[variable] = ProxyRepairPlanner.ImdsEntriesText;
            var result = ProxyEnvironmentEvaluator.Evaluate(env);

            // Go reads NO_PROXY first and falls back to no_proxy; the others the other way round: one is enough for all.
            Assert.True(result.All, variable + ": " + string.Join("; ", result.Verdicts));
        }
    }

    [Theory]
    [InlineData(ProxyClientFamily.Curl, "169.254.0.0/16", true)]
    [InlineData(ProxyClientFamily.Botocore, "169.254.0.0/16", false)]
    [InlineData(ProxyClientFamily.DotNet, "169.254.0.0/16", false)]
    [InlineData(ProxyClientFamily.Go, "169.254.0.0/16", true)]
    [InlineData(ProxyClientFamily.PythonRequests, "169.254.0.0/16", true)]
    [InlineData(ProxyClientFamily.Curl, "169.254.169.0/24", true)]
    [InlineData(ProxyClientFamily.Curl, "169.254.170.0/24", false)]
    [InlineData(ProxyClientFamily.PythonRequests, "169.254.170.0/24", false)]
    [InlineData(ProxyClientFamily.Go, "::ffff:169.254.169.254", true)]
    [InlineData(ProxyClientFamily.Go, "169.254.169.254:", true)]
    [InlineData(ProxyClientFamily.Go, "169.254.169.254:443", false)]
    [InlineData(ProxyClientFamily.DotNet, "169.254.169.254.", false)]
    [InlineData(ProxyClientFamily.Curl, "169.254.169.254 , other", true)]
    public void Matcher_handles_cidr_ports_and_odd_entries_for_ipv4(ProxyClientFamily family, string noProxy, bool bypass) =>
        Assert.Equal(bypass, NoProxyMatcher.Matches(family, noProxy, "169.254.169.254"));

    [Theory]
    [InlineData(ProxyClientFamily.Go, "fd00:ec2::/32", true)]
    [InlineData(ProxyClientFamily.Go, "fd00:ec3::/32", false)]
    [InlineData(ProxyClientFamily.Curl, "fd00:ec2::/32", false)]
    [InlineData(ProxyClientFamily.DotNet, "[FD00:EC2::254]", true)]
    [InlineData(ProxyClientFamily.Botocore, "[FD00:EC2::254]", true)]
    [InlineData(ProxyClientFamily.Curl, "FD00:EC2::254", true)]
    public void Matcher_handles_ipv6_forms(ProxyClientFamily family, string noProxy, bool bypass) =>
        Assert.Equal(bypass, NoProxyMatcher.Matches(family, noProxy, "fd00:ec2::254"));

    [Theory]
    [InlineData("http://user:s3cret@proxy:3128", "http://user:****@proxy:3128")]
    [InlineData("user:s3cret@proxy:3128", "user:****@proxy:3128")]
    [InlineData("http://proxy:3128/", "http://proxy:3128/")]
    [InlineData("http://u:p@ss@w0rd@proxy:3128", "http://u:****@proxy:3128")]
    [InlineData("http://apikey@proxy:3128", "http://a****@proxy:3128")]
    public void Proxy_passwords_are_masked(string url, string masked) => Assert.Equal(masked, ProxyUrlMasker.MaskPassword(url));

    [Fact]
    public void Verdicts_mask_the_password_and_name_the_variable()
    {
        var env = new Dictionary<string, string> { ["HTTP_PROXY"] = "http://bob:hunter2@proxy:3128" };
        var go = ProxyEnvironmentEvaluator.Evaluate(ProxyClientFamily.Go, env);
        Assert.Equal("HTTP_PROXY", go.ProxyVariable);
        Assert.Equal("http://bob:****@proxy:3128", go.ProxyUrl);
        Assert.DoesNotContain("hunter2", go.ToString(), StringComparison.Ordinal);
        var curl = ProxyEnvironmentEvaluator.Evaluate(ProxyClientFamily.Curl, env);
        Assert.Equal(ProxyOutcome.NoProxy, curl.Ipv4);
        Assert.Contains("ignores uppercase HTTP_PROXY", curl.Reason, StringComparison.Ordinal);
    }
}
