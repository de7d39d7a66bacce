#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
<#
    Compliance runbook: every instance in a Region has IMDS enabled and requires IMDSv2.
    One test per instance, named by ID and Name tag, so a report (Invoke-Pester -Output Detailed, or
    -CI for JUnit/NUnit XML) lists exactly the instances to fix and the fix for each.

    Run it against an account:
        $env:IMDS_RUNBOOK_REGION = 'eu-west-1'      # required: the runbook never guesses a Region
        $env:IMDS_RUNBOOK_PROFILE = 'audit'         # optional: a profile of ~/.aws/config
        Invoke-Pester ./tests/Pester/MetadataOptions.Tests.ps1 -Output Detailed
    Credentials come from the profile, AWS.Tools' Set-AWSCredential, or the AWS SDK default chain;
    AWS_ENDPOINT_URL_EC2 points it at another endpoint. Needs ec2:DescribeInstances only.
    Without IMDS_RUNBOOK_REGION (as in ./build.ps1 -Task Test) the instance checks are skipped.
#>
BeforeDiscovery {
    $manifest = if ($env:IMDS_TROUBLESHOOT_MODULE) { $env:IMDS_TROUBLESHOOT_MODULE } else {
        Get-ChildItem (Join-Path $PSScriptRoot '../../out/ImdsTroubleshoot/*/ImdsTroubleshoot.psd1') | Select-Object -First 1 -ExpandProperty FullName
    }
    Import-Module $manifest -Force

    $script:region = $env:IMDS_RUNBOOK_REGION
    $script:instances = @()
    if ($script:region) {
        $connection = @{ Region = $script:region }
        if ($env:IMDS_RUNBOOK_PROFILE) { $connection.ProfileName = $env:IMDS_RUNBOOK_PROFILE }
        # Terminated instances are gone; stopped ones still count (they start with these options).
        $script:instances = @(Get-ImdsMetadataOption @connection -Filter @{ 'instance-state-name' = 'pending', 'running', 'stopping', 'stopped' } -ErrorAction Stop |
            ForEach-Object { @{ InstanceId = $_.InstanceId; Name = $_.Name; Options = $_ } })
    }
}

Describe 'IMDS compliance in <region>' -ForEach @{ region = $script:region } -Skip:(-not $script:region) {
    Context '<InstanceId> (<Name>)' -ForEach $script:instances {
        It 'has the instance metadata service enabled' {
            $Options.HttpEndpoint | Should -Be 'Enabled' -Because "Set-ImdsMetadataOption -InstanceId $InstanceId -Region $region -HttpEndpoint Enabled (aws ec2 modify-instance-metadata-options --instance-id $InstanceId --http-endpoint enabled)"
        }

        It 'requires IMDSv2' {
            $Options.HttpTokens | Should -Be 'Required' -Because "Set-ImdsMetadataOption -InstanceId $InstanceId -Region $region -HttpTokens Required (aws ec2 modify-instance-metadata-options --instance-id $InstanceId --http-tokens required)"
        }

        It 'has no metadata change still pending' {
            $Options.State | Should -Be 'Applied'
        }
    }
}

Describe 'Compliance checks the runbook relies on' {
    It 'flags IMDS off and IMDSv1 in the assessment' {
        $off = [ImdsTroubleshoot.Engine.Ec2.ImdsMetadataOption]::new('i-0123456789abcdef0', 'web-1', 'running', 'Applied', 'Disabled', 'Optional', 1, 'Disabled', 'Disabled', 'eu-west-1', $null)
        $off.IsImdsV2Enforced | Should -BeFalse
        $off.Findings | Should -Contain 'ImdsDisabled'
        $good = [ImdsTroubleshoot.Engine.Ec2.ImdsMetadataOption]::new('i-0123456789abcdef0', 'web-1', 'running', 'Applied', 'Enabled', 'Required', 2, 'Disabled', 'Disabled', 'eu-west-1', $null)
        $good.IsImdsV2Enforced | Should -BeTrue
        $good.Assessment | Should -Be 'OK: IMDSv2 required'
    }

    It 'refuses a malformed instance ID before calling AWS' {
        { Get-ImdsMetadataOption -InstanceId 'i-123' -Region eu-west-1 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InstanceIdMalformed,ImdsTroubleshoot.Commands.GetImdsMetadataOptionCommand'
    }
}
