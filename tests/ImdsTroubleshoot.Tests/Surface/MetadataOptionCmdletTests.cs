using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using Amazon.PowerShell.Common;
using ImdsTroubleshoot.Engine.Ec2;
using ImdsTroubleshoot.Engine.Emulator;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>
/// Get-/Set-ImdsMetadataOption as users meet them: real pipelines in a runspace with the staged module, the AWS SDK
/// in its own load context, the fake EC2 endpoint, and credentials and Region from AWS.Tools' session variables
/// (their AWSCredentials is the test's copy of the SDK, not the module's).
/// </summary>
public sealed class MetadataOptionCmdletTests : IDisposable
{
    private const string StoredKey = "AKIDSTOREDSESSION01";
    private const string StoredSecret = "stored-secret-never-printed";

    private readonly FakeEc2 _fake = new();
    private readonly PsSession _ps = new();

    public MetadataOptionCmdletTests()
    {
        _fake.RequiredAccessKeyId = StoredKey;
        _ps.Runspace.SessionStateProxy.SetVariable("StoredAWSCredentials", AWSPSCredentials.FromKeys(StoredKey, StoredSecret, name: "test-session"));
        _ps.Runspace.SessionStateProxy.SetVariable("StoredAWSRegion", "eu-west-1");
        _ps.Ok($"$PSDefaultParameterValues['*-ImdsMetadataOption:EndpointUrl'] = '{_fake.Url}'");
        _fake.Add("i-0123456789abcdef0", "web-1", i => i.HttpEndpoint = "disabled");
        _fake.Add("i-0fedcba9876543210", "api-1", i =>
        {
            i.HttpTokens = "required";
            i.HttpPutResponseHopLimit = 2;
        });
    }

    public void Dispose()
    {
        _ps.Dispose();
        _fake.Dispose();
    }

    [Fact]
    public void Reads_one_instance_with_the_AWS_Tools_session_credentials_and_Region()
    {
        _ps.Runspace.SessionStateProxy.SetVariable("StoredAWSRegion", "eu-central-1");
        var r = _ps.Ok("Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -Verbose");
        var o = r.Objects<ImdsMetadataOption>().Single();
        Assert.Equal(("i-0123456789abcdef0", "web-1", "running"), (o.InstanceId, o.Name, o.InstanceState));
        Assert.Equal(FeatureState.Disabled, o.HttpEndpoint);
        Assert.Equal(HttpTokensState.Optional, o.HttpTokens);
        Assert.Equal(MetadataOptionsState.Applied, o.State);
        Assert.Equal("eu-central-1", o.Region);
        Assert.Equal(new[] { MetadataOptionFinding.ImdsDisabled }, o.Findings);
        Assert.Equal("IMDS off", o.Assessment);

        var request = Assert.Single(_fake.Requests);
        Assert.Equal((StoredKey, "eu-central-1"), (request.AccessKeyId, request.SigningRegion));
        Assert.Contains(r.Verbose, v => v.Contains("AWS.Tools session credentials 'test-session'", StringComparison.Ordinal) && v.Contains("$StoredAWSRegion", StringComparison.Ordinal));
        Assert.DoesNotContain(StoredSecret, r.AllText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Region_parameter_wins_over_the_session_Region()
    {
        var o = _ps.Ok("Get-ImdsMetadataOption i-0fedcba9876543210 -Region ap-southeast-2").Objects<ImdsMetadataOption>().Single();
        Assert.Equal("ap-southeast-2", o.Region);
        Assert.Equal("ap-southeast-2", _fake.Requests.Single().SigningRegion);
        Assert.True(o.IsImdsV2Enforced);
    }

    [Fact]
    public void InstanceId_binds_from_strings_AWS_Tools_instances_custom_objects_and_our_own_results()
    {
        var strings = _ps.Ok("'i-0123456789abcdef0', 'i-0fedcba9876543210' | Get-ImdsMetadataOption").Objects<ImdsMetadataOption>().ToList();
        Assert.Equal(new[] { "web-1", "api-1" }, strings.Select(o => o.Name));

        // What (Get-EC2Instance).Instances yields with AWS.Tools 5: AWSSDK.EC2 v4 Instance objects.
        var awsTools = new[]
        {
            new Amazon.EC2.Model.Instance { InstanceId = "i-0fedcba9876543210", InstanceType = "t3.micro" },
            new Amazon.EC2.Model.Instance { InstanceId = "i-0123456789abcdef0" },
        };
        _fake.ResetCounters();
        var fromSdk = _ps.Invoke("$input | Get-ImdsMetadataOption", input: awsTools);
        Assert.Empty(fromSdk.AllErrors);
        Assert.Equal(new[] { "api-1", "web-1" }, fromSdk.Objects<ImdsMetadataOption>().Select(o => o.Name));
        Assert.Equal(1, _fake.Calls("DescribeInstances")); // the pipeline is gathered into one call

        var custom = _ps.Ok("[pscustomobject]@{ InstanceId = 'i-0123456789abcdef0'; Note = 'x' } | Get-ImdsMetadataOption").Objects<ImdsMetadataOption>().Single();
        Assert.Equal("web-1", custom.Name);

        var again = _ps.Ok("Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0, i-0fedcba9876543210 | Get-ImdsMetadataOption").Objects<ImdsMetadataOption>().ToList();
        Assert.Equal(2, again.Count);
    }

    [Fact]
    public void An_empty_pipeline_reads_nothing_and_does_not_look_for_this_instance()
    {
        var r = _ps.Ok("@() | Get-ImdsMetadataOption");
        Assert.Empty(r.Output);
        Assert.Equal(0, _fake.TotalCalls);
    }

    [Fact]
    public void A_fleet_is_read_with_All_in_pages_of_1000_and_streamed_as_pages_arrive()
    {
        _fake.AddMany(4998);
        var r = _ps.Invoke("param($fake) $seen = $null; $n = 0; Get-ImdsMetadataOption -All | ForEach-Object { if ($null -eq $seen) { $seen = $fake.Calls('DescribeInstances') }; $n++ }; $seen; $n",
            new Hashtable { ["fake"] = _fake });
        Assert.Empty(r.AllErrors);
        // The first object went down the pipeline when at most the first page and the prefetched second were asked for.
        Assert.InRange((int)r.Output[0].BaseObject, 1, 2);
        Assert.Equal(5000, (int)r.Output[1].BaseObject);
        Assert.Equal(5, _fake.Calls("DescribeInstances"));
        Assert.All(_fake.Requests, q => Assert.Equal("1000", q.Parameters["MaxResults"]));
    }

    [Fact]
    public void Stopping_the_pipeline_early_stops_reading_the_fleet()
    {
        _fake.AddMany(4998);
        var first = _ps.Ok("$n = 0; Get-ImdsMetadataOption -All | ForEach-Object { $_; if (++$n -ge 3) { break } }").Output;
        Assert.Equal(3, first.Count);
        Assert.InRange(_fake.Calls("DescribeInstances"), 1, 2);
    }

    [Fact]
    public void Filter_takes_hashtables_AWS_Tools_filter_objects_and_engine_filters()
    {
        _fake.AddMany(6, (n, i) =>
        {
            i.Tags["Env"] = n % 2 == 0 ? "prod" : "test";
            i.InstanceState = n == 0 ? "stopped" : "running";
        });
        var fromHashtable = _ps.Ok("Get-ImdsMetadataOption -Filter @{ 'tag:Env' = 'prod'; 'instance-state-name' = 'running', 'pending' }").Objects<ImdsMetadataOption>().Select(o => o.Name).ToList();
        Assert.Equal(new[] { "fleet-3", "fleet-5" }, fromHashtable);

        var sdkFilters = new object[] { new Amazon.EC2.Model.Filter("tag:Env", new List<string> { "prod" }), new Ec2Filter("instance-state-name", "running") };
        var fromObjects = _ps.Invoke("param($f) Get-ImdsMetadataOption -Filter $f", new Hashtable { ["f"] = sdkFilters });
        Assert.Empty(fromObjects.AllErrors);
        Assert.Equal(fromHashtable, fromObjects.Objects<ImdsMetadataOption>().Select(o => o.Name));

        var narrowed = _ps.Ok("Get-ImdsMetadataOption -InstanceId i-00000000000000001, i-00000000000000002, i-00000000000000003 -Filter @{ 'tag:Env' = 'prod' }");
        Assert.Equal(new[] { "fleet-1", "fleet-3" }, narrowed.Objects<ImdsMetadataOption>().Select(o => o.Name));
        Assert.Empty(narrowed.Errors); // filtered out is not "not found"
    }

    [Fact]
    public void Bad_filters_are_stopped_before_or_by_EC2_with_their_own_ErrorIds()
    {
        _ps.ExpectTerminating("Get-ImdsMetadataOption -Filter @{ 'tag:Env' = @() }", "Ec2FilterInvalid", ErrorCategory.InvalidArgument);
        Assert.Equal(0, _fake.TotalCalls);
        _ps.ExpectTerminating("Get-ImdsMetadataOption -Filter 'tag:Env=prod'", "Ec2FilterInvalid", ErrorCategory.InvalidArgument);

        var remote = _ps.ExpectTerminating("Get-ImdsMetadataOption -Filter @{ 'no-such-filter' = 'x' }", "Ec2InvalidParameter", ErrorCategory.InvalidArgument);
        Assert.Contains("The filter 'no-such-filter' is invalid", remote.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_ids_are_refused_before_any_call_and_unknown_ids_do_not_stop_the_others()
    {
        var malformed = _ps.Invoke("Get-ImdsMetadataOption -InstanceId i-123, 'I-0123456789ABCDEF0'");
        Assert.Equal(2, malformed.Errors.Count);
        malformed.ExpectError("InstanceIdMalformed", ErrorCategory.InvalidArgument);
        Assert.Equal("i-123", malformed.Errors[0].TargetObject);
        Assert.Equal(0, _fake.TotalCalls);

        var mixed = _ps.Invoke("Get-ImdsMetadataOption -InstanceId i-0000000000000dead, i-0123456789abcdef0, i-123");
        Assert.Equal(new[] { "i-0123456789abcdef0" }, mixed.Objects<ImdsMetadataOption>().Select(o => o.InstanceId));
        mixed.ExpectError("InstanceNotFound", ErrorCategory.ObjectNotFound);
        mixed.ExpectError("InstanceIdMalformed", ErrorCategory.InvalidArgument);
        Assert.Equal("i-0000000000000dead", mixed.Errors.Single(e => e.FullyQualifiedErrorId.StartsWith("InstanceNotFound", StringComparison.Ordinal)).TargetObject);
    }

    [Fact]
    public void Permission_throttling_credentials_and_connection_failures_each_have_their_ErrorId()
    {
        _fake.DeniedActions.Add("DescribeInstances");
        var denied = _ps.ExpectTerminating("Get-ImdsMetadataOption -All", "Ec2AccessDenied", ErrorCategory.PermissionDenied);
        Assert.Contains("ec2:DescribeInstances", denied.ErrorDetails.RecommendedAction, StringComparison.Ordinal);
        _fake.DeniedActions.Clear();

        _fake.ResetCounters();
        _fake.ThrottleAll = true;
        _ps.ExpectTerminating("Get-ImdsMetadataOption -All", "Ec2Throttled", ErrorCategory.LimitsExceeded);
        Assert.Equal(3, _fake.Calls("DescribeInstances"));
        _fake.ThrottleAll = false;

        _fake.RequiredAccessKeyId = "AKIDSOMEONEELSE0001";
        _ps.ExpectTerminating("Get-ImdsMetadataOption -All", "AwsAuthenticationFailed", ErrorCategory.AuthenticationError);

        _ps.ExpectTerminating("Get-ImdsMetadataOption -All -Region eu_west_1", "AwsRegionInvalid", ErrorCategory.InvalidArgument);
        _ps.ExpectTerminating("Get-ImdsMetadataOption -All -EndpointUrl 'ec2 dot example'", "AwsEndpointUrlInvalid", ErrorCategory.InvalidArgument);
        _ps.ExpectTerminating("Get-ImdsMetadataOption -All -EndpointUrl http://127.0.0.1:9/", "Ec2EndpointUnreachable", ErrorCategory.ConnectionError);
    }

    [Fact]
    public void Set_changes_only_what_differs_waits_for_applied_and_says_what_changed()
    {
        _fake.AddMany(3);
        _fake.ApplyDelay = TimeSpan.FromMilliseconds(800);
        var r = _ps.Invoke("Get-ImdsMetadataOption -All | Set-ImdsMetadataOption -HttpTokens Required -HttpPutResponseHopLimit 2 -Wait -PassThru -Confirm:$false -Verbose");
        Assert.Empty(r.AllErrors);
        var results = r.Objects<ImdsMetadataOption>().ToList();
        Assert.Equal(5, results.Count);
        Assert.All(results, o => Assert.True(o.HttpTokens == HttpTokensState.Required && o.HttpPutResponseHopLimit == 2 && o.State == MetadataOptionsState.Applied, o.ToString()));

        // api-1 already had both options: no call for it.
        Assert.Equal(4, _fake.Calls("ModifyInstanceMetadataOptions"));
        Assert.DoesNotContain(_fake.Requests, q => q.Action == "ModifyInstanceMetadataOptions" && q.Parameters["InstanceId"] == "i-0fedcba9876543210");
        Assert.Equal("required", _fake["i-0123456789abcdef0"].HttpTokens);
        Assert.Equal("disabled", _fake["i-0123456789abcdef0"].HttpEndpoint); // not asked for, not sent
        Assert.Contains(r.Verbose, v => v == "i-0123456789abcdef0: HttpTokens optional -> required, HttpPutResponseHopLimit 1 -> 2 (State Pending).");
        Assert.Contains("Changed 4 of 5 instances in eu-west-1; 4 applied; 1 already had these options.", r.Information);
        Assert.Empty(r.Warnings);
    }

    [Fact]
    public void WhatIf_reads_but_changes_nothing()
    {
        var r = _ps.Invoke("Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0, i-0fedcba9876543210 -HttpEndpoint Disabled -WhatIf");
        Assert.Empty(r.AllErrors);
        Assert.Equal(0, _fake.Calls("ModifyInstanceMetadataOptions"));
        Assert.Equal("enabled", _fake["i-0fedcba9876543210"].HttpEndpoint);
        Assert.Contains("Changed 0 of 2 instances in eu-west-1; 1 already had these options; 1 skipped (WhatIf or not confirmed).", r.Information);
    }

    [Fact]
    public void One_instance_failing_is_a_non_terminating_error_and_the_rest_go_on()
    {
        _fake.AddMany(3);
        _fake.DeniedInstances.Add("i-00000000000000002");
        var r = _ps.Invoke("Set-ImdsMetadataOption -InstanceId i-00000000000000001, i-00000000000000002, i-0000000000000dead, i-123, i-00000000000000003 -HttpEndpoint Disabled -PassThru -Confirm:$false");
        Assert.Null(r.Terminating);
        Assert.Equal(new[] { "i-00000000000000001", "i-00000000000000003" }, r.Objects<ImdsMetadataOption>().Select(o => o.InstanceId).OrderBy(x => x, StringComparer.Ordinal));
        Assert.All(r.Objects<ImdsMetadataOption>(), o => Assert.Equal((FeatureState.Disabled, MetadataOptionsState.Pending), (o.HttpEndpoint!.Value, o.State!.Value)));
        r.ExpectError("Ec2AccessDenied", ErrorCategory.PermissionDenied);
        Assert.Equal("i-00000000000000002", r.Errors.Single(e => e.FullyQualifiedErrorId.StartsWith("Ec2AccessDenied", StringComparison.Ordinal)).TargetObject);
        r.ExpectError("InstanceNotFound", ErrorCategory.ObjectNotFound);
        r.ExpectError("InstanceIdMalformed", ErrorCategory.InvalidArgument);
        string summary = "Changed 2 of 5 instances in eu-west-1; 1 not found; 2 failed.";
        Assert.Contains(summary, r.Information);
        Assert.Contains(summary, r.Warnings);
    }

    [Fact]
    public void Set_needs_at_least_one_option()
    {
        _ps.ExpectTerminating("Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0", "MetadataOptionsNoChange", ErrorCategory.InvalidArgument);
        Assert.Equal(0, _fake.TotalCalls);
        var range = _ps.Invoke("Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -HttpPutResponseHopLimit 65");
        Assert.Contains(range.AllErrors, e => e.FullyQualifiedErrorId.StartsWith("ParameterArgumentValidationError,", StringComparison.Ordinal));
        Assert.Equal(0, _fake.TotalCalls);
    }

    [Fact]
    public void Wait_is_bounded_and_says_which_instances_are_still_pending()
    {
        _fake.ApplyDelay = TimeSpan.FromMinutes(5);
        var sw = Stopwatch.StartNew();
        var r = _ps.Invoke("Set-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -HttpEndpoint Enabled -Wait -TimeoutSeconds 2 -PassThru -Confirm:$false");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), sw.Elapsed.ToString());
        r.ExpectError("MetadataOptionsNotApplied", ErrorCategory.OperationTimeout);
        Assert.Equal(MetadataOptionsState.Pending, r.Objects<ImdsMetadataOption>().Single().State);
        Assert.Contains(r.Warnings, w => w.Contains("1 still pending", StringComparison.Ordinal));
    }

    [Fact]
    public void Region_binds_from_piped_objects()
    {
        var r = _ps.Invoke("Get-ImdsMetadataOption -InstanceId i-0123456789abcdef0 -Region us-west-2 | Set-ImdsMetadataOption -HttpEndpoint Enabled -Confirm:$false");
        Assert.Empty(r.AllErrors);
        var modify = _fake.Requests.Single(q => q.Action == "ModifyInstanceMetadataOptions");
        Assert.Equal("us-west-2", modify.SigningRegion);
    }

    [Fact]
    public void A_fleet_change_is_paced_under_the_documented_bucket_and_none_is_throttled()
    {
        // EC2's documented bucket for ModifyInstanceMetadataOptions: burst 100, 5 per second.
        _fake.AddMany(88);
        _fake.SetRateLimit("ModifyInstanceMetadataOptions", Ec2Limits.ModifyMetadataOptionsBurst, Ec2Limits.ModifyMetadataOptionsRefillPerSecond);
        var sw = Stopwatch.StartNew();
        var r = _ps.Invoke("Get-ImdsMetadataOption -All | Set-ImdsMetadataOption -HttpTokens Required -Confirm:$false");
        Assert.Empty(r.AllErrors);
        Assert.Equal(89, _fake.Calls("ModifyInstanceMetadataOptions"));
        Assert.Equal(0, _fake.ThrottledCount);
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(1.5), $"{sw.Elapsed}: 89 calls past a burst of {Ec2Limits.PacedModifyBurst} at {Ec2Limits.PacedModifyPerSecond}/s take over 2 s");
        Assert.Contains("Changed 89 of 90 instances in eu-west-1; 1 already had these options.", r.Information);
    }
}
