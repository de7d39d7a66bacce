#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

<#
.SYNOPSIS
    Fleet health runbook for instance metadata: every instance reaches IMDS, requires IMDSv2, has no local
    firewall rule that blocks IMDS, and is not throttled.

.DESCRIPTION
    Runs Invoke-ImdsDiagnosis on every instance through AWS Systems Manager Run Command (one SendCommand per 50
    instances), reads the instances' metadata options with one EC2 API call per 1,000, and asserts the four checks
    per instance. Needs ssm:SendCommand, ssm:ListCommandInvocations, ssm:GetCommandInvocation and
    ec2:DescribeInstances, and the SSM agent on the instances.

.EXAMPLE
    $container = New-PesterContainer -Path ./examples/FleetHealth.Tests.ps1 -Data @{ InstanceId = 'i-0123456789abcdef0', 'i-0fedcba9876543210'; Region = 'eu-west-1' }
    Invoke-Pester -Container $container -Output Detailed

.EXAMPLE
    # Every running instance tagged Env=prod:
    $ids = Get-ImdsMetadataOption -Region eu-west-1 -Filter @{ 'tag:Env' = 'prod' } | Select-Object -ExpandProperty InstanceId
    Invoke-Pester -Container (New-PesterContainer -Path ./examples/FleetHealth.Tests.ps1 -Data @{ InstanceId = $ids; Region = 'eu-west-1' })
#>
param(
    [Parameter(Mandatory)]
    [string[]] $InstanceId,

    [string] $Region = $env:AWS_REGION,

    # Seconds each probe step may take on the instance.
    [double] $TimeoutSec = 2
)

BeforeDiscovery {
    $instances = $InstanceId
}

BeforeAll {
    Import-Module ImdsTroubleshoot

    $diagnosisErrors = @()
    $findings = Invoke-ImdsDiagnosis -InstanceId $InstanceId -Region $Region -TimeoutSec $TimeoutSec -ErrorAction SilentlyContinue -ErrorVariable diagnosisErrors
    $script:findingsByInstance = $findings | Group-Object -Property Target -AsHashTable -AsString
    $script:errorsByInstance = $diagnosisErrors | Group-Object -Property { $_.TargetObject } -AsHashTable -AsString
    $script:optionsByInstance = Get-ImdsMetadataOption -InstanceId $InstanceId -Region $Region | Group-Object -Property InstanceId -AsHashTable -AsString

    function Get-Finding([string] $Instance, [string] $Check) {
        $script:findingsByInstance[$Instance] | Where-Object Check -EQ $Check
    }
}

Describe 'IMDS on <_>' -ForEach $instances {
    BeforeAll {
        $instance = $_
    }

    It 'was diagnosed through SSM' {
        $script:errorsByInstance[$instance] | ForEach-Object { $_.FullyQualifiedErrorId } | Should -BeNullOrEmpty
        $script:findingsByInstance[$instance] | Should -Not -BeNullOrEmpty
    }

    It 'reaches IMDS' {
        $endpoint = Get-Finding $instance 'Endpoint'
        $endpoint.Status | Should -Be 'Pass' -Because $endpoint.Detail
        (Get-Finding $instance 'Token').Status | Should -Be 'Pass' -Because (Get-Finding $instance 'Token').Fix
    }

    It 'requires IMDSv2' {
        $script:optionsByInstance[$instance].HttpTokens | Should -Be 'Required' -Because 'IMDSv1 lets SSRF read role credentials; fix: Set-ImdsMetadataOption -HttpTokens Required'
    }

    It 'has no firewall rule that blocks IMDS' {
        $firewall = Get-Finding $instance 'Firewall'
        $firewall.Status | Should -Not -Be 'Fail' -Because "$($firewall.Detail) $($firewall.Fix)"
        $firewall.Outcome | Should -Not -Be 'FirewallBlocksImdsForOthers' -Because $firewall.Fix
    }

    It 'is not throttled' {
        $throttling = Get-Finding $instance 'Throttling'
        $throttling.Status | Should -Be 'Pass' -Because "$($throttling.Detail) $($throttling.Fix)"
    }
}
