#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Pester 5 tests for pwsh users; the xunit suite parses this file. Run: ./build.ps1 -Task Test
# Get-EnaLinkLocalStat reads this machine's own interfaces; on a machine without ENA the ENA-specific test checks the
# error instead. Nothing here needs root.
BeforeAll {
    $manifest = if ($env:IMDS_TROUBLESHOOT_MODULE) { $env:IMDS_TROUBLESHOOT_MODULE } else {
        Get-ChildItem (Join-Path $PSScriptRoot '../../out/ImdsTroubleshoot/*/ImdsTroubleshoot.psd1') | Select-Object -First 1 -ExpandProperty FullName
    }
    Import-Module $manifest -Force

    # Interfaces whose driver ethtool reports as ena, by the ethtool binary where it exists (an independent check).
    $script:ena = @(Get-ChildItem /sys/class/net | Where-Object {
            (Get-Command ethtool -ErrorAction Ignore) -and ((ethtool -i $_.Name 2>$null) -contains 'driver: ena')
        } | ForEach-Object Name)
    # An interface with driver statistics (not lo), for the -All and sampling tests.
    $script:withStats = Get-ChildItem /sys/class/net | Where-Object Name -ne 'lo' | Where-Object {
        $null -ne (Get-EnaLinkLocalStat -Interface $_.Name -All -ErrorAction Ignore | Select-Object -First 1)
    } | Select-Object -First 1 -ExpandProperty Name
}

Describe 'Get-EnaLinkLocalStat' {
    It 'reads every ENA interface, or says there is none with its ErrorId' {
        if ($script:ena.Count -gt 0) {
            (Get-EnaLinkLocalStat).Interface | Sort-Object | Should -Be ($script:ena | Sort-Object)
        } else {
            { Get-EnaLinkLocalStat -ErrorAction Stop } | Should -Throw -ErrorId 'NoEnaInterface,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand'
        }
    }

    It 'reports a missing interface as NetworkInterfaceNotFound' {
        { Get-EnaLinkLocalStat -Interface nope0 -ErrorAction Stop } | Should -Throw -ErrorId 'NetworkInterfaceNotFound,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand'
    }

    It 'says loopback has no statistics' {
        { Get-EnaLinkLocalStat -Interface lo -ErrorAction Stop } | Should -Throw -ErrorId 'InterfaceStatisticsNotSupported,ImdsTroubleshoot.Commands.GetEnaLinkLocalStatCommand'
    }

    It 'lists the same statistic names as ethtool -S' -Skip:(-not (Get-Command ethtool -ErrorAction Ignore)) {
        $names = (Get-EnaLinkLocalStat -Interface $script:withStats -All).Name
        $ethtool = ethtool -S $script:withStats | Select-Object -Skip 1 | ForEach-Object { ($_ -split ': ')[0].Trim() }
        $names | Should -Be $ethtool
    }

    It 'never reports missing ENA counters as zero' {
        $result = Get-EnaLinkLocalStat -Interface $script:withStats
        if (-not $result.IsEna) {
            $result.Support | Should -Be 'NotEna'
            $result.LinkLocalAllowanceExceeded | Should -BeNullOrEmpty
            $result.Counters.Supported | Should -Not -Contain $true
        } else {
            $result.Counter('linklocal_allowance_exceeded').Supported | Should -Be ($null -ne $result.LinkLocalAllowanceExceeded)
        }
    }

    It 'samples and reports deltas over the window' {
        $result = Get-EnaLinkLocalStat -Interface $script:withStats -SampleInterval 0.5 -Count 3
        $result.SampleCount | Should -Be 3
        $result.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 0.9
    }
}
