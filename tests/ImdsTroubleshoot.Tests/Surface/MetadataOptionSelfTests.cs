using System;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Http;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Amazon.PowerShell.Common;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>
/// "No instance given" on an EC2 instance: the cmdlet asks the registered <see cref="IInstanceIdentitySource"/>. These
/// tests swap the process-wide source, so they run alone; the last one wires the fake EC2 endpoint to the emulator.
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class MetadataOptionSelfTests : IDisposable
{
    private readonly IInstanceIdentitySource _previous = InstanceIdentityProvider.Current;
    private readonly FakeEc2 _fake = new();
    private readonly PsSession _ps = new();

    public MetadataOptionSelfTests()
    {
        _ps.Runspace.SessionStateProxy.SetVariable("StoredAWSCredentials", AWSPSCredentials.FromKeys("AKIDSELFTEST000001", "self-secret"));
        _ps.Runspace.SessionStateProxy.SetVariable("StoredAWSRegion", "us-east-1");
        _ps.Ok($"$PSDefaultParameterValues['*-ImdsMetadataOption:EndpointUrl'] = '{_fake.Url}'");
        _fake.Add("i-0123456789abcdef0", "web-1", i => i.HttpEndpoint = "disabled");
    }

    public void Dispose()
    {
        InstanceIdentityProvider.Current = _previous;
        _ps.Dispose();
        _fake.Dispose();
    }

    private sealed class Fixed : IInstanceIdentitySource
    {
        private readonly InstanceIdentity? _identity;
        private readonly Exception? _failure;

        public Fixed(InstanceIdentity? identity, Exception? failure = null)
        {
            _identity = identity;
            _failure = failure;
        }

        public int Calls { get; private set; }

        public Task<InstanceIdentity?> TryGetAsync(CancellationToken cancellationToken)
        {
            Calls++;
            return _failure is null ? Task.FromResult(_identity) : Task.FromException<InstanceIdentity?>(_failure);
        }
    }

    private ErrorRecord Terminating(string command)
    {
        var r = _ps.Invoke("try { " + command + " } catch { $_ }");
        return Assert.Single(r.Objects<ErrorRecord>());
    }

    [Fact]
    public void With_no_instance_given_it_reads_this_instance_in_this_instances_Region()
    {
        var source = new Fixed(new InstanceIdentity("i-0123456789abcdef0", "ap-southeast-2"));
        InstanceIdentityProvider.Current = source;
        var r = _ps.Ok("Get-ImdsMetadataOption -Verbose");
        var o = r.Objects<ImdsMetadataOption>().Single();
        Assert.Equal(("i-0123456789abcdef0", "ap-southeast-2", FeatureState.Disabled), (o.InstanceId, o.Region, o.HttpEndpoint!.Value));
        Assert.Equal("ap-southeast-2", _fake.Requests.Single().SigningRegion); // the instance's Region beats $StoredAWSRegion
        Assert.Contains(r.Verbose, v => v.Contains("instance's identity (IMDS)", StringComparison.Ordinal));
        Assert.Equal(1, source.Calls);

        var explicitRegion = _ps.Ok("Get-ImdsMetadataOption -Region eu-north-1").Objects<ImdsMetadataOption>().Single();
        Assert.Equal("eu-north-1", explicitRegion.Region);
    }

    [Fact]
    public void When_IMDS_cannot_say_who_this_is_the_error_says_to_pass_InstanceId_and_Region()
    {
        InstanceIdentityProvider.Current = new Fixed(null, new InstanceIdentityUnavailableException("IMDS answered 403 Forbidden: HttpEndpoint may be disabled"));
        var failed = Terminating("Get-ImdsMetadataOption");
        Assert.StartsWith("InstanceIdentityUnavailable,", failed.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(ErrorCategory.ResourceUnavailable, failed.CategoryInfo.Category);
        Assert.Contains("IMDS answered 403 Forbidden", failed.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("-InstanceId and -Region", failed.ErrorDetails.RecommendedAction, StringComparison.Ordinal);

        InstanceIdentityProvider.Current = new Fixed(null);
        Assert.Contains("did not answer", Terminating("Get-ImdsMetadataOption").Exception.Message, StringComparison.Ordinal);
        Assert.Equal(0, _fake.TotalCalls);
    }

    [Fact]
    public void Naming_instances_or_piping_nothing_never_asks_IMDS()
    {
        var source = new Fixed(new InstanceIdentity("i-0123456789abcdef0", "eu-west-1"));
        InstanceIdentityProvider.Current = source;
        _ps.Ok("Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0");
        _ps.Ok("@() | Get-ImdsMetadataOption");
        _ps.Ok("Get-ImdsMetadataOption -All");
        Assert.Equal(0, source.Calls);
    }

    private static int RawGet(Uri endpoint, string path)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        using var response = http.GetAsync(new Uri(endpoint, path)).GetAwaiter().GetResult();
        return (int)response.StatusCode;
    }

    [Fact]
    public void Set_through_the_fake_EC2_endpoint_turns_the_emulated_instances_IMDS_back_on()
    {
        using var emulator = ImdsEmulator.Start(new EmulatorOptions
        {
            Name = "test-ec2-wired",
            Settings = new EmulatorSettings { HttpEndpoint = FeatureState.Disabled },
        });

        // The fake's instance i-0123456789abcdef0 is the instance the emulator serves: its applied options drive the emulator.
        _fake.ApplyDelay = TimeSpan.FromMilliseconds(500);
        _fake.Applied += instance =>
        {
            if (instance.InstanceId == "i-0123456789abcdef0")
            {
                emulator.UpdateSettings(s => s with
                {
                    HttpEndpoint = MetadataOptionValues.ParseFeature(instance.HttpEndpoint)!.Value,
                    HttpTokens = MetadataOptionValues.ParseTokens(instance.HttpTokens)!.Value,
                    HttpPutResponseHopLimit = instance.HttpPutResponseHopLimit,
                    HttpProtocolIpv6 = MetadataOptionValues.ParseFeature(instance.HttpProtocolIpv6)!.Value,
                    InstanceMetadataTags = MetadataOptionValues.ParseFeature(instance.InstanceMetadataTags)!.Value,
                });
            }
        };
        InstanceIdentityProvider.Current = new ImdsTroubleshoot.Engine.Client.ImdsInstanceIdentitySource(emulator.Endpoint);

        Assert.Equal(403, RawGet(emulator.Endpoint, "latest/meta-data/instance-id"));
        var selfFails = Terminating("Get-ImdsMetadataOption");
        Assert.StartsWith("InstanceIdentityUnavailable,", selfFails.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Contains("403 Forbidden", selfFails.Exception.Message, StringComparison.Ordinal);

        var before = _ps.Ok("Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -Region eu-west-1").Objects<ImdsMetadataOption>().Single();
        Assert.Equal("IMDS off", before.Assessment);

        var set = _ps.Ok("Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -Region eu-west-1 -HttpEndpoint Enabled -Wait -PassThru -Confirm:$false");
        Assert.Equal((FeatureState.Enabled, MetadataOptionsState.Applied), (set.Objects<ImdsMetadataOption>().Single().HttpEndpoint!.Value, set.Objects<ImdsMetadataOption>().Single().State!.Value));

        Assert.Equal(200, RawGet(emulator.Endpoint, "latest/meta-data/instance-id"));
        Assert.Equal(FeatureState.Enabled, emulator.Settings.HttpEndpoint);
        var self = _ps.Ok("Get-ImdsMetadataOption").Objects<ImdsMetadataOption>().Single();
        Assert.Equal(("i-0123456789abcdef0", "eu-west-1", FeatureState.Enabled), (self.InstanceId, self.Region, self.HttpEndpoint!.Value));
    }
}
