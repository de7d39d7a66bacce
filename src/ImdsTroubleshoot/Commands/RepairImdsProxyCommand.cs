using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Proxy;

namespace ImdsTroubleshoot.Commands;

/// <summary>
/// Adds 169.254.169.254, fd00:ec2::254 and [fd00:ec2::254] to NO_PROXY and no_proxy where a proxy is set and IMDS is
/// not exempt: in this session, in the user's files or in the machine's files.
/// </summary>
[Cmdlet(VerbsDiagnostic.Repair, "ImdsProxy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByScope)]
[OutputType(typeof(ImdsProxyRepair))]
public sealed class RepairImdsProxyCommand : ImdsCmdlet
{
    public const string ByScope = nameof(ByScope);
    public const string ByInputObject = nameof(ByInputObject);

    private readonly List<ImdsProxySetting> _input = new();

    /// <summary>Session (this process), User (shell profiles, ~/.docker/config.json), Machine (/etc, systemd, dockerd).</summary>
    [Parameter(Position = 0, ParameterSetName = ByScope)]
    [ValidateSet("Session", "User", "Machine")]
    public string[] Scope { get; set; } = { "Session" };

    /// <summary>Settings from Get-ImdsProxyConfiguration: repairs the contexts they belong to.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = ByInputObject)]
    public ImdsProxySetting[]? InputObject { get; set; }

    /// <summary>Repair the files of a root file system mounted elsewhere.</summary>
    [Parameter(ParameterSetName = ByScope)]
    [ValidateNotNullOrEmpty]
    public string? RootPath { get; set; }

    /// <summary>The user home for -Scope User (as the target system names it).</summary>
    [Parameter(ParameterSetName = ByScope)]
    [ValidateNotNullOrEmpty]
    public string? HomeDirectory { get; set; }

    /// <summary>Also edit files that set NO_PROXY/no_proxy but no proxy, when that is where the exemption must go.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (InputObject is not null)
        {
            _input.AddRange(InputObject);
        }
    }

    protected override void EndProcessing()
    {
        ProxyRepairPlan plan;
        if (ParameterSetName == ByInputObject)
        {
            if (_input.Count == 0)
            {
                return;
            }

            plan = ProxyRepairPlanner.PlanFor(_input, Force.IsPresent);
        }
        else
        {
            var scopes = Scope.Select(s => Enum.Parse<ProxyScope>(s, ignoreCase: true)).Distinct().ToArray();
            ProxyInspection inspection = ProxyCommandSupport.Inspect(this, RootPath, HomeDirectory, runningProcesses: true);
            plan = ProxyRepairPlanner.Plan(inspection, new ProxyRepairOptions { Scopes = scopes, Force = Force.IsPresent });
        }

        var restart = new List<string>();
        foreach (ImdsProxyRepair repair in plan.Repairs)
        {
            string action = $"Exempt IMDS from the proxy: {string.Join("; ", repair.Changes)}";
            if (!ShouldProcess(repair.Target, action))
            {
                ProxyRepairPlanner.Skip(repair);
                if (PassThru.IsPresent)
                {
                    WriteObject(repair);
                }

                continue;
            }

            try
            {
                ProxyRepairPlanner.Apply(repair, DateTimeOffset.UtcNow);
                WriteVerbose(repair.File is null
                    ? $"Process environment: {string.Join("; ", repair.Changes)}"
                    : $"{repair.File}: {string.Join("; ", repair.Changes)} (backup: {repair.BackupPath})");
                foreach (string r in repair.RestartRequired.Where(r => !restart.Contains(r)))
                {
                    restart.Add(r);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                WriteError(ex, ErrorIds.ProxyRepairFailed, ex is UnauthorizedAccessException ? ErrorCategory.PermissionDenied : ErrorCategory.WriteError,
                    repair.Target, "Run as root for machine files; if the file changed meanwhile, run the command again.");
            }

            if (PassThru.IsPresent)
            {
                WriteObject(repair);
            }
        }

        foreach (string r in restart)
        {
            WriteWarning(r.EndsWith(".service", StringComparison.Ordinal)
                ? $"Restart {r} to pick up the change: systemctl daemon-reload && systemctl restart {r}"
                : $"The change applies to {r}.");
        }

        foreach (string running in plan.StillRunning)
        {
            WriteWarning($"{running} still runs with a proxy that catches IMDS traffic; restart it once its configuration is repaired.");
        }

        foreach (string problem in plan.Problems)
        {
            WriteError(new InvalidOperationException(problem), ErrorIds.ProxyRepairIncomplete, ErrorCategory.NotEnabled, problem,
                "Run Get-ImdsProxyConfiguration -NotExempt to see where the proxy comes from; widen -Scope or use -Force.");
        }

        if (plan.Repairs.Count == 0 && plan.Problems.Count == 0)
        {
            WriteVerbose("IMDS is already exempt from every proxy in scope; nothing to change.");
        }
    }
}
