"""
PowerShell source to a small syntax tree the interpreter walks.

tree-sitter-powershell gives a concrete tree in which every expression sits under a dozen
single-child wrappers (``logical_expression > bitwise_expression > ... > unary_expression``).
``parse`` drops those and keeps what evaluation needs, as the frozen dataclasses of
``rollup.lab.pwsh.ast``. A construct this converter does not know raises ``PsSyntaxError``
naming it and its line: the interpreter never guesses what a script meant.

Parsing is cached per script text: the lab runs the same few dozen scripts thousands of times.
"""

from __future__ import annotations

import re
from functools import lru_cache

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from rollup.lab.pwsh import ast as A

_LANGUAGE = Language(tree_sitter_powershell.language())

_BINARY_CHAINS = frozenset(
    {
        "logical_expression",
        "bitwise_expression",
        "comparison_expression",
        "additive_expression",
        "multiplicative_expression",
        "format_expression",
        "range_expression",
        "logical_argument_expression",
        "bitwise_argument_expression",
        "comparison_argument_expression",
        "additive_argument_expression",
        "multiplicative_argument_expression",
        "format_argument_expression",
        "range_argument_expression",
    }
)
_LISTS = frozenset({"array_literal_expression", "argument_expression", "argument_expression_list"})
_WRAPPERS = frozenset(
    {
        "unary_expression",
        "integer_literal",
        "key_expression",
        "command_name_expr",
        "for_initializer",
        "for_condition",
        "for_iterator",
        "while_condition",
    }
)


class PsSyntaxError(Exception):
    """The script does not parse, or uses a construct the interpreter does not implement."""


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def _where(node: Node) -> str:
    return f"line {node.start_point[0] + 1}"


def _named(node: Node) -> list[Node]:
    return [c for c in node.children if c.is_named and c.type != "comment"]


@lru_cache(maxsize=256)
def parse(script: str) -> A.Block:
    """The syntax tree of a whole script."""
    tree = Parser(_LANGUAGE).parse(script.encode("utf-8"))
    root = tree.root_node
    if root.has_error:
        bad = _first_error(root)
        raise PsSyntaxError(f"{_where(bad)}: syntax error at {' '.join(_text(bad).split())[:60]!r}")
    return _Converter().block(root)


def _first_error(node: Node) -> Node:
    stack = [node]
    while stack:
        n = stack.pop(0)
        if n.type == "ERROR" or n.is_missing:
            return n
        stack.extend(n.children)
    return node


class _Converter:
    def block(self, node: Node) -> A.Block:
        """A program, statement_block, statement_list or script_block_body as statements."""
        statements: list[A.Statement] = []
        for child in _named(node):
            if child.type in ("statement_list", "statement_block", "script_block_body", "program"):
                statements.extend(self.block(child).statements)
            elif child.type == "empty_statement":
                continue
            else:
                statements.append(self.statement(child))
        return A.Block.of(tuple(statements))

    # statements ---------------------------------------------------------------------------

    def statement(self, node: Node) -> A.Statement:
        kind = node.type
        handler = getattr(self, "s_" + kind, None)
        if handler is not None:
            result: A.Statement = handler(node)
            return result
        return A.ExprStatement(self.pipeline(node))

    def s_if_statement(self, node: Node) -> A.If:
        clauses: list[tuple[A.Expr, A.Block]] = []
        otherwise = None
        cond = node.child_by_field_name("condition")
        body = next(c for c in node.children if c.type == "statement_block")
        assert cond is not None
        clauses.append((self.pipeline(cond), self.block(body)))
        for child in node.children:
            if child.type in ("elseif_clauses", "elseif_clause"):
                for clause in [child] if child.type == "elseif_clause" else _named(child):
                    c = clause.child_by_field_name("condition")
                    b = next(x for x in clause.children if x.type == "statement_block")
                    assert c is not None
                    clauses.append((self.pipeline(c), self.block(b)))
            elif child.type == "else_clause":
                otherwise = self.block(next(x for x in child.children if x.type == "statement_block"))
        return A.If(tuple(clauses), otherwise)

    def s_foreach_statement(self, node: Node) -> A.Foreach:
        named = _named(node)
        var = named[0]
        body = next(c for c in node.children if c.type == "statement_block")
        source = next(c for c in named[1:] if c.type != "statement_block")
        return A.Foreach(self.variable(var).name, self.pipeline(source), self.block(body))

    def s_for_statement(self, node: Node) -> A.For:
        def part(field: str) -> A.Expr | None:
            n = node.child_by_field_name(field)
            return None if n is None else self.pipeline(n)

        body = next(c for c in node.children if c.type == "statement_block")
        return A.For(part("for_initializer"), part("for_condition"), part("for_iterator"), self.block(body))

    def s_while_statement(self, node: Node) -> A.While:
        cond = node.child_by_field_name("condition")
        body = next(c for c in node.children if c.type == "statement_block")
        assert cond is not None
        return A.While(self.pipeline(cond), self.block(body))

    def s_try_statement(self, node: Node) -> A.Try:
        body = next(c for c in node.children if c.type == "statement_block")
        catches: list[tuple[tuple[str, ...], A.Block]] = []
        final = None
        for child in node.children:
            clauses = _named(child) if child.type == "catch_clauses" else [child]
            for clause in clauses:
                if clause.type == "catch_clause":
                    types = tuple(self.type_name(t) for t in clause.children if t.type == "type_literal")
                    block = next(x for x in clause.children if x.type == "statement_block")
                    catches.append((types, self.block(block)))
            if child.type == "finally_clause":
                final = self.block(next(x for x in child.children if x.type == "statement_block"))
        return A.Try(self.block(body), tuple(catches), final)

    def s_trap_statement(self, node: Node) -> A.Trap:
        types = tuple(self.type_name(t) for t in node.children if t.type == "type_literal")
        block = next(x for x in node.children if x.type == "statement_block")
        return A.Trap(types, self.block(block))

    def s_function_statement(self, node: Node) -> A.FunctionDef:
        name = _text(next(c for c in node.children if c.type == "function_name"))
        params: list[A.ParamDecl] = []
        decl = next((c for c in node.children if c.type == "function_parameter_declaration"), None)
        if decl is not None:
            params = self.parameters(decl)
        body_nodes = [c for c in node.children if c.type in ("script_block", "statement_list", "param_block")]
        statements: list[A.Statement] = []
        for b in body_nodes:
            if b.type == "param_block":
                params = self.parameters(b)
            elif b.type == "script_block":
                p, blk = self.script_block(b)
                params = params or p
                statements.extend(blk.statements)
            else:
                statements.extend(self.block(b).statements)
        return A.FunctionDef(name, tuple(params), A.Block.of(tuple(statements)))

    def parameters(self, node: Node) -> list[A.ParamDecl]:
        found: list[A.ParamDecl] = []
        for sp in _walk(node):
            if sp.type != "script_parameter":
                continue
            var = next(c for c in sp.children if c.type == "variable")
            type_node = next((c for c in sp.children if c.type == "type_literal"), None)
            attrs = next((c for c in sp.children if c.type == "attribute_list"), None)
            if type_node is None and attrs is not None:
                type_node = next((c for c in _walk(attrs) if c.type == "type_literal"), None)
            default = next((c for c in sp.children if c.type == "script_parameter_default"), None)
            found.append(
                A.ParamDecl(
                    self.variable(var).name,
                    None if type_node is None else self.type_name(type_node),
                    None if default is None else self.pipeline(_named(default)[-1]),
                )
            )
        return found

    def s_flow_control_statement(self, node: Node) -> A.Flow:
        keyword = node.children[0].type.lower()
        rest = [c for c in _named(node) if c.type != "label"]
        value = self.pipeline(rest[0]) if rest else None
        return A.Flow(keyword, value)

    def s_param_block(self, node: Node) -> A.ParamBlockStmt:
        return A.ParamBlockStmt(tuple(self.parameters(node)))

    # pipelines and commands --------------------------------------------------------------

    def pipeline(self, node: Node) -> A.Expr:
        if node.type in ("pipeline", "pipeline_chain"):
            parts = _named(node)
            if len(parts) == 1:
                return self.pipeline(parts[0])
            return A.Pipeline(tuple(self.element(p) for p in parts))
        if node.type == "command":
            return A.Pipeline((self.command(node),))
        if node.type in (
            "if_statement",
            "foreach_statement",
            "for_statement",
            "while_statement",
            "try_statement",
        ):
            return A.StatementExpr(self.statement(node))
        return self.expr(node)

    def element(self, node: Node) -> A.Expr:
        while node.type in ("pipeline", "pipeline_chain") and len(_named(node)) == 1:
            node = _named(node)[0]
        if node.type == "command":
            return self.command(node)
        if node.type == "command_name":
            return A.Command(_text(node), (), None)
        return self.expr(node)

    def command(self, node: Node) -> A.Command:
        invoke = None
        name: str | A.Expr = ""
        args: list[A.CommandElement] = []
        for i, child in enumerate(node.children):
            field = node.field_name_for_child(i)
            if child.type == "command_invokation_operator":
                invoke = _text(child)
            elif field == "command_name" or child.type in ("command_name", "path_command_name"):
                name = self.command_name(child)
            elif field == "command_elements" or child.type == "command_elements":
                args.extend(self.command_elements(child))
        return A.Command(name, tuple(args), invoke)

    def command_name(self, node: Node) -> str | A.Expr:
        while node.type == "command_name_expr" and len(_named(node)) == 1:
            node = _named(node)[0]
        if node.type in ("command_name", "path_command_name"):
            text = _text(node)
            if re.fullmatch(r"\$[\w:]+", text):
                scope, _, name = text[1:].rpartition(":")
                return A.Variable(name, scope.lower() or None)
            if "$" not in text:
                return text
        return self.expr(node)

    def command_elements(self, node: Node) -> list[A.CommandElement]:
        items = node.children if node.type == "command_elements" else [node]
        out: list[A.CommandElement] = []
        pending: str | None = None
        colon = False
        for child in items:
            if child.type == "command_argument_sep":
                if _text(child).strip() == ":" and pending is not None:
                    colon = True
                elif pending is not None and not colon:
                    out.append(A.ParamArg(pending, None))
                    pending = None
                continue
            if child.type == "command_parameter":
                if pending is not None:
                    out.append(A.ParamArg(pending, None))
                text = _text(child)
                if text.endswith(":"):
                    pending, colon = text[1:-1], True
                else:
                    pending, colon = text[1:], False
                continue
            value = self.argument(child)
            if pending is not None and colon:
                out.append(A.ParamArg(pending, value))
                pending, colon = None, False
            else:
                if pending is not None:
                    out.append(A.ParamArg(pending, None))
                    pending = None
                out.append(A.PositionalArg(value))
        if pending is not None:
            out.append(A.ParamArg(pending, None))
        return out

    def argument(self, node: Node) -> A.Expr:
        if node.type == "generic_token":
            return A.BareWord(_text(node))
        if node.type == "variable" and _text(node).startswith("@"):
            return A.Splat(_text(node)[1:])
        return self.expr(node)

    # expressions --------------------------------------------------------------------------

    def expr(self, node: Node) -> A.Expr:
        kind = node.type
        named = _named(node)
        if kind in ("pipeline", "pipeline_chain", "command"):
            return self.pipeline(node)
        if kind in _BINARY_CHAINS:
            return self.binary_chain(node)
        if kind in _LISTS:
            items = [self.expr(c) for c in named]
            return items[0] if len(items) == 1 else A.ArrayLiteral(tuple(items))
        if kind in _WRAPPERS or (kind in ("statement_list",) and len(named) == 1):
            if len(named) != 1:
                raise PsSyntaxError(f"{_where(node)}: unexpected {kind} {_text(node)[:40]!r}")
            return self.expr(named[0])
        handler = getattr(self, "e_" + kind, None)
        if handler is None:
            raise PsSyntaxError(
                f"{_where(node)}: the lab's PowerShell does not implement {kind} ({_text(node)[:40]!r})"
            )
        result: A.Expr = handler(node)
        return result

    def binary_chain(self, node: Node) -> A.Expr:
        children = [c for c in node.children if c.type != "comment"]
        if len(children) == 1:
            return self.expr(children[0])
        left = self.expr(children[0])
        i = 1
        while i < len(children):
            op = _text(children[i]).lower()
            right = self.expr(children[i + 1])
            left = A.Binary(op, left, right)
            i += 2
        return left

    def e_decimal_integer_literal(self, node: Node) -> A.Const:
        return A.Const(_number(_text(node)))

    e_hexadecimal_integer_literal = e_decimal_integer_literal

    def e_real_literal(self, node: Node) -> A.Const:
        return A.Const(float(_text(node)))

    def e_variable(self, node: Node) -> A.Expr:
        text = _text(node)
        if text.startswith("@"):
            return A.Splat(text[1:])
        return self.variable(node)

    def variable(self, node: Node) -> A.Variable:
        text = _text(node)[1:]
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        scope = None
        if ":" in text:
            head, rest = text.split(":", 1)
            scope, text = head.lower(), rest
        return A.Variable(text, scope)

    def e_string_literal(self, node: Node) -> A.Expr:
        inner = node.children[0] if node.children else node
        return self.string(inner)

    def string(self, node: Node) -> A.Expr:
        text = _text(node)
        if node.type in ("verbatim_string_characters",):
            return A.Const(text[1:-1].replace("''", "'"))
        if node.type == "verbatim_here_string_characters":
            return A.Const(_here_body(text))
        if node.type in ("expandable_string_literal", "expandable_here_string_literal"):
            here = node.type == "expandable_here_string_literal"
            return self.expandable(node, here)
        raise PsSyntaxError(f"{_where(node)}: unknown string form {node.type}")

    def expandable(self, node: Node, here: bool) -> A.Expr:
        source = node.text or b""
        base = node.start_byte
        if here:
            first = source.index(b"\n") + 1
            last = source.rindex(b"\n")
            if source[last - 1 : last] == b"\r":
                last -= 1
            start, end = first, last
        else:
            start, end = 1, len(source) - 1
        parts: list[str | A.Expr] = []
        pos = start
        for child in _named(node):
            cs, ce = child.start_byte - base, child.end_byte - base
            if cs < pos:
                continue
            parts.append(_unescape(source[pos:cs].decode("utf-8"), here))
            if child.type == "variable":
                parts.append(self.variable(child))
            elif child.type == "sub_expression":
                parts.append(self.e_sub_expression(child))
            else:
                raise PsSyntaxError(f"{_where(child)}: unexpected {child.type} in a string")
            pos = ce
        parts.append(_unescape(source[pos:end].decode("utf-8"), here))
        kept = tuple(p for p in parts if p != "")
        if all(isinstance(p, str) for p in kept):
            return A.Const("".join(p for p in kept if isinstance(p, str)))
        return A.Expandable(kept)

    def e_sub_expression(self, node: Node) -> A.SubExpression:
        return A.SubExpression(self.block(node))

    def e_array_expression(self, node: Node) -> A.ArrayExpression:
        return A.ArrayExpression(self.block(node))

    def e_parenthesized_expression(self, node: Node) -> A.Expr:
        inner = _named(node)
        if len(inner) != 1:
            raise PsSyntaxError(f"{_where(node)}: empty parentheses")
        return A.Paren(self.pipeline(inner[0]))

    def e_script_block_expression(self, node: Node) -> A.ScriptBlockLiteral:
        params, body = self.script_block(node)
        return A.ScriptBlockLiteral(tuple(params), body)

    def script_block(self, node: Node) -> tuple[list[A.ParamDecl], A.Block]:
        params: list[A.ParamDecl] = []
        statements: list[A.Statement] = []
        for child in _named(node):
            if child.type == "param_block":
                params = self.parameters(child)
            elif child.type in ("script_block", "script_block_body", "statement_list", "statement_block"):
                p, b = self.script_block(child) if child.type == "script_block" else ([], self.block(child))
                params = params or p
                statements.extend(b.statements)
            elif child.type != "empty_statement":
                statements.append(self.statement(child))
        return params, A.Block.of(tuple(statements))

    def e_hash_literal_expression(self, node: Node) -> A.HashLiteral:
        entries: list[tuple[A.Expr, A.Expr]] = []
        for body in _named(node):
            for entry in _named(body):
                if entry.type != "hash_entry":
                    continue
                parts = _named(entry)
                key = parts[0]
                keyn = _named(key)
                if key.type == "key_expression" and len(keyn) == 1 and keyn[0].type == "simple_name":
                    k: A.Expr = A.Const(_text(keyn[0]))
                else:
                    k = self.expr(key)
                entries.append((k, self.pipeline(parts[1])))
        return A.HashLiteral(tuple(entries))

    def e_type_literal(self, node: Node) -> A.TypeLiteral:
        return A.TypeLiteral(self.type_name(node))

    def type_name(self, node: Node) -> str:
        text = _text(node).strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        return re.sub(r"\s+", "", text)

    def e_cast_expression(self, node: Node) -> A.Cast:
        named = _named(node)
        return A.Cast(self.type_name(named[0]), self.expr(named[1]))

    def e_expression_with_unary_operator(self, node: Node) -> A.Expr:
        first = node.children[0]
        if len(node.children) == 1:
            return self.expr(first)
        if first.type == "type_literal":
            return A.Cast(self.type_name(first), self.expr(_named(node)[-1]))
        op = _text(first).lower()
        operand = self.expr(_named(node)[-1])
        if op in ("++", "--"):
            return A.IncDec(operand, op, post=False)
        return A.Unary(op, operand)

    def e_pre_increment_expression(self, node: Node) -> A.IncDec:
        return A.IncDec(self.expr(_named(node)[0]), "++", post=False)

    def e_pre_decrement_expression(self, node: Node) -> A.IncDec:
        return A.IncDec(self.expr(_named(node)[0]), "--", post=False)

    def e_post_increment_expression(self, node: Node) -> A.IncDec:
        return A.IncDec(self.expr(_named(node)[0]), "++", post=True)

    def e_post_decrement_expression(self, node: Node) -> A.IncDec:
        return A.IncDec(self.expr(_named(node)[0]), "--", post=True)

    def member_name(self, node: Node) -> str | A.Expr:
        while node.type == "member_name" and len(_named(node)) == 1:
            node = _named(node)[0]
        if node.type == "simple_name":
            return _text(node)
        if node.type == "string_literal":
            value = self.e_string_literal(node)
            return value.value if isinstance(value, A.Const) else value
        return self.expr(node)

    def e_member_access(self, node: Node) -> A.Member:
        named = _named(node)
        static = any(c.type == "::" for c in node.children)
        return A.Member(self.expr(named[0]), self.member_name(named[1]), static)

    def e_invokation_expression(self, node: Node) -> A.Invoke:
        named = _named(node)
        static = any(c.type == "::" for c in node.children)
        arglist = next(c for c in node.children if c.type == "argument_list")
        args: tuple[A.Expr, ...] = ()
        inner = arglist.child_by_field_name("argument_expression_list")
        if inner is not None:
            value = self.expr(inner)
            args = value.items if isinstance(value, A.ArrayLiteral) and inner.type in _LISTS else (value,)
        return A.Invoke(self.expr(named[0]), self.member_name(named[1]), args, static)

    def e_element_access(self, node: Node) -> A.Index:
        named = _named(node)
        return A.Index(self.expr(named[0]), self.expr(named[1]))

    def e_assignment_expression(self, node: Node) -> A.Assign:
        named = _named(node)
        op = _text(next(c for c in node.children if c.type == "assignement_operator"))
        target = self.expr(named[0])
        value = node.child_by_field_name("value")
        assert value is not None
        return A.Assign(target, op, self.pipeline(value))

    def e_left_assignment_expression(self, node: Node) -> A.Expr:
        return self.expr(_named(node)[0])

    def e_foreach_statement(self, node: Node) -> A.StatementExpr:
        return A.StatementExpr(self.statement(node))

    e_if_statement = e_foreach_statement
    e_for_statement = e_foreach_statement
    e_while_statement = e_foreach_statement
    e_try_statement = e_foreach_statement


def _walk(node: Node) -> list[Node]:
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.children))
    return out


def _number(text: str) -> int | float:
    t = text.lower()
    multiplier = 1
    for suffix, factor in (("kb", 1024), ("mb", 1024**2), ("gb", 1024**3)):
        if t.endswith(suffix):
            t, multiplier = t[: -len(suffix)], factor
    long = t.endswith("l")
    t = t.rstrip("l")
    value = int(t, 16) if t.startswith("0x") else int(t)
    value *= multiplier
    from rollup.lab.pwsh.values import Int64, smallest_int

    return Int64(value) if long else smallest_int(value)


_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape(text: str, here: bool) -> str:
    """A literal part of an expandable string: backtick escapes, and ``""`` for ``"``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "`" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if ch == '"' and not here and text[i + 1 : i + 2] == '"':
            out.append('"')
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _here_body(text: str) -> str:
    first = text.index("\n") + 1
    last = text.rindex("\n")
    if text[last - 1 : last] == "\r":
        last -= 1
    return text[first:last] if last >= first else ""
