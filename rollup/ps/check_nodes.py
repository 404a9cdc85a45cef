"""
The PowerShell syntax tree (tree-sitter-powershell) and what ``rollup.ps.check`` looks for in each
kind of node: commands and their parameters, ``Type::Member`` and ``$x.Member(...)``, type
literals, variables, operators, attributes, ``#requires`` comments. Each check returns the
reason a construct needs more than PowerShell 2.0 on CLR 2.0, from ``rollup.ps.ps2_denylist``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from rollup.ps import ps2_denylist as deny

_LANGUAGE = Language(tree_sitter_powershell.language())
_ARGUMENT_SKIP = frozenset({"command_argument_sep", ":"})


def parse_tree(script: str) -> tuple[Node, bytes]:
    source = script.encode("utf-8")
    return Parser(_LANGUAGE).parse(source).root_node, source


def walk(root: Node) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def where(node: Node, source: bytes) -> str:
    """``line:column`` (both from 1, column in characters) of a node's start."""
    row, byte_column = node.start_point
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    column = len(source[line_start : line_start + byte_column].decode("utf-8", "replace"))
    return f"{row + 1}:{column + 1}"


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def short(node: Node) -> str:
    """A node's text on one line, cut to 60 characters, for a finding."""
    return " ".join(_text(node).split())[:60]


def _unquote(text: str) -> str:
    """A bare word or a quoted literal without variables, as PowerShell would read it."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def only_comments(root: Node) -> bool:
    """Whether a script holds nothing but comments, which the grammar (not PowerShell) rejects."""
    return all(node.type in ("ERROR", "comment") for node in walk(root) if node.is_named and node is not root)


def _command_name(node: Node) -> str | None:
    """The lower-case name a command node invokes, without a module qualifier; None if dynamic."""
    for child in node.children:
        if child.type == "command_name":
            return _text(child).rsplit("\\", 1)[-1].lower()
        if child.type == "command_name_expr":
            text = _text(child)
            literal = child.named_child_count == 1 and child.children[0].type == "string_literal"
            if literal and "$" not in text:
                return _unquote(text).rsplit("\\", 1)[-1].lower()
            return None
    return None


def _unwrap(node: Node) -> Node:
    """The node an argument really is, below the grammar's single-child expression wrappers."""
    while node.child_count == 1 and node.named_child_count == 1:
        node = node.children[0]
    return node


def _elements(node: Node) -> list[Node]:
    """A command's parameters and arguments, in order, without separators."""
    for child in node.children:
        if child.type == "command_elements":
            return [_unwrap(c) for c in child.children if c.type not in _ARGUMENT_SKIP]
    return []


def _parameter(node: Node) -> str | None:
    return _text(node)[1:].rstrip(":").lower() if node.type == "command_parameter" else None


def check_command(node: Node, findings: list[tuple[Node, str]], defined: set[str]) -> None:
    name = _command_name(node)
    if name is None or name in defined:
        return
    canonical = deny.ALIASES.get(name, name)
    shown = name if canonical == name else f"{name} ({canonical})"
    newer = deny.command_version(canonical)
    if newer:
        findings.append((node, f"{shown}: {newer}"))
    elements = _elements(node)
    if canonical == "using" and elements:
        findings.append((node, "using statement: PowerShell 5.0"))
    own = deny.PARAMETERS.get(canonical, {})
    for index, element in enumerate(elements):
        parameter = _parameter(element)
        if parameter is None:
            continue
        value = elements[index + 1] if index + 1 < len(elements) else None
        why = own.get(parameter) or deny.COMMON_PARAMETERS.get(parameter)
        if why:
            findings.append((element, f"{shown} -{parameter}: {why}"))
        action = _unquote(_text(value)).lower() if value is not None else ""
        if parameter in deny.ACTION_PARAMETERS and action in deny.NEW_ACTIONS:
            findings.append((element, f"-{parameter} {action}: PowerShell 3.0"))
    if canonical in deny.SCRIPT_BLOCK_ONLY:
        _check_simplified(shown, deny.SCRIPT_BLOCK_ONLY[canonical], elements, findings)
    if canonical == "new-object":
        _check_new_object(elements, findings)
    if canonical == "add-type":
        for index, element in enumerate(elements[:-1]):
            assembly = _unquote(_text(elements[index + 1])).lower()
            if _parameter(element) == "assemblyname" and assembly.startswith(deny.NET4_ASSEMBLIES):
                findings.append((elements[index + 1], f"assembly {assembly}: {deny.NET4_REASON}"))


def _check_simplified(
    command: str, allowed: tuple[str, ...], elements: list[Node], findings: list[tuple[Node, str]]
) -> None:
    """Where-Object and ForEach-Object take only script blocks in 2.0 (no ``Where-Object Name -eq x``)."""
    takes_value = False
    for element in elements:
        parameter = _parameter(element)
        if parameter is not None:
            if not any(name.startswith(parameter) for name in allowed):
                findings.append((element, f"{command} -{parameter}: simplified syntax, PowerShell 3.0"))
            takes_value = parameter not in deny.SWITCHES
            continue
        if not takes_value and not deny.could_be_script_block(element.type):
            findings.append((element, f"{command} {short(element)}: simplified syntax, PowerShell 3.0"))
        takes_value = False


def _check_new_object(elements: list[Node], findings: list[tuple[Node, str]]) -> None:
    """The type New-Object is asked to create (first positional argument or -TypeName)."""
    for index, element in enumerate(elements):
        previous = _parameter(elements[index - 1]) if index else None
        if _parameter(element) is not None or (previous is not None and previous != "typename"):
            continue
        why = deny.type_version(_unquote(_text(element)))
        if why:
            findings.append((element, f"New-Object {_text(element)}: {why}"))
        return


def _type_name(node: Node) -> str:
    """The base type name of a type literal (generic arguments and array ranks dropped)."""
    spec = next((c for c in node.children if c.type == "type_spec"), None)
    if spec is None:
        return ""
    kinds = ("type_name", "generic_type_name", "array_type_name")
    inner = next((c for c in spec.children if c.type in kinds), spec)
    if inner.type != "type_name":
        inner = next((c for c in inner.children if c.type == "type_name"), inner)
    return _text(inner)


def check_member(node: Node, findings: list[tuple[Node, str]], streams: set[str]) -> None:
    """``Type::Member`` and ``$x.Member(...)`` against the .NET 4 and PowerShell 3.0+ lists."""
    children = node.children
    operator = next((c for c in children if c.type in (".", "::")), None)
    member = next((c for c in children if c.type == "member_name"), None)
    if operator is None or member is None:
        return
    name = _unquote(_text(member)).lower()
    receiver = children[0]
    arguments = next((c for c in children if c.type == "argument_list"), None)
    call = arguments is not None
    if operator.type == "::" and receiver.type == "type_literal":
        count = 0
        if arguments is not None:
            listed = next((c for c in arguments.children if c.type == "argument_expression_list"), None)
            count = 0 if listed is None else sum(1 for c in listed.children if c.type == ",") + 1
        why = deny.static_member_version(_type_name(receiver), name, count)
    elif operator.type == ".":
        why = deny.instance_member_version(name, call)
        if name == "copyto" and call and _is_stream(receiver, streams):
            why = "Stream.CopyTo is .NET 4"
    else:
        why = None
    if why:
        findings.append((member, f"{short(receiver)}{operator.type}{_text(member)}: {why}"))


def _is_stream(receiver: Node, streams: set[str]) -> bool:
    if receiver.type == "variable":
        return deny.variable_name(_text(receiver))[1] in streams
    return deny.STREAM_SOURCE.search(_text(receiver)) is not None


def stream_variables(root: Node) -> set[str]:
    """Variables the script assigns a stream to (so that ``$s.CopyTo($d)`` can be judged)."""
    found: set[str] = set()
    for node in walk(root):
        if node.type != "assignment_expression" or node.child_count < 3:
            continue
        left, right = node.children[0], node.children[-1]
        target = next((n for n in walk(left) if n.type == "variable"), None)
        if target is not None and deny.STREAM_SOURCE.search(_text(right)):
            found.add(deny.variable_name(_text(target))[1])
    return found


_REQUIRES = re.compile(r"#requires\s", re.IGNORECASE)


def defined_functions(root: Node) -> set[str]:
    """Functions the script defines itself: calls to them are not PowerShell's commands."""
    names: set[str] = set()
    for node in walk(root):
        if node.type == "function_statement":
            names.update(_text(c).lower() for c in node.children if c.type == "function_name")
    return names


def _check_variable(node: Node) -> str | None:
    scope, name = deny.variable_name(_text(node))
    if scope == "using":
        return "$using: is PowerShell 3.0"
    return deny.VARIABLES.get(name) if scope in ("", "global", "script", "local", "private") else None


def _check_workflow(node: Node) -> str | None:
    return "workflow is PowerShell 3.0" if any(c.type == "workflow" for c in node.children) else None


def _check_type(node: Node) -> str | None:
    return deny.type_version(_type_name(node))


def _check_operator(node: Node) -> str | None:
    return deny.OPERATORS.get(_text(node).lower())


def _check_attribute_argument(node: Node) -> str | None:
    bare = [c.type for c in node.children] == ["simple_name"]
    return "a named attribute argument without =$true is PowerShell 3.0" if bare else None


def _check_comment(node: Node) -> str | None:
    text = _text(node)
    return deny.requires_version(text) if _REQUIRES.match(text) else None


_METHOD_KEYWORD = re.compile(r"\.\s*[\"']?(foreach|where)[\"']?\s*$", re.IGNORECASE)


def _check_error(node: Node) -> str | None:
    """The grammar cannot parse ``$x.ForEach(...)``; the ERROR it leaves ends with ``.ForEach``."""
    return ".ForEach()/.Where() methods are PowerShell 4.0" if _METHOD_KEYWORD.search(_text(node)) else None


_LEAF_CHECKS: dict[str, Callable[[Node], str | None]] = {
    "function_statement": _check_workflow,
    "type_literal": _check_type,
    "variable": _check_variable,
    "comparison_operator": _check_operator,
    "file_redirection_operator": _check_operator,
    "merging_redirection_operator": _check_operator,
    "attribute_argument": _check_attribute_argument,
    "comment": _check_comment,
    "ERROR": _check_error,
}
"""Checks that need one node alone, by node kind (``deny.NODE_KINDS`` kinds are findings as such)."""


def check_leaf(node: Node) -> str | None:
    if node.type in deny.NODE_KINDS:
        return deny.NODE_KINDS[node.type]
    check = _LEAF_CHECKS.get(node.type)
    return check(node) if check else None
