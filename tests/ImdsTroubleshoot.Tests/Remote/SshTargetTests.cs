using System;
using System.IO;
using System.Linq;
using ImdsTroubleshoot.Engine.Remote;
using Xunit;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>What may reach ssh's command line: host names, user names, ports and files are checked first; the argument list keeps the host-key policy strict.</summary>
public sealed class SshTargetTests
{
    [Theory]
    [InlineData("ip-10-0-0-5.ec2.internal", "ip-10-0-0-5.ec2.internal")]
    [InlineData("ec2-54-1-2-3.eu-west-1.compute.amazonaws.com.", "ec2-54-1-2-3.eu-west-1.compute.amazonaws.com.")]
    [InlineData("web_01", "web_01")]
    [InlineData("10.0.0.5", "10.0.0.5")]
    [InlineData("fd00:ec2::2", "fd00:ec2::2")]
    [InlineData("[fd00:ec2::2]", "fd00:ec2::2")]
    [InlineData("fe80::1%eth0", "fe80::1%eth0")]
    public void Good_host_names_pass(string input, string expected) => Assert.Equal(expected, SshTarget.Create(input).HostName);

    [Theory]
    [InlineData("", "empty")]
    [InlineData("  ", "empty")]
    [InlineData("-oProxyCommand=touch /tmp/x", "starts with '-'")]
    [InlineData("root@host", "'@'")]
    [InlineData("host name", "spaces")]
    [InlineData("host;reboot", "not a DNS label")]
    [InlineData("host$(id)", "not a DNS label")]
    [InlineData("host`id`", "not a DNS label")]
    [InlineData("host\nother", "control")]
    [InlineData("host:2222", "not an IPv6 address")]
    [InlineData("10.0.0.256", "not a dotted IPv4")]
    [InlineData("10.0.0", "not a dotted IPv4")]
    [InlineData("a..b", "not a DNS label")]
    [InlineData("-host", "starts with '-'")]
    [InlineData("host-.example", "not a DNS label")]
    [InlineData("fe80::1%eth0;id", "zone")]
    public void Bad_host_names_are_refused_with_the_reason(string input, string reason)
    {
        var ex = Assert.Throws<SshArgumentException>(() => SshTarget.Create(input));
        Assert.Equal(SshArgumentKind.HostName, ex.Kind);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void A_DNS_name_of_more_than_253_characters_or_a_label_of_64_is_refused()
    {
        Assert.Throws<SshArgumentException>(() => SshTarget.Create(string.Join('.', Enumerable.Repeat(new string('a', 60), 5))));
        Assert.Throws<SshArgumentException>(() => SshTarget.Create(new string('a', 64) + ".example"));
        Assert.Equal(new string('a', 63) + ".example", SshTarget.Create(new string('a', 63) + ".example").HostName);
    }

    [Theory]
    [InlineData("ec2-user")]
    [InlineData("ubuntu")]
    [InlineData("_svc")]
    [InlineData("admin.1")]
    [InlineData("machine$")]
    public void Posix_user_names_pass(string user) => Assert.Equal(user, SshTarget.Create("h", user).UserName);

    [Theory]
    [InlineData("")]
    [InlineData("-oProxyCommand=x")]
    [InlineData("1user")]
    [InlineData("user name")]
    [InlineData("user@host")]
    [InlineData("user;id")]
    [InlineData("a-name-that-is-longer-than-32-chars")]
    public void Bad_user_names_are_refused(string user)
    {
        var ex = Assert.Throws<SshArgumentException>(() => SshTarget.Create("h", user));
        Assert.Equal(SshArgumentKind.UserName, ex.Kind);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(65536)]
    public void Ports_outside_1_to_65535_are_refused(int port) =>
        Assert.Equal(SshArgumentKind.Port, Assert.Throws<SshArgumentException>(() => SshTarget.Create("h", null, port)).Kind);

    [Fact]
    public void A_missing_key_file_or_a_directory_is_refused_and_an_existing_one_is_made_absolute()
    {
        Assert.Equal(SshArgumentKind.KeyFileNotFound, Assert.Throws<SshArgumentException>(() => SshTarget.Create("h", null, null, "/nonexistent/key")).Kind);
        Assert.Equal(SshArgumentKind.KeyFileNotFound, Assert.Throws<SshArgumentException>(() => SshTarget.Create("h", null, null, Path.GetTempPath())).Kind);
        string dir = Directory.CreateTempSubdirectory("imds-key-").FullName;
        try
        {
            string key = Path.Combine(dir, "id_test");
            File.WriteAllText(key, "not really a key");
            string relative = Path.GetRelativePath(Environment.CurrentDirectory, key);
            Assert.Equal(key, SshTarget.Create("h", null, null, relative).KeyFilePath);
            string dollar = Path.Combine(dir, "${HOME}key");
            File.WriteAllText(dollar, "x");
            Assert.Contains("'${'", Assert.Throws<SshArgumentException>(() => SshTarget.Create("h", null, null, dollar)).Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_argument_list_is_batch_mode_strict_host_keys_forwarding_off_and_the_host_after_a_double_dash()
    {
        string dir = Directory.CreateTempSubdirectory("imds-key %d ").FullName;
        try
        {
            string key = Path.Combine(dir, "id");
            File.WriteAllText(key, "x");
            string hosts = Path.Combine(dir, "known hosts");
            var target = SshTarget.Create("fd00:ec2::2", "ec2-user", 2222, key);
            var args = SshCommandLine.Build(target, new SshDiagnosisOptions { KnownHostsFilePath = hosts, ConnectTimeout = TimeSpan.FromSeconds(7) }).ToList();
            string joined = string.Join('\n', args);
            foreach (string option in new[] { "BatchMode=yes", "ConnectTimeout=7", "StrictHostKeyChecking=yes", "ForwardAgent=no", "ForwardX11=no", "ClearAllForwardings=yes", "PermitLocalCommand=no", "RemoteCommand=none", "IdentitiesOnly=yes" })
            {
                Assert.Contains(option, args);
                Assert.Equal("-o", args[args.IndexOf(option) - 1]);
            }

            Assert.DoesNotContain("StrictHostKeyChecking=no", joined, StringComparison.Ordinal);
            // ssh expands %-tokens in these paths and splits -o values on spaces.
            Assert.Equal(key.Replace("%", "%%", StringComparison.Ordinal), args[args.IndexOf("-i") + 1]);
            Assert.Contains("UserKnownHostsFile=\"" + hosts.Replace("%", "%%", StringComparison.Ordinal) + "\"", args);
            Assert.Equal(new[] { "--", "fd00:ec2::2", "sh", "-s" }, args.Skip(args.IndexOf("--")).ToArray());
            Assert.Equal(new[] { "-p", "2222" }, args.Skip(args.IndexOf("-p")).Take(2).ToArray());
            Assert.Equal(new[] { "-l", "ec2-user" }, args.Skip(args.IndexOf("-l")).Take(2).ToArray());

            var sudo = SshCommandLine.Build(SshTarget.Create("h"), new SshDiagnosisOptions { Sudo = true, HostKeyPolicy = SshHostKeyPolicy.AcceptNew });
            Assert.Equal(new[] { "--", "h", "sudo", "-n", "sh", "-s" }, sudo.Skip(sudo.ToList().IndexOf("--")).ToArray());
            Assert.Contains("StrictHostKeyChecking=accept-new", sudo);
            Assert.DoesNotContain("-i", sudo);
            Assert.DoesNotContain("-l", sudo);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_verbose_form_quotes_what_a_shell_would_split()
    {
        string shown = SshCommandLine.Display("/usr/bin/ssh", new[] { "-o", "UserKnownHostsFile=\"/tmp/a b\"", "--", "host", "sh", "-s" });
        Assert.Equal("/usr/bin/ssh -o 'UserKnownHostsFile=\"/tmp/a b\"' -- host sh -s", shown);
    }

    [Fact]
    public void The_total_bound_is_connect_plus_the_collectors_budget_from_TimeoutSec()
    {
        var options = new SshDiagnosisOptions { ConnectTimeout = TimeSpan.FromSeconds(10), Collector = new CollectorParameters { TimeoutSec = 2 } };
        Assert.Equal(TimeSpan.FromSeconds(10 + 30 + 40), options.TotalTimeout);
        Assert.Equal(TimeSpan.FromSeconds(13), new SshDiagnosisOptions { ConnectTimeout = TimeSpan.FromSeconds(10), CommandTimeout = TimeSpan.FromSeconds(3) }.TotalTimeout);
    }
}
