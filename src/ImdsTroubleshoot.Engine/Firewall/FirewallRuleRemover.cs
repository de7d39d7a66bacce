using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;

namespace ImdsTroubleshoot.Engine.Firewall;

public enum FirewallRemovalStatus
{
    /// <summary>The rule was deleted from the running firewall.</summary>
    Removed,

    /// <summary>The rule was not there any more (already deleted): nothing to do.</summary>
    AlreadyGone,
}

/// <summary>What Remove-ImdsFirewallRule did with one rule.</summary>
public sealed class FirewallRuleRemoval
{
    internal FirewallRuleRemoval(FirewallRule rule, FirewallRemovalStatus status, string command)
    {
        Rule = rule;
        Status = status;
        Command = command;
    }

    public FirewallRule Rule { get; }

    public FirewallRemovalStatus Status { get; }

    /// <summary>The command that deleted it (what you would type; it ran as an argument list, not through a shell).</summary>
    public string Command { get; }

    public string? PersistedFile => Rule.PersistedFile;

    /// <summary>True when the rule's line was also removed from PersistedFile.</summary>
    public bool PersistedFileUpdated { get; internal set; }

    /// <summary>The copy of PersistedFile made before it was changed.</summary>
    public string? BackupFile { get; internal set; }

    /// <summary>What to do so the rule does not come back at boot, when this cmdlet did not do it.</summary>
    public string? PersistHint { get; internal set; }

    /// <summary>Other things worth knowing (identical copies left, the front end that recreates it).</summary>
    public IReadOnlyList<string> Notes { get; internal set; } = Array.Empty<string>();

    public override string ToString() => $"{Status}: {Rule.Location}";
}

/// <summary>A planned change to a persisted rules file: which lines go.</summary>
public sealed class PersistedFileChange
{
    internal PersistedFileChange(string path, IReadOnlyList<int> lines, IReadOnlyList<string> removedText)
    {
        Path = path;
        Lines = lines;
        RemovedText = removedText;
    }

    public string Path { get; }

    /// <summary>1-based line numbers that will be removed.</summary>
    public IReadOnlyList<int> Lines { get; }

    public IReadOnlyList<string> RemovedText { get; }

    /// <summary>An nft script (checked with nft -c before it replaces the original), not an iptables-restore file.</summary>
    internal bool IsNftScript { get; init; }

    public override string ToString() => $"remove line{(Lines.Count > 1 ? "s" : string.Empty)} {string.Join(", ", Lines)} of {Path}: {string.Join(" / ", RemovedText)}";
}

/// <summary>
/// Deletes rules that <see cref="FirewallInspector"/> reported: <c>iptables -D</c> with the exact spec (checked with
/// <c>-C</c> first), <c>nft delete rule ... handle N</c> after checking the handle still holds the same rule. Never
/// through a shell. Persisted files are changed only on request: backup first, then an atomic replace that keeps
/// owner and mode.
/// </summary>
public sealed class FirewallRuleRemover
{
    private readonly FirewallInspectorOptions _options;
    private readonly TimeProvider _time;

    public FirewallRuleRemover(FirewallInspectorOptions? options = null, TimeProvider? time = null)
    {
        _options = options ?? new FirewallInspectorOptions();
        _time = time ?? TimeProvider.System;
    }

    private ICommandRunner RunnerFor(FirewallRule rule)
    {
        ICommandRunner runner = _options.Runner ?? SystemCommandRunner.Instance;
        return rule.NetworkNamespace is null ? runner : new NamespaceCommandRunner(runner, rule.NetworkNamespace);
    }

    /// <summary>Why this rule cannot be deleted, or null when it can.</summary>
    public static string? WhyNotRemovable(FirewallRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (rule.IsPolicy)
        {
            return $"{rule.Location} is a chain policy, not a rule: it cannot be deleted, only changed ({rule.PersistenceNote})";
        }

        if (rule.DeleteProgram is null || rule.DeleteArguments is null)
        {
            return rule.Backend == FirewallBackend.Nftables
                ? $"{rule.Location} has no handle to delete it by"
                : $"{rule.Location} could not be read exactly enough to delete it safely (or the {(rule.Family == FirewallFamily.IPv6 ? "ip6tables" : "iptables")} tool for its backend is missing)";
        }

        return null;
    }

    public FirewallRuleRemoval Remove(FirewallRule rule, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rule);
        string? why = WhyNotRemovable(rule);
        if (why is not null)
        {
            throw new InvalidOperationException(why);
        }

        ICommandRunner runner = RunnerFor(rule);
        FirewallRuleRemoval removal = rule.Backend == FirewallBackend.Nftables ? RemoveNft(rule, runner, cancellationToken) : RemoveIptables(rule, runner, cancellationToken);
        var notes = new List<string>();
        if (rule.IdenticalCount > 1 && removal.Status == FirewallRemovalStatus.Removed)
        {
            notes.Add($"{rule.Table} {rule.Chain} held {rule.IdenticalCount} identical copies of this rule; iptables -D removed the first, {rule.IdenticalCount - 1} remain (run again to remove the next)");
        }

        if (rule.FrontEnd is not (FirewallFrontEnd.None or FirewallFrontEnd.Ufw) && rule.PersistenceNote is not null)
        {
            notes.Add(rule.PersistenceNote);
        }

        removal.Notes = notes;
        removal.PersistHint = PersistHint(rule);
        return removal;
    }

    private FirewallRuleRemoval RemoveIptables(FirewallRule rule, ICommandRunner runner, CancellationToken cancellationToken)
    {
        string tool = rule.DeleteProgram!;
        IReadOnlyList<string> delete = rule.DeleteArguments!;
        int d = delete.ToList().IndexOf("-D");
        var check = delete.ToList();
        check[d] = "-C";
        string command = rule.RemoveCommand ?? ShellQuote.Join(new[] { tool }.Concat(delete));

        CommandResult present = Run(runner, tool, check, cancellationToken);
        if (present.ExitCode == 1)
        {
            return new FirewallRuleRemoval(rule, FirewallRemovalStatus.AlreadyGone, command);
        }

        if (present.ExitCode != 0)
        {
            throw Failure(tool, check, present);
        }

        CommandResult deleted = Run(runner, tool, delete, cancellationToken);
        if (deleted.ExitCode == 1)
        {
            // Someone else deleted it between the check and the delete.
            return new FirewallRuleRemoval(rule, FirewallRemovalStatus.AlreadyGone, command);
        }

        if (deleted.ExitCode != 0)
        {
            throw Failure(tool, delete, deleted);
        }

        return new FirewallRuleRemoval(rule, FirewallRemovalStatus.Removed, command);
    }

    private FirewallRuleRemoval RemoveNft(FirewallRule rule, ICommandRunner runner, CancellationToken cancellationToken)
    {
        string family = rule.TableFamily!;
        long handle = rule.Handle!.Value;
        string command = rule.RemoveCommand ?? $"nft delete rule {family} {rule.Table} {rule.Chain} handle {handle}";

        // Handles are reused when a table is deleted and created again: check the handle still holds this rule.
        CommandResult list = Run(runner, "nft", new[] { "-j", "list", "table", family, rule.Table }, cancellationToken);
        if (list.ExitCode != 0)
        {
            if (list.StandardError.Contains("No such file or directory", StringComparison.Ordinal))
            {
                return new FirewallRuleRemoval(rule, FirewallRemovalStatus.AlreadyGone, command);
            }

            throw Failure("nft", new[] { "-j", "list", "table", family, rule.Table }, list);
        }

        string? current = FindRuleExpression(list.StandardOutput, rule.Chain, handle);
        if (current is null)
        {
            return new FirewallRuleRemoval(rule, FirewallRemovalStatus.AlreadyGone, command);
        }

        if (rule.ExpressionJson is not null && !string.Equals(WithoutCounters(current), WithoutCounters(rule.ExpressionJson), StringComparison.Ordinal))
        {
            throw new FirewallRuleChangedException($"{rule.Location}: handle {handle} now holds a different rule than the one that was read ({rule.Rule}); nothing was deleted. Read the rules again (Get-ImdsFirewallRule) and retry.");
        }

        var payload = new JsonObject
        {
            ["nftables"] = new JsonArray(new JsonObject
            {
                ["delete"] = new JsonObject
                {
                    ["rule"] = new JsonObject
                    {
                        ["family"] = family,
                        ["table"] = rule.Table,
                        ["chain"] = rule.Chain,
                        ["handle"] = handle,
                    },
                },
            }),
        };
        CommandResult deleted = Run(runner, "nft", new[] { "-j", "-f", "-" }, cancellationToken, payload.ToJsonString());
        if (deleted.ExitCode != 0)
        {
            if (deleted.StandardError.Contains("No such file or directory", StringComparison.Ordinal))
            {
                return new FirewallRuleRemoval(rule, FirewallRemovalStatus.AlreadyGone, command);
            }

            throw Failure("nft", new[] { "-j", "-f", "-" }, deleted);
        }

        return new FirewallRuleRemoval(rule, FirewallRemovalStatus.Removed, command);
    }

    private static string? FindRuleExpression(string json, string chain, long handle)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("nftables", out JsonElement items))
        {
            return null;
        }

        foreach (JsonElement item in items.EnumerateArray())
        {
            if (item.TryGetProperty("rule", out JsonElement r) &&
                r.TryGetProperty("chain", out JsonElement c) && c.GetString() == chain &&
                r.TryGetProperty("handle", out JsonElement h) && h.TryGetInt64(out long hv) && hv == handle)
            {
                return r.TryGetProperty("expr", out JsonElement e) ? NftJsonParser.CanonicalJson(e) : "null";
            }
        }

        return null;
    }

    /// <summary>The expressions without counter values (they change between reads).</summary>
    internal static string WithoutCounters(string expressionJson)
    {
        JsonNode? node = JsonNode.Parse(expressionJson);
        if (node is JsonArray array)
        {
            foreach (JsonNode? e in array)
            {
                if (e is JsonObject o && o.ContainsKey("counter") && o["counter"] is JsonObject)
                {
                    o["counter"] = new JsonObject();
                }
            }
        }

        return node?.ToJsonString() ?? "null";
    }

    private CommandResult Run(ICommandRunner runner, string tool, IReadOnlyList<string> args, CancellationToken cancellationToken, string? input = null)
    {
        CommandResult r;
        try
        {
            r = runner.Run(tool, args, _options.CommandTimeout, cancellationToken, input);
        }
        catch (FileNotFoundException ex)
        {
            throw new FirewallToolNotFoundException($"{tool} could not be run: {ex.Message}", ex);
        }

        if (r.TimedOut)
        {
            throw new FirewallCommandException($"{tool} {string.Join(' ', args)} did not finish within {_options.CommandTimeout.TotalSeconds:0} s.") { Tool = tool, TimedOut = true };
        }

        if (FirewallInspector.IsPermissionProblem(r))
        {
            throw new FirewallAccessDeniedException($"Changing the firewall needs root (or CAP_NET_ADMIN): {tool}: {FirewallInspector.FirstLine(r.StandardError)} (exit {r.ExitCode})") { Tool = tool };
        }

        return r;
    }

    private static FirewallCommandException Failure(string tool, IEnumerable<string> args, CommandResult r) =>
        new($"{ShellQuote.Join(new[] { tool }.Concat(args))} failed with exit code {r.ExitCode}: {FirewallInspector.FirstLine(r.StandardError)}") { Tool = tool, ExitCode = r.ExitCode };

    /// <summary>What to run so the rule does not come back at boot.</summary>
    internal static string? PersistHint(FirewallRule rule)
    {
        if (rule.PersistedFile is null)
        {
            return null;
        }

        string where = $"line {rule.PersistedLine} of {rule.PersistedFile}";
        if (rule.FrontEnd == FirewallFrontEnd.Ufw && rule.PersistedFile.Contains("/ufw/user", StringComparison.Ordinal))
        {
            return $"the rule comes back when ufw reloads ({where}): delete it with ufw (ufw status numbered; ufw delete N), or rerun with -UpdatePersistedFile";
        }

        string tool = rule.Family == FirewallFamily.IPv6 ? "ip6tables" : "iptables";
        return rule.PersistedFile switch
        {
            "/etc/iptables/rules.v4" or "/etc/iptables/rules.v6" =>
                $"the rule comes back at boot from {where}: rerun with -UpdatePersistedFile, or delete that line (or run: netfilter-persistent save, which saves every current rule)",
            "/etc/sysconfig/iptables" or "/etc/sysconfig/ip6tables" =>
                $"the rule comes back at boot from {where}: rerun with -UpdatePersistedFile, or delete that line (or run: {tool}-save > {rule.PersistedFile}, which saves every current rule)",
            _ => $"the rule comes back when {rule.PersistedFile} is loaded again ({where}): rerun with -UpdatePersistedFile, or delete that line",
        };
    }

    /// <summary>Finds the rule's line in its persisted file again (the file may have changed) and says what would go.</summary>
    public PersistedFileChange? PlanPersistedFileUpdate(FirewallRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (rule.PersistedFile is null || rule.PersistedLine is null)
        {
            return null;
        }

        IUserDatabase users = _options.Users ?? PasswdUserDatabase.FromSystem();
        bool iptablesFormat = rule.Backend != FirewallBackend.Nftables;
        bool? v6 = rule.Family switch
        {
            FirewallFamily.IPv4 => false,
            FirewallFamily.IPv6 => true,
            _ => null,
        };
        PersistenceIndex index = iptablesFormat
            ? PersistenceIndex.Load(new[] { (rule.PersistedFile, v6) }, Array.Empty<string>(), Array.Empty<string>(), users)
            : PersistenceIndex.Load(Array.Empty<(string, bool?)>(), new[] { rule.PersistedFile }, Array.Empty<string>(), users);
        Rule? model = ModelOf(rule, users);
        if (model is null)
        {
            return null;
        }

        PersistedLocation? loc = iptablesFormat ? index.FindIptables(model) : index.FindNft(model);
        if (loc is null)
        {
            return null;
        }

        if (!loc.WholeLine)
        {
            throw new InvalidOperationException($"In {loc.Path} line {loc.Line} the rule shares its line with other statements ({loc.LineText.Trim()}); edit the file by hand and check it with: nft -c -f {loc.Path}");
        }

        List<string> lines = PersistenceIndex.SplitKeepingEnds(File.ReadAllText(loc.Path));
        var remove = new List<int> { loc.Line };
        if (loc.CompanionLine is { } companion)
        {
            remove.Insert(0, companion);
        }

        return new PersistedFileChange(loc.Path, remove, remove.Select(n => lines[n - 1].TrimEnd('\n', '\r')).ToList()) { IsNftScript = !iptablesFormat };
    }

    /// <summary>Rebuilds the engine's model of a reported rule, to find it in a file with the same normalisation.</summary>
    private static Rule? ModelOf(FirewallRule rule, IUserDatabase users)
    {
        var table = new Table(rule.Backend, rule.Family switch { FirewallFamily.IPv4 => false, FirewallFamily.IPv6 => true, _ => null }, rule.Table, rule.TableFamily);
        Chain chain = table.GetOrAddChain(rule.Chain);
        var model = new Rule(chain, rule.Position, rule.Rule);
        if (rule.Backend == FirewallBackend.Nftables)
        {
            return model;
        }

        if (rule.Spec is null || rule.Spec.Count < 1)
        {
            return null;
        }

        IptablesRuleParser.Parse(model, rule.Spec.Skip(1).ToArray(), rule.Family == FirewallFamily.IPv6, users, name => true);
        return model;
    }

    /// <summary>Applies a planned change and records it (file updated, backup) in the removal result.</summary>
    public string ApplyPersistedFileUpdate(FirewallRuleRemoval removal, PersistedFileChange change)
    {
        ArgumentNullException.ThrowIfNull(removal);
        string backup = ApplyPersistedFileUpdate(change);
        removal.PersistedFileUpdated = true;
        removal.BackupFile = backup;
        removal.PersistHint = null;
        return backup;
    }

    /// <summary>Backs the file up, then replaces it atomically without the planned lines, keeping owner and mode. Returns the backup's path.</summary>
    public string ApplyPersistedFileUpdate(PersistedFileChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        string path = Path.GetFullPath(change.Path);
        FileSystemInfo? target = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true);
        if (target is not null)
        {
            // Keep the link: change the file it points to.
            path = target.FullName;
        }

        string original = File.ReadAllText(path);
        List<string> lines = PersistenceIndex.SplitKeepingEnds(original);
        for (int i = 0; i < change.Lines.Count; i++)
        {
            int n = change.Lines[i];
            if (n < 1 || n > lines.Count || lines[n - 1].TrimEnd('\n', '\r') != change.RemovedText[i])
            {
                throw new InvalidOperationException($"{path} changed since it was read (line {n} is no longer '{change.RemovedText[i]}'); nothing was changed.");
            }
        }

        string stamp = _time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        string backup = $"{path}.imds-troubleshoot-{stamp}.bak";
        for (int k = 1; File.Exists(backup); k++)
        {
            backup = $"{path}.imds-troubleshoot-{stamp}-{k}.bak";
        }

        File.Copy(path, backup);
        CopyOwnerAndMode(path, backup);

        var keep = new StringBuilder();
        var removed = new HashSet<int>(change.Lines);
        for (int i = 0; i < lines.Count; i++)
        {
            if (!removed.Contains(i + 1))
            {
                keep.Append(lines[i]);
            }
        }

        string dir = Path.GetDirectoryName(path)!;
        string temp = Path.Combine(dir, $".{Path.GetFileName(path)}.imds-troubleshoot-{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                byte[] bytes = new UTF8Encoding(false).GetBytes(keep.ToString());
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            CopyOwnerAndMode(path, temp);
            if (change.IsNftScript)
            {
                CheckNftScript(path, temp);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }

        return backup;
    }

    /// <summary>
    /// Checks the edited nft script with <c>nft -c -f</c> in a throw-away network namespace (<c>unshare -n</c>: nothing is
    /// loaded anywhere). When the original passes and the edit does not, the original stays.
    /// </summary>
    private void CheckNftScript(string original, string edited)
    {
        ICommandRunner runner = _options.Runner ?? SystemCommandRunner.Instance;
        if (runner.Resolve("unshare") is null || runner.Resolve("nft") is null)
        {
            return;
        }

        string nft = runner.Resolve("nft")!;
        CommandResult before = runner.Run("unshare", new[] { "-n", "--", nft, "-c", "-f", original }, _options.CommandTimeout, CancellationToken.None);
        if (before.ExitCode != 0)
        {
            return;
        }

        CommandResult after = runner.Run("unshare", new[] { "-n", "--", nft, "-c", "-f", edited }, _options.CommandTimeout, CancellationToken.None);
        if (after.ExitCode != 0)
        {
            throw new InvalidOperationException($"Without the rule's line, {original} no longer passes 'nft -c -f': {FirewallInspector.FirstLine(after.StandardError)}; the file was not changed.");
        }
    }

    private void CopyOwnerAndMode(string reference, string file)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(file, File.GetUnixFileMode(reference));
        }
        ICommandRunner runner = _options.Runner ?? SystemCommandRunner.Instance;
        CommandResult chown = runner.Run("chown", new[] { "--reference=" + reference, "--", file }, _options.CommandTimeout, CancellationToken.None);
        if (chown.ExitCode != 0)
        {
            throw new IOException($"could not give {file} the owner of {reference}: {FirewallInspector.FirstLine(chown.StandardError)}");
        }

        if (Directory.Exists("/sys/fs/selinux") && runner.Resolve("chcon") is not null)
        {
            // Keep the SELinux label, so iptables-restore/nft may still read the file at boot; best effort.
            runner.Run("chcon", new[] { "--reference=" + reference, "--", file }, _options.CommandTimeout, CancellationToken.None);
        }
    }
}
