using System;
using System.Collections.Generic;
using System.Linq;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Engine.Net;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Lab;

/// <summary>
/// Remote equals local: for each lab scenario, Invoke-ImdsDiagnosis -InstanceId through the local SSM endpoint (which
/// really runs the collector inside the lab namespace, as root or as another uid) gives the same findings as the local
/// Invoke-ImdsDiagnosis run in that namespace. Both runs are the CLI (`--json`), so both are compared as users get them;
/// both read the instance's metadata options from a fake EC2 API that knows the instance the same way.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class SsmLabTests
{
    private const string InstanceId = "i-0123456789abcdef0";

    private static void Configure(FakeInstance instance, int hopLimit, string httpEndpoint)
    {
        instance.HttpPutResponseHopLimit = hopLimit;
        instance.HttpEndpoint = httpEndpoint;
    }

    /// <summary>The local run inside <paramref name="ns"/>, asking a fake EC2 API inside that namespace.</summary>
    private static List<LabFinding> Local(string ns, int hopLimit, string httpEndpoint, Dictionary<string, string>? extraEnv, int? uid)
    {
        using var ec2 = NetworkNamespace.Run(ns, () => new FakeEc2());
        ec2.Add(InstanceId, "lab", i => Configure(i, hopLimit, httpEndpoint));
        var env = AwsEnvironment.For(ec2.Url, region: null);
        env["AWS_EC2_METADATA_DISABLED"] = null;
        env["HTTP_PROXY"] = null;
        env["http_proxy"] = null;
        foreach (var (k, v) in extraEnv ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }

        return LabFinding.FromCli(Cli.Run(new[] { "--json", $"Invoke-ImdsDiagnosis -Ec2Api Always -TimeoutSec {LabFinding.StepSeconds}" }, env, TimeSpan.FromSeconds(120), ns, uid));
    }

    /// <summary>The remote run from the host namespace: SSM runs the collector in <paramref name="ns"/>, EC2 knows the instance.</summary>
    private static (List<LabFinding> Findings, FakeSsm Ssm) Remote(string ns, int hopLimit, string httpEndpoint, Dictionary<string, string>? extraEnv, int? uid, (int, string)? commandsLimit = null)
    {
        var ssm = new FakeSsm { CommandsLimit = commandsLimit };
        using var ec2 = new FakeEc2();
        ec2.Add(InstanceId, "lab", i => Configure(i, hopLimit, httpEndpoint));
        ssm.AddLab(InstanceId, ns, (uint)(uid ?? 0), extraEnv);
        var env = AwsEnvironment.For(null, region: "eu-west-1");
        var r = Cli.Run(new[] { "--json", $"Invoke-ImdsDiagnosis -InstanceId {InstanceId} -EndpointUrl {ssm.Url} -Ec2EndpointUrl {ec2.Url} -TimeoutSec {LabFinding.StepSeconds}" }, env, TimeSpan.FromSeconds(180));
        ssm.Dispose();
        return (LabFinding.FromCli(r), ssm);
    }

    /// <summary>
    /// Every check has the same status and outcome. Where the local run knew the instance (IMDS named it), the cause and
    /// the fixes are the same too; where it did not (IMDS refused or turned off), the remote run still names the instance
    /// SSM ran on, so its fixes name it instead of INSTANCE_ID and it can read the metadata options the local run could not.
    /// </summary>
    private static void AssertSame(List<LabFinding> local, List<LabFinding> remote, params string[] except)
    {
        Assert.All(remote, f => Assert.Equal(InstanceId, f.Target));
        Assert.All(remote, f => Assert.Equal(InstanceId, f.InstanceId));
        Assert.True(local.Select(f => f.Check).SequenceEqual(remote.Select(f => f.Check)),
            $"checks differ:\n local:  {string.Join(", ", local.Select(f => f.Check))}\n remote: {string.Join(", ", remote.Select(f => f.Check))}\n{string.Join("\n", remote.Where(f => f.Check == "Collection"))}");
        bool localKnewInstance = local.Any(f => f.InstanceId == InstanceId);
        if (!localKnewInstance)
        {
            Assert.Equal("Skipped", local.Single(f => f.Check == "MetadataOptions").Status);
            Assert.NotEqual("Skipped", remote.Single(f => f.Check == "MetadataOptions").Status);
            except = except.Append("MetadataOptions").ToArray();
        }

        foreach (var l in local.Where(f => !except.Contains(f.Check)))
        {
            var r = remote.Single(f => f.Check == l.Check);
            if (l.Check == "Proxy" && (ProcessesOnly(l) || ProcessesOnly(r)))
            {
                // As root the Proxy check also reads running processes' environments: other test processes running at
                // the same time (with a dead-end proxy set, like the remote run's own CLI) may show up in either run.
                continue;
            }

            bool same = (l.Status, l.Outcome) == (r.Status, r.Outcome) && (!localKnewInstance || (l.Cause, l.Fix, l.ShellFix, l.InstanceId) == (r.Cause, r.Fix, r.ShellFix, r.InstanceId));
            Assert.True(same, $"{l.Check} differs:\n local:  {l}\n remote: {r}");
        }
    }

    private static bool ProcessesOnly(LabFinding f) => f.Outcome == "ProxyCatchesImdsElsewhere"
        && f.Evidence.Length > 0 && f.Evidence.All(LabFinding.IsProcessEvidence);

    private static (List<LabFinding> Local, List<LabFinding> Remote) Both(string ns, int hopLimit = 2, string httpEndpoint = "enabled", Dictionary<string, string>? env = null, int? uid = null)
    {
        var local = Local(ns, hopLimit, httpEndpoint, env, uid);
        var (remote, ssm) = Remote(ns, hopLimit, httpEndpoint, env, uid);
        // The collector really ran: one SendCommand, its script the module's collector, read back with GetCommandInvocation.
        Assert.Equal(1, ssm.Count("SendCommand"));
        Assert.Contains(ssm.Calls, c => c.Operation == "GetCommandInvocation" && c.Status == 200);
        return (local, remote);
    }

    [LabFact]
    public void Healthy_instance_remote_findings_equal_local_ones()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpTokens = HttpTokensState.Required, HttpPutResponseHopLimit = 2 });
        var (local, remote) = Both(lab.InstanceNs);
        AssertSame(local, remote);
        Assert.All(new[] { "Endpoint", "Token", "HopLimit", "Firewall" }, c => Assert.Equal("Pass", remote.Single(f => f.Check == c).Status));
    }

    [LabFact]
    public void A_reject_rule_is_named_remotely_as_locally()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-j", "REJECT");
        var (local, remote) = Both(lab.InstanceNs);
        AssertSame(local, remote);
        var firewall = remote.Single(f => f.Check == "Firewall");
        Assert.Equal(("Fail", "FirewallBlocksImds"), (firewall.Status, firewall.Outcome));
        Assert.Equal(("Fail", "ConnectionRefused"), (remote.Single(f => f.Check == "Endpoint").Status, remote.Single(f => f.Check == "Endpoint").Outcome));
    }

    [LabFact]
    public void When_SSM_refuses_the_plain_collectors_size_the_packed_one_runs_there_and_finds_the_same()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-j", "REJECT");
        var local = Local(lab.InstanceNs, 2, "enabled", null, null);
        var (remote, ssm) = Remote(lab.InstanceNs, 2, "enabled", null, null, commandsLimit: (20_000, "InvalidParameters"));
        AssertSame(local, remote);
        Assert.Equal(("Fail", "FirewallBlocksImds"), (remote.Single(f => f.Check == "Firewall").Status, remote.Single(f => f.Check == "Firewall").Outcome));

        // The plain collector was refused, the packed one (under the limit) ran in the lab namespace.
        Assert.Equal(new[] { 400, 200 }, ssm.Calls.Where(c => c.Operation == "SendCommand").Select(c => c.Status));
        var sent = Assert.Single(ssm.Commands);
        Assert.StartsWith(ImdsTroubleshoot.Engine.Remote.Collector.PackedHeader, sent.Script, StringComparison.Ordinal);
        Assert.True(sent.Script.Length < 20_000, sent.Script.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var run = Assert.Single(ssm.LabRuns);
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    [LabFact]
    public void The_articles_uid_rule_refuses_uid_1000_remotely_as_locally()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        NetworkLab.Exec(lab.InstanceNs, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", "169.254.169.254", "-m", "owner", "--uid-owner", "1000-10000", "-j", "REJECT");
        var (local, remote) = Both(lab.InstanceNs, uid: 1000);
        AssertSame(local, remote);
        Assert.Equal(("Fail", "ConnectionRefused"), (remote.Single(f => f.Check == "Endpoint").Status, remote.Single(f => f.Check == "Endpoint").Outcome));
    }

    [LabFact]
    public void A_proxy_without_NO_PROXY_is_named_remotely_as_locally()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 2 });
        var env = new Dictionary<string, string> { ["HTTP_PROXY"] = "http://127.0.0.1:3128", ["http_proxy"] = "http://127.0.0.1:3128" };
        var (local, remote) = Both(lab.InstanceNs, env: env);
        AssertSame(local, remote);
        Assert.Equal(("Fail", "ProxyCatchesImds"), (remote.Single(f => f.Check == "Proxy").Status, remote.Single(f => f.Check == "Proxy").Outcome));
    }

    [LabFact]
    public void Hop_limit_1_seen_from_a_container_is_one_finding_remotely_as_locally()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });
        var (local, remote) = Both(lab.ContainerNs, hopLimit: 1);
        AssertSame(local, remote);
        var hop = remote.Single(f => f.Check == "HopLimit");
        Assert.Equal(("Fail", "HopLimitTooLowForContainers"), (hop.Status, hop.Outcome));
        Assert.Equal($"Set-ImdsMetadataOption -InstanceId {InstanceId} -Region eu-west-1 -HttpPutResponseHopLimit 2", hop.Fix);
    }

    [LabFact]
    public void Imds_turned_off_is_found_remotely_as_locally_and_SSM_adds_the_metadata_options()
    {
        using var lab = NetworkLab.Create();
        lab.StartEmulator(new EmulatorSettings { HttpEndpoint = FeatureState.Disabled, HttpPutResponseHopLimit = 2 });
        var (local, remote) = Both(lab.InstanceNs, httpEndpoint: "disabled");
        // Locally IMDS cannot say which instance this is, so the EC2 API is not asked; remotely SSM knows the instance.
        AssertSame(local, remote, "MetadataOptions", "Token");
        Assert.Equal("EndpointDisabled", local.Single(f => f.Check == "Token").Outcome);
        Assert.Equal("EndpointDisabled", remote.Single(f => f.Check == "Token").Outcome);
        Assert.Equal("Skipped", local.Single(f => f.Check == "MetadataOptions").Status);
        var options = remote.Single(f => f.Check == "MetadataOptions");
        Assert.Equal(("Fail", "ImdsDisabled"), (options.Status, options.Outcome));
    }
}
