using System;
using System.Linq;
using ImdsTroubleshoot.Engine.Firewall;
using Xunit;
using static ImdsTroubleshoot.Tests.Firewall.FirewallTestKit;

namespace ImdsTroubleshoot.Tests.Firewall;

/// <summary>Rules are named by the program that made them, from their chains and tables, with what that means for persistence.</summary>
public sealed class FrontEndTests
{
    [Fact]
    public void Docker_kubernetes_and_aws_node_chains_are_recognised()
    {
        string filter = Filter(DefaultPolicies(forwardDrop: true, userChains: new[] { "DOCKER-USER", "DOCKER-FORWARD", "KUBE-FORWARD" }),
            "-A FORWARD -j DOCKER-USER",
            "-A FORWARD -j KUBE-FORWARD",
            "-A FORWARD -j DOCKER-FORWARD",
            "-A DOCKER-USER -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable",
            "-A DOCKER-USER -j RETURN",
            "-A KUBE-FORWARD -d 169.254.169.254/32 -m comment --comment \"test: kube drop\" -j DROP",
            "-A DOCKER-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A DOCKER-FORWARD -i docker0 -j ACCEPT");
        string nat = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:AWS-SNAT-CHAIN-0 - [0:0]\n" +
            "-A POSTROUTING -m comment --comment \"AWS SNAT CHAIN\" -j AWS-SNAT-CHAIN-0\n" +
            "-A AWS-SNAT-CHAIN-0 ! -d 10.0.0.0/16 -m comment --comment \"AWS, SNAT\" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 10.0.1.5\nCOMMIT\n";
        var report = Inspect(Runner(v4: filter + nat, containerInterface: "docker0"), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var docker = report.Rule("DOCKER-USER", 1);
        Assert.Equal(FirewallFrontEnd.Docker, docker.FrontEnd);
        Assert.Equal("docker (iptables-nft)", docker.Source);
        Assert.True(docker.Decides);
        Assert.Contains("forwarded from docker0", docker.BlockedFor);
        Assert.Contains("DOCKER-USER", docker.PersistenceNote, StringComparison.Ordinal);
        var kube = report.Rule("KUBE-FORWARD", 1);
        Assert.Equal(FirewallFrontEnd.Kubernetes, kube.FrontEnd);
        Assert.True(kube.Blocks);
        Assert.False(kube.Decides);
        Assert.Contains("recreates it", kube.PersistenceNote, StringComparison.Ordinal);
        // Docker's own ACCEPT for docker0 lets the containers' traffic through the DROP policy (replies by conntrack).
        Assert.Equal(FirewallRuleEffect.Allows, report.Rule("DOCKER-FORWARD", 2).Effect);
        Assert.DoesNotContain(report.Rules, r => r.IsPolicy);
        // aws-node's SNAT is not a filter decision: not reported by default, named with -All.
        Assert.DoesNotContain(report.Rules, r => r.Table == "nat");
        var all = Inspect(Runner(v4: filter + nat, containerInterface: "docker0"), new FirewallQuery { Family = FirewallFamily.IPv4, All = true });
        Assert.Equal(FirewallFrontEnd.AwsVpcCni, all.Rule("AWS-SNAT-CHAIN-0", 1, "nat").FrontEnd);
    }

    [Fact]
    public void Firewalld_nft_tables_and_iptables_chains_are_recognised()
    {
        const string json = """
            {"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"table": {"family": "inet", "name": "firewalld", "handle": 1, "flags": ["owner", "persist"]}},
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_OUTPUT", "handle": 1, "type": "filter", "hook": "output", "prio": 10, "policy": "accept"}},
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_OUT_policy_noimds", "handle": 2}},
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_OUT_policy_noimds_deny", "handle": 3}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_OUTPUT", "handle": 10, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_OUTPUT", "handle": 11, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_OUTPUT", "handle": 12, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "lo"}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_OUTPUT", "handle": 13, "expr": [{"jump": {"target": "filter_OUT_policy_noimds"}}]}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_OUT_policy_noimds", "handle": 14, "expr": [{"jump": {"target": "filter_OUT_policy_noimds_deny"}}]}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_OUT_policy_noimds_deny", "handle": 15, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "169.254.169.254"}}, {"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]}}
            ]}
            """;
        var report = Inspect(Runner(nft: json), new FirewallQuery { Family = FirewallFamily.IPv4 });
        var rule = Assert.Single(report.Rules);
        Assert.Equal(FirewallFrontEnd.Firewalld, rule.FrontEnd);
        Assert.Equal("firewalld (nftables)", rule.Source);
        Assert.True(rule.Decides);
        Assert.Equal(FirewallSymptom.HostUnreachable, rule.ExpectedSymptom);
        Assert.Contains("firewall-cmd --permanent", rule.PersistenceNote, StringComparison.Ordinal);

        Assert.Equal(FirewallFrontEnd.Firewalld, FrontEnds.ClassifyChain("OUTPUT_direct"));
        Assert.Equal(FirewallFrontEnd.Firewalld, FrontEnds.ClassifyChain("OUT_noimds_deny"));
        Assert.Equal(FirewallFrontEnd.Calico, FrontEnds.ClassifyChain("cali-OUTPUT"));
        Assert.Equal(FirewallFrontEnd.Ufw, FrontEnds.ClassifyChain("ufw6-user-output"));
        Assert.Equal(FirewallFrontEnd.None, FrontEnds.ClassifyChain("IMDS-CHECK"));
    }
}
