using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>A rule that drops or rejects the packet on one way through the rules.</summary>
internal sealed record Blocker(Rule Rule, bool Certain, PacketKind Kind);

/// <summary>One way a packet can go through the rules (several when a match cannot be decided).</summary>
internal sealed class Walk
{
    public EvalState State;

    public List<(Rule Rule, bool Certain)> Matched { get; private init; } = new();

    public HashSet<Rule> Reached { get; private init; } = new();

    public List<Blocker> Blockers { get; private init; } = new();

    /// <summary>How many undecidable matches this way assumed (0 = the way is certain).</summary>
    public int Assumptions { get; set; }

    public Rule? RedirectedBy { get; set; }

    /// <summary>The evaluator stopped forking here (too many undecidable matches); results are uncertain.</summary>
    public bool Truncated { get; set; }

    public bool IsCertain => Assumptions == 0 && !Truncated;

    public Walk Clone() => new()
    {
        State = State,
        Matched = new List<(Rule, bool)>(Matched),
        Reached = new HashSet<Rule>(Reached),
        Blockers = new List<Blocker>(Blockers),
        Assumptions = Assumptions,
        RedirectedBy = RedirectedBy,
        Truncated = Truncated,
    };
}

/// <summary>
/// Follows one packet through every base chain of its hooks, in priority order, from every table (iptables-nft,
/// iptables-legacy and native nft alike): jumps and gotos to user chains, RETURN, chain policies. Accept ends only
/// the current base chain; a drop or reject is final, but the evaluator records it and goes on as if that rule were
/// absent, so it also finds the rules that would block once the first one is gone. Undecidable matches fork the walk.
/// </summary>
internal sealed class Evaluator
{
    private const int MaxWalks = 512;
    private const int MaxSteps = 200_000;
    private const int MaxDepth = 64;

    private readonly List<Walk> _results = new();
    private int _walks = 1;
    private int _steps;

    private Evaluator()
    {
    }

    private delegate void End(Walk walk, bool redirected);

    /// <summary>Base chains a packet passes at these hooks, in the order the kernel runs them.</summary>
    public static List<(Chain Chain, Packet Packet)> BaseChains(Ruleset rules, Packet packet, IReadOnlyList<Hook> hooks)
    {
        var list = new List<(Chain, Packet)>();
        foreach (Hook hook in hooks)
        {
            Packet at = packet.At(hook);
            list.AddRange(rules.Tables
                .Where(t => !t.Dormant && !t.Unsupported && t.AppliesTo(packet.IsIPv6))
                .SelectMany(t => t.Chains.Values)
                .Where(c => c.IsBase && c.Hook == hook)
                .OrderBy(c => c.Priority)
                .ThenBy(c => c.Table.Backend)
                .ThenBy(c => c.Table.Name, StringComparer.Ordinal)
                .Select(c => (c, at)));
        }

        return list;
    }

    public static List<Walk> Run(Ruleset rules, Packet packet, IReadOnlyList<Hook> hooks)
    {
        var evaluator = new Evaluator();
        var walk = new Walk { State = new EvalState { Mark = 0, CtState = packet.CtState } };
        evaluator.RunFrom(BaseChains(rules, packet, hooks), 0, walk);
        return evaluator._results;
    }

    private void RunFrom(List<(Chain Chain, Packet Packet)> bases, int index, Walk w)
    {
        while (index < bases.Count && bases[index].Chain.Type == ChainType.Nat && w.State.CtState != CtStates.New)
        {
            // NAT chains see only the first packet of a tracked connection.
            if (w.State.CtState is null)
            {
                w.Truncated = true;
            }

            index++;
        }

        if (index >= bases.Count)
        {
            _results.Add(w);
            return;
        }

        (Chain chain, Packet packet) = bases[index];
        RunChain(chain, 0, ImmutableStack<(Chain, int)>.Empty, chain, w, packet, (done, redirected) =>
        {
            if (redirected)
            {
                _results.Add(done);
            }
            else
            {
                RunFrom(bases, index + 1, done);
            }
        });
    }

    private bool CanFork() => _walks < MaxWalks;

    private void RunChain(Chain chain, int start, ImmutableStack<(Chain Chain, int Next)> stack, Chain baseChain, Walk w, Packet p, End end)
    {
        for (int i = start; i < chain.Rules.Count; i++)
        {
            if (++_steps > MaxSteps)
            {
                w.Truncated = true;
                end(w, false);
                return;
            }

            Rule rule = chain.Rules[i];
            w.Reached.Add(rule);
            Tri m = rule.Match(p, w.State);
            if (m == Tri.False)
            {
                continue;
            }

            ActionKind kind = rule.Action.Kind;
            if (m == Tri.Unknown && kind is not (ActionKind.Continue or ActionKind.Drop or ActionKind.Reject or ActionKind.Unknown))
            {
                if (!CanFork())
                {
                    w.Truncated = true;
                    continue;
                }

                _walks++;
                Walk notMatched = w.Clone();
                notMatched.Assumptions++;
                RunChain(chain, i + 1, stack, baseChain, notMatched, p, end);
                w.Assumptions++;
            }

            bool certain = m == Tri.True && w.IsCertain;
            if (kind != ActionKind.VerdictMap)
            {
                w.Matched.Add((rule, certain));
            }

            if (ApplyAction(rule.Action, rule, m, certain, chain, i, stack, baseChain, w, p, end))
            {
                return;
            }
        }

        FellOff(stack, baseChain, w, p, end);
    }

    /// <summary>Applies a matched rule's action; returns true when the walk left this chain (the caller stops).</summary>
    private bool ApplyAction(RuleAction action, Rule rule, Tri m, bool certain, Chain chain, int i, ImmutableStack<(Chain Chain, int Next)> stack, Chain baseChain, Walk w, Packet p, End end)
    {
        switch (action.Kind)
        {
            case ActionKind.Continue:
                foreach (SideEffect e in rule.Effects)
                {
                    if (m == Tri.True)
                    {
                        e.Apply(ref w.State);
                    }
                    else if (e is MarkEffect)
                    {
                        w.State.Mark = null;
                    }
                    else
                    {
                        w.State.CtState = null;
                    }
                }

                return false;
            case ActionKind.Drop:
            case ActionKind.Reject:
                w.Blockers.Add(new Blocker(rule, certain, p.Kind));
                return false;
            case ActionKind.Unknown:
                w.Blockers.Add(new Blocker(rule, false, p.Kind));
                return false;
            case ActionKind.Accept:
            case ActionKind.NatAccept:
                end(w, false);
                return true;
            case ActionKind.Queue:
                // A user-space program decides: maybe a drop, and the rest of this base chain does not run.
                w.Blockers.Add(new Blocker(rule, false, p.Kind));
                end(w, false);
                return true;
            case ActionKind.Redirect:
                w.RedirectedBy = rule;
                end(w, true);
                return true;
            case ActionKind.Return:
                FellOff(stack, baseChain, w, p, end);
                return true;
            case ActionKind.Jump:
            case ActionKind.Goto:
                {
                    if (action.Target is null || !chain.Table.Chains.TryGetValue(action.Target, out Chain? target) || stack.Count() >= MaxDepth)
                    {
                        w.Blockers.Add(new Blocker(rule, false, p.Kind));
                        return false;
                    }

                    var next = action.Kind == ActionKind.Jump ? stack.Push((chain, i + 1)) : stack;
                    RunChain(target, 0, next, baseChain, w, p, end);
                    return true;
                }

            case ActionKind.VerdictMap:
                {
                    foreach ((Condition when, RuleAction verdict) in action.MapEntries ?? Array.Empty<(Condition, RuleAction)>())
                    {
                        Tri hit = when.Evaluate(p, w.State);
                        if (hit == Tri.False)
                        {
                            continue;
                        }

                        if (hit == Tri.Unknown)
                        {
                            if (!CanFork())
                            {
                                w.Truncated = true;
                                continue;
                            }

                            _walks++;
                            Walk taken = w.Clone();
                            taken.Assumptions++;
                            taken.Matched.Add((rule, false));
                            if (!ApplyAction(verdict, rule, Tri.Unknown, false, chain, i, stack, baseChain, taken, p, end))
                            {
                                RunChain(chain, i + 1, stack, baseChain, taken, p, end);
                            }

                            w.Assumptions++;
                            continue;
                        }

                        w.Matched.Add((rule, certain && w.IsCertain));
                        return ApplyAction(verdict, rule, m, certain && w.IsCertain, chain, i, stack, baseChain, w, p, end);
                    }

                    return false;
                }

            default:
                return false;
        }
    }

    private void FellOff(ImmutableStack<(Chain Chain, int Next)> stack, Chain baseChain, Walk w, Packet p, End end)
    {
        if (!stack.IsEmpty)
        {
            var frame = stack.Peek();
            RunChain(frame.Chain, frame.Next, stack.Pop(), baseChain, w, p, end);
            return;
        }

        // Back at the base chain's end (also after a goto'd chain ends, or RETURN from the base chain): its policy.
        Rule policy = baseChain.PolicyRule;
        w.Reached.Add(policy);
        if (baseChain.Policy == ActionKind.Drop)
        {
            w.Matched.Add((policy, w.IsCertain));
            w.Blockers.Add(new Blocker(policy, w.IsCertain, p.Kind));
        }

        end(w, false);
    }
}
