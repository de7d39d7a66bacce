namespace ImdsTroubleshoot;

/// <summary>Every ErrorId the module writes. Tests pin them; never rename one that has shipped. Append new ones per feature.</summary>
public static class ErrorIds
{
    public const string EmulatorStartFailed = nameof(EmulatorStartFailed);
    public const string EmulatorAddressInUse = nameof(EmulatorAddressInUse);
    public const string EmulatorInvalidAddress = nameof(EmulatorInvalidAddress);
    public const string EmulatorContentInvalid = nameof(EmulatorContentInvalid);
    public const string EmulatorContentNotFound = nameof(EmulatorContentNotFound);
    public const string EmulatorNotFound = nameof(EmulatorNotFound);
    public const string EmulatorInvalidSetting = nameof(EmulatorInvalidSetting);
    public const string NetworkNamespaceNotFound = nameof(NetworkNamespaceNotFound);
    public const string NetworkNamespaceAccessDenied = nameof(NetworkNamespaceAccessDenied);

    // Metadata reads and probes.
    public const string ImdsInvalidEndpoint = nameof(ImdsInvalidEndpoint);
    public const string ImdsInvalidPath = nameof(ImdsInvalidPath);
    public const string ImdsDisabledByEnvironment = nameof(ImdsDisabledByEnvironment);
    public const string ImdsConnectionRefused = nameof(ImdsConnectionRefused);
    public const string ImdsConnectTimeout = nameof(ImdsConnectTimeout);
    public const string ImdsUnreachable = nameof(ImdsUnreachable);
    public const string ImdsAccessDenied = nameof(ImdsAccessDenied);
    public const string ImdsTimeout = nameof(ImdsTimeout);
    public const string ImdsTokenUnavailable = nameof(ImdsTokenUnavailable);
    public const string ImdsBadRequest = nameof(ImdsBadRequest);
    public const string ImdsUnauthorized = nameof(ImdsUnauthorized);
    public const string ImdsForbidden = nameof(ImdsForbidden);
    public const string ImdsPathNotFound = nameof(ImdsPathNotFound);
    public const string ImdsMethodNotAllowed = nameof(ImdsMethodNotAllowed);
    public const string ImdsThrottled = nameof(ImdsThrottled);
    public const string ImdsHttpError = nameof(ImdsHttpError);
    public const string ImdsInvalidResponse = nameof(ImdsInvalidResponse);
    public const string ImdsInvalidDocument = nameof(ImdsInvalidDocument);
    public const string ImdsWalkTooLarge = nameof(ImdsWalkTooLarge);
    // Proxy (Get-ImdsProxyConfiguration, Repair-ImdsProxy)
    public const string ProxyRootPathNotFound = nameof(ProxyRootPathNotFound);
    public const string ProxySourceUnreadable = nameof(ProxySourceUnreadable);
    public const string ProxyRepairFailed = nameof(ProxyRepairFailed);
    public const string ProxyRepairIncomplete = nameof(ProxyRepairIncomplete);
    // Get-EnaLinkLocalStat (ENA allowance counters through SIOCETHTOOL)
    public const string NetworkInterfaceNotFound = nameof(NetworkInterfaceNotFound);
    public const string NoEnaInterface = nameof(NoEnaInterface);
    public const string InterfaceStatisticsNotSupported = nameof(InterfaceStatisticsNotSupported);
    public const string InterfaceStatisticsAccessDenied = nameof(InterfaceStatisticsAccessDenied);
    public const string InterfaceStatisticsReadFailed = nameof(InterfaceStatisticsReadFailed);
    public const string InvalidInterfaceName = nameof(InvalidInterfaceName);
    public const string InvalidSampleInterval = nameof(InvalidSampleInterval);
    // EC2 instance metadata options (Get-ImdsMetadataOption, Set-ImdsMetadataOption) and the AWS connection.
    public const string InstanceIdMalformed = nameof(InstanceIdMalformed);
    public const string InstanceNotFound = nameof(InstanceNotFound);
    public const string Ec2AccessDenied = nameof(Ec2AccessDenied);
    public const string Ec2Throttled = nameof(Ec2Throttled);
    public const string Ec2EndpointUnreachable = nameof(Ec2EndpointUnreachable);
    public const string Ec2InvalidParameter = nameof(Ec2InvalidParameter);
    public const string Ec2RequestFailed = nameof(Ec2RequestFailed);
    public const string Ec2FilterInvalid = nameof(Ec2FilterInvalid);
    public const string AwsCredentialsNotFound = nameof(AwsCredentialsNotFound);
    public const string AwsAuthenticationFailed = nameof(AwsAuthenticationFailed);
    public const string AwsRegionNotFound = nameof(AwsRegionNotFound);
    public const string AwsRegionInvalid = nameof(AwsRegionInvalid);
    public const string AwsProfileNotFound = nameof(AwsProfileNotFound);
    public const string AwsEndpointUrlInvalid = nameof(AwsEndpointUrlInvalid);
    public const string AwsSdkLoadFailed = nameof(AwsSdkLoadFailed);
    public const string InstanceIdentityUnavailable = nameof(InstanceIdentityUnavailable);
    public const string MetadataOptionsNoChange = nameof(MetadataOptionsNoChange);
    public const string MetadataOptionsNotApplied = nameof(MetadataOptionsNotApplied);
    // Firewall (Get-ImdsFirewallRule, Remove-ImdsFirewallRule).
    public const string FirewallReadPermissionDenied = nameof(FirewallReadPermissionDenied);
    public const string FirewallRemovePermissionDenied = nameof(FirewallRemovePermissionDenied);
    public const string FirewallToolNotFound = nameof(FirewallToolNotFound);
    public const string FirewallReadFailed = nameof(FirewallReadFailed);
    public const string FirewallReadTimeout = nameof(FirewallReadTimeout);
    public const string FirewallUserNotFound = nameof(FirewallUserNotFound);
    public const string FirewallRuleIsPolicy = nameof(FirewallRuleIsPolicy);
    public const string FirewallRuleNotRemovable = nameof(FirewallRuleNotRemovable);
    public const string FirewallRuleChanged = nameof(FirewallRuleChanged);
    public const string FirewallRuleRemoveFailed = nameof(FirewallRuleRemoveFailed);
    public const string FirewallPersistedFileUpdateFailed = nameof(FirewallPersistedFileUpdateFailed);
    // Invoke-ImdsDiagnosis -InstanceId (SSM Run Command).
    public const string SsmInstanceNotManaged = nameof(SsmInstanceNotManaged);
    public const string SsmCommandTimedOut = nameof(SsmCommandTimedOut);
    public const string SsmNoResult = nameof(SsmNoResult);
    public const string SsmCommandFailed = nameof(SsmCommandFailed);
    public const string SsmCommandCancelled = nameof(SsmCommandCancelled);
    public const string SsmInvalidPlatform = nameof(SsmInvalidPlatform);
    public const string SsmThrottled = nameof(SsmThrottled);
    public const string SsmAccessDenied = nameof(SsmAccessDenied);
    public const string SsmRequestFailed = nameof(SsmRequestFailed);
    public const string SsmEndpointUnreachable = nameof(SsmEndpointUnreachable);
    public const string SsmInvalidParameter = nameof(SsmInvalidParameter);
    public const string SsmAnalysisFailed = nameof(SsmAnalysisFailed);
    // Invoke-ImdsDiagnosis -HostName (remote diagnosis over SSH).
    public const string SshClientNotFound = nameof(SshClientNotFound);
    public const string SshInvalidHostName = nameof(SshInvalidHostName);
    public const string SshInvalidUserName = nameof(SshInvalidUserName);
    public const string SshInvalidPort = nameof(SshInvalidPort);
    public const string SshKeyFileNotFound = nameof(SshKeyFileNotFound);
    public const string SshKeyFileUnreadable = nameof(SshKeyFileUnreadable);
    public const string SshKnownHostsFileNotFound = nameof(SshKnownHostsFileNotFound);
    public const string SshKnownHostsFileUnreadable = nameof(SshKnownHostsFileUnreadable);
    public const string SshAuthenticationFailed = nameof(SshAuthenticationFailed);
    public const string SshKeyFileRejected = nameof(SshKeyFileRejected);
    public const string SshConnectionRefused = nameof(SshConnectionRefused);
    public const string SshConnectTimeout = nameof(SshConnectTimeout);
    public const string SshHostUnreachable = nameof(SshHostUnreachable);
    public const string SshHostNameNotResolved = nameof(SshHostNameNotResolved);
    public const string SshHostKeyUnknown = nameof(SshHostKeyUnknown);
    public const string SshHostKeyChanged = nameof(SshHostKeyChanged);
    public const string SshSudoPasswordRequired = nameof(SshSudoPasswordRequired);
    public const string SshRemoteCommandFailed = nameof(SshRemoteCommandFailed);
    public const string SshTimeout = nameof(SshTimeout);
    public const string SshFailed = nameof(SshFailed);
}
