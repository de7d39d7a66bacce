using System;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>The firewall could not be read or changed for lack of privilege (not root, no CAP_NET_ADMIN).</summary>
public sealed class FirewallAccessDeniedException : UnauthorizedAccessException
{
    public FirewallAccessDeniedException()
    {
    }

    public FirewallAccessDeniedException(string message)
        : base(message)
    {
    }

    public FirewallAccessDeniedException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The tool that refused (iptables-nft-save, nft, ...).</summary>
    public string? Tool { get; init; }
}

/// <summary>No tool to read the firewall with is installed (neither iptables nor nft).</summary>
public sealed class FirewallToolNotFoundException : InvalidOperationException
{
    public FirewallToolNotFoundException()
    {
    }

    public FirewallToolNotFoundException(string message)
        : base(message)
    {
    }

    public FirewallToolNotFoundException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>A firewall tool failed (exit code and its message), or its output could not be read.</summary>
public sealed class FirewallCommandException : InvalidOperationException
{
    public FirewallCommandException()
    {
    }

    public FirewallCommandException(string message)
        : base(message)
    {
    }

    public FirewallCommandException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public string? Tool { get; init; }

    public int ExitCode { get; init; }

    public bool TimedOut { get; init; }
}

/// <summary>The rule to remove is no longer the rule that was read (an nft handle now holds another rule).</summary>
public sealed class FirewallRuleChangedException : InvalidOperationException
{
    public FirewallRuleChangedException()
    {
    }

    public FirewallRuleChangedException(string message)
        : base(message)
    {
    }

    public FirewallRuleChangedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
