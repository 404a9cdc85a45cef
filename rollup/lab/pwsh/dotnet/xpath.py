"""
The XPath ``SelectNodes``/``SelectSingleNode`` evaluate: location paths of ``/`` and ``//`` steps,
each a name, ``*``, ``@name``, ``@*``, ``.``, ``..`` or ``text()`` with predicates ``[n]``,
``[@a]`` or ``[@a='v']``. Names are compared case-sensitively, as XPath does. Any other XPath
fails loudly, naming what the lab does not evaluate.
"""

from __future__ import annotations

import re

from rollup.lab.pwsh.dotnet.xml import XmlElement, XmlNode, XmlText
from rollup.lab.pwsh.net import NetException

_STEP = re.compile(r"(@?(?:\*|[A-Za-z_][\w.\-:]*)|\.\.|\.|text\(\))((?:\[[^\]]*\])*)")
_PREDICATE = re.compile(r"\[\s*(?:(\d+)|@([A-Za-z_][\w.\-:]*)(?:\s*=\s*(?:'([^']*)'|\"([^\"]*)\"))?)\s*\]")


def _unsupported(xpath: str) -> NetException:
    return NetException(
        "System.Xml.XPath.XPathException",
        f"'{xpath}' is an XPath expression the lab's XML model does not evaluate.",
    )


def _invalid(xpath: str) -> NetException:
    return NetException("System.Xml.XPath.XPathException", f"'{xpath}' has an invalid token.")


def _root(node: XmlNode) -> XmlNode:
    while node.parent is not None:
        node = node.parent
    return node


def _descendants_or_self(node: XmlNode) -> list[XmlNode]:
    out = [node]
    for c in node.children:
        if isinstance(c, XmlElement):
            out.extend(_descendants_or_self(c))
    return out


def _step(context: list[XmlNode], test: str, predicates: str, xpath: str) -> list[XmlNode]:
    found: list[XmlNode] = []
    for node in context:
        if test == ".":
            matches = [node]
        elif test == "..":
            matches = [node.parent] if node.parent is not None else []
        elif test == "text()":
            matches = [c for c in node.children if isinstance(c, XmlText)]
        elif test.startswith("@"):
            matches = [a for a in node.attributes if test == "@*" or a.name == test[1:]]
        else:
            matches = [c for c in node.children if isinstance(c, XmlElement) and test in ("*", c.name)]
        for p in re.findall(r"\[[^\]]*\]", predicates):
            m = _PREDICATE.fullmatch(p)
            if m is None:
                raise _unsupported(xpath)
            if m.group(1) is not None:
                n = int(m.group(1))
                matches = matches[n - 1 : n] if n >= 1 else []
                continue
            value = m.group(3) if m.group(3) is not None else m.group(4)
            matches = [
                e
                for e in matches
                if isinstance(e, XmlElement)
                and e.HasAttribute(m.group(2))
                and (value is None or e.GetAttribute(m.group(2)) == value)
            ]
        found.extend(x for x in matches if x not in found)
    return found


def select(node: XmlNode, xpath: str) -> list[XmlNode]:
    """The nodes a location path selects from ``node``, in document order."""
    text = xpath.strip()
    if not text:
        raise _invalid(xpath)
    context: list[XmlNode] = [node]
    rest = text
    if rest.startswith("/"):
        context = [_root(node)]
        if rest == "/":
            return context
    while rest:
        descend = False
        if rest.startswith("//"):
            descend, rest = True, rest[2:]
        elif rest.startswith("/"):
            rest = rest[1:]
        m = _STEP.match(rest)
        if m is None:
            raise _unsupported(xpath) if rest and rest[0] not in "/[]" else _invalid(xpath)
        if descend:
            context = [d for c in context for d in _descendants_or_self(c)]
        context = _step(context, m.group(1), m.group(2), xpath)
        rest = rest[m.end() :]
        if rest and not rest.startswith("/"):
            raise _unsupported(xpath)
    return context
