"""
``%SystemRoot%\\System32\\inetsrv\\appcmd.exe`` on a simulated IIS 7 host, over its ``HostState``.

Grammar: ``appcmd <command> <object> [identifier] [/param[:value] | -param[:value] ...]``. Modelled:

- ``list site [name]``: ``SITE "Default Web Site" (id:1,bindings:http/*:80:,state:Started)``,
  or with ``/xml`` ``<appcmd><SITE SITE.NAME=.. SITE.ID=.. bindings=.. state=.. /></appcmd>``;
- ``list vdir [site/path]``: each site's root ``/`` and the state's virtual directories (under
  the root application): ``VDIR.NAME``, ``APP.NAME``, ``path``, ``physicalPath``;
- ``list config <site/path> -section:<s> [/config:*] [/xml]``: the section at that path (what the
  nearest virtual directory at or above it sets); ``/config:*`` adds the attributes left at
  their defaults; with ``/xml`` a ``CONFIG`` element holding the section's element, named after
  the section with ``-`` for ``/``;
- ``set config <site/path> -section:<s> /attr:value ... /commit:apphost``.

Sections: ``system.webServer/security/authentication/basicAuthentication`` (``enabled`` is
``auth_basic``, ``defaultLogonDomain``, ``realm``, ``logonMethod``) and
``system.webServer/security/access`` (``sslFlags``: the ``Ssl`` flag is ``access_ssl``). Both are
locked below applicationHost.config (``overrideModeDefault="Deny"``): without
``/commit:apphost`` a set fails as IIS fails (0x80070021). Names of sections and attributes are
case-sensitive. What the state cannot hold (another attribute's value, another flag, a path that
is not a virtual directory) fails naming it. Errors print ``ERROR ( message:... )`` with a
non-zero exit code: 87 for a bad command line, 1168 for an unknown object, 33 for a locked section,
13 for a value the lab cannot hold (33 is the HRESULT's Win32 code; the others are the lab's
choice, not verified on Windows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rollup.lab.windows.cmdline import split

if TYPE_CHECKING:
    from rollup.lab.state import HostState, IisVirtualDirectory
    from rollup.lab.windows.machine import Machine

BASIC = "system.webServer/security/authentication/basicAuthentication"
ACCESS = "system.webServer/security/access"
SSL_FLAGS = ("None", "Ssl", "SslNegotiateCert", "SslRequireCert", "SslMapCert", "Ssl128")
_DEFAULTS: dict[str, dict[str, str]] = {
    BASIC: {"enabled": "false", "realm": "", "defaultLogonDomain": "", "logonMethod": "ClearText"},
    ACCESS: {"sslFlags": "None"},
}
_LOGON_METHODS = ("Interactive", "Batch", "Network", "ClearText")
_OBJECTS = {
    "site": "site",
    "sites": "site",
    "vdir": "vdir",
    "vdirs": "vdir",
    "config": "config",
    "configs": "config",
}
BAD_COMMAND_LINE = 87
NOT_FOUND = 1168
LOCKED = 33
CANNOT_HOLD = 13


class AppcmdError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Args:
    command: str
    obj: str
    identifier: str | None
    params: dict[str, str | None]
    """Parameter name (as written, without / or -) -> value (None for a bare switch), in order."""

    def flag(self, name: str) -> str | None:
        return next((v if v is not None else "" for k, v in self.params.items() if k.lower() == name), None)


def _parse(command_line: str) -> _Args:
    words = split(command_line)
    if len(words) < 2:
        raise AppcmdError(
            BAD_COMMAND_LINE, "Object '' is not supported.  Run 'appcmd.exe /?' to display supported objects."
        )
    command, obj = words[0].lower(), words[1].lower()
    if obj not in _OBJECTS:
        raise AppcmdError(
            BAD_COMMAND_LINE,
            f"Object '{words[1]}' is not supported.  Run 'appcmd.exe /?' to display supported objects.",
        )
    identifier: str | None = None
    params: dict[str, str | None] = {}
    for word in words[2:]:
        if word[:1] in ("/", "-") and len(word) > 1:
            name, sep, value = word[1:].partition(":")
            params[name] = value if sep else None
        elif identifier is None:
            identifier = word
        else:
            raise AppcmdError(BAD_COMMAND_LINE, f'Unexpected parameter "{word}".  Replace with -? for help.')
    return _Args(command, _OBJECTS[obj], identifier, params)


def _attr(text: str) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return "".join(f"&#x{ord(c):X};" if ord(c) < 32 else c for c in out)


def _xml(elements: list[str]) -> str:
    body = "".join(f"    {e}\r\n" for e in elements)
    return f'<?xml version="1.0" encoding="UTF-8"?>\r\n<appcmd>\r\n{body}</appcmd>\r\n'


def _element(name: str, attrs: dict[str, str], inner: str = "") -> str:
    text = "".join(f' {k}="{_attr(v)}"' for k, v in attrs.items())
    return f"<{name}{text}>{inner}</{name}>" if inner else f"<{name}{text} />"


def _sites(state: HostState) -> dict[int, str]:
    sites: dict[int, str] = {}
    for v in state.iis.values():
        sites.setdefault(v.site_id, v.site)
    return dict(sorted(sites.items()))


def _site_named(state: HostState, name: str) -> str | None:
    return next((s for s in _sites(state).values() if s.lower() == name.lower()), None)


def _list_site(state: HostState, a: _Args) -> str:
    running = "w3svc" in state.services and state.services["w3svc"].status == "Running"
    rows = []
    for site_id, name in _sites(state).items():
        if a.identifier is not None and a.identifier.lower() != name.lower():
            continue
        rows.append(
            {
                "SITE.NAME": name,
                "SITE.ID": str(site_id),
                "bindings": "http/*:80:" + (",https/*:443:" if site_id in state.ssl_certificates else ""),
                "state": "Started" if running else "Stopped",
            }
        )
    if a.identifier is not None and not rows:
        raise AppcmdError(NOT_FOUND, f'Cannot find SITE object with identifier "{a.identifier}".')
    if a.flag("xml") is not None:
        return _xml([_element("SITE", r) for r in rows])
    return "".join(
        f'SITE "{r["SITE.NAME"]}" (id:{r["SITE.ID"]},bindings:{r["bindings"]},state:{r["state"]})\r\n'
        for r in rows
    )


def _list_vdir(state: HostState, a: _Args) -> str:
    rows = []
    for name in _sites(state).values():
        rows.append(
            {
                "VDIR.NAME": f"{name}/",
                "APP.NAME": f"{name}/",
                "path": "/",
                "physicalPath": "%SystemDrive%\\inetpub\\wwwroot",
            }
        )
        for v in sorted(state.iis.values(), key=lambda x: x.name.lower()):
            if v.site == name:
                rows.append(
                    {
                        "VDIR.NAME": f"{name}/{v.name}",
                        "APP.NAME": f"{name}/",
                        "path": f"/{v.name}",
                        "physicalPath": v.path,
                    }
                )
    if a.identifier is not None:
        rows = [r for r in rows if r["VDIR.NAME"].lower() == a.identifier.lower()]
        if not rows:
            raise AppcmdError(NOT_FOUND, f'Cannot find VDIR object with identifier "{a.identifier}".')
    if a.flag("xml") is not None:
        return _xml([_element("VDIR", r) for r in rows])
    return "".join(f'VDIR "{r["VDIR.NAME"]}" (physicalPath:{r["physicalPath"]})\r\n' for r in rows)


def _target(state: HostState, a: _Args) -> tuple[str, IisVirtualDirectory | None, bool]:
    """(config path as given, the vdir whose settings apply, whether the path is that vdir)."""
    path = (a.identifier or "").strip("/")
    if not path:
        raise AppcmdError(
            BAD_COMMAND_LINE,
            "The lab's appcmd model needs a site path for config (MACHINE/WEBROOT/APPHOST itself is not modelled).",
        )
    site_part, _, rest = path.partition("/")
    site = _site_named(state, site_part)
    if site is None:
        raise AppcmdError(NOT_FOUND, f'Cannot find SITE object with identifier "{site_part}".')
    best: IisVirtualDirectory | None = None
    for v in state.iis.values():
        name = v.name.lower()
        under = rest.lower() == name or rest.lower().startswith(name + "/")
        if v.site == site and under and (best is None or len(v.name) > len(best.name)):
            best = v
    return path, best, best is not None and best.name.lower() == rest.lower()


def _section(a: _Args) -> str:
    section = a.flag("section")
    if section is None:
        raise AppcmdError(BAD_COMMAND_LINE, "The lab's appcmd model lists or sets config only with -section:")
    if section not in _DEFAULTS:
        raise AppcmdError(BAD_COMMAND_LINE, f'Unknown config section "{section}".  Replace with -? for help.')
    return section


def _values(section: str, vdir: IisVirtualDirectory | None) -> dict[str, str]:
    values = dict(_DEFAULTS[section])
    if vdir is None:
        return values
    if section == BASIC:
        values.update(
            enabled="true" if vdir.auth_basic else "false", defaultLogonDomain=vdir.default_logon_domain
        )
    else:
        values["sslFlags"] = "Ssl" if vdir.access_ssl else "None"
    return values


def _list_config(state: HostState, a: _Args) -> str:
    section = _section(a)
    path, vdir, _ = _target(state, a)
    values = _values(section, vdir)
    if a.flag("config") is None:
        values = {k: v for k, v in values.items() if _DEFAULTS[section][k] != v}
    leaf = section.rsplit("/", 1)[1]
    if a.flag("xml") is not None:
        inner = _element(section.replace("/", "-"), values)
        attrs = {
            "CONFIG.SECTION": section,
            "path": f"MACHINE/WEBROOT/APPHOST/{path}",
            "overrideMode": "Inherit",
            "locked": "false",
        }
        return _xml([_element("CONFIG", attrs, "\r\n        " + inner + "\r\n    ")])
    parents = section.split("/")[:-1]
    out = "".join(f"{'  ' * i}<{p}>\r\n" for i, p in enumerate(parents))
    out += "  " * len(parents) + _element(leaf, values) + "\r\n"
    out += "".join(f"{'  ' * i}</{p}>\r\n" for i, p in reversed(list(enumerate(parents))))
    return out


def _bool(text: str) -> bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise AppcmdError(BAD_COMMAND_LINE, f'Failed to process attribute "enabled".  Invalid value "{text}".')


def _ssl(text: str) -> bool:
    names = [p.strip() for p in text.split(",") if p.strip()]
    known = {n.lower(): n for n in SSL_FLAGS}
    if not names or any(n.lower() not in known for n in names):
        raise AppcmdError(
            BAD_COMMAND_LINE, f'Failed to process attribute "sslFlags".  Invalid value "{text}".'
        )
    chosen = {known[n.lower()] for n in names} - {"None"}
    if chosen - {"Ssl"}:
        raise AppcmdError(
            CANNOT_HOLD, f'The lab\'s IIS 7 model holds only the Ssl flag of sslFlags, not "{text}".'
        )
    return "Ssl" in chosen


def _set_config(state: HostState, a: _Args) -> str:
    section = _section(a)
    path, vdir, exact = _target(state, a)
    changes = {k: v or "" for k, v in a.params.items() if k.lower() not in ("section", "commit")}
    for name in changes:
        if name not in _DEFAULTS[section]:
            raise AppcmdError(BAD_COMMAND_LINE, f'Unknown attribute "{name}".  Replace with -? for help.')
    commit = a.flag("commit")
    if commit is None or commit.lower() not in ("apphost", "machine/webroot/apphost"):
        where = f"{vdir.path}\\web.config" if vdir is not None and exact else f"{path}/web.config"
        raise AppcmdError(
            LOCKED,
            "Configuration error \r\nFilename: \\\\?\\" + where + "\r\nLine Number: 0\r\n"
            "Description: This configuration section cannot be used at this path. This happens when the section "
            'is locked at a parent level. Locking is either by default (overrideModeDefault="Deny"), or set '
            'explicitly by a location tag with overrideMode="Deny" or the legacy allowOverride="false".\r\n',
        )
    current = _values(section, vdir)
    for name, value in changes.items():
        if name == "logonMethod" and value not in _LOGON_METHODS:
            raise AppcmdError(
                BAD_COMMAND_LINE, f'Failed to process attribute "logonMethod".  Invalid value "{value}".'
            )
        parsed = {"enabled": _bool, "sslFlags": _ssl}.get(name)
        if parsed is not None:
            parsed(value)
        if (name in ("realm", "logonMethod") and value != current[name]) or vdir is None or not exact:
            raise AppcmdError(
                CANNOT_HOLD,
                f'The lab\'s IIS 7 model cannot hold {name}="{value}" at MACHINE/WEBROOT/APPHOST/{path}.',
            )
    assert vdir is not None
    for name, value in changes.items():
        if name == "enabled":
            vdir.auth_basic = _bool(value)
        elif name == "defaultLogonDomain":
            vdir.default_logon_domain = value
        elif name == "sslFlags":
            vdir.access_ssl = _ssl(value)
    return (
        f'Applied configuration changes to section "{section}" for "MACHINE/WEBROOT/APPHOST/{path}" '
        'at configuration commit path "MACHINE/WEBROOT/APPHOST"\r\n'
    )


def appcmd(machine: Machine, command_line: str, stdin: str) -> tuple[int, str, str]:
    state = machine.state
    try:
        a = _parse(command_line)
        handlers = {
            ("list", "site"): _list_site,
            ("list", "vdir"): _list_vdir,
            ("list", "config"): _list_config,
            ("set", "config"): _set_config,
        }
        handler = handlers.get((a.command, a.obj))
        if handler is None:
            raise AppcmdError(
                BAD_COMMAND_LINE, f'The lab\'s appcmd model has no "{a.command}" for "{a.obj}" objects.'
            )
        return 0, handler(state, a), ""
    except AppcmdError as exc:
        return exc.code, f"ERROR ( message:{exc.message} )\r\n", ""
