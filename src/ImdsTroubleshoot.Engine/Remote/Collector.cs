using System;
using ImdsTroubleshoot.Engine.Diagnosis;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>What the remote collector is asked to do on the target.</summary>
public sealed class CollectorParameters
{
    /// <summary>Each probe step's bound on the target, in seconds (0.05..120, like -TimeoutSec).</summary>
    public double TimeoutSec { get; init; } = 1.0;

    /// <summary>Also probe [fd00:ec2::254].</summary>
    public bool IPv6 { get; init; }

    /// <summary>The endpoint to probe on the target; null: what the target's environment says, else the default.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The most characters the collector may print (1,000..23,500; SSM's GetCommandInvocation keeps 24,000).</summary>
    public int OutputBudget { get; init; } = Collector.DefaultOutputBudget;
}

/// <summary>
/// The POSIX sh collector that gathers a diagnosis's evidence on another machine (needs only sh and curl or wget),
/// sent through SSM Run Command or SSH. Its output is data: <see cref="CollectorOutputParser"/> turns it into the
/// same <see cref="DiagnosisInput"/> a local run gathers, and nothing in it is ever executed here.
/// </summary>
public static partial class Collector
{
    /// <summary>The default budget is the largest: everything SSM's GetCommandInvocation can return is used.</summary>
    public const int DefaultOutputBudget = MaxOutputBudget;
}
