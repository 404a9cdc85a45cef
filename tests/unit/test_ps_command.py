"""RemoteCommand: rendering, bindings, the header, hostile values and secrets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollup.errors import ResultParseError
from rollup.ps import prelude
from rollup.ps.check import parse_errors, ps2_problems
from rollup.ps.command import HEADER_MARKER, Param, RemoteCommand, bindings_of, read_header
from rollup.secret import REDACTED, Secret

HOSTILE = [
    "it's",
    'say "hi"',
    "back`tick",
    "$()",
    "$(Remove-Item C:\\ -Recurse)",
    "a; Remove-Item C:\\",
    "line one\r\nline two\nthree",
    "\u2018typographic\u2019 \u201cquotes\u201d \u201a\u201b",
    "nul\x00byte",
    "Caf\u00e9 \u65e5\u672c \U0001f600",
    "'@\n\"@\n#>",
    "",
]

_STRING_BINDING = "[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{}'))"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _command(params: dict[str, Param], body: str = "Write-RollupResult $p_a") -> RemoteCommand:
    return RemoteCommand("test.echo", params, body)


def test_render_layout_is_header_prelude_bindings_body() -> None:
    """A rendered script is the header line, the writer, one binding per parameter by name, the body."""
    command = RemoteCommand("msi.install", {"path": "C:\\a.msi", "count": 2}, "Write-RollupResult $p_path")

    lines = command.render().splitlines()

    assert lines[0] == f"{HEADER_MARKER} 2 msi.install"
    assert lines[1] == "function ConvertTo-RollupJson($v) {"
    binding_start = lines.index("$p_count = 2")
    assert lines[binding_start + 1] == "$p_path = " + _STRING_BINDING.format(_b64("C:\\a.msi"))
    assert lines[binding_start + 2 :] == ["Write-RollupResult $p_path"]
    assert "\n".join(lines[1:binding_start]) == prelude.render_prelude()


def test_bindings_of_each_type() -> None:
    """Strings, ints, booleans, None and tuples bind as the documented PowerShell expressions."""
    command = _command(
        {"a": "x", "b": -7, "c": True, "d": False, "e": None, "f": ("p", "q"), "g": ()},
        "Write-RollupResult @($p_a, $p_b, $p_c, $p_d, $p_e, $p_f, $p_g)",
    )

    script = command.render()

    assert f"$p_a = {_STRING_BINDING.format(_b64('x'))}\n" in script
    assert "$p_b = -7\n" in script
    assert "$p_c = $true\n$p_d = $false\n$p_e = $null\n" in script
    both = ", ".join(_STRING_BINDING.format(_b64(v)) for v in ("p", "q"))
    assert f"$p_f = @({both})\n$p_g = @()\n" in script


def test_header_names_the_operation_and_read_header_gives_the_bound_parameters() -> None:
    """The header carries no value (each travels once, in its binding); read_header decodes the bindings."""
    command = _command({"a": "x", "n": 3, "t": ("u",)})

    script = command.render()

    assert script.splitlines()[0] == "#rollup-op 2 test.echo"
    assert read_header(script) == ("test.echo", {"a": "x", "n": 3, "t": ("u",)})
    assert _b64("x") not in script.splitlines()[0]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_hostile_string_round_trips_and_never_appears(value: str) -> None:
    """A hostile value parses cleanly, is absent from the text, and decodes back exactly."""
    command = _command({"a": value, "t": (value, "x")}, "Write-RollupResult @($p_a, $p_t)")

    script = command.render()

    assert parse_errors(script) == []
    assert ps2_problems(script) == []
    body_free = script.replace(command.body, "")
    assert len(value) < 2 or value not in body_free
    assert read_header(script) == ("test.echo", {"a": value, "t": (value, "x")})
    assert bindings_of(script) == {"a": value, "t": (value, "x")}


_TEXT = st.text(alphabet=st.characters(codec="utf-8"))


@settings(max_examples=150, deadline=None)
@given(_TEXT, st.lists(_TEXT, max_size=3), st.integers(-(2**63) + 1, 2**63 - 1))
def test_any_value_round_trips_through_header_and_bindings(text: str, items: list[str], number: int) -> None:
    """For arbitrary text (no lone surrogates), header and bindings both decode to the input."""
    params: dict[str, Param] = {"a": text, "l": tuple(items), "n": number}

    script = _command(params, "Write-RollupResult @($p_a, $p_l, $p_n)").render()

    assert read_header(script) == ("test.echo", params)
    assert bindings_of(script) == params


SECRET = Secret("Pa$$w0rd'\u2019;`$(x)")


def _secret_command() -> RemoteCommand:
    return RemoteCommand(
        "sql.check",
        {"user": "sa", "password": SECRET},
        "Write-RollupResult @{ u = $p_user; p = $p_password }",
    )


def test_render_contains_the_secret_binding() -> None:
    """The rendered script carries the secret (base64 in its binding and in the header)."""
    script = _secret_command().render()

    assert f"$p_password = {_STRING_BINDING.format(_b64(SECRET.reveal()))}\n" in script
    assert read_header(script) == ("sql.check", {"user": "sa", "password": SECRET})
    assert bindings_of(script) == {"user": "sa", "password": SECRET}


def test_redacted_str_and_repr_never_show_the_secret() -> None:
    """redacted(), str() and repr() contain no form of the secret, and mark where it was."""
    command = _secret_command()

    for text in (command.redacted(), str(command), repr(command)):
        for form in SECRET.forms():
            assert form not in text
    assert "$p_password = '***'\n" in command.redacted()
    assert read_header(command.redacted()) == ("sql.check", {"user": "sa", "password": Secret(REDACTED)})
    assert bindings_of(command.redacted()) == {"user": "sa", "password": Secret(REDACTED)}
    assert "Secret(***)" in repr(command)


def test_redacted_differs_from_render_only_in_secrets() -> None:
    """Without secrets, redacted() is render(); with one, only its binding changes."""
    plain = _command({"a": "x"})
    differing = [
        (a, b)
        for a, b in zip(
            _secret_command().render().splitlines(), _secret_command().redacted().splitlines(), strict=True
        )
        if a != b
    ]

    assert plain.redacted() == plain.render()
    assert [a.split(" ")[0] for a, _ in differing] == ["$p_password"]


def test_header_names_secret_parameters() -> None:
    """The header lists secret parameter names, so readers rebuild Secret values."""
    script = _secret_command().render()

    assert script.splitlines()[0] == "#rollup-op 2 sql.check secret=password"
    header = read_header(script)
    assert header is not None
    assert isinstance(header[1]["password"], Secret)
    assert header[1]["user"] == "sa"


def test_helpers_are_carried_only_when_named() -> None:
    """A script carries the helpers it names and the writer only if the body reports."""
    quiet = RemoteCommand(
        "msi.busy", {}, "if (Test-RollupMsiBusy) { exit 1 }", helpers=("Test-RollupMsiBusy",)
    )
    hashing = RemoteCommand(
        "file.hash",
        {"path": "C:\\a"},
        "Write-RollupResult (Get-RollupSha256 $p_path)",
        helpers=("Get-RollupSha256",),
    )

    assert "function Test-RollupMsiBusy" in quiet.render()
    assert "function ConvertTo-RollupJson" not in quiet.render()
    assert "function Get-RollupSha256" in hashing.render()
    assert "function Write-RollupResult" in hashing.render()
    assert "function Get-RollupMsiProperty" not in hashing.render()


def test_commands_are_equal_and_hashable_by_value() -> None:
    """Two commands built from the same parts are equal, hash alike, and keep params read-only."""
    first = _command({"b": 1, "a": "x"})
    second = _command({"a": "x", "b": 1})

    assert first == second
    assert hash(first) == hash(second)
    assert list(first.params) == ["a", "b"]
    with pytest.raises(TypeError):
        first.params["a"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    ("op", "params", "body", "helpers", "message"),
    [
        ("install", {}, "exit 0", (), "operation id"),
        ("Msi.Install", {}, "exit 0", (), "operation id"),
        ("msi.install", {"Path": "x"}, "exit 0", (), "parameter name"),
        ("msi.install", {"1a": "x"}, "exit 0", (), "parameter name"),
        ("msi.install", {"a": 1.5}, "exit 0", (), "unsupported parameter type float"),
        ("msi.install", {"a": ["x"]}, "exit 0", (), "unsupported parameter type list"),
        ("msi.install", {"a": ("x", 1)}, "exit 0", (), "tuple items must be str"),
        ("msi.install", {"a": 2**63}, "exit 0", (), "64-bit"),
        ("msi.install", {"a": "\ud800"}, "exit 0", (), "UTF-8"),
        ("msi.install", {}, "  \n", (), "body is empty"),
        ("msi.install", {}, "Write-RollupResult $p_missing", (), "$p_missing"),
        ("msi.install", {"a": "x"}, "$p_a = 'y'", (), "assigns"),
        ("msi.install", {"a": "x"}, "$p_a += 'y'", (), "assigns"),
        ("msi.install", {}, "Get-RollupSha256 C:\\a", (), "helpers does not name it"),
        ("msi.install", {}, "exit 0", ("Get-Nothing",), "unknown helper"),
    ],
)
def test_malformed_commands_are_refused(
    op: str, params: dict[str, Param], body: str, helpers: tuple[str, ...], message: str
) -> None:
    """Construction refuses bad ids, names, values and bodies with a message naming the problem."""
    with pytest.raises((ValueError, TypeError)) as caught:
        RemoteCommand(op, params, body, helpers)

    assert message in str(caught.value)


def test_body_may_compare_parameters() -> None:
    """Comparisons such as -eq, -ne and -ge on a parameter are reads, not assignments."""
    command = _command(
        {"a": "x"}, "if ($p_a -eq 'y' -or $p_a -ge 'z' -or $p_a -ne '') { Write-RollupResult $p_a }"
    )

    assert command.params == {"a": "x"}


def test_read_header_is_none_without_a_header() -> None:
    """A script whose first line is not a #rollup-op header has no header."""
    scripts = ("Get-Item x\n", "", "#rollup-operation 2 a.b\n", "\n#rollup-op 2 a.b\n")

    assert [read_header(script) for script in scripts] == [None] * len(scripts)


@pytest.mark.parametrize(
    "line",
    [
        "#rollup-op",
        "#rollup-op 2",
        "#rollup-op 1 a.b",
        "#rollup-op 1 " + _b64('{"op": "a.b", "params": {}}'),
        "#rollup-op 2 x",
        "#rollup-op 2 A.B",
        "#rollup-op 2 a.b secrets=a",
        "#rollup-op 2 a.b secret=A",
        "#rollup-op 2 a.b secret=b",
        "#rollup-op 2 a.b secret=a extra",
    ],
)
def test_read_header_refuses_a_malformed_header(line: str) -> None:
    """A first line that claims to be a header but is malformed raises ResultParseError."""
    with pytest.raises(ResultParseError) as caught:
        read_header(line + "\nexit 0\n")

    assert str(caught.value).startswith("script header: ")


def test_bindings_of_refuses_a_foreign_binding() -> None:
    """A $p_ line that render() could not have produced raises ResultParseError."""
    lines = ("$p_a = 'plain'", "$p_a = @('x')", "$p_a = 1.5", "$p_a = " + _STRING_BINDING.format("!!"))

    for line in lines:
        with pytest.raises(ResultParseError):
            bindings_of(line + "\n")


def test_bindings_of_refuses_a_parameter_bound_twice() -> None:
    """The same $p_ name bound twice is not a rendered script."""
    with pytest.raises(ResultParseError):
        bindings_of("$p_a = 1\n$p_a = 2\n")
