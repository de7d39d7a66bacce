using System;
using System.IO;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Firewall;

namespace ImdsTroubleshoot.Commands;

/// <summary>Deletes firewall rules that Get-ImdsFirewallRule reported, and optionally their line in the persisted rules file.</summary>
[Cmdlet(VerbsCommon.Remove, "ImdsFirewallRule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(FirewallRuleRemoval))]
public sealed class RemoveImdsFirewallRuleCommand : ImdsCmdlet
{
    private readonly FirewallRuleRemover _remover = new();

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public FirewallRule[]? InputObject { get; set; }

    [Parameter]
    public SwitchParameter UpdatePersistedFile { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (FirewallRule rule in InputObject ?? Array.Empty<FirewallRule>())
        {
            if (CancellationToken.IsCancellationRequested)
            {
                return;
            }

            Remove(rule);
        }
    }

    private bool IsWhatIf =>
        (MyInvocation.BoundParameters.TryGetValue("WhatIf", out object? w) && w is SwitchParameter { IsPresent: true }) ||
        (SessionState.PSVariable.GetValue("WhatIfPreference") is SwitchParameter { IsPresent: true } or true);

    /// <summary>ShouldProcess, except that -Force skips the confirmation (never -WhatIf).</summary>
    private bool Approve(string target, string action)
    {
        if (Force.IsPresent && !IsWhatIf)
        {
            WriteVerbose($"Performing the operation \"{action}\" on target \"{target}\".");
            return true;
        }

        return ShouldProcess(target, action);
    }

    private void Remove(FirewallRule rule)
    {
        string? why = FirewallRuleRemover.WhyNotRemovable(rule);
        if (why is not null)
        {
            WriteError(new InvalidOperationException(why), rule.IsPolicy ? ErrorIds.FirewallRuleIsPolicy : ErrorIds.FirewallRuleNotRemovable, ErrorCategory.InvalidOperation, rule,
                rule.IsPolicy ? rule.PersistenceNote : "Delete it by hand after checking it with the tool that made it.");
            return;
        }

        PersistedFileChange? plan = null;
        if (UpdatePersistedFile.IsPresent && rule.PersistedFile is not null)
        {
            try
            {
                plan = _remover.PlanPersistedFileUpdate(rule);
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                WriteError(ex, ErrorIds.FirewallPersistedFileUpdateFailed, ErrorCategory.InvalidOperation, rule.PersistedFile);
            }
        }

        bool live = Approve($"{rule.Location}: {rule.Rule}", $"Delete firewall rule: {rule.RemoveCommand}");
        bool file = plan is not null && (live || IsWhatIf) &&
            Approve(plan.Path, $"Remove {(plan.Lines.Count > 1 ? "lines" : "line")} {string.Join(", ", plan.Lines)} ({string.Join(" / ", plan.RemovedText)}) after a backup copy");
        if (!live)
        {
            return;
        }

        FirewallRuleRemoval removal;
        try
        {
            removal = _remover.Remove(rule, CancellationToken);
        }
        catch (FirewallAccessDeniedException ex)
        {
            WriteError(ex, ErrorIds.FirewallRemovePermissionDenied, ErrorCategory.PermissionDenied, rule, "Run as root: changing iptables and nftables rules needs root or CAP_NET_ADMIN.");
            return;
        }
        catch (FirewallRuleChangedException ex)
        {
            WriteError(ex, ErrorIds.FirewallRuleChanged, ErrorCategory.InvalidData, rule, "Read the rules again with Get-ImdsFirewallRule and pipe the fresh objects.");
            return;
        }
        catch (FirewallToolNotFoundException ex)
        {
            WriteError(ex, ErrorIds.FirewallToolNotFound, ErrorCategory.ObjectNotFound, rule);
            return;
        }
        catch (FirewallCommandException ex)
        {
            WriteError(ex, ErrorIds.FirewallRuleRemoveFailed, ErrorCategory.InvalidResult, rule);
            return;
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (removal.Status == FirewallRemovalStatus.AlreadyGone)
        {
            WriteWarning($"{rule.Location} was already gone ({rule.Rule}); nothing to delete.");
        }
        else
        {
            WriteVerbose($"Deleted {rule.Location} with: {removal.Command}");
        }

        foreach (string note in removal.Notes)
        {
            WriteWarning(note);
        }

        if (file)
        {
            try
            {
                string backup = _remover.ApplyPersistedFileUpdate(removal, plan!);
                WriteVerbose($"Removed line {string.Join(", ", plan!.Lines)} of {plan.Path}; the previous file is kept as {backup}.");
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                WriteError(ex, ErrorIds.FirewallPersistedFileUpdateFailed, ErrorCategory.WriteError, plan!.Path);
            }
        }
        else if (UpdatePersistedFile.IsPresent && rule.PersistedFile is not null && plan is null)
        {
            WriteWarning($"The rule is no longer in {rule.PersistedFile}: nothing to change there.");
        }
        else if (removal.PersistHint is not null && !UpdatePersistedFile.IsPresent)
        {
            WriteWarning(removal.PersistHint);
        }

        WriteObject(removal);
    }
}
