"""
The environment block of a process WinRS starts on a simulated host, as cmd.exe's ``set`` lists it.

Windows keeps an environment block sorted by name, ignoring case, and a program that sets a
variable inserts it before the first entry whose name sorts after it: the list is only as sorted
as the insertions keep it. The recorded ``set`` outputs (pypsrp's captures of Server 2016,
``test_winrs_environment.yml``, ``test_client_execute_cmd_environment.yml``,
``test_winrs_noprofile.yml``) show two such insertions with two different comparisons:

- WinRS adds the Create's ``rsp:Environment`` variables, in the order sent, comparing names in
  lower case: ``_X`` lands before ``ALLUSERSPROFILE`` (``_`` is below ``a``), ``1234`` first;
- cmd.exe then adds ``PROMPT=$P$G`` (unless set), comparing in upper case: it stops at the first
  name above ``PROMPT``, which is ``_X`` (``_`` is above ``P``) when the Create sent one, and
  otherwise lands in order, between ``ProgramW6432`` and ``PSModulePath``.

The host's own variables are those of a WinRS logon: the user's profile (``APPDATA``, ``TEMP``
in the profile) unless the Create asked for ``WINRS_NOPROFILE`` (then ``USERPROFILE`` is the
default profile and ``TEMP`` is ``%SystemRoot%\\TEMP``), and no ``HOMEDRIVE``, ``LOGONSERVER`` or
``SESSIONNAME``, which WinRS sessions lack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from rollup.lab.scripting import WindowsVersion

Block = list[tuple[str, str]]
"""``(name, value)`` pairs in the block's order."""

PROMPT = ("PROMPT", "$P$G")


def insert(block: Block, name: str, value: str, key: Callable[[str], str]) -> None:
    """Set ``name``: replace its entry (any case), else insert it before the first name above it."""
    for index, (existing, _) in enumerate(block):
        if existing.upper() == name.upper():
            block[index] = (name, value)
            return
    wanted = key(name)
    for index, (existing, _) in enumerate(block):
        if key(existing) > wanted:
            block.insert(index, (name, value))
            return
    block.append((name, value))


def remove(block: Block, name: str) -> bool:
    """Delete ``name`` (any case); whether it was there."""
    for index, (existing, _) in enumerate(block):
        if existing.upper() == name.upper():
            del block[index]
            return True
    return False


def lookup(block: Block, name: str) -> str | None:
    """The value of ``name`` (any case), or ``None``."""
    return next((value for existing, value in block if existing.upper() == name.upper()), None)


def short_name(name: str) -> str:
    """The 8.3 name Windows gives a profile directory (``rollup-lab`` -> ``ROLLUP~1``)."""
    if len(name) <= 8 and re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    return re.sub(r"[^A-Za-z0-9_-]", "", name)[:6].upper() + "~1"


def _profile_paths(os: WindowsVersion, user: str, profile: bool) -> dict[str, str]:
    root = os.system_root
    if os is WindowsVersion.SERVER_2003_SP2:
        if not profile:
            return {"USERPROFILE": "C:\\Documents and Settings\\Default User", "TEMP": f"{root}\\TEMP"}
        home = f"C:\\Documents and Settings\\{user}"
        return {
            "APPDATA": f"{home}\\Application Data",
            "TEMP": f"C:\\DOCUME~1\\{short_name(user)}\\LOCALS~1\\Temp",
            "USERPROFILE": home,
        }
    if not profile:
        return {"USERPROFILE": "C:\\Users\\Default", "TEMP": f"{root}\\TEMP"}
    home = f"C:\\Users\\{user}"
    return {
        "APPDATA": f"{home}\\AppData\\Roaming",
        "LOCALAPPDATA": f"{home}\\AppData\\Local",
        "TEMP": f"{home}\\AppData\\Local\\Temp",
        "USERPROFILE": home,
    }


def _machine(os: WindowsVersion) -> dict[str, str]:
    root = os.system_root
    powershell = f"{root}\\system32\\WindowsPowerShell\\v1.0"
    values = {
        "CommonProgramFiles": "C:\\Program Files\\Common Files",
        "ComSpec": f"{root}\\system32\\cmd.exe",
        "FP_NO_HOST_CHECK": "NO",
        "NUMBER_OF_PROCESSORS": "2",
        "OS": "Windows_NT",
        "PATHEXT": ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
        "PROCESSOR_ARCHITECTURE": "x86",
        "PROCESSOR_IDENTIFIER": "x86 Family 6 Model 23 Stepping 10, GenuineIntel",
        "PROCESSOR_LEVEL": "6",
        "PROCESSOR_REVISION": "170a",
        "ProgramFiles": "C:\\Program Files",
        "PSModulePath": f"{powershell}\\Modules\\",
        "SystemDrive": "C:",
        "SystemRoot": root,
        "windir": root,
    }
    if os is WindowsVersion.SERVER_2003_SP2:
        values["ALLUSERSPROFILE"] = "C:\\Documents and Settings\\All Users"
        values["Path"] = f"{root}\\system32;{root};{root}\\System32\\Wbem;{powershell}"
        values["PATHEXT"] = ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH"
        return values
    values |= {
        "ALLUSERSPROFILE": "C:\\ProgramData",
        "Path": f"{root}\\system32;{root};{root}\\System32\\Wbem;{root}\\System32\\WindowsPowerShell\\v1.0\\",
        "ProgramData": "C:\\ProgramData",
        "PUBLIC": "C:\\Users\\Public",
    }
    if os is WindowsVersion.SERVER_2008_R2_SP1:  # x64 only
        values |= {
            "CommonProgramFiles(x86)": "C:\\Program Files (x86)\\Common Files",
            "CommonProgramW6432": "C:\\Program Files\\Common Files",
            "PROCESSOR_ARCHITECTURE": "AMD64",
            "PROCESSOR_IDENTIFIER": "Intel64 Family 6 Model 70 Stepping 1, GenuineIntel",
            "PROCESSOR_REVISION": "4601",
            "ProgramFiles(x86)": "C:\\Program Files (x86)",
            "ProgramW6432": "C:\\Program Files",
        }
    return values


def host_environment(os: WindowsVersion, computer: str, principal: str, *, profile: bool = True) -> Block:
    """The block of a WinRS logon of ``principal`` (``DOMAIN\\user`` or ``user``) on ``computer``."""
    domain, _, user = principal.rpartition("\\")
    values = _machine(os) | _profile_paths(os, user, profile)
    values["TMP"] = values["TEMP"]
    values |= {"COMPUTERNAME": computer.upper(), "USERDOMAIN": domain or computer.upper(), "USERNAME": user}
    return sorted(values.items(), key=lambda item: item[0].upper())


def winrs_environment(base: Block, variables: Iterable[tuple[str, str]]) -> Block:
    """The block WinRS gives a process: the host's, the Create's variables inserted (lower-case order)."""
    block = list(base)
    for name, value in variables:
        insert(block, name, value, str.lower)
    return block


def cmd_environment(block: Block) -> Block:
    """The block cmd.exe works with: ``PROMPT`` added (upper-case order) when the process has none."""
    own = list(block)
    if lookup(own, PROMPT[0]) is None:
        insert(own, *PROMPT, str.upper)
    return own
