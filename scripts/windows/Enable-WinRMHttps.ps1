<#
.SYNOPSIS
  Enable WinRM over HTTPS (port 5986) on a Windows host so that Ansible (pywinrm) can manage it
  as a zoe-prefect worker, with certificate validation on the controller.

.DESCRIPTION
  Run once, as Administrator, on the Windows host:

    powershell -NoProfile -ExecutionPolicy Bypass -File Enable-WinRMHttps.ps1
    powershell -NoProfile -ExecutionPolicy Bypass -File Enable-WinRMHttps.ps1 -CertificateThumbprint <thumbprint>

  With -CertificateThumbprint, the listener uses that certificate from LocalMachine\My (one your
  CA issued for the host's DNS name: the best choice). Without it, a self-signed certificate for
  the host's DNS name is created and exported to -ExportPath (a .cer file): copy it to the
  controller and point ansible_winrm_ca_trust_path at it (converted to PEM), so that
  certificate validation stays on.

  What it changes: the WinRM service (started, automatic), one HTTPS listener, a firewall rule
  for TCP 5986 limited to -AllowFrom, Basic authentication and unencrypted traffic off.
  Running it again changes nothing that is already in place.

.PARAMETER DnsName
  The name Ansible uses for the host (must match the certificate). Default: the FQDN. On a
  workgroup host (no domain) that is the short computer name: give the name the controller
  connects to instead (the inventory's host name).
.PARAMETER AllowFrom
  Remote addresses allowed to reach 5986 (e.g. the controller's address). Default: Any.
.PARAMETER AllowLocalAdministrators
  Let local accounts of the Administrators group other than the built-in Administrator use
  their administrator rights over WinRM with NTLM (LocalAccountTokenFilterPolicy = 1). Without
  it, Windows filters such an account's token for remote logons (UAC remote restrictions) and
  Ansible is denied. Not needed for the built-in Administrator or domain accounts; it widens
  what a stolen local administrator password allows over the network.
#>
[CmdletBinding()]
param(
    [string] $DnsName = ([System.Net.Dns]::GetHostEntry($env:COMPUTERNAME).HostName),
    [string] $CertificateThumbprint,
    [string] $ExportPath = (Join-Path $env:USERPROFILE "winrm-$($env:COMPUTERNAME).cer"),
    [string[]] $AllowFrom = @('Any'),
    [switch] $AllowLocalAdministrators
)
$ErrorActionPreference = 'Stop'

Set-Service -Name WinRM -StartupType Automatic
Start-Service -Name WinRM

if (-not $CertificateThumbprint) {
    $existing = Get-ChildItem Cert:\LocalMachine\My |
        Where-Object { $_.Subject -eq "CN=$DnsName" -and $_.NotAfter -gt (Get-Date).AddDays(30) } |
        Sort-Object NotAfter -Descending | Select-Object -First 1
    if ($existing) {
        $cert = $existing
    } else {
        $cert = New-SelfSignedCertificate -DnsName $DnsName -CertStoreLocation Cert:\LocalMachine\My `
            -KeyExportPolicy NonExportable -NotAfter (Get-Date).AddYears(3)
        Write-Host "Created a self-signed certificate for $DnsName ($($cert.Thumbprint))"
    }
    Export-Certificate -Cert $cert -FilePath $ExportPath -Force | Out-Null
    Write-Host "Copy $ExportPath to the controller and trust it (ansible_winrm_ca_trust_path)."
    $CertificateThumbprint = $cert.Thumbprint
}

$listener = Get-ChildItem WSMan:\localhost\Listener |
    Where-Object { $_.Keys -contains 'Transport=HTTPS' }
if ($listener) {
    $current = (Get-ChildItem "WSMan:\localhost\Listener\$($listener.Name)" |
        Where-Object Name -eq 'CertificateThumbprint').Value
    if ($current -ne $CertificateThumbprint) {
        Set-Item "WSMan:\localhost\Listener\$($listener.Name)\CertificateThumbprint" $CertificateThumbprint
        Write-Host "HTTPS listener now uses $CertificateThumbprint"
    }
} else {
    New-Item -Path WSMan:\localhost\Listener -Transport HTTPS -Address * `
        -CertificateThumbPrint $CertificateThumbprint -HostName $DnsName -Force | Out-Null
    Write-Host "Created the WinRM HTTPS listener on port 5986"
}

if ($AllowLocalAdministrators) {
    $policy = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System'
    $current = (Get-ItemProperty -Path $policy -Name LocalAccountTokenFilterPolicy -ErrorAction SilentlyContinue).LocalAccountTokenFilterPolicy
    if ($current -ne 1) {
        New-ItemProperty -Path $policy -Name LocalAccountTokenFilterPolicy -Value 1 -PropertyType DWord -Force | Out-Null
        Write-Host "Local administrators keep their rights over WinRM (LocalAccountTokenFilterPolicy = 1)"
    }
}

# Only encrypted, non-Basic authentication (NTLM/Negotiate/Kerberos).
Set-Item WSMan:\localhost\Service\Auth\Basic $false
Set-Item WSMan:\localhost\Service\AllowUnencrypted $false

$rule = Get-NetFirewallRule -Name 'zoe-prefect-winrm-https' -ErrorAction SilentlyContinue
if (-not $rule) {
    New-NetFirewallRule -Name 'zoe-prefect-winrm-https' -DisplayName 'WinRM over HTTPS (Ansible)' `
        -Direction Inbound -Protocol TCP -LocalPort 5986 -RemoteAddress $AllowFrom -Action Allow | Out-Null
    Write-Host "Opened TCP 5986 for $($AllowFrom -join ', ')"
} else {
    Set-NetFirewallRule -Name 'zoe-prefect-winrm-https' -RemoteAddress $AllowFrom
}
Write-Host "WinRM over HTTPS is ready on ${DnsName}:5986 (certificate $CertificateThumbprint)."
