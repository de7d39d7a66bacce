using System.IO;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Proxy;

namespace ImdsTroubleshoot.Commands;

/// <summary>Finds every place an HTTP proxy is configured for this host's tools and says, per client family, whether IMDS is exempt.</summary>
[Cmdlet(VerbsCommon.Get, "ImdsProxyConfiguration")]
[OutputType(typeof(ImdsProxySetting))]
public sealed class GetImdsProxyConfigurationCommand : ImdsCmdlet
{
    /// <summary>Read the files of a root file system mounted elsewhere (a rescue volume, a test tree).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RootPath { get; set; }

    /// <summary>The user home to read shell profiles and ~/.docker/config.json from (as the target system names it).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? HomeDirectory { get; set; }

    /// <summary>Only sources where IMDS is not exempt for some client family.</summary>
    [Parameter]
    public SwitchParameter NotExempt { get; set; }

    /// <summary>Skip /proc/PID/environ of running processes.</summary>
    [Parameter]
    public SwitchParameter ExcludeRunningProcesses { get; set; }

    protected override void EndProcessing()
    {
        ProxyInspection inspection = ProxyCommandSupport.Inspect(this, RootPath, HomeDirectory, !ExcludeRunningProcesses.IsPresent);
        foreach (string warning in inspection.Warnings)
        {
            WriteWarning(warning);
        }

        foreach (ImdsProxySetting setting in inspection.Settings)
        {
            if (NotExempt.IsPresent && setting.Exempt)
            {
                continue;
            }

            WriteObject(setting);
        }

        WriteVerbose($"{inspection.Settings.Count} proxy settings found under {inspection.Options.RootPath}.");
    }
}

/// <summary>What both proxy cmdlets share: resolving paths and scanning with errors translated.</summary>
internal static class ProxyCommandSupport
{
    public static ProxyInspection Inspect(ImdsCmdlet cmdlet, string? rootPath, string? homeDirectory, bool runningProcesses)
    {
        string root = rootPath is null ? "/" : cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(rootPath);
        if (!Directory.Exists(root))
        {
            cmdlet.ThrowTerminating(new DirectoryNotFoundException($"The root path '{root}' does not exist."),
                ErrorIds.ProxyRootPathNotFound, ErrorCategory.ObjectNotFound, root, "Give the folder where the other system's root file system is mounted, e.g. /mnt/rescue.");
        }

        return ProxyInspector.Inspect(new ProxyScanOptions
        {
            RootPath = root,
            HomeDirectory = homeDirectory,
            IncludeProcessEnvironment = root == "/",
            IncludeRunningProcesses = runningProcesses && root == "/",
        });
    }
}
