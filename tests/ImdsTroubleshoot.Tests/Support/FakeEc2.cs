using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Security;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>One instance the fake knows, with its metadata options as wire strings.</summary>
public sealed class FakeInstance
{
    internal FakeInstance(string instanceId, string reservationId)
    {
        InstanceId = instanceId;
        ReservationId = reservationId;
    }

    public string InstanceId { get; }

    public string ReservationId { get; }

    public string? Name
    {
        get => Tags.TryGetValue("Name", out var n) ? n : null;
        set
        {
            if (value is null)
            {
                Tags.Remove("Name");
            }
            else
            {
                Tags["Name"] = value;
            }
        }
    }

    public Dictionary<string, string> Tags { get; } = new(StringComparer.Ordinal);

    /// <summary>pending, running, shutting-down, terminated, stopping, stopped.</summary>
    public string InstanceState { get; set; } = "running";

    public string InstanceType { get; set; } = "t3.micro";

    public string AvailabilityZone { get; set; } = "us-east-1a";

    /// <summary>"windows" or null (Linux: the element is omitted, as EC2 does).</summary>
    public string? Platform { get; set; }

    public string HttpTokens { get; set; } = "optional";

    public int HttpPutResponseHopLimit { get; set; } = 1;

    public string HttpEndpoint { get; set; } = "enabled";

    public string HttpProtocolIpv6 { get; set; } = "disabled";

    public string InstanceMetadataTags { get; set; } = "disabled";

    /// <summary>pending or applied.</summary>
    public string MetadataState { get; set; } = "applied";

    internal DateTimeOffset? PendingUntil { get; set; }

    internal int Order { get; set; }

    public static int StateCode(string state) => state switch
    {
        "pending" => 0,
        "running" => 16,
        "shutting-down" => 32,
        "terminated" => 48,
        "stopping" => 64,
        "stopped" => 80,
        _ => 16,
    };
}

/// <summary>One request the fake received.</summary>
public sealed record FakeEc2Request(
    DateTimeOffset Time,
    string Action,
    IReadOnlyDictionary<string, string> Parameters,
    string UserAgent,
    string? AccessKeyId,
    string? SigningRegion,
    int Status,
    string? ErrorCode);

/// <summary>
/// A loopback EC2 endpoint speaking the EC2 query protocol (form POST in, XML out), enough for the metadata
/// option cmdlets and checked against the AWS CLI v2: DescribeInstances with InstanceId.N, Filter.N and
/// MaxResults/NextToken pagination; ModifyInstanceMetadataOptions with pending -> applied after
/// <see cref="ApplyDelay"/>; the real service's error envelope and codes; injectable throttling
/// (RequestLimitExceeded, 503) and faults; a request log and call counts.
/// </summary>
public sealed class FakeEc2 : IDisposable
{
    public const string ApiVersion = "2016-11-15";
    public const string OwnerId = "123456789012";
    private const string Xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/";

    private static readonly string[] s_knownFilters =
    {
        "instance-id", "instance-state-name", "instance-state-code", "instance-type", "availability-zone", "platform", "tag-key", "tag-value",
        "reservation-id", "owner-id", "metadata-options.http-tokens", "metadata-options.http-put-response-hop-limit", "metadata-options.http-endpoint",
        "metadata-options.http-protocol-ipv4", "metadata-options.http-protocol-ipv6", "metadata-options.instance-metadata-tags", "metadata-options.state",
    };

    private readonly LoopbackHttpServer _server;
    private readonly object _lock = new();
    private readonly Dictionary<string, FakeInstance> _instances = new(StringComparer.Ordinal);
    private readonly List<FakeInstance> _ordered = new();
    private readonly ConcurrentQueue<FakeEc2Request> _requests = new();
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FakeBucket> _buckets = new(StringComparer.Ordinal);
    private int _reservations;
    private int _throttleNext;
    private int _throttled;

    public FakeEc2()
    {
        _server = new LoopbackHttpServer(HandleAsync);
        Url = _server.Url;
    }

    public Uri Url { get; }

    /// <summary>How long a metadata change stays pending before DescribeInstances shows it applied.</summary>
    public TimeSpan ApplyDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Page size when the client sends no MaxResults; null = everything at once (what EC2 does).</summary>
    public int? UnpaginatedPageSize { get; set; }

    /// <summary>Delay added before every answer.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Answer every request with RequestLimitExceeded.</summary>
    public bool ThrottleAll { get; set; }

    /// <summary>Actions answered with UnauthorizedOperation (403).</summary>
    public HashSet<string> DeniedActions { get; } = new(StringComparer.Ordinal);

    /// <summary>Instances ModifyInstanceMetadataOptions refuses with UnauthorizedOperation (as a tag-conditioned IAM policy would).</summary>
    public HashSet<string> DeniedInstances { get; } = new(StringComparer.Ordinal);

    /// <summary>InvalidInstanceID.NotFound without naming the IDs (older or unusual answers), to exercise clients' fallbacks.</summary>
    public bool VagueNotFoundMessages { get; set; }

    /// <summary>When set, requests signed with another access key ID get AuthFailure (401).</summary>
    public string? RequiredAccessKeyId { get; set; }

    /// <summary>Raised (outside the fake's lock) when an instance's pending metadata change becomes applied.</summary>
    public event Action<FakeInstance>? Applied;

    public int ThrottledCount => Volatile.Read(ref _throttled);

    public IReadOnlyList<FakeEc2Request> Requests => _requests.ToArray();

    public int TotalCalls => _calls.Values.Sum();

    /// <summary>Requests received for an action, throttled and failed ones included.</summary>
    public int Calls(string action) => _calls.TryGetValue(action, out int n) ? n : 0;

    public void ResetCounters()
    {
        _calls.Clear();
        _requests.Clear();
        Interlocked.Exchange(ref _throttled, 0);
    }

    /// <summary>Answer the next <paramref name="count"/> requests with RequestLimitExceeded (503).</summary>
    public void ThrottleNext(int count) => Interlocked.Exchange(ref _throttleNext, count);

    /// <summary>EC2's token bucket for one action: <paramref name="burst"/> at once, then <paramref name="perSecond"/>.</summary>
    public void SetRateLimit(string action, int burst, double perSecond)
    {
        lock (_lock)
        {
            _buckets[action] = new FakeBucket(burst, perSecond);
        }
    }

    public FakeInstance Add(string instanceId, string? name = null, Action<FakeInstance>? configure = null, string? reservationId = null)
    {
        lock (_lock)
        {
            var instance = new FakeInstance(instanceId, reservationId ?? $"r-{Interlocked.Increment(ref _reservations):x17}") { Name = name, Order = _ordered.Count };
            configure?.Invoke(instance);
            _instances.Add(instanceId, instance);
            _ordered.Add(instance);
            return instance;
        }
    }

    /// <summary>Adds <paramref name="count"/> instances with IDs i-00000000000000001.. (plus <paramref name="idOffset"/>), one per reservation.</summary>
    public IReadOnlyList<FakeInstance> AddMany(int count, Action<int, FakeInstance>? configure = null, long idOffset = 0)
    {
        var added = new List<FakeInstance>(count);
        for (int i = 0; i < count; i++)
        {
            added.Add(Add($"i-{idOffset + i + 1:x17}", $"fleet-{i + 1}", inst => configure?.Invoke(i, inst)));
        }

        return added;
    }

    public FakeInstance this[string instanceId]
    {
        get
        {
            lock (_lock)
            {
                return _instances[instanceId];
            }
        }
    }

    /// <summary>Makes pending changes whose delay has passed applied now (raises <see cref="Applied"/>).</summary>
    public void Settle()
    {
        List<FakeInstance> applied;
        lock (_lock)
        {
            applied = SettleLocked(_ordered);
        }

        Raise(applied);
    }

    private List<FakeInstance> SettleLocked(IEnumerable<FakeInstance> instances)
    {
        var applied = new List<FakeInstance>();
        DateTimeOffset now = DateTimeOffset.UtcNow;
        foreach (var i in instances)
        {
            if (i.PendingUntil is { } until && until <= now)
            {
                i.PendingUntil = null;
                i.MetadataState = "applied";
                applied.Add(i);
            }
        }

        return applied;
    }

    private void Raise(List<FakeInstance> applied)
    {
        foreach (var i in applied)
        {
            Applied?.Invoke(i);
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        string body = await LoopbackHttpServer.ReadBodyAsync(context).ConfigureAwait(false);
        var parameters = ParseForm(context.Request.Url?.Query?.TrimStart('?') ?? string.Empty);
        foreach (var kv in ParseForm(body))
        {
            parameters[kv.Key] = kv.Value;
        }

        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency).ConfigureAwait(false);
        }

        string action = parameters.TryGetValue("Action", out var a) ? a : string.Empty;
        var (accessKey, region) = ParseAuthorization(context.Request.Headers["Authorization"]);
        Answer answer = Process(action, parameters, accessKey);
        _calls.AddOrUpdate(action, 1, (_, n) => n + 1);
        _requests.Enqueue(new FakeEc2Request(DateTimeOffset.UtcNow, action, parameters, context.Request.UserAgent ?? string.Empty, accessKey, region, answer.Status, answer.ErrorCode));
        if (answer.ErrorCode == "RequestLimitExceeded")
        {
            Interlocked.Increment(ref _throttled);
        }

        context.Response.Headers["Server"] = "AmazonEC2";
        await LoopbackHttpServer.RespondAsync(context, answer.Status, "text/xml;charset=UTF-8", answer.Body).ConfigureAwait(false);
    }

    private readonly record struct Answer(int Status, string Body, string? ErrorCode);

    private static Answer Error(int status, string code, string message) => new(status,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" + code + "</Code><Message>" + SecurityElement.Escape(message) +
        "</Message></Error></Errors><RequestID>" + Guid.NewGuid() + "</RequestID></Response>", code);

    private Answer Process(string action, Dictionary<string, string> p, string? accessKey)
    {
        if (ThrottleAll || TakeThrottle() || !TakeBucket(action))
        {
            return Error(503, "RequestLimitExceeded", "Request limit exceeded.");
        }

        if (RequiredAccessKeyId is not null && accessKey != RequiredAccessKeyId)
        {
            return Error(401, "AuthFailure", "AWS was not able to validate the provided access credentials");
        }

        if (!p.TryGetValue("Version", out var version) || version != ApiVersion)
        {
            return Error(400, "InvalidParameterValue", $"Invalid or missing Version: '{version}'. Expecting {ApiVersion}.");
        }

        if (DeniedActions.Contains(action))
        {
            return Error(403, "UnauthorizedOperation",
                $"You are not authorized to perform this operation. User: arn:aws:iam::{OwnerId}:user/test is not authorized to perform: ec2:{action} because no identity-based policy allows the ec2:{action} action");
        }

        return action switch
        {
            "DescribeInstances" => Describe(p),
            "ModifyInstanceMetadataOptions" => Modify(p),
            "" => Error(400, "MissingAction", "The request must contain the parameter Action."),
            _ => Error(400, "InvalidAction", $"The action {action} is not valid for this web service."),
        };
    }

    private bool TakeThrottle()
    {
        while (true)
        {
            int n = Volatile.Read(ref _throttleNext);
            if (n <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _throttleNext, n - 1, n) == n)
            {
                return true;
            }
        }
    }

    private bool TakeBucket(string action)
    {
        lock (_lock)
        {
            return !_buckets.TryGetValue(action, out var bucket) || bucket.TryTake();
        }
    }

    private static bool IsWellFormedId(string id) => Regex.IsMatch(id, "^i-([0-9a-f]{8}|[0-9a-f]{17})$");

    private Answer Describe(Dictionary<string, string> p)
    {
        var ids = Indexed(p, "InstanceId");
        var filters = new List<(string Name, List<string> Values)>();
        foreach (int n in p.Keys.Select(k => Regex.Match(k, @"^Filter\.(\d+)\.Name$")).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).OrderBy(n => n))
        {
            filters.Add((p[$"Filter.{n}.Name"], Indexed(p, $"Filter.{n}.Value")));
        }

        int? maxResults = null;
        if (p.TryGetValue("MaxResults", out var mr))
        {
            if (!int.TryParse(mr, NumberStyles.Integer, CultureInfo.InvariantCulture, out int m) || m < 5 || m > 1000)
            {
                return Error(400, "InvalidParameterValue", $"Value ( {mr} ) for parameter maxResults is invalid. Expecting a value greater than 5.");
            }

            maxResults = m;
        }

        if (ids.Count > 0 && maxResults is not null)
        {
            return Error(400, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults");
        }

        var malformed = ids.FirstOrDefault(id => !IsWellFormedId(id));
        if (malformed is not null)
        {
            return Error(400, "InvalidInstanceID.Malformed", $"Invalid id: \"{malformed}\"");
        }

        if (filters.Count > 50)
        {
            return Error(400, "FilterLimitExceeded", "The maximum number of filters is 50.");
        }

        foreach (var f in filters)
        {
            if (!f.Name.StartsWith("tag:", StringComparison.Ordinal) && !s_knownFilters.Contains(f.Name))
            {
                return Error(400, "InvalidParameterValue", $"The filter '{f.Name}' is invalid");
            }

            if (f.Values.Count > 200)
            {
                return Error(400, "FilterLimitExceeded", $"The maximum number of filter values specified on a single call is 200");
            }
        }

        if (p.TryGetValue("DryRun", out var dry) && dry == "true")
        {
            return Error(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
        }

        List<FakeInstance> matches;
        List<FakeInstance> applied;
        string page;
        lock (_lock)
        {
            var unknown = ids.Where(id => !_instances.ContainsKey(id)).Distinct().ToList();
            if (unknown.Count > 0 && VagueNotFoundMessages)
            {
                return Error(400, "InvalidInstanceID.NotFound", "One or more of the instance IDs in the request do not exist");
            }

            if (unknown.Count == 1)
            {
                return Error(400, "InvalidInstanceID.NotFound", $"The instance ID '{unknown[0]}' does not exist");
            }

            if (unknown.Count > 1)
            {
                return Error(400, "InvalidInstanceID.NotFound", $"The instance IDs '{string.Join(", ", unknown)}' do not exist");
            }

            IEnumerable<FakeInstance> selected = ids.Count > 0 ? _ordered.Where(i => ids.Contains(i.InstanceId)) : _ordered;
            matches = selected.Where(i => filters.All(f => Matches(i, f.Name, f.Values))).ToList();
            applied = SettleLocked(matches);
            int size = maxResults ?? UnpaginatedPageSize ?? int.MaxValue;
            string fingerprint = Fingerprint(ids, filters);
            int offset = 0;
            if (p.TryGetValue("NextToken", out var token) && token.Length > 0)
            {
                var m = Regex.Match(token, @"^fake-(\d+)-([0-9a-f]+)$");
                if (!m.Success || m.Groups[2].Value != fingerprint)
                {
                    return Error(400, "InvalidParameterValue", $"Invalid value '{token}' for nextToken.");
                }

                offset = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            }

            var slice = matches.Skip(offset).Take(size).ToList();
            string? next = offset + slice.Count < matches.Count ? $"fake-{offset + slice.Count}-{fingerprint}" : null;
            page = DescribeXml(slice, next);
        }

        Raise(applied);
        return new Answer(200, page, null);
    }

    private static string Fingerprint(List<string> ids, List<(string Name, List<string> Values)> filters)
    {
        var text = string.Join(",", ids) + "|" + string.Join(";", filters.Select(f => f.Name + "=" + string.Join(",", f.Values)));
        return ((uint)text.GetHashCode(StringComparison.Ordinal)).ToString("x8", CultureInfo.InvariantCulture);
    }

    private static bool Matches(FakeInstance i, string name, List<string> values)
    {
        IEnumerable<string> actual = name switch
        {
            "instance-id" => new[] { i.InstanceId },
            "instance-state-name" => new[] { i.InstanceState },
            "instance-state-code" => new[] { FakeInstance.StateCode(i.InstanceState).ToString(CultureInfo.InvariantCulture) },
            "instance-type" => new[] { i.InstanceType },
            "availability-zone" => new[] { i.AvailabilityZone },
            "platform" => i.Platform is null ? Array.Empty<string>() : new[] { i.Platform },
            "reservation-id" => new[] { i.ReservationId },
            "owner-id" => new[] { OwnerId },
            "tag-key" => i.Tags.Keys,
            "tag-value" => i.Tags.Values,
            "metadata-options.http-tokens" => new[] { i.HttpTokens },
            "metadata-options.http-put-response-hop-limit" => new[] { i.HttpPutResponseHopLimit.ToString(CultureInfo.InvariantCulture) },
            "metadata-options.http-endpoint" => new[] { i.HttpEndpoint },
            "metadata-options.http-protocol-ipv4" => new[] { "enabled" },
            "metadata-options.http-protocol-ipv6" => new[] { i.HttpProtocolIpv6 },
            "metadata-options.instance-metadata-tags" => new[] { i.InstanceMetadataTags },
            "metadata-options.state" => new[] { i.MetadataState },
            _ when name.StartsWith("tag:", StringComparison.Ordinal) => i.Tags.TryGetValue(name.Substring(4), out var v) ? new[] { v } : Array.Empty<string>(),
            _ => Array.Empty<string>(),
        };
        var patterns = values.Select(v => new Regex("^" + Regex.Escape(v).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$", RegexOptions.CultureInvariant)).ToList();
        return actual.Any(a => patterns.Any(r => r.IsMatch(a)));
    }

    private Answer Modify(Dictionary<string, string> p)
    {
        if (!p.TryGetValue("InstanceId", out var id) || id.Length == 0)
        {
            return Error(400, "MissingParameter", "The request must contain the parameter InstanceId");
        }

        if (!IsWellFormedId(id))
        {
            return Error(400, "InvalidInstanceID.Malformed", $"Invalid id: \"{id}\"");
        }

        string? Check(string key, params string[] allowed) =>
            p.TryGetValue(key, out var v) && !allowed.Contains(v) ? $"Value ({v}) for parameter {key} is invalid. Valid values: {string.Join(", ", allowed)}" : null;
        string? problem = Check("HttpTokens", "optional", "required") ?? Check("HttpEndpoint", "enabled", "disabled")
            ?? Check("HttpProtocolIpv6", "enabled", "disabled") ?? Check("InstanceMetadataTags", "enabled", "disabled");
        int? hop = null;
        if (p.TryGetValue("HttpPutResponseHopLimit", out var hopText))
        {
            if (!int.TryParse(hopText, NumberStyles.Integer, CultureInfo.InvariantCulture, out int h) || h < 1 || h > 64)
            {
                problem ??= $"The HttpPutResponseHopLimit value {hopText} is invalid. Specify a value from 1 to 64.";
            }
            else
            {
                hop = h;
            }
        }

        if (problem is not null)
        {
            return Error(400, "InvalidParameterValue", problem);
        }

        FakeInstance instance;
        lock (_lock)
        {
            if (!_instances.TryGetValue(id, out instance!))
            {
                return Error(400, "InvalidInstanceID.NotFound", $"The instance ID '{id}' does not exist");
            }

            if (DeniedInstances.Contains(id))
            {
                return Error(403, "UnauthorizedOperation", "You are not authorized to perform this operation. Encoded authorization failure message: " + Convert.ToBase64String(Encoding.UTF8.GetBytes("denied " + id)));
            }

            if (instance.InstanceState is "terminated" or "shutting-down")
            {
                return Error(400, "IncorrectInstanceState", $"The instance '{id}' is not in a state from which it can be modified.");
            }

            if (p.TryGetValue("DryRun", out var dry) && dry == "true")
            {
                return Error(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
            }

            if (p.TryGetValue("HttpTokens", out var t))
            {
                instance.HttpTokens = t;
            }

            if (p.TryGetValue("HttpEndpoint", out var e))
            {
                instance.HttpEndpoint = e;
            }

            if (hop is { } hv)
            {
                instance.HttpPutResponseHopLimit = hv;
            }

            if (p.TryGetValue("HttpProtocolIpv6", out var v6))
            {
                instance.HttpProtocolIpv6 = v6;
            }

            if (p.TryGetValue("InstanceMetadataTags", out var tags))
            {
                instance.InstanceMetadataTags = tags;
            }

            instance.MetadataState = "pending";
            instance.PendingUntil = DateTimeOffset.UtcNow + ApplyDelay;
        }

        TimeSpan delay = ApplyDelay;
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(delay, _server.Stopping).ConfigureAwait(false);
                Settle();
            }
            catch (OperationCanceledException)
            {
            }
        });

        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ModifyInstanceMetadataOptionsResponse xmlns=\"").Append(Xmlns).Append("\">");
        sb.Append("<requestId>").Append(Guid.NewGuid()).Append("</requestId>");
        sb.Append("<instanceId>").Append(id).Append("</instanceId>");
        lock (_lock)
        {
            AppendOptions(sb, "instanceMetadataOptions", instance);
        }

        sb.Append("</ModifyInstanceMetadataOptionsResponse>");
        return new Answer(200, sb.ToString(), null);
    }

    private static void AppendOptions(StringBuilder sb, string element, FakeInstance i)
    {
        sb.Append('<').Append(element).Append('>')
            .Append("<state>").Append(i.MetadataState).Append("</state>")
            .Append("<httpTokens>").Append(i.HttpTokens).Append("</httpTokens>")
            .Append("<httpPutResponseHopLimit>").Append(i.HttpPutResponseHopLimit.ToString(CultureInfo.InvariantCulture)).Append("</httpPutResponseHopLimit>")
            .Append("<httpEndpoint>").Append(i.HttpEndpoint).Append("</httpEndpoint>")
            .Append("<httpProtocolIpv4>enabled</httpProtocolIpv4>")
            .Append("<httpProtocolIpv6>").Append(i.HttpProtocolIpv6).Append("</httpProtocolIpv6>")
            .Append("<instanceMetadataTags>").Append(i.InstanceMetadataTags).Append("</instanceMetadataTags>")
            .Append("</").Append(element).Append('>');
    }

    private static string DescribeXml(List<FakeInstance> instances, string? nextToken)
    {
        var sb = new StringBuilder(2048 + (instances.Count * 2400));
        sb.Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\"").Append(Xmlns).Append("\">");
        sb.Append("<requestId>").Append(Guid.NewGuid()).Append("</requestId>");
        if (instances.Count == 0)
        {
            sb.Append("<reservationSet/>");
        }
        else
        {
            sb.Append("<reservationSet>");
            foreach (var group in instances.GroupBy(i => i.ReservationId))
            {
                sb.Append("<item><reservationId>").Append(group.Key).Append("</reservationId><ownerId>").Append(OwnerId).Append("</ownerId><groupSet/><instancesSet>");
                foreach (var i in group)
                {
                    AppendInstance(sb, i);
                }

                sb.Append("</instancesSet></item>");
            }

            sb.Append("</reservationSet>");
        }

        if (nextToken is not null)
        {
            sb.Append("<nextToken>").Append(nextToken).Append("</nextToken>");
        }

        sb.Append("</DescribeInstancesResponse>");
        return sb.ToString();
    }

    private static void AppendInstance(StringBuilder sb, FakeInstance i)
    {
        string ip = $"10.0.{(i.Order / 250) % 250}.{(i.Order % 250) + 4}";
        sb.Append("<item>")
            .Append("<instanceId>").Append(i.InstanceId).Append("</instanceId>")
            .Append("<imageId>ami-0abcdef1234567890</imageId>")
            .Append("<instanceState><code>").Append(FakeInstance.StateCode(i.InstanceState).ToString(CultureInfo.InvariantCulture)).Append("</code><name>").Append(i.InstanceState).Append("</name></instanceState>")
            .Append("<privateDnsName>ip-").Append(ip.Replace('.', '-')).Append(".ec2.internal</privateDnsName>")
            .Append("<dnsName/><reason/><amiLaunchIndex>0</amiLaunchIndex><productCodes/>")
            .Append("<instanceType>").Append(i.InstanceType).Append("</instanceType>")
            .Append("<launchTime>2024-05-01T12:00:00.000Z</launchTime>")
            .Append("<placement><availabilityZone>").Append(i.AvailabilityZone).Append("</availabilityZone><groupName/><tenancy>default</tenancy></placement>");
        if (i.Platform is not null)
        {
            sb.Append("<platform>").Append(i.Platform).Append("</platform>");
        }

        sb.Append("<monitoring><state>disabled</state></monitoring>")
            .Append("<subnetId>subnet-0123456789abcdef0</subnetId><vpcId>vpc-0123456789abcdef0</vpcId>")
            .Append("<privateIpAddress>").Append(ip).Append("</privateIpAddress>")
            .Append("<groupSet><item><groupId>sg-0123456789abcdef0</groupId><groupName>default</groupName></item></groupSet>")
            .Append("<architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName>")
            .Append("<blockDeviceMapping/><virtualizationType>hvm</virtualizationType>");
        if (i.Tags.Count == 0)
        {
            sb.Append("<tagSet/>");
        }
        else
        {
            sb.Append("<tagSet>");
            foreach (var tag in i.Tags)
            {
                sb.Append("<item><key>").Append(SecurityElement.Escape(tag.Key)).Append("</key><value>").Append(SecurityElement.Escape(tag.Value)).Append("</value></item>");
            }

            sb.Append("</tagSet>");
        }

        sb.Append("<hypervisor>xen</hypervisor><networkInterfaceSet/><ebsOptimized>false</ebsOptimized><enaSupport>true</enaSupport>");
        AppendOptions(sb, "metadataOptions", i);
        sb.Append("</item>");
    }

    private static List<string> Indexed(Dictionary<string, string> p, string prefix)
    {
        var pattern = new Regex("^" + Regex.Escape(prefix) + @"\.(\d+)$");
        return p.Select(kv => (Match: pattern.Match(kv.Key), kv.Value))
            .Where(x => x.Match.Success)
            .OrderBy(x => int.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture))
            .Select(x => x.Value)
            .ToList();
    }

    private static Dictionary<string, string> ParseForm(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            string key = Uri.UnescapeDataString((eq < 0 ? pair : pair.Substring(0, eq)).Replace('+', ' '));
            string value = eq < 0 ? string.Empty : Uri.UnescapeDataString(pair.Substring(eq + 1).Replace('+', ' '));
            result[key] = value;
        }

        return result;
    }

    /// <summary>Access key ID and Region from "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/ec2/aws4_request, ...".</summary>
    private static (string? AccessKey, string? Region) ParseAuthorization(string? header)
    {
        var m = Regex.Match(header ?? string.Empty, @"Credential=([^/\s,]+)/\d{8}/([^/\s,]+)/");
        return m.Success ? (m.Groups[1].Value, m.Groups[2].Value) : (null, null);
    }

    public void Dispose()
    {
        _server.Dispose();
    }

    /// <summary>A token bucket of its own, so that the fake does not share code with what it tests.</summary>
    private sealed class FakeBucket
    {
        private readonly int _capacity;
        private readonly double _rate;
        private double _tokens;
        private DateTime _last = DateTime.UtcNow;

        public FakeBucket(int capacity, double rate)
        {
            _capacity = capacity;
            _rate = rate;
            _tokens = capacity;
        }

        public bool TryTake()
        {
            DateTime now = DateTime.UtcNow;
            _tokens = Math.Min(_capacity, _tokens + ((now - _last).TotalSeconds * _rate));
            _last = now;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens -= 1;
            return true;
        }
    }
}
