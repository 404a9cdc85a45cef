"""Script delivery: the command line when it fits, stdin to a fixed bootstrap otherwise."""

from __future__ import annotations

import base64

import pytest

from rollup.ps.check import parse_errors, ps2_problems
from rollup.ps.command import RemoteCommand
from rollup.ps.delivery import (
    BOOTSTRAP,
    CMD_LINE_LIMIT,
    POWERSHELL,
    STDIN_LINE,
    command_line,
    decode_powershell,
    decode_stdin_payload,
    encode_command,
    fits_command_line,
    stdin_command,
    stdin_payload,
)

SCRIPT = "$x = 'Caf\u00e9 \u2018q\u2019'\nWrite-Output $x\n"


def test_encode_command_is_base64_of_utf16le() -> None:
    """-EncodedCommand carries base64 of the script's UTF-16LE bytes (what powershell.exe expects)."""
    encoded = encode_command('Write-Error "Error"')

    assert encoded == "VwByAGkAdABlAC0ARQByAHIAbwByACAAIgBFAHIAcgBvAHIAIgA="


def test_command_line_round_trips_through_decode_powershell() -> None:
    """The lab decodes exactly the script the transport encoded, marked inline."""
    command, args = command_line(SCRIPT)

    decoded = decode_powershell(list(args))

    assert command == POWERSHELL
    assert args[:4] == ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")
    assert decoded is not None
    assert (decoded.mode, decoded.script) == ("inline", SCRIPT)


def test_stdin_route_round_trips() -> None:
    """The bootstrap command decodes as stdin mode, and the payload gives the script back."""
    _, args = stdin_command()

    decoded = decode_powershell(list(args))
    payload = stdin_payload(SCRIPT)

    assert decoded is not None
    assert (decoded.mode, decoded.script) == ("stdin", BOOTSTRAP)
    assert decode_stdin_payload(payload) == SCRIPT
    assert all(len(line) <= STDIN_LINE for line in payload.decode("ascii").split("\r\n"))
    assert payload.endswith(b"\r\n")


def test_fits_command_line_stops_at_cmd_limit() -> None:
    """An ASCII script of 3,040 characters fits in 8,191; one more character does not."""
    longest = "x" * 3040

    assert fits_command_line(longest)
    assert not fits_command_line(longest + "x")
    assert len(" ".join((POWERSHELL, *command_line(longest)[1]))) <= CMD_LINE_LIMIT


def test_a_typical_rendered_command_fits_the_command_line() -> None:
    """A command with the writer, a helper and a few parameters still travels on the command line."""
    command = RemoteCommand(
        "file.hash",
        {"path": "C:\\MSIShare\\Resourcemanagedatabase.msi", "expect": "0" * 64},
        "$h = Get-RollupSha256 $p_path\nWrite-RollupResult @{ sha = $h; ok = ($h -eq $p_expect) }",
        helpers=("Get-RollupSha256",),
    )

    assert fits_command_line(command.render())


@pytest.mark.parametrize(
    "flag",
    ["-EncodedCommand", "-encodedcommand", "-e", "-ec", "-enc", "-EncodedC", "/enc", "-encodedcommand:"],
)
def test_decode_powershell_accepts_every_spelling_of_the_flag(flag: str) -> None:
    """powershell.exe takes any prefix of -EncodedCommand (and -ec), with - or /, in any case."""
    decoded = decode_powershell(["-NoProfile", flag, encode_command(SCRIPT)])

    assert decoded is not None
    assert decoded.script == SCRIPT


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-NoProfile", "-Command", "Get-Item x"],
        ["-ExecutionPolicy", encode_command(SCRIPT)],
        ["-EncodedCommand"],
        ["-EncodedCommand", "not base64!"],
        ["-EncodedCommand", base64.b64encode(b"odd").decode("ascii")],
    ],
)
def test_decode_powershell_is_none_without_a_valid_encoded_command(args: list[str]) -> None:
    """No flag, another flag, a missing value or bad base64/UTF-16 decodes to None."""
    decoded = decode_powershell(args)

    assert decoded is None


def test_decode_stdin_payload_refuses_garbage() -> None:
    """A stdin payload that is not base64 of UTF-8 decodes to None."""
    payloads = (b"@@@\r\n", base64.b64encode(b"\xff\xfe"))

    assert [decode_stdin_payload(p) for p in payloads] == [None, None]


def test_bootstrap_is_powershell_2_clean() -> None:
    """The fixed bootstrap parses and uses nothing newer than PowerShell 2.0."""
    problems = parse_errors(BOOTSTRAP) + ps2_problems(BOOTSTRAP)

    assert problems == []
