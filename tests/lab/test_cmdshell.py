"""cmd.exe as the simulated hosts run it, driven without a server."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rollup.lab.cmdshell import launch
from rollup.lab.winproc import CmdHost, Emit, LaunchError, ReadStdin
from rollup.lab.wsman import ScriptOutcome, WindowsVersion
from rollup.ps.delivery import command_line, stdin_command, stdin_payload
from tests.lab.conftest import FakeHost

NOT_RECOGNIZED = (
    "is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
)


DEFAULT_OUTCOME = ScriptOutcome(0, "ok\n", "")


def run(
    command: str,
    arguments: Sequence[str] = (),
    *,
    skip: bool = False,
    stdin: bytes = b"",
    os: WindowsVersion = WindowsVersion.SERVER_2008_SP2,
    outcome: ScriptOutcome = DEFAULT_OUTCOME,
    environment: dict[str, str] | None = None,
) -> tuple[str, str, int, list[str]]:
    """Drive a command to its end: (stdout, stderr, exit code, scripts the runner got)."""
    runner = FakeHost(outcome=outcome)
    process = launch(
        command, arguments, CmdHost("COLLAB01", os, runner, 437, environment), skip_cmd_shell=skip
    )
    out, err = [], []
    sent: ScriptOutcome | bytes | None = None
    try:
        while True:
            step = process.send(sent)
            sent = None
            if isinstance(step, Emit):
                out.append(step.stdout)
                err.append(step.stderr)
            elif isinstance(step, ReadStdin):
                sent = stdin
            else:
                sent = step.start().finish()
    except StopIteration as stop:
        code = stop.value
    return "".join(out), "".join(err), code, [script for _, script in runner.scripts]


@pytest.mark.parametrize(
    ("line", "stdout"),
    [
        ("echo hi", "hi\r\n"),
        ("echo  two  spaces ", " two  spaces \r\n"),
        ("echo", "ECHO is on.\r\n"),
        ("echo.", "\r\n"),
        ("ECHO off", ""),
        ("echo %COMPUTERNAME% on %SystemRoot% %NOPE%", "COLLAB01 on C:\\Windows %NOPE%\r\n"),
        ("cmd.exe /c echo nested", "nested\r\n"),
        ("hostname", "COLLAB01\r\n"),
        ("rem nothing", ""),
    ],
)
def test_builtins_print_as_cmd_does(line: str, stdout: str) -> None:
    """echo, hostname, rem, %VAR% expansion and a nested cmd print what cmd.exe prints, exit 0."""
    result = run(line)

    assert result == (stdout, "", 0, [])


@pytest.mark.parametrize(
    ("os", "version"),
    [
        (WindowsVersion.SERVER_2003_SP2, "5.2.3790"),
        (WindowsVersion.SERVER_2008_SP2, "6.0.6002"),
        (WindowsVersion.SERVER_2008_R2_SP1, "6.1.7601"),
    ],
)
def test_ver_names_the_windows_build(os: WindowsVersion, version: str) -> None:
    """``ver`` prints a blank line, then the build of the host's Windows."""
    result = run("ver", os=os)

    assert result == (f"\r\nMicrosoft Windows [Version {version}]\r\n", "", 0, [])


def test_unknown_command_is_not_recognized() -> None:
    """An unknown command gets cmd.exe's two-line message on stderr and exit code 1."""
    result = run("ipconfig", ["/all"])

    assert result == ("", f"'ipconfig' {NOT_RECOGNIZED}", 1, [])


def test_hostname_with_an_argument_refuses_to_set_it() -> None:
    """``hostname NEWNAME`` cannot rename the host, as on Windows."""
    _, stderr, code, _ = run("hostname", ["NEWNAME"])

    assert (stderr, code) == ("sethostname: Use the Network Control Panel Applet to set hostname.\r\n", 1)


def test_the_8191_character_limit_is_inclusive() -> None:
    """A line of exactly 8,191 characters runs; one more and cmd.exe refuses it with exit code 1."""
    at_limit = run("echo " + "x" * (8191 - 5))
    over = run("echo " + "x" * (8192 - 5))

    assert (at_limit[0], at_limit[2]) == ("x" * 8186 + "\r\n", 0)
    assert over == ("", "The command line is too long.\r\n", 1, [])


def test_create_process_limit_raises_before_anything_runs() -> None:
    """Past CreateProcess's 32,767 characters the launch fails with ERROR_FILENAME_EXCED_RANGE (206)."""
    with pytest.raises(LaunchError) as error:
        launch(
            "echo",
            ["x" * 32767],
            CmdHost("H", WindowsVersion.SERVER_2008_SP2, FakeHost()),
            skip_cmd_shell=False,
        )

    assert error.value.code == 206


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("echo a && echo b", ("a \r\nb\r\n", "", 0)),
        ("nosuch && echo b", ("", f"'nosuch' {NOT_RECOGNIZED}", 1)),
        ("nosuch || echo fallback", ("fallback\r\n", f"'nosuch' {NOT_RECOGNIZED}", 0)),
        ("echo a & nosuch & echo c", ("a \r\nc\r\n", f"'nosuch' {NOT_RECOGNIZED}", 0)),
        ("echo out && echo err>&2 && exit 1", ("out \r\n", "err \r\n", 1)),
        ("exit /b 4 & echo never", ("", "", 4)),
        ("echo hidden >nul", ("", "", 0)),
        ("nosuch 2>&1", (f"'nosuch' {NOT_RECOGNIZED}", "", 1)),
        ("nosuch 2>nul", ("", "", 1)),
        ("echo x > C:\\out.txt", ("", "The system cannot find the path specified.\r\n", 1)),
    ],
)
def test_operators_and_redirections(line: str, expected: tuple[str, str, int]) -> None:
    """``&``, ``&&``, ``||``, ``exit`` and the handle redirections behave as in cmd.exe."""
    stdout, stderr, code, _ = run(line)

    assert (stdout, stderr, code) == expected


def test_encoded_command_goes_to_the_runner() -> None:
    """``-EncodedCommand`` hands the decoded script to the runner; its outcome is the command's."""
    command, args = command_line("Write-Output 'é'")

    result = run(command, args, outcome=ScriptOutcome(5, "out\n", "err\n"))

    assert result == ("out\n", "err\n", 5, ["Write-Output 'é'"])


def test_powershell_output_can_be_redirected() -> None:
    """cmd's ``2>&1`` on a powershell line merges the script's stderr into stdout."""
    command, args = command_line("Write-Error x")

    stdout, stderr, _, _ = run(command, [*args, "2>&1"], outcome=ScriptOutcome(1, "o\n", "e\n"))

    assert (stdout, stderr) == ("o\ne\n", "")


def test_stdin_bootstrap_runs_the_script_sent_on_stdin() -> None:
    """The bootstrap reads all of stdin and the runner gets the script decoded from it."""
    command, args = stdin_command()
    script = "Write-Output 'long'\n" * 400

    result = run(command, args, stdin=stdin_payload(script))

    assert result == ("ok\n", "", 0, [script])


def test_stdin_bootstrap_with_a_bad_payload_fails_like_powershell() -> None:
    """Stdin that is not base64 makes the bootstrap fail (exit 1) and nothing reaches the runner."""
    command, args = stdin_command()

    _, stderr, code, scripts = run(command, args, stdin=b"not base64 at all!!\r\n")

    assert (code, scripts) == (1, [])
    assert "FromBase64String" in stderr


@pytest.mark.parametrize(
    ("line", "stdin", "script"),
    [
        ("powershell -NoProfile -ExecutionPolicy Bypass -Command Get-Date; exit 3", b"", "Get-Date; exit 3"),
        ("powershell.exe Write-Host hi", b"", "Write-Host hi"),
        ("powershell.exe -", b"Write-Host \x82\r\n", "Write-Host é\r\n"),
        ("powershell -NonInteractive -Command -", b"Get-Date", "Get-Date"),
    ],
)
def test_other_powershell_forms_pass_their_text_to_the_runner(line: str, stdin: bytes, script: str) -> None:
    """``-Command`` text, bare text, or stdin (decoded from the code page) is the script the runner judges."""
    result = run(line, stdin=stdin)

    assert result[3] == [script]


def test_bad_encoded_command_is_refused_by_powershell() -> None:
    """An -EncodedCommand that is not base64 of UTF-16LE never reaches the runner."""
    _, stderr, code, scripts = run("powershell -EncodedCommand !!!")

    assert (code, scripts) == (1, [])
    assert "not properly encoded" in stderr


@pytest.mark.parametrize(
    ("command", "arguments", "os", "stdout"),
    [
        ("cmd.exe", ["/c", "echo", "hi"], WindowsVersion.SERVER_2008_SP2, "hi\r\n"),
        ("hostname.exe", [], WindowsVersion.SERVER_2008_SP2, "COLLAB01\r\n"),
        (
            "C:\\WINDOWS\\System32\\cmd.exe",
            ["/c", "ver"],
            WindowsVersion.SERVER_2003_SP2,
            "\r\nMicrosoft Windows [Version 5.2.3790]\r\n",
        ),
        (
            "C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\powershell.exe",
            ["-EncodedCommand", command_line("x")[1][-1]],
            WindowsVersion.SERVER_2008_SP2,
            "ok\n",
        ),
    ],
)
def test_skip_cmd_shell_starts_programs_directly(
    command: str, arguments: list[str], os: WindowsVersion, stdout: str
) -> None:
    """Without cmd.exe, programs in the system directory or named by full path start directly."""
    result = run(command, arguments, skip=True, os=os)

    assert (result[0], result[2]) == (stdout, 0)


@pytest.mark.parametrize("command", ["powershell.exe", "echo", "C:\\Tools\\thing.exe"])
def test_skip_cmd_shell_cannot_find_other_programs(command: str) -> None:
    """Without cmd.exe: no PATH search, no built-in; CreateProcess fails with ERROR_FILE_NOT_FOUND."""
    with pytest.raises(LaunchError) as error:
        run(command, ["hi"], skip=True)

    assert error.value.code == 2


def test_shell_environment_is_expanded() -> None:
    """Variables given at shell creation expand in command lines, over the host's defaults."""
    result = run("echo %GREETING% %computername%", environment={"GREETING": "hello", "COMPUTERNAME": "OTHER"})

    assert result[0] == "hello OTHER\r\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("set processor_a", ("PROCESSOR_ARCHITECTURE=x86\r\n", "", 0)),
        ("set prom", ("PROMPT=$P$G\r\n", "", 0)),
        ("set nothing", ("", "Environment variable nothing not defined\r\n", 1)),
        ("set nothing || echo missing", ("missing\r\n", "Environment variable nothing not defined\r\n", 0)),
        ("set =x", ("", "The syntax of the command is incorrect.\r\n", 1)),
        ("set Aa=1&set aA=2 & set AA", ("aA=2 \r\n", "", 0)),
        ('set "Zz=a b"&set zz', ("Zz=a b\r\n", "", 0)),
        ("set OS=&set OS", ("", "Environment variable OS not defined\r\n", 1)),
        ("set X=1&echo %X%&cmd /c set X", ("%X%\r\nX=1\r\n", "", 0)),
    ],
)
def test_set_lists_sets_and_removes_variables(line: str, expected: tuple[str, str, int]) -> None:
    """
    ``set`` as cmd.exe runs it: a prefix lists (any case, errorlevel 1 if nothing matches), a
    value is kept literally (trailing space too), an empty one removes; ``%X%`` was expanded
    when the line was read, and a nested cmd.exe inherits the change.
    """
    assert run(line)[:3] == expected


def test_set_lists_the_winrs_environment_of_the_host() -> None:
    """
    ``set`` lists a 2003 host's WinRS logon: sorted ignoring case, the Create's variables inserted
    in lower-case order (``_x`` before ``ALLUSERSPROFILE``), then cmd.exe's ``PROMPT``, which
    stops at the first name above it in upper case (``_x``).
    """
    out, err, code, _ = run("set", os=WindowsVersion.SERVER_2003_SP2, environment={"zeta": "1", "_x": "2"})

    names = [line.split("=", 1)[0] for line in out.split("\r\n")[:-1]]
    assert (names[:3], names[-3:], err, code) == (
        ["PROMPT", "_x", "ALLUSERSPROFILE"],
        ["USERPROFILE", "windir", "zeta"],
        "",
        0,
    )
    assert "TEMP=C:\\DOCUME~1\\ADMINI~1\\LOCALS~1\\Temp\r\n" in out
    assert "Path=C:\\WINDOWS\\system32;C:\\WINDOWS;C:\\WINDOWS\\System32\\Wbem;" in out
    assert "USERDOMAIN=COLLAB01\r\nUSERNAME=Administrator\r\n" in out
