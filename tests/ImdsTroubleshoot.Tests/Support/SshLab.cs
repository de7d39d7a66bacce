using System;
using System.Collections.Generic;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// A network lab reached from the host through its own link, with Debian's sshd in the instance namespace listening
/// on the link's addresses (and, when given settings, the IMDS emulator on the IMDS side).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class SshLab : IDisposable
{
    public SshLab(int port, EmulatorSettings? emulator = null, IReadOnlyDictionary<string, string>? sessionEnv = null, IEnumerable<string>? extraConfig = null)
    {
        Net = NetworkLab.Create();
        try
        {
            if (emulator is not null)
            {
                Net.StartEmulator(emulator);
            }

            Link = Net.ConnectHost();
            Server = SshLabServer.Start(Net.InstanceNs, new[] { Link.InstanceIPv4, Link.InstanceIPv6 }, port, sessionEnv, extraConfig);
        }
        catch
        {
            Net.Dispose();
            throw;
        }
    }

    public NetworkLab Net { get; }

    public HostLink Link { get; }

    public SshLabServer Server { get; }

    public void Dispose()
    {
        Server.Dispose();
        Net.Dispose();
        GC.SuppressFinalize(this);
    }
}
