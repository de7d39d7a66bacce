using System;
using System.Threading;
using System.Threading.Tasks;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>Who this EC2 instance is: what Get-ImdsMetadataOption needs when no instance is named.</summary>
public sealed class InstanceIdentity
{
    public InstanceIdentity(string instanceId, string region, string? accountId = null, string? availabilityZone = null)
    {
        if (!Ec2InstanceId.IsValid(instanceId))
        {
            throw new ArgumentException(Ec2InstanceId.Problem(instanceId), nameof(instanceId));
        }

        if (!AwsNames.IsRegion(region))
        {
            throw new ArgumentException($"'{region}' is not a Region name.", nameof(region));
        }

        InstanceId = instanceId;
        Region = region;
        AccountId = accountId;
        AvailabilityZone = availabilityZone;
    }

    public string InstanceId { get; }

    public string Region { get; }

    public string? AccountId { get; }

    public string? AvailabilityZone { get; }

    public override string ToString() => $"{InstanceId} in {Region}";
}

/// <summary>
/// Finds the identity of the instance this code runs on, through IMDS (instance-identity document, or
/// meta-data/instance-id and meta-data/placement/region).
/// </summary>
/// <remarks>
/// Contract: return null when there is no answer (not an EC2 instance, nothing listening); throw
/// <see cref="InstanceIdentityUnavailableException"/> with a reason in plain words when IMDS answered but the
/// identity could not be read (e.g. "IMDS answered 403 Forbidden: HttpEndpoint may be disabled"). Honour the
/// cancellation token: the caller bounds the lookup with it. Never put a token or credential in the message.
/// </remarks>
public interface IInstanceIdentitySource
{
    Task<InstanceIdentity?> TryGetAsync(CancellationToken cancellationToken);
}

/// <summary>IMDS answered, but not with an identity; the message says why.</summary>
public sealed class InstanceIdentityUnavailableException : Exception
{
    public InstanceIdentityUnavailableException()
        : base("The instance identity is not available.")
    {
    }

    public InstanceIdentityUnavailableException(string message)
        : base(message)
    {
    }

    public InstanceIdentityUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The identity source the cmdlets use. The IMDS client sets <see cref="Current"/> to its implementation.</summary>
public static class InstanceIdentityProvider
{
    /// <summary>How long the cmdlets wait for <see cref="IInstanceIdentitySource.TryGetAsync"/>.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static IInstanceIdentitySource s_current = new Client.ImdsInstanceIdentitySource();

    public static IInstanceIdentitySource Current
    {
        get => Volatile.Read(ref s_current);
        set => Volatile.Write(ref s_current, value ?? throw new ArgumentNullException(nameof(value)));
    }
}
