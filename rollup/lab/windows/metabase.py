"""
The IIS 6 metabase of a simulated host, as ADSI's ``IIS://`` provider sees it, read from and
written to the host's ``HostState``.

The tree (``/LM`` is ``IIS://localhost``)::

    W3SVC                      IIsWebService
      AppPools                 IIsApplicationPools
        DefaultAppPool         IIsApplicationPool
      Filters                  IIsFilters
      Info                     IIsWebInfo
      <site id>                IIsWebServer (ServerComment = the site's name, one per site_id)
        Filters                IIsFilters
        ROOT                   IIsWebVirtualDir (C:\\Inetpub\\wwwroot)
          <vdir>               IIsWebVirtualDir (a HostState ``iis`` entry; IIsWebDirectory between)
    MimeMap                    IIsMimeMap

A virtual directory's ``DefaultLogonDomain`` is its ``default_logon_domain``, its
``AccessSSLFlags`` the ``AccessSSL`` bit (0x8) from ``access_ssl``, its ``AuthFlags``
``AuthNTLM`` (0x4) plus ``AuthBasic`` (0x2) from ``auth_basic``, as IIS 6 stores them. Inheritable
properties not set on a key come from the nearest key above that has them. The flag bits are
also properties of their own (``AccessSSL``, ``AuthBasic``...), booleans as ADSI gives them.

Writing (``SetInfo``) changes the state. What the state cannot hold (another key, another
property, other bits of the flags) fails, naming it, rather than vanish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollup.lab.pwsh.net import NetException

if TYPE_CHECKING:
    from rollup.lab.state import HostState

COM = "System.Runtime.InteropServices.COMException"

DWORD = ("AuthFlags", "AccessSSLFlags", "AccessFlags", "ServerState", "ServerAutoStart", "DirBrowseFlags")
"""Properties stored as numbers (``ServerAutoStart`` as a boolean)."""

FLAG_BITS: dict[str, tuple[str, int]] = {
    "AuthAnonymous": ("AuthFlags", 0x1),
    "AuthBasic": ("AuthFlags", 0x2),
    "AuthNTLM": ("AuthFlags", 0x4),
    "AuthMD5": ("AuthFlags", 0x10),
    "AuthPassport": ("AuthFlags", 0x40),
    "AccessSSL": ("AccessSSLFlags", 0x8),
    "AccessSSLNegotiateCert": ("AccessSSLFlags", 0x20),
    "AccessSSLRequireCert": ("AccessSSLFlags", 0x40),
    "AccessSSLMapCert": ("AccessSSLFlags", 0x80),
    "AccessSSL128": ("AccessSSLFlags", 0x100),
    "AccessRead": ("AccessFlags", 0x1),
    "AccessWrite": ("AccessFlags", 0x2),
    "AccessExecute": ("AccessFlags", 0x4),
    "AccessScript": ("AccessFlags", 0x200),
}

_INHERITABLE = ("AuthFlags", "AccessSSLFlags", "DefaultLogonDomain", "AccessFlags", "AppPoolId")
_WEB = ("KeyType", *_INHERITABLE, "AppRoot", *FLAG_BITS)
SCHEMA: dict[str, tuple[str, ...]] = {
    "IIsComputer": ("KeyType",),
    "IIsWebService": ("KeyType", *_INHERITABLE, *FLAG_BITS),
    "IIsWebServer": (
        *_WEB,
        "ServerComment",
        "ServerBindings",
        "SecureBindings",
        "SSLCertHash",
        "ServerAutoStart",
        "ServerState",
    ),
    "IIsWebVirtualDir": (*_WEB, "Path"),
    "IIsWebDirectory": _WEB,
    "IIsApplicationPools": ("KeyType",),
    "IIsApplicationPool": ("KeyType", "AppPoolState"),
    "IIsFilters": ("KeyType", "FilterLoadOrder"),
    "IIsWebInfo": ("KeyType",),
    "IIsMimeMap": ("KeyType",),
}
"""Each class's properties (what a key of that class can hold or inherit)."""

ALL_PROPERTIES = {name.lower(): name for names in SCHEMA.values() for name in names}
"""Every property the IIS schema (as modelled) knows, by lower-case name."""

_NTLM = 0x4


@dataclass
class Key:
    """One metabase key: its path below ``/LM``, class, own properties and, for a vdir, its state entry."""

    segments: tuple[str, ...]
    key_type: str
    props: dict[str, Any] = field(default_factory=dict)
    vdir: str | None = None

    @property
    def name(self) -> str:
        return self.segments[-1] if self.segments else "localhost"

    @property
    def metabase_path(self) -> str:
        return "/".join(("/LM", *self.segments))


def available(state: HostState) -> bool:
    """Whether the host has the IIS 6 metabase (and so the ``IIS://`` ADSI provider)."""
    return state.iis_version is not None and state.iis_version < 7


def _sites(state: HostState) -> dict[int, str]:
    sites: dict[int, str] = {}
    for v in state.iis.values():
        sites.setdefault(v.site_id, v.site)
    return dict(sorted(sites.items()))


def keys(state: HostState) -> list[Key]:
    """The metabase, parents before children."""
    w3svc_running = "w3svc" in state.services and state.services["w3svc"].status == "Running"
    out = [
        Key((), "IIsComputer"),
        Key(
            ("W3SVC",),
            "IIsWebService",
            {
                "AuthFlags": 0x1 | _NTLM,
                "AccessSSLFlags": 0,
                "DefaultLogonDomain": "",
                "AccessFlags": 0x201,
                "AppPoolId": "DefaultAppPool",
            },
        ),
        Key(("W3SVC", "AppPools"), "IIsApplicationPools"),
        Key(("W3SVC", "AppPools", "DefaultAppPool"), "IIsApplicationPool", {"AppPoolState": 2}),
        Key(("W3SVC", "Filters"), "IIsFilters", {"FilterLoadOrder": ""}),
        Key(("W3SVC", "Info"), "IIsWebInfo"),
    ]
    for site_id, comment in _sites(state).items():
        site = ("W3SVC", str(site_id))
        server: dict[str, Any] = {
            "ServerComment": comment,
            "ServerBindings": [":80:"],
            "ServerAutoStart": True,
            "ServerState": 2 if w3svc_running else 4,
        }
        thumbprint = state.ssl_certificates.get(site_id)
        if thumbprint is not None:
            server |= {"SecureBindings": [":443:"], "SSLCertHash": bytes.fromhex(thumbprint)}
        out.append(Key(site, "IIsWebServer", server))
        out.append(Key((*site, "Filters"), "IIsFilters"))
        root = (*site, "ROOT")
        out.append(
            Key(
                root,
                "IIsWebVirtualDir",
                {"Path": "C:\\Inetpub\\wwwroot", "AppRoot": f"/LM/W3SVC/{site_id}/ROOT"},
            )
        )
        for state_key, v in sorted(state.iis.items(), key=lambda kv: kv[1].name.lower()):
            if v.site_id != site_id:
                continue
            parts = tuple(v.name.split("/"))
            for depth in range(1, len(parts)):
                between = (*root, *parts[:depth])
                if not any(_same(k.segments, between) for k in out):
                    out.append(Key(between, "IIsWebDirectory"))
            props = {
                "Path": v.path,
                "AuthFlags": _NTLM | (0x2 if v.auth_basic else 0),
                "AccessSSLFlags": 0x8 if v.access_ssl else 0,
                "DefaultLogonDomain": v.default_logon_domain,
            }
            path = (*root, *parts)
            existing = next((k for k in out if _same(k.segments, path)), None)
            if existing is not None:
                out.remove(existing)
            out.append(Key(path, "IIsWebVirtualDir", props, state_key))
    out.append(Key(("MimeMap",), "IIsMimeMap"))
    return out


def _same(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return len(a) == len(b) and all(x.lower() == y.lower() for x, y in zip(a, b, strict=True))


def find(state: HostState, segments: tuple[str, ...]) -> Key | None:
    """The key at a path below ``/LM`` (names compared ignoring case), or ``None``."""
    return next((k for k in keys(state) if _same(k.segments, segments)), None)


def children(state: HostState, key: Key) -> list[Key]:
    n = len(key.segments)
    return [k for k in keys(state) if len(k.segments) == n + 1 and _same(k.segments[:n], key.segments)]


def read(state: HostState, key: Key) -> dict[str, Any]:
    """The properties a key gives (its own, then inherited), by name; flag bits included."""
    schema = SCHEMA.get(key.key_type, ("KeyType",))
    values: dict[str, Any] = {"KeyType": key.key_type}
    chain = [key, *(find(state, key.segments[:i]) for i in range(len(key.segments) - 1, -1, -1))]
    for name in schema:
        if name in FLAG_BITS or name == "KeyType":
            continue
        for k in chain:
            if k is not None and name in k.props and (k is key or name in _INHERITABLE):
                values[name] = k.props[name]
                break
    for bit, (flags, mask) in FLAG_BITS.items():
        if bit in schema and flags in values:
            values[bit] = bool(int(values[flags]) & mask)
    return values


def _cannot_hold(key: Key, name: str, value: Any) -> NetException:
    return NetException(COM, f"The lab's metabase cannot hold {name} = {value!r} at {key.metabase_path}.")


def write(state: HostState, key: Key, changes: dict[str, Any]) -> None:
    """Commit changed properties (flag bits already folded into their flags) to the state."""
    vdir = state.iis.get(key.vdir) if key.vdir is not None else None
    current = read(state, key)
    for name, value in changes.items():
        if current.get(name) == value:
            continue
        if vdir is None:
            raise _cannot_hold(key, name, value)
        if name == "DefaultLogonDomain":
            vdir.default_logon_domain = str(value)
        elif name == "Path":
            vdir.path = str(value)
        elif name == "AccessSSLFlags" and int(value) & ~0x8 == int(current[name]) & ~0x8:
            vdir.access_ssl = bool(int(value) & 0x8)
        elif name == "AuthFlags" and int(value) & ~0x2 == int(current[name]) & ~0x2:
            vdir.auth_basic = bool(int(value) & 0x2)
        else:
            raise _cannot_hold(key, name, value)
