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
}
