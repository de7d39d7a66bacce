#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Pester 5 examples for Test-ImdsEndpoint and Get-ImdsMetadata, against the embedded emulator.
# Run: ./build.ps1 -Task Test  (the xunit suite parses this file here)
BeforeAll {
    $manifest = if ($env:IMDS_TROUBLESHOOT_MODULE) { $env:IMDS_TROUBLESHOOT_MODULE } else {
        Get-ChildItem (Join-Path $PSScriptRoot '../../out/ImdsTroubleshoot/*/ImdsTroubleshoot.psd1') | Select-Object -First 1 -ExpandProperty FullName
    }
    Import-Module $manifest -Force
}

AfterAll {
    Get-ImdsEmulator | Stop-ImdsEmulator -Confirm:$false
}

Describe 'Test-ImdsEndpoint' {
    It 'passes every step on a healthy endpoint' {
        $imds = Start-ImdsEmulator -Scenario Healthy
        Test-ImdsEndpoint -Endpoint $imds.Endpoint -TimeoutSec 3 | Where-Object Status -ne 'Pass' | Should -BeNullOrEmpty
        Test-ImdsEndpoint -Endpoint $imds.Endpoint -TimeoutSec 3 -Quiet | Should -BeTrue
    }

    It 'names IMDS turned off, with the fix' {
        $imds = Start-ImdsEmulator -Scenario EndpointDisabled
        $token = Test-ImdsEndpoint -Endpoint $imds.Endpoint | Where-Object Step -eq 'Token'
        $token.Outcome | Should -Be 'EndpointDisabled'
        $token.RelatedCommand | Should -BeLike '*Set-ImdsMetadataOption -HttpEndpoint Enabled*'
    }

    It 'warns that IMDSv1 clients get 401 when tokens are required' {
        $imds = Start-ImdsEmulator -Scenario TokensRequired
        (Test-ImdsEndpoint -Endpoint $imds.Endpoint | Where-Object Step -eq 'MetadataV1').Outcome | Should -Be 'TokensRequired'
    }
}

Describe 'Get-ImdsMetadata' {
    BeforeAll {
        $script:imds = Start-ImdsEmulator -Scenario TagsEnabled
    }

    It 'reads categories' {
        Get-ImdsMetadata -Endpoint $imds.Endpoint -Category InstanceId, Region | Should -Be @('i-0123456789abcdef0', 'eu-west-1')
    }

    It 'keeps role credentials secret unless asked' {
        $credential = Get-ImdsMetadata -Endpoint $imds.Endpoint -Category Credentials
        $credential.SecretAccessKey | Should -BeOfType [securestring]
        $credential.GetSecretAccessKey() | Should -Not -BeNullOrEmpty
        ($credential | Out-String) | Should -Not -Match ([regex]::Escape($credential.GetSecretAccessKey()))
    }

    It 'walks a folder into items' {
        $items = Get-ImdsMetadata -Endpoint $imds.Endpoint -Path meta-data/placement/ -Recurse
        ($items | Where-Object Name -eq 'region').Value | Should -Be 'eu-west-1'
    }

    It 'fails with an ErrorId on a wrong path' {
        { Get-ImdsMetadata -Endpoint $imds.Endpoint -Path meta-data/no-such -ErrorAction Stop } |
            Should -Throw -ErrorId 'ImdsPathNotFound,ImdsTroubleshoot.Commands.GetImdsMetadataCommand'
    }
}
