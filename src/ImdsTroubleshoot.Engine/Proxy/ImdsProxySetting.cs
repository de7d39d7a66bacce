using System;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>
/// One proxy-related variable found in one place (a line of a file, the process environment, a running process),
/// with how IMDS fares, per client family, in the environment that place produces.
/// </summary>
public sealed class ImdsProxySetting
{
    internal ImdsProxySetting(ProxySourceKind source, ProxyScope scope, string context, string? file, int? line, string variable,
        string? value, bool effective, string? noProxy, ImdsExemption exemption, IReadOnlyList<ProxyClientFamily> usedBy,
        IReadOnlyList<string> restartRequired, string rootPath, int? processId)
    {
        Source = source;
        Scope = scope;
        Context = context;
        File = file;
        Line = line;
        Variable = variable;
        bool isProxy = !ProxyEnvironmentEvaluator.IsNoProxyVariable(variable) && !variable.Contains("no-proxy", StringComparison.OrdinalIgnoreCase)
            && !variable.Contains("noProxy", StringComparison.OrdinalIgnoreCase);
        ProxyUrl = isProxy ? ProxyUrlMasker.MaskPassword(value) : null;
        Value = isProxy ? ProxyUrl : value;
        Effective = effective;
        NoProxy = noProxy;
        ImdsExempt = exemption;
        UsedBy = usedBy;
        RestartRequired = restartRequired;
        RootPath = rootPath;
        ProcessId = processId;
    }

    public ProxySourceKind Source { get; }

    /// <summary>Session (this process), User, Machine, or Process (a running process: restart it after fixing its configuration).</summary>
    public ProxyScope Scope { get; }

    /// <summary>Who gets this environment: "process environment", "login sessions (pam_env)", "systemd unit docker.service", ...</summary>
    public string Context { get; }

    /// <summary>The file on disk (null for the process environment).</summary>
    public string? File { get; }

    /// <summary>1-based line in <see cref="File"/>.</summary>
    public int? Line { get; }

    /// <summary>The variable (or Docker JSON key) as written: http_proxy, HTTP_PROXY, NO_PROXY, proxies.http-proxy, ...</summary>
    public string Variable { get; }

    /// <summary>The value written there; a proxy URL has its password masked.</summary>
    public string? Value { get; }

    /// <summary>The proxy URL (password masked) when <see cref="Variable"/> is a proxy variable; null for NO_PROXY.</summary>
    public string? ProxyUrl { get; }

    /// <summary>False when a later assignment in the same context overrides this one.</summary>
    public bool Effective { get; }

    /// <summary>The exemption list in force in this context (no_proxy when set and not empty, else NO_PROXY).</summary>
    public string? NoProxy { get; }

    /// <summary>Per client family: true when both IMDS addresses bypass the proxy in this context.</summary>
    public ImdsExemption ImdsExempt { get; }

    /// <summary>Summary: true when every client family reaches IMDS directly in this context.</summary>
    public bool Exempt => ImdsExempt.All;

    /// <summary>The families that take their http:// proxy from this very assignment.</summary>
    public IReadOnlyList<ProxyClientFamily> UsedBy { get; }

    /// <summary>What must be restarted (or started anew) to pick up a change to this source.</summary>
    public IReadOnlyList<string> RestartRequired { get; }

    /// <summary>The root the files were read under ("/" normally).</summary>
    public string RootPath { get; }

    /// <summary>For running processes: the PID.</summary>
    public int? ProcessId { get; }

    /// <summary>How the scan that found this was made (so a repair can scan the same way).</summary>
    internal ProxyScanOptions? ScanOptions { get; set; }

    /// <summary>"file:line" or the context, for messages.</summary>
    public string Location => File is null ? Context : Line is null ? File : $"{File}:{Line}";

    public override string ToString() => $"{Location} {Variable}{(ProxyUrl is null ? string.Empty : "=" + ProxyUrl)} ({(Exempt ? "IMDS exempt" : "IMDS " + ImdsExempt)})";
}
