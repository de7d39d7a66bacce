using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Diagnosis;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Ena;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Engine.Platform;
using ImdsTroubleshoot.Engine.Probe;
using ImdsTroubleshoot.Engine.Proxy;

namespace ImdsTroubleshoot.Engine.Remote;

/// <summary>Parses a collector's output (truncated, garbled or oversized: findings say so; it never throws).</summary>
public static partial class CollectorOutputParser
{
    private const string NeedsRoot = "reading the firewall needs root (run with sudo)";

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex VariableName();

    public static DiagnosisInput Parse(string output, string target)
    {
        string name = string.IsNullOrWhiteSpace(target) ? "remote" : CollectorOutput.Clean(target, 200);
        try
        {
            return Build(CollectorOutput.Read(output), name);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Parse never throws: whatever went wrong becomes a note, and the diagnosis says the evidence is missing.
            return Unreadable(name, new[] { "the collector's output could not be read: " + CollectorOutput.Clean(ex.GetType().Name + ": " + ex.Message) });
        }
    }

    /// <summary>The evidence of an output that could not be read: every check says so instead of guessing.</summary>
    private static DiagnosisInput Unreadable(string target, IReadOnlyList<string> notes) => new()
    {
        Target = target,
        IsRemote = true,
        FirewallUnavailable = "the collector's output could not be read",
        ProxyUnavailable = "the collector's output could not be read",
        MetadataOptionsUnavailable = "the EC2 API was not asked",
        Ipv6SkipReason = "the collector's output could not be read",
        CollectionNotes = notes,
    };

    private static DiagnosisInput Build(CollectorOutput o, string target)
    {
        string root = Path.Combine(Path.GetTempPath(), "imds-collector-" + Guid.NewGuid().ToString("N"));
        try
        {
            return Build(o, target, root);
        }
        finally
        {
            try
            {
                if (Directory.Exists(root))
                {
                    Directory.Delete(root, recursive: true);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Writes the collected files (numbered lines put back on their lines) under <paramref name="root"/>.</summary>
    private static void WriteFiles(CollectorOutput o, string root, List<string> notes)
    {
        Directory.CreateDirectory(root);
        foreach (CollectorSection file in o.Files)
        {
            string? relative = SafeRelativePath(file.Name);
            if (relative is null)
            {
                continue;
            }

            if (file.Omitted || file.Truncated || !file.Closed)
            {
                notes.Add(file.Get("use") == "firewall"
                    ? $"the collector's {CollectorOutput.Describe(file)} was cut or left out: whether a rule is persisted there may be wrong"
                    : $"the collector's {CollectorOutput.Describe(file)} was cut or left out: proxy settings in it may be missing");
            }

            string disk = Path.Combine(root, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(disk)!);
            File.WriteAllText(disk, Rebuild(file.Payload), new UTF8Encoding(false));
        }
    }

    private static DiagnosisInput Build(CollectorOutput o, string target, string root)
    {
        var notes = new List<string>(o.Notes);
        WriteFiles(o, root, notes);
        bool readable = o.HeaderSeen ? o.Version == Collector.FormatVersion : o.Sections.Count > 0;
        if (!readable)
        {
            return Unreadable(target, notes);
        }

        foreach (var s in o.Sections.Where(s => s.Omitted))
        {
            notes.Add($"the collector left out its {CollectorOutput.Describe(s)} to stay within its output budget");
        }

        // Who ran it.
        CollectorSection? meta = o.Section("meta");
        uint uid = 0;
        if (meta?.Get("uid") is { } uidText && uint.TryParse(uidText.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out uint u))
        {
            uid = u;
        }
        else
        {
            notes.Add("the collector did not say which uid it ran as (uid 0 assumed)");
        }

        bool busyBox = meta?.Get("wgetbusybox") == "1";
        double timeoutSec = ParseDouble(meta?.Get("timeout")) is { } t && t > 0 && t <= 600 ? t : 1.0;
        TimeSpan stepTimeout = TimeSpan.FromSeconds(timeoutSec);
        if (meta?.Get("client") == "none")
        {
            notes.Add("neither curl nor wget is installed on the target: IMDS could not be probed");
        }

        if (meta?.Get("wgetmethod") == "0")
        {
            notes.Add(busyBox
                ? "the target has no curl and BusyBox wget cannot send PUT: the IMDSv2 token could not be requested (install curl on the target)"
                : "the target has no curl and its wget cannot send PUT (older than 1.15): the IMDSv2 token could not be requested (install curl on the target)");
        }

        // The environment (proxy and AWS_EC2_METADATA_* variables only; proxy passwords masked again here).
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        CollectorSection? env = o.Section("env");
        if (env is null)
        {
            notes.Add("the collector's environment section is missing");
        }
        else
        {
            foreach (var kv in env.Fields)
            {
                if (!VariableName().IsMatch(kv.Key))
                {
                    continue;
                }

                environment[kv.Key] = ProxyEnvironmentEvaluator.IsProxyVariable(kv.Key) ? ProxyUrlMasker.MaskPassword(kv.Value) ?? string.Empty : kv.Value;
            }
        }

        PlatformInfo platform = ParsePlatform(o.Section("platform"), environment, notes);

        // The endpoint.
        CollectorSection? endpointSection = o.Section("endpoint");
        Uri endpoint = ImdsDefaults.IPv4Endpoint;
        string endpointSource = "default";
        bool endpointKnown = false;
        if (endpointSection is null)
        {
            notes.Add("the collector's endpoint section is missing");
        }
        else
        {
            string? error = endpointSection.Get("error");
            string? source = endpointSection.Get("source");
            if (source is "-Endpoint" or "default" or ImdsDefaults.EndpointEnvironmentVariable or ImdsDefaults.EndpointModeEnvironmentVariable)
            {
                endpointSource = source;
            }

            if (error is not null)
            {
                notes.Add("the target's endpoint setting is not usable, so IMDS was not probed: " + CollectorOutput.Clean(error));
            }
            else if (endpointSection.Get("url") is { } url && Uri.TryCreate(url.Trim(), UriKind.Absolute, out Uri? parsed) && parsed.Scheme is "http" or "https")
            {
                endpoint = parsed;
                endpointKnown = true;
            }
            else
            {
                notes.Add("the collector did not say which endpoint it probed");
            }
        }

        // The probe.
        ProbeObservation? probe = null;
        if (endpointKnown)
        {
            CollectorSection? probeSection = o.Section("probe");
            probe = probeSection is null ? null : ParseProbe(probeSection, endpoint, stepTimeout, notes, busyBox);
            if (probeSection is null && meta?.Get("client") != "none")
            {
                notes.Add("the collector's probe results are missing (its output was cut before them)");
            }
        }

        // Identity.
        string? instanceId = null;
        string? region = null;
        CollectorSection? identity = o.Section("identity");
        if (identity is not null)
        {
            instanceId = identity.Get("instanceId") is { } id && Ec2InstanceId.IsValid(id) ? id : null;
            region = identity.Get("region") is { } rg && AwsNames.IsRegion(rg) ? rg : null;
            if (identity.Get("document") is { } doc && (instanceId is null || region is null))
            {
                var r = ParseExchange(doc, identity.Get("document.error"), TimeSpan.FromSeconds(5), keepTokenLength: 0, busyBox);
                if (r.Outcome is ImdsTransportOutcome.ConnectionRefused or ImdsTransportOutcome.AccessDenied)
                {
                    notes.Add("instance identity: the connection to IMDS was refused: a local firewall rule is the usual cause (Test-ImdsEndpoint names it)");
                }
                else if (r.Outcome is not (ImdsTransportOutcome.ConnectTimeout or ImdsTransportOutcome.Unreachable))
                {
                    notes.Add(r.IsSuccess
                        ? "instance identity: the identity document has no instanceId or region"
                        : "instance identity: IMDS did not give the identity document: " + r);
                }
            }
        }
        else if (probe is not null && probe.Connected && (probe.Put?.IsSuccess == true || probe.GetV1?.IsSuccess == true))
        {
            notes.Add("the collector's instance identity section is missing");
        }

        // IPv6.
        ProbeObservation? probeIpv6 = null;
        string? ipv6Skip = null;
        bool ipv6Asked = meta?.Get("ipv6") == "1";
        if (endpoint.HostNameType == UriHostNameType.IPv6)
        {
            ipv6Skip = "the endpoint itself is the IPv6 one (see Endpoint and Token)";
        }
        else if (ipv6Asked && o.Section("probe6") is { } p6)
        {
            probeIpv6 = ParseProbe(p6, ImdsDefaults.IPv6Endpoint, stepTimeout, notes, busyBox);
            ipv6Skip = probeIpv6 is null ? "the collector's IPv6 probe results could not be read" : null;
        }
        else if (ipv6Asked)
        {
            ipv6Skip = "the collector's IPv6 probe results are missing";
            if (endpointKnown)
            {
                notes.Add(ipv6Skip);
            }
        }
        else
        {
            ipv6Skip = "not asked (-IPv6), and the metadata options are not known";
        }

        EnaLinkLocalChange? ena = ParseEna(o.Section("ena-before"), o.Section("ena-after"), o.Section("platform"), environment, notes);

        // Firewall.
        FirewallReport? firewall = null;
        string? firewallUnavailable = null;
        CollectorSection? fw = o.Section("firewall");
        if (uid != 0)
        {
            firewallUnavailable = NeedsRoot;
        }
        else if (fw is null)
        {
            firewallUnavailable = "the collector's firewall section is missing (its output was cut before it)";
        }
        else if (fw.Get("skipped") is not null)
        {
            firewallUnavailable = NeedsRoot;
        }
        else
        {
            (firewall, firewallUnavailable) = ParseFirewall(o, fw, uid, root, notes);
        }

        // Proxies.
        IReadOnlyList<ImdsProxySetting>? proxies = null;
        string? proxyUnavailable = null;
        try
        {
            proxies = ParseProxies(o, environment, uid, meta, root, notes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException)
        {
            proxyUnavailable = "the collected proxy files could not be read: " + CollectorOutput.Clean(ex.Message);
        }

        return new DiagnosisInput
        {
            Target = target,
            IsRemote = true,
            InstanceId = instanceId,
            Region = region,
            Platform = platform,
            Endpoint = endpoint,
            EndpointSource = endpointSource,
            Uid = uid,
            Environment = environment,
            Probe = probe,
            ProbeIpv6 = probeIpv6,
            Ipv6SkipReason = ipv6Skip,
            Firewall = firewall,
            FirewallUnavailable = firewallUnavailable,
            ProxySettings = proxies,
            ProxyUnavailable = proxyUnavailable,
            Ena = ena,
            MetadataOptions = null,
            MetadataOptionsUnavailable = "the EC2 API was not asked (remote run)",
            CollectionNotes = notes.Distinct(StringComparer.Ordinal).ToList(),
        };
    }

    private static double? ParseDouble(string? text) =>
        double.TryParse(text?.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d) ? d : null;

    private static PlatformInfo ParsePlatform(CollectorSection? section, IReadOnlyDictionary<string, string> environment, List<string> notes)
    {
        if (section is null)
        {
            notes.Add("the collector's platform section is missing");
            return PlatformInfo.Unknown;
        }

        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in section.Fields.Where(f => f.Key.StartsWith("file.", StringComparison.Ordinal)))
        {
            string file = kv.Key.Substring(5);
            if (PlatformInfo.IdentityFiles.Contains(file))
            {
                files[file] = CollectorOutput.Clean(kv.Value, 512);
            }
        }

        var markers = section.All("marker").ToList();
        var container = PlatformInfo.ContainerFacts(markers.Contains, section.Get("cgroup1"), name => environment.TryGetValue(name, out string? v) ? v : null);
        return PlatformInfo.FromFacts(files, container);
    }

    /// <summary>One recorded exchange: "RC CODE CONNECT TOTAL SIZE REMOTE LOCAL ttl=N" and its error line.</summary>
    internal static ImdsHttpResult ParseExchange(string line, string? error, TimeSpan timeout, int keepTokenLength, bool busyBox = false)
    {
        string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string rc = f.Length > 0 ? f[0] : "?";
        int code = f.Length > 1 && int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out int c) && c is >= 0 and < 1000 ? c : 0;
        double connectSec = f.Length > 2 ? ParseDouble(f[2]) ?? 0 : 0;
        TimeSpan elapsed = TimeSpan.Zero;
        if (f.Length > 3)
        {
            if (f[3].StartsWith("ms", StringComparison.Ordinal) && long.TryParse(f[3].AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out long ms))
            {
                elapsed = TimeSpan.FromMilliseconds(Math.Min(ms, 3_600_000));
            }
            else if (ParseDouble(f[3]) is { } s && s >= 0 && s < 3600)
            {
                elapsed = TimeSpan.FromSeconds(s);
            }
        }

        long size = f.Length > 4 && long.TryParse(f[4], NumberStyles.None, CultureInfo.InvariantCulture, out long z) ? Math.Clamp(z, 0, 1024 * 1024) : 0;
        string? ttl = f.FirstOrDefault(x => x.StartsWith("ttl=", StringComparison.Ordinal))?.Substring(4);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (ttl is { Length: > 0 and < 8 } && ttl.All(char.IsAsciiDigit))
        {
            headers[ImdsDefaults.TokenTtlHeader] = ttl;
        }

        string err = CollectorOutput.Clean(error, 200);
        string seconds = timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        bool connected = connectSec > 0;

        ImdsHttpResult Fail(ImdsTransportOutcome outcome, string message, bool wasConnected) =>
            new(outcome, 0, string.Empty, wasConnected, elapsed, message, new Dictionary<string, string>());

        (ImdsTransportOutcome Outcome, string Message)? ConnectError()
        {
            string e = err.ToLowerInvariant();
            if (e.Contains("refused", StringComparison.Ordinal))
            {
                return (ImdsTransportOutcome.ConnectionRefused, "ConnectionRefused: Connection refused");
            }

            if (e.Contains("no route", StringComparison.Ordinal))
            {
                return (ImdsTransportOutcome.Unreachable, "HostUnreachable: No route to host");
            }

            if (e.Contains("network is unreachable", StringComparison.Ordinal))
            {
                return (ImdsTransportOutcome.Unreachable, "NetworkUnreachable: Network is unreachable");
            }

            if (e.Contains("permission denied", StringComparison.Ordinal) || e.Contains("not permitted", StringComparison.Ordinal))
            {
                return (ImdsTransportOutcome.AccessDenied, "AccessDenied: Permission denied");
            }

            return null;
        }

        if (rc.StartsWith("w:", StringComparison.Ordinal))
        {
            // wget: 0 ok, 8 server error response, 4 network failure (the message says which), others: errors.
            string w = rc.Substring(2);
            if (w == "put-unsupported")
            {
                return Fail(ImdsTransportOutcome.Error, "the target's wget cannot send PUT (no curl there)", false);
            }

            if (code > 0 && (w is "0" or "6" or "8" || (w == "1" && busyBox)))
            {
                return new ImdsHttpResult(ImdsTransportOutcome.Response, code, Placeholder(keepTokenLength > 0 ? keepTokenLength : size), true, elapsed, null, headers);
            }

            if (ConnectError() is { } ce)
            {
                return Fail(ce.Outcome, ce.Message, false);
            }

            if (w is "124" or "143" or "137")
            {
                // timeout(1) stopped it: no answer within the bound (whether it had connected is not known).
                return Fail(ImdsTransportOutcome.ConnectTimeout, $"no TCP connection within {seconds} s", false);
            }

            if (err.Contains("timed out", StringComparison.OrdinalIgnoreCase))
            {
                bool read = err.Contains("read", StringComparison.OrdinalIgnoreCase);
                return Fail(read ? ImdsTransportOutcome.ResponseTimeout : ImdsTransportOutcome.ConnectTimeout,
                    read ? $"no complete response within {seconds} s" : $"no TCP connection within {seconds} s", read);
            }

            return Fail(ImdsTransportOutcome.Error, $"wget exit {CollectorOutput.Clean(w, 20)}: {err}", false);
        }

        switch (rc)
        {
            case "0" when code > 0:
                return new ImdsHttpResult(ImdsTransportOutcome.Response, code, Placeholder(keepTokenLength > 0 ? keepTokenLength : size), true, elapsed, null, headers);
            case "0":
                return Fail(ImdsTransportOutcome.InvalidResponse, "no HTTP status in the answer", true);
            case "7":
                return ConnectError() is { } ce
                    ? Fail(ce.Outcome, ce.Message, false)
                    : Fail(ImdsTransportOutcome.Error, "curl exit 7 (could not connect): " + err, false);
            case "28":
                return connected
                    ? Fail(ImdsTransportOutcome.ResponseTimeout, $"no complete response within {seconds} s", true)
                    : Fail(ImdsTransportOutcome.ConnectTimeout, $"no TCP connection within {seconds} s", false);
            case "52":
                return Fail(ImdsTransportOutcome.ConnectionReset, "the server closed the connection without a reply (curl exit 52)", true);
            case "55":
            case "56":
                return Fail(ImdsTransportOutcome.ConnectionReset, $"the connection was reset (curl exit {rc}): {err}", true);
            case "1":
            case "8":
                return Fail(ImdsTransportOutcome.InvalidResponse, $"the answer is not HTTP (curl exit {rc}): {err}", true);
            case "63":
                return Fail(ImdsTransportOutcome.ResponseTooLarge, "the response was too large (curl exit 63)", true);
            case "6":
                return Fail(ImdsTransportOutcome.Unreachable, "the endpoint's host name could not be resolved (curl exit 6): " + err, false);
            default:
                return Fail(ImdsTransportOutcome.Error, $"curl exit {CollectorOutput.Clean(rc, 20)}: {err}", connected);
        }
    }

    private static string Placeholder(long length) => length <= 0 ? string.Empty : new string('.', (int)Math.Min(length, 1024 * 1024));

    private static ProbeObservation? ParseProbe(CollectorSection section, Uri endpoint, TimeSpan timeout, List<string> notes, bool busyBox)
    {
        string? putLine = section.Get("put");
        if (putLine is null)
        {
            notes.Add($"the collector's {CollectorOutput.Describe(section)} has no token request result");
            return null;
        }

        string[] f = putLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        ImdsHttpResult? v1 = section.Get("v1") is { } v1Line ? ParseExchange(v1Line, section.Get("v1.error"), timeout, 0, busyBox) : null;
        if (f.Length > 0 && f[0] == "w:put-unsupported")
        {
            // Without PUT there is no token step to judge: a made-up one would name a cause that is not there.
            notes.Add("the target's wget cannot send PUT, so the token steps could not be probed; the plain GET (IMDSv1) gave: "
                + (v1?.ToString() ?? "nothing") + ". Install curl on the target for a full probe.");
            return null;
        }

        int tokenLength = int.TryParse(section.Get("put.tokenlength"), NumberStyles.None, CultureInfo.InvariantCulture, out int tl) ? Math.Clamp(tl, 0, 4096) : 0;
        ImdsHttpResult put = ParseExchange(putLine, section.Get("put.error"), timeout, tokenLength, busyBox);
        ImdsHttpResult? v2 = section.Get("v2") is { } v2Line ? ParseExchange(v2Line, section.Get("v2.error"), timeout, 0, busyBox) : null;
        bool connected = put.Outcome is not (ImdsTransportOutcome.ConnectionRefused or ImdsTransportOutcome.ConnectTimeout or ImdsTransportOutcome.Unreachable or ImdsTransportOutcome.AccessDenied)
            && !(put.Outcome == ImdsTransportOutcome.Error && !put.Connected);
        if (!connected)
        {
            return new ProbeObservation(endpoint, timeout, put, null, null, null, Array.Empty<PathObservation>());
        }

        if (v1 is null)
        {
            notes.Add($"the collector's {CollectorOutput.Describe(section)} was cut before the IMDSv1 request");
            return null;
        }

        double connectSec = f.Length > 2 ? ParseDouble(f[2]) ?? 0 : 0;
        string remote = f.Length > 5 && f[5] != "-" ? CollectorOutput.Clean(f[5], 80) : endpoint.Authority;
        string local = f.Length > 6 && f[6] != "-" ? CollectorOutput.Clean(f[6], 80) : "?";
        var connectResult = new ImdsHttpResult(ImdsTransportOutcome.Response, 0, string.Empty, true, TimeSpan.FromSeconds(Math.Clamp(connectSec, 0, 3600)),
            $"connected to {Endpoint(remote)} from {Endpoint(local)}", new Dictionary<string, string>());
        if (put.IsSuccess && tokenLength == 0)
        {
            // A 2xx without a token is no token: the parser never invents one.
            put = new ImdsHttpResult(put.Outcome, put.StatusCode, string.Empty, true, put.Elapsed, put.Message, put.Headers);
        }

        return new ProbeObservation(endpoint, timeout, connectResult, put, put.IsSuccess && tokenLength > 0 ? v2 : null, v1, Array.Empty<PathObservation>());
    }

    /// <summary>
    /// An address:port as the local probe's dual-mode socket prints it: "[::ffff:169.254.169.254]:80", "[fd00:ec2::254]:80".
    /// </summary>
    private static string Endpoint(string hostPort)
    {
        int colon = hostPort.LastIndexOf(':');
        if (colon <= 0 || hostPort.StartsWith('['))
        {
            return hostPort;
        }

        string host = hostPort.Substring(0, colon);
        string port = hostPort.Substring(colon);
        if (System.Net.IPAddress.TryParse(host, out System.Net.IPAddress? ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return $"[::ffff:{host}]{port}";
        }

        return host.Contains(':', StringComparison.Ordinal) ? $"[{host}]{port}" : hostPort;
    }

    private static EnaLinkLocalChange? ParseEna(CollectorSection? before, CollectorSection? after, CollectorSection? platform, IReadOnlyDictionary<string, string> environment, List<string> notes)
    {
        if (before is null || after is null)
        {
            if (before is not null || after is not null)
            {
                notes.Add("the collector's ENA counters were read only once (its output was cut)");
            }

            return null;
        }

        return EnaStatistics.Compare(ParseEnaReading(before, platform, environment), ParseEnaReading(after, platform, environment));
    }

    private static EnaLinkLocalReading ParseEnaReading(CollectorSection section, CollectorSection? platform, IReadOnlyDictionary<string, string> environment)
    {
        DateTimeOffset time = DateTimeOffset.UtcNow;
        if (long.TryParse(section.Get("time"), NumberStyles.None, CultureInfo.InvariantCulture, out long ns) && ns > 0)
        {
            time = DateTimeOffset.FromUnixTimeMilliseconds(ns / 1_000_000);
        }

        bool ethtool = section.Get("noethtool") is null;
        var found = new List<DiscoveredInterface>();
        foreach (string line in section.All("if").Take(256))
        {
            string[] f = line.Split(' ');
            if (f.Length < 8 || f[0].Length == 0 || f[0].Length > 32)
            {
                continue;
            }

            string? Opt(string v) => v == "-" ? null : CollectorOutput.Clean(v, 64);
            int index = int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : 0;
            var entry = new NetworkInterfaceEntry(CollectorOutput.Clean(f[0], 32), index, Opt(f[2]), f[3] == "1", Opt(f[4]), Opt(f[5]), Opt(f[6]));
            EthtoolDriverInfo? info = Opt(f[7]) is { } drv ? new EthtoolDriverInfo(drv, string.Empty, string.Empty, string.Empty, string.Empty) : null;
            found.Add(new DiscoveredInterface(entry, info));
        }

        found = found.OrderBy(e => e.Entry.Index == 0 ? int.MaxValue : e.Entry.Index).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
        var ena = found.Where(x => x.IsEna).ToList();
        if (ena.Count == 0)
        {
            string? container = ContainerOf(platform, environment);
            var context = NetworkNamespaceContext.Create(platform?.Get("netns") is { Length: > 0 } a ? CollectorOutput.Clean(a, 64) : null,
                platform?.Get("initnetns") is { Length: > 0 } b ? CollectorOutput.Clean(b, 64) : null, container,
                found.Where(x => x.Entry.IsVirtual).Select(x => x.Name).ToList(), found.Count);
            return new EnaLinkLocalReading(time, Array.Empty<EnaLinkLocalCounter>(), Array.Empty<EthtoolSnapshot>(), EnaDiscovery.NoEnaInterfaceMessage(found, context));
        }

        var counters = new List<EnaLinkLocalCounter>();
        var snapshots = new List<EthtoolSnapshot>();
        foreach (var target in ena)
        {
            if (!ethtool)
            {
                counters.Add(new EnaLinkLocalCounter(target.Name, target.Driver, target.DriverInfo?.Version, EnaCounterSupport.NotReported, null,
                    "ethtool is not installed on the target, so the collector could not read the ENA counters"));
                continue;
            }

            string stats = string.Join("\n", section.All("stat." + target.Name).Take(64));
            string infoText = string.Join("\n", section.All("info." + target.Name).Take(16));
            EthtoolSnapshot snapshot = EthtoolText.ParseSnapshot(target.Name, stats, infoText.Length > 0 ? infoText : null, time);
            snapshots.Add(snapshot);
            EnaInterfaceStatistics interpreted = EnaInterpreter.Interpret(snapshot);
            ulong? value = interpreted.LinkLocalAllowanceExceeded;
            counters.Add(new EnaLinkLocalCounter(target.Name, snapshot.Driver, snapshot.DriverInfo?.Version, interpreted.Support, value, value is null ? interpreted.Assessment : null));
        }

        string? note = counters.Any(c => c.Supported) ? null : string.Join(" ", counters.Select(c => $"{c.Interface}: {c.Problem}"));
        return new EnaLinkLocalReading(time, counters, snapshots, note);
    }

    /// <summary>The target's container runtime, from the markers, variables and PID 1 cgroup runtime the collector reported.</summary>
    private static string? ContainerOf(CollectorSection? platform, IReadOnlyDictionary<string, string> environment)
    {
        var markers = platform?.All("marker").ToList() ?? new List<string>();
        string? container = NetworkNamespaceContext.ContainerFrom(markers.Contains, name => environment.TryGetValue(name, out string? v) ? v : null, () => platform?.Get("cgroup1") ?? string.Empty);
        return container is null ? null : CollectorOutput.Clean(container, 32);
    }

    private static readonly string[] s_dumpCommands =
    {
        "iptables-nft-save -c", "ip6tables-nft-save -c", "iptables-legacy-save -c", "ip6tables-legacy-save -c", "iptables-save -c", "ip6tables-save -c",
        "nft -j list ruleset", "ip -j route get 169.254.169.254", "ip -j -6 route get fd00:ec2::254", "ip -j -d addr show",
    };

    private static (FirewallReport? Report, string? Unavailable) ParseFirewall(CollectorOutput o, CollectorSection fw, uint uid, string root, List<string> notes)
    {
        var runner = new ReplayCommandRunner(fw.All("tool").Select(t => t.Trim()).Where(t => t.Length is > 0 and < 40));
        foreach (var kv in fw.Fields.Where(f => f.Key.StartsWith("file./proc/", StringComparison.Ordinal)))
        {
            string text = kv.Value.Trim();
            string path = kv.Key.Substring(5);
            // The collector joins lines with spaces; FirewallInspector reads the table names either way.
            runner.AddFile(path, text + "\n");
        }

        foreach (var kv in fw.Fields.Where(f => f.Key.StartsWith("version.", StringComparison.Ordinal)))
        {
            runner.Add(kv.Key.Substring(8), new[] { "--version" }, new CommandResult(0, kv.Value + "\n", string.Empty));
        }

        // Every reduction is a warning on the report; only cuts and approximate reductions (Gap) are gaps in the evidence.
        var warnings = new List<(string Text, bool Gap)>();
        foreach (string command in s_dumpCommands)
        {
            CollectorSection? dump = o.Dump(command);
            if (dump is null)
            {
                continue;
            }

            string[] parts = command.Split(' ');
            int exit = int.TryParse(dump.Get("exit"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int e) ? e : 1;
            string stderr = string.Join("\n", dump.All("stderr"));
            string stdout = dump.PayloadText;
            bool partial = dump.Omitted || dump.Truncated || !dump.Closed;
            if (parts[0] == "nft" && stdout.Length > 0 && !stdout.TrimStart().StartsWith("{\"nftables\"", StringComparison.Ordinal))
            {
                partial = true;
            }

            if (parts[0] == "nft" && partial)
            {
                // A cut JSON document cannot be read: leave the native nft tables out, and say so.
                stdout = "{\"nftables\": []}";
                warnings.Add(("the remote nft ruleset was too large for the collector's output or was cut: native nft tables were not evaluated", true));
            }
            else if (parts[0] != "ip" && partial)
            {
                stdout = CloseIptablesDump(stdout);
                warnings.Add(($"the remote {command} dump was cut for the collector's output budget: rules after the cut were not evaluated", true));
            }

            if (parts[0] is not ("ip" or "nft"))
            {
                stdout = ExpandSkips(stdout, command.StartsWith("ip6", StringComparison.Ordinal), out int skipped);
                if (skipped > 0 || dump.Reduced)
                {
                    warnings.Add(dump.Get("reduced") == "2"
                        ? ($"the remote {command} dump was reduced to fit the collector's output budget: {skipped.ToString(CultureInfo.InvariantCulture)} rule(s) with an address match that does not contain the IMDS address were left out (approximate: a rule that matches this instance's own address in IMDS answers may be missing)", true)
                        : ($"the remote {command} dump was reduced to fit the collector's output budget: {skipped.ToString(CultureInfo.InvariantCulture)} rule(s) whose addresses exclude all IMDS traffic were left out (rule positions kept)", false));
                }
            }
            else if (parts[0] == "nft" && dump.Reduced && !partial)
            {
                warnings.Add(dump.Get("reduced") == "2"
                    ? ("the remote nft ruleset was reduced to fit the collector's output budget: rules of tables iptables-save showed, and rules that name no IMDS address, user, reject, drop or jump, were left out", true)
                    : ("the remote nft ruleset was reduced to fit the collector's output budget: rules of tables iptables-save showed (read from there) were left out", false));
            }

            if (parts[0] == "ip" && partial)
            {
                continue;
            }

            runner.Add(parts[0], parts.Skip(1).ToArray(), new CommandResult(exit, stdout, stderr));
        }

        var users = new PasswdUserDatabase(o.Dump("passwd")?.PayloadText, o.Dump("group")?.PayloadText);
        try
        {
            var inspector = new FirewallInspector(new FirewallInspectorOptions
            {
                Runner = runner,
                Users = users,
                PersistedFilesRoot = root,
                CurrentUsers = new[] { uid },
            });
            FirewallReport report = inspector.Inspect(new FirewallQuery { IncludeForward = true }, CancellationToken.None);
            if (warnings.Count > 0)
            {
                notes.AddRange(warnings.Where(w => w.Gap).Select(w => w.Text));
                report = new FirewallReport(report.Rules, report.Subjects, report.Warnings.Concat(warnings.Select(w => w.Text)).ToList(), report.Sources);
            }

            return (report, null);
        }
        catch (FirewallAccessDeniedException)
        {
            return (null, NeedsRoot);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            return (null, "the firewall could not be read: " + CollectorOutput.Clean(ex.Message));
        }
    }

    /// <summary>
    /// Puts back, as rules that match no IMDS packet, the rules the collector left out ("# imds-collector: skip CHAIN N"),
    /// so the rules that stay keep their positions (#N in findings, as a local run shows them).
    /// </summary>
    internal static string ExpandSkips(string text, bool v6, out int skipped)
    {
        skipped = 0;
        const string marker = "# imds-collector: skip ";
        if (!text.Contains(marker, StringComparison.Ordinal))
        {
            return text;
        }

        string nowhere = v6 ? "-s ::1/128 -d ::1/128" : "-s 255.255.255.254/32 -d 255.255.255.254/32";
        var sb = new StringBuilder(text.Length * 2);
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(marker, StringComparison.Ordinal))
            {
                string[] f = line.Substring(marker.Length).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length == 2 && f[0].Length <= 64 && f[0].All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')
                    && int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 && skipped + n <= 500_000)
                {
                    skipped += n;
                    for (int i = 0; i < n; i++)
                    {
                        sb.Append("-A ").Append(f[0]).Append(' ').Append(nowhere).Append('\n');
                    }
                }

                continue;
            }

            if (line.Length > 0)
            {
                sb.Append(line).Append('\n');
            }
        }

        return sb.ToString();
    }

    /// <summary>A dump cut at a line: each open table gets its COMMIT so the rules before the cut are read.</summary>
    internal static string CloseIptablesDump(string text)
    {
        var sb = new StringBuilder();
        bool open = false;
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith('*'))
            {
                if (open)
                {
                    sb.Append("COMMIT\n");
                }

                open = true;
            }
            else if (line == "COMMIT")
            {
                open = false;
            }

            if (line.Length > 0)
            {
                sb.Append(line).Append('\n');
            }
        }

        if (open)
        {
            sb.Append("COMMIT\n");
        }

        return sb.ToString();
    }

    private static IReadOnlyList<ImdsProxySetting> ParseProxies(CollectorOutput o, Dictionary<string, string> environment, uint uid, CollectorSection? meta, string root, List<string> notes)
    {
        string procRoot = Path.Combine(root, "proc-of-target");
        Directory.CreateDirectory(procRoot);
        CollectorSection? processes = o.Section("processes");
        bool readProcesses = uid == 0 && processes is not null && processes.Get("skipped") is null && !processes.Omitted;
        if (uid == 0 && (processes is null || processes.Omitted))
        {
            notes.Add("the collector's list of running processes with a proxy is missing (its output was cut)");
        }

        if (readProcesses)
        {
            WriteProcesses(processes!, procRoot);
        }

        string home = meta?.Get("home") is { Length: > 0 } h && h.StartsWith('/') ? CollectorOutput.Clean(h, 200) : "/root";
        string? user = meta?.Get("user") is { Length: > 0 } un ? CollectorOutput.Clean(un, 64) : null;
        ProxyInspection inspection = ProxyInspector.Inspect(new ProxyScanOptions
        {
            RootPath = root,
            HomeDirectory = home,
            UserName = user ?? (uid == 0 ? "root" : "uid " + uid.ToString(CultureInfo.InvariantCulture)),
            ProcessEnvironment = environment,
            IncludeRunningProcesses = readProcesses,
            ProcPath = procRoot,
        });
        return inspection.Settings.Select(s => Relocate(s, root)).ToList();
    }

    /// <summary>An absolute target path as a relative one under the temporary root, or null when it is not a plain path.</summary>
    private static string? SafeRelativePath(string path)
    {
        if (!path.StartsWith('/') || path.Length > 300)
        {
            return null;
        }

        string[] parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts.Any(p => p is "." or ".." || p.Any(c => char.IsControl(c) || c == '\\')))
        {
            return null;
        }

        if (parts[0] is "proc" or "proc-of-target")
        {
            return null;
        }

        return Path.Combine(parts);
    }

    /// <summary>"N:text" lines back on their line numbers (the lines in between, not collected, left empty).</summary>
    private static string Rebuild(IReadOnlyList<string> numbered)
    {
        var lines = new SortedDictionary<int, string>();
        foreach (string l in numbered)
        {
            int colon = l.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && int.TryParse(l.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is > 0 and <= 100_000)
            {
                lines[n] = l.Substring(colon + 1);
            }
        }

        var sb = new StringBuilder();
        int current = 1;
        foreach (var (n, text) in lines)
        {
            while (current < n)
            {
                sb.Append('\n');
                current++;
            }

            sb.Append(text).Append('\n');
            current++;
        }

        return sb.ToString();
    }

    private static void WriteProcesses(CollectorSection processes, string procRoot)
    {
        foreach (string p in processes.All("pid").Take(64))
        {
            int space = p.IndexOf(' ', StringComparison.Ordinal);
            string pidText = space < 0 ? p : p.Substring(0, space);
            if (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid <= 0)
            {
                continue;
            }

            string rest = space < 0 ? "- ?" : p.Substring(space + 1);
            int s2 = rest.IndexOf(' ', StringComparison.Ordinal);
            string unit = s2 < 0 ? rest : rest.Substring(0, s2);
            string comm = s2 < 0 ? "?" : rest.Substring(s2 + 1);
            string dir = Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "comm"), CollectorOutput.Clean(comm, 64) + "\n");
            if (unit != "-" && unit.EndsWith(".service", StringComparison.Ordinal))
            {
                File.WriteAllText(Path.Combine(dir, "cgroup"), "0::/system.slice/" + CollectorOutput.Clean(unit, 120) + "\n");
            }

            string prefix = "env." + pidText + ".";
            var sb = new StringBuilder();
            foreach (var kv in processes.Fields.Where(f => f.Key.StartsWith(prefix, StringComparison.Ordinal)))
            {
                string variable = kv.Key.Substring(prefix.Length);
                if (VariableName().IsMatch(variable) && ProxyEnvironmentEvaluator.IsProxyRelated(variable))
                {
                    string value = ProxyEnvironmentEvaluator.IsProxyVariable(variable) ? ProxyUrlMasker.MaskPassword(kv.Value) ?? string.Empty : kv.Value;
                    sb.Append(variable).Append('=').Append(value).Append('\0');
                }
            }

            File.WriteAllText(Path.Combine(dir, "environ"), sb.ToString());
        }
    }

    /// <summary>
    /// The same setting with the target's paths instead of the temporary tree's, and no scan options (it cannot be
    /// repaired from here). Running processes' settings already name /proc/PID/environ, not the tree.
    /// </summary>
    private static ImdsProxySetting Relocate(ImdsProxySetting s, string root)
    {
        string? file = s.File;
        if (file is not null && file.StartsWith(root, StringComparison.Ordinal))
        {
            file = "/" + file.Substring(root.Length).TrimStart('/');
        }

        return new ImdsProxySetting(s.Source, s.Scope, s.Context, file, s.Line, s.Variable, s.Value, s.Effective, s.NoProxy, s.ImdsExempt, s.UsedBy,
            s.RestartRequired, "/", s.ProcessId);
    }
}
