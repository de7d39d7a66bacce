using System;
using System.Linq;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Lab;

/// <summary>
/// The hop limit as the real service does it: the token PUT response leaves with IP TTL = hop limit, so a
/// client one routed hop away (a container) connects, sends its PUT, and never gets the answer.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class HopLimitLabTests
{
    private const string TtlHeader = "X-aws-ec2-metadata-token-ttl-seconds: 60";

    [LabFact]
    public void Token_put_one_routed_hop_away_times_out_with_hop_limit_1_and_works_with_2()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1, HttpProtocolIpv6 = FeatureState.Enabled });

        // On the instance itself (no routed hop) hop limit 1 is enough.
        var onInstance = NetworkLab.Curl(lab.InstanceNs, 3, "-X", "PUT", "-H", TtlHeader, "http://169.254.169.254/latest/api/token");
        Assert.True(onInstance.ExitCode == 0, onInstance.ToString());
        Assert.StartsWith("AQAEA", onInstance.Stdout, StringComparison.Ordinal);

        // From the container: TCP connects (SYN-ACK is not TTL-limited), the PUT arrives and is answered, the answer dies.
        var fromContainer = NetworkLab.Curl(lab.ContainerNs, 2, "-X", "PUT", "-H", TtlHeader, "-w", "connect=%{time_connect}", "http://169.254.169.254/latest/api/token");
        Assert.True(fromContainer.ExitCode == 28, "curl should time out (28): " + fromContainer);
        Assert.Matches(@"connect=0\.0*[1-9]", fromContainer.Stdout);
        Assert.Contains(emulator.GetRequestLog(), r => r.ClientAddress == NetworkLab.ContainerIPv4 && r.Kind == ImdsRequestKind.TokenRequest && r.StatusCode == 200);

        // IMDSv1 from the container still works: only the token response is limited (the field's "IMDSv1 works, IMDSv2 hangs").
        var v1 = NetworkLab.Curl(lab.ContainerNs, 3, "http://169.254.169.254/latest/meta-data/instance-id");
        Assert.True(v1.ExitCode == 0, v1.ToString());
        Assert.Equal("i-0123456789abcdef0", v1.Stdout.Trim());

        // The same over IPv6.
        var v6 = NetworkLab.Curl(lab.ContainerNs, 2, "-X", "PUT", "-H", TtlHeader, "http://[fd00:ec2::254]/latest/api/token");
        Assert.True(v6.ExitCode == 28, "IPv6 PUT should time out: " + v6);

        // Raise the hop limit to 2 (what AWS recommends for containers): the container gets its token.
        emulator.UpdateSettings(s => s with { HttpPutResponseHopLimit = 2 });
        var fixedV4 = NetworkLab.Curl(lab.ContainerNs, 3, "-X", "PUT", "-H", TtlHeader, "http://169.254.169.254/latest/api/token");
        Assert.True(fixedV4.ExitCode == 0, fixedV4.ToString());
        Assert.StartsWith("AQAEA", fixedV4.Stdout, StringComparison.Ordinal);
        var fixedV6 = NetworkLab.Curl(lab.ContainerNs, 3, "-X", "PUT", "-H", TtlHeader, "http://[fd00:ec2::254]/latest/api/token");
        Assert.True(fixedV6.ExitCode == 0, fixedV6.ToString());

        // And the token works for a GET from there.
        var get = NetworkLab.Curl(lab.ContainerNs, 3, "-H", "X-aws-ec2-metadata-token: " + fixedV4.Stdout.Trim(), "http://169.254.169.254/latest/meta-data/placement/region");
        Assert.Equal("eu-west-1", get.Stdout.Trim());
    }

    private static ProcessResult AwsCliConfigureList(string ns) => NetworkLab.ExecWithTimeout(ns, TimeSpan.FromSeconds(60),
        "env", "-i", "PATH=/usr/bin:/bin", "HOME=/tmp", "AWS_CONFIG_FILE=/nonexistent/config", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials",
        "/usr/bin/aws", "configure", "list");

    /// <summary>
    /// The field's container story with a client AWS wrote: the AWS CLI's token PUT times out one hop away, it falls
    /// back to IMDSv1 and gets credentials while tokens are optional; once IMDSv2 is required they vanish (401).
    /// </summary>
    [LabFact]
    public void Aws_cli_in_a_container_falls_back_to_imdsv1_and_loses_credentials_when_tokens_are_required()
    {
        using var lab = NetworkLab.Create();
        var emulator = lab.StartEmulator(new EmulatorSettings { HttpPutResponseHopLimit = 1 });

        var optional = AwsCliConfigureList(lab.ContainerNs);
        Assert.Matches(@"access_key\s+\*+\w{4}\s+iam-role", optional.Stdout);
        var fromContainer = emulator.GetRequestLog().Where(r => r.ClientAddress == NetworkLab.ContainerIPv4).ToList();
        Assert.Contains(fromContainer, r => r.Kind == ImdsRequestKind.TokenRequest && r.StatusCode == 200);
        Assert.Contains(fromContainer, r => r.Kind == ImdsRequestKind.V1 && r.StatusCode == 200 && r.Path.Contains("security-credentials", StringComparison.Ordinal));

        emulator.ClearRequestLog();
        emulator.UpdateSettings(s => s with { HttpTokens = HttpTokensState.Required });
        var required = AwsCliConfigureList(lab.ContainerNs);
        Assert.Matches(@"access_key\s+<not set>", required.Stdout);
        Assert.Contains(emulator.GetRequestLog(), r => r.Kind == ImdsRequestKind.V1 && r.StatusCode == 401);

        // With hop limit 2 the same client gets its token and uses IMDSv2 only.
        emulator.ClearRequestLog();
        emulator.UpdateSettings(s => s with { HttpPutResponseHopLimit = 2 });
        Assert.Matches(@"access_key\s+\*+\w{4}\s+iam-role", AwsCliConfigureList(lab.ContainerNs).Stdout);
        Assert.DoesNotContain(emulator.GetRequestLog(), r => r.Kind == ImdsRequestKind.V1);
    }

    [LabFact]
    public void Lab_namespaces_are_removed_when_the_lab_is_disposed()
    {
        string[] names;
        using (var lab = NetworkLab.Create())
        {
            names = lab.Namespaces.ToArray();
            Assert.All(names, n => Assert.True(System.IO.File.Exists("/run/netns/" + n), n));
        }

        Assert.All(names, n => Assert.False(System.IO.File.Exists("/run/netns/" + n), n));
    }
}
