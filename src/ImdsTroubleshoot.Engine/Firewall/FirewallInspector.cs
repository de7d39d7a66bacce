using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>How to read the firewall: the runner (real programs, or captured dumps in tests), namespace, files.</summary>
public sealed class FirewallInspectorOptions
{
    /// <summary>Runs the tools; default: the real programs.</summary>
    public ICommandRunner? Runner { get; init; }

    /// <summary>Read (and change) the firewall of this named network namespace instead of the current one.</summary>
    public string? NetworkNamespace { get; init; }

    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(20);

    public IUserDatabase? Users { get; init; }

    /// <summary>More files that restore rules at boot (iptables-restore or nft format), besides the standard ones.</summary>
    public IReadOnlyList<string> PersistedFiles { get; init; } = Array.Empty<string>();

    /// <summary>Also look in /etc/iptables/rules.v4, /etc/sysconfig/iptables, /etc/nftables.conf, ufw's files, ... (default true).</summary>
    public bool StandardPersistedFiles { get; init; } = true;

    /// <summary>Read the persisted rules files under this folder (a copy of another machine's files) instead of "/".</summary>
    internal string? PersistedFilesRoot { get; init; }

    /// <summary>The uid the default report covers besides root (default: the effective uid, and SUDO_UID).</summary>
    public IReadOnlyList<uint>? CurrentUsers { get; init; }

    internal ICommandRunner EffectiveRunner()
    {
        ICommandRunner runner = Runner ?? SystemCommandRunner.Instance;
        return NetworkNamespace is null ? runner : new NamespaceCommandRunner(runner, NetworkNamespace);
    }
}

/// <summary>What to evaluate.</summary>
public sealed class FirewallQuery
{
    /// <summary>The users to evaluate; null for the default set (root, the current user, uids the rules name).</summary>
    public IReadOnlyList<uint>? Uids { get; init; }

    public FirewallFamily Family { get; init; } = FirewallFamily.Both;

    /// <summary>Evaluate traffic forwarded for containers and pods (always on when Uids is null).</summary>
    public bool IncludeForward { get; init; }

    /// <summary>Report every rule of every evaluated table, also those that do not touch IMDS traffic.</summary>
    public bool All { get; init; }
}

public enum FirewallAccess
{
    Allowed,
    Blocked,
    MayBeBlocked,
    Redirected,
}

/// <summary>Whether one user's (or container interface's) IMDS traffic of one family gets through.</summary>
public sealed class FirewallSubjectResult
{
    internal FirewallSubjectResult(string subject, uint? uid, FirewallFamily family, FirewallAccess access, FirewallRule? decidedBy, FirewallSymptom symptom)
    {
        Subject = subject;
        Uid = uid;
        Family = family;
        Access = access;
        DecidedBy = decidedBy;
        Symptom = symptom;
    }

    public string Subject { get; }

    public uint? Uid { get; }

    public FirewallFamily Family { get; }

    public FirewallAccess Access { get; }

    /// <summary>The rule that stops this traffic first (null when allowed).</summary>
    public FirewallRule? DecidedBy { get; }

    public FirewallSymptom Symptom { get; }

    public override string ToString() => $"{Subject} {Family}: {Access}{(DecidedBy is null ? string.Empty : " by " + DecidedBy.Location)}";
}

public sealed class FirewallReport
{
    internal FirewallReport(IReadOnlyList<FirewallRule> rules, IReadOnlyList<FirewallSubjectResult> subjects, IReadOnlyList<string> warnings, IReadOnlyList<string> sources)
    {
        Rules = rules;
        Subjects = subjects;
        Warnings = warnings;
        Sources = sources;
    }

    public IReadOnlyList<FirewallRule> Rules { get; }

    public IReadOnlyList<FirewallSubjectResult> Subjects { get; }

    /// <summary>Things the user should know: legacy tables without tools, unreadable files, uncertain evaluation.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>What was read: "iptables-nft-save (IPv4): 3 tables", "nft -j list ruleset: 2 tables", files.</summary>
    public IReadOnlyList<string> Sources { get; }
}

/// <summary>
/// Finds the local packet-filter rules that affect traffic to 169.254.169.254:80 and [fd00:ec2::254]:80: reads
/// iptables (nf_tables and legacy, IPv4 and IPv6) and native nftables, evaluates the rules for chosen users and for
/// forwarded container traffic, and says which rules block whom.
/// </summary>
public sealed partial class FirewallInspector
{
    private readonly FirewallInspectorOptions _options;
    private readonly ICommandRunner _runner;
    private readonly IUserDatabase _users;

    public FirewallInspector(FirewallInspectorOptions? options = null)
    {
        _options = options ?? new FirewallInspectorOptions();
        _runner = _options.EffectiveRunner();
        _users = _options.Users ?? PasswdUserDatabase.FromSystem();
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    /// <summary>
    /// The rules that stop IMDS traffic of this uid (and family), the deciding rule first. For Test-ImdsEndpoint after
    /// "connection refused" (a REJECT) or a timeout (a DROP). Throws <see cref="FirewallAccessDeniedException"/>
    /// without root.
    /// </summary>
    public IReadOnlyList<FirewallRule> FindBlockingRules(int uid, FirewallFamily family, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(uid);
        FirewallReport report = Inspect(new FirewallQuery { Uids = new[] { (uint)uid }, Family = family }, cancellationToken);
        return report.Rules
            .Where(r => r.Blocks || r.Effect == FirewallRuleEffect.MayBlock)
            .OrderByDescending(r => r.Decides)
            .ThenByDescending(r => r.Blocks)
            .ToList();
    }

    /// <summary>
    /// The rule that explains a failed connect to IMDS (SocketError.ConnectionRefused, TimedOut, HostUnreachable, ...)
    /// for this uid, or null when no local rule explains it.
    /// </summary>
    public FirewallRule? ExplainConnectFailure(int uid, IPAddress endpoint, SocketError error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        FirewallFamily family = endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? FirewallFamily.IPv6 : FirewallFamily.IPv4;
        IReadOnlyList<FirewallRule> rules = FindBlockingRules(uid, family, cancellationToken);
        return rules.FirstOrDefault(r => r.Decides && r.Explains(error))
            ?? rules.FirstOrDefault(r => r.Blocks && r.Explains(error))
            ?? rules.FirstOrDefault(r => r.Effect == FirewallRuleEffect.MayBlock && r.Explains(error));
    }

    public FirewallReport Inspect(FirewallQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var warnings = new List<string>();
        var sources = new List<string>();
        Ruleset rules = ReadRuleset(warnings, sources, cancellationToken);
        HostNetwork host = HostNetwork.Read(_runner, _options.CommandTimeout, cancellationToken);
        if (host.ImdsInterfaceV4 is null && query.Family != FirewallFamily.IPv6)
        {
            warnings.Add("no route to 169.254.169.254: interface matches on IMDS traffic cannot be decided");
        }

        PersistenceIndex persisted = PersistenceIndex.Load(
            _options.StandardPersistedFiles ? PersistenceIndex.StandardIptablesFiles : Array.Empty<(string, bool?)>(),
            _options.StandardPersistedFiles ? PersistenceIndex.StandardNftFiles : Array.Empty<string>(),
            _options.PersistedFiles,
            _users,
            _options.PersistedFilesRoot);
        warnings.AddRange(persisted.Warnings);
        sources.AddRange(persisted.FilesRead.Select(f => "persisted rules file " + f));

        var analysis = new Analysis(rules, host, persisted, _options.NetworkNamespace, _runner);
        IReadOnlyList<Subject> subjects = BuildSubjects(query, rules, host);
        analysis.Evaluate(subjects, query.Family, cancellationToken);
        warnings.AddRange(analysis.Warnings);
        return new FirewallReport(analysis.Report(query.All), analysis.SubjectResults, warnings, sources);
    }

    private IReadOnlyList<Subject> BuildSubjects(FirewallQuery query, Ruleset rules, HostNetwork host)
    {
        var subjects = new List<Subject>();
        var uids = new List<uint>();
        if (query.Uids is not null)
        {
            uids.AddRange(query.Uids);
        }
        else
        {
            uids.Add(0);
            uids.AddRange(_options.CurrentUsers ?? CurrentUids());
            foreach (var (lo, hi, isUid) in MentionedIds(rules))
            {
                if (isUid)
                {
                    uids.Add((uint)Math.Min(lo, uint.MaxValue - 1));
                    if (lo > 0)
                    {
                        uids.Add((uint)Math.Min(lo - 1, uint.MaxValue - 1));
                    }

                    if (hi < uint.MaxValue - 1)
                    {
                        uids.Add((uint)hi);
                        uids.Add((uint)(hi + 1));
                    }
                }
                else
                {
                    LocalUser? member = _users.Users.FirstOrDefault(u => u.Gid >= lo && u.Gid <= hi);
                    if (member is not null)
                    {
                        uids.Add(member.Uid);
                    }
                }
            }
        }

        foreach (uint uid in uids.Distinct().Take(32))
        {
            LocalUser u = _users.GetUser(uid);
            subjects.Add(Subject.User(uid, u.Gid, u.Groups, u.Name));
        }

        if (query.Uids is null || query.IncludeForward)
        {
            subjects.AddRange(ForwardSubjects(rules, host));
        }

        return subjects;
    }

    private static IEnumerable<uint> CurrentUids()
    {
        uint euid;
        try
        {
            euid = GetEuid();
        }
        catch (DllNotFoundException)
        {
            yield break;
        }
        catch (EntryPointNotFoundException)
        {
            yield break;
        }

        yield return euid;
        if (uint.TryParse(Environment.GetEnvironmentVariable("SUDO_UID"), NumberStyles.None, CultureInfo.InvariantCulture, out uint sudo))
        {
            yield return sudo;
        }
    }

    private static IEnumerable<(ulong Low, ulong High, bool IsUid)> MentionedIds(Ruleset rules)
    {
        foreach (Rule rule in rules.Tables.SelectMany(t => t.Chains.Values).SelectMany(c => c.Rules))
        {
            foreach (Condition c in rule.Conditions)
            {
                if (c is OwnerCondition o)
                {
                    if (o.Uid is { } u)
                    {
                        yield return (u.Low, u.High, true);
                    }

                    if (o.Gid is { } g)
                    {
                        yield return (g.Low, g.High, false);
                    }
                }
                else if (c is FieldCondition { Field: Field.SocketUid or Field.SocketGid } f)
                {
                    foreach (NumberElement n in f.Right.Elements.OfType<NumberElement>())
                    {
                        yield return (n.Low, n.High, f.Field == Field.SocketUid);
                    }
                }
            }
        }
    }

    private static readonly HashSet<string> s_containerLinkKinds = new(StringComparer.Ordinal)
    {
        "veth", "bridge", "vxlan", "macvlan", "macvtap", "ipvlan", "ipvtap", "geneve", "tun", "tap", "netkit",
    };

    private static IEnumerable<Subject> ForwardSubjects(Ruleset rules, HostNetwork host)
    {
        // Containers and pods come in on virtual interfaces (veth, bridges such as docker0, vxlan ...). A physical NIC
        // (a second ENI) counts only when a rule names it: nothing is forwarded from it to IMDS otherwise.
        var named = rules.Tables.SelectMany(t => t.Chains.Values).SelectMany(c => c.Rules)
            .SelectMany(r => r.Conditions.OfType<FieldCondition>())
            .Where(f => f.Field == Field.InInterface)
            .SelectMany(f => f.Right.Elements.OfType<InterfaceElement>())
            .ToList();
        var names = host.Interfaces.Keys
            .Where(n => n != "lo" && n != host.ImdsInterfaceV4 && n != host.ImdsInterfaceV6)
            .Where(n => (host.Kinds.TryGetValue(n, out string? kind) && kind is not null && s_containerLinkKinds.Contains(kind)) ||
                        named.Any(e => e.Contains(FieldValue.Interface(n)) == Tri.True))
            .OrderBy(n => n, StringComparer.Ordinal)
            .Take(16)
            .ToList();
        foreach (string name in names)
        {
            var addrs = host.Interfaces[name];
            AddressSpan? v4 = addrs.Where(a => a.Address.AddressFamily == AddressFamily.InterNetwork).Select(a => (AddressSpan?)AddressSpan.Prefix(a.Address, a.Prefix)).FirstOrDefault();
            AddressSpan? v6 = addrs.Where(a => a.Address.AddressFamily == AddressFamily.InterNetworkV6 && !a.Address.IsIPv6LinkLocal).Select(a => (AddressSpan?)AddressSpan.Prefix(a.Address, a.Prefix)).FirstOrDefault();
            yield return Subject.Forwarded(name, false, v4, v6);
        }

        // Interfaces the rules name that do not exist now (eni+ on an EKS node before pods start, docker0 ...).
        var patterns = rules.Tables.SelectMany(t => t.Chains.Values).SelectMany(c => c.Rules)
            .SelectMany(r => r.Conditions.OfType<FieldCondition>())
            .Where(f => f.Field == Field.InInterface && f.Op == CompareOp.Equal)
            .SelectMany(f => f.Right.Elements.OfType<InterfaceElement>())
            .Where(e => e.Name.Length > 0 && !host.Interfaces.Keys.Any(n => e.IsPrefix ? n.StartsWith(e.Name, StringComparison.Ordinal) : n == e.Name))
            .Select(e => e.IsPrefix ? (Name: e.Name + "0", Display: e.ToString()) : (Name: e.Name, Display: e.ToString()))
            .DistinctBy(e => e.Name)
            .Take(8);
        foreach (var (name, _) in patterns)
        {
            yield return Subject.Forwarded(name, true, null, null);
        }
    }

    /// <summary>Runs every source and merges what they show, each table once.</summary>
    private Ruleset ReadRuleset(List<string> warnings, List<string> sources, CancellationToken cancellationToken)
    {
        var rules = new Ruleset();
        var shownByIptables = new HashSet<(string, string)>();
        bool anyTool = false;
        foreach (bool v6 in new[] { false, true })
        {
            string? tool = ResolveBackendTool(v6 ? "ip6tables" : "iptables", "-save", nftBackend: true, cancellationToken);
            if (tool is null)
            {
                continue;
            }

            anyTool = true;
            CommandResult r = RunTool(tool, new[] { "-c" }, cancellationToken);
            IptablesDump dump = IptablesSaveParser.Parse(r.StandardOutput, FirewallBackend.IptablesNft, v6, _users);
            foreach (Table t in dump.Tables)
            {
                if (dump.IncompatibleTables.Contains(t.Name))
                {
                    continue;
                }

                rules.Tables.Add(t);
                shownByIptables.Add((v6 ? "ip6" : "ip", t.Name));
            }

            warnings.AddRange(dump.Warnings.Select(w => $"{tool}: {w}"));
            sources.Add($"{tool} -c: {dump.Tables.Count - dump.IncompatibleTables.Count(n => dump.Tables.Any(t => t.Name == n))} table(s){(dump.IncompatibleTables.Count > 0 ? $"; native nft table(s) {string.Join(", ", dump.IncompatibleTables)} read from nft" : string.Empty)}");
        }

        foreach (bool v6 in new[] { false, true })
        {
            string names;
            string proc = v6 ? "/proc/net/ip6_tables_names" : "/proc/net/ip_tables_names";
            try
            {
                names = _runner.ReadFile(proc) ?? string.Empty;
            }
            catch (UnauthorizedAccessException ex)
            {
                throw new FirewallAccessDeniedException($"Reading the firewall needs root (or CAP_NET_ADMIN): {proc}: {ex.Message}", ex) { Tool = proc };
            }

            if (names.Trim().Length == 0)
            {
                continue;
            }

            string? tool = ResolveBackendTool(v6 ? "ip6tables" : "iptables", "-save", nftBackend: false, cancellationToken);
            if (tool is null)
            {
                warnings.Add($"legacy {(v6 ? "ip6tables" : "iptables")} tables exist ({names.Trim().Replace('\n', ' ')}) but no {(v6 ? "ip6tables" : "iptables")}-legacy-save is installed to read them");
                continue;
            }

            anyTool = true;
            CommandResult r = RunTool(tool, new[] { "-c" }, cancellationToken);
            IptablesDump dump = IptablesSaveParser.Parse(r.StandardOutput, FirewallBackend.IptablesLegacy, v6, _users);
            rules.Tables.AddRange(dump.Tables);
            warnings.AddRange(dump.Warnings.Select(w => $"{tool}: {w}"));
            sources.Add($"{tool} -c: {dump.Tables.Count} table(s)");
        }

        if (_runner.Resolve("nft") is not null)
        {
            anyTool = true;
            CommandResult r = RunTool("nft", new[] { "-j", "list", "ruleset" }, cancellationToken);
            NftDump dump;
            try
            {
                dump = NftJsonParser.Parse(r.StandardOutput, (family, name) => shownByIptables.Contains((family, name)), _users);
            }
            catch (System.Text.Json.JsonException ex)
            {
                throw new FirewallCommandException($"nft -j list ruleset printed output that is not JSON: {ex.Message}", ex) { Tool = "nft" };
            }
            catch (FormatException ex)
            {
                throw new FirewallCommandException($"nft -j list ruleset: {ex.Message}", ex) { Tool = "nft" };
            }

            foreach (Table t in dump.Tables.Where(t => t.FlagsUncertain))
            {
                ResolveTableFlags(t, warnings, cancellationToken);
            }

            rules.Tables.AddRange(dump.Tables);
            warnings.AddRange(dump.Warnings);
            sources.Add($"nft -j list ruleset: {dump.Tables.Count} native table(s){(dump.Skipped.Count > 0 ? $" ({string.Join(", ", dump.Skipped)} read from iptables-save)" : string.Empty)}");
            foreach (Table t in dump.Tables.Where(t => t.Dormant))
            {
                warnings.Add($"nft table {t.DisplayName} is dormant (flags dormant): its rules are not active");
            }
        }

        if (!anyTool)
        {
            throw new FirewallToolNotFoundException("Neither iptables nor nft is installed: there is no packet filter to read (or the tools are missing). Install iptables or nftables to inspect the firewall.");
        }

        return rules;
    }

    /// <summary>Reads a table's flags from nft's text listing (its "flags" line), when the JSON printed nonsense.</summary>
    private void ResolveTableFlags(Table table, List<string> warnings, CancellationToken cancellationToken)
    {
        CommandResult r = _runner.Run("nft", new[] { "list", "table", table.NftFamily!, table.Name }, _options.CommandTimeout, cancellationToken);
        if (r.ExitCode != 0 || r.TimedOut)
        {
            warnings.Add($"nft table {table.DisplayName}: nft printed unreadable table flags and 'nft list table' failed; the table is evaluated as active");
            return;
        }

        foreach (string line in r.StandardOutput.Split('\n'))
        {
            string t = line.Trim();
            if (t.StartsWith("flags ", StringComparison.Ordinal) && !t.Contains('{', StringComparison.Ordinal))
            {
                table.Dormant = t.Substring(6).Split(new[] { ',', ' ' }, StringSplitOptions.RemoveEmptyEntries).Contains("dormant");
                return;
            }
        }
    }

    private string? ResolveBackendTool(string family, string suffix, bool nftBackend, CancellationToken cancellationToken)
    {
        string explicitName = $"{family}-{(nftBackend ? "nft" : "legacy")}{suffix}";
        if (_runner.Resolve(explicitName) is not null)
        {
            return explicitName;
        }

        string plain = family + suffix;
        if (_runner.Resolve(plain) is null)
        {
            return null;
        }

        CommandResult version = _runner.Run(plain, new[] { "--version" }, _options.CommandTimeout, cancellationToken);
        bool isNft = version.StandardOutput.Contains("nf_tables", StringComparison.Ordinal);
        return isNft == nftBackend ? plain : null;
    }

    internal static bool IsPermissionProblem(CommandResult r) =>
        r.ExitCode != 0 && (r.StandardError.Contains("Permission denied", StringComparison.OrdinalIgnoreCase) ||
                            r.StandardError.Contains("Operation not permitted", StringComparison.OrdinalIgnoreCase) ||
                            r.StandardError.Contains("you must be root", StringComparison.OrdinalIgnoreCase));

    private CommandResult RunTool(string tool, IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        CommandResult r;
        try
        {
            r = _runner.Run(tool, args, _options.CommandTimeout, cancellationToken);
        }
        catch (FileNotFoundException ex)
        {
            throw new FirewallToolNotFoundException($"{tool} could not be run: {ex.Message}", ex);
        }

        string command = tool + " " + string.Join(' ', args);
        if (r.TimedOut)
        {
            throw new FirewallCommandException($"{command} did not finish within {_options.CommandTimeout.TotalSeconds:0} s.") { Tool = tool, TimedOut = true, ExitCode = r.ExitCode };
        }

        if (IsPermissionProblem(r))
        {
            throw new FirewallAccessDeniedException($"Reading the firewall needs root (or CAP_NET_ADMIN): {command}: {FirstLine(r.StandardError)} (exit {r.ExitCode})") { Tool = tool };
        }

        if (r.ExitCode != 0)
        {
            throw new FirewallCommandException($"{command} failed with exit code {r.ExitCode}: {FirstLine(r.StandardError)}") { Tool = tool, ExitCode = r.ExitCode };
        }

        return r;
    }

    internal static string FirstLine(string text)
    {
        string t = text.Trim();
        int nl = t.IndexOf('\n', StringComparison.Ordinal);
        return nl < 0 ? t : t.Substring(0, nl).Trim();
    }
}
