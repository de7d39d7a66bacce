using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Engine.Platform;
using Xunit;

namespace ImdsTroubleshoot.Tests.Remote;

/// <summary>Container facts are read one way here and from a remote collector's report: the same rules for both.</summary>
public sealed class ContainerFactsTests
{
    [Fact]
    public void Detect_on_a_root_and_the_facts_a_collector_reports_give_the_same_container_evidence()
    {
        string root = Directory.CreateTempSubdirectory("imds-platform-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, ".dockerenv"), string.Empty);
            Directory.CreateDirectory(Path.Combine(root, "proc", "1"));
            File.WriteAllText(Path.Combine(root, "proc", "1", "cgroup"), "0::/kubepods/besteffort/pod1234\n");
            var local = PlatformInfo.Detect(root, new Hashtable { ["KUBERNETES_SERVICE_HOST"] = "10.100.0.1" });
            var remote = PlatformInfo.ContainerFacts(m => m == ".dockerenv", "kubepods", v => v == "KUBERNETES_SERVICE_HOST" ? "10.100.0.1" : null);
            var expected = new[] { "/.dockerenv exists", "/proc/1/cgroup names a container runtime", "KUBERNETES_SERVICE_HOST is set" };
            Assert.Equal(expected, remote);
            Assert.Equal(expected, local.ContainerEvidence);
            Assert.Empty(PlatformInfo.ContainerFacts(_ => false, "lxc", _ => string.Empty));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData(".dockerenv,run/.containerenv", "", "", "", "docker")]
    [InlineData("run/.containerenv", "10.0.0.1", "", "", "podman")]
    [InlineData("", "10.0.0.1", "systemd-nspawn", "", "kubernetes")]
    [InlineData("", "", "systemd-nspawn", "0::/docker/abc", "systemd-nspawn")]
    [InlineData("", "", "", "0::/system.slice/containerd.service", "containerd")]
    [InlineData("", "", "", "kubepods", "kubernetes")]
    [InlineData("", "", "", "0::/init.scope", null)]
    public void The_container_runtime_comes_from_markers_then_variables_then_pid_1s_cgroup(string markers, string kubernetes, string container, string cgroup, string? expected)
    {
        var present = new HashSet<string>(markers.Split(',', StringSplitOptions.RemoveEmptyEntries));
        var variables = new Dictionary<string, string> { ["KUBERNETES_SERVICE_HOST"] = kubernetes, ["container"] = container };
        Assert.Equal(expected, NetworkNamespaceContext.ContainerFrom(present.Contains, name => variables.TryGetValue(name, out string? v) ? v : null, () => cgroup));
    }
}
