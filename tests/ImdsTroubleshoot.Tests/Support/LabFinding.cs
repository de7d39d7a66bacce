using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using ImdsTroubleshoot.Engine.Diagnosis;
using Xunit;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// One finding as the remote-equals-local lab tests (collector, SSH, SSM) compare them: read from the CLI's --json
/// output or taken from an ImdsFinding, with the remote fix's "On HOST ..." prefix stripped (<see cref="RemoteFix"/>).
/// </summary>
public sealed record LabFinding(string Target, string Check, string Status, string Outcome, string Detail, string? Cause, string? Fix, string? ShellFix, string? InstanceId, string[] Evidence)
{
    /// <summary>
    /// Each probe step's bound (-TimeoutSec) in every run an equality test compares. With 1 s, a loaded machine (CI) put
    /// answers on different sides of the bound locally and remotely: IPv6 neighbour discovery in a fresh lab, a token
    /// PUT that took over a second under load. Steps that should time out take longer with 3 s; steps that should answer
    /// never miss it.
    /// </summary>
    public const int StepSeconds = 3;

    public static LabFinding From(ImdsFinding f) =>
        new(f.Target, f.Check.ToString(), f.Status.ToString(), f.Outcome, f.Detail, f.Cause, RemoteFix.Strip(f.Target, f.Fix), f.ShellFix, f.InstanceId, f.Evidence.ToArray());

    /// <summary>The findings of an `imds-troubleshoot --json` run, which must have exited 0 (all pass) or 3 (a check failed).</summary>
    public static List<LabFinding> FromCli(ProcessResult r)
    {
        Assert.True(r.ExitCode is 0 or 3, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.EnumerateArray().Select(e => new LabFinding(
            e.GetProperty("Target").GetString()!, e.GetProperty("Check").GetString()!, e.GetProperty("Status").GetString()!, e.GetProperty("Outcome").GetString()!,
            e.GetProperty("Detail").GetString()!, e.GetProperty("Cause").GetString(), RemoteFix.Strip(e.GetProperty("Target").GetString(), e.GetProperty("Fix").GetString()),
            e.GetProperty("ShellFix").GetString(), e.GetProperty("InstanceId").GetString(),
            e.GetProperty("Evidence").EnumerateArray().Select(x => x.GetString()!).ToArray())).ToList();
    }

    /// <summary>Invoke-ImdsDiagnosis through the CLI inside the namespace (what users run), as that uid, with that environment, with <see cref="StepSeconds"/> steps.</summary>
    public static List<LabFinding> Local(string ns, int? uid, IReadOnlyDictionary<string, string>? env, string parameters = "-Ec2Api Never") =>
        FromCli(Cli.Run(new[] { "--json", $"Invoke-ImdsDiagnosis {parameters} -TimeoutSec {StepSeconds}" }, env?.ToDictionary(kv => kv.Key, kv => (string?)kv.Value), TimeSpan.FromSeconds(120), ns, uid));

    /// <summary>Timings and ports differ between two runs; nothing else may.</summary>
    public static string Normalize(string? text) => text is null ? "<null>" : Regex.Replace(
        Regex.Replace(Regex.Replace(text, @"\d+ ms", "N ms"), @":\d{4,5}\b", ":PORT"), @"in \d+(\.\d+)? s\b", "in N s");

    /// <summary>Evidence read from /proc/PID/environ: other processes on this machine, which come and go between runs.</summary>
    public static bool IsProcessEvidence(string evidence) => evidence.StartsWith("/proc/", StringComparison.Ordinal);

    public override string ToString() =>
        $"{Target} {Check}: {Status} {Outcome}; Detail = {Detail}; Cause = {Cause}; Fix = {Fix}; ShellFix = {ShellFix}; InstanceId = {InstanceId}; Evidence = {string.Join(" | ", Evidence)}";
}
