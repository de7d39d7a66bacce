using System;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Firewall;

namespace ImdsTroubleshoot.Commands;

/// <summary>Finds the local packet-filter rules that affect traffic to IMDS, and whom they block.</summary>
[Cmdlet(VerbsCommon.Get, "ImdsFirewallRule")]
[OutputType(typeof(FirewallRule))]
public sealed class GetImdsFirewallRuleCommand : ImdsCmdlet
{
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int[]? Uid { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? User { get; set; }

    [Parameter]
    public FirewallFamily AddressFamily { get; set; } = FirewallFamily.Both;

    [Parameter]
    public SwitchParameter IncludeForward { get; set; }

    [Parameter]
    public SwitchParameter All { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? NetworkNamespace { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? PersistedFile { get; set; }

    protected override void EndProcessing()
    {
        IUserDatabase users = PasswdUserDatabase.FromSystem();
        List<uint>? uids = ResolveUsers(users);
        if (uids is { Count: 0 })
        {
            return;
        }

        if (NetworkNamespace is not null)
        {
            CheckNamespace(NetworkNamespace);
        }

        var files = new List<string>();
        foreach (string f in PersistedFile ?? Array.Empty<string>())
        {
            files.Add(GetUnresolvedProviderPathFromPSPath(f));
        }

        // The boot files (/etc/iptables/rules.v4, ...) restore the host's own firewall, not a named namespace's.
        var inspector = new FirewallInspector(new FirewallInspectorOptions
        {
            NetworkNamespace = NetworkNamespace,
            Users = users,
            PersistedFiles = files,
            StandardPersistedFiles = NetworkNamespace is null,
        });
        FirewallReport report;
        try
        {
            report = inspector.Inspect(new FirewallQuery { Uids = uids, Family = AddressFamily, IncludeForward = IncludeForward.IsPresent, All = All.IsPresent }, CancellationToken);
        }
        catch (FirewallAccessDeniedException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.FirewallReadPermissionDenied, ErrorCategory.PermissionDenied, ex.Tool,
                "Run as root (sudo imds-troubleshoot 'Get-ImdsFirewallRule', or sudo pwsh): reading iptables and nftables rules needs root or CAP_NET_ADMIN.");
            return;
        }
        catch (FirewallToolNotFoundException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.FirewallToolNotFound, ErrorCategory.ObjectNotFound, null);
            return;
        }
        catch (FirewallCommandException ex) when (ex.TimedOut)
        {
            ThrowTerminatingError(ex, ErrorIds.FirewallReadTimeout, ErrorCategory.OperationTimeout, ex.Tool);
            return;
        }
        catch (FirewallCommandException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.FirewallReadFailed, ErrorCategory.ReadError, ex.Tool);
            return;
        }
        catch (OperationCanceledException)
        {
            return;
        }

        foreach (string source in report.Sources)
        {
            WriteVerbose("Read " + source);
        }

        foreach (string warning in report.Warnings)
        {
            WriteWarning(warning);
        }

        foreach (FirewallSubjectResult s in report.Subjects)
        {
            WriteVerbose(s.Access switch
            {
                FirewallAccess.Allowed => $"{s.Subject}, {s.Family}: IMDS traffic is allowed.",
                FirewallAccess.Blocked => $"{s.Subject}, {s.Family}: IMDS traffic is blocked by {s.DecidedBy!.Location} ({s.Symptom}).",
                FirewallAccess.MayBeBlocked => $"{s.Subject}, {s.Family}: IMDS traffic may be blocked by {s.DecidedBy!.Location}, which could not be fully evaluated.",
                _ => $"{s.Subject}, {s.Family}: IMDS traffic is redirected by {s.DecidedBy!.Location}.",
            });
        }

        foreach (FirewallRule rule in report.Rules)
        {
            WriteObject(rule);
        }
    }

    private List<uint>? ResolveUsers(IUserDatabase users)
    {
        if (Uid is null && User is null)
        {
            return null;
        }

        var uids = new List<uint>();
        foreach (int u in Uid ?? Array.Empty<int>())
        {
            uids.Add((uint)u);
        }

        foreach (string name in User ?? Array.Empty<string>())
        {
            if (uint.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out uint numeric))
            {
                uids.Add(numeric);
            }
            else if (users.TryGetUid(name, out uint uid))
            {
                uids.Add(uid);
            }
            else
            {
                WriteError(new ItemNotFoundException($"There is no user '{name}' in /etc/passwd."), ErrorIds.FirewallUserNotFound, ErrorCategory.ObjectNotFound, name,
                    "Give a user name from /etc/passwd, or the numeric uid with -Uid.");
            }
        }

        return uids;
    }

    private void CheckNamespace(string name)
    {
        try
        {
            if (!Engine.Net.NetworkNamespace.Exists(name))
            {
                ThrowTerminatingError(new ItemNotFoundException($"The network namespace '{name}' does not exist (see ip netns list)."),
                    ErrorIds.NetworkNamespaceNotFound, ErrorCategory.ObjectNotFound, name);
            }
        }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.NetworkNamespaceNotFound, ErrorCategory.InvalidArgument, name);
        }
    }
}
