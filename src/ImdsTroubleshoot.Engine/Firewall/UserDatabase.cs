using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>A user of this host, as /etc/passwd and /etc/group describe it.</summary>
public sealed class LocalUser
{
    public LocalUser(uint uid, string? name, uint? gid, IReadOnlyList<uint> groups)
    {
        Uid = uid;
        Name = name;
        Gid = gid;
        Groups = groups;
    }

    public uint Uid { get; }

    public string? Name { get; }

    /// <summary>Primary group; null when the uid has no passwd entry.</summary>
    public uint? Gid { get; }

    /// <summary>Supplementary groups from /etc/group (what a login session gets).</summary>
    public IReadOnlyList<uint> Groups { get; }
}

/// <summary>User and group names (owner matches name users; persisted files may use names instead of numbers).</summary>
public interface IUserDatabase
{
    LocalUser GetUser(uint uid);

    bool TryGetUid(string name, out uint uid);

    bool TryGetGid(string name, out uint gid);

    /// <summary>Every user, in file order (to find a user whose primary group a rule names).</summary>
    IReadOnlyList<LocalUser> Users { get; }
}

/// <summary>Reads /etc/passwd and /etc/group (files only; NSS sources such as LDAP are not consulted).</summary>
public sealed class PasswdUserDatabase : IUserDatabase
{
    private readonly Dictionary<uint, (string Name, uint Gid)> _users = new();
    private readonly Dictionary<string, uint> _uidByName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, uint> _gidByName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<uint>> _groupsByMember = new(StringComparer.Ordinal);
    private readonly List<LocalUser> _ordered = new();

    public PasswdUserDatabase(string? passwd, string? group)
    {
        foreach (string line in Lines(group))
        {
            string[] f = line.Split(':');
            if (f.Length >= 3 && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint gid))
            {
                _gidByName.TryAdd(f[0], gid);
                if (f.Length >= 4)
                {
                    foreach (string member in f[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (!_groupsByMember.TryGetValue(member, out List<uint>? list))
                        {
                            list = new List<uint>();
                            _groupsByMember.Add(member, list);
                        }

                        list.Add(gid);
                    }
                }
            }
        }

        foreach (string line in Lines(passwd))
        {
            string[] f = line.Split(':');
            if (f.Length >= 4 && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint uid) && uint.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out uint gid))
            {
                if (_users.TryAdd(uid, (f[0], gid)))
                {
                    _ordered.Add(GetUser(uid));
                }

                _uidByName.TryAdd(f[0], uid);
            }
        }
    }

    public static PasswdUserDatabase FromSystem() => new(TryRead("/etc/passwd"), TryRead("/etc/group"));

    public IReadOnlyList<LocalUser> Users => _ordered;

    public LocalUser GetUser(uint uid)
    {
        if (_users.TryGetValue(uid, out var u))
        {
            var groups = _groupsByMember.TryGetValue(u.Name, out List<uint>? g) ? g.Where(x => x != u.Gid).Distinct().ToList() : new List<uint>();
            return new LocalUser(uid, u.Name, u.Gid, groups);
        }

        return new LocalUser(uid, null, null, Array.Empty<uint>());
    }

    public bool TryGetUid(string name, out uint uid) => _uidByName.TryGetValue(name, out uid);

    public bool TryGetGid(string name, out uint gid) => _gidByName.TryGetValue(name, out gid);

    private static IEnumerable<string> Lines(string? text) =>
        (text ?? string.Empty).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0 && !l.StartsWith('#'));

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
