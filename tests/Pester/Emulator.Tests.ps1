#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Pester 5 tests for pwsh users; the xunit suite parses this file. Run: ./build.ps1 -Task Test
BeforeAll {
    $manifest = if ($env:IMDS_TROUBLESHOOT_MODULE) { $env:IMDS_TROUBLESHOOT_MODULE } else {
        Get-ChildItem (Join-Path $PSScriptRoot '../../out/ImdsTroubleshoot/*/ImdsTroubleshoot.psd1') | Select-Object -First 1 -ExpandProperty FullName
    }
    Import-Module $manifest -Force
}

AfterAll {
    Get-ImdsEmulator | Stop-ImdsEmulator -Confirm:$false
}

Describe 'IMDS emulator' {
    It 'answers IMDSv2 and refuses IMDSv1 when tokens are required' {
        $emulator = Start-ImdsEmulator -Scenario TokensRequired -Name pester-tokens
        $token = Invoke-RestMethod -Method Put -Uri "$($emulator.Endpoint)latest/api/token" -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '60' } -NoProxy
        Invoke-RestMethod -Uri "$($emulator.Endpoint)latest/meta-data/instance-id" -Headers @{ 'X-aws-ec2-metadata-token' = $token } -NoProxy |
            Should -Be 'i-0123456789abcdef0'
        { Invoke-RestMethod -Uri "$($emulator.Endpoint)latest/meta-data/instance-id" -NoProxy } | Should -Throw
        Get-ImdsEmulatorLog -Name pester-tokens -Kind V1 | Select-Object -ExpandProperty StatusCode | Should -Be 401
    }

    It 'changes settings while running' {
        $emulator = Start-ImdsEmulator -Name pester-set
        $emulator | Set-ImdsEmulator -HttpEndpoint Disabled
        $emulator.Settings.HttpEndpoint | Should -Be 'Disabled'
    }

    It 'reports a missing emulator with its ErrorId' {
        { Get-ImdsEmulator -Name no-such -ErrorAction Stop } | Should -Throw -ErrorId 'EmulatorNotFound,ImdsTroubleshoot.Commands.GetImdsEmulatorCommand'
    }
}
