"""Redaction at the sink: a registered secret disappears in every form, everywhere, at every level."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from rollup.audit.chain import verify_chain
from rollup.audit.log import AuditLog
from rollup.audit.logconfig import configure_logging
from rollup.audit.redact import MIN_FRAGMENT, RedactSecrets, SecretRegistry, embedded_base64, redact_value
from rollup.secret import Secret

SECRET = "Pa$$w0rd/é+ 1"
"""Has URL-special characters, a space and a non-ASCII letter, so every encoding differs."""


def _decoded_chunks(text: str) -> list[bytes]:
    """Every byte string a base64 decoder could get from ``text`` between ``***`` markers."""
    chunks = []
    for piece in text.split("***"):
        for run in re.findall(r"[A-Za-z0-9+/]+", piece):
            for start in range(4):
                usable = run[start:]
                if len(usable) % 4 == 1:
                    usable = usable[:-1]
                if usable:
                    chunks.append(base64.b64decode(usable + "=" * (-len(usable) % 4)))
    return chunks


def _leaks(text: str, value: str) -> bool:
    """Whether ``value`` can be read back from ``text``, plainly or through base64."""
    if value in text:
        return True
    targets = (value.encode("utf-8"), value.encode("utf-16-le"))
    return any(target in chunk for chunk in _decoded_chunks(text) for target in targets)


@pytest.fixture(name="registry")
def _registry() -> SecretRegistry:
    return SecretRegistry([Secret(SECRET)])


@pytest.fixture(autouse=True)
def _reset_structlog() -> None:
    structlog.reset_defaults()


def test_every_named_form_is_replaced(registry: SecretRegistry) -> None:
    """Plain, base64 of UTF-8 and UTF-16LE, URL-encoded (either hex case) and JSON-escaped all become ***."""
    utf8 = base64.b64encode(SECRET.encode("utf-8")).decode()
    utf16 = base64.b64encode(SECRET.encode("utf-16-le")).decode()
    lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(SECRET, safe=""))
    forms = [
        SECRET,
        utf8,
        utf16,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        lower_hex,
        json.dumps(SECRET)[1:-1],
    ]

    redacted = [registry.redact_text(f"<{form}>") for form in forms]

    assert redacted == ["<***>"] * len(forms)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le"])
@pytest.mark.parametrize("offset", range(6))
def test_embedded_in_a_longer_base64_blob(registry: SecretRegistry, encoding: str, offset: int) -> None:
    """The secret's bytes at any alignment inside a larger base64 payload cannot be decoded back."""
    payload = bytes(range(65, 65 + offset)) + SECRET.encode(encoding) + b"; trailing bytes"
    blob = base64.b64encode(payload).decode()

    redacted = registry.redact_text(f"-EncodedCommand {blob}")

    assert _leaks(blob, SECRET)
    assert "***" in redacted
    assert not _leaks(redacted, SECRET)


def test_a_binding_inside_an_encoded_command(registry: SecretRegistry) -> None:
    """A script binding the secret as base64, itself sent as base64 of UTF-16LE, is redacted."""
    binding = base64.b64encode(SECRET.encode("utf-8")).decode()
    script = f"$p_password = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{binding}'))"
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()

    redacted = registry.redact_text(encoded)

    assert _leaks(encoded, binding)
    assert "***" in redacted
    assert not _leaks(redacted, binding)
    assert not _leaks(redacted, SECRET)


def test_nested_values_are_redacted(registry: SecretRegistry) -> None:
    """Strings inside dicts, lists, tuples and keys are redacted; numbers and None are kept."""
    value = {
        "command": f"net use \\\\MPS01 /user:svc {SECRET}",
        "nested": [{"deep": (f"x{quote(SECRET, safe='')}y", 3, None, True)}],
        SECRET: Secret("other"),
        "count": 2.5,
    }

    assert redact_value(value, registry) == {
        "command": "net use \\\\MPS01 /user:svc ***",
        "nested": [{"deep": ["x***y", 3, None, True]}],
        "***": "***",
        "count": 2.5,
    }


def test_short_fragments_are_not_registered() -> None:
    """A one-letter secret is redacted as itself, but its base64 fragments would match anything."""
    registry = SecretRegistry(["x"])

    assert all(len(fragment) >= MIN_FRAGMENT for fragment in embedded_base64(b"hunter2"))
    assert registry.redact_text("a box of QUJD") == "a bo*** of QUJD"


def test_nothing_registered_changes_nothing() -> None:
    """An empty registry returns text unchanged; empty secrets are ignored."""
    registry = SecretRegistry([Secret("")])

    assert len(registry) == 0
    assert registry.redact_text("Pa$$w0rd") == "Pa$$w0rd"


@settings(max_examples=150, deadline=None)
@given(
    secret=st.text(min_size=6, max_size=24).filter(lambda s: s.strip() == s and "***" not in s),
    prefix=st.binary(max_size=12),
    suffix=st.binary(max_size=12),
    utf16=st.booleans(),
)
def test_any_secret_in_any_base64_payload(secret: str, prefix: bytes, suffix: bytes, utf16: bool) -> None:
    """For any secret and any surrounding bytes, the redacted base64 never decodes to the secret."""
    registry = SecretRegistry([secret])
    data = prefix + secret.encode("utf-16-le" if utf16 else "utf-8") + suffix
    blob = base64.b64encode(data).decode()

    redacted = registry.redact_text(blob)

    assert _leaks(blob, secret)
    assert not _leaks(redacted, secret)


def test_the_processor_redacts_the_event_dict(registry: SecretRegistry) -> None:
    """RedactSecrets redacts every value of a structlog event dict, the event name included."""
    processor = RedactSecrets(registry)

    out = processor(None, "info", {"event": f"login {SECRET}", "args": [SECRET], "n": 1})

    assert out == {"event": "login ***", "args": ["***"], "n": 1}


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_diagnostic_log_redacts_at_every_level(registry: SecretRegistry, fmt: str) -> None:
    """debug, info, warning and error lines, and an exception's traceback, never show the secret."""
    stream = io.StringIO()
    configure_logging(fmt, "debug", stream, registry=registry)  # type: ignore[arg-type]
    log = structlog.get_logger("test")
    encoded = base64.b64encode(SECRET.encode("utf-16-le")).decode()

    log.debug("action_started", command=f"cmd /c {SECRET}", host="MPS01")
    log.info("action_started", payload={"inner": [encoded]})
    log.warning("retry_scheduled", error=f"401 for {quote(SECRET, safe='')}")
    try:
        raise RuntimeError(f"refused {SECRET}")
    except RuntimeError:
        log.exception("action_failed")
    text = stream.getvalue()

    assert "action_failed" in text
    assert "refused ***" in text
    assert text.count("***") >= 4
    assert not _leaks(text, SECRET)


def test_diagnostic_log_filters_by_level(registry: SecretRegistry) -> None:
    """Lines below the configured level are not written; JSON lines carry level and a UTC timestamp."""
    stream = io.StringIO()
    configure_logging("json", "info", stream, registry=registry)
    log = structlog.get_logger("test")

    log.debug("hidden")
    log.info("shown", n=1)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]

    assert [line["event"] for line in lines] == ["shown"]
    assert lines[0]["level"] == "info"
    assert lines[0]["timestamp"].endswith("Z")


def test_audit_records_are_redacted_before_hashing(registry: SecretRegistry, tmp_path: Path) -> None:
    """The audit log holds no form of the secret, and its chain still verifies."""
    path = tmp_path / "audit.jsonl"
    encoded = base64.b64encode(b"prefix" + SECRET.encode("utf-16-le")).decode()
    with AuditLog.open(path, run_id="20261121T104512Z-3f9c", registry=registry) as log:
        log.step_started(
            step="s@H", host="H", operation="msi.install", command=f"-EncodedCommand {encoded}", attempt=1
        )
        log.record("step_finished", output={"lines": [f"password={quote_plus(SECRET)}"]})
    text = path.read_text()

    assert verify_chain(path).intact
    assert not _leaks(text, SECRET)
    assert "password=***" in text
