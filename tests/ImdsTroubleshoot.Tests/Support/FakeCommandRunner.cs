using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using ImdsTroubleshoot.Engine.Firewall;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>Plays back captured tool output (real dumps from Fixtures/Firewall) in place of the real programs.</summary>
public sealed class FakeCommandRunner : ICommandRunner
{
    private readonly Dictionary<string, CommandResult> _results = new(StringComparer.Ordinal);
    private readonly HashSet<string> _installed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
    private readonly HashSet<string> _denied = new(StringComparer.Ordinal);

    public List<string> Calls { get; } = new();

    public List<string?> Inputs { get; } = new();

    public FakeCommandRunner Install(params string[] programs)
    {
        foreach (string p in programs)
        {
            _installed.Add(p);
        }

        return this;
    }

    public FakeCommandRunner On(string commandLine, string stdout, int exit = 0, string stderr = "")
    {
        _installed.Add(commandLine.Split(' ')[0]);
        _results[commandLine] = new CommandResult(exit, stdout, stderr);
        return this;
    }

    public FakeCommandRunner File(string path, string content)
    {
        _files[path] = content;
        return this;
    }

    /// <summary>Reading this file fails as it does for a non-root user (mode 0440 root).</summary>
    public FakeCommandRunner Deny(string path)
    {
        _denied.Add(path);
        return this;
    }

    public FakeCommandRunner TimeOut(string commandLine)
    {
        _installed.Add(commandLine.Split(' ')[0]);
        _results[commandLine] = new CommandResult(-1, string.Empty, string.Empty, timedOut: true);
        return this;
    }

    /// <summary>The network of a lab instance: eth0 towards IMDS, and a container veth.</summary>
    public FakeCommandRunner WithLabNetwork(string containerInterface = "veth-ctr")
    {
        On("ip -j route get 169.254.169.254", """[{"dst":"169.254.169.254","dev":"eth0","prefsrc":"169.254.0.2","flags":[],"uid":0,"cache":[]}]""");
        On("ip -j -6 route get fd00:ec2::254", """[{"dst":"fd00:ec2::254","dev":"eth0","prefsrc":"fd00:ec2::2","flags":[],"pref":"medium"}]""");
        On("ip -j -d addr show", $$"""
            [{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},{"family":"inet6","local":"::1","prefixlen":128}]},
             {"ifindex":2,"ifname":"eth0","linkinfo":{"info_kind":"veth"},"addr_info":[{"family":"inet","local":"169.254.0.2","prefixlen":16},{"family":"inet6","local":"fd00:ec2::2","prefixlen":64}]},
             {"ifindex":3,"ifname":"{{containerInterface}}","linkinfo":{"info_kind":"{{(containerInterface.StartsWith("docker", StringComparison.Ordinal) ? "bridge" : "veth")}}"},"addr_info":[{"family":"inet","local":"10.200.0.1","prefixlen":24},{"family":"inet6","local":"fd00:c0::1","prefixlen":64}]},
             {"ifindex":4,"ifname":"eth1","addr_info":[{"family":"inet","local":"172.31.5.6","prefixlen":20}]}]
            """);
        return this;
    }

    public string? Resolve(string program) => _installed.Contains(program) ? "/usr/sbin/" + program : null;

    public string? ReadFile(string path)
    {
        if (_denied.Contains(path))
        {
            throw new UnauthorizedAccessException($"Access to the path '{path}' is denied.");
        }

        return _files.TryGetValue(path, out string? c) ? c : null;
    }

    public CommandResult Run(string program, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, string? standardInput = null)
    {
        string line = program + (arguments.Count > 0 ? " " + string.Join(' ', arguments) : string.Empty);
        Calls.Add(line);
        Inputs.Add(standardInput);
        if (_results.TryGetValue(line, out CommandResult? r))
        {
            return r;
        }

        if (!_installed.Contains(program))
        {
            throw new System.IO.FileNotFoundException(program + " is not installed", program);
        }

        return new CommandResult(0, string.Empty, string.Empty);
    }
}

/// <summary>An /etc/passwd and /etc/group for tests: root, cloudsdk (1000), alice (1001, group imds 1001), nobody.</summary>
public static class TestUsers
{
    public static PasswdUserDatabase Create() => new(
        "root:x:0:0:root:/root:/bin/bash\ncloudsdk:x:1000:1000::/home/cloudsdk:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/bash\nbob:x:1002:1002::/home/bob:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "root:x:0:\ncloudsdk:x:1000:\nimds:x:1001:\nbob:x:1002:\nops:x:2000:bob\nnogroup:x:65534:\n");
}
