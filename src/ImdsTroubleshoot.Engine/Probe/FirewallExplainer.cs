using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.Firewall;

namespace ImdsTroubleshoot.Engine.Probe;

/// <summary>
/// After a refused, unreachable or timed-out connect: the local firewall rule that explains it for this uid
/// (REJECT: refused or unreachable; DROP: timeout), with its exact removal command. Without root it says it could
/// not read the rules; it never throws.
/// </summary>
public static class FirewallExplainer
{
    public static Task<ConnectExplanation> ExplainAsync(ProbeOutcome outcome, Uri endpoint, CancellationToken cancellationToken) =>
        Task.Run(() => Explain(outcome, endpoint, new FirewallInspector(new FirewallInspectorOptions()), cancellationToken), cancellationToken);

    public static ConnectExplanation Explain(ProbeOutcome outcome, Uri endpoint, FirewallInspector inspector, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(inspector);
        if (!IPAddress.TryParse(endpoint.Host.Trim('[', ']'), out IPAddress? address))
        {
            return new ConnectExplanation(new[] { "firewall not checked: the endpoint is a host name, not an address" });
        }

        if (IPAddress.IsLoopback(address))
        {
            return new ConnectExplanation(new[] { "firewall not checked: the endpoint is on loopback (an emulator or a local proxy), not IMDS" });
        }

        SocketError error = outcome switch
        {
            ProbeOutcome.ConnectionRefused => SocketError.ConnectionRefused,
            ProbeOutcome.Unreachable => SocketError.HostUnreachable,
            ProbeOutcome.AccessDenied => SocketError.AccessDenied,
            _ => SocketError.TimedOut,
        };
        uint uid = ImdsProbe.EffectiveUid() ?? 0;
        try
        {
            FirewallRule? rule = inspector.ExplainConnectFailure((int)uid, address, error, cancellationToken);
            if (rule is null)
            {
                return new ConnectExplanation(new[] { $"no local firewall rule explains this for uid {uid} (iptables, ip6tables and nft rules were read)" });
            }

            var evidence = new List<string> { $"firewall: {rule.Location} ({rule.Source}): {rule.Rule}" };
            if (rule.PersistedFile is not null)
            {
                evidence.Add($"persisted in {rule.PersistedFile}{(rule.PersistedLine is { } line ? ":" + line : string.Empty)}: it comes back at boot unless removed there too");
            }

            string verdict = rule.Verdict == FirewallVerdict.Drop ? "drops" : "rejects";
            string cause = $"The local firewall rule {rule.Location} ({rule.Source}) {verdict} this traffic for uid {uid}: {rule.Rule}";
            string fix = rule.PersistedFile is null
                ? "Delete the rule."
                : $"Delete the rule, and its line in {rule.PersistedFile} (Remove-ImdsFirewallRule -UpdatePersistedFile).";
            return new ConnectExplanation(evidence, cause, fix, rule.RemoveCommand);
        }
        catch (FirewallAccessDeniedException)
        {
            return new ConnectExplanation(new[] { "firewall rules not read: run as root (sudo) to name the rule that explains this" });
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new ConnectExplanation(new[] { "firewall rules not read: " + ex.Message });
        }
    }
}
