#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests and packages ImdsTroubleshoot.
.DESCRIPTION
    Build   - dotnet build; MSBuild stages the module in out/ImdsTroubleshoot/<version>/ (psd1, dlls, format
              file, MAML help, Dependencies/) and the CLI in out/imds-troubleshoot/.
    Test    - runs the xunit suite (tests/run-tests.sh: engine, PowerShell-surface, CLI and lab tests; the lab
              tests need root) and, where Pester 5 is installed, tests/Pester against the staged module.
    Package - makes out/ImdsTroubleshoot.<version>.nupkg from the staged folder (MSBuild target PackModule): the
              package Install-Module / Install-PSResource accept, ready for Publish-PSResource -NupkgPath.
.EXAMPLE
    ./build.ps1 -Task Build
.EXAMPLE
    ./build.ps1 -Task Package
    Register-PSResourceRepository -Name local -Uri ./out -Trusted; Install-PSResource ImdsTroubleshoot -Repository local
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Package')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
[xml] $props = Get-Content -Raw (Join-Path $root 'Directory.Build.props')
$version = $props.Project.PropertyGroup.Version | Where-Object { $_ } | Select-Object -First 1
$staged = Join-Path $root "out/ImdsTroubleshoot/$version"

function Invoke-Build {
    dotnet build (Join-Path $root 'ImdsTroubleshoot.sln') -c $Configuration
    if ($LASTEXITCODE -ne 0) { throw "dotnet build failed ($LASTEXITCODE)" }
    if (-not (Test-Path (Join-Path $staged 'ImdsTroubleshoot.psd1'))) { throw "The module was not staged in $staged" }
    Test-ModuleManifest -Path (Join-Path $staged 'ImdsTroubleshoot.psd1') | Out-Null
    Write-Host "Staged ImdsTroubleshoot $version in $staged"
}

function Invoke-Test {
    Invoke-Build
    bash (Join-Path $root 'tests/run-tests.sh') --no-install -c $Configuration
    if ($LASTEXITCODE -ne 0) { throw "xunit tests failed ($LASTEXITCODE)" }
    if (Get-Module -ListAvailable Pester | Where-Object Version -ge '5.0.0') {
        $env:IMDS_TROUBLESHOOT_MODULE = Join-Path $staged 'ImdsTroubleshoot.psd1'
        $result = Invoke-Pester -Path (Join-Path $root 'tests/Pester') -PassThru -Output Detailed
        if ($result.FailedCount -gt 0) { throw "$($result.FailedCount) Pester tests failed" }
    }
    else {
        Write-Warning 'Pester 5 is not installed: tests/Pester was not run (Install-Module Pester -MinimumVersion 5.0).'
    }
}

function Invoke-Package {
    # The PackModule MSBuild target packs the staged folder as the PowerShell Gallery package (module files at the
    # root, PSModule and PSCmdlet_* tags): what Publish-Module / Publish-PSResource upload and Install-Module installs.
    dotnet msbuild (Join-Path $root 'src/ImdsTroubleshoot/ImdsTroubleshoot.csproj') -t:PackModule -p:Configuration=$Configuration -nologo -v:m
    if ($LASTEXITCODE -ne 0) { throw "packing failed ($LASTEXITCODE)" }
    $package = Join-Path $root "out/ImdsTroubleshoot.$version.nupkg"
    Test-ModuleManifest -Path (Join-Path $staged 'ImdsTroubleshoot.psd1') | Out-Null
    Write-Host "Package: $package (publish with: Publish-PSResource -NupkgPath $package -Repository PSGallery -ApiKey ...)"
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Package' { Invoke-Package }
}
