"""
``System.Diagnostics.FileVersionInfo``: a file's version resource, as .NET 2.0 reports it.

``[Diagnostics.FileVersionInfo]::GetVersionInfo($path)`` on Windows:

- a file that does not exist: ``FileNotFoundException`` whose message is the path as given
  (.NET 2.0 throws ``new FileNotFoundException(fileName)``); a null path: ``ArgumentNullException``;
  an empty one: ``ArgumentException`` (from ``Path.GetFullPath``);
- a file without a version resource (a text file): an object whose strings (``FileVersion``,
  ``ProductVersion``, ``CompanyName``...) are null and whose numbers (``FileMajorPart``...) are 0;
- a file with one: the numbers from the fixed file information, the strings from the string
  table the ``Translation`` names (or .NET's fallbacks), ``""`` for a string the table lacks.

Reading works on a file in use (Windows maps it as a data file, which a DLL loaded by another
process allows), so the lab reads the stored bytes whatever ``locked_files`` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject, register, static, statics_of
from rollup.lab.pwsh.values import to_string
from rollup.lab.windows.versioninfo import VersionResource, read_version

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime

_STRINGS = (
    "Comments",
    "CompanyName",
    "FileDescription",
    "FileVersion",
    "InternalName",
    "LegalCopyright",
    "LegalTrademarks",
    "OriginalFilename",
    "PrivateBuild",
    "ProductName",
    "ProductVersion",
    "SpecialBuild",
)


class FileVersionInfo(NetObject):
    TYPE: ClassVar[str] = "System.Diagnostics.FileVersionInfo"

    def __init__(self, file_name: str, resource: VersionResource | None) -> None:
        self.file_name = file_name
        self.resource = resource

    def _string(self, name: str) -> str | None:
        if self.resource is None:
            return None
        return self.resource.strings.get(name, "")

    def _part(self, index: int, *, product: bool = False) -> int:
        if self.resource is None:
            return 0
        return (self.resource.product_parts if product else self.resource.file_parts)[index]

    @property
    def FileName(self) -> str:
        return self.file_name

    @property
    def FileVersion(self) -> str | None:
        return self._string("FileVersion")

    @property
    def ProductVersion(self) -> str | None:
        return self._string("ProductVersion")

    @property
    def CompanyName(self) -> str | None:
        return self._string("CompanyName")

    @property
    def FileDescription(self) -> str | None:
        return self._string("FileDescription")

    @property
    def InternalName(self) -> str | None:
        return self._string("InternalName")

    @property
    def OriginalFilename(self) -> str | None:
        return self._string("OriginalFilename")

    @property
    def ProductName(self) -> str | None:
        return self._string("ProductName")

    @property
    def Comments(self) -> str | None:
        return self._string("Comments")

    @property
    def LegalCopyright(self) -> str | None:
        return self._string("LegalCopyright")

    @property
    def FileMajorPart(self) -> int:
        return self._part(0)

    @property
    def FileMinorPart(self) -> int:
        return self._part(1)

    @property
    def FileBuildPart(self) -> int:
        return self._part(2)

    @property
    def FilePrivatePart(self) -> int:
        return self._part(3)

    @property
    def ProductMajorPart(self) -> int:
        return self._part(0, product=True)

    @property
    def ProductMinorPart(self) -> int:
        return self._part(1, product=True)

    @property
    def ProductBuildPart(self) -> int:
        return self._part(2, product=True)

    @property
    def ProductPrivatePart(self) -> int:
        return self._part(3, product=True)

    def ToString(self, *args: Any) -> str:
        lines = [f"File:             {self.file_name}"]
        labels = ("InternalName", "OriginalFilename", "FileVersion", "FileDescription", "ProductName",
                  "ProductVersion")  # fmt: skip
        lines += [f"{label + ':':<18}{self._string(label) or ''}" for label in labels]
        return "\r\n".join(lines) + "\r\n"


class FileVersionInfoStatics:
    @static
    def GetVersionInfo(rt: Runtime, file_name: Any) -> FileVersionInfo:
        if file_name is None:
            raise NetException(
                "System.ArgumentNullException", "Value cannot be null.\r\nParameter name: path"
            )
        text = to_string(file_name)
        if text == "":
            raise NetException("System.ArgumentException", "The path is not of a legal form.")
        fs = rt.machine.fs
        entry = fs.entry(text)  # an illegal path raises what Path.GetFullPath raises
        if entry is None:
            raise NetException("System.IO.FileNotFoundException", text)
        data = fs.blobs.get(entry.blob) if entry.blob else (entry.text or "").encode("utf-8")
        return FileVersionInfo(text, read_version(data, key=entry.sha256))


register("System.Diagnostics.FileVersionInfo", statics=statics_of(FileVersionInfoStatics))
