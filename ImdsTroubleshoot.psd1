#
# Module manifest for ImdsTroubleshoot.
# ModuleVersion is filled in at staging from Directory.Build.props <Version> (the one version source);
# the staged copy lives in out/ImdsTroubleshoot/<version>/.
#
@{
    RootModule           = 'ImdsTroubleshoot.dll'
    ModuleVersion        = '0.0.0'
    CompatiblePSEditions = @('Core')
    GUID                 = '5d0c7a53-3f0e-4b43-9d8e-6a3f2b1c9e41'
    Author               = 'ImdsTroubleshoot contributors'
    CompanyName          = 'ImdsTroubleshoot'
    Copyright            = '(c) 2026 ImdsTroubleshoot contributors. MIT License.'
    Description          = 'Finds out why an EC2 Linux instance cannot read its instance metadata (IMDS) and fixes it: probes with bounded timeouts, HTTP 400/401/403/404 explained, IMDSv2 and hop limit, proxies, local firewalls, throttling, instance metadata options; with an embedded IMDS emulator.'
    PowerShellVersion    = '7.4'
    FormatsToProcess     = @('ImdsTroubleshoot.Format.ps1xml')
    CmdletsToExport      = @(
        'Get-EnaLinkLocalStat'
        'Get-ImdsEmulator'
        'Get-ImdsEmulatorLog'
        'Get-ImdsFirewallRule'
        'Get-ImdsMetadata'
        'Get-ImdsMetadataOption'
        'Get-ImdsProxyConfiguration'
        'Invoke-ImdsDiagnosis'
        'Remove-ImdsFirewallRule'
        'Repair-ImdsProxy'
        'Set-ImdsEmulator'
        'Set-ImdsMetadataOption'
        'Start-ImdsEmulator'
        'Stop-ImdsEmulator'
        'Test-ImdsEndpoint'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('AWS', 'EC2', 'IMDS', 'IMDSv2', 'InstanceMetadata', 'Troubleshooting', 'Diagnostics', 'Linux', 'PSEdition_Core')
            LicenseUri   = 'https://github.com/imdstroubleshoot/ImdsTroubleshoot/blob/main/LICENSE'
            ProjectUri   = 'https://github.com/imdstroubleshoot/ImdsTroubleshoot'
            ReleaseNotes = 'See CHANGELOG.md: https://github.com/imdstroubleshoot/ImdsTroubleshoot/blob/main/CHANGELOG.md'
        }
    }
}
