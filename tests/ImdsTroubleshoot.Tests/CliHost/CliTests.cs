using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.CliHost;

/// <summary>imds-troubleshoot as users run it: a separate process, output as pwsh renders it, exit codes.</summary>
public sealed class CliTests
{
    [Fact]
    public void Renders_our_table_view_through_Out_Default()
    {
        var r = Support.Cli.Run("Start-ImdsEmulator -Scenario TokensRequired -Name cli-table | Out-Null; Get-ImdsEmulator | Where-Object Running");
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();
        Assert.Matches(@"^\s*Id\s+Name\s+Running\s+Scenario\s+Endpoint\s+HttpTokens\s+HttpEndpoint\s+HopLimit\s+Requests$", lines[0]);
        Assert.Matches(@"^\s*1\s+cli-table\s+True\s+TokensRequired\s+http://127\.0\.0\.1:\d+/\s+Required\s+Enabled\s+2\s+0$", lines[2]);
        Assert.DoesNotContain("\u001b[", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Format_List_star_shows_every_property()
    {
        var r = Support.Cli.Run("Start-ImdsEmulator -Name cli-list | Format-List *");
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (string property in new[] { "Id", "Name", "Scenario", "Settings", "Endpoint", "Listeners", "RequestCount" })
        {
            Assert.Matches($"(?m)^{property}\\s+: ", r.Stdout);
        }
    }

    [Fact]
    public void An_error_goes_to_stderr_with_exit_code_1()
    {
        var r = Support.Cli.Run("Get-ImdsEmulator -Name nothing-here");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("No running IMDS emulator has the name 'nothing-here'", r.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, r.Stdout.Trim());
    }

    [Fact]
    public void A_terminating_error_is_rendered_not_a_stack_trace()
    {
        var r = Support.Cli.Run("Start-ImdsEmulator -ContentPath /nonexistent.json");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ImdsTroubleshoot", r.Combined, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_output_is_parseable_and_complete()
    {
        var r = Support.Cli.Run("--json", "Start-ImdsEmulator -Scenario EndpointDisabled -Name cli-json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var e = doc.RootElement.EnumerateArray().Single();
        Assert.Equal("cli-json", e.GetProperty("Name").GetString());
        Assert.Equal("Disabled", e.GetProperty("Settings").GetProperty("HttpEndpoint").GetString());
        Assert.StartsWith("http://127.0.0.1:", e.GetProperty("Endpoint").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Emulator_option_points_clients_at_the_embedded_emulator()
    {
        var r = Support.Cli.Run("--emulator", "NoRole", "$env:AWS_EC2_METADATA_SERVICE_ENDPOINT; (Get-ImdsEmulator).Scenario");
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToArray();
        Assert.Matches(@"^http://127\.0\.0\.1:\d+/$", lines[0]);
        Assert.Equal("NoRole", lines[1]);
    }

    [Fact]
    public void Unknown_scenario_and_unknown_option_are_usage_errors()
    {
        Assert.Equal(1, Support.Cli.Run("--emulator", "NoSuchScenario", "1").ExitCode);
        var r = Support.Cli.Run("--bogus");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown option --bogus", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_and_version()
    {
        var help = Support.Cli.Run("--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("Usage: imds-troubleshoot", help.Stdout, StringComparison.Ordinal);
        var version = Support.Cli.Run("--version");
        Assert.Equal("imds-troubleshoot " + Repo.Version, version.Stdout.Trim());
    }

    [Fact]
    public void Verbose_goes_to_stderr_only_when_asked()
    {
        var quiet = Support.Cli.Run("Start-ImdsEmulator -Name cli-v | Out-Null");
        Assert.DoesNotContain("VERBOSE:", quiet.Combined, StringComparison.Ordinal);
        var verbose = Support.Cli.Run("--verbose", "Start-ImdsEmulator -Name cli-v | Out-Null");
        Assert.Contains("VERBOSE: Emulator 'cli-v'", verbose.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Ctrl_C_stops_a_waiting_emulator_and_exits_130()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Repo.CliDll);
        psi.ArgumentList.Add("Start-ImdsEmulator -Name cli-wait -Wait");
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        string? line;
        int port = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (port == 0 && DateTime.UtcNow < deadline && (line = p.StandardOutput.ReadLine()) is not null)
        {
            var m = System.Text.RegularExpressions.Regex.Match(line, @"http://127\.0\.0\.1:(\d+)/");
            if (m.Success)
            {
                port = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        Assert.NotEqual(0, port);
        using (var probe = new TcpClient())
        {
            probe.Connect("127.0.0.1", port);
        }

        ProcessRunner.Check("kill", "-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(p.WaitForExit(20_000), "the CLI did not stop on SIGINT");
        Assert.Equal(130, p.ExitCode);
        using var after = new TcpClient();
        var ex = Assert.Throws<SocketException>(() => after.Connect("127.0.0.1", port));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    [Fact]
    public void With_no_command_it_runs_the_diagnosis_and_exits_3_when_a_check_fails()
    {
        var failing = Support.Cli.Run("--emulator", "EndpointDisabled");
        Assert.Equal(3, failing.ExitCode);
        Assert.Matches(@"(?m)^Token\s+Fail\s+HTTP 403 Forbidden", failing.Stdout);
        Assert.Matches(@"(?m)^\s*Target: localhost", failing.Stdout);

        var healthy = Support.Cli.Run("--emulator", "Healthy", "--json");
        Assert.True(healthy.ExitCode == 0, healthy.ToString());
        using var doc = JsonDocument.Parse(healthy.Stdout);
        var checks = doc.RootElement.EnumerateArray().Select(e => e.GetProperty("Check").GetString()).ToArray();
        Assert.Equal(new[] { "Platform", "Proxy", "Endpoint", "Token", "HopLimit", "ImdsV1", "Firewall", "Throttling", "MetadataOptions", "IPv6" }, checks);
        Assert.DoesNotContain(doc.RootElement.EnumerateArray(), e => e.GetProperty("Status").GetString() == "Fail");
    }

    [Fact]
    public void A_script_that_says_exit_n_exits_n()
    {
        string file = Path.Combine(Path.GetTempPath(), $"imds-cli-exit-{Guid.NewGuid():N}.ps1");
        File.WriteAllText(file, "'before'\nexit 7\n'after'\n");
        try
        {
            var r = Support.Cli.Run("--file", file);
            Assert.Equal(7, r.ExitCode);
            Assert.Equal("before", r.Stdout.Trim());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_script_file_runs_with_file()
    {
        string file = Path.Combine(Path.GetTempPath(), $"imds-cli-{Guid.NewGuid():N}.ps1");
        File.WriteAllText(file, "$e = Start-ImdsEmulator -Name cli-file\n\"scenario=$($e.Scenario)\"\n");
        try
        {
            var r = Support.Cli.Run("--file", file);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal("scenario=Healthy", r.Stdout.Trim());
        }
        finally
        {
            File.Delete(file);
        }
    }
}
