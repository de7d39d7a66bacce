using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ImdsTroubleshoot.Engine.Proxy.Parsing;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>A file that takes part in a context.</summary>
internal sealed class FileSlot
{
    public FileSlot(string diskPath, ProxyFileFormat format, ProxySourceKind kind, ProxyScope scope, bool emitRows = true)
    {
        DiskPath = diskPath;
        Format = format;
        Kind = kind;
        Scope = scope;
        EmitRows = emitRows;
    }

    public string DiskPath { get; }

    public ProxyFileFormat Format { get; }

    public ProxySourceKind Kind { get; }

    public ProxyScope Scope { get; }

    public bool EmitRows { get; }
}

/// <summary>File texts (read once, as Latin-1 so bytes round-trip) and their parses; the planner edits texts here.</summary>
internal sealed class Workspace
{
    private readonly Dictionary<string, string?> _texts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _original = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ParsedFile?> _parsed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FileSlot> _slots = new(StringComparer.Ordinal);

    public Workspace(string root)
    {
        Root = root;
    }

    public string Root { get; }

    public List<string> Warnings { get; } = new();

    public string DiskPath(string targetPath) =>
        Root == "/" ? targetPath : Path.Join(Root, targetPath.TrimStart('/'));

    public FileSlot Slot(string diskPath, ProxyFileFormat format, ProxySourceKind kind, ProxyScope scope)
    {
        if (!_slots.TryGetValue(diskPath, out FileSlot? slot))
        {
            slot = new FileSlot(diskPath, format, kind, scope);
            _slots[diskPath] = slot;
        }

        return slot;
    }

    public bool Exists(string diskPath) => Text(diskPath) is not null;

    public string? Text(string diskPath)
    {
        if (_texts.TryGetValue(diskPath, out string? text))
        {
            return text;
        }

        try
        {
            text = File.Exists(diskPath) ? ParsedFile.Decode(File.ReadAllBytes(diskPath)) : null;
        }
        catch (UnauthorizedAccessException)
        {
            Warnings.Add($"Cannot read {diskPath}: permission denied (run as root to see every source).");
            text = null;
        }
        catch (IOException ex)
        {
            Warnings.Add($"Cannot read {diskPath}: {ex.Message}");
            text = null;
        }

        _texts[diskPath] = text;
        if (text is not null)
        {
            _original[diskPath] = text;
        }

        return text;
    }

    public void SetText(string diskPath, string text)
    {
        _texts[diskPath] = text;
        _parsed.Remove(diskPath);
    }

    public IEnumerable<string> ChangedFiles() =>
        _original.Where(kv => !string.Equals(_texts[kv.Key], kv.Value, StringComparison.Ordinal)).Select(kv => kv.Key);

    public string? OriginalText(string diskPath) => _original.TryGetValue(diskPath, out string? t) ? t : null;

    public ParsedFile? Parse(FileSlot slot)
    {
        if (_parsed.TryGetValue(slot.DiskPath, out ParsedFile? parsed))
        {
            return parsed;
        }

        string? text = Text(slot.DiskPath);
        parsed = null;
        if (text is not null)
        {
            try
            {
                parsed = Parse(slot.DiskPath, slot.Format, text);
            }
            catch (InvalidDataException ex)
            {
                Warnings.Add(ex.Message);
            }
        }

        _parsed[slot.DiskPath] = parsed;
        return parsed;
    }

    internal static ParsedFile Parse(string path, ProxyFileFormat format, string text) => format switch
    {
        ProxyFileFormat.PamEnvironment => PamEnvironmentParser.Parse(path, text),
        ProxyFileFormat.Shell => ShellParser.Parse(path, text),
        ProxyFileFormat.SystemdUnit => SystemdParser.Parse(path, text, manager: false),
        ProxyFileFormat.SystemdManager => SystemdParser.Parse(path, text, manager: true),
        ProxyFileFormat.EnvironmentFile => EnvironmentFileParser.Parse(path, text),
        ProxyFileFormat.DockerDaemonJson => DockerJsonParser.Parse(path, text, client: false, out _),
        ProxyFileFormat.DockerClientJson => DockerJsonParser.Parse(path, text, client: true, out _),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };
}

internal enum ContextKind
{
    Process,
    Pam,
    Shell,
    SystemdManager,
    SystemdUnit,
    DockerDaemon,
    DockerClient,
    RunningProcess,
}

/// <summary>The outcome of evaluating a context: its final environment and which statement set each variable.</summary>
internal sealed class Evaluation
{
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, (FileSlot Slot, EnvStatement Statement)> Origins { get; } = new(StringComparer.Ordinal);

    public List<(FileSlot Slot, ParsedFile File)> Files { get; } = new();

    /// <summary>The value each statement produced when it ran (shell references resolved at that point).</summary>
    public Dictionary<EnvStatement, string> Values { get; } = new(ReferenceEqualityComparer.Instance);

    public ImdsExemption Exemption { get; set; } = null!;

    /// <summary>The exemption list most families read: no_proxy when set and not empty, else NO_PROXY.</summary>
    public string? NoProxy => Environment.TryGetValue("no_proxy", out string? l) && l.Length > 0 ? l
        : Environment.TryGetValue("NO_PROXY", out string? u) ? u : null;
}

/// <summary>
/// Who gets an environment and from which files, in the order they apply: the process, PAM sessions, login shells
/// (system then user files), the systemd manager, one systemd unit (+ EnvironmentFile=), dockerd, containers, a running process.
/// </summary>
internal sealed class ProxyContext
{
    public ProxyContext(string name, ContextKind kind, ProxyScope scope, IReadOnlyList<string> restart)
    {
        Name = name;
        Kind = kind;
        Scope = scope;
        Restart = restart;
    }

    public string Name { get; }

    public ContextKind Kind { get; }

    public ProxyScope Scope { get; }

    public IReadOnlyList<string> Restart { get; }

    public IReadOnlyDictionary<string, string>? FixedEnvironment { get; init; }

    public ProxyContext? Base { get; init; }

    public List<FileSlot> Layers { get; } = new();

    public int? ProcessId { get; init; }

    public Evaluation Evaluate(Workspace ws)
    {
        var e = new Evaluation();
        if (FixedEnvironment is not null)
        {
            foreach (var kv in FixedEnvironment)
            {
                e.Environment[kv.Key] = kv.Value;
            }
        }

        if (Base is not null)
        {
            var b = Base.Evaluate(ws);
            foreach (var kv in b.Environment)
            {
                e.Environment[kv.Key] = kv.Value;
            }

            foreach (var kv in b.Origins)
            {
                e.Origins[kv.Key] = kv.Value;
            }
        }

        switch (Kind)
        {
            case ContextKind.Shell:
                EvaluateShell(ws, e);
                break;
            case ContextKind.SystemdUnit:
            case ContextKind.SystemdManager:
                EvaluateSystemd(ws, e);
                break;
            case ContextKind.DockerDaemon:
            case ContextKind.DockerClient:
                EvaluateDocker(ws, e);
                break;
            case ContextKind.Pam:
                foreach (var slot in Layers)
                {
                    if (ws.Parse(slot) is { } f)
                    {
                        e.Files.Add((slot, f));
                        foreach (var st in f.Statements.Where(s => s.Kind == StatementKind.Set))
                        {
                            e.Environment[st.Name] = e.Values[st] = st.Evaluate(_ => null, out _);
                            e.Origins[st.Name] = (slot, st);
                        }
                    }
                }

                break;
        }

        e.Exemption = ProxyEnvironmentEvaluator.Evaluate(e.Environment);
        return e;
    }

    private void EvaluateShell(Workspace ws, Evaluation e)
    {
        var vars = new Dictionary<string, string>(e.Environment, StringComparer.Ordinal);
        var exported = new HashSet<string>(e.Environment.Keys, StringComparer.Ordinal);
        var origins = new Dictionary<string, (FileSlot, EnvStatement)>(e.Origins, StringComparer.Ordinal);
        foreach (var slot in Layers)
        {
            if (ws.Parse(slot) is not { } f)
            {
                continue;
            }

            e.Files.Add((slot, f));
            foreach (var st in f.Statements)
            {
                string? Lookup(string n) => vars.TryGetValue(n, out string? v) ? v : null;
                switch (st.Kind)
                {
                    case StatementKind.Set:
                        vars[st.Name] = e.Values[st] = st.Evaluate(Lookup, out _);
                        origins[st.Name] = (slot, st);
                        if (st.Exports)
                        {
                            exported.Add(st.Name);
                        }

                        break;
                    case StatementKind.Append:
                        vars[st.Name] = e.Values[st] = (Lookup(st.Name) ?? string.Empty) + st.Evaluate(Lookup, out _);
                        origins[st.Name] = (slot, st);
                        if (st.Exports)
                        {
                            exported.Add(st.Name);
                        }

                        break;
                    case StatementKind.Export:
                        exported.Add(st.Name);
                        break;
                    case StatementKind.Unexport:
                        exported.Remove(st.Name);
                        break;
                    case StatementKind.Unset:
                        vars.Remove(st.Name);
                        exported.Remove(st.Name);
                        origins.Remove(st.Name);
                        break;
                }
            }
        }

        e.Environment.Clear();
        e.Origins.Clear();
        foreach (string name in exported)
        {
            if (vars.TryGetValue(name, out string? v))
            {
                e.Environment[name] = v;
                if (origins.TryGetValue(name, out var o))
                {
                    e.Origins[name] = o;
                }
            }
        }
    }

    private void EvaluateSystemd(Workspace ws, Evaluation e)
    {
        var list = new Dictionary<string, (string Value, FileSlot Slot, EnvStatement St)>(StringComparer.Ordinal);
        var files = new List<(string Path, bool Optional)>();
        var unset = new List<string>();
        foreach (var slot in Layers)
        {
            if (ws.Parse(slot) is not { } f)
            {
                continue;
            }

            e.Files.Add((slot, f));
            foreach (var st in f.Statements)
            {
                switch (st.Kind)
                {
                    case StatementKind.Set:
                        list[st.Name] = (e.Values[st] = st.Evaluate(_ => null, out _), slot, st);
                        break;
                    case StatementKind.Reset:
                        list.Clear();
                        break;
                    case StatementKind.IncludeFile:
                        files.Add((st.Name, st.Optional));
                        break;
                    case StatementKind.ResetFiles:
                        files.Clear();
                        break;
                    case StatementKind.Unset:
                        unset.Add(st.Name);
                        break;
                }
            }
        }

        foreach (var kv in list)
        {
            e.Environment[kv.Key] = kv.Value.Value;
            e.Origins[kv.Key] = (kv.Value.Slot, kv.Value.St);
        }

        foreach (var (path, optional) in files)
        {
            if (!path.StartsWith('/'))
            {
                continue;
            }

            var slot = ws.Slot(ws.DiskPath(path), ProxyFileFormat.EnvironmentFile, ProxySourceKind.SystemdEnvironmentFile, ProxyScope.Machine);
            if (ws.Parse(slot) is not { } f)
            {
                if (!optional && !ws.Exists(slot.DiskPath))
                {
                    ws.Warnings.Add($"{Name}: EnvironmentFile={path} does not exist (systemd will refuse to start the unit).");
                }

                continue;
            }

            e.Files.Add((slot, f));
            foreach (var st in f.Statements.Where(s => s.Kind == StatementKind.Set))
            {
                e.Environment[st.Name] = e.Values[st] = st.Evaluate(_ => null, out _);
                e.Origins[st.Name] = (slot, st);
            }
        }

        foreach (string name in unset)
        {
            e.Environment.Remove(name);
            e.Origins.Remove(name);
        }
    }

    private void EvaluateDocker(Workspace ws, Evaluation e)
    {
        foreach (var slot in Layers)
        {
            if (ws.Parse(slot) is not { } f)
            {
                continue;
            }

            e.Files.Add((slot, f));
            foreach (var st in f.Statements.Where(s => s.Kind == StatementKind.Set))
            {
                string value = e.Values[st] = st.Evaluate(_ => null, out _);
                if (value.Length == 0)
                {
                    continue;
                }

                foreach (string name in DockerJsonParser.EnvironmentNames(st.Name))
                {
                    e.Environment[name] = value;
                    e.Origins[name] = (slot, st);
                }
            }
        }
    }
}
