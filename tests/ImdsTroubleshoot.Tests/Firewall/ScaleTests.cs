using System.Diagnostics;
using System.Linq;
using System.Text;
using ImdsTroubleshoot.Engine.Firewall;
using Xunit;
using static ImdsTroubleshoot.Tests.Firewall.FirewallTestKit;

namespace ImdsTroubleshoot.Tests.Firewall;

/// <summary>A Kubernetes node has thousands of kube-proxy rules; the evaluator must stay fast and find the one that matters.</summary>
public sealed class ScaleTests
{
    [Fact]
    public void A_kube_proxy_sized_rule_set_is_evaluated_quickly_and_only_the_imds_rule_is_reported()
    {
        var sb = new StringBuilder("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-FIREWALL - [0:0]\n");
        for (int i = 0; i < 2000; i++)
        {
            sb.Append($":KUBE-SVC-{i:X8} - [0:0]\n");
        }

        sb.Append("-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
        sb.Append("-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
        sb.Append("-A OUTPUT -j KUBE-FIREWALL\n");
        for (int i = 0; i < 2000; i++)
        {
            sb.Append($"-A KUBE-SERVICES -d 10.100.{i / 250}.{i % 250}/32 -p tcp -m comment --comment \"ns/svc{i}:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-{i:X8}\n");
            sb.Append($"-A KUBE-SVC-{i:X8} -m comment --comment \"ns/svc{i}\" -m statistic --mode random --probability 0.5 -j DROP\n");
        }

        sb.Append("-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n");
        sb.Append("-A FORWARD -d 169.254.169.254/32 -i eni+ -j DROP\nCOMMIT\n");

        var sw = Stopwatch.StartNew();
        var report = Inspect(Runner(v4: sb.ToString(), containerInterface: "eni1"));
        sw.Stop();
        var rule = Assert.Single(report.Rules);
        Assert.Equal(("FORWARD", 2), (rule.Chain, rule.Position));
        Assert.Equal(new[] { "forwarded from eni1" }, rule.BlockedFor);
        Assert.DoesNotContain(report.Warnings, w => w.Contains("undecidable", System.StringComparison.Ordinal));
        Assert.True(sw.Elapsed.TotalSeconds < 10, $"4000 rules took {sw.Elapsed.TotalMilliseconds:0} ms");
    }
}
