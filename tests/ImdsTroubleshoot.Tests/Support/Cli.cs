using System;
using System.Collections.Generic;
using System.IO;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>Runs the staged imds-troubleshoot CLI as a user would: a separate process, optionally in a lab namespace as another uid.</summary>
public static class Cli
{
    public static ProcessResult Run(params string[] args) => Run(args, null);

    public static ProcessResult Run(IEnumerable<string> args, IDictionary<string, string?>? env, TimeSpan? timeout = null, string? netns = null, int? uid = null)
    {
        var full = new List<string>();
        string file;
        if (!string.IsNullOrEmpty(netns))
        {
            file = "ip";
            full.AddRange(new[] { "netns", "exec", netns });
            if (uid is { } u)
            {
                full.AddRange(new[] { "setpriv", $"--reuid={u}", $"--regid={u}", "--clear-groups" });
            }

            full.Add("dotnet");
        }
        else if (uid is { } u)
        {
            file = "setpriv";
            full.AddRange(new[] { $"--reuid={u}", $"--regid={u}", "--clear-groups", "dotnet" });
        }
        else
        {
            file = "dotnet";
        }

        full.Add(Repo.CliDll);
        full.AddRange(args);
        var environment = new Dictionary<string, string?>
        {
            ["CI"] = "true",
            ["NO_COLOR"] = "1",
            ["COLUMNS"] = "200",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["POWERSHELL_TELEMETRY_OPTOUT"] = "1",
            ["POWERSHELL_UPDATECHECK"] = "Off",
            // The product must never use these for IMDS; tests that want a proxy set them explicitly.
            ["HTTP_PROXY"] = null,
            ["http_proxy"] = null,
            ["HTTPS_PROXY"] = null,
            ["https_proxy"] = null,
            ["ALL_PROXY"] = null,
            ["all_proxy"] = null,
            ["NO_PROXY"] = null,
            ["no_proxy"] = null,
            ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = null,
            ["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] = null,
            ["AWS_EC2_METADATA_DISABLED"] = null,
            ["AWS_EC2_METADATA_V1_DISABLED"] = null,
        };
        if (uid is not null)
        {
            string home = Path.Combine(Path.GetTempPath(), $"imds-home-{uid}");
            Directory.CreateDirectory(home);
            ProcessRunner.Run("chown", $"{uid}:{uid}", home);
            environment["HOME"] = home;
            environment["DOTNET_CLI_HOME"] = home;
            environment["XDG_CONFIG_HOME"] = Path.Combine(home, ".config");
            environment["XDG_DATA_HOME"] = Path.Combine(home, ".local", "share");
            environment["XDG_CACHE_HOME"] = Path.Combine(home, ".cache");
        }

        if (env is not null)
        {
            foreach (var kv in env)
            {
                environment[kv.Key] = kv.Value;
            }
        }

        return ProcessRunner.Run(file, full, timeout ?? TimeSpan.FromSeconds(90), environment);
    }
}
