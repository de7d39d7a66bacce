using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Text.Json;
using System.Threading;

namespace ImdsTroubleshoot.Engine.Firewall;

/// <summary>What the evaluator needs to know about the host's network: the route to IMDS and the interfaces.</summary>
internal sealed class HostNetwork
{
    public string? ImdsInterfaceV4 { get; init; }

    public string? ImdsInterfaceV6 { get; init; }

    public IPAddress? SourceV4 { get; init; }

    public IPAddress? SourceV6 { get; init; }

    /// <summary>Interface name -> its addresses with prefix length.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(IPAddress Address, int Prefix)>> Interfaces { get; init; } =
        new Dictionary<string, IReadOnlyList<(IPAddress, int)>>();

    public (ulong Low, ulong High) EphemeralPorts { get; init; } = (32768, 60999);

    /// <summary>Interface name -> its link kind (veth, bridge, vxlan, ...); null for a physical NIC such as an ENA eth0.</summary>
    public IReadOnlyDictionary<string, string?> Kinds { get; init; } = new Dictionary<string, string?>();

    public bool IsLocal(IPAddress address) => Interfaces.Values.Any(list => list.Any(a => a.Address.Equals(address)));

    public static HostNetwork Read(ICommandRunner runner, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (v4If, v4Src) = Route(runner, "169.254.169.254", false, timeout, cancellationToken);
        var (v6If, v6Src) = Route(runner, "fd00:ec2::254", true, timeout, cancellationToken);
        var interfaces = new Dictionary<string, IReadOnlyList<(IPAddress, int)>>(StringComparer.Ordinal);
        var kinds = new Dictionary<string, string?>(StringComparer.Ordinal);
        CommandResult? addr = TryRun(runner, new[] { "-j", "-d", "addr", "show" }, timeout, cancellationToken);
        if (addr is { ExitCode: 0 })
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(addr.StandardOutput);
                foreach (JsonElement link in doc.RootElement.EnumerateArray())
                {
                    string? name = link.TryGetProperty("ifname", out JsonElement n) ? n.GetString() : null;
                    if (name is null)
                    {
                        continue;
                    }

                    kinds[name] = link.TryGetProperty("linkinfo", out JsonElement linkinfo) && linkinfo.TryGetProperty("info_kind", out JsonElement kind) ? kind.GetString() : null;
                    var list = new List<(IPAddress, int)>();
                    if (link.TryGetProperty("addr_info", out JsonElement infos) && infos.ValueKind == JsonValueKind.Array)
                    {
                        foreach (JsonElement info in infos.EnumerateArray())
                        {
                            if (info.TryGetProperty("local", out JsonElement local) && IPAddress.TryParse(local.GetString(), out IPAddress? ip) &&
                                info.TryGetProperty("prefixlen", out JsonElement len) && len.TryGetInt32(out int prefix))
                            {
                                list.Add((ip, prefix));
                            }
                        }
                    }

                    interfaces[name] = list;
                }
            }
            catch (JsonException)
            {
            }
        }

        (ulong, ulong) ports = (32768, 60999);
        try
        {
            string? range = runner.ReadFile("/proc/sys/net/ipv4/ip_local_port_range");
            string[] parts = (range ?? string.Empty).Split(new[] { ' ', '\t', '\n' }, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong lo) && ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong hi))
            {
                ports = (lo, hi);
            }
        }
        catch (UnauthorizedAccessException)
        {
        }
        catch (System.IO.IOException)
        {
        }

        return new HostNetwork
        {
            ImdsInterfaceV4 = v4If,
            ImdsInterfaceV6 = v6If,
            SourceV4 = v4Src,
            SourceV6 = v6Src,
            Interfaces = interfaces,
            Kinds = kinds,
            EphemeralPorts = ports,
        };
    }

    private static CommandResult? TryRun(ICommandRunner runner, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (runner.Resolve("ip") is null)
        {
            return null;
        }

        try
        {
            return runner.Run("ip", args, timeout, cancellationToken);
        }
        catch (System.IO.FileNotFoundException)
        {
            return null;
        }
    }

    private static (string? Interface, IPAddress? Source) Route(ICommandRunner runner, string destination, bool v6, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var args = new List<string> { "-j" };
        if (v6)
        {
            args.Add("-6");
        }

        args.AddRange(new[] { "route", "get", destination });
        CommandResult? r = TryRun(runner, args, timeout, cancellationToken);
        if (r is not { ExitCode: 0 })
        {
            return (null, null);
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(r.StandardOutput);
            JsonElement first = doc.RootElement.ValueKind == JsonValueKind.Array && doc.RootElement.GetArrayLength() > 0 ? doc.RootElement[0] : doc.RootElement;
            string? dev = first.TryGetProperty("dev", out JsonElement d) ? d.GetString() : null;
            IPAddress? src = first.TryGetProperty("prefsrc", out JsonElement s) && IPAddress.TryParse(s.GetString(), out IPAddress? ip) ? ip : null;
            return (dev, src);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }
}
