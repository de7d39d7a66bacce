using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;

namespace ImdsTroubleshoot.Engine.Platform;

public enum PlatformVerdict
{
    /// <summary>DMI or the hypervisor says this is an EC2 instance.</summary>
    Ec2,

    /// <summary>DMI is readable and says another vendor.</summary>
    NotEc2,

    /// <summary>No DMI or hypervisor information could be read.</summary>
    Unknown,
}

/// <summary>What the machine says about itself: EC2 or not, container or not. Evidence is kept for findings.</summary>
public sealed class PlatformInfo
{
    /// <summary>Environment variable pointing the checks at another root (a lab's copy of /sys and /proc).</summary>
    public const string RootOverrideVariable = "IMDS_TROUBLESHOOT_SYSFS_ROOT";

    private PlatformInfo(PlatformVerdict verdict, bool container, IReadOnlyList<string> evidence, IReadOnlyList<string> containerEvidence)
    {
        Verdict = verdict;
        InContainer = container;
        Evidence = evidence;
        ContainerEvidence = containerEvidence;
    }

    public PlatformVerdict Verdict { get; }

    public bool InContainer { get; }

    public IReadOnlyList<string> Evidence { get; }

    public IReadOnlyList<string> ContainerEvidence { get; }

    /// <summary>Nothing known (no evidence gathered).</summary>
    public static PlatformInfo Unknown { get; } = new(PlatformVerdict.Unknown, false, new[] { "the platform was not checked" }, Array.Empty<string>());

    /// <summary>DMI and hypervisor files this check reads, relative to the root.</summary>
    public static IReadOnlyList<string> IdentityFiles { get; } = new[]
    {
        "sys/class/dmi/id/sys_vendor", "sys/class/dmi/id/bios_vendor", "sys/class/dmi/id/board_vendor", "sys/class/dmi/id/product_name",
        "sys/class/dmi/id/chassis_asset_tag", "sys/hypervisor/uuid", "sys/class/dmi/id/product_uuid", "sys/devices/virtual/dmi/id/board_asset_tag",
    };

    public static PlatformInfo Detect(string? root = null, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        root ??= environment[RootOverrideVariable] as string ?? "/";
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in IdentityFiles)
        {
            if (Read(Path.Combine(root, file)) is { } value)
            {
                files[file] = value;
            }
        }

        var containerEvidence = ContainerFacts(
            marker => File.Exists(Path.Combine(root, marker)), Read(Path.Combine(root, "proc/1/cgroup")), variable => environment[variable] as string);
        return FromFacts(files, containerEvidence);
    }

    /// <summary>
    /// The container evidence <see cref="FromFacts"/> weighs: marker files (relative to the root), a container runtime
    /// in PID 1's cgroup, variables container platforms set. Here or on a remote collector's target.
    /// </summary>
    public static IReadOnlyList<string> ContainerFacts(Func<string, bool> markerExists, string? pid1Cgroup, Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(markerExists);
        ArgumentNullException.ThrowIfNull(variable);
        var evidence = new List<string>();
        foreach (string marker in new[] { ".dockerenv", "run/.containerenv" })
        {
            if (markerExists(marker))
            {
                evidence.Add("/" + marker + " exists");
            }
        }

        if (pid1Cgroup is not null && (pid1Cgroup.Contains("docker", StringComparison.Ordinal) || pid1Cgroup.Contains("kubepods", StringComparison.Ordinal) || pid1Cgroup.Contains("containerd", StringComparison.Ordinal) || pid1Cgroup.Contains("ecs", StringComparison.Ordinal)))
        {
            evidence.Add("/proc/1/cgroup names a container runtime");
        }

        foreach (string name in new[] { "KUBERNETES_SERVICE_HOST", "ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI" })
        {
            if (variable(name) is { Length: > 0 })
            {
                evidence.Add(name + " is set");
            }
        }

        return evidence;
    }

    /// <summary>
    /// The verdict from identity file contents (keys as in <see cref="IdentityFiles"/>) and container evidence,
    /// gathered here or by a remote collector.
    /// </summary>
    public static PlatformInfo FromFacts(IReadOnlyDictionary<string, string> identityFiles, IReadOnlyList<string> containerEvidence)
    {
        ArgumentNullException.ThrowIfNull(identityFiles);
        ArgumentNullException.ThrowIfNull(containerEvidence);
        var evidence = new List<string>();
        bool ec2 = false;
        foreach (string file in IdentityFiles)
        {
            if (!identityFiles.TryGetValue(file, out string? raw))
            {
                continue;
            }

            string value = raw.Trim();
            evidence.Add($"/{file}: {value}");
            string name = Path.GetFileName(file);
            if ((name is "sys_vendor" or "bios_vendor" or "board_vendor" && value.Contains("Amazon EC2", StringComparison.OrdinalIgnoreCase))
                || (name.EndsWith("uuid", StringComparison.Ordinal) && value.StartsWith("ec2", StringComparison.OrdinalIgnoreCase))
                || (name == "board_asset_tag" && value.StartsWith("i-", StringComparison.Ordinal)))
            {
                ec2 = true;
            }
        }

        bool readable = evidence.Count > 0;
        if (!readable)
        {
            evidence.Add("no DMI or hypervisor information (/sys/class/dmi/id, /sys/hypervisor) could be read");
        }

        var verdict = ec2 ? PlatformVerdict.Ec2 : readable ? PlatformVerdict.NotEc2 : PlatformVerdict.Unknown;
        return new PlatformInfo(verdict, containerEvidence.Count > 0, evidence, containerEvidence);
    }

    private static string? Read(string path)
    {
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            string text = File.ReadAllText(path).Trim();
            return text.Length > 512 ? text.Substring(0, 512) : text;
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
