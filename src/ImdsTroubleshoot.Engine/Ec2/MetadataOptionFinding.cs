namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>What the metadata options of an instance mean for the programs on it.</summary>
public enum MetadataOptionFinding
{
    /// <summary>HttpEndpoint is disabled: IMDS is off and every request gets 403 Forbidden.</summary>
    ImdsDisabled,

    /// <summary>HttpTokens is optional: IMDSv1 (GET without a token) is allowed.</summary>
    ImdsV1Allowed,

    /// <summary>
    /// HttpPutResponseHopLimit is 1: a container behind a bridge or a pod cannot receive an IMDSv2 token.
    /// A risk only if the instance runs containers, which the EC2 API cannot tell.
    /// </summary>
    HopLimitOne,

    /// <summary>A change is still pending: the instance does not serve metadata with the new options yet.</summary>
    ChangePending,

    /// <summary>The instance is not running: IMDS serves nothing now; changes take effect when it runs.</summary>
    NotRunning,
}
