namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>Documented EC2 API limits the engine stays within.</summary>
public static class Ec2Limits
{
    /// <summary>DescribeInstances MaxResults: 5..1000; not together with instance IDs.</summary>
    public const int MinPageSize = 5;

    public const int MaxPageSize = 1000;

    /// <summary>"You should not specify more than 1,000 IDs in a single call" (EC2 API pagination guide).</summary>
    public const int MaxInstanceIdsPerCall = 1000;

    /// <summary>Filters per DescribeInstances call.</summary>
    public const int MaxFilters = 50;

    /// <summary>Values per filter.</summary>
    public const int MaxFilterValues = 200;

    /// <summary>The ModifyInstanceMetadataOptions token bucket per account and Region: burst (bucket size).</summary>
    public const int ModifyMetadataOptionsBurst = 100;

    /// <summary>The ModifyInstanceMetadataOptions token bucket: refill, per second.</summary>
    public const double ModifyMetadataOptionsRefillPerSecond = 5;

    /// <summary>What this module uses for writes: under the documented bucket, leaving room for other callers in the account.</summary>
    public const int PacedModifyBurst = 80;

    public const double PacedModifyPerSecond = 4;
}
