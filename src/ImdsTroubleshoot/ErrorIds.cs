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
}
