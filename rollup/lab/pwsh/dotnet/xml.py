"""
``System.Xml``: ``[xml]`` (``XmlDocument``), its elements and attributes, and the XPath the scripts use.

``[xml]$text`` parses the text as ``XmlDocument.LoadXml`` does (an array is joined by spaces
first, as PowerShell converts it to a string); text that is not XML fails with the
``XmlException`` message .NET gives. Whitespace-only text between elements is dropped
(``PreserveWhitespace`` is off by default).

PowerShell adapts XML nodes: ``$doc.appcmd.SITE`` finds, ignoring case, the attributes and child
elements of that name (an attribute's value, an element with neither attributes nor child
elements as its text, several matches as an array), before the node's own .NET properties. A
node is one item in a pipeline, never unrolled into its children.

``SelectNodes``/``SelectSingleNode`` evaluate the XPath of ``rollup.lab.pwsh.dotnet.xpath``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from rollup.lab.pwsh.net import NetException, NetObject, register
from rollup.lab.pwsh.values import to_number, to_string

if TYPE_CHECKING:
    from rollup.lab.pwsh.runtime import Runtime

_NODE_BASES = ("System.Xml.XmlNode", "System.Collections.IEnumerable", "System.ICloneable")


def _xml_error(message: str) -> NetException:
    return NetException("System.Xml.XmlException", message)


class XmlNode(NetObject):
    """What elements, attributes, text and the document share."""

    TYPE: ClassVar[str] = "System.Xml.XmlNode"
    BASES: ClassVar[tuple[str, ...]] = _NODE_BASES
    NODE_TYPE: ClassVar[str] = "None"

    def __init__(self, name: str, parent: XmlNode | None) -> None:
        self.name = name
        self.parent = parent
        self.children: list[XmlNode] = []
        self.attributes: list[XmlAttribute] = []

    # .NET members -------------------------------------------------------------------------

    @property
    def Name(self) -> str:
        return self.name

    @property
    def LocalName(self) -> str:
        return self.name.split(":", 1)[-1]

    @property
    def NodeType(self) -> str:
        return self.NODE_TYPE

    @property
    def ParentNode(self) -> XmlNode | None:
        return self.parent

    @property
    def ChildNodes(self) -> XmlNodeList:
        return XmlNodeList(list(self.children))

    @property
    def HasChildNodes(self) -> bool:
        return bool(self.children)

    @property
    def FirstChild(self) -> XmlNode | None:
        return self.children[0] if self.children else None

    @property
    def LastChild(self) -> XmlNode | None:
        return self.children[-1] if self.children else None

    @property
    def InnerText(self) -> str:
        return "".join(c.InnerText for c in self.children)

    @property
    def Value(self) -> str | None:
        return None

    @property
    def OuterXml(self) -> str:
        return self.InnerXml

    @property
    def InnerXml(self) -> str:
        return "".join(c.OuterXml for c in self.children)

    def SelectNodes(self, xpath: Any) -> XmlNodeList:
        from rollup.lab.pwsh.dotnet.xpath import select

        return XmlNodeList(select(self, to_string(xpath)))

    def SelectSingleNode(self, xpath: Any) -> XmlNode | None:
        from rollup.lab.pwsh.dotnet.xpath import select

        found = select(self, to_string(xpath))
        return found[0] if found else None

    def ToString(self, *args: Any) -> str:
        return self.TYPE

    # PowerShell's adapter ---------------------------------------------------------------

    def ps_enumerate(self) -> Iterator[Any] | None:
        return None

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        low = name.lower()
        found: list[XmlNode] = [a for a in self.attributes if a.name.lower() == low]
        found += [c for c in self.children if isinstance(c, XmlElement | XmlText) and c.name.lower() == low]
        if not found:
            return False, None
        values = [_adapted(n) for n in found]
        return True, values[0] if len(values) == 1 else values


def _adapted(node: XmlNode) -> Any:
    """A node as PowerShell's XML adapter gives it: an attribute's value, a text-only element's text."""
    if isinstance(node, XmlAttribute):
        return node.value
    if not node.attributes and all(isinstance(c, XmlText) for c in node.children):
        return node.InnerText
    return node


def _escape(text: str, quote: bool) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return out.replace('"', "&quot;") if quote else out


class XmlAttribute(XmlNode):
    TYPE: ClassVar[str] = "System.Xml.XmlAttribute"
    NODE_TYPE: ClassVar[str] = "Attribute"

    def __init__(self, name: str, value: str, parent: XmlNode | None) -> None:
        super().__init__(name, parent)
        self.value = value

    @property
    def Value(self) -> str:
        return self.value

    @property
    def InnerText(self) -> str:
        return self.value

    @property
    def OwnerElement(self) -> XmlNode | None:
        return self.parent

    @property
    def OuterXml(self) -> str:
        return f'{self.name}="{_escape(self.value, True)}"'

    def ps_dynamic_member(self, name: str) -> tuple[bool, Any]:
        return False, None


class XmlText(XmlNode):
    TYPE: ClassVar[str] = "System.Xml.XmlText"
    NODE_TYPE: ClassVar[str] = "Text"

    def __init__(self, text: str, parent: XmlNode | None) -> None:
        super().__init__("#text", parent)
        self.text = text

    @property
    def Value(self) -> str:
        return self.text

    @property
    def InnerText(self) -> str:
        return self.text

    @property
    def OuterXml(self) -> str:
        return _escape(self.text, False)


class XmlElement(XmlNode):
    TYPE: ClassVar[str] = "System.Xml.XmlElement"
    BASES: ClassVar[tuple[str, ...]] = ("System.Xml.XmlLinkedNode", *_NODE_BASES)
    NODE_TYPE: ClassVar[str] = "Element"

    def _attribute(self, name: Any) -> XmlAttribute | None:
        key = to_string(name)
        return next((a for a in self.attributes if a.name == key), None)

    def GetAttribute(self, name: Any) -> str:
        found = self._attribute(name)
        return "" if found is None else found.value

    def HasAttribute(self, name: Any) -> bool:
        return self._attribute(name) is not None

    def SetAttribute(self, name: Any, value: Any) -> None:
        found = self._attribute(name)
        if found is None:
            self.attributes.append(XmlAttribute(to_string(name), to_string(value), self))
        else:
            found.value = to_string(value)

    def RemoveAttribute(self, name: Any) -> None:
        self.attributes = [a for a in self.attributes if a.name != to_string(name)]

    @property
    def Attributes(self) -> XmlNodeList:
        return XmlNodeList(list(self.attributes), "System.Xml.XmlAttributeCollection")

    @property
    def HasAttributes(self) -> bool:
        return bool(self.attributes)

    @property
    def OuterXml(self) -> str:
        attrs = "".join(" " + a.OuterXml for a in self.attributes)
        if not self.children:
            return f"<{self.name}{attrs} />"
        return f"<{self.name}{attrs}>{self.InnerXml}</{self.name}>"


class XmlDocument(XmlNode):
    TYPE: ClassVar[str] = "System.Xml.XmlDocument"
    NODE_TYPE: ClassVar[str] = "Document"

    def __init__(self) -> None:
        super().__init__("#document", None)

    @property
    def DocumentElement(self) -> XmlNode | None:
        return next((c for c in self.children if isinstance(c, XmlElement)), None)

    def LoadXml(self, text: Any) -> None:
        self.children = [_parse(to_string(text), self)]


class XmlNodeList(NetObject):
    """``SelectNodes``' answer, ``ChildNodes``, ``Attributes``: indexed from 0, enumerable."""

    TYPE: ClassVar[str] = "System.Xml.XPathNodeList"
    BASES: ClassVar[tuple[str, ...]] = ("System.Xml.XmlNodeList", "System.Collections.IEnumerable")

    def __init__(self, nodes: list[Any], type_name: str = "") -> None:
        self.nodes = nodes
        self.type_name = type_name or self.TYPE

    def ps_type_names(self) -> tuple[str, ...]:
        return (self.type_name, *self.BASES)

    @property
    def Count(self) -> int:
        return len(self.nodes)

    def Item(self, i: Any) -> Any:
        n = int(to_number(i))
        return self.nodes[n] if 0 <= n < len(self.nodes) else None

    def ps_index(self, key: Any) -> Any:
        return self.Item(key)

    def ps_enumerate(self) -> Iterator[Any] | None:
        return iter(list(self.nodes))

    def ToString(self, *args: Any) -> str:
        return self.type_name


def _parse(text: str, document: XmlDocument) -> XmlElement:
    if not text.strip():
        raise _xml_error("Root element is missing.")
    if not text.startswith("<"):
        raise _xml_error("Data at the root level is invalid. Line 1, position 1.")
    if "<!DOCTYPE" in text.upper():
        raise _xml_error("The lab's XML model does not process DTDs (DOCTYPE).")
    try:
        root = ET.fromstring(text)  # noqa: S314 - DOCTYPE refused above, so no entity can be declared
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":", 1)[0]
        if "not at start" in reason:
            raise _xml_error(
                "Unexpected XML declaration. The XML declaration must be the first node in the document, "
                f"and no white space characters are allowed to appear before it. Line {line}, position {column + 1}."
            ) from None
        if "no element found" in reason:
            raise _xml_error(
                f"Unexpected end of file has occurred. Line {line}, position {column + 1}."
            ) from None
        raise _xml_error(
            f"An error occurred while parsing the XML ({reason}). Line {line}, position {column + 1}."
        ) from None
    return _element(root, document)


def _element(source: ET.Element, parent: XmlNode) -> XmlElement:
    element = XmlElement(source.tag, parent)
    element.attributes = [XmlAttribute(k, v, element) for k, v in source.attrib.items()]
    if source.text and source.text.strip():
        element.children.append(XmlText(source.text, element))
    for child in source:
        element.children.append(_element(child, element))
        if child.tail and child.tail.strip():
            element.children.append(XmlText(child.tail, element))
    return element


# the type ----------------------------------------------------------------------------------


def _cast(rt: Runtime, value: Any) -> Any:
    if value is None or isinstance(value, XmlDocument):
        return value
    if isinstance(value, XmlNode):
        raise NetException(
            "System.Management.Automation.PSInvalidCastException",
            f'Cannot convert the "{value.ToString()}" value of type "{value.TYPE}" to type "System.Xml.XmlDocument".',
        )
    document = XmlDocument()
    document.LoadXml(to_string(value))
    return document


register(
    "System.Xml.XmlDocument",
    construct=lambda rt: XmlDocument(),
    cast=_cast,
    aliases=("xml",),
)
