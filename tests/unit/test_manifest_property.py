"""Whatever a manifest file holds, loading it gives a Manifest or one ManifestError line, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollup.errors import ManifestError
from rollup.load import parse_yaml
from rollup.model.manifest import Manifest, parse_manifest
from tests.unit.documents import fresh as _fresh

SHIPPED = Path(__file__).resolve().parents[2] / "manifests" / "hmc40-rollup-2011-01.yml"
RAW = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))

KEYS = [
    "schema_version", "metadata", "package", "components", "initialize", "sql", "steps", "id", "kind",
    "title", "roles", "after", "timeout_s", "retry", "attempts", "files", "file", "name", "kb_name",
    "size_bytes", "date", "to_msishare", "msi", "uninstall", "reinstall", "managed_by", "path", "step",
    "when", "override", "action", "components", "nodes", "checks", "expect", "from_dir", "to_dir",
]  # fmt: skip
WORDS = [
    "deployment_tool", "copy", "backup", "extract", "conditional", "msi_install", "dns", "collab",
    "DNSClient.msi", "dnsclient.msi", "Servicebase.msi", "C:\\MSIShare", "..", "a/b", "start-deployment",
    "uninstall", "manual", "command", "absent", "", "\n",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(WORDS),
    st.datetimes(max_value=datetime(3000, 1, 1)).map(lambda d: d.replace(tzinfo=UTC)),
    st.datetimes(max_value=datetime(3000, 1, 1)),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=6), st.integers(-3, 3))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


def _outcome(data: Any) -> Manifest | str:
    """The manifest, or the error text; any other exception fails the test by propagating."""
    try:
        return parse_manifest(data, source="m.yml")
    except ManifestError as exc:
        message = str(exc)
        assert message.startswith("m.yml: ")
        assert "\n" not in message
        return message


@settings(max_examples=300, deadline=None)
@given(documents)
def test_random_documents_give_a_manifest_or_a_manifest_error(data: Any) -> None:
    """Arbitrary YAML-shaped data never raises anything but a one-line ManifestError."""
    outcome = _outcome(data)

    assert isinstance(outcome, str | Manifest)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}\"'\\&*!|>#%@ \n\t0123456789.")), max_size=60))
def test_random_yaml_text_gives_a_manifest_or_a_manifest_error(text: str) -> None:
    """Arbitrary YAML-ish text is either parsed and validated or refused in one line."""
    try:
        data = parse_yaml(text, source="m.yml", error=ManifestError)
    except ManifestError as exc:
        outcome: Manifest | str = str(exc)
    else:
        outcome = _outcome(data)

    assert isinstance(outcome, Manifest) or (outcome.startswith("m.yml: ") and "\n" not in outcome)


def _nodes(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node below ``node`` (mapping keys and list indexes)."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _nodes(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _nodes(value, (*path, index))
    return found


PATHS = _nodes(RAW)[1:]


@st.composite
def mutated_manifests(draw: st.DrawFn) -> Any:
    """The shipped manifest with one to three random edits: replace, delete, add a key, duplicate."""
    data = _fresh(RAW)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
        last = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "add_key", "duplicate", "swap"]))
        if action == "replace":
            parent[last] = draw(documents)
        elif action == "delete":
            del parent[last]
        elif action == "add_key" and isinstance(parent[last], dict):
            parent[last][draw(keys)] = draw(scalars)
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(last, _fresh(parent[last]))
        elif action == "swap":
            other = draw(st.sampled_from(PATHS))
            source: Any = RAW
            try:
                for part in other:
                    source = source[part]
            except (KeyError, IndexError, TypeError):
                continue
            parent[last] = _fresh(source)
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_manifests())
def test_mutated_manifests_give_a_manifest_or_a_manifest_error(data: Any) -> None:
    """Random edits of the real manifest load or are refused in one line naming the file."""
    outcome = _outcome(data)

    assert isinstance(outcome, str | Manifest)


def test_the_unmutated_manifest_loads() -> None:
    """The mutations start from a valid manifest, so a refusal comes from the edit."""
    assert isinstance(_outcome(_fresh(RAW)), Manifest)
