#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Pester 5 tests for pwsh users; the xunit suite parses this file. Run: ./build.ps1 -Task Test
BeforeAll {
    $manifest = if ($env:IMDS_TROUBLESHOOT_MODULE) { $env:IMDS_TROUBLESHOOT_MODULE } else {
        Get-ChildItem (Join-Path $PSScriptRoot '../../out/ImdsTroubleshoot/*/ImdsTroubleshoot.psd1') | Select-Object -First 1 -ExpandProperty FullName
    }
    Import-Module $manifest -Force
    $imds = '169.254.169.254,fd00:ec2::254,[fd00:ec2::254]'
}

Describe 'Proxy configuration' {
    BeforeEach {
        $root = Join-Path ([IO.Path]::GetTempPath()) ("imds-proxy-pester-" + [guid]::NewGuid())
        New-Item -ItemType Directory -Path (Join-Path $root 'etc/profile.d') -Force | Out-Null
        Set-Content -Path (Join-Path $root 'etc/environment') -Value "http_proxy=http://user:secret@proxy:3128`nNO_PROXY=localhost" -NoNewline
    }

    AfterEach {
        Remove-Item -Recurse -Force $root
    }

    It 'finds the proxy, masks its password and says IMDS is not exempt' {
        $setting = Get-ImdsProxyConfiguration -RootPath $root | Where-Object Variable -eq 'http_proxy'
        $setting.Line | Should -Be 1
        $setting.ProxyUrl | Should -Be 'http://user:****@proxy:3128'
        $setting.Exempt | Should -BeFalse
        $setting.ImdsExempt.NotExempt | Should -Contain 'Curl'
    }

    It 'changes nothing with -WhatIf' {
        $before = Get-FileHash (Join-Path $root 'etc/environment')
        Repair-ImdsProxy -Scope Machine -RootPath $root -WhatIf
        (Get-FileHash (Join-Path $root 'etc/environment')).Hash | Should -Be $before.Hash
    }

    It 'exempts IMDS for every client family and a second run changes nothing' {
        $repair = Repair-ImdsProxy -Scope Machine -RootPath $root -Confirm:$false -PassThru
        $repair.Status | Should -Be 'Repaired'
        Test-Path $repair.BackupPath | Should -BeTrue
        Get-Content (Join-Path $root 'etc/environment') | Should -Contain "NO_PROXY=localhost,$imds"
        Get-ImdsProxyConfiguration -RootPath $root -NotExempt | Should -BeNullOrEmpty
        Repair-ImdsProxy -Scope Machine -RootPath $root -Confirm:$false -PassThru | Should -BeNullOrEmpty
    }

    It 'repairs the session environment' {
        $saved = $env:HTTP_PROXY, $env:NO_PROXY, $env:no_proxy
        try {
            $env:HTTP_PROXY = 'http://proxy:3128'; $env:NO_PROXY = $null; $env:no_proxy = $null
            Repair-ImdsProxy -Scope Session -Confirm:$false
            $env:NO_PROXY | Should -Be $imds
            $env:no_proxy | Should -Be $imds
        }
        finally {
            $env:HTTP_PROXY, $env:NO_PROXY, $env:no_proxy = $saved
        }
    }

    It 'reports a missing root with its ErrorId' {
        { Get-ImdsProxyConfiguration -RootPath /nonexistent/root -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProxyRootPathNotFound,ImdsTroubleshoot.Commands.GetImdsProxyConfigurationCommand'
    }
}
