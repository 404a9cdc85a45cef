"""
PowerShell's errors and control flow as Python exceptions.

``PsError`` is a terminating error carrying its ``ErrorRecord`` (what ``$_`` is in a ``catch``);
``Break``, ``Continue``, ``Return`` and ``Exit`` unwind loops, functions and the script.
``ExceptionObject`` is what ``$_.Exception`` gives a script: a .NET exception's type, message
and inner exception, with the messages PowerShell 2.0 wraps method failures in.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject, exception_bases


class ExceptionObject(NetObject):
    """A .NET exception as a script sees it."""

    TYPE: ClassVar[str] = "System.Exception"

    def __init__(self, type_name: str, message: str, inner: ExceptionObject | None = None) -> None:
        self.type_name = type_name
        self.message = message
        self.inner = inner

    @classmethod
    def of(cls, exc: NetException) -> ExceptionObject:
        inner = cls.of(exc.inner) if exc.inner is not None else None
        return cls(exc.type_name, exc.message, inner)

    def ps_type_names(self) -> tuple[str, ...]:
        return (self.type_name, *exception_bases(self.type_name))

    @property
    def Message(self) -> str:
        return self.message

    @property
    def InnerException(self) -> ExceptionObject | None:
        return self.inner

    def ToString(self, *args: Any) -> str:
        return f"{self.type_name}: {self.message}"

    def GetType(self) -> Any:
        from rollup.lab.pwsh.net import NetType

        return NetType.lookup(self.type_name) or NetType(self.type_name)


class ErrorRecord(NetObject):
    """``$_`` in a ``catch`` or ``trap``; an entry of ``$Error``."""

    TYPE: ClassVar[str] = "System.Management.Automation.ErrorRecord"

    def __init__(
        self,
        exception: ExceptionObject,
        error_id: str,
        category: str = "NotSpecified",
        target: Any = None,
        position: str = "",
    ) -> None:
        self.exception = exception
        self.error_id = error_id
        self.category = category
        self.target = target
        self.position = position

    @property
    def Exception(self) -> ExceptionObject:
        return self.exception

    @property
    def FullyQualifiedErrorId(self) -> str:
        return self.error_id

    @property
    def TargetObject(self) -> Any:
        return self.target

    def ToString(self, *args: Any) -> str:
        return self.exception.message

    def render(self) -> str:
        """The text PowerShell 2.0 writes to stderr for an error it does not catch."""
        short = self.exception.type_name.rsplit(".", 1)[-1]
        lines = [self.exception.message]
        if self.position:
            lines.append(self.position)
        lines.append(f"    + CategoryInfo          : {self.category}: (:) [], {short}")
        lines.append(f"    + FullyQualifiedErrorId : {self.error_id}")
        return "\r\n".join(lines) + "\r\n \r\n"


class PsError(Exception):
    """A terminating error: unwinds to the nearest ``try``/``trap``, or ends the script."""

    def __init__(self, record: ErrorRecord) -> None:
        super().__init__(record.exception.message)
        self.record = record


def runtime_error(
    message: str,
    error_id: str,
    type_name: str = "System.Management.Automation.RuntimeException",
    *,
    category: str = "InvalidOperation",
) -> PsError:
    return PsError(ErrorRecord(ExceptionObject(type_name, message), error_id, category))


def method_error(name: str, argc: int, exc: NetException) -> PsError:
    """A .NET method's exception, wrapped as PowerShell 2.0 wraps it."""
    inner = ExceptionObject.of(exc)
    outer = ExceptionObject(
        "System.Management.Automation.MethodInvocationException",
        f'Exception calling "{name}" with "{argc}" argument(s): "{exc.message}"',
        inner,
    )
    return PsError(ErrorRecord(outer, "DotNetMethodException"))


def property_error(name: str, exc: NetException, *, setting: bool) -> PsError:
    inner = ExceptionObject.of(exc)
    verb = "setting" if setting else "getting"
    kind = "SetValueInvocationException" if setting else "GetValueInvocationException"
    outer = ExceptionObject(
        f"System.Management.Automation.{kind}", f'Exception {verb} "{name}": "{exc.message}"', inner
    )
    return PsError(
        ErrorRecord(outer, "ExceptionWhenSetting" if setting else "CatchFromBaseGetValueInvocationException")
    )


STOP_PREFIX = (
    'Command execution stopped because the preference variable "ErrorActionPreference" or common '
    "parameter is set to Stop: "
)


def stopped(record: ErrorRecord) -> PsError:
    """A non-terminating error made terminating by ``Stop`` (PowerShell 2.0's message)."""
    inner = record.exception
    outer = ExceptionObject(
        "System.Management.Automation.ActionPreferenceStopException", STOP_PREFIX + inner.message, inner
    )
    return PsError(ErrorRecord(outer, record.error_id, record.category, record.target, record.position))


class Break(Exception):
    pass


class Continue(Exception):
    pass


class Return(Exception):
    def __init__(self, value: list[Any]) -> None:
        super().__init__("return")
        self.value = value


class Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"exit {code}")
        self.code = code
