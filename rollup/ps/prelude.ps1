# Functions prepended to rollup's remote scripts. PowerShell 2.0 (CLR 2.0) only.
# rollup.ps.prelude reads this file, keeps only the functions a script asks for, and drops these
# comment lines and the indentation, so the readable source costs nothing on the wire.
# Layout rules the loader relies on: each function starts with "function Name" at column 0 and
# ends with a line holding only "}"; comments sit on lines of their own; no here-strings.

# The JSON text of one value: the stand-in for ConvertTo-Json, which PowerShell 2.0 lacks.
# rollup.ps.result.format_result is its Python twin and must produce the same text.
# - $null and DBNull -> null; booleans -> true/false;
# - [datetime] -> "yyyy-MM-ddTHH:mm:ss.fffZ" in UTC (milliseconds truncated);
# - Double/Single -> 'R' format in the invariant culture, NaN and infinities -> null;
# - integer types and Decimal -> invariant digits;
# - dictionaries -> objects, keys sorted ordinally (UTF-16 code units); use string keys, as a
#   key is looked up again by its string;
# - other enumerables (not strings) -> arrays;
# - anything else -> the string of its ToString(): '"' and '\' backslash-escaped, every UTF-16
#   code unit below 32 or above 126 as \uxxxx (lower-case hex), so the line is printable ASCII.
# The key list is read through PSBase, because $h.Keys returns the entry named "Keys" if any.
function ConvertTo-RollupJson($v) {
    if ($null -eq $v -or $v -is [DBNull]) { return 'null' }
    # "True" and "False" lower-case to the JSON words in every culture
    if ($v -is [bool]) { return "$v".ToLower() }
    $c = [Globalization.CultureInfo]::InvariantCulture
    # a date continues as the string of its UTC time
    if ($v -is [datetime]) { $v = $v.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", $c) }
    $t = $v.GetType().Name
    if ('Double', 'Single' -contains $t) {
        $d = [double]$v
        if ([double]::IsNaN($d) -or [double]::IsInfinity($d)) { return 'null' }
        return $d.ToString('R', $c)
    }
    if ($t -match '^(S?Byte|U?Int\d+|Decimal)$') { return $v.ToString($c) }
    if ($v -is [Collections.IDictionary]) {
        $k = [string[]]@($v.PSBase.Keys)
        [Array]::Sort($k, [StringComparer]::Ordinal)
        $p = foreach ($n in $k) { (ConvertTo-RollupJson $n) + ':' + (ConvertTo-RollupJson $v[$n]) }
        return '{' + (@($p) -join ',') + '}'
    }
    if ($v -is [Collections.IEnumerable] -and $v -isnot [string]) {
        $p = foreach ($i in $v) { ConvertTo-RollupJson $i }
        return '[' + (@($p) -join ',') + ']'
    }
    # escaped by Replace (quote, backslash, CR, LF), then char by char only if a character
    # outside printable ASCII is left
    $s = $v.ToString().Replace('\', '\\').Replace('"', '\"').Replace("`r", '\u000d').Replace("`n", '\u000a')
    if ($s -cmatch '[^ -~]') {
        $b = New-Object Text.StringBuilder
        foreach ($ch in $s.ToCharArray()) {
            $n = [int]$ch
            if ($n -lt 32 -or $n -gt 126) { $ch = '\u' + $n.ToString('x4') }
            [void]$b.Append($ch)
        }
        $s = $b.ToString()
    }
    return '"' + $s + '"'
}

# Print "#rollup-result <json>" as one line. Written to the process's standard output directly,
# so the line can neither be captured by an assignment nor reformatted by the host.
function Write-RollupResult($v) {
    [Console]::Out.WriteLine('#rollup-result ' + (ConvertTo-RollupJson $v))
}

# Lower-case hex SHA-256 of a file (full local path). Get-FileHash is PowerShell 4.0, so this is
# .NET's HashAlgorithm: SHA256Managed, or SHA256CryptoServiceProvider (.NET 3.5) where the FIPS
# policy forbids the managed class. The file is opened for reading, shared, and always closed.
function Get-RollupSha256([string]$Path) {
    try {
        $a = New-Object Security.Cryptography.SHA256Managed -ErrorAction Stop
        [void]$a.ComputeHash([byte[]]@())
    }
    catch { $a = New-Object Security.Cryptography.SHA256CryptoServiceProvider }
    $s = [IO.File]::Open($Path, 'Open', 'Read', 'Read')
    try { $h = $a.ComputeHash($s) }
    finally {
        $s.Close()
        $a.Clear()
    }
    return ([BitConverter]::ToString($h) -replace '-', '').ToLowerInvariant()
}

# Hashtable of the MSI Property table values named in $Name (case-sensitive; names absent from
# the table are absent from the result). Opens the database read-only (mode 0) through the
# WindowsInstaller.Installer COM object, reads the whole table (no values in the query text),
# then releases every COM object and collects, because the .msi stays locked until they are gone.
function Get-RollupMsiProperty([string]$Path, [string[]]$Name) {
    $r = @{}
    $m = 'InvokeMethod'
    $o = New-Object Collections.ArrayList
    try {
        $i = New-Object -ComObject WindowsInstaller.Installer
        [void]$o.Add($i)
        $d = $i.GetType().InvokeMember('OpenDatabase', $m, $null, $i, @($Path, 0))
        [void]$o.Add($d)
        $w = $d.GetType().InvokeMember('OpenView', $m, $null, $d, @('SELECT `Property`,`Value` FROM `Property`'))
        [void]$o.Add($w)
        [void]$w.GetType().InvokeMember('Execute', $m, $null, $w, $null)
        while ($true) {
            $x = $w.GetType().InvokeMember('Fetch', $m, $null, $w, $null)
            if ($null -eq $x) { break }
            [void]$o.Add($x)
            $k = $x.GetType().InvokeMember('StringData', 'GetProperty', $null, $x, @(1))
            if ($Name -ccontains $k) { $r[$k] = $x.GetType().InvokeMember('StringData', 'GetProperty', $null, $x, @(2)) }
        }
        [void]$w.GetType().InvokeMember('Close', $m, $null, $w, $null)
    }
    finally {
        foreach ($x in $o) { [void][Runtime.InteropServices.Marshal]::ReleaseComObject($x) }
        [GC]::Collect()
        [GC]::WaitForPendingFinalizers()
    }
    return $r
}

# $true while another installation holds the Windows Installer mutex (msiexec would return 1618).
# A mutex that exists but cannot be opened (access denied) is held too.
function Test-RollupMsiBusy {
    try {
        $x = [Threading.Mutex]::OpenExisting('Global\_MSIExecute')
        $x.Close()
        return $true
    }
    catch {
        $e = $_.Exception
        if ($e.InnerException) { $e = $e.InnerException }
        return $e -is [UnauthorizedAccessException]
    }
}
