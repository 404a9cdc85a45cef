"""
SOAP envelopes: reading a WS-Management request, writing Windows-shaped answers and faults.

Requests are parsed by namespace URI, never by prefix: pywinrm and pypsrp use different
prefixes (``env``/``s``, ``a``/``wsa``, ``w``/``wsman``). Answers are written as text with the
exact prefixes and namespace declarations Windows uses in the recorded exchanges, because that
is what the clients were tested against.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from rollup.lab.wsman.faults import WSManFault

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"

SHELL_URI = NS_SHELL
CMD_RESOURCE_URI = f"{NS_SHELL}/cmd"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

ACTION_CREATE = f"{NS_TRANSFER}/Create"
ACTION_DELETE = f"{NS_TRANSFER}/Delete"
ACTION_COMMAND = f"{NS_SHELL}/Command"
ACTION_SEND = f"{NS_SHELL}/Send"
ACTION_RECEIVE = f"{NS_SHELL}/Receive"
ACTION_SIGNAL = f"{NS_SHELL}/Signal"


def q(namespace: str, local: str) -> str:
    """ElementTree's ``{namespace}local`` name."""
    return f"{{{namespace}}}{local}"


class SoapError(ValueError):
    """The request body is not a SOAP 1.2 envelope we can read."""


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """The parts of a request envelope the server acts on."""

    action: str
    resource_uri: str | None
    message_id: str | None
    selectors: Mapping[str, str]
    options: Mapping[str, str]
    """Option name to value, as sent (compare booleans case-insensitively)."""
    operation_timeout_s: float | None
    max_envelope_size: int | None
    body: ET.Element | None
    """The first child of ``s:Body``, or ``None`` for an empty body (Delete)."""

    @property
    def shell_id(self) -> str | None:
        """The ``ShellId`` selector."""
        return self.selectors.get("ShellId")

    def option_true(self, name: str) -> bool:
        """Whether option ``name`` is ``TRUE``/``True``/``true``."""
        return self.options.get(name, "").strip().lower() == "true"


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float | None:
    """Seconds in an ``xs:duration`` (``PT20S``, ``PT60.000S``, ``P0DT0H3M0S``); ``None`` if not one."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


def _text(element: ET.Element | None) -> str | None:
    return None if element is None else (element.text or "").strip()


def parse_request(data: bytes) -> SoapRequest:
    """
    Read a request envelope.

    Raises:
        SoapError: not XML, a DOCTYPE (refused: no entity expansion from the network), or no
            ``s:Envelope``/``a:Action``.
    """
    if b"<!DOCTYPE" in data or b"<!doctype" in data:
        raise SoapError("DOCTYPE is not allowed")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DOCTYPE refused above, so no entity can be declared
    except ET.ParseError as exc:
        raise SoapError(f"not XML: {exc}") from None
    if root.tag != q(NS_SOAP, "Envelope"):
        raise SoapError("not a SOAP 1.2 envelope")
    header = root.find(q(NS_SOAP, "Header"))
    if header is None:
        raise SoapError("no SOAP header")
    action = _text(header.find(q(NS_ADDRESSING, "Action")))
    if not action:
        raise SoapError("no a:Action")
    selectors = {
        s.get("Name", ""): (s.text or "").strip()
        for s in header.iterfind(f"{q(NS_WSMAN, 'SelectorSet')}/{q(NS_WSMAN, 'Selector')}")
    }
    options = {
        o.get("Name", ""): (o.text or "").strip()
        for o in header.iterfind(f"{q(NS_WSMAN, 'OptionSet')}/{q(NS_WSMAN, 'Option')}")
    }
    timeout_text = _text(header.find(q(NS_WSMAN, "OperationTimeout")))
    size_text = _text(header.find(q(NS_WSMAN, "MaxEnvelopeSize")))
    body_element = root.find(q(NS_SOAP, "Body"))
    return SoapRequest(
        action=action,
        resource_uri=_text(header.find(q(NS_WSMAN, "ResourceURI"))),
        message_id=(header.findtext(q(NS_ADDRESSING, "MessageID")) or None),
        selectors=selectors,
        options=options,
        operation_timeout_s=parse_duration(timeout_text) if timeout_text else None,
        max_envelope_size=int(size_text) if size_text and size_text.isdigit() else None,
        body=None if body_element is None or len(body_element) == 0 else body_element[0],
    )


_NS_S = f'xmlns:s="{NS_SOAP}"'
_NS_A = f'xmlns:a="{NS_ADDRESSING}"'
_NS_X = f'xmlns:x="{NS_TRANSFER}"'
_NS_W = f'xmlns:w="{NS_WSMAN}"'
_NS_RSP = f'xmlns:rsp="{NS_SHELL}"'
_NS_P = 'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
_NS_E = 'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing"'
_NS_N = 'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"'

DECLARATIONS_SHELL = " ".join((_NS_S, _NS_A, _NS_X, _NS_W, _NS_RSP, _NS_P))
"""Create, Command, Send and Signal answers."""
DECLARATIONS_RECEIVE = " ".join((_NS_S, _NS_A, _NS_W, _NS_RSP, _NS_P))
DECLARATIONS_DELETE = " ".join((_NS_S, _NS_A, _NS_W, _NS_P))
DECLARATIONS_GET = " ".join((_NS_S, _NS_A, _NS_X, _NS_W, _NS_P))
DECLARATIONS_FAULT = " ".join((_NS_S, _NS_A, _NS_X, _NS_E, _NS_N, _NS_W, _NS_P))


def new_uuid() -> str:
    """An upper-case GUID, as Windows writes them."""
    return str(uuid.uuid4()).upper()


def envelope(
    declarations: str, action: str, relates_to: str | None, body: str, activity_id: str | None = None
) -> str:
    """
    A response envelope: the Windows header (new MessageID, the host's ``p:ActivityId`` if it
    sends one, anonymous To, RelatesTo echoed verbatim) around ``body``, which is the
    already-rendered content of ``s:Body``.
    """
    relates = "" if relates_to is None else f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
    activity = "" if activity_id is None else f"<p:ActivityId>{activity_id}</p:ActivityId>"
    return (
        f'<s:Envelope xml:lang="en-US" {declarations}><s:Header><a:Action>{action}</a:Action>'
        f"<a:MessageID>uuid:{new_uuid()}</a:MessageID>{activity}<a:To>{ANONYMOUS}</a:To>{relates}</s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )


def fault_envelope(
    fault: WSManFault, relates_to: str | None, machine: str, activity_id: str | None = None
) -> str:
    """The ``s:Fault`` envelope Windows sends with HTTP 500."""
    detail = "" if fault.detail is None else f"<w:FaultDetail>{escape(fault.detail)}</w:FaultDetail>"
    message = escape(fault.message)
    if fault.provider:
        message = (
            '<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">'
            f"{message}</f:ProviderFault>"
        )
    body = (
        f"<s:Fault><s:Code><s:Value>{fault.code}</s:Value><s:Subcode><s:Value>{fault.subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
        f"<s:Detail>{detail}"
        '<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
        f"Code={quoteattr(str(fault.wsman_code))} Machine={quoteattr(machine)}>"
        f"<f:Message>{message}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return envelope(DECLARATIONS_FAULT, FAULT_ACTION, relates_to, body, activity_id)
