"""Every example's devrun.yaml passes `devrun config`, validates against the
published JSON Schema, and the committed schema matches `devrun schema`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import REPO, devrun

EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/devrun.yaml"))


def test_committed_schema_is_current():
    result = devrun("schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads((REPO / "docs" / "devrun.schema.json").read_text()), (
        "docs/devrun.schema.json is stale: run `devrun schema > docs/devrun.schema.json`"
    )


@pytest.mark.parametrize("folder", EXAMPLES, ids=lambda p: p.name)
def test_example_config_resolves_and_matches_schema(folder: Path):
    for args in (("config",), ("config", "--json")):
        result = devrun(*args, cwd=folder)
        assert result.returncode == 0, result.stderr
    schema = json.loads((REPO / "docs" / "devrun.schema.json").read_text())
    text = (folder / "devrun.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    jsonschema.validate(yaml.safe_load(text), schema)


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"python-web", "static-site", "db-persist"}
