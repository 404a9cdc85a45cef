"""``System.IO``: ``File``, ``Directory``, ``Path``, ``FileInfo``, ``FileStream``, ``StreamReader``."""

from __future__ import annotations

import ntpath
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.dotnet.system import DateTime, to_datetime
from rollup.lab.pwsh.net import (
    NetException,
    NetObject,
    argument_error,
    io_error,
    register,
    static,
    statics_of,
)
from rollup.lab.pwsh.values import Int64, to_string
from rollup.lab.windows.fs import NO_SPACE

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime
    from rollup.lab.windows.fs import FileSystem


def _fs(rt: Runtime) -> FileSystem:
    return rt.machine.fs


def _path(value: Any) -> str:
    if value is None:
        raise NetException("System.ArgumentNullException", "Value cannot be null.\r\nParameter name: path")
    text = to_string(value)
    if text == "":
        raise argument_error("Empty path name is not legal.")
    return text


class File:
    @static
    def Exists(rt: Runtime, path: Any) -> bool:
        return path is not None and _fs(rt).is_file(to_string(path))

    @static
    def ReadAllText(rt: Runtime, path: Any, *encoding: Any) -> str:
        data = _fs(rt).read(_path(path))
        return _decode(data)

    @static
    def ReadAllLines(rt: Runtime, path: Any, *encoding: Any) -> list[str]:
        """The lines, split at CR LF, LF or CR; a final line end starts no empty line."""
        text = _decode(_fs(rt).read(_path(path)))
        return text.replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n").split("\n") if text else []

    @static
    def AppendAllText(rt: Runtime, path: Any, text: Any, *encoding: Any) -> None:
        """Append to the file, created when absent (UTF-8 without a BOM unless an encoding is given)."""
        fs = _fs(rt)
        target = _path(path)
        before = fs.read(target) if fs.is_file(target) else b""
        codec = encoding[0].codec if encoding and hasattr(encoding[0], "codec") else "utf-8"
        fs.write(target, before + to_string(text).encode(codec, "replace"))

    @static
    def ReadAllBytes(rt: Runtime, path: Any) -> bytes:
        return _fs(rt).read(_path(path))

    @static
    def WriteAllText(rt: Runtime, path: Any, text: Any, *encoding: Any) -> None:
        _fs(rt).write(_path(path), to_string(text).encode("utf-8"))

    @static
    def Delete(rt: Runtime, path: Any) -> None:
        _fs(rt).delete(_path(path))

    @static
    def Copy(rt: Runtime, source: Any, target: Any, overwrite: Any = False) -> None:
        _fs(rt).copy(_path(source), _path(target), bool(overwrite))

    @static
    def Move(rt: Runtime, source: Any, target: Any) -> None:
        _fs(rt).move(_path(source), _path(target))

    @static
    def Replace(rt: Runtime, source: Any, target: Any, backup: Any, *ignore: Any) -> None:
        _fs(rt).replace(_path(source), _path(target), None if backup is None else to_string(backup))

    @static
    def Open(rt: Runtime, path: Any, mode: Any, access: Any = "ReadWrite", share: Any = "None") -> FileStream:
        return FileStream.open(rt, _path(path), mode, access, share)

    @static
    def OpenRead(rt: Runtime, path: Any) -> FileStream:
        return FileStream.open(rt, _path(path), "Open", "Read")

    @static
    def SetLastWriteTimeUtc(rt: Runtime, path: Any, moment: Any) -> None:
        _fs(rt).set_mtime(_path(path), to_datetime(moment).moment)

    @static
    def GetLastWriteTimeUtc(rt: Runtime, path: Any) -> DateTime:
        entry = _fs(rt).entry(_path(path))
        if entry is None:
            return DateTime(datetime(1601, 1, 1, tzinfo=UTC), "Utc")
        return DateTime(entry.mtime, "Utc")


def _enum(type_name: str, value: Any) -> str:
    """A method argument converted to a .NET enumeration as PowerShell converts it, by name."""
    from rollup.lab.pwsh.net import NetType
    from rollup.lab.pwsh.types import enum_from

    t = NetType.lookup(type_name)
    assert t is not None
    return enum_from(t, value).ToString()


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", "replace")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", "replace")
    return data.decode("utf-8", "replace")


class Directory:
    @static
    def Exists(rt: Runtime, path: Any) -> bool:
        return path is not None and _fs(rt).is_dir(to_string(path))

    @static
    def CreateDirectory(rt: Runtime, path: Any) -> DirectoryInfo:
        p = _path(path)
        fs = _fs(rt)
        parts = fs.check_path(p).rstrip("\\").split("\\")
        for i in range(2, len(parts) + 1):
            fs.make_dir("\\".join(parts[:i]))
        return DirectoryInfo(rt, p)

    @static
    def GetFiles(rt: Runtime, path: Any, pattern: Any = "*", option: Any = 0) -> list[str]:
        """``GetFiles(path[, pattern[, SearchOption]])``: ``AllDirectories`` (1) looks in every subfolder."""
        from fnmatch import fnmatch

        fs = _fs(rt)
        recurse = _search_option(option)
        pat = to_string(pattern).lower()
        found: list[str] = []
        folders = [_path(path)]
        while folders:
            dirs, files = fs.listing(folders.pop(0))
            found += [f for f in files if fnmatch(ntpath.basename(f).lower(), pat)]
            if recurse:
                folders += dirs
        return found

    @static
    def GetAccessControl(rt: Runtime, path: Any) -> Any:
        return rt.machine.directory_acl(_path(path))


def _search_option(value: Any) -> bool:
    """``SearchOption`` by name or number: whether it is ``AllDirectories``."""
    from rollup.lab.pwsh.types import EnumValue

    names = {"topdirectoryonly": 0, "alldirectories": 1}
    number = value.value if isinstance(value, EnumValue) else value
    number = names.get(number.lower()) if isinstance(number, str) else number
    if number not in (0, 1):
        raise argument_error("Enum value was out of legal range.\r\nParameter name: searchOption")
    return bool(number == 1)


class Path:
    @static
    def Combine(rt: Runtime, first: Any, second: Any) -> str:
        a, b = to_string(_path_arg(first)), to_string(_path_arg(second))
        if b[:1] in ("\\", "/") or b[1:2] == ":":
            return b
        if a == "":
            return b
        if a.endswith(("\\", "/", ":")):
            return a + b
        return a + "\\" + b

    @static
    def GetDirectoryName(rt: Runtime, path: Any) -> str | None:
        if path is None:
            return None
        text = to_string(path)
        if text == "":
            raise argument_error("The path is not of a legal form.")
        head = ntpath.dirname(text)
        if head == text or (len(text) <= 3 and text[1:2] == ":"):
            return None
        return head

    @static
    def GetFileName(rt: Runtime, path: Any) -> str:
        return ntpath.basename(to_string(path))

    @static
    def GetExtension(rt: Runtime, path: Any) -> str:
        return ntpath.splitext(to_string(path))[1]

    @static
    def GetTempPath(rt: Runtime) -> str:
        return "C:\\WINDOWS\\TEMP\\"


def _path_arg(value: Any) -> Any:
    if value is None:
        raise NetException("System.ArgumentNullException", "Value cannot be null.\r\nParameter name: path1")
    return value


class FileSystemInfo(NetObject):
    def __init__(self, rt: Runtime, path: str) -> None:
        self.rt = rt
        self.path = _fs(rt).check_path(path)

    @property
    def FullName(self) -> str:
        return self.path

    @property
    def Name(self) -> str:
        return ntpath.basename(self.path.rstrip("\\")) or self.path

    @property
    def Extension(self) -> str:
        return ntpath.splitext(self.path)[1]

    def ToString(self, *args: Any) -> str:
        return self.path


class FileInfo(FileSystemInfo):
    TYPE: ClassVar[str] = "System.IO.FileInfo"
    BASES: ClassVar[tuple[str, ...]] = ("System.IO.FileSystemInfo",)

    @property
    def Exists(self) -> bool:
        return _fs(self.rt).is_file(self.path)

    @property
    def PSIsContainer(self) -> bool:
        return False

    @property
    def Length(self) -> Int64:
        entry = _fs(self.rt).entry(self.path)
        if entry is None:
            raise NetException("System.IO.FileNotFoundException", f"Could not find file '{self.path}'.")
        return Int64(entry.size)

    @property
    def LastWriteTimeUtc(self) -> DateTime:
        entry = _fs(self.rt).entry(self.path)
        if entry is None:
            return DateTime(datetime(1601, 1, 1, tzinfo=UTC), "Utc")
        return DateTime(entry.mtime, "Utc")

    @property
    def DirectoryName(self) -> str:
        return ntpath.dirname(self.path)


class DirectoryInfo(FileSystemInfo):
    TYPE: ClassVar[str] = "System.IO.DirectoryInfo"
    BASES: ClassVar[tuple[str, ...]] = ("System.IO.FileSystemInfo",)

    @property
    def Exists(self) -> bool:
        return _fs(self.rt).is_dir(self.path)

    @property
    def PSIsContainer(self) -> bool:
        return True


class FileStream(NetObject):
    """A whole-file stream: reads see the content when opened; writes land when closed."""

    TYPE: ClassVar[str] = "System.IO.FileStream"
    BASES: ClassVar[tuple[str, ...]] = ("System.IO.Stream", "System.IDisposable")

    def __init__(self, rt: Runtime, path: str, data: bytes, writable: bool) -> None:
        self.rt = rt
        self.path = path
        self.data = bytearray(data)
        self.pos = 0
        self.writable = writable
        self.closed = False

    @classmethod
    def open(cls, rt: Runtime, path: str, mode: Any, access: Any, share: Any = "Read") -> FileStream:
        fs = _fs(rt)
        path = fs.check_path(path)
        m = _enum("System.IO.FileMode", mode).lower()
        access = _enum("System.IO.FileAccess", access)
        _enum("System.IO.FileShare", share)
        exists = fs.is_file(path)
        if m == "createnew" and exists:
            raise io_error(f"The file '{path}' already exists.\r\n")
        if m in ("open", "truncate") and not exists:
            fs.require(path)
        writable = str(access).lower() in ("write", "readwrite")
        if writable:
            fs.check_write(path)
        data = fs.read(path) if exists and m in ("open", "openorcreate", "append") else b""
        stream = cls(rt, path, data, writable)
        if writable and (m in ("create", "createnew", "truncate") or not exists):
            fs.write(path, b"")
        return stream

    @property
    def Length(self) -> Int64:
        return Int64(len(self.data))

    def Write(self, buffer: Any, offset: Any, count: Any) -> None:
        if not self.writable:
            raise NetException("System.NotSupportedException", "Stream does not support writing.")
        chunk = bytes(buffer)[int(offset) : int(offset) + int(count)]
        self.data[self.pos : self.pos + len(chunk)] = chunk
        self.pos += len(chunk)
        if len(self.data) > self.rt.machine.state.disk_free_bytes:
            raise io_error(NO_SPACE)

    def read_all(self) -> bytes:
        out = bytes(self.data[self.pos :])
        self.pos = len(self.data)
        return out

    def Close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.writable:
            _fs(self.rt).write(self.path, bytes(self.data))

    def Dispose(self) -> None:
        self.Close()


class StreamReader(NetObject):
    TYPE: ClassVar[str] = "System.IO.StreamReader"
    BASES: ClassVar[tuple[str, ...]] = ("System.IO.TextReader", "System.IDisposable")

    def __init__(self, stream: FileStream, detect: bool = True) -> None:
        self.stream = stream
        self.detect = detect

    def ReadToEnd(self) -> str:
        data = self.stream.read_all()
        if self.detect:
            return _decode(data)
        return data.decode("utf-8", "replace")

    def Close(self) -> None:
        self.stream.Close()

    def Dispose(self) -> None:
        self.Close()


def _new_stream(
    rt: Runtime, path: Any, mode: Any, access: Any = "ReadWrite", share: Any = "Read"
) -> FileStream:
    return FileStream.open(rt, _path(path), mode, access, share)


def _new_reader(rt: Runtime, source: Any, *rest: Any) -> StreamReader:
    detect = bool(rest[0]) if rest and isinstance(rest[0], bool) else True
    if isinstance(source, FileStream):
        return StreamReader(source, detect)
    return StreamReader(FileStream.open(rt, _path(source), "Open", "Read"))


register("System.IO.File", statics=statics_of(File))
register("System.IO.Directory", statics=statics_of(Directory))
register("System.IO.Path", statics=statics_of(Path))
register("System.IO.FileInfo", construct=lambda rt, p: FileInfo(rt, _path(p)))
register("System.IO.DirectoryInfo", construct=lambda rt, p: DirectoryInfo(rt, _path(p)))
register("System.IO.FileStream", construct=_new_stream)
register("System.IO.StreamReader", construct=_new_reader)
register(
    "System.IO.FileMode",
    enum_values={"CreateNew": 1, "Create": 2, "Open": 3, "OpenOrCreate": 4, "Truncate": 5, "Append": 6},
)
register("System.IO.FileAccess", enum_values={"Read": 1, "Write": 2, "ReadWrite": 3}, flags=True)
register("System.IO.SearchOption", enum_values={"TopDirectoryOnly": 0, "AllDirectories": 1})
register(
    "System.IO.FileShare",
    enum_values={"None": 0, "Read": 1, "Write": 2, "ReadWrite": 3, "Delete": 4},
    flags=True,
)
