"""The syntax tree the lab's PowerShell interpreter walks (built by ``rollup.lab.pwsh.syntax``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, eq=False)
class Block:
    """
    Statements, with what running them needs sorted out once: the traps (which apply to the whole
    block wherever they stand) and the statements to run in order. A function is defined when its
    statement runs, as in a PowerShell script: calling it earlier fails.
    """

    statements: tuple[Statement, ...]
    traps: tuple[Trap, ...] = ()
    functions: tuple[FunctionDef, ...] = ()
    runnable: tuple[Statement, ...] = ()

    @classmethod
    def of(cls, statements: tuple[Statement, ...]) -> Block:
        traps = tuple(s for s in statements if isinstance(s, Trap))
        functions = tuple(s for s in statements if isinstance(s, FunctionDef))
        runnable = tuple(s for s in statements if not isinstance(s, Trap))
        return cls(statements, traps, functions, runnable)


# Expressions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    value: Any


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    scope: str | None = None
    """``script``, ``global``, ``local``, ``env``... or ``None``."""
    key: str = ""
    """The name in lower case, as variables are looked up."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.name.lower())


@dataclass(frozen=True, slots=True)
class Splat:
    """``@args`` as a command argument."""

    name: str


@dataclass(frozen=True, slots=True)
class BareWord:
    """A command argument written without quotes (``/xml``, ``Stop``, ``IO.FileStream``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Expandable:
    """A double-quoted string: literal parts and the expressions expanded into it."""

    parts: tuple[str | Expr, ...]


@dataclass(frozen=True, slots=True)
class SubExpression:
    """``$( ... )``."""

    body: Block


@dataclass(frozen=True, slots=True)
class ArrayExpression:
    """``@( ... )``."""

    body: Block


@dataclass(frozen=True, slots=True)
class Paren:
    """``( pipeline )``."""

    inner: Expr


@dataclass(frozen=True, slots=True)
class ArrayLiteral:
    """``a, b, c``."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class HashLiteral:
    entries: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    type: str | None
    default: Expr | None


@dataclass(frozen=True, slots=True)
class ScriptBlockLiteral:
    params: tuple[ParamDecl, ...]
    body: Block


@dataclass(frozen=True, slots=True)
class TypeLiteral:
    name: str


@dataclass(frozen=True, slots=True)
class Cast:
    type: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class IncDec:
    target: Expr
    op: str
    post: bool


@dataclass(frozen=True, slots=True)
class Member:
    target: Expr
    name: str | Expr
    static: bool


@dataclass(frozen=True, slots=True)
class Invoke:
    target: Expr
    name: str | Expr
    args: tuple[Expr, ...]
    static: bool


@dataclass(frozen=True, slots=True)
class Index:
    target: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Assign:
    target: Expr
    op: str
    value: Expr


@dataclass(frozen=True, slots=True)
class PositionalArg:
    value: Expr


@dataclass(frozen=True, slots=True)
class ParamArg:
    name: str
    value: Expr | None


CommandElement = PositionalArg | ParamArg


@dataclass(frozen=True, slots=True)
class Command:
    name: str | Expr
    args: tuple[CommandElement, ...]
    invoke: str | None
    """``&`` or ``.``, or ``None``."""


@dataclass(frozen=True, slots=True)
class Pipeline:
    elements: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class StatementExpr:
    """A statement used as a value (``$x = foreach (...) {...}``)."""

    statement: Statement


Expr = (
    Const
    | Variable
    | Splat
    | BareWord
    | Expandable
    | SubExpression
    | ArrayExpression
    | Paren
    | ArrayLiteral
    | HashLiteral
    | ScriptBlockLiteral
    | TypeLiteral
    | Cast
    | Unary
    | Binary
    | IncDec
    | Member
    | Invoke
    | Index
    | Assign
    | Command
    | Pipeline
    | StatementExpr
)


# Statements ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExprStatement:
    expr: Expr


@dataclass(frozen=True, slots=True)
class If:
    clauses: tuple[tuple[Expr, Block], ...]
    otherwise: Block | None


@dataclass(frozen=True, slots=True)
class Foreach:
    variable: str
    source: Expr
    body: Block


@dataclass(frozen=True, slots=True)
class For:
    init: Expr | None
    condition: Expr | None
    iterator: Expr | None
    body: Block


@dataclass(frozen=True, slots=True)
class While:
    condition: Expr
    body: Block


@dataclass(frozen=True, slots=True)
class Try:
    body: Block
    catches: tuple[tuple[tuple[str, ...], Block], ...]
    final: Block | None


@dataclass(frozen=True, slots=True)
class Trap:
    types: tuple[str, ...]
    body: Block


@dataclass(frozen=True, slots=True)
class FunctionDef:
    name: str
    params: tuple[ParamDecl, ...]
    body: Block


@dataclass(frozen=True, slots=True)
class ParamBlockStmt:
    params: tuple[ParamDecl, ...]


@dataclass(frozen=True, slots=True)
class Flow:
    """``break``, ``continue``, ``return``, ``exit``, ``throw``, with an optional value."""

    keyword: str
    value: Expr | None


Statement = ExprStatement | If | Foreach | For | While | Try | Trap | FunctionDef | ParamBlockStmt | Flow
