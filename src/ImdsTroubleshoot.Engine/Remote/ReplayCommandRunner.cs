using System;
using System.Collections.Generic;
using System.Threading;
using ImdsTroubleshoot.Engine.Firewall;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>
/// Answers the firewall inspector with what the collector recorded on the target: the programs that exist there,
/// their outputs (iptables-save, nft -j list ruleset, ip -j ...) and a few /proc files. Nothing is ever run here;
/// a command the collector did not record "fails" with exit code 127.
/// </summary>
internal sealed class ReplayCommandRunner : ICommandRunner
{
    private readonly HashSet<string> _programs;
    private readonly Dictionary<string, CommandResult> _results = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);

    public ReplayCommandRunner(IEnumerable<string> programs)
    {
        _programs = new HashSet<string>(programs, StringComparer.Ordinal);
    }

    public void Add(string program, IReadOnlyList<string> arguments, CommandResult result) => _results[Key(program, arguments)] = result;

    public void AddFile(string path, string text) => _files[path] = text;

    public string? Resolve(string program)
    {
        string name = Name(program);
        return _programs.Contains(name) ? "/usr/sbin/" + name : null;
    }

    public string? ReadFile(string path) => _files.TryGetValue(path, out string? text) ? text : null;

    public CommandResult Run(string program, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, string? standardInput = null)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string key = Key(program, arguments);
        if (_results.TryGetValue(key, out CommandResult? result))
        {
            return result;
        }

        return new CommandResult(127, string.Empty, $"{Name(program)}: not recorded by the remote collector");
    }

    private static string Name(string program)
    {
        int slash = program.LastIndexOf('/');
        return slash < 0 ? program : program.Substring(slash + 1);
    }

    private static string Key(string program, IReadOnlyList<string> arguments) => Name(program) + " " + string.Join(' ', arguments);
}
