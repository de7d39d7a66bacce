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

    public static PlatformInfo Detect(string? root = null, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        root ??= environment[RootOverrideVariable] as string ?? "/";
        var evidence = new List<string>();
        bool readable = false;
        bool ec2 = false;
        foreach (string name in new[] { "sys_vendor", "bios_vendor", "board_vendor", "product_name", "chassis_asset_tag" })
        {
            string? value = Read(Path.Combine(root, "sys/class/dmi/id", name));
            if (value is null)
            {
                continue;
            }

            readable = true;
            evidence.Add($"/sys/class/dmi/id/{name}: {value}");
            if (name is "sys_vendor" or "bios_vendor" or "board_vendor" && value.Contains("Amazon EC2", StringComparison.OrdinalIgnoreCase))
            {
                ec2 = true;
            }
        }

        foreach (string file in new[] { "sys/hypervisor/uuid", "sys/class/dmi/id/product_uuid", "sys/devices/virtual/dmi/id/board_asset_tag" })
        {
            string? value = Read(Path.Combine(root, file));
            if (value is null)
            {
                continue;
            }

            readable = true;
            evidence.Add($"/{file}: {value}");
            if ((file.EndsWith("uuid", StringComparison.Ordinal) && value.StartsWith("ec2", StringComparison.OrdinalIgnoreCase))
                || (file.EndsWith("board_asset_tag", StringComparison.Ordinal) && value.StartsWith("i-", StringComparison.Ordinal)))
            {
                ec2 = true;
            }
        }

        if (!readable)
        {
            evidence.Add("no DMI or hypervisor information (/sys/class/dmi/id, /sys/hypervisor) could be read");
        }

        var containerEvidence = new List<string>();
        foreach (string marker in new[] { ".dockerenv", "run/.containerenv" })
        {
            if (File.Exists(Path.Combine(root, marker)))
            {
                containerEvidence.Add("/" + marker + " exists");
            }
        }

        string? cgroup = Read(Path.Combine(root, "proc/1/cgroup"));
        if (cgroup is not null && (cgroup.Contains("docker", StringComparison.Ordinal) || cgroup.Contains("kubepods", StringComparison.Ordinal) || cgroup.Contains("containerd", StringComparison.Ordinal) || cgroup.Contains("ecs", StringComparison.Ordinal)))
        {
            containerEvidence.Add("/proc/1/cgroup names a container runtime");
        }

        foreach (string variable in new[] { "KUBERNETES_SERVICE_HOST", "ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI" })
        {
            if (environment[variable] is string s && s.Length > 0)
            {
                containerEvidence.Add(variable + " is set");
            }
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
