using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Net.Http;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>The emulator cmdlets as users meet them: real pipelines in a runspace with the staged module.</summary>
public sealed class EmulatorCmdletTests : IDisposable
{
    private readonly PsSession _ps = new();

    public void Dispose() => _ps.Dispose();

    private static string Get(Uri endpoint, string path, string? token = null)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(endpoint, path));
        if (token is not null)
        {
            request.Headers.Add("X-aws-ec2-metadata-token", token);
        }

        using var response = http.Send(request);
        return ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Start_with_a_scenario_then_find_it_in_a_pipeline()
    {
        var started = _ps.Ok("Start-ImdsEmulator -Scenario TokensRequired -Name test-pipe").Objects<ImdsEmulator>().Single();
        Assert.Equal("TokensRequired", started.Scenario);
        Assert.Equal(HttpTokensState.Required, started.Settings.HttpTokens);
        Assert.Equal("401", Get(started.Endpoint, "latest/meta-data/instance-id"));

        var found = _ps.Ok("Get-ImdsEmulator -Name test-p* | Where-Object Running | Where-Object { $_.Settings.HttpTokens -eq 'Required' }").Objects<ImdsEmulator>().ToList();
        Assert.Contains(found, e => e.Id == started.Id);
    }

    [Fact]
    public void Parameters_override_the_scenario()
    {
        var e = _ps.Ok("Start-ImdsEmulator -Scenario Healthy -Name test-override -HttpEndpoint Disabled -HopLimit 5 -InstanceMetadataTags Enabled -LatencyMilliseconds 10").Objects<ImdsEmulator>().Single();
        Assert.Equal(FeatureState.Disabled, e.Settings.HttpEndpoint);
        Assert.Equal(5, e.Settings.HttpPutResponseHopLimit);
        Assert.Equal(FeatureState.Enabled, e.Settings.InstanceMetadataTags);
        Assert.Equal(TimeSpan.FromMilliseconds(10), e.Settings.Latency);
        Assert.Equal("403", Get(e.Endpoint, "latest/meta-data/"));
    }

    [Fact]
    public void Set_changes_a_running_emulator_and_WhatIf_changes_nothing()
    {
        var e = _ps.Ok("Start-ImdsEmulator -Name test-set").Objects<ImdsEmulator>().Single();
        _ps.Ok("Get-ImdsEmulator -Name test-set | Set-ImdsEmulator -HttpTokens Required -WhatIf");
        Assert.Equal(HttpTokensState.Optional, e.Settings.HttpTokens);
        var r = _ps.Ok("Set-ImdsEmulator -Name test-set -HttpTokens Required -ThrottleRequestsPerSecond 3 -PassThru -Verbose");
        Assert.Equal(HttpTokensState.Required, e.Settings.HttpTokens);
        Assert.Equal(3, e.Settings.ThrottleRequestsPerSecond);
        Assert.Contains(r.Verbose, v => v.Contains("HttpTokens=Required", StringComparison.Ordinal));
        Assert.Single(r.Objects<ImdsEmulator>());
        _ps.Ok("Set-ImdsEmulator -Name test-set -ThrottleRequestsPerSecond 0");
        Assert.Null(e.Settings.ThrottleRequestsPerSecond);
    }

    [Fact]
    public void The_request_log_tells_which_calls_were_imdsv1()
    {
        var e = _ps.Ok("Start-ImdsEmulator -Name test-log").Objects<ImdsEmulator>().Single();
        Get(e.Endpoint, "latest/meta-data/instance-id");
        Get(e.Endpoint, "latest/meta-data/placement/region");
        var v1 = _ps.Ok("Get-ImdsEmulatorLog -Name test-log -Kind V1 | Where-Object StatusCode -eq 200").Objects<ImdsRequestRecord>().ToList();
        Assert.Equal(new[] { "/latest/meta-data/instance-id", "/latest/meta-data/placement/region" }, v1.Select(r => r.Path));
        Assert.Single(_ps.Ok("Get-ImdsEmulator -Name test-log | Get-ImdsEmulatorLog -Last 1").Objects<ImdsRequestRecord>());
        _ps.Ok("Set-ImdsEmulator -Name test-log -ClearLog");
        Assert.Empty(_ps.Ok("Get-ImdsEmulatorLog -Name test-log").Output);
    }

    [Fact]
    public void Stop_stops_and_removes_and_supports_WhatIf()
    {
        var e = _ps.Ok("Start-ImdsEmulator -Name test-stop2").Objects<ImdsEmulator>().Single();
        _ps.Ok("Stop-ImdsEmulator -Name test-stop2 -WhatIf");
        Assert.True(e.Running);
        _ps.Ok("Get-ImdsEmulator -Name test-stop2 | Stop-ImdsEmulator");
        Assert.False(e.Running);
        var after = _ps.Invoke("Get-ImdsEmulator -Name test-stop2");
        Assert.Empty(after.Output);
        Assert.StartsWith("EmulatorNotFound,", Assert.Single(after.AllErrors).FullyQualifiedErrorId, StringComparison.Ordinal);
    }

    [Fact]
    public void Content_from_a_users_json_file_is_served()
    {
        string file = Path.Combine(Path.GetTempPath(), $"imds-content-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, "{ \"meta-data/instance-id\": \"i-fromfile\", \"meta-data/placement/region\": \"ap-south-1\" }");
        try
        {
            var e = _ps.Ok($"Start-ImdsEmulator -Name test-file -ContentPath '{file}'").Objects<ImdsEmulator>().Single();
            Assert.Equal("i-fromfile", e.Content.InstanceId);
            Assert.Equal("200", Get(e.Endpoint, "latest/meta-data/instance-id"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("Start-ImdsEmulator -Address not-an-ip", "EmulatorInvalidAddress", ErrorCategory.InvalidArgument)]
    [InlineData("Start-ImdsEmulator -Address 192.0.2.77", "EmulatorInvalidAddress", ErrorCategory.InvalidArgument)]
    [InlineData("Start-ImdsEmulator -ContentPath /nonexistent/content.json", "EmulatorContentNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData("Start-ImdsEmulator -NetworkNamespace imds-no-such-namespace", "NetworkNamespaceNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData("Get-ImdsEmulator -Name no-such-emulator", "EmulatorNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData("Get-ImdsEmulator -Id 987654", "EmulatorNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData("Stop-ImdsEmulator -Name no-such-emulator", "EmulatorNotFound", ErrorCategory.ObjectNotFound)]
    public void Bad_input_gives_a_clear_error_with_its_id_and_category(string script, string errorId, ErrorCategory category)
    {
        var r = _ps.Invoke(script);
        var error = Assert.Single(r.AllErrors);
        Assert.StartsWith(errorId + ",", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(category, error.CategoryInfo.Category);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_content_json_is_an_InvalidData_error()
    {
        string file = Path.Combine(Path.GetTempPath(), $"imds-bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, "{ \"meta-data/a\": \"x\", \"meta-data/a/b\": \"y\" }");
        try
        {
            var error = Assert.Single(_ps.Invoke($"Start-ImdsEmulator -ContentPath '{file}'").AllErrors);
            Assert.StartsWith("EmulatorContentInvalid,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
            Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
            Assert.Contains("both as a value and as a folder", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Port_in_use_is_reported_as_such()
    {
        var e = _ps.Ok("Start-ImdsEmulator -Name test-busy").Objects<ImdsEmulator>().Single();
        var error = Assert.Single(_ps.Invoke($"Start-ImdsEmulator -Port {e.Listeners[0].Port}").AllErrors);
        Assert.StartsWith("EmulatorAddressInUse,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(ErrorCategory.ResourceUnavailable, error.CategoryInfo.Category);
    }

    [Fact]
    public void Turning_ipv6_on_when_its_address_is_taken_fails_cleanly_and_changes_nothing()
    {
        var e = _ps.Ok("Start-ImdsEmulator -Name test-v6busy -Address ::1").Objects<ImdsEmulator>().Single();
        int port = e.Listeners[0].Port;
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.IPv6Loopback, port);
        squatter.Start();
        var r = _ps.Invoke("Set-ImdsEmulator -Name test-v6busy -HttpProtocolIpv6 Enabled");
        var error = Assert.Single(r.AllErrors);
        Assert.StartsWith("EmulatorStartFailed,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(FeatureState.Disabled, e.Settings.HttpProtocolIpv6);
        squatter.Stop();
        _ps.Ok("Set-ImdsEmulator -Name test-v6busy -HttpProtocolIpv6 Enabled");
        Assert.Equal("200", Get(e.Endpoint, "latest/meta-data/instance-id"));
    }

    [Fact]
    public void Hop_limit_outside_1_to_64_is_refused_by_parameter_validation()
    {
        var error = Assert.Single(_ps.Invoke("Start-ImdsEmulator -HttpPutResponseHopLimit 65").AllErrors);
        Assert.StartsWith("ParameterArgumentValidationError,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
    }
}
