using System;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>Names the program that manages a rule, from the chain and table names it uses.</summary>
internal static partial class FrontEnds
{
    [GeneratedRegex(@"^(IN|OUT|FWD|FWDI|FWDO|PRE|POST)_.+_(pre|log|deny|allow|post)$", RegexOptions.CultureInvariant)]
    private static partial Regex FirewalldPolicyChain();

    public static FirewallFrontEnd Classify(Table table, string chain)
    {
        if (table.NftFamily is not null && table.Backend == FirewallBackend.Nftables)
        {
            string t = table.Name;
            if (t.StartsWith("firewalld", StringComparison.Ordinal))
            {
                return FirewallFrontEnd.Firewalld;
            }

            if (t.StartsWith("docker", StringComparison.Ordinal))
            {
                return FirewallFrontEnd.Docker;
            }

            if (t is "kube-proxy" or "kubernetes" || t.StartsWith("kube", StringComparison.Ordinal))
            {
                return FirewallFrontEnd.Kubernetes;
            }

            if (t.StartsWith("aws-cni", StringComparison.Ordinal) || t.StartsWith("aws-node", StringComparison.Ordinal))
            {
                return FirewallFrontEnd.AwsVpcCni;
            }

            if (t.StartsWith("cilium", StringComparison.Ordinal))
            {
                return FirewallFrontEnd.Cilium;
            }

            if (t.StartsWith("calico", StringComparison.Ordinal))
            {
                return FirewallFrontEnd.Calico;
            }
        }

        return ClassifyChain(chain);
    }

    public static FirewallFrontEnd ClassifyChain(string chain)
    {
        if (chain.StartsWith("ufw-", StringComparison.Ordinal) || chain.StartsWith("ufw6-", StringComparison.Ordinal))
        {
            return FirewallFrontEnd.Ufw;
        }

        if (chain.StartsWith("DOCKER", StringComparison.Ordinal))
        {
            return FirewallFrontEnd.Docker;
        }

        if (chain.StartsWith("KUBE-", StringComparison.Ordinal))
        {
            return FirewallFrontEnd.Kubernetes;
        }

        if (chain.StartsWith("AWS-SNAT-CHAIN", StringComparison.Ordinal) || chain.StartsWith("AWS-CONNMARK-CHAIN", StringComparison.Ordinal))
        {
            return FirewallFrontEnd.AwsVpcCni;
        }

        if (chain.StartsWith("cali-", StringComparison.Ordinal))
        {
            return FirewallFrontEnd.Calico;
        }

        if (chain.StartsWith("CILIUM_", StringComparison.Ordinal))
        {
            return FirewallFrontEnd.Cilium;
        }

        if (chain.EndsWith("_direct", StringComparison.Ordinal) || chain.Contains("_POLICIES", StringComparison.Ordinal) ||
            chain.Contains("_ZONES", StringComparison.Ordinal) || chain.EndsWith("_dispatch", StringComparison.Ordinal) || FirewalldPolicyChain().IsMatch(chain))
        {
            return FirewallFrontEnd.Firewalld;
        }

        return FirewallFrontEnd.None;
    }
}
