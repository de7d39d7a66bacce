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

    // Get-EnaLinkLocalStat (ENA allowance counters through SIOCETHTOOL)
    public const string NetworkInterfaceNotFound = nameof(NetworkInterfaceNotFound);
    public const string NoEnaInterface = nameof(NoEnaInterface);
    public const string InterfaceStatisticsNotSupported = nameof(InterfaceStatisticsNotSupported);
    public const string InterfaceStatisticsAccessDenied = nameof(InterfaceStatisticsAccessDenied);
    public const string InterfaceStatisticsReadFailed = nameof(InterfaceStatisticsReadFailed);
    public const string InvalidInterfaceName = nameof(InvalidInterfaceName);
    public const string InvalidSampleInterval = nameof(InvalidSampleInterval);
}
