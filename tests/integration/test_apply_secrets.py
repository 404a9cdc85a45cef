"""
No form of the hosts' password is left anywhere a run of ``rollup apply`` writes.

A lab is started with a distinctive password (``ROLLUP_LAB_PASSWORD`` at ``rollup lab up``), and
a real run goes through the CLI against it, down its error paths as well as its happy one: a
busy installer (1618, retried), a reset connection (retried), credentials refused once (a failed
step), an install that fails with 1603 (a failed step with the MSI log's tail, kept as evidence),
then ``--resume`` to the end, a ``--dry-run``, ``rollup runs show``/``list`` and ``rollup audit
verify``. Then every artifact on the control side is scanned for the password in every form it
could leak in (``leak_forms``): everything under the runs directory (run.json, journal, audit
log, evidence, locks), the stdout and stderr of every CLI invocation, the temporary directory
the CLI's crash file would go to, and the lab's ``inventory.yml``.

What the lab itself may hold. The lab stands in for the Windows hosts, so it must know the
password to check it, but only where docs/lab.md and ``rollup.lab.wsman.auth`` say:

- with ``ROLLUP_LAB_PASSWORD`` set at ``lab up`` (this module's lab), the serving process takes
  it from its environment and, while it serves, keeps it in pyspnego's NTLM user file
  (``NTLM_USER_FILE``: ``rollup-lab-ntlm-*/users`` in the lab process's temporary directory,
  file 0600 in a 0700 directory), removed at ``lab down`` (a lab killed with SIGKILL leaves it).
  There is no ``lab-password`` file, and nothing in the state directory (``lab.json``,
  ``inventory.yml`` with its ``{env: ROLLUP_LAB_PASSWORD}`` reference, ``hosts/*.json``,
  ``blobs/``, ``package/``, ``certs/``, ``lab.log``) may contain it;
- without the variable, ``lab-password`` (mode 0600) holds the lab's own password, and no other
  file of the state directory may contain it.

The CLI's temporary directory is kept apart from the lab process's, so that the NTLM user file
is not mistaken for something the run left.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import yaml

from rollup.audit.redact import embedded_base64, secret_forms
from rollup.engine.rundir import list_runs
from rollup.lab.fleet import LabOptions, prepare_lab
from rollup.lab.labdir import PASSWORD_ENV, PASSWORD_PREFIX, USER_ENV, LabPaths
from rollup.testing.labproc import ROOT, LabProcess, quick_manifest

PASSWORD = "Qz7\"Kv\\é/+%&= Lab-Secret'9x"
"""Quotes, a backslash, a space, non-ASCII and URL-special characters: every encoding differs."""
USER = "HOSTING\\rollup-secrets"
GATE = "confirm-prerequisites"

SCENARIO = {
    "faults": [
        {"kind": "installer_busy", "hosts": ["COLLAB01"], "op": "msi.install", "nth": 1, "seconds": 2},
        {"kind": "reset", "hosts": ["DNS01"], "op": "msi.install", "nth": 1, "processed": True},
        # the first shell on MPSSQL is apply's pre-flight; the second is the run's
        {"kind": "auth_failure", "hosts": ["MPSSQL"], "action": "create", "nth": 2},
        {"kind": "exit_code", "hosts": ["COLLAB02"], "op": "msi.install", "nth": 1, "code": 1603},
    ]
}


# ---- the forms of a secret, and the scan ---------------------------------------------------------


def _percent_lower(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def leak_forms(value: str) -> dict[bytes, str]:
    """
    Every byte string that betrays ``value``, with a label saying which form it is (labels never
    show the value): the text itself (UTF-8, and UTF-16LE as a Windows file would hold it);
    base64 of its UTF-8 and UTF-16LE bytes, whole and at the three byte alignments inside a
    longer base64 text; URL-encoded (each way, percent escapes in either case); JSON-escaped
    (ASCII-only and not); and every form the redaction registry replaces.
    """
    utf8, utf16 = value.encode("utf-8"), value.encode("utf-16-le")
    forms: dict[str, str] = {
        "plain text": value,
        "base64 of UTF-8": base64.b64encode(utf8).decode("ascii"),
        "base64 of UTF-16LE": base64.b64encode(utf16).decode("ascii"),
        "JSON-escaped": json.dumps(value)[1:-1],
        "JSON-escaped, non-ASCII kept": json.dumps(value, ensure_ascii=False)[1:-1],
    }
    for name, data in (("UTF-8", utf8), ("UTF-16LE", utf16)):
        for offset in range(3):
            # the characters of base64(prefix + data) that depend on data alone
            text = base64.b64encode(bytes(offset) + data).decode("ascii").rstrip("=")
            forms[f"base64 of {name} inside longer base64, alignment {offset}"] = text[
                -(-8 * offset // 6) : 8 * (offset + len(data)) // 6
            ]
    assert set(embedded_base64(utf8)) <= set(forms.values())
    for label, text in (
        ("URL-encoded", quote(value)),
        ("URL-encoded, nothing safe", quote(value, safe="")),
        ("URL-encoded as a form", quote_plus(value)),
    ):
        forms[label] = text
        forms[label + ", lower-case escapes"] = _percent_lower(text)
    found = {text.encode("utf-8"): label for label, text in forms.items()}
    found[utf16] = "plain text as UTF-16LE"
    for n, text in enumerate(secret_forms(value)):
        found.setdefault(text.encode("utf-8"), f"redaction form {n}")
    return found


@dataclass(frozen=True, slots=True)
class Leak:
    where: str
    form: str


class Scanner:
    """Finds any of ``leak_forms(value)`` in files and texts."""

    def __init__(self, value: str) -> None:
        self.forms = leak_forms(value)
        ordered = sorted(self.forms, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(form) for form in ordered))

    def scan_bytes(self, where: str, data: bytes) -> list[Leak]:
        return [Leak(where, self.forms[m.group()]) for m in self._pattern.finditer(data)]

    def scan_files(self, root: Path) -> list[Leak]:
        leaks = []
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                leaks += self.scan_bytes(str(path.relative_to(root.parent)), path.read_bytes())
        return leaks

    def scan_texts(self, texts: Iterable[tuple[str, str]]) -> list[Leak]:
        return [leak for where, text in texts for leak in self.scan_bytes(where, text.encode("utf-8"))]


def test_the_scan_finds_every_form_wherever_it_lies(tmp_path: Path) -> None:
    """A planted password is found in each form, inside noise, at each base64 alignment, in scripts."""
    scanner = Scanner(PASSWORD)
    secret = PASSWORD.encode("utf-8")
    binding = base64.b64encode(secret).decode()
    script = f"$p_password = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{binding}'))"
    planted = {
        "plain in a log line": b"2026-01-01 error: " + secret + b" was refused\n",
        "UTF-16LE in a Windows file": "x=".encode("utf-16-le") + PASSWORD.encode("utf-16-le"),
        "URL-encoded in an error": f"POST /wsman?p={_percent_lower(quote_plus(PASSWORD))} failed".encode(),
        "JSON in a record": json.dumps({"summary": f"logon {PASSWORD} refused"}).encode(),
        "encoded command": b"-EncodedCommand " + base64.b64encode(script.encode("utf-16-le")),
    }
    for offset in range(5):
        for encoding in ("utf-8", "utf-16-le"):
            blob = os.urandom(offset) + PASSWORD.encode(encoding) + os.urandom(7)
            planted[f"{encoding} at offset {offset} of a base64 blob"] = base64.b64encode(blob)
    for name, data in planted.items():
        (tmp_path / re.sub(r"\W+", "-", name)).write_bytes(b"noise " * 50 + data + b" noise" * 50)
    (tmp_path / "clean.txt").write_bytes(b"Rollup-Lab-2011! and *** only\n")

    leaks = scanner.scan_files(tmp_path)

    assert {leak.where.split("/")[-1] for leak in leaks} == {re.sub(r"\W+", "-", n) for n in planted}


# ---- the run ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class RecordingLab(LabProcess):
    """A ``LabProcess`` that keeps the output of every CLI invocation, ``lab up`` included."""

    outputs: list[tuple[str, subprocess.CompletedProcess[str]]] = field(default_factory=list)

    def rollup(self, *args: str, timeout_s: float = 300.0) -> subprocess.CompletedProcess[str]:
        done = LabProcess.rollup(self, *args, timeout_s=timeout_s)
        self.outputs.append((" ".join(args[:2]), done))
        return done

    def console(self) -> Iterator[tuple[str, str]]:
        for n, (what, done) in enumerate(self.outputs, 1):
            yield f"invocation {n} ({what}): stdout", done.stdout
            yield f"invocation {n} ({what}): stderr", done.stderr


@dataclass(frozen=True, slots=True)
class Seeded:
    lab: RecordingLab
    folder: Path
    temp: Path
    """The CLI's temporary directory (``TMPDIR``), where a crash file would be written."""
    lab_temp: Path
    """The lab process's own temporary directory."""
    failed: subprocess.CompletedProcess[str]
    resumed: subprocess.CompletedProcess[str]


@pytest.fixture(name="seeded", scope="module")
def _seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    folder = tmp_path_factory.mktemp("secrets")
    temp, lab_temp = folder / "tmp", folder / "lab-tmp"
    temp.mkdir()
    lab_temp.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSWORD_ENV, PASSWORD)
        patch.setenv(USER_ENV, USER)
        patch.setenv("TMPDIR", str(lab_temp))
        lab = RecordingLab.start(folder, collab=2, first_address="127.0.92.1", scenario=SCENARIO)
    assert isinstance(lab, RecordingLab)
    lab.env["TMPDIR"] = str(temp)
    try:
        manifest = str(quick_manifest(folder / "manifest.yml"))
        failed = lab.apply("--manifest", manifest, "--confirm", GATE)
        (run,) = list_runs(lab.runs_dir)
        resumed = lab.apply("--resume", run.run_id)
        lab.apply("--manifest", manifest, "--dry-run")
        lab.rollup("runs", "show", run.run_id, "--runs-dir", str(lab.runs_dir))
        lab.rollup("runs", "list", "--json", "--runs-dir", str(lab.runs_dir))
        lab.rollup("audit", "verify", run.run_id, "--runs-dir", str(lab.runs_dir))
        yield Seeded(lab, folder, temp, lab_temp, failed, resumed)
    finally:
        lab.stop()


def test_the_run_went_down_every_error_path_and_finished(seeded: Seeded) -> None:
    """Retries, refused credentials, a 1603 with its log tail kept as evidence; the resume ends done."""
    (run,) = list_runs(seeded.lab.runs_dir)
    audit = [json.loads(line) for line in run.audit_path.read_text(encoding="utf-8").splitlines()]
    retried = {r["step"] for r in audit if r["event"] == "retry_scheduled"}
    failed = {
        r["step"]: r["summary"] for r in audit if r["event"] == "step_finished" and r["outcome"] == "failed"
    }
    output = seeded.failed.stdout + seeded.failed.stderr

    assert seeded.failed.returncode == 1, output
    assert {"install-wss-web-service@COLLAB01", "dnsclient-run-twice@DNS01"} <= retried
    assert "install-wss-web-service@COLLAB02" in failed
    assert any(step.endswith("@MPSSQL") for step in failed), failed
    assert "MainEngineThread is returning 1603" in seeded.failed.stdout
    assert any(e.name.endswith("msi-log-tail.txt") for e in run.evidence())
    assert seeded.resumed.returncode == 0, seeded.resumed.stdout + seeded.resumed.stderr
    assert all(done.returncode == 0 for _, done in seeded.lab.outputs[3:]), seeded.lab.outputs[3:]


def test_no_artifact_on_the_control_side_holds_the_password(seeded: Seeded) -> None:
    """Runs directory, console output of every invocation, crash-file folder, inventory: no form of it."""
    scanner = Scanner(PASSWORD)
    lab = seeded.lab

    leaks = (
        scanner.scan_files(lab.runs_dir)
        + scanner.scan_texts(lab.console())
        + scanner.scan_files(seeded.temp)
        + scanner.scan_bytes("inventory.yml", lab.inventory.read_bytes())
    )

    assert len(lab.outputs) >= 7
    assert any(lab.runs_dir.rglob("evidence/*"))
    assert {"run.json", "journal.jsonl", "audit.jsonl"} <= {path.name for path in lab.runs_dir.rglob("*")}
    assert not (seeded.temp / "rollup-crash.log").exists()
    assert yaml.safe_load(lab.inventory.read_text(encoding="utf-8"))["all"]["vars"]["rollup_password"] == {
        "env": PASSWORD_ENV
    }
    assert leaks == []


def test_the_lab_keeps_a_password_from_its_environment_only_in_its_ntlm_file_while_it_serves(
    seeded: Seeded,
) -> None:
    """
    Started with ROLLUP_LAB_PASSWORD: no lab-password file, nothing in the state directory; the
    serving process's NTLM user file (0600, in a 0700 directory) is the one place, removed at `lab down`.
    """
    lab = seeded.lab
    state_leaks = Scanner(PASSWORD).scan_files(lab.state_dir)
    temp_leaks = Scanner(PASSWORD).scan_files(seeded.lab_temp)
    (users,) = seeded.lab_temp.glob("rollup-lab-ntlm-*/users")
    modes = stat.S_IMODE(users.stat().st_mode), stat.S_IMODE(users.parent.stat().st_mode)

    lab.stop()

    assert (lab.state_dir / "lab.log").is_file()
    assert not LabPaths(lab.state_dir).password.exists()
    assert state_leaks == []
    assert {leak.where for leak in temp_leaks} == {f"lab-tmp/{users.parent.name}/users"}
    assert modes == (0o600, 0o700)
    assert list(seeded.lab_temp.iterdir()) == []


def test_a_lab_without_the_variable_keeps_its_own_password_in_one_0600_file(tmp_path: Path) -> None:
    """Each lab draws its own password into lab-password (mode 0600), and into no other file of the lab."""
    env = {k: v for k, v in os.environ.items() if k not in (PASSWORD_ENV, USER_ENV)}
    labs = []
    for name in ("lab", "other"):
        paths = LabPaths(tmp_path / name)
        paths.root.mkdir()
        options = LabOptions(manifest=ROOT / "manifests" / "hmc40-rollup-2011-01.yml", collab=1)
        prepare_lab(paths, options, env)
        labs.append(paths)
    paths, other = labs
    password = paths.password.read_text(encoding="utf-8").strip()

    leaks = Scanner(password).scan_files(paths.root)

    assert password.startswith(PASSWORD_PREFIX)
    assert password != other.password.read_text(encoding="utf-8").strip()
    assert stat.S_IMODE(paths.password.stat().st_mode) == 0o600
    assert {leak.where for leak in leaks} == {"lab/lab-password"}
