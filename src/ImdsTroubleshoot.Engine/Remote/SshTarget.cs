using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>Which value of an SSH target was refused (so the cmdlet can give each its own ErrorId).</summary>
public enum SshArgumentKind
{
    HostName,
    UserName,
    Port,
    KeyFileNotFound,
    KeyFileUnreadable,
    KnownHostsFileNotFound,
    KnownHostsFileUnreadable,
}

/// <summary>A host name, user name, port or file that must not reach ssh's command line, with what is wrong with it.</summary>
public sealed class SshArgumentException : ArgumentException
{
    public SshArgumentException(SshArgumentKind kind, string value, string message)
        : base(message)
    {
        Kind = kind;
        Value = value;
    }

    public SshArgumentKind Kind { get; }

    /// <summary>The refused value (host names, user names, ports and paths are not secrets).</summary>
    public string Value { get; }
}

/// <summary>
/// One SSH target, validated before anything reaches a command line: a DNS name (or an ssh_config alias of the same
/// characters), an IPv4 or IPv6 literal; a POSIX user name; a port; an existing, readable key file. Instances are
/// only made by <see cref="Create"/>, so every one that exists is safe to pass to ssh.
/// </summary>
public sealed class SshTarget
{
    private static readonly Regex s_label = new("^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$", RegexOptions.CultureInvariant);

    // POSIX portable user names (letters, digits, '.', '_', '-', not starting with '-'), as useradd accepts them, up to 32.
    private static readonly Regex s_user = new("^[A-Za-z_][A-Za-z0-9._-]{0,30}[$]?$", RegexOptions.CultureInvariant);

    private static readonly Regex s_zone = new("^[A-Za-z0-9_.-]{1,15}$", RegexOptions.CultureInvariant);

    private SshTarget(string hostName, string? userName, int? port, string? keyFilePath)
    {
        HostName = hostName;
        UserName = userName;
        Port = port;
        KeyFilePath = keyFilePath;
    }

    /// <summary>What ssh connects to: a DNS name, an IPv4 literal or an IPv6 literal (without brackets).</summary>
    public string HostName { get; }

    /// <summary>The remote user (-l); null: what ssh_config says, else the local user name.</summary>
    public string? UserName { get; }

    /// <summary>The port (-p); null: what ssh_config says, else 22.</summary>
    public int? Port { get; }

    /// <summary>The private key (-i, with IdentitiesOnly=yes), an absolute path; null: ssh_config, the agent and the default keys.</summary>
    public string? KeyFilePath { get; }

    /// <summary>user@host:port as far as given, for messages.</summary>
    public string Display => (UserName is null ? string.Empty : UserName + "@")
        + (HostName.Contains(':', StringComparison.Ordinal) && Port is not null ? "[" + HostName + "]" : HostName)
        + (Port is null ? string.Empty : ":" + Port.Value.ToString(CultureInfo.InvariantCulture));

    public override string ToString() => Display;

    /// <summary>Validates every value; throws <see cref="SshArgumentException"/> naming the first bad one.</summary>
    public static SshTarget Create(string hostName, string? userName = null, int? port = null, string? keyFilePath = null)
    {
        string host = ValidateHostName(hostName);
        string? user = userName is null ? null : ValidateUserName(userName);
        if (port is { } p && (p < 1 || p > 65535))
        {
            throw new SshArgumentException(SshArgumentKind.Port, p.ToString(CultureInfo.InvariantCulture), $"The port {p} is not between 1 and 65535.");
        }

        string? key = keyFilePath is null ? null : ValidateReadableFile(keyFilePath, SshArgumentKind.KeyFileNotFound, SshArgumentKind.KeyFileUnreadable, "key file");
        return new SshTarget(host, user, port, key);
    }

    /// <summary>The host name as ssh should get it (brackets of an IPv6 literal removed), or an exception saying what is wrong.</summary>
    public static string ValidateHostName(string? hostName)
    {
        string value = hostName ?? string.Empty;
        SshArgumentException Bad(string why) => new(SshArgumentKind.HostName, value, $"The host name '{Printable(value)}' is not valid: {why}. Give a DNS name (such as ip-10-0-0-5.ec2.internal), an IPv4 address or an IPv6 address.");

        if (value.Length == 0 || value.Trim().Length == 0)
        {
            throw Bad("it is empty");
        }

        if (value[0] == '-')
        {
            throw Bad("it starts with '-', which ssh would read as an option");
        }

        if (value.Contains('@', StringComparison.Ordinal))
        {
            throw Bad("it contains '@'; give the user name with -UserName");
        }

        foreach (char c in value)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                throw Bad("it contains spaces or control characters");
            }
        }

        string unbracketed = value.Length > 2 && value[0] == '[' && value[^1] == ']' ? value[1..^1] : value;
        if (unbracketed.Contains(':', StringComparison.Ordinal))
        {
            int zoneAt = unbracketed.IndexOf('%', StringComparison.Ordinal);
            if (zoneAt >= 0 && !s_zone.IsMatch(unbracketed[(zoneAt + 1)..]))
            {
                throw Bad("the IPv6 zone after '%' is not an interface name");
            }

            string address = zoneAt >= 0 ? unbracketed[..zoneAt] : unbracketed;
            if (!IPAddress.TryParse(address, out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
            {
                throw Bad("it contains ':' but is not an IPv6 address (give the port with -Port)");
            }

            return unbracketed;
        }

        if (IsAllDigitsAndDots(unbracketed))
        {
            string[] parts = unbracketed.Split('.');
            if (parts.Length != 4 || Array.Exists(parts, x => x.Length == 0 || x.Length > 3 || int.Parse(x, CultureInfo.InvariantCulture) > 255))
            {
                throw Bad("it is not a dotted IPv4 address");
            }

            return unbracketed;
        }

        string name = unbracketed.EndsWith('.') ? unbracketed[..^1] : unbracketed;
        if (name.Length == 0 || name.Length > 253)
        {
            throw Bad("a DNS name has 1 to 253 characters");
        }

        foreach (string label in name.Split('.'))
        {
            if (!s_label.IsMatch(label))
            {
                throw Bad($"'{Printable(label)}' is not a DNS label (letters, digits, '-' inside, '_', 1 to 63 characters)");
            }
        }

        return unbracketed;
    }

    public static string ValidateUserName(string? userName)
    {
        string value = userName ?? string.Empty;
        if (!s_user.IsMatch(value))
        {
            throw new SshArgumentException(SshArgumentKind.UserName, value,
                $"The user name '{Printable(value)}' is not a valid POSIX user name: 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or '_' (such as ec2-user or ubuntu).");
        }

        return value;
    }

    /// <summary>An absolute path to an existing file this process can read, safe to give ssh (no '"', no "${", no control characters).</summary>
    public static string ValidateReadableFile(string path, SshArgumentKind notFound, SshArgumentKind unreadable, string what)
    {
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new SshArgumentException(notFound, path, $"The {what} path '{Printable(path)}' is not a valid path: {ex.Message}");
        }

        if (full.Contains('"', StringComparison.Ordinal) || full.Contains("${", StringComparison.Ordinal) || full.Any(char.IsControl))
        {
            throw new SshArgumentException(notFound, path, $"The {what} path '{Printable(path)}' contains '\"', '${{' or control characters, which ssh would interpret; move the file to a plain path.");
        }

        if (Directory.Exists(full))
        {
            throw new SshArgumentException(notFound, path, $"The {what} '{full}' is a directory, not a file.");
        }

        if (!File.Exists(full))
        {
            throw new SshArgumentException(notFound, path, $"The {what} '{full}' does not exist.");
        }

        try
        {
            using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            throw new SshArgumentException(unreadable, path, $"The {what} '{full}' cannot be read: {ex.Message}");
        }

        return full;
    }

    private static bool IsAllDigitsAndDots(string value)
    {
        foreach (char c in value)
        {
            if (c is not ((>= '0' and <= '9') or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The value with control characters shown as '?', so an error message cannot be used to forge terminal output.</summary>
    private static string Printable(string value)
    {
        var chars = value.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i]))
            {
                chars[i] = '?';
            }
        }

        return chars.Length > 300 ? new string(chars, 0, 300) + "…" : new string(chars);
    }
}
