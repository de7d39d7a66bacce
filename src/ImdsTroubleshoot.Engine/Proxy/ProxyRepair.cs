using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using ImdsTroubleshoot.Engine.Proxy.Parsing;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>What a repair may touch.</summary>
public sealed class ProxyRepairOptions
{
    /// <summary>Session (this process), User files, Machine files. Default: Session.</summary>
    public IReadOnlyCollection<ProxyScope> Scopes { get; init; } = new[] { ProxyScope.Session };

    /// <summary>Also edit files that set NO_PROXY/no_proxy but no proxy (normally only files that set a proxy are touched).</summary>
    public bool Force { get; init; }

    /// <summary>Only these contexts (<see cref="ImdsProxySetting.Context"/>); null for every context in scope.</summary>
    public IReadOnlyCollection<string>? Contexts { get; init; }
}

public enum ProxyRepairStatus
{
    /// <summary>Planned, not applied yet.</summary>
    Planned,

    /// <summary>Applied.</summary>
    Repaired,

    /// <summary>Not applied (-WhatIf or declined).</summary>
    Skipped,

    /// <summary>Applying failed.</summary>
    Failed,
}

/// <summary>One change: to the process environment or to one file.</summary>
public sealed class ImdsProxyRepair
{
    internal ImdsProxyRepair(ProxyScope scope, IReadOnlyList<string> contexts, string? file, int? line, IReadOnlyList<string> variables,
        IReadOnlyList<string> changes, IReadOnlyList<string> restartRequired)
    {
        Scope = scope;
        Contexts = contexts;
        File = file;
        Line = line;
        Variables = variables;
        Changes = changes;
        RestartRequired = restartRequired;
    }

    public ProxyScope Scope { get; }

    /// <summary>The contexts this change exempts IMDS in.</summary>
    public IReadOnlyList<string> Contexts { get; }

    /// <summary>The file changed (null for the process environment).</summary>
    public string? File { get; }

    /// <summary>The first line changed.</summary>
    public int? Line { get; }

    /// <summary>NO_PROXY, no_proxy, proxies.no-proxy, ...</summary>
    public IReadOnlyList<string> Variables { get; }

    /// <summary>What changes, one sentence per variable (no proxy URLs, so no passwords).</summary>
    public IReadOnlyList<string> Changes { get; }

    /// <summary>Services (systemd units) and sessions that must be restarted to pick the change up.</summary>
    public IReadOnlyList<string> RestartRequired { get; }

    public ProxyRepairStatus Status { get; internal set; } = ProxyRepairStatus.Planned;

    /// <summary>The backup written before the file was replaced.</summary>
    public string? BackupPath { get; internal set; }

    /// <summary>Why it failed, when it did.</summary>
    public string? Message { get; internal set; }

    /// <summary>"the process environment" or the file, for messages.</summary>
    public string Target => File ?? "the process environment";

    /// <summary>For session changes: the new values.</summary>
    public IReadOnlyDictionary<string, string> NewValues { get; internal init; } = new Dictionary<string, string>();

    internal byte[]? OriginalBytes { get; init; }

    internal byte[]? NewBytes { get; init; }

    public override string ToString() => $"{Target}: {string.Join("; ", Changes)}";
}

/// <summary>The planned changes, and what cannot be fixed by them.</summary>
public sealed class ProxyRepairPlan
{
    internal ProxyRepairPlan(IReadOnlyList<ImdsProxyRepair> repairs, IReadOnlyList<string> problems, IReadOnlyList<string> stillRunning)
    {
        Repairs = repairs;
        Problems = problems;
        StillRunning = stillRunning;
    }

    public IReadOnlyList<ImdsProxyRepair> Repairs { get; }

    /// <summary>Contexts that stay proxied after the plan, with the reason.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>Running processes that started with a proxy and no exemption: restart them after the repair.</summary>
    public IReadOnlyList<string> StillRunning { get; }
}

/// <summary>
/// Plans and applies the repair: adds 169.254.169.254, fd00:ec2::254 and [fd00:ec2::254] to NO_PROXY and
/// no_proxy (both, so every client family is covered) where a proxy is set and IMDS is not exempt, changing
/// nothing else in the file.
/// </summary>
public static class ProxyRepairPlanner
{
    /// <summary>The entries added: the bare IPv6 form for curl/requests/Go, the bracketed one for urllib/botocore/.NET.</summary>
    public static IReadOnlyList<string> ImdsEntries { get; } = new[] { "169.254.169.254", "fd00:ec2::254", "[fd00:ec2::254]" };

    public static string ImdsEntriesText => string.Join(",", ImdsEntries);

    public static ProxyRepairPlan Plan(ProxyInspection inspection, ProxyRepairOptions options)
    {
        ArgumentNullException.ThrowIfNull(inspection);
        ArgumentNullException.ThrowIfNull(options);
        var ws = new Workspace(inspection.Workspace.Root);
        var repairs = new List<ImdsProxyRepair>();
        var problems = new List<string>();
        var changedBy = new Dictionary<string, (List<string> Contexts, List<string> Changes, List<string> Variables, int Line)>(StringComparer.Ordinal);

        foreach (var context in inspection.Contexts)
        {
            if (context.Kind == ContextKind.RunningProcess || !options.Scopes.Contains(context.Scope)
                || (options.Contexts is not null && !options.Contexts.Contains(context.Name)))
            {
                continue;
            }

            var e = context.Evaluate(ws);
            if (!NeedsRepair(e.Exemption))
            {
                continue;
            }

            if (context.Kind == ContextKind.Process)
            {
                repairs.Add(PlanSession(context, e, problems));
                continue;
            }

            var snapshot = e.Files.Select(f => f.Slot.DiskPath).Distinct().ToDictionary(p => p, p => ws.Text(p)!, StringComparer.Ordinal);
            List<(string Path, string Change, string Variable, int Line)>? changes = null;
            string? failure = null;
            foreach (bool trailingComma in new[] { false, true })
            {
                foreach (var kv in snapshot)
                {
                    ws.SetText(kv.Key, kv.Value);
                }

                changes = PlanFiles(context, e, ws, options, trailingComma, out failure);
                if (failure is not null || changes.Count == 0)
                {
                    break;
                }

                if (!NeedsRepair(context.Evaluate(ws).Exemption))
                {
                    failure = null;
                    break;
                }

                var left = context.Evaluate(ws).Exemption;
                failure = $"{context.Name}: still proxied for {string.Join(", ", left.Verdicts.Where(v => v.Ipv4 == ProxyOutcome.Proxied || v.Ipv6 == ProxyOutcome.Proxied).Select(v => $"{v.Family} ({v.Reason})"))}";
            }

            if (failure is not null)
            {
                problems.Add(failure);
            }

            foreach (var (path, change, variable, line) in changes ?? new())
            {
                if (!changedBy.TryGetValue(path, out var entry))
                {
                    entry = (new List<string>(), new List<string>(), new List<string>(), line);
                    changedBy[path] = entry;
                }

                if (!entry.Contexts.Contains(context.Name))
                {
                    entry.Contexts.Add(context.Name);
                }

                entry.Changes.Add(change);
                if (!entry.Variables.Contains(variable))
                {
                    entry.Variables.Add(variable);
                }

                changedBy[path] = (entry.Contexts, entry.Changes, entry.Variables, Math.Min(entry.Line, line));
            }
        }

        foreach (string path in ws.ChangedFiles().OrderBy(p => p, StringComparer.Ordinal))
        {
            var (contexts, changes, variables, line) = changedBy.TryGetValue(path, out var c) ? c : (new List<string>(), new List<string>(), new List<string>(), 0);
            var restart = new List<string>();
            ProxyScope scope = ProxyScope.Machine;
            foreach (var context in inspection.Contexts.Where(x => x.Kind != ContextKind.RunningProcess))
            {
                var files = context.Evaluate(ws).Files;
                if (files.Any(f => f.Slot.DiskPath == path))
                {
                    scope = files.First(f => f.Slot.DiskPath == path).Slot.Scope;
                    foreach (string r in context.Restart)
                    {
                        if (!restart.Contains(r))
                        {
                            restart.Add(r);
                        }
                    }
                }
            }

            repairs.Add(new ImdsProxyRepair(scope, contexts, path, line, variables, changes, restart)
            {
                OriginalBytes = ParsedFile.Encode(ws.OriginalText(path)!),
                NewBytes = ParsedFile.Encode(ws.Text(path)!),
            });
        }

        var stillRunning = inspection.Contexts
            .Where(c => c.Kind == ContextKind.RunningProcess && NeedsRepair(c.Evaluate(ws).Exemption))
            .Select(c => c.Name)
            .ToArray();
        return new ProxyRepairPlan(repairs, problems, stillRunning);
    }

    /// <summary>
    /// Plans the repair of the contexts the given settings (from <see cref="ProxyInspector.Inspect"/>) belong to,
    /// after scanning again the same way (files may have changed since). Running processes cannot be repaired and are
    /// reported in <see cref="ProxyRepairPlan.StillRunning"/> when they are still proxied.
    /// </summary>
    public static ProxyRepairPlan PlanFor(IEnumerable<ImdsProxySetting> settings, bool force)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var list = settings.ToList();
        var options = list.Select(s => s.ScanOptions).FirstOrDefault(o => o is not null) ?? new ProxyScanOptions();
        var inspection = ProxyInspector.Inspect(options);
        var scopes = list.Select(s => s.Scope).Where(s => s != ProxyScope.Process).Distinct().ToArray();
        var contexts = list.Select(s => s.Context).Distinct(StringComparer.Ordinal).ToArray();
        var plan = Plan(inspection, new ProxyRepairOptions { Scopes = scopes, Force = force, Contexts = contexts });
        var processes = list.Where(s => s.Scope == ProxyScope.Process).Select(s => s.Context).Distinct(StringComparer.Ordinal);
        var running = plan.StillRunning.Where(r => processes.Contains(r, StringComparer.Ordinal) || contexts.Length == 0).ToArray();
        return new ProxyRepairPlan(plan.Repairs, plan.Problems, running.Length > 0 ? running : plan.StillRunning);
    }

    internal static bool NeedsRepair(ImdsExemption exemption) =>
        exemption.Verdicts.Any(v => v.Ipv4 == ProxyOutcome.Proxied || v.Ipv6 == ProxyOutcome.Proxied);

    /// <summary>Splits a NO_PROXY value into trimmed, non-empty entries.</summary>
    internal static IEnumerable<string> Entries(string? value) =>
        (value ?? string.Empty).Split(',').Select(e => NoProxyMatcher.PyStrip(e).Trim('"', '\'')).Where(s => s.Length > 0);

    internal static string[] Missing(string? value)
    {
        var present = new HashSet<string>(Entries(value), StringComparer.OrdinalIgnoreCase);
        return ImdsEntries.Where(t => !present.Contains(t)).ToArray();
    }

    /// <summary>no_proxy's entries, then NO_PROXY's that are not there yet, then the IMDS entries.</summary>
    internal static string Merged(IReadOnlyDictionary<string, string> env)
    {
        var list = new List<string>();
        foreach (string name in new[] { "no_proxy", "NO_PROXY" })
        {
            if (env.TryGetValue(name, out string? v))
            {
                foreach (string entry in Entries(v))
                {
                    if (!list.Contains(entry, StringComparer.OrdinalIgnoreCase))
                    {
                        list.Add(entry);
                    }
                }
            }
        }

        foreach (string t in ImdsEntries)
        {
            if (!list.Contains(t, StringComparer.OrdinalIgnoreCase))
            {
                list.Add(t);
            }
        }

        return string.Join(",", list);
    }

    private static string Extended(string current, string[] missing, bool trailingComma)
    {
        if (missing.Length == 0)
        {
            return current + (trailingComma ? "," : string.Empty);
        }

        string sep = current.TrimEnd().EndsWith(',') ? string.Empty : ",";
        return current + sep + string.Join(",", missing) + (trailingComma ? "," : string.Empty);
    }

    private static ImdsProxyRepair PlanSession(ProxyContext context, Evaluation e, List<string> problems)
    {
        var env = new Dictionary<string, string>(e.Environment, StringComparer.Ordinal);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var changes = new List<string>();
        string merged = Merged(env);
        foreach (string name in new[] { "NO_PROXY", "no_proxy" })
        {
            string? current = env.TryGetValue(name, out string? v) ? v : null;
            string next = string.IsNullOrWhiteSpace(current) ? merged : Extended(current, Missing(current), trailingComma: false);
            if (next != current)
            {
                values[name] = next;
                env[name] = next;
                changes.Add(current is null ? $"{name}: set to {next}" : $"{name}: {(current.Length == 0 ? "empty" : "'" + current + "'")} -> '{next}'");
            }
        }

        var after = ProxyEnvironmentEvaluator.Evaluate(env);
        if (NeedsRepair(after))
        {
            problems.Add($"{context.Name}: still proxied after the change for {string.Join(", ", after.NotExempt)}");
        }

        return new ImdsProxyRepair(ProxyScope.Session, new[] { context.Name }, null, null, values.Keys.ToArray(), changes,
            new[] { "processes started from this session from now on (running ones keep their environment)" })
        {
            NewValues = values,
        };
    }

    private static List<(string Path, string Change, string Variable, int Line)> PlanFiles(ProxyContext context, Evaluation initial, Workspace ws,
        ProxyRepairOptions options, bool trailingComma, out string? failure)
    {
        failure = null;
        var result = new List<(string, string, string, int)>();
        bool IsAllowed(FileSlot slot, ParsedFile f) =>
            options.Scopes.Contains(slot.Scope)
            && f.Statements.Any(s => options.Force ? ProxyInspector.IsProxyStatement(s, slot.Format) : ProxyInspector.SetsProxy(s, slot.Format));

        if (!initial.Files.Any(f => IsAllowed(f.Slot, f.File)))
        {
            var origin = initial.Exemption.Verdicts.Where(v => v.ProxyVariable is not null && initial.Origins.ContainsKey(v.ProxyVariable))
                .Select(v => initial.Origins[v.ProxyVariable!]).FirstOrDefault();
            failure = origin.Slot is null
                ? $"{context.Name}: the proxy comes from outside the files in scope ({string.Join(", ", options.Scopes)}); repair its source (Get-ImdsProxyConfiguration shows it)"
                : $"{context.Name}: the proxy is set in {origin.Slot.DiskPath}:{origin.Statement.Line}, which is outside the scopes {string.Join(", ", options.Scopes)}";
            return result;
        }

        bool json = context.Kind is ContextKind.DockerDaemon or ContextKind.DockerClient;
        string[] names = json
            ? new[] { context.Kind == ContextKind.DockerDaemon ? "no-proxy" : "noProxy" }
            : new[] { "NO_PROXY", "no_proxy" }
                .OrderBy(n => initial.Origins.TryGetValue(n, out var o) ? initial.Files.FindIndex(f => f.Slot == o.Slot) : int.MaxValue)
                .ThenBy(n => initial.Origins.TryGetValue(n, out var o) ? o.Statement.ValueStart : int.MaxValue)
                .ToArray();

        // One variable at a time, re-reading after each edit: a later assignment may take the earlier one's value ($no_proxy).
        foreach (string name in names)
        {
            var e = context.Evaluate(ws);
            var allowed = e.Files.Where(f => IsAllowed(f.Slot, f.File)).ToList();
            var proxyOrigins = e.Exemption.Verdicts.Where(v => v.ProxyVariable is not null && e.Origins.ContainsKey(v.ProxyVariable))
                .Select(v => e.Origins[v.ProxyVariable!]).ToList();
            var anchorFile = allowed.LastOrDefault(f => proxyOrigins.Any(o => o.Slot == f.Slot));
            if (anchorFile.File is null)
            {
                anchorFile = allowed[^1];
            }

            EnvStatement anchor = anchorFile.File.Statements.Where(s => ProxyInspector.IsProxyStatement(s, anchorFile.Slot.Format)).OrderBy(s => s.ValueEnd).Last();
            string merged = Merged(e.Environment);
            string envName = json ? "NO_PROXY" : name;
            EnvStatement? jsonStatement = json ? anchorFile.File.Statements.LastOrDefault(s => s.Name == name && s.Kind == StatementKind.Set) : null;
            string? current = json
                ? jsonStatement?.Evaluate(_ => null, out _)
                : e.Environment.TryGetValue(name, out string? v) ? v : null;
            (FileSlot Slot, EnvStatement Statement)? origin = json
                ? jsonStatement is { } js ? (anchorFile.Slot, js) : null
                : e.Origins.TryGetValue(envName, out var o) ? o : null;

            string? path = null;
            int offset = 0;
            string text;
            if (origin is { } og && allowed.Any(a => a.Slot == og.Slot))
            {
                bool comma = trailingComma || og.Statement.NeedsTrailingSeparator;
                path = og.Slot.DiskPath;
                offset = og.Statement.InsertAt;
                if (string.IsNullOrWhiteSpace(current))
                {
                    text = merged + (comma ? "," : string.Empty);
                    result.Add((path, $"{DisplayName(name, json)} (line {og.Statement.Line}): was empty, now {merged}", DisplayName(name, json), og.Statement.Line));
                }
                else
                {
                    string[] missing = Missing(current);
                    if (missing.Length == 0 && !trailingComma)
                    {
                        continue;
                    }

                    text = Extended(string.Empty, missing, comma);
                    if (missing.Length > 0 && current!.TrimEnd().EndsWith(','))
                    {
                        text = text.TrimStart(',');
                    }

                    if (missing.Length > 0)
                    {
                        result.Add((path, $"{DisplayName(name, json)} (line {og.Statement.Line}): appended {string.Join(",", missing)}", DisplayName(name, json), og.Statement.Line));
                    }
                }
            }
            else
            {
                if (current is not null && Missing(current).Length == 0)
                {
                    continue;
                }

                if (origin is { } other && e.Files.FindIndex(f => f.Slot == other.Slot) > e.Files.FindIndex(f => f.Slot == anchorFile.Slot))
                {
                    failure = $"{context.Name}: {envName} is set last in {other.Slot.DiskPath}:{other.Statement.Line}, where no proxy is set; use -Force to edit that file too";
                }

                string value = json || string.IsNullOrWhiteSpace(current) ? merged : Extended(current!, Missing(current), false);
                path = anchorFile.Slot.DiskPath;
                text = NewLine(anchorFile.File, anchorFile.Slot.Format, anchor, name, value, out offset);
                result.Add((path, $"{DisplayName(name, json)}: added {value} after line {anchor.Line}", DisplayName(name, json), anchor.Line + 1));
            }

            ws.SetText(path, ws.Text(path)!.Insert(offset, text));
        }

        return result;
    }

    private static string DisplayName(string name, bool json) => json ? "proxies." + name : name;

    /// <summary>A new assignment in the anchor's style, placed after the anchor's line.</summary>
    private static string NewLine(ParsedFile file, ProxyFileFormat format, EnvStatement anchor, string name, string value, out int offset)
    {
        string nl = anchor.Newline.Length > 0 ? anchor.Newline : file.PreferredNewline();
        string lead = anchor.Newline.Length > 0 ? string.Empty : nl;
        string trail = anchor.Newline.Length > 0 ? nl : string.Empty;
        string indent = new(anchor.LinePrefix.TakeWhile(c => c is ' ' or '\t').ToArray());
        string q = anchor.Quote == '\0' ? string.Empty : anchor.Quote.ToString();
        offset = anchor.LineEnd;
        switch (format)
        {
            case ProxyFileFormat.Shell:
                return $"{lead}{indent}export {name}={q}{value}{q}{trail}";
            case ProxyFileFormat.PamEnvironment:
            case ProxyFileFormat.EnvironmentFile:
                return $"{lead}{indent}{name}={q}{value}{q}{trail}";
            case ProxyFileFormat.SystemdUnit:
                return $"{lead}{indent}Environment={q}{name}={value}{q}{trail}";
            case ProxyFileFormat.SystemdManager:
                return $"{lead}{indent}DefaultEnvironment={q}{name}={value}{q}{trail}";
            default:
                offset = anchor.ValueEnd + 1;
                bool multiline = anchor.LinePrefix.Length > 0 && anchor.LinePrefix.All(c => c is ' ' or '\t');
                string jsonNl = file.PreferredNewline();
                return multiline ? $",{jsonNl}{anchor.LinePrefix}\"{name}\": \"{value}\"" : $", \"{name}\": \"{value}\"";
        }
    }

    /// <summary>Marks a planned change as not applied (-WhatIf, or declined at the prompt).</summary>
    public static void Skip(ImdsProxyRepair repair)
    {
        ArgumentNullException.ThrowIfNull(repair);
        repair.Status = ProxyRepairStatus.Skipped;
    }

    /// <summary>Applies one planned change: the process environment, or the file (backup, temp file, rename).</summary>
    public static void Apply(ImdsProxyRepair repair, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(repair);
        try
        {
            if (repair.File is null)
            {
                foreach (var kv in repair.NewValues)
                {
                    Environment.SetEnvironmentVariable(kv.Key, kv.Value);
                }

                ImdsBypassWebProxy.EnsureDefaultProxyBypassesImds();
            }
            else
            {
                repair.BackupPath = ProxyFileWriter.Replace(repair.File, repair.OriginalBytes!, repair.NewBytes!, now);
            }

            repair.Status = ProxyRepairStatus.Repaired;
        }
        catch (Exception ex) when (ex is System.IO.IOException or UnauthorizedAccessException)
        {
            repair.Status = ProxyRepairStatus.Failed;
            repair.Message = ex.Message;
            throw;
        }
    }
}
