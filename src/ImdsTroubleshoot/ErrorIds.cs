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

    // Proxy (Get-ImdsProxyConfiguration, Repair-ImdsProxy)
    public const string ProxyRootPathNotFound = nameof(ProxyRootPathNotFound);
    public const string ProxySourceUnreadable = nameof(ProxySourceUnreadable);
    public const string ProxyRepairFailed = nameof(ProxyRepairFailed);
    public const string ProxyRepairIncomplete = nameof(ProxyRepairIncomplete);
}
