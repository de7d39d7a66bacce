using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>Evaluates the IMDS connection for every subject and turns the walks into reported rules.</summary>
internal sealed class Analysis
{
    private static readonly Hook[] s_hostOut = { Hook.Output, Hook.Postrouting };
    private static readonly Hook[] s_hostIn = { Hook.Prerouting, Hook.Input };
    private static readonly Hook[] s_forward = { Hook.Prerouting, Hook.Forward, Hook.Postrouting };

    private readonly Ruleset _rules;
    private readonly HostNetwork _host;
    private readonly PersistenceIndex _persisted;
    private readonly string? _namespace;
    private readonly ICommandRunner _runner;
    private readonly Dictionary<Rule, Agg> _agg = new();
    private readonly List<Subject> _subjects = new();
    private readonly List<(Packet Packet, IReadOnlyList<Hook> Hooks)> _references = new();
    private readonly Dictionary<(string, bool, FirewallBackend), string?> _tools = new();
    private readonly Dictionary<Rule, FirewallRule> _converted = new();
    private readonly List<(Subject Subject, bool IsIPv6, FirewallAccess Access, Rule? Decider, FirewallSymptom Symptom)> _subjectResults = new();

    public Analysis(Ruleset rules, HostNetwork host, PersistenceIndex persisted, string? networkNamespace, ICommandRunner runner)
    {
        _rules = rules;
        _host = host;
        _persisted = persisted;
        _namespace = networkNamespace;
        _runner = runner;
    }

    public List<string> Warnings { get; } = new();

    public IReadOnlyList<FirewallSubjectResult> SubjectResults => _subjectResults
        .Select(s => new FirewallSubjectResult(s.Subject.Label, s.Subject.Uid, s.IsIPv6 ? FirewallFamily.IPv6 : FirewallFamily.IPv4, s.Access, s.Decider is null ? null : Convert(s.Decider), s.Symptom))
        .ToList();

    private sealed class Agg
    {
        public HashSet<Subject> Reached { get; } = new();

        public HashSet<Subject> MatchedCertain { get; } = new();

        public HashSet<Subject> MatchedMaybe { get; } = new();

        public HashSet<Subject> BlockedCertain { get; } = new();

        public HashSet<Subject> BlockedMaybe { get; } = new();

        public HashSet<Subject> Decides { get; } = new();

        public FirewallSymptom? Symptom { get; set; }

        /// <summary>The earliest packet of the connection the rule stops (the SYN's symptom is what a client sees).</summary>
        public PacketKind? SymptomKind { get; set; }

        public bool SymptomFromDecider { get; set; }

        public void Offer(FirewallSymptom symptom, PacketKind kind, bool decider)
        {
            bool better = Symptom is null || (decider && !SymptomFromDecider) || (decider == SymptomFromDecider && kind < SymptomKind);
            if (better)
            {
                Symptom = symptom;
                SymptomKind = kind;
                SymptomFromDecider = decider;
            }
        }

        public FirewallTraffic Traffic { get; set; }
    }

    private Agg Of(Rule r)
    {
        if (!_agg.TryGetValue(r, out Agg? a))
        {
            a = new Agg();
            _agg.Add(r, a);
        }

        return a;
    }

    public void Evaluate(IReadOnlyList<Subject> subjects, FirewallFamily family, CancellationToken cancellationToken)
    {
        _subjects.AddRange(subjects);
        bool truncated = false;
        foreach (Subject subject in subjects)
        {
            foreach (bool v6 in family switch { FirewallFamily.IPv4 => new[] { false }, FirewallFamily.IPv6 => new[] { true }, _ => new[] { false, true } })
            {
                cancellationToken.ThrowIfCancellationRequested();
                var walks = new List<Walk>();
                foreach (var (packet, hooks) in Packets(subject, v6))
                {
                    _references.Add((packet, hooks));

                    List<Walk> result = Evaluator.Run(_rules, packet, hooks);
                    foreach (Walk w in result)
                    {
                        truncated |= w.Truncated;
                        Record(subject, packet, w);
                    }

                    walks.AddRange(result);
                }

                Summarise(subject, v6, walks);
            }
        }

        if (truncated)
        {
            Warnings.Add("the rules have more undecidable matches than the evaluator follows; some verdicts are marked as uncertain");
        }
    }

    private void Record(Subject subject, Packet packet, Walk w)
    {
        FirewallTraffic traffic = subject.IsForwarded ? FirewallTraffic.Forwarded : FirewallTraffic.Host;
        foreach (Rule r in w.Reached)
        {
            Agg a = Of(r);
            a.Reached.Add(subject);
            a.Traffic |= traffic;
        }

        foreach (var (rule, certain) in w.Matched)
        {
            (certain ? Of(rule).MatchedCertain : Of(rule).MatchedMaybe).Add(subject);
        }

        foreach (Blocker b in w.Blockers)
        {
            Agg a = Of(b.Rule);
            (b.Certain ? a.BlockedCertain : a.BlockedMaybe).Add(subject);
            a.Offer(Symptom(b.Rule, b.Kind, packet.IsIPv6), b.Kind, false);
        }

        Blocker? decider = w.Blockers.FirstOrDefault(b => b.Certain);
        if (decider is not null)
        {
            Agg a = Of(decider.Rule);
            a.Decides.Add(subject);
            a.Offer(Symptom(decider.Rule, decider.Kind, packet.IsIPv6), decider.Kind, true);
        }
    }

    private void Summarise(Subject subject, bool v6, List<Walk> walks)
    {
        Blocker? certain = walks.Select(w => w.Blockers.FirstOrDefault(b => b.Certain)).FirstOrDefault(b => b is not null);
        Blocker? maybe = walks.SelectMany(w => w.Blockers).FirstOrDefault();
        if (certain is not null)
        {
            _subjectResults.Add((subject, v6, FirewallAccess.Blocked, certain.Rule, Symptom(certain.Rule, certain.Kind, v6)));
        }
        else if (maybe is not null)
        {
            _subjectResults.Add((subject, v6, FirewallAccess.MayBeBlocked, maybe.Rule, Symptom(maybe.Rule, maybe.Kind, v6)));
        }
        else if (walks.FirstOrDefault(w => w.RedirectedBy is not null) is { } redirected)
        {
            _subjectResults.Add((subject, v6, FirewallAccess.Redirected, redirected.RedirectedBy, FirewallSymptom.Redirected));
        }
        else
        {
            _subjectResults.Add((subject, v6, FirewallAccess.Allowed, null, FirewallSymptom.None));
        }
    }

    /// <summary>The four packets of an IMDS HTTP connection, each with the hooks it passes.</summary>
    private IEnumerable<(Packet Packet, IReadOnlyList<Hook> Hooks)> Packets(Subject subject, bool v6)
    {
        var imds = AddressSpan.Single(v6 ? ImdsDefaults.IPv6Address : ImdsDefaults.IPv4Address);
        string oif = (v6 ? _host.ImdsInterfaceV6 : _host.ImdsInterfaceV4) ?? "?";
        FieldValue ephemeral = FieldValue.NumberRange(_host.EphemeralPorts.Low, _host.EphemeralPorts.High);
        FieldValue http = FieldValue.Number(80);
        Tri imdsLocal = TriExtensions.From(_host.IsLocal(v6 ? ImdsDefaults.IPv6Address : ImdsDefaults.IPv4Address));
        if (!subject.IsForwarded)
        {
            System.Net.IPAddress? src = v6 ? _host.SourceV6 : _host.SourceV4;
            AddressSpan? local = src is null ? null : AddressSpan.Single(src);
            foreach (PacketKind kind in new[] { PacketKind.Syn, PacketKind.SynAck, PacketKind.Request, PacketKind.Response })
            {
                bool reply = kind is PacketKind.SynAck or PacketKind.Response;
                yield return (new Packet
                {
                    IsIPv6 = v6,
                    Subject = subject,
                    Kind = kind,
                    Source = reply ? imds : local,
                    Destination = reply ? local : imds,
                    SourcePort = reply ? http : ephemeral,
                    DestinationPort = reply ? ephemeral : http,
                    InInterface = reply ? oif : null,
                    OutInterface = reply ? null : oif,
                    TcpFlags = Flags(kind),
                    CtState = kind == PacketKind.Syn ? CtStates.New : CtStates.Established,
                    IsReply = reply,
                    HasSocket = true,
                    DestinationIsLocal = reply ? Tri.True : imdsLocal,
                    SourceIsLocal = reply ? imdsLocal : Tri.True,
                    Hook = reply ? Hook.Input : Hook.Output,
                }, reply ? s_hostIn : s_hostOut);
            }

            yield break;
        }

        AddressSpan? container = v6 ? subject.ForwardedIPv6Source : subject.ForwardedIPv4Source;
        foreach (PacketKind kind in new[] { PacketKind.Syn, PacketKind.SynAck, PacketKind.Request, PacketKind.Response })
        {
            bool reply = kind is PacketKind.SynAck or PacketKind.Response;
            yield return (new Packet
            {
                IsIPv6 = v6,
                Subject = subject,
                Kind = kind,
                Source = reply ? imds : container,
                Destination = reply ? container : imds,
                SourcePort = reply ? http : FieldValue.NumberRange(1024, 65535),
                DestinationPort = reply ? FieldValue.NumberRange(1024, 65535) : http,
                InInterface = reply ? oif : subject.InInterface,
                OutInterface = reply ? subject.InInterface : oif,
                TcpFlags = Flags(kind),
                CtState = kind == PacketKind.Syn ? CtStates.New : CtStates.Established,
                IsReply = reply,
                HasSocket = false,
                DestinationIsLocal = reply ? Tri.False : imdsLocal,
                SourceIsLocal = reply ? imdsLocal : Tri.False,
                Hook = Hook.Forward,
            }, s_forward);
        }
    }

    private static ulong Flags(PacketKind kind) => kind switch
    {
        PacketKind.Syn => TcpFlagBits.Syn,
        PacketKind.SynAck => TcpFlagBits.Syn | TcpFlagBits.Ack,
        _ => TcpFlagBits.Ack | TcpFlagBits.Psh,
    };

    internal static FirewallSymptom Symptom(Rule rule, PacketKind kind, bool v6)
    {
        ActionKind action = rule.Action.Kind;
        if (action is ActionKind.Queue or ActionKind.Unknown || (action == ActionKind.VerdictMap && rule.Action.MapEntries is null))
        {
            return FirewallSymptom.Unknown;
        }

        string type = (rule.Action.RejectWith ?? string.Empty).ToLowerInvariant();
        if (action == ActionKind.VerdictMap)
        {
            var verdicts = rule.Action.MapEntries!.Select(e => e.Verdict).Where(v => v.IsBlocking).ToList();
            if (verdicts.Count == 0)
            {
                return FirewallSymptom.Unknown;
            }

            action = verdicts[0].Kind;
            type = (verdicts[0].RejectWith ?? string.Empty).ToLowerInvariant();
        }

        if (kind is PacketKind.SynAck or PacketKind.Response || action == ActionKind.Drop)
        {
            // A lost reply, or a silently dropped packet: the client waits until it gives up.
            return FirewallSymptom.Timeout;
        }

        if (action != ActionKind.Reject)
        {
            return FirewallSymptom.Unknown;
        }

        if (kind == PacketKind.Request)
        {
            return type.Contains("tcp", StringComparison.Ordinal) && type.Contains("reset", StringComparison.Ordinal) ? FirewallSymptom.ConnectionReset : FirewallSymptom.Timeout;
        }

        if (type.Contains("hidden", StringComparison.Ordinal))
        {
            return FirewallSymptom.Unknown;
        }

        if (type.Contains("reset", StringComparison.Ordinal) || type.Contains("port-unreach", StringComparison.Ordinal))
        {
            return FirewallSymptom.ConnectionRefused;
        }

        if (type.Contains("adm", StringComparison.Ordinal))
        {
            return v6 ? FirewallSymptom.PermissionDenied : FirewallSymptom.HostUnreachable;
        }

        if (type.Contains("net-", StringComparison.Ordinal) || type.Contains("no-route", StringComparison.Ordinal))
        {
            return FirewallSymptom.NetworkUnreachable;
        }

        if (type.Contains("host-", StringComparison.Ordinal) || type.Contains("addr-unreach", StringComparison.Ordinal))
        {
            return FirewallSymptom.HostUnreachable;
        }

        if (type.Contains("prot", StringComparison.Ordinal))
        {
            return FirewallSymptom.ProtocolNotAvailable;
        }

        return FirewallSymptom.Unknown;
    }

    /// <summary>True when the rule could match some IMDS packet if it were reached.</summary>
    private bool CouldMatch(Rule rule)
    {
        foreach (var (packet, hooks) in _references)
        {
            if (!rule.Chain.Table.AppliesTo(packet.IsIPv6) && !rule.Chain.Table.Unsupported)
            {
                continue;
            }

            Hook hook = rule.Chain.Hook ?? (packet.Subject.IsForwarded ? Hook.Forward : Hook.Output);
            if (rule.Chain.Hook is { } h && !hooks.Contains(h))
            {
                continue;
            }

            var state = new EvalState { Mark = 0, CtState = packet.CtState };
            Packet at = packet.At(hook);
            if (rule.Match(at, state) != Tri.False &&
                (rule.Action.MapEntries is not { } entries || entries.Any(e => e.When.Evaluate(at, state) != Tri.False)))
            {
                return true;
            }
        }

        return false;
    }

    public IReadOnlyList<FirewallRule> Report(bool all)
    {
        var list = new List<FirewallRule>();
        foreach (Table table in _rules.Tables)
        {
            if (table.Dormant && !all)
            {
                continue;
            }

            foreach (Chain chain in table.Chains.Values)
            {
                if (chain.IsBase && _agg.TryGetValue(chain.PolicyRule, out Agg? pa) && (pa.BlockedCertain.Count + pa.BlockedMaybe.Count > 0 || all))
                {
                    list.Add(Convert(chain.PolicyRule));
                }

                foreach (Rule rule in chain.Rules)
                {
                    FirewallRuleEffect effect = EffectOf(rule);
                    if (all || Include(rule, effect))
                    {
                        list.Add(Convert(rule));
                    }
                }
            }
        }

        return list;
    }

    private static bool HasImdsCondition(Rule rule) => rule.Conditions.Any(c => c.IsDestination || c.IsWho);

    private bool Include(Rule rule, FirewallRuleEffect effect) => effect switch
    {
        FirewallRuleEffect.Blocks or FirewallRuleEffect.MayBlock or FirewallRuleEffect.Redirects => true,
        FirewallRuleEffect.NotEvaluated => rule.Chain.Name == IptablesSaveParser.UnreadableChain || CouldMatch(rule),
        FirewallRuleEffect.Allows or FirewallRuleEffect.PassesOn => rule.Action.Kind != ActionKind.NatAccept && (rule.Problems.Count > 0 || HasImdsCondition(rule)),
        FirewallRuleEffect.NotReached => (rule.Action.IsBlocking || rule.Action.Kind == ActionKind.Redirect || rule.Problems.Count > 0 ||
                                          rule.Action.MapEntries?.Any(e => e.Verdict.IsBlocking) == true) && HasImdsCondition(rule),
        _ => false,
    };

    private FirewallRuleEffect EffectOf(Rule rule)
    {
        if (rule.Chain.Name == IptablesSaveParser.UnreadableChain || rule.Chain.Table.Unsupported)
        {
            return FirewallRuleEffect.NotEvaluated;
        }

        _agg.TryGetValue(rule, out Agg? a);
        if (a is null || a.Reached.Count == 0)
        {
            return CouldMatch(rule) ? FirewallRuleEffect.NotReached : FirewallRuleEffect.NoMatch;
        }

        if (a.BlockedCertain.Count > 0)
        {
            return FirewallRuleEffect.Blocks;
        }

        if (a.BlockedMaybe.Count > 0)
        {
            return FirewallRuleEffect.MayBlock;
        }

        if (a.MatchedCertain.Count + a.MatchedMaybe.Count > 0)
        {
            return rule.Action.Kind switch
            {
                ActionKind.Redirect => FirewallRuleEffect.Redirects,
                ActionKind.Accept or ActionKind.NatAccept => FirewallRuleEffect.Allows,
                _ => FirewallRuleEffect.PassesOn,
            };
        }

        // Reached only by packets it does not match (IPv6 packets past an "ip daddr" rule): it may still match others.
        return CouldMatch(rule) ? FirewallRuleEffect.NotReached : FirewallRuleEffect.NoMatch;
    }

    private string? DeleteTool(bool v6, FirewallBackend backend)
    {
        var key = (v6 ? "ip6tables" : "iptables", v6, backend);
        if (!_tools.TryGetValue(key, out string? tool))
        {
            string family = v6 ? "ip6tables" : "iptables";
            string explicitName = $"{family}-{(backend == FirewallBackend.IptablesLegacy ? "legacy" : "nft")}";
            tool = _runner.Resolve(explicitName) is not null ? explicitName : _runner.Resolve(family) is not null ? family : null;
            _tools[key] = tool;
        }

        return tool;
    }

    private FirewallRule Convert(Rule rule)
    {
        if (_converted.TryGetValue(rule, out FirewallRule? done))
        {
            return done;
        }

        Table table = rule.Chain.Table;
        _agg.TryGetValue(rule, out Agg? a);
        a ??= new Agg();
        FirewallRuleEffect effect = rule.IsPolicy
            ? (a.BlockedCertain.Count > 0 ? FirewallRuleEffect.Blocks : a.BlockedMaybe.Count > 0 ? FirewallRuleEffect.MayBlock : a.Reached.Count > 0 ? FirewallRuleEffect.Allows : FirewallRuleEffect.NotReached)
            : EffectOf(rule);
        FirewallTraffic traffic = a.Traffic != FirewallTraffic.None ? a.Traffic : rule.Chain.Hook == Hook.Forward ? FirewallTraffic.Forwarded : FirewallTraffic.Host;
        var result = new FirewallRule
        {
            NetworkNamespace = _namespace,
            Backend = table.Backend,
            FrontEnd = FrontEnds.Classify(table, rule.Chain.Name),
            Family = table.IsIPv6 switch
            {
                false => FirewallFamily.IPv4,
                true => FirewallFamily.IPv6,
                _ => FirewallFamily.Both,
            },
            TableFamily = table.NftFamily,
            Table = table.Name,
            Chain = rule.Chain.Name,
            Position = rule.Position,
            Handle = rule.Handle,
            Rule = rule.Text,
            Target = rule.Action.Display,
            Verdict = rule.Action.Kind switch
            {
                ActionKind.Accept => FirewallVerdict.Accept,
                ActionKind.Drop => FirewallVerdict.Drop,
                ActionKind.Reject => FirewallVerdict.Reject,
                ActionKind.Return => FirewallVerdict.Return,
                ActionKind.Jump => FirewallVerdict.Jump,
                ActionKind.Goto => FirewallVerdict.Goto,
                ActionKind.Queue => FirewallVerdict.Queue,
                ActionKind.Redirect => FirewallVerdict.Redirect,
                ActionKind.NatAccept => FirewallVerdict.Accept,
                ActionKind.Continue => FirewallVerdict.Continue,
                _ => FirewallVerdict.Unknown,
            },
            RejectWith = rule.Action.RejectWith,
            Traffic = traffic,
            AppliesTo = AppliesTo(rule, traffic),
            BlockedFor = Labels(a.BlockedCertain, a.BlockedMaybe),
            MatchedFor = Labels(a.MatchedCertain, a.MatchedMaybe),
            Blocks = a.BlockedCertain.Count > 0,
            Decides = a.Decides.Count > 0,
            Effect = effect,
            Evaluated = rule.Problems.Count == 0 && !table.Unsupported,
            NotEvaluatedReason = table.Unsupported
                ? $"{table.NftFamily} tables are not evaluated (bridge, netdev and arp families act before or beside IP routing)"
                : rule.Problems.Count == 0 ? null : string.Join("; ", rule.Problems),
            ExpectedSymptom = a.BlockedCertain.Count + a.BlockedMaybe.Count > 0 ? a.Symptom ?? FirewallSymptom.Unknown : FirewallSymptom.None,
            Packets = rule.Packets,
            Bytes = rule.Bytes,
            IsPolicy = rule.IsPolicy,
            ExpressionJson = rule.ExpressionJson,
            Spec = rule.Spec,
        };
        FillRemoval(rule, result);
        FillPersistence(rule, result);
        _converted[rule] = result;
        return result;
    }

    private IReadOnlyList<string> Labels(HashSet<Subject> certain, HashSet<Subject> maybe) =>
        _subjects.Where(s => certain.Contains(s) || maybe.Contains(s))
            .Select(s => certain.Contains(s) ? s.Label : s.Label + " (maybe)")
            .ToList();

    private static string AppliesTo(Rule rule, FirewallTraffic traffic)
    {
        var who = rule.Conditions.Where(c => c.IsWho).Select(c => c.Describe()).ToList();
        if (who.Count > 0)
        {
            return string.Join(", ", who);
        }

        return traffic switch
        {
            FirewallTraffic.Host => "all local processes",
            FirewallTraffic.Forwarded => "all forwarded traffic",
            _ => "all local processes and forwarded traffic",
        };
    }

    private void FillRemoval(Rule rule, FirewallRule result)
    {
        Table table = rule.Chain.Table;
        string prefix = _namespace is null ? string.Empty : $"ip netns exec {ShellQuote.Word(_namespace)} ";
        if (rule.IsPolicy)
        {
            return;
        }

        if (table.Backend == FirewallBackend.Nftables)
        {
            if (rule.Handle is { } handle)
            {
                var args = new[] { "delete", "rule", table.NftFamily!, table.Name, rule.Chain.Name, "handle", handle.ToString(System.Globalization.CultureInfo.InvariantCulture) };
                result.DeleteProgram = "nft";
                result.DeleteArguments = args;
                result.RemoveCommand = prefix + ShellQuote.Join(new[] { "nft" }.Concat(args));
            }

            return;
        }

        if (rule.Spec is null || rule.Problems.Any(p => p.StartsWith("line ", StringComparison.Ordinal)))
        {
            return;
        }

        string? tool = DeleteTool(table.IsIPv6 == true, table.Backend);
        if (tool is null)
        {
            return;
        }

        var arguments = new List<string>();
        if (table.Backend == FirewallBackend.IptablesLegacy)
        {
            arguments.AddRange(new[] { "-w", "5" });
        }

        arguments.AddRange(new[] { "-t", table.Name, "-D" });
        arguments.AddRange(rule.Spec);
        result.DeleteProgram = tool;
        result.DeleteArguments = arguments;
        result.RemoveCommand = prefix + ShellQuote.Join(new[] { tool }.Concat(arguments));
        result.IdenticalCount = rule.Chain.Rules.Count(r => r.Spec is not null && r.Spec.SequenceEqual(rule.Spec));
    }

    private void FillPersistence(Rule rule, FirewallRule result)
    {
        Table table = rule.Chain.Table;
        if (rule.IsPolicy)
        {
            result.PersistenceNote = table.Backend == FirewallBackend.Nftables
                ? $"chain policy: change it with: nft chain {table.NftFamily} {table.Name} {rule.Chain.Name} '{{ policy accept; }}'"
                : $"chain policy: change it with: {(table.IsIPv6 == true ? "ip6tables" : "iptables")} -t {table.Name} -P {rule.Chain.Name} ACCEPT";
            return;
        }

        PersistedLocation? loc = table.Backend == FirewallBackend.Nftables ? _persisted.FindNft(rule) : _persisted.FindIptables(rule);
        if (loc is not null)
        {
            result.PersistedFile = loc.Path;
            result.PersistedLine = loc.Line;
            if (loc.Count > 1)
            {
                result.PersistenceNote = $"{loc.Path} holds {loc.Count} copies of this rule";
            }
        }

        FirewallFrontEnd fe = result.FrontEnd;
        string? note = fe switch
        {
            FirewallFrontEnd.Ufw => loc is not null && loc.Path.Contains("/ufw/user", StringComparison.Ordinal)
                ? "added with ufw: delete it with ufw to keep ufw's state consistent (ufw status numbered; ufw delete N)"
                : "in ufw's chains: ufw loads its rules from /etc/ufw/*.rules",
            FirewallFrontEnd.Firewalld => "managed by firewalld: change its permanent configuration with firewall-cmd --permanent (/etc/firewalld/)",
            FirewallFrontEnd.Docker when rule.Chain.Name == "DOCKER-USER" => "in DOCKER-USER, the chain Docker leaves to you: Docker does not recreate it",
            FirewallFrontEnd.Docker or FirewallFrontEnd.Kubernetes or FirewallFrontEnd.AwsVpcCni or FirewallFrontEnd.Calico or FirewallFrontEnd.Cilium =>
                $"created at runtime by {FirewallRule.FrontEndName(fe)}, which recreates it: removing it only lasts until then",
            _ => null,
        };
        if (loc is null && note is null)
        {
            string? tableFile = table.NftFamily is null ? null : _persisted.NftTableFile(table.NftFamily, table.Name);
            note = tableFile is not null
                ? $"table {table.DisplayName} is defined in {tableFile}, but this rule is not in it: it was added at runtime and is lost when that file is loaded again (reboot, systemctl restart nftables)"
                : _namespace is not null && _persisted.FilesRead.Count == 0
                    ? $"a rule of network namespace {_namespace}: it lives as long as the namespace, unless whatever creates the namespace adds it again"
                : _persisted.FilesRead.Count == 0
                    ? "no persisted rules file was found: the rule is lost at reboot unless a boot script (user data, a systemd unit, a container runtime) adds it again"
                    : $"not in {string.Join(", ", _persisted.FilesRead)}: the rule is lost at reboot unless a boot script (user data, a systemd unit) adds it again";
        }

        result.PersistenceNote = result.PersistenceNote is null ? note : note is null ? result.PersistenceNote : result.PersistenceNote + "; " + note;
    }
}
