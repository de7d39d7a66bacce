using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>Invoke-ImdsDiagnosis -HostName as users meet it, in a real runspace with the staged module: parameter set, binding, error records for bad input.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SshCmdletTests : IDisposable
{
    private readonly PsSession _ps = new();

    public void Dispose() => _ps.Dispose();

    [Fact]
    public void The_Ssh_parameter_set_has_HostName_mandatory_from_the_pipeline_by_property_name_and_its_own_parameters()
    {
        var set = _ps.Ok("(Get-Command Invoke-ImdsDiagnosis).ParameterSets | Where-Object Name -eq 'Ssh'").Output.Single();
        var parameters = ((IEnumerable)set.Properties["Parameters"].Value).Cast<object>().Select(PSObject.AsPSObject).ToDictionary(p => (string)p.Properties["Name"].Value, p => p);
        var host = parameters["HostName"];
        Assert.True((bool)host.Properties["IsMandatory"].Value);
        Assert.True((bool)host.Properties["ValueFromPipelineByPropertyName"].Value);
        Assert.Equal(typeof(string[]), host.Properties["ParameterType"].Value);
        foreach (string name in new[] { "UserName", "KeyFilePath", "Port", "Sudo", "KnownHostsFilePath", "AcceptNewHostKey", "ConnectTimeoutSec", "ThrottleLimit", "TimeoutSec", "IPv6" })
        {
            Assert.True(parameters.ContainsKey(name), name);
        }

        Assert.False(parameters.ContainsKey("Endpoint"));
        Assert.False(parameters.ContainsKey("InstanceId"));
        // Binding errors: statement-terminating, before the command runs.
        var e = _ps.Invoke("Invoke-ImdsDiagnosis -HostName h1 -Endpoint http://127.0.0.1:1/");
        Assert.Equal("AmbiguousParameterSet,ImdsTroubleshoot.Commands.InvokeImdsDiagnosisCommand", e.AllErrors.Single().FullyQualifiedErrorId);
        var port = _ps.Invoke("Invoke-ImdsDiagnosis -HostName h1 -Port 70000");
        Assert.StartsWith("ParameterArgumentValidationError,", port.AllErrors.Single().FullyQualifiedErrorId, StringComparison.Ordinal);
        var throttle = _ps.Invoke("Invoke-ImdsDiagnosis -HostName h1 -ThrottleLimit 0");
        Assert.StartsWith("ParameterArgumentValidationError,", throttle.AllErrors.Single().FullyQualifiedErrorId, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_host_and_user_names_from_the_pipeline_are_non_terminating_errors_whose_target_is_the_host()
    {
        var r = _ps.Invoke(
            "@([pscustomobject]@{ HostName = '-oProxyCommand=id' }, [pscustomobject]@{ HostName = 'web 1' }, [pscustomobject]@{ HostName = 'web1'; UserName = 'root;id' }, [pscustomobject]@{ ComputerName = 'a@b' }) | Invoke-ImdsDiagnosis");
        Assert.Null(r.Terminating);
        Assert.Empty(r.Output);
        Assert.Equal(
            new[] { ("SshInvalidHostName", "-oProxyCommand=id"), ("SshInvalidHostName", "web 1"), ("SshInvalidUserName", "web1"), ("SshInvalidHostName", "a@b") },
            r.Errors.Select(e => (e.FullyQualifiedErrorId.Split(',')[0], (string)e.TargetObject)).ToArray());
        Assert.All(r.Errors, e => Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category));
        Assert.Contains("starts with '-'", r.Errors[0].Exception.Message, StringComparison.Ordinal);
        Assert.Contains("-UserName", r.Errors[3].Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_key_file_is_an_error_per_host_and_a_missing_known_hosts_file_stops_the_command()
    {
        var key = _ps.Invoke("Invoke-ImdsDiagnosis -HostName h1, h2 -KeyFilePath /nonexistent/id_ed25519");
        Assert.Equal(new[] { "h1", "h2" }, key.Errors.Select(e => (string)e.TargetObject).ToArray());
        Assert.All(key.Errors, e => Assert.Equal("SshKeyFileNotFound,ImdsTroubleshoot.Commands.InvokeImdsDiagnosisCommand", e.FullyQualifiedErrorId));
        Assert.All(key.Errors, e => Assert.Equal(ErrorCategory.ObjectNotFound, e.CategoryInfo.Category));

        var hosts = _ps.Invoke("Invoke-ImdsDiagnosis -HostName 127.0.0.1 -KnownHostsFilePath /nonexistent/known_hosts");
        var stop = hosts.AllErrors.Single();
        Assert.Equal("SshKnownHostsFileNotFound,ImdsTroubleshoot.Commands.InvokeImdsDiagnosisCommand", stop.FullyQualifiedErrorId);
        Assert.Contains("/nonexistent/known_hosts", stop.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_key_file_path_is_resolved_against_the_PowerShell_location()
    {
        string dir = Directory.CreateTempSubdirectory("imds-sshkey-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "id_test"), "x");
            // A relative path that exists only relative to Set-Location, not to the process's directory: no error for it.
            var r = _ps.Invoke("param($d) $null = $ExecutionContext.SessionState.Path.SetLocation($d); Invoke-ImdsDiagnosis -HostName 'bad host' -KeyFilePath ./id_test", new Hashtable { ["d"] = dir });
            Assert.True(r.AllErrors.Count() == 1, r.ToString());
            Assert.Equal("SshInvalidHostName", r.Errors.Single().FullyQualifiedErrorId.Split(',')[0]);
            var missing = _ps.Invoke("param($d) $null = $ExecutionContext.SessionState.Path.SetLocation($d); Invoke-ImdsDiagnosis -HostName h1 -KeyFilePath ./nope", new Hashtable { ["d"] = dir });
            Assert.Contains(Path.Combine(dir, "nope"), missing.Errors.Single().Exception.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Over_SSH_the_EC2_API_is_asked_only_when_an_account_Region_or_endpoint_is_named()
    {
        // A stand-in ssh that prints a collector output recorded in the lab (instance i-0123456789abcdef0, eu-west-1).
        string bin = Directory.CreateTempSubdirectory("imds-fakessh-").FullName;
        try
        {
            string fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Remote", "uid-rule-root.out");
            File.WriteAllText(Path.Combine(bin, "ssh"), $"#!/bin/sh\ncat > /dev/null\ncat '{fixture}'\n");
            File.SetUnixFileMode(Path.Combine(bin, "ssh"), (UnixFileMode)0b111_101_101);
            using var ec2 = new FakeEc2();
            ec2.Add("i-0123456789abcdef0", "web-1", i => i.HttpPutResponseHopLimit = 1);
            var env = AwsEnvironment.For(ec2.Url, region: "eu-west-1");
            env["PATH"] = bin + ":/usr/bin:/bin";
            string Options(string extra)
            {
                var r = Cli.Run(new[] { "--json", "Invoke-ImdsDiagnosis -HostName h1 " + extra + " | Where-Object Check -eq MetadataOptions" }, env, TimeSpan.FromSeconds(90));
                Assert.True(r.ExitCode is 0 or 3, r.ToString());
                return r.Stdout + r.Stderr;
            }

            // Credentials and a Region in the environment alone do not make an SSH diagnosis call AWS.
            string plain = Options(string.Empty);
            Assert.Contains("\"Status\": \"Skipped\"", plain, StringComparison.Ordinal);
            Assert.Contains("over SSH the EC2 API is asked only with -Region, -ProfileName, -EndpointUrl or -Ec2Api Always", plain, StringComparison.Ordinal);
            Assert.Equal(0, ec2.TotalCalls);

            // Naming the Region asks EC2 about the instance the host's IMDS named: the hop limit of 1 is a warning.
            string asked = Options("-Region eu-west-1");
            Assert.Equal(1, ec2.Calls("DescribeInstances"));
            Assert.Contains("\"Status\": \"Warn\"", asked, StringComparison.Ordinal);
            Assert.Contains("\"InstanceId\": \"i-0123456789abcdef0\"", asked, StringComparison.Ordinal);
            Assert.Contains("\"Target\": \"h1\"", asked, StringComparison.Ordinal);

            string always = Options("-Ec2Api Always");
            Assert.Equal(2, ec2.Calls("DescribeInstances"));
            Assert.Contains("\"Status\": \"Warn\"", always, StringComparison.Ordinal);

            // -Ec2Api Never wins over a named Region, and says so.
            string never = Options("-Region eu-west-1 -Ec2Api Never");
            Assert.Equal(2, ec2.Calls("DescribeInstances"));
            Assert.Contains("\"SkipReason\": \"-Ec2Api Never\"", never, StringComparison.Ordinal);
            Assert.Contains("WARNING: -Region, -ProfileName and -EndpointUrl are not used with -Ec2Api Never", never, StringComparison.Ordinal);
            Assert.Contains("\"Status\": \"Skipped\"", never, StringComparison.Ordinal);

            // An EC2 API that refuses is a reason in the finding, not an error.
            ec2.DeniedActions.Add("DescribeInstances");
            string denied = Options("-Region eu-west-1");
            Assert.Contains("the EC2 API could not be asked", denied, StringComparison.Ordinal);
            Assert.Contains("UnauthorizedOperation", denied, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

    [Fact]
    public void No_ssh_client_is_a_terminating_SshClientNotFound_and_bad_hosts_start_no_ssh_process()
    {
        // The staged CLI in a separate process, whose PATH holds only a stand-in ssh that records every start.
        string bin = Directory.CreateTempSubdirectory("imds-fakessh-").FullName;
        string empty = Directory.CreateTempSubdirectory("imds-nossh-").FullName;
        try
        {
            string log = Path.Combine(bin, "started.log");
            File.WriteAllText(Path.Combine(bin, "ssh"), $"#!/bin/sh\necho \"$*\" >> '{log}'\ncat > /dev/null\nexit 0\n");
            File.SetUnixFileMode(Path.Combine(bin, "ssh"), (UnixFileMode)0b111_101_101);

            var none = Cli.Run(new[] { "try { Invoke-ImdsDiagnosis -HostName 127.0.0.1 -ErrorAction Stop } catch { $_.FullyQualifiedErrorId; $_.CategoryInfo.Category; $_.Exception.Message }" },
                new Dictionary<string, string?> { ["PATH"] = empty }, TimeSpan.FromSeconds(90));
            Assert.StartsWith("SshClientNotFound,ImdsTroubleshoot.Commands.InvokeImdsDiagnosisCommand\nNotInstalled\n", none.Stdout.Replace("\r", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.Contains("No ssh client was found on PATH", none.Combined, StringComparison.Ordinal);

            var bad = Cli.Run(new[] { "Invoke-ImdsDiagnosis -HostName '-oProxyCommand=touch /tmp/pwned', 'h;id', 'x y' -UserName ec2-user 2>&1 | ForEach-Object { $_.FullyQualifiedErrorId }" },
                new Dictionary<string, string?> { ["PATH"] = bin }, TimeSpan.FromSeconds(90));
            Assert.Equal(3, bad.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.StartsWith("SshInvalidHostName", StringComparison.Ordinal)));
            Assert.False(File.Exists(log), "ssh was started: " + (File.Exists(log) ? File.ReadAllText(log) : string.Empty));

            // Piped records each bring their own UserName and Port; a record without them gets none (no leftovers from the previous record).
            var piped = Cli.Run(new[] { "@([pscustomobject]@{ HostName = 'h1'; UserName = 'ec2-user'; Port = 2201 }, [pscustomobject]@{ HostName = 'h2' }, [pscustomobject]@{ HostName = 'h3'; Port = 2203 }) | Invoke-ImdsDiagnosis -ThrottleLimit 1 | ForEach-Object Target" },
                new Dictionary<string, string?> { ["PATH"] = bin }, TimeSpan.FromSeconds(90));
            Assert.True(piped.ExitCode == 0, piped.ToString());
            Assert.Equal(new[] { "h1", "h2", "h3" }, piped.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToArray());
            var started = File.ReadAllLines(log).Select(l => l[l.IndexOf("-- ", StringComparison.Ordinal)..] + " " + string.Join(' ', l.Split(' ').Where(a => a is "-p" or "-l" || a.StartsWith("22", StringComparison.Ordinal) || a == "ec2-user"))).ToArray();
            Assert.Equal(new[] { "-- h1 sh -s -p 2201 -l ec2-user", "-- h2 sh -s ", "-- h3 sh -s -p 2203" }, started);
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
            Directory.Delete(empty, recursive: true);
        }
    }
}
