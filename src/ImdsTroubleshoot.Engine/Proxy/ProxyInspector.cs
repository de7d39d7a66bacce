using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using ImdsTroubleshoot.Engine.Proxy.Parsing;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>What to read and where.</summary>
public sealed class ProxyScanOptions
{
    /// <summary>The root of the file system to read ("/" normally; a mounted volume or a test tree otherwise).</summary>
    public string RootPath { get; init; } = "/";

    /// <summary>The user's home as the target system names it (default: $HOME, else /root).</summary>
    public string? HomeDirectory { get; init; }

    /// <summary>The user's name, for display (default: the current user).</summary>
    public string? UserName { get; init; }

    /// <summary>The process environment to report (default: this process's, when <see cref="RootPath"/> is "/").</summary>
    public IReadOnlyDictionary<string, string>? ProcessEnvironment { get; init; }

    public bool IncludeProcessEnvironment { get; init; } = true;

    /// <summary>Read /proc/PID/environ of running processes (only when RootPath is "/"; other users' processes need root).</summary>
    public bool IncludeRunningProcesses { get; init; } = true;

    public string ProcPath { get; init; } = "/proc";
}

/// <summary>The result of a scan: one <see cref="ImdsProxySetting"/> per source and variable, and what could not be read.</summary>
public sealed class ProxyInspection
{
    internal ProxyInspection(ProxyScanOptions options, IReadOnlyList<ImdsProxySetting> settings, IReadOnlyList<string> warnings,
        IReadOnlyList<ProxyContext> contexts, Workspace workspace)
    {
        Options = options;
        Settings = settings;
        Warnings = warnings;
        Contexts = contexts;
        Workspace = workspace;
    }

    public ProxyScanOptions Options { get; }

    public IReadOnlyList<ImdsProxySetting> Settings { get; }

    public IReadOnlyList<string> Warnings { get; }

    internal IReadOnlyList<ProxyContext> Contexts { get; }

    internal Workspace Workspace { get; }
}

/// <summary>Which proxy IMDS requests from a given environment go through, and where it was set.</summary>
public sealed class ImdsProxySource
{
    internal ImdsProxySource(ProxyFamilyVerdict verdict, ImdsExemption exemption, ImdsProxySetting? setting, string description)
    {
        Verdict = verdict;
        Exemption = exemption;
        Setting = setting;
        Description = description;
    }

    /// <summary>The family asked about.</summary>
    public ProxyFamilyVerdict Verdict { get; }

    /// <summary>Every family's verdict for the same environment.</summary>
    public ImdsExemption Exemption { get; }

    /// <summary>True when the family's IMDS requests would go through a proxy (or fail, Go in CGI mode).</summary>
    public bool Proxied => !Verdict.Exempt;

    /// <summary>The proxy (password masked), or null.</summary>
    public string? ProxyUrl => Verdict.ProxyUrl;

    /// <summary>The variable it comes from, or null.</summary>
    public string? Variable => Verdict.ProxyVariable;

    /// <summary>The file line that most likely put it there (same variable and value), or null when only the process environment has it.</summary>
    public ImdsProxySetting? Setting { get; }

    /// <summary>"HTTP_PROXY from the process environment" or "http_proxy set in /etc/environment:3".</summary>
    public string Description { get; }

    public override string ToString() => Description;
}

/// <summary>Finds every place an HTTP proxy for IMDS is configured and says, per client family, whether IMDS is exempt.</summary>
public static class ProxyInspector
{
    /// <summary>Services whose unit files are read even without a drop-in directory (they talk to IMDS).</summary>
    public static IReadOnlyList<string> ImdsServices { get; } = new[]
    {
        "amazon-ssm-agent.service", "snap.amazon-ssm-agent.amazon-ssm-agent.service", "docker.service", "containerd.service",
        "kubelet.service", "ecs.service", "amazon-cloudwatch-agent.service",
    };

    private static readonly string[] UnitDirectories = { "etc/systemd/system", "run/systemd/system", "usr/lib/systemd/system", "lib/systemd/system" };

    /// <summary>Reads every source under the options' root.</summary>
    public static ProxyInspection Inspect(ProxyScanOptions? options = null)
    {
        options ??= new ProxyScanOptions();
        string root = Path.GetFullPath(options.RootPath);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"The root path {root} does not exist.");
        }

        var ws = new Workspace(root);
        var contexts = BuildContexts(options, ws);
        var settings = new List<ImdsProxySetting>();
        foreach (var context in contexts)
        {
            settings.AddRange(Rows(context, context.Evaluate(ws), root));
        }

        foreach (var s in settings)
        {
            s.ScanOptions = options;
        }

        return new ProxyInspection(options, settings, ws.Warnings.Distinct().ToArray(), contexts, ws);
    }

    internal static IReadOnlyList<ProxyContext> BuildContexts(ProxyScanOptions options, Workspace ws)
    {
        bool live = ws.Root == "/";
        var contexts = new List<ProxyContext>();

        if (options.IncludeProcessEnvironment && (live || options.ProcessEnvironment is not null))
        {
            contexts.Add(new ProxyContext("process environment", ContextKind.Process, ProxyScope.Session,
                new[] { "this session (already applied)" })
            {
                FixedEnvironment = options.ProcessEnvironment ?? CurrentEnvironment(),
            });
        }

        // PAM sessions: /etc/environment alone.
        var pam = new ProxyContext("login sessions (pam_env)", ContextKind.Pam, ProxyScope.Machine, new[] { "new login sessions (ssh, su, cron)" });
        pam.Layers.Add(ws.Slot(ws.DiskPath("/etc/environment"), ProxyFileFormat.PamEnvironment, ProxySourceKind.PamEnvironment, ProxyScope.Machine));
        contexts.Add(pam);

        // Login shells: system files, then the user's.
        var shells = new ProxyContext("login shells", ContextKind.Shell, ProxyScope.Machine, new[] { "new login shells" }) { Base = pam };
        foreach (string f in new[] { "/etc/profile", "/etc/bash.bashrc", "/etc/bashrc" })
        {
            shells.Layers.Add(ws.Slot(ws.DiskPath(f), ProxyFileFormat.Shell, ProxySourceKind.ShellProfile, ProxyScope.Machine));
        }

        foreach (string f in Glob(ws.DiskPath("/etc/profile.d"), "*.sh"))
        {
            shells.Layers.Add(ws.Slot(f, ProxyFileFormat.Shell, ProxySourceKind.ShellProfile, ProxyScope.Machine));
        }

        foreach (string f in new[] { "/etc/zsh/zshenv", "/etc/zshenv", "/etc/zsh/zprofile", "/etc/zsh/zshrc" })
        {
            shells.Layers.Add(ws.Slot(ws.DiskPath(f), ProxyFileFormat.Shell, ProxySourceKind.ShellProfile, ProxyScope.Machine));
        }

        contexts.Add(shells);

        string home = options.HomeDirectory ?? (live ? Environment.GetEnvironmentVariable("HOME") : null) ?? "/root";
        string user = options.UserName ?? Environment.UserName;
        var userShells = new ProxyContext($"shells of {user}", ContextKind.Shell, ProxyScope.User, new[] { $"new shells of {user}" }) { Base = shells };
        foreach (string f in new[] { ".bash_profile", ".bash_login", ".profile", ".bashrc", ".zshenv", ".zprofile", ".zshrc", ".zlogin" })
        {
            userShells.Layers.Add(ws.Slot(ws.DiskPath(home.TrimEnd('/') + "/" + f), ProxyFileFormat.Shell, ProxySourceKind.ShellProfile, ProxyScope.User));
        }

        contexts.Add(userShells);

        // systemd manager and units.
        var manager = new ProxyContext("systemd services (DefaultEnvironment)", ContextKind.SystemdManager, ProxyScope.Machine,
            new[] { "systemd (systemctl daemon-reexec) and every service" });
        manager.Layers.Add(ws.Slot(ws.DiskPath("/etc/systemd/system.conf"), ProxyFileFormat.SystemdManager, ProxySourceKind.SystemdManager, ProxyScope.Machine));
        foreach (string f in DropIns(ws, new[] { "etc/systemd/system.conf.d", "run/systemd/system.conf.d", "usr/lib/systemd/system.conf.d", "lib/systemd/system.conf.d" }))
        {
            manager.Layers.Add(ws.Slot(f, ProxyFileFormat.SystemdManager, ProxySourceKind.SystemdManager, ProxyScope.Machine));
        }

        contexts.Add(manager);

        ProxyContext? docker = null;
        foreach (string unit in UnitNames(ws))
        {
            var context = new ProxyContext($"systemd unit {unit}", ContextKind.SystemdUnit, ProxyScope.Machine, new[] { unit }) { Base = manager };
            string? unitFile = UnitDirectories.Select(d => Path.Join(ws.Root, d, unit)).FirstOrDefault(File.Exists);
            if (unitFile is not null)
            {
                context.Layers.Add(ws.Slot(unitFile, ProxyFileFormat.SystemdUnit, ProxySourceKind.SystemdUnit, ProxyScope.Machine));
            }

            foreach (string f in DropIns(ws, UnitDirectories.Select(d => d + "/" + unit + ".d").ToArray()))
            {
                context.Layers.Add(ws.Slot(f, ProxyFileFormat.SystemdUnit, ProxySourceKind.SystemdUnit, ProxyScope.Machine));
            }

            var evaluation = context.Evaluate(ws);
            if (evaluation.Files.Any(f => f.File.Statements.Any(s => IsProxyStatement(s, f.Slot.Format))))
            {
                contexts.Add(context);
                if (unit == "docker.service")
                {
                    docker = context;
                }
            }
        }

        string daemonJson = ws.DiskPath("/etc/docker/daemon.json");
        if (File.Exists(daemonJson))
        {
            var daemon = new ProxyContext("dockerd", ContextKind.DockerDaemon, ProxyScope.Machine, new[] { "docker.service" }) { Base = docker ?? manager };
            daemon.Layers.Add(ws.Slot(daemonJson, ProxyFileFormat.DockerDaemonJson, ProxySourceKind.DockerDaemon, ProxyScope.Machine));
            contexts.Add(daemon);
        }

        string? dockerConfig = live && options.ProcessEnvironment is null ? Environment.GetEnvironmentVariable("DOCKER_CONFIG") : null;
        string clientJson = dockerConfig is { Length: > 0 } ? Path.Join(dockerConfig, "config.json") : ws.DiskPath(home.TrimEnd('/') + "/.docker/config.json");
        if (File.Exists(clientJson))
        {
            var client = new ProxyContext("containers (docker CLI)", ContextKind.DockerClient, ProxyScope.User, new[] { "containers created from now on" });
            client.Layers.Add(ws.Slot(clientJson, ProxyFileFormat.DockerClientJson, ProxySourceKind.DockerClient, ProxyScope.User));
            contexts.Add(client);
        }

        if (options.IncludeRunningProcesses && (live || options.ProcPath != "/proc"))
        {
            contexts.AddRange(RunningProcesses(options.ProcPath));
        }

        return contexts;
    }

    private static Dictionary<string, string> CurrentEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry kv in Environment.GetEnvironmentVariables())
        {
            env[(string)kv.Key] = (string?)kv.Value ?? string.Empty;
        }

        return env;
    }

    private static IEnumerable<string> Glob(string dir, string pattern)
    {
        try
        {
            return Directory.Exists(dir)
                ? Directory.EnumerateFiles(dir, pattern).OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToArray()
                : Array.Empty<string>();
        }
        catch (UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
    }

    /// <summary>*.conf drop-ins across directories in priority order: a name in an earlier directory masks the same name later; sorted by name.</summary>
    private static IEnumerable<string> DropIns(Workspace ws, string[] dirs)
    {
        var byName = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string d in dirs)
        {
            foreach (string f in Glob(Path.Join(ws.Root, d), "*.conf"))
            {
                byName.TryAdd(Path.GetFileName(f), f);
            }
        }

        return byName.Values;
    }

    private static IEnumerable<string> UnitNames(Workspace ws)
    {
        var names = new SortedSet<string>(ImdsServices, StringComparer.Ordinal);
        foreach (string d in UnitDirectories)
        {
            string dir = Path.Join(ws.Root, d);
            if (!Directory.Exists(dir))
            {
                continue;
            }

            foreach (string sub in Directory.EnumerateDirectories(dir, "*.service.d"))
            {
                string name = Path.GetFileName(sub);
                names.Add(name.Substring(0, name.Length - 2));
            }
        }

        return names;
    }

    internal static bool IsProxyStatement(EnvStatement s, ProxyFileFormat format) =>
        s.Kind is StatementKind.Set or StatementKind.Append
        && (format is ProxyFileFormat.DockerDaemonJson or ProxyFileFormat.DockerClientJson
            ? DockerJsonParser.EnvironmentNames(s.Name).Any(ProxyEnvironmentEvaluator.IsProxyRelated)
            : ProxyEnvironmentEvaluator.IsProxyRelated(s.Name));

    internal static bool SetsProxy(EnvStatement s, ProxyFileFormat format) =>
        s.Kind is StatementKind.Set or StatementKind.Append
        && (format is ProxyFileFormat.DockerDaemonJson or ProxyFileFormat.DockerClientJson
            ? DockerJsonParser.EnvironmentNames(s.Name).Any(ProxyEnvironmentEvaluator.IsProxyVariable)
            : ProxyEnvironmentEvaluator.IsProxyVariable(s.Name));

    private static IEnumerable<ProxyContext> RunningProcesses(string procPath)
    {
        if (!Directory.Exists(procPath))
        {
            yield break;
        }

        var pids = Directory.EnumerateDirectories(procPath)
            .Select(d => int.TryParse(Path.GetFileName(d), out int pid) ? pid : -1)
            .Where(pid => pid > 0 && pid != Environment.ProcessId)
            .OrderBy(pid => pid)
            .ToArray();
        foreach (int pid in pids)
        {
            Dictionary<string, string>? env = ReadEnviron(Path.Join(procPath, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (env is null || !env.Keys.Any(ProxyEnvironmentEvaluator.IsProxyVariable))
            {
                continue;
            }

            string dir = Path.Join(procPath, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
            string comm = TryRead(Path.Join(dir, "comm"))?.Trim() ?? "?";
            string? unit = UnitOf(TryRead(Path.Join(dir, "cgroup")));
            string name = unit is null ? $"pid {pid} ({comm})" : $"pid {pid} ({comm}, {unit})";
            yield return new ProxyContext(name, ContextKind.RunningProcess, ProxyScope.Process,
                new[] { unit ?? $"{comm} (pid {pid})" })
            {
                FixedEnvironment = env,
                ProcessId = pid,
            };
        }
    }

    internal static Dictionary<string, string>? ReadEnviron(string procDir)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(Path.Join(procDir, "environ"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string entry in Encoding.UTF8.GetString(bytes).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = entry.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                env[entry.Substring(0, eq)] = entry.Substring(eq + 1);
            }
        }

        return env;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The systemd service a process runs in, from /proc/PID/cgroup (".../system.slice/docker.service").</summary>
    internal static string? UnitOf(string? cgroup)
    {
        if (cgroup is null)
        {
            return null;
        }

        foreach (string line in cgroup.Split('\n'))
        {
            foreach (string part in Enumerable.Reverse(line.Split('/')))
            {
                if (part.EndsWith(".service", StringComparison.Ordinal))
                {
                    return part;
                }
            }
        }

        return null;
    }

    internal static IEnumerable<ImdsProxySetting> Rows(ProxyContext context, Evaluation e, string root)
    {
        string? noProxy = e.NoProxy;
        if (context.FixedEnvironment is not null && context.Kind is ContextKind.Process or ContextKind.RunningProcess)
        {
            string? procFile = context.ProcessId is int pid ? $"/proc/{pid}/environ" : null;
            foreach (var kv in e.Environment.Where(kv => ProxyEnvironmentEvaluator.IsProxyRelated(kv.Key)).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var usedBy = e.Exemption.Verdicts.Where(v => v.ProxyVariable == kv.Key).Select(v => v.Family).ToArray();
                yield return new ImdsProxySetting(context.Kind == ContextKind.Process ? ProxySourceKind.ProcessEnvironment : ProxySourceKind.RunningProcess,
                    context.Scope, context.Name, procFile, null, kv.Key, kv.Value, true, noProxy, e.Exemption, usedBy, context.Restart, root, context.ProcessId);
            }

            yield break;
        }

        foreach (var (slot, file) in e.Files)
        {
            if (!slot.EmitRows || (context.Kind != ContextKind.SystemdUnit && !context.Layers.Contains(slot)))
            {
                continue;
            }

            foreach (var st in file.Statements.Where(s => IsProxyStatement(s, slot.Format)))
            {
                string[] names = slot.Format is ProxyFileFormat.DockerDaemonJson or ProxyFileFormat.DockerClientJson
                    ? DockerJsonParser.EnvironmentNames(st.Name)
                    : new[] { st.Name };
                bool effective = names.Any(n => e.Origins.TryGetValue(n, out var o) && ReferenceEquals(o.Statement, st));
                var usedBy = e.Exemption.Verdicts
                    .Where(v => v.ProxyVariable is not null && names.Contains(v.ProxyVariable) && e.Origins.TryGetValue(v.ProxyVariable, out var o) && ReferenceEquals(o.Statement, st))
                    .Select(v => v.Family).ToArray();
                string variable = slot.Format is ProxyFileFormat.DockerDaemonJson or ProxyFileFormat.DockerClientJson
                    ? (slot.Format == ProxyFileFormat.DockerClientJson ? "proxies.default." : "proxies.") + st.Name
                    : st.Name;
                string value = e.Values.TryGetValue(st, out string? produced) ? produced : st.Evaluate(_ => null, out _);
                yield return new ImdsProxySetting(slot.Kind, slot.Scope, context.Name, slot.DiskPath, st.Line, variable, value, effective, noProxy,
                    e.Exemption, usedBy, context.Restart, root, null);
            }
        }
    }

    /// <summary>
    /// For the integrator (Test-ImdsEndpoint): which proxy a client family would use for IMDS from
    /// <paramref name="environment"/>, and the source that sets it: a file line from <paramref name="sources"/> whose
    /// variable and value match, or the process environment.
    /// </summary>
    public static ImdsProxySource FindProxyForImds(IReadOnlyDictionary<string, string> environment, IEnumerable<ImdsProxySetting>? sources = null,
        ProxyClientFamily family = ProxyClientFamily.DotNet)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var exemption = ProxyEnvironmentEvaluator.Evaluate(environment);
        var verdict = exemption.Verdicts.First(v => v.Family == family);
        if (verdict.ProxyVariable is null)
        {
            return new ImdsProxySource(verdict, exemption, null, $"no proxy applies to IMDS for {family}");
        }

        string raw = environment[verdict.ProxyVariable];
        string masked = ProxyUrlMasker.MaskPassword(raw)!;
        ImdsProxySetting? origin = sources?
            .Where(s => s.File is not null && s.Source != ProxySourceKind.RunningProcess && s.Effective
                && string.Equals(s.Variable, verdict.ProxyVariable, StringComparison.Ordinal)
                && s.ProxyUrl == masked)
            .OrderBy(s => s.Scope == ProxyScope.User ? 0 : 1)
            .FirstOrDefault();
        string state = verdict.Exempt ? "exempted by " + verdict.NoProxyVariable : "not exempted";
        string description = origin is null
            ? $"{verdict.ProxyVariable}={masked} from the process environment ({state})"
            : $"{verdict.ProxyVariable}={masked} set in {origin.Location} ({state})";
        return new ImdsProxySource(verdict, exemption, origin, description);
    }

    /// <summary>FindProxyForImds for this process, with sources from a scan of this machine.</summary>
    public static ImdsProxySource FindProxyForImds(ProxyClientFamily family = ProxyClientFamily.DotNet)
    {
        var inspection = Inspect(new ProxyScanOptions { IncludeRunningProcesses = false });
        return FindProxyForImds(CurrentEnvironment(), inspection.Settings, family);
    }
}
