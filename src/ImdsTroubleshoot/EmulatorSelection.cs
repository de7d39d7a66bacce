using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot;

/// <summary>Finds running emulators by name (wildcards) or ID, the way Get-Job does.</summary>
internal static class EmulatorSelection
{
    public const string ByName = "ByName";
    public const string ById = "ById";
    public const string ByInputObject = "ByInputObject";

    /// <summary>Matches; <paramref name="missing"/> gets each name or ID that matched nothing (wildcards never miss).</summary>
    public static IReadOnlyList<ImdsEmulator> Select(string[]? names, int[]? ids, out List<object> missing)
    {
        missing = new List<object>();
        var all = EmulatorRegistry.All;
        if (ids is not null)
        {
            var byId = new List<ImdsEmulator>();
            foreach (int id in ids)
            {
                var match = all.FirstOrDefault(e => e.Id == id);
                if (match is null)
                {
                    missing.Add(id);
                }
                else
                {
                    byId.Add(match);
                }
            }

            return byId;
        }

        if (names is null || names.Length == 0)
        {
            return all;
        }

        var result = new List<ImdsEmulator>();
        foreach (string name in names)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
            var matches = all.Where(e => pattern.IsMatch(e.Name)).ToList();
            if (matches.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
            {
                missing.Add(name);
            }

            result.AddRange(matches.Where(m => !result.Contains(m)));
        }

        return result;
    }

    /// <summary>The emulators a Set/Stop/Log command acts on: piped objects, or the ones named; writes a not-found error per miss.</summary>
    public static IEnumerable<ImdsEmulator> Targets(string parameterSet, ImdsEmulator[]? input, string[]? names, int[]? ids, System.Action<ErrorRecord> writeError)
    {
        if (parameterSet == ByInputObject)
        {
            return input ?? System.Array.Empty<ImdsEmulator>();
        }

        var selected = Select(names, ids, out var missing);
        foreach (var key in missing)
        {
            writeError(NotFound(key));
        }

        return selected;
    }

    public static ErrorRecord NotFound(object key) => new(
        new ItemNotFoundException($"No running IMDS emulator has the {(key is int ? "ID" : "name")} '{key}'. Get-ImdsEmulator lists the running ones."),
        ErrorIds.EmulatorNotFound, ErrorCategory.ObjectNotFound, key);
}
