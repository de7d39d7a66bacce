using System;
using System.IO;
using Xunit;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// A test that builds a real network lab (root, ip netns, iptables). It does NOT quietly skip: without root it
/// fails, unless IMDS_TESTS_SKIP_LAB=1 says the skip is intended (then the gap shows as skipped).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LabFactAttribute : FactAttribute
{
    public LabFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("IMDS_TESTS_SKIP_LAB") == "1" && !LabPrerequisites.Met)
        {
            Skip = "lab tests need root and iproute2; IMDS_TESTS_SKIP_LAB=1 is set";
        }
    }
}

public static class LabPrerequisites
{
    public static bool IsRoot => Environment.UserName == "root" || GetEuid() == 0;

    public static bool Met => IsRoot && (File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip"));

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();
}
