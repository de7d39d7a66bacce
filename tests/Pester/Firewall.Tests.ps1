#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Pester 5 tests for pwsh users; the xunit suite parses this file. Run as root: ./build.ps1 -Task Test
# Everything happens in a throw-away network namespace; the host's own firewall is never touched.
BeforeDiscovery {
    $script:isRoot = (& id -u) -eq '0'
}

BeforeAll {
    $manifest = if ($env:IMDS_TROUBLESHOOT_MODULE) { $env:IMDS_TROUBLESHOOT_MODULE } else {
        Get-ChildItem (Join-Path $PSScriptRoot '../../out/ImdsTroubleshoot/*/ImdsTroubleshoot.psd1') | Select-Object -First 1 -ExpandProperty FullName
    }
    Import-Module $manifest -Force
    $ns = "imds-pester-fw-$PID"
}

Describe 'Get-ImdsFirewallRule and Remove-ImdsFirewallRule' -Skip:(-not $isRoot) {
    BeforeEach {
        ip netns add $ns
        ip -n $ns link set lo up
        ip netns exec $ns iptables -A OUTPUT -p tcp -d 169.254.169.254 -m owner --uid-owner 1000-10000 -j REJECT
        ip netns exec $ns iptables -A OUTPUT -p udp -d 169.254.169.253 --dport 53 -j DROP
    }

    AfterEach {
        ip netns del $ns
    }

    It 'finds the AWS article rule, blocking uid 1000 but not root' {
        $rule = Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4 | Where-Object Blocks
        $rule | Should -HaveCount 1
        $rule.Chain | Should -Be 'OUTPUT'
        $rule.ExpectedSymptom | Should -Be 'ConnectionRefused'
        $rule.BlockedFor | Where-Object { $_ -like 'uid 1000*' } | Should -Not -BeNullOrEmpty
        $rule.BlockedFor | Where-Object { $_ -like 'uid 0 *' } | Should -BeNullOrEmpty
        Get-ImdsFirewallRule -NetworkNamespace $ns -Uid 0 -AddressFamily IPv4 | Where-Object Blocks | Should -BeNullOrEmpty
    }

    It 'changes nothing with -WhatIf' {
        $before = ip netns exec $ns iptables-save | Where-Object { $_ -notlike '#*' }
        Get-ImdsFirewallRule -NetworkNamespace $ns | Where-Object Blocks | Remove-ImdsFirewallRule -WhatIf
        ip netns exec $ns iptables-save | Where-Object { $_ -notlike '#*' } | Should -Be $before
    }

    It 'deletes the rule, and reports it as already gone the second time' {
        $rules = Get-ImdsFirewallRule -NetworkNamespace $ns | Where-Object Blocks
        ($rules | Remove-ImdsFirewallRule -Force).Status | Should -Be 'Removed'
        ip netns exec $ns iptables -S OUTPUT | Should -Not -Match 'uid-owner'
        ($rules | Remove-ImdsFirewallRule -Force -WarningAction SilentlyContinue).Status | Should -Be 'AlreadyGone'
    }

    It 'refuses to delete a chain policy' {
        ip netns exec $ns iptables -P OUTPUT DROP
        $policy = Get-ImdsFirewallRule -NetworkNamespace $ns -AddressFamily IPv4 | Where-Object IsPolicy
        { $policy | Remove-ImdsFirewallRule -Force -ErrorAction Stop } | Should -Throw -ErrorId 'FirewallRuleIsPolicy,ImdsTroubleshoot.Commands.RemoveImdsFirewallRuleCommand'
    }
}

Describe 'Get-ImdsFirewallRule without root' -Skip:$isRoot {
    It 'says that it needs root instead of returning no rules' {
        { Get-ImdsFirewallRule -ErrorAction Stop } | Should -Throw -ErrorId 'FirewallReadPermissionDenied,ImdsTroubleshoot.Commands.GetImdsFirewallRuleCommand'
    }
}
