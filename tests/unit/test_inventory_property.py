"""Whatever an inventory holds, loading it gives an Inventory or a one-line InventoryError, nothing else."""

from __future__ import annotations

import contextlib
import io
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollup.cli.main import main
from rollup.errors import InventoryError
from rollup.load import parse_yaml
from rollup.model.inventory import Inventory, parse_inventory
from rollup.model.roles import ROLE_NAMES

ROOT = Path(__file__).resolve().parents[2]
PROD_TEXT = (ROOT / "inventory" / "prod.yml").read_text(encoding="utf-8")
PROD_DATA = yaml.safe_load(PROD_TEXT)
SOURCE = "inventory/prod.yml"

WORDS = [
    "all", "vars", "children", "hosts", *sorted(ROLE_NAMES), "MPS01", "mps01", "COLLAB01", "A;B", "$(x)",
    "address", "adress", "port", "scheme", "transport", "cert_validation", "ca_trust_path", "user",
    "password", "insecure_lab", "operation_timeout_s", "read_timeout_s", "ansible_host", "ansible_port",
    "ansible_password", "ansible_connection", "ansible_winrm_transport", "ansible_become", "env", "keyring",
    "file", "prompt", "rollup_production", "rollup_collab_wave_size", "rollup_deployment_tool_strategy",
    "rollup_deployment_tool_command", "rollup_shared_oab", "db_secret", "https", "basic", "command",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(alphabet=string.printable.strip(), max_size=12),
    st.text(max_size=12),
)
keys = st.one_of(
    st.sampled_from(WORDS),
    st.text(alphabet=string.printable.strip(), max_size=8),
    st.text(max_size=8),
    st.integers(-5, 70000),
    st.booleans(),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=40,
)


def check(data: Any) -> None:
    try:
        result = parse_inventory(data, source=SOURCE, base_dir=Path("inventory"))
    except InventoryError as exc:
        text = str(exc)
        assert text.startswith(f"{SOURCE}: ")
        assert "\n" not in text
        assert "\r" not in text
        assert "Traceback" not in text
    else:
        assert isinstance(result, Inventory)
        assert len(result.hosts) >= 1


@settings(max_examples=300, deadline=None)
@given(documents)
def test_random_documents(data: Any) -> None:
    """Random YAML-shaped data gives an Inventory or a one-line InventoryError."""
    check(data)


@settings(max_examples=300, deadline=None)
@given(document=documents)
def test_random_documents_under_all(document: Any) -> None:
    """Random data in the places an inventory is read from (all, groups, hosts, vars) stays contained."""
    check(
        {"all": {"vars": document, "children": {"collab": document, "deployment_tool": {"hosts": document}}}}
    )
    check({"all": {"children": {"deployment_tool": {"hosts": {"MPS01": document}}}}})


def mutate(node: Any, draw: st.DrawFn) -> Any:
    """A copy of ``node`` with one random change: mostly deep down, where the interesting values are."""
    if not isinstance(node, dict) or not node or draw(st.integers(0, 5)) == 0:
        return draw(documents)
    key = draw(st.sampled_from(list(node)))
    copy = dict(node)
    action = draw(st.sampled_from(["descend", "descend", "descend", "replace", "delete", "rename", "add"]))
    if action == "descend":
        copy[key] = mutate(node[key], draw)
    elif action == "replace":
        copy[key] = draw(documents)
    elif action == "delete":
        del copy[key]
    elif action == "rename":
        copy[draw(keys)] = copy.pop(key)
    else:
        copy[draw(keys)] = draw(documents)
    return copy


@st.composite
def prod_mutations(draw: st.DrawFn) -> Any:
    return mutate(PROD_DATA, draw)


@settings(max_examples=400, deadline=None)
@given(prod_mutations())
def test_mutations_of_the_production_inventory(data: Any) -> None:
    """One random change anywhere in inventory/prod.yml gives an Inventory or a one-line InventoryError."""
    check(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(PROD_TEXT)), st.integers(0, 8), st.text(max_size=6))
def test_text_edits_of_the_production_inventory(at: int, cut: int, insert: str) -> None:
    """Random edits of the file's text, parsed as YAML, never raise anything but one InventoryError line."""
    text = PROD_TEXT[:at] + insert + PROD_TEXT[at + cut :]
    try:
        data = parse_yaml(text, source=SOURCE, error=InventoryError)
    except InventoryError as exc:
        message = str(exc)
    else:
        check(data)
        return

    assert "\n" not in message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, len(PROD_TEXT)), st.integers(0, 8), st.text(max_size=6))
def test_cli_never_shows_a_traceback(tmp_path: Path, at: int, cut: int, insert: str) -> None:
    """Through the CLI, an edited inventory exits 0 or 2 with at most one error line, never a traceback."""
    path = tmp_path / "edited.yml"
    path.write_text(PROD_TEXT[:at] + insert + PROD_TEXT[at + cut :], encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["inventory", "show", "-i", str(path)])

    assert code in (0, 2)
    assert "Traceback" not in err.getvalue()
    assert code == 0 or (err.getvalue().startswith("rollup: ") and err.getvalue().count("\n") == 1)
