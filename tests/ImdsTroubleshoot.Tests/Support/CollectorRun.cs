using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// Runs a collector script inside a lab namespace the way a remote target would: `sh -s` with the script on
/// stdin, a clean environment (only what is given, plus PATH), as root or as another uid. Used by the collector's
/// lab tests, the local SSM endpoint and the SSH lab.
/// </summary>
public static class CollectorRun
{
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static ProcessResult Run(string ns, string script, uint uid = 0, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var args = new List<string> { "netns", "exec", ns };
        if (uid != 0)
        {
            string id = uid.ToString(CultureInfo.InvariantCulture);
            args.AddRange(new[] { "setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups" });
        }

        args.AddRange(new[] { "env", "-i", "PATH=" + DefaultPath, "HOME=/root", "LANG=C" });
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal))
            {
                throw new ArgumentException("bad environment variable name: " + key);
            }

            args.Add(key + "=" + value);
        }

        args.AddRange(new[] { "sh", "-s" });
        return ProcessRunner.Run("ip", args, timeout ?? TimeSpan.FromSeconds(120), stdin: script);
    }
}
