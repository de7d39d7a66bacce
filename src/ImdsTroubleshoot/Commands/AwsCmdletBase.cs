using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Ec2;

namespace ImdsTroubleshoot.Commands;

/// <summary>
/// What the cmdlets that call AWS share: -ProfileName and -EndpointUrl, the session's AWS.Tools defaults, the
/// bridge into the isolated SDK, error records per failure kind, and synchronous waits that honour Ctrl+C.
/// </summary>
public abstract class AwsCmdletBase : ImdsCmdlet
{
    private readonly Dictionary<string, IEc2MetadataApi> _ec2 = new(StringComparer.Ordinal);

    /// <summary>A profile of the shared AWS config and credentials files (~/.aws/config, ~/.aws/credentials).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ProfileName { get; set; }

    /// <summary>Send requests here instead of the public endpoint (a VPC endpoint, a local test endpoint).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? EndpointUrl { get; set; }

    /// <summary>
    /// An EC2 client for <paramref name="region"/> (null: resolved the AWS way), one per Region for the life of
    /// the command. Failing to resolve credentials or a Region stops the command.
    /// </summary>
    protected IEc2MetadataApi ConnectEc2(string? region, string regionSource = "-Region")
    {
        string key = region ?? string.Empty;
        if (_ec2.TryGetValue(key, out var existing))
        {
            return existing;
        }

        var options = ConnectionOptions(region, regionSource);
        IEc2MetadataApi api = Connect(() => AwsBridgeAccess.Bridge.ConnectEc2(options), ex => AwsError(ex, region ?? ProfileName ?? EndpointUrl), a => a.Connection);
        _ec2[key] = api;
        return api;
    }

    /// <summary>
    /// Makes a client through the bridge: credentials or a Region that cannot be resolved stop the command with
    /// <paramref name="error"/>'s record, an SDK that cannot load with AwsSdkLoadFailed; says in verbose which
    /// connection it uses.
    /// </summary>
    protected T Connect<T>(Func<T> connect, Func<AwsApiException, ErrorRecord> error, Func<T, AwsConnectionInfo> connection)
    {
        T api;
        try
        {
            api = connect();
        }
        catch (AwsApiException ex)
        {
            ThrowTerminatingError(error(ex));
            throw;
        }
        catch (InvalidOperationException ex) when (ex.InnerException is System.IO.FileNotFoundException or System.IO.FileLoadException or BadImageFormatException or TypeLoadException)
        {
            ThrowTerminatingError(ex, ErrorIds.AwsSdkLoadFailed, ErrorCategory.NotInstalled, ModuleInitializer.DependencyDirectory);
            throw;
        }

        WriteVerbose("Using " + connection(api) + ".");
        return api;
    }

    /// <summary>What -ProfileName, -EndpointUrl, -Region and the session's AWS.Tools defaults say; read on the pipeline thread.</summary>
    protected AwsConnectionOptions ConnectionOptions(string? region, string regionSource)
    {
        Uri? endpoint = null;
        if (EndpointUrl is not null)
        {
            try
            {
                endpoint = AwsNames.ParseEndpoint(EndpointUrl);
            }
            catch (AwsApiException ex)
            {
                ThrowTerminatingError(AwsError(ex, EndpointUrl));
            }
        }

        IAwsCredentialSource? sessionCredentials = null;
        string? sessionRegion = null;
        if (ProfileName is null)
        {
            sessionCredentials = AwsToolsSession.ReadCredentials(Unwrap(SessionState.PSVariable.GetValue(AwsToolsSession.CredentialsVariable)));
            if (sessionCredentials is not null)
            {
                WriteVerbose($"Found AWS.Tools session credentials (${AwsToolsSession.CredentialsVariable}).");
            }
        }

        if (region is null)
        {
            sessionRegion = AwsToolsSession.ReadRegion(Unwrap(SessionState.PSVariable.GetValue(AwsToolsSession.RegionVariable)));
        }

        return new AwsConnectionOptions
        {
            Region = region,
            RegionSource = regionSource,
            ProfileName = ProfileName,
            EndpointUrl = endpoint,
            SessionCredentials = sessionCredentials,
            SessionRegion = sessionRegion,
        };
    }

    private static object? Unwrap(object? value) => value is PSObject pso ? pso.BaseObject : value;

    /// <summary>The error record for an AWS failure: its own ErrorId and category per kind, and what to do.</summary>
    protected static ErrorRecord AwsError(AwsApiException exception, object? target)
    {
        ArgumentNullException.ThrowIfNull(exception);
        (string id, ErrorCategory category, string? action) = exception.ErrorCode == "NotApplied"
            ? (ErrorIds.MetadataOptionsNotApplied, ErrorCategory.OperationTimeout, "Run Get-ImdsMetadataOption later to see whether the change has applied.")
            : exception.Kind switch
            {
                AwsErrorKind.MalformedId => (ErrorIds.InstanceIdMalformed, ErrorCategory.InvalidArgument,
                    "Give instance IDs as 'i-' followed by 8 or 17 lowercase hexadecimal digits, such as i-0123456789abcdef0."),
                AwsErrorKind.NotFound => (ErrorIds.InstanceNotFound, ErrorCategory.ObjectNotFound,
                    "Check the instance ID and the Region (-Region): EC2 shows only the instances of the calling account in that Region."),
                AwsErrorKind.Unauthorized => (ErrorIds.Ec2AccessDenied, ErrorCategory.PermissionDenied,
                    "Allow ec2:DescribeInstances (Get) and ec2:ModifyInstanceMetadataOptions (Set) for the caller's IAM identity, or use other credentials (-ProfileName)."),
                AwsErrorKind.AuthFailure => (ErrorIds.AwsAuthenticationFailed, ErrorCategory.AuthenticationError,
                    "The credentials were refused: check that they are current (an SSO session or session token may have expired) and belong to this partition."),
                AwsErrorKind.NoCredentials => (ErrorIds.AwsCredentialsNotFound, ErrorCategory.AuthenticationError,
                    "Pass -ProfileName, set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run 'aws sso login' for an SSO profile, or Set-AWSCredential (AWS.Tools)."),
                AwsErrorKind.NoRegion => (ErrorIds.AwsRegionNotFound, ErrorCategory.InvalidArgument,
                    "Pass -Region, set AWS_REGION, add a region to the profile, or run Set-DefaultAWSRegion (AWS.Tools)."),
                AwsErrorKind.InvalidRegion => (ErrorIds.AwsRegionInvalid, ErrorCategory.InvalidArgument, "Give a Region name such as us-east-1 or eu-west-1."),
                AwsErrorKind.ProfileNotFound => (ErrorIds.AwsProfileNotFound, ErrorCategory.ObjectNotFound,
                    "Check the name with 'aws configure list-profiles', or point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at the right files."),
                AwsErrorKind.InvalidEndpoint => (ErrorIds.AwsEndpointUrlInvalid, ErrorCategory.InvalidArgument, "Give an absolute http or https URL."),
                AwsErrorKind.Throttled => (ErrorIds.Ec2Throttled, ErrorCategory.LimitsExceeded,
                    "EC2 throttled the account's requests and the retries did not get through. Run the command again later, or on fewer instances at a time."),
                AwsErrorKind.Network => (ErrorIds.Ec2EndpointUnreachable, ErrorCategory.ConnectionError,
                    "Check the network path to the EC2 endpoint (DNS, proxy settings HTTPS_PROXY/NO_PROXY, a VPC endpoint, -EndpointUrl)."),
                AwsErrorKind.InvalidParameter => (ErrorIds.Ec2InvalidParameter, ErrorCategory.InvalidArgument, null),
                _ => (ErrorIds.Ec2RequestFailed, ErrorCategory.InvalidOperation, null),
            };
        return Error(exception, id, category, target, action);
    }

    /// <summary>Filters from -Filter: hashtables (@{ 'tag:Env' = 'prod' }), or objects with Name and Values such as Amazon.EC2.Model.Filter.</summary>
    protected IReadOnlyList<Ec2Filter> ConvertFilters(object[]? filters)
    {
        var result = new List<Ec2Filter>();
        if (filters is null)
        {
            return result;
        }

        try
        {
            foreach (object? raw in filters)
            {
                object? item = Unwrap(raw);
                switch (item)
                {
                    case null:
                        continue;
                    case Ec2Filter f:
                        result.Add(f);
                        break;
                    case IDictionary dictionary:
                        result.AddRange(Ec2Filter.FromDictionary(ToPlain(dictionary)));
                        break;
                    default:
                        var pso = PSObject.AsPSObject(item);
                        string? name = pso.Properties["Name"]?.Value?.ToString();
                        object? values = Unwrap(pso.Properties["Values"]?.Value ?? pso.Properties["Value"]?.Value);
                        if (name is null || values is null)
                        {
                            throw new ArgumentException($"'{item}' is not a filter. Give a hashtable such as @{{ 'tag:Env' = 'prod'; 'instance-state-name' = 'running' }}, or objects with Name and Values.");
                        }

                        result.Add(new Ec2Filter(name, Ec2Filter.ValuesOf(UnwrapAll(values), name)));
                        break;
                }
            }

            Ec2Filter.CheckSet(result);
        }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.Ec2FilterInvalid, ErrorCategory.InvalidArgument, filters,
                "Filter names and values are case-sensitive, e.g. @{ 'tag:Env' = 'prod'; 'metadata-options.http-tokens' = 'optional' }; see 'aws ec2 describe-instances help' for the names.");
        }

        return result;
    }

    private static Hashtable ToPlain(IDictionary dictionary)
    {
        var plain = new Hashtable();
        foreach (DictionaryEntry e in dictionary)
        {
            plain[Unwrap(e.Key) ?? string.Empty] = UnwrapAll(Unwrap(e.Value));
        }

        return plain;
    }

    private static object? UnwrapAll(object? value)
    {
        if (value is IEnumerable items and not string)
        {
            var list = new List<object?>();
            foreach (object? item in items)
            {
                list.Add(Unwrap(item));
            }

            return list;
        }

        return value;
    }

    /// <summary>Waits for a task on the pipeline thread; Ctrl+C stops the pipeline.</summary>
    protected T Await<T>(Task<T> task)
    {
        ArgumentNullException.ThrowIfNull(task);
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (CancellationToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>Walks an async stream on the pipeline thread, so that each item can be written as it arrives.</summary>
    protected IEnumerable<T> Iterate<T>(IAsyncEnumerable<T> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        IAsyncEnumerator<T> e = source.GetAsyncEnumerator(CancellationToken);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    ValueTask<bool> next = e.MoveNextAsync();
                    more = next.IsCompletedSuccessfully ? next.Result : next.AsTask().GetAwaiter().GetResult();
                }
                catch (OperationCanceledException) when (CancellationToken.IsCancellationRequested)
                {
                    throw new PipelineStoppedException();
                }

                if (!more)
                {
                    yield break;
                }

                yield return e.Current;
            }
        }
        finally
        {
            try
            {
                e.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    protected override void DisposeResources()
    {
        foreach (var api in _ec2.Values)
        {
            api.Dispose();
        }

        _ec2.Clear();
    }
}
