"""
``System.Diagnostics.Process`` and ``ProcessStartInfo``, ``System.Security.Cryptography``'s
SHA-256 classes, ``System.Threading.Mutex``, ``Marshal`` and ``[regex]``.

A process runs a program of the machine (``Machine.run_program``) with the raw ``Arguments``
string, which the program parses as its own command line, so a path left unquoted reaches
msiexec cut at its first space, as on Windows.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.dotnet_text import regex
from rollup.lab.pwsh.net import NetException, NetObject, register, static, statics_of
from rollup.lab.pwsh.values import to_bool, to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime


class ProcessStartInfo(NetObject):
    TYPE: ClassVar[str] = "System.Diagnostics.ProcessStartInfo"

    def __init__(self) -> None:
        self.file_name = ""
        self.arguments = ""
        self.use_shell = True
        self.redirect_out = False
        self.redirect_err = False

    @property
    def FileName(self) -> str:
        return self.file_name

    @FileName.setter
    def FileName(self, value: Any) -> None:
        self.file_name = to_string(value)

    @property
    def Arguments(self) -> str:
        return self.arguments

    @Arguments.setter
    def Arguments(self, value: Any) -> None:
        self.arguments = to_string(value)

    @property
    def UseShellExecute(self) -> bool:
        return self.use_shell

    @UseShellExecute.setter
    def UseShellExecute(self, value: Any) -> None:
        self.use_shell = to_bool(value)

    @property
    def RedirectStandardOutput(self) -> bool:
        return self.redirect_out

    @RedirectStandardOutput.setter
    def RedirectStandardOutput(self, value: Any) -> None:
        self.redirect_out = to_bool(value)

    @property
    def RedirectStandardError(self) -> bool:
        return self.redirect_err

    @RedirectStandardError.setter
    def RedirectStandardError(self, value: Any) -> None:
        self.redirect_err = to_bool(value)


class TextReaderOf(NetObject):
    TYPE: ClassVar[str] = "System.IO.StreamReader"

    def __init__(self, text: str) -> None:
        self.text = text

    def ReadToEnd(self) -> str:
        text, self.text = self.text, ""
        return text


class Process(NetObject):
    TYPE: ClassVar[str] = "System.Diagnostics.Process"

    def __init__(self, code: int, out: str, info: ProcessStartInfo) -> None:
        self.code = code
        self.out = TextReaderOf(out)
        self.info = info

    @property
    def ExitCode(self) -> int:
        return self.code

    @property
    def StandardOutput(self) -> TextReaderOf:
        if not self.info.redirect_out:
            raise NetException(
                "System.InvalidOperationException",
                "StandardOut has not been redirected or the process hasn't started yet.",
            )
        return self.out

    def WaitForExit(self) -> None:
        return None

    @property
    def HasExited(self) -> bool:
        return True


class ProcessStatics:
    @static
    def Start(rt: Runtime, info: Any) -> Process:
        if not isinstance(info, ProcessStartInfo):
            raise NetException(
                "System.InvalidOperationException",
                "Cannot start process because a file name has not been provided.",
            )
        if info.file_name == "":
            raise NetException(
                "System.InvalidOperationException",
                "Cannot start process because a file name has not been provided.",
            )
        if info.redirect_out and info.use_shell:
            raise NetException(
                "System.InvalidOperationException",
                "The Process object must have the UseShellExecute property set to false in order to redirect IO streams.",
            )
        program = rt.machine.find_program(info.file_name)
        if program is None:
            raise NetException(
                "System.ComponentModel.Win32Exception", "The system cannot find the file specified"
            )
        code, out, err = rt.machine.run_program(program, info.arguments, "")
        if not info.redirect_out:
            rt.write_raw(out)
        if err:
            rt.stderr.append(err)
        return Process(code, out, info)


class Sha256(NetObject):
    TYPE: ClassVar[str] = "System.Security.Cryptography.SHA256Managed"
    BASES: ClassVar[tuple[str, ...]] = ("System.Security.Cryptography.HashAlgorithm",)

    def ComputeHash(self, source: Any) -> bytes:
        from rollup.lab.pwsh.dotnet.io import FileStream

        if isinstance(source, FileStream):
            return hashlib.sha256(source.read_all()).digest()
        return hashlib.sha256(bytes(source)).digest()

    def Clear(self) -> None:
        return None


class Sha256Csp(Sha256):
    TYPE: ClassVar[str] = "System.Security.Cryptography.SHA256CryptoServiceProvider"


class Mutex(NetObject):
    TYPE: ClassVar[str] = "System.Threading.Mutex"

    def Close(self) -> None:
        return None


class MutexStatics:
    @static
    def OpenExisting(rt: Runtime, name: Any) -> Mutex:
        if rt.machine.mutex_held(to_string(name)):
            return Mutex()
        raise NetException(
            "System.Threading.WaitHandleCannotBeOpenedException", "No handle of the given name exists."
        )


class Marshal:
    @static
    def ReleaseComObject(rt: Runtime, obj: Any) -> int:
        return 0


class Regex(NetObject):
    TYPE: ClassVar[str] = "System.Text.RegularExpressions.Regex"

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def ToString(self, *args: Any) -> str:
        return self.pattern


class MatchObject(NetObject):
    TYPE: ClassVar[str] = "System.Text.RegularExpressions.Match"

    def __init__(self, m: Any) -> None:
        self.m = m

    @property
    def Value(self) -> str:
        return str(self.m.group(0))

    @property
    def Success(self) -> bool:
        return True

    @property
    def Groups(self) -> GroupList:
        return GroupList(self.m)

    def ToString(self, *args: Any) -> str:
        return self.Value


class Group(NetObject):
    TYPE: ClassVar[str] = "System.Text.RegularExpressions.Group"

    def __init__(self, value: str | None) -> None:
        self.value = value

    @property
    def Value(self) -> str:
        return self.value or ""

    @property
    def Success(self) -> bool:
        return self.value is not None

    def ToString(self, *args: Any) -> str:
        return self.Value


class GroupList(NetObject):
    TYPE: ClassVar[str] = "System.Text.RegularExpressions.GroupCollection"

    def __init__(self, m: Any) -> None:
        self.m = m

    def ps_index(self, key: Any) -> Any:
        try:
            return Group(self.m.group(key if isinstance(key, str) else int(key)))
        except (IndexError, ValueError):
            return Group(None)

    @property
    def Count(self) -> int:
        return int(self.m.re.groups) + 1


class MatchList(NetObject):
    TYPE: ClassVar[str] = "System.Text.RegularExpressions.MatchCollection"

    def __init__(self, matches: list[Any]) -> None:
        self.matches = [MatchObject(m) for m in matches]

    def ps_enumerate(self) -> Any:
        return iter(self.matches)

    @property
    def Count(self) -> int:
        return len(self.matches)


class RegexStatics:
    @static
    def Matches(rt: Runtime, text: Any, pattern: Any, *options: Any) -> MatchList:
        return MatchList(list(regex(to_string(pattern), True).finditer(to_string(text))))

    @static
    def Escape(rt: Runtime, text: Any) -> str:
        import re

        return re.escape(to_string(text))


register("System.Diagnostics.ProcessStartInfo", construct=lambda rt, *a: ProcessStartInfo())
register("System.Diagnostics.Process", statics=statics_of(ProcessStatics))
register("System.Security.Cryptography.SHA256Managed", construct=lambda rt: Sha256())
register("System.Security.Cryptography.SHA256CryptoServiceProvider", construct=lambda rt: Sha256Csp())
register("System.Threading.Mutex", statics=statics_of(MutexStatics))
register("System.Runtime.InteropServices.Marshal", statics=statics_of(Marshal))
register(
    "System.Text.RegularExpressions.Regex",
    aliases=("regex",),
    statics=statics_of(RegexStatics),
    cast=lambda rt, v: Regex(to_string(v)),
)
