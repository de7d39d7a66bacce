using System;
using System.Collections.Generic;
using System.Linq;
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

    /// <summary>The socket error a probe outcome stands for (what a firewall rule's expected symptom is matched against).</summary>
    public static SocketError ErrorFor(ProbeOutcome outcome) => outcome switch
    {
        ProbeOutcome.ConnectionRefused => SocketError.ConnectionRefused,
        ProbeOutcome.Unreachable => SocketError.HostUnreachable,
        ProbeOutcome.AccessDenied => SocketError.AccessDenied,
        _ => SocketError.TimedOut,
    };

    /// <summary>The rule in an already-read report that explains a failed connect for <paramref name="uid"/>, or null.</summary>
    public static FirewallRule? FindInReport(FirewallReport report, uint uid, FirewallFamily family, ProbeOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(report);
        SocketError error = ErrorFor(outcome);
        var subject = report.Subjects.FirstOrDefault(s => s.Uid == uid && s.Family == family && s.Access is FirewallAccess.Blocked or FirewallAccess.MayBeBlocked);
        if (subject?.DecidedBy is { } decided && decided.Explains(error))
        {
            return decided;
        }

        var candidates = report.Rules.Where(r => r.Family == family && r.Explains(error)).ToList();
        var exact = candidates.FirstOrDefault(r => r.Decides) ?? candidates.FirstOrDefault(r => r.Blocks) ?? candidates.FirstOrDefault(r => r.Effect == FirewallRuleEffect.MayBlock);
        if (exact is not null)
        {
            return exact;
        }

        // A rule that stops this traffic explains the failure even when the symptom differs from its usual one: an
        // IPv6 REJECT's ICMPv6 error can arrive after a 1 s connect bound has already turned it into a timeout.
        var blocking = subject?.DecidedBy ?? report.Rules.FirstOrDefault(r => r.Family == family && r.Decides);
        return blocking;
    }

    /// <summary>A rule as the probe's cause, fix and evidence.</summary>
    public static ConnectExplanation FromRule(FirewallRule rule, uint uid)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var evidence = new List<string> { $"firewall: {rule.Location}: {rule.Rule}" };
        if (rule.PersistedFile is not null)
        {
            evidence.Add($"persisted in {rule.PersistedFile}{(rule.PersistedLine is { } line ? ":" + line : string.Empty)}: it comes back at boot unless removed there too");
        }

        string verdict = rule.Verdict == FirewallVerdict.Drop ? "drops" : "rejects";
        string cause = $"The local firewall rule {rule.Location} {verdict} this traffic for uid {uid}: {rule.Rule}";
        string fix = rule.PersistedFile is null
            ? "Delete the rule."
            : $"Delete the rule, and its line in {rule.PersistedFile} (Remove-ImdsFirewallRule -UpdatePersistedFile).";
        return new ConnectExplanation(evidence, cause, fix, rule.RemoveCommand);
    }

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

        SocketError error = ErrorFor(outcome);
        uint uid = ImdsProbe.EffectiveUid() ?? 0;
        try
        {
            FirewallRule? rule = inspector.ExplainConnectFailure((int)uid, address, error, cancellationToken);
            return rule is null
                ? new ConnectExplanation(new[] { $"no local firewall rule explains this for uid {uid} (iptables, ip6tables and nft rules were read)" })
                : FromRule(rule, uid);
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
