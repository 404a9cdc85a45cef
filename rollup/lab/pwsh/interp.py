"""
The evaluator: statements, expressions and pipelines of ``rollup.lab.pwsh.ast``, with
PowerShell's semantics.

- A statement writes its value to the output, unrolled one level (an array writes its items).
- ``$x = <pipeline>`` keeps an expression's value as is, and collects a command's output: no item
  is ``$null``, one is the item, several are an ``object[]``.
- An error that is not caught ends the statement, is written to stderr and the script goes on,
  unless ``$ErrorActionPreference`` is ``Stop`` or a ``try``/``trap`` encloses it.
"""

from __future__ import annotations

from typing import Any

from rollup.lab.pwsh import ast as A
from rollup.lab.pwsh import operators as ops
from rollup.lab.pwsh.errors import (
    Break,
    Continue,
    ErrorRecord,
    ExceptionObject,
    Exit,
    PsError,
    Return,
    runtime_error,
)
from rollup.lab.pwsh.members import (
    get_member,
    index,
    invoke_method,
    invoke_static,
    set_index,
    set_member,
    static_member,
)
from rollup.lab.pwsh.net import NetException, NetType
from rollup.lab.pwsh.runtime import Runtime, Scope, host_format
from rollup.lab.pwsh.types import VOID, convert, resolve
from rollup.lab.pwsh.values import (
    Hashtable,
    ScriptBlock,
    enumerate_value,
    flatten_for_output,
    is_instance,
    to_bool,
    to_number,
    to_string,
)

_UNSET = object()


def collect(items: list[Any]) -> Any:
    """A pipeline's output as one value: nothing is ``$null``, one item itself, more an array."""
    if not items:
        return None
    return items[0] if len(items) == 1 else list(items)


class Interpreter:
    """Runs statements against a ``Runtime``."""

    def __init__(self, rt: Runtime) -> None:
        from rollup.lab.pwsh.commands import Commands

        self.rt = rt
        self.commands = Commands(self)

    # blocks and statements ----------------------------------------------------------------

    def run_block(self, block: A.Block, out: list[Any]) -> None:
        statement = self.statement
        for s in block.runnable:
            try:
                statement(s, out)
            except PsError as error:
                self.handle_error(error, block.traps, out)

    def handle_error(self, error: PsError, traps: tuple[A.Trap, ...], out: list[Any]) -> None:
        """A terminating error at statement level: a trap, the enclosing try, or stderr."""
        for trap in traps:
            if not trap.types or any(
                is_instance(error.record.exception, resolve(t).full_name) for t in trap.types
            ):
                self.rt.errors.insert(0, error.record)
                with_underscore = self.rt.get("_")[1]
                self.rt.set_local("_", error.record)
                try:
                    self.run_block(trap.body, out)
                except Continue:
                    return
                finally:
                    self.rt.set_local("_", with_underscore)
                self.rt.stderr.append(error.record.render())
                raise Break() from None
        if self.rt.try_depth > 0 or self.rt.preference() == "stop":
            raise error
        self.rt.errors.insert(0, error.record)
        self.rt.stderr.append(error.record.render())

    def statement(self, s: A.Statement, out: list[Any]) -> None:
        if type(s) is A.ExprStatement:
            self.emit(s.expr, out)
        elif isinstance(s, A.If):
            for cond, body in s.clauses:
                if to_bool(self.value(cond)):
                    self.run_block(body, out)
                    return
            if s.otherwise is not None:
                self.run_block(s.otherwise, out)
        elif isinstance(s, A.Foreach):
            self.foreach(s, out)
        elif isinstance(s, A.For):
            self.for_loop(s, out)
        elif isinstance(s, A.While):
            while to_bool(self.value(s.condition)):
                try:
                    self.run_block(s.body, out)
                except Break:
                    break
                except Continue:
                    continue
        elif isinstance(s, A.Try):
            self.try_statement(s, out)
        elif isinstance(s, A.Flow):
            self.flow(s, out)
        elif isinstance(s, A.FunctionDef):
            self.rt.define(s)
        elif isinstance(s, A.ParamBlockStmt | A.Trap):
            return
        else:  # pragma: no cover - the syntax module builds nothing else
            raise runtime_error(f"unknown statement {type(s).__name__}", "Internal")

    def emit(self, expr: A.Expr, out: list[Any]) -> None:
        """Write an expression statement's value to the output (assignments write nothing)."""
        kind = type(expr)
        if kind is A.Assign:
            self.assign(expr)  # type: ignore[arg-type]
            return
        if kind is A.IncDec:
            self.incdec(expr)  # type: ignore[arg-type]
            return
        if isinstance(expr, A.Pipeline | A.Command):
            out.extend(self.pipeline_output(expr))
            return
        if isinstance(expr, A.StatementExpr):
            self.statement(expr.statement, out)
            return
        value = self.invoke(expr) if isinstance(expr, A.Invoke) else self.value(expr)
        if value is VOID:
            return
        out.extend(flatten_for_output(value))

    def foreach(self, s: A.Foreach, out: list[Any]) -> None:
        source = self.value(s.source)
        items = enumerate_value(source)
        seq = [] if source is None else ([source] if items is None else list(items))
        for item in seq:
            self.rt.set(s.variable, item)
            try:
                self.run_block(s.body, out)
            except Break:
                break
            except Continue:
                continue

    def for_loop(self, s: A.For, out: list[Any]) -> None:
        if s.init is not None:
            self.emit(s.init, [])
        while s.condition is None or to_bool(self.value(s.condition)):
            try:
                self.run_block(s.body, out)
            except Break:
                break
            except Continue:
                pass
            if s.iterator is not None:
                self.emit(s.iterator, [])

    def try_statement(self, s: A.Try, out: list[Any]) -> None:
        try:
            self.rt.try_depth += 1
            try:
                self.run_block(s.body, out)
            finally:
                self.rt.try_depth -= 1
        except PsError as error:
            record = error.record
            for types, body in s.catches:
                if not types or any(is_instance(record.exception, resolve(t).full_name) for t in types):
                    self.rt.errors.insert(0, record)
                    saved = self.rt.get("_")[1]
                    self.rt.set_local("_", record)
                    try:
                        self.run_block(body, out)
                    finally:
                        self.rt.set_local("_", saved)
                    break
            else:
                if s.final is not None:
                    self.run_block(s.final, out)
                raise
        finally:
            pass
        if s.final is not None:
            self.run_block(s.final, out)

    def flow(self, s: A.Flow, out: list[Any]) -> None:
        if s.keyword == "break":
            raise Break()
        if s.keyword == "continue":
            raise Continue()
        if s.keyword == "return":
            if s.value is not None:
                self.emit(s.value, out)
            raise Return(out)
        if s.keyword == "exit":
            code = 0
            if s.value is not None:
                value = self.value(s.value)
                try:
                    code = int(to_number(value)) if value is not None else 0
                except Exception:
                    code = 0
            raise Exit(code & 0xFFFFFFFF if code >= 0 else code)
        if s.keyword == "throw":
            value = self.value(s.value) if s.value is not None else None
            raise self.thrown(value)
        raise runtime_error(f"unknown flow statement {s.keyword}", "Internal")

    def thrown(self, value: Any) -> PsError:
        if isinstance(value, ErrorRecord):
            return PsError(value)
        if isinstance(value, ExceptionObject):
            return PsError(ErrorRecord(value, value.type_name.rsplit(".", 1)[-1]))
        message = to_string(value) if value is not None else "ScriptHalted"
        record = ErrorRecord(
            ExceptionObject("System.Management.Automation.RuntimeException", message),
            message,
            "OperationStopped",
            value,
        )
        return PsError(record)

    # expressions --------------------------------------------------------------------------

    def value(self, e: A.Expr) -> Any:
        kind = type(e)
        if kind is A.Const:
            return e.value  # type: ignore[union-attr]
        if kind is A.Variable:
            return self.variable(e)  # type: ignore[arg-type]
        if kind is A.Invoke:
            result = self.invoke(e)  # type: ignore[arg-type]
            return None if result is VOID else result
        if kind is A.Member:
            return self.member(e)  # type: ignore[arg-type]
        if kind is A.Binary:
            return self.binary(e)  # type: ignore[arg-type]
        if isinstance(e, A.Paren):
            inner = e.inner
            if isinstance(inner, A.Pipeline | A.Command):
                return collect(self.pipeline_output(inner))
            if isinstance(inner, A.Assign):
                self.assign(inner)
                return self.value(inner.target)
            return self.value(inner)
        if isinstance(e, A.Pipeline | A.Command):
            return collect(self.pipeline_output(e))
        if isinstance(e, A.Binary):
            return self.binary(e)
        if isinstance(e, A.Unary):
            return self.unary(e)
        if isinstance(e, A.Member):
            return self.member(e)
        if isinstance(e, A.Invoke):
            result = self.invoke(e)
            return None if result is VOID else result
        if isinstance(e, A.Index):
            return index(self.rt, self.value(e.target), self.value(e.index))
        if isinstance(e, A.Cast):
            t = resolve(e.type)
            return convert(self.rt, self.value(e.operand), t)
        if isinstance(e, A.TypeLiteral):
            return resolve(e.name)
        if isinstance(e, A.ArrayLiteral):
            return [self.value(i) for i in e.items]
        if isinstance(e, A.ArrayExpression):
            out: list[Any] = []
            self.run_block(e.body, out)
            return out
        if isinstance(e, A.SubExpression):
            sub: list[Any] = []
            self.run_block(e.body, sub)
            return collect(sub)
        if isinstance(e, A.HashLiteral):
            table = Hashtable()
            for k, v in e.entries:
                table.set(self.value(k), self.value(v))
            return table
        if isinstance(e, A.Expandable):
            return "".join(p if isinstance(p, str) else to_string(self.value(p)) for p in e.parts)
        if isinstance(e, A.ScriptBlockLiteral):
            return ScriptBlock(e.params, e.body)
        if isinstance(e, A.Assign):
            self.assign(e)
            return VOID
        if isinstance(e, A.IncDec):
            return self.incdec(e)
        if isinstance(e, A.StatementExpr):
            items: list[Any] = []
            self.statement(e.statement, items)
            return collect(items)
        if isinstance(e, A.BareWord):
            return e.text
        if isinstance(e, A.Splat):
            return self.rt.get(e.name)[1]
        raise runtime_error(f"unknown expression {type(e).__name__}", "Internal")

    def variable(self, v: A.Variable) -> Any:
        if v.scope is None:
            for scope in reversed(self.rt.scopes):
                found_value = scope.variables.get(v.key, _UNSET)
                if found_value is not _UNSET:
                    return found_value
        found, value = self.rt.get(v.name, v.scope)
        if not found and self.rt.strict and v.scope != "env":
            raise runtime_error(
                f"The variable '${v.name}' cannot be retrieved because it has not been set.",
                "VariableIsUndefined",
            )
        return value

    def binary(self, e: A.Binary) -> Any:
        op = e.op
        if op in ("-and", "-or", "-xor"):
            return ops.logical(op, self.value(e.left), lambda: self.value(e.right))
        left = self.value(e.left)
        if op in ("-is", "-isnot"):
            t = self.value(e.right)
            t = t if isinstance(t, NetType) else resolve(to_string(t))
            return is_instance(left, t.full_name) == (op == "-is")
        if op == "-as":
            t = self.value(e.right)
            try:
                return convert(self.rt, left, t if isinstance(t, NetType) else resolve(to_string(t)))
            except PsError:
                return None
        right = self.value(e.right)
        name, case = ops.split_op(op)
        if name == "replace":
            return ops.replace(left, right, case)
        if name == "split":
            return ops.split(left, right, case)
        if name == "join":
            return ops.join(left, right)
        if op == "-f":
            try:
                return ops.format_op(left, right)
            except NetException as exc:
                raise runtime_error(
                    f"Error formatting a string: {exc.message}.", "FormatError", category="InvalidOperation"
                ) from None
        if op in ("-band", "-bor", "-bxor"):
            return ops.bitwise(op, left, right)
        if op == "+":
            return ops.add(left, right)
        if op in ("-", "*", "/", "%"):
            return ops.arithmetic(op, left, right)
        if op == "..":
            return ops.range_of(left, right)
        result, match = ops.comparison(op, left, right)
        if match is not None:
            self.rt.set("matches", _matches_table(match) if match is not False else None)
        return result

    def unary(self, e: A.Unary) -> Any:
        if e.op == ",":
            return [self.value(e.operand)]
        value = self.value(e.operand)
        if e.op in ("-not", "!"):
            return not to_bool(value)
        if e.op == "-bnot":
            return ~int(to_number(value))
        if e.op == "-":
            return ops.arithmetic("-", 0, value)
        if e.op == "+":
            return to_number(value)
        if e.op == "-join":
            return ops.join(value, "")
        if e.op == "-split":
            return ops.split(to_string(value).strip(), r"\s+", False)
        raise runtime_error(f"The unary operator {e.op} is not supported.", "OperatorNotSupported")

    def member_name(self, name: str | A.Expr) -> str:
        return name if isinstance(name, str) else to_string(self.value(name))

    def member(self, e: A.Member) -> Any:
        target = self.value(e.target)
        name = self.member_name(e.name)
        if e.static:
            if not isinstance(target, NetType):
                raise runtime_error(
                    "Unable to find type: the left side of :: must be a type.", "TypeNotFound"
                )
            return static_member(self.rt, target, name)
        return get_member(self.rt, target, name)

    def invoke(self, e: A.Invoke) -> Any:
        target = self.value(e.target)
        name = self.member_name(e.name)
        args = [self.value(a) for a in e.args]
        if e.static:
            if not isinstance(target, NetType):
                raise runtime_error(
                    "Unable to find type: the left side of :: must be a type.", "TypeNotFound"
                )
            return invoke_static(self.rt, target, name, args)
        return invoke_method(self.rt, target, name, args)

    # assignment ---------------------------------------------------------------------------

    def assigned_value(self, e: A.Expr) -> Any:
        if isinstance(e, A.Pipeline | A.Command):
            return collect(self.pipeline_output(e))
        if isinstance(e, A.Assign):
            self.assign(e)
            return self.value(e.target)
        value = self.value(e)
        return None if value is VOID else value

    def assign(self, e: A.Assign) -> None:
        value = self.assigned_value(e.value)
        if e.op != "=":
            current = self.value(e.target)
            op = e.op[0]
            value = ops.add(current, value) if op == "+" else ops.arithmetic(op, current, value)
        self.store(e.target, value)

    def store(self, target: A.Expr, value: Any) -> None:
        if isinstance(target, A.Variable):
            self.rt.set(target.name, value, target.scope)
        elif isinstance(target, A.Member):
            set_member(self.rt, self.value(target.target), self.member_name(target.name), value)
        elif isinstance(target, A.Index):
            set_index(self.rt, self.value(target.target), self.value(target.index), value)
        elif isinstance(target, A.Cast):
            self.store(target.operand, convert(self.rt, value, resolve(target.type)))
        else:
            raise runtime_error("The assignment expression is not valid.", "InvalidLeftHandSide")

    def incdec(self, e: A.IncDec) -> Any:
        old = self.value(e.target)
        new = ops.arithmetic("+" if e.op == "++" else "-", old if old is not None else 0, 1)
        self.store(e.target, new)
        return VOID

    # pipelines ----------------------------------------------------------------------------

    def pipeline_output(self, e: A.Pipeline | A.Command) -> list[Any]:
        elements = e.elements if isinstance(e, A.Pipeline) else (e,)
        values: list[Any] | None = None
        for element in elements:
            if isinstance(element, A.Command):
                values = self.commands.invoke(element, values)
            elif values is None:
                value = self.value(element)
                values = [] if value is VOID else flatten_for_output(value)
            else:
                raise runtime_error(
                    "Expressions are only allowed as the first element of a pipeline.",
                    "ExpressionsMustBeFirstInPipeline",
                )
        return values or []

    def call_function(
        self,
        fn: A.FunctionDef,
        positional: list[Any],
        named: dict[str, Any],
        pipeline: list[Any] | None = None,
    ) -> list[Any]:
        scope = Scope()
        params = list(fn.params)
        body = fn.body
        if body.statements and isinstance(body.statements[0], A.ParamBlockStmt):
            params = list(body.statements[0].params)
        remaining = list(positional)
        for p in params:
            key = next(
                (k for k in named if p.name.lower().startswith(k.lower()) or k.lower() == p.name.lower()),
                None,
            )
            if key is not None:
                value = named.pop(key)
            elif remaining:
                value = remaining.pop(0)
            else:
                value = self.value(p.default) if p.default is not None else None
                if p.type is None:
                    scope.variables[p.name.lower()] = value
                    continue
            if p.type is not None:
                value = convert(self.rt, value, resolve(p.type))
                if value is None and resolve(p.type).full_name == "System.String":
                    value = ""
            scope.variables[p.name.lower()] = value
        scope.variables["args"] = remaining + [f"-{k}" for k in named]
        if pipeline is not None:
            scope.variables["input"] = pipeline
        self.rt.scopes.append(scope)
        out: list[Any] = []
        try:
            self.run_block(body, out)
        except Return as r:
            out = r.value
        finally:
            self.rt.scopes.pop()
        return out

    def call_block(self, block: ScriptBlock, underscore: Any, *, new_scope: bool = False) -> list[Any]:
        out: list[Any] = []
        saved = self.rt.get("_")
        if new_scope:
            self.rt.scopes.append(Scope())
        self.rt.set_local("_", underscore)
        try:
            self.run_block(block.body, out)
        except Return as r:
            out = r.value
        finally:
            if new_scope:
                self.rt.scopes.pop()
            else:
                self.rt.set_local("_", saved[1])
        return out


def _matches_table(match: Any) -> Hashtable:
    table = Hashtable()
    for i in range(match.re.groups + 1):
        if match.group(i) is not None:
            table.set(i, match.group(i))
    for name, value in match.groupdict().items():
        if value is not None:
            table.set(name, value)
    return table


def run_script(rt: Runtime, block: A.Block) -> int:
    """Run a parsed script; its exit code (``exit N``, 1 after an uncaught error, else 0)."""
    interp = Interpreter(rt)
    out: list[Any] = _Console(rt)
    code = 0
    try:
        interp.run_block(block, out)
    except Exit as done:
        code = done.code
    except PsError as error:
        rt.stderr.append(error.record.render())
        code = 1
    except (Break, Continue):
        code = 0
    except Return:
        code = 0
    return code


class _Console(list[Any]):
    """The top level's output: each object is shown on stdout as it is written (``Out-Default``)."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt

    def append(self, item: Any) -> None:
        self.rt.stdout.append(host_format(item) + "\r\n")

    def extend(self, items: Any) -> None:
        for item in items:
            self.append(item)
