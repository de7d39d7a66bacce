using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace ImdsTroubleshoot.Tests.Support;

public sealed class PsResult
{
    public PsResult(Collection<PSObject> output, PSDataStreams streams, Exception? terminating)
    {
        Output = output;
        Errors = streams.Error.ToList();
        Warnings = streams.Warning.Select(w => w.Message).ToList();
        Verbose = streams.Verbose.Select(v => v.Message).ToList();
        Debug = streams.Debug.Select(d => d.Message).ToList();
        Information = streams.Information.Select(i => i.MessageData?.ToString() ?? string.Empty).ToList();
        Progress = streams.Progress.ToList();
        Terminating = terminating;
    }

    public Collection<PSObject> Output { get; }

    public List<ErrorRecord> Errors { get; }

    public List<string> Warnings { get; }

    public List<string> Verbose { get; }

    public List<string> Debug { get; }

    public List<string> Information { get; }

    public List<ProgressRecord> Progress { get; }

    public Exception? Terminating { get; }

    public ErrorRecord? TerminatingRecord => (Terminating as IContainsErrorRecord)?.ErrorRecord;

    /// <summary>Every error, terminating or not.</summary>
    public IEnumerable<ErrorRecord> AllErrors => TerminatingRecord is null ? Errors : Errors.Append(TerminatingRecord);

    public IEnumerable<T> Objects<T>() => Output.Select(o => o.BaseObject).OfType<T>();

    /// <summary>The first error (non-terminating or terminating) with this ErrorId (and target, when given): its category is right and its text holds no stack trace.</summary>
    public ErrorRecord ExpectError(string errorId, ErrorCategory category, object? target = null)
    {
        var error = AllErrors.FirstOrDefault(e => e.FullyQualifiedErrorId.StartsWith(errorId + ",", StringComparison.Ordinal) && (target is null || Equals(e.TargetObject, target)));
        Xunit.Assert.True(error is not null, $"no {errorId}{(target is null ? string.Empty : " for " + target)}: {this}");
        Xunit.Assert.Equal(category, error!.CategoryInfo.Category);
        Xunit.Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
        return error;
    }

    /// <summary>Everything a user could see: output objects' properties, every stream, error text.</summary>
    public string AllText()
    {
        var parts = new List<string>();
        foreach (var o in Output)
        {
            parts.Add(o.ToString() ?? string.Empty);
            foreach (var p in o.Properties)
            {
                try
                {
                    parts.Add(p.Name + "=" + p.Value);
                }
                catch (GetValueException)
                {
                }
            }
        }

        parts.AddRange(AllErrors.Select(e => e.ToString() + " " + e.ErrorDetails?.Message + " " + e.Exception));
        parts.AddRange(Warnings);
        parts.AddRange(Verbose);
        parts.AddRange(Debug);
        parts.AddRange(Information);
        return string.Join("\n", parts);
    }

    public override string ToString() =>
        $"output: {Output.Count}, errors: [{string.Join("; ", AllErrors.Select(e => e.FullyQualifiedErrorId + ": " + e))}]";
}

/// <summary>A real PowerShell runspace with the STAGED module imported, as a user's session would have it.</summary>
public sealed class PsSession : IDisposable
{
    private readonly Runspace _runspace;

    public PsSession(bool importModule = true)
    {
        var iss = InitialSessionState.CreateDefault2();
        if (importModule)
        {
            iss.ImportPSModule(new[] { Repo.StagedManifest });
        }

        _runspace = RunspaceFactory.CreateRunspace(iss);
        _runspace.Open();
        var failures = _runspace.InitialSessionState.Modules;
        if (importModule)
        {
            using var ps = PowerShell.Create(_runspace);
            ps.AddCommand("Get-Module").AddParameter("Name", "ImdsTroubleshoot");
            if (ps.Invoke().Count != 1)
            {
                throw new InvalidOperationException("The staged module did not import from " + Repo.StagedManifest);
            }
        }
    }

    public Runspace Runspace => _runspace;

    public PsResult Invoke(string script, IDictionary? parameters = null, IEnumerable<object>? input = null)
    {
        using var ps = PowerShell.Create(_runspace);
        ps.AddScript(script);
        if (parameters is not null)
        {
            ps.AddParameters(parameters);
        }

        Collection<PSObject> output = new();
        Exception? terminating = null;
        try
        {
            output = input is null ? ps.Invoke() : ps.Invoke(input);
        }
        catch (RuntimeException ex)
        {
            terminating = ex;
        }

        return new PsResult(output, ps.Streams, terminating);
    }

    /// <summary>Runs <paramref name="command"/> in try/catch: only a terminating error is caught (non-terminating ones are not).</summary>
    public ErrorRecord ExpectTerminating(string command, string errorId, ErrorCategory category)
    {
        var r = Invoke("try { " + command + " } catch { $_ }");
        var caught = r.Objects<ErrorRecord>().SingleOrDefault();
        Xunit.Assert.True(caught is not null, $"{command}: no terminating error; {r}");
        Xunit.Assert.StartsWith(errorId + ",", caught!.FullyQualifiedErrorId, StringComparison.Ordinal);
        Xunit.Assert.Equal(category, caught.CategoryInfo.Category);
        Xunit.Assert.DoesNotContain("   at ", caught.ToString(), StringComparison.Ordinal);
        return caught;
    }

    /// <summary>Invokes and fails the test with the error text when anything went wrong.</summary>
    public PsResult Ok(string script, IDictionary? parameters = null)
    {
        var r = Invoke(script, parameters);
        if (r.AllErrors.Any())
        {
            throw new Xunit.Sdk.XunitException("PowerShell reported errors: " + r);
        }

        return r;
    }

    public void Dispose()
    {
        try
        {
            using var ps = PowerShell.Create(_runspace);
            ps.AddScript("Get-ImdsEmulator -ErrorAction SilentlyContinue | Where-Object { $_.Name -like 'test-*' } | Stop-ImdsEmulator -Confirm:$false");
            ps.Invoke();
        }
        catch (RuntimeException)
        {
        }

        _runspace.Dispose();
    }
}
