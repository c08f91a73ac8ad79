"""Property: whatever bytes sit in devrun.yaml, the loader either returns a
LoadedConfig or raises ConfigError. Nothing else escapes (no KeyError, no
pydantic or YAML exception, no RecursionError)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devrun.config.loader import LoadedConfig, load_file
from devrun.config.model import Project, Service, WatchRule
from devrun.errors import ConfigError

# keys devrun knows, so generated documents reach deep into the model
KNOWN_KEYS = sorted(
    {
        *Project.model_fields,
        *Service.model_fields,
        *WatchRule.model_fields,
        "context",
        "type",
        "source",
        "target",
        "test",
    }
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["restart", "sync", "HUP", "8080:80", "./src:/app", "5s", "${X}", "${X:?no}", "$$", "..", "/", "x:y"]
    ),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=10), st.integers(), st.booleans())
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)
service_bodies = st.dictionaries(st.sampled_from(sorted(Service.model_fields)), documents, max_size=5)
near_valid = st.builds(
    lambda services, top: {**top, "services": services},
    st.dictionaries(st.sampled_from(["web", "db", "web app", ""]), service_bodies, max_size=3),
    st.dictionaries(st.sampled_from(sorted(Project.model_fields)), documents, max_size=2),
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_text(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "devrun.yaml"
        (Path(folder) / "src").mkdir()
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            result = load_file(path, environ={"X": "1"})
        except ConfigError as e:
            assert e.problems, "a ConfigError names at least one problem"
            for problem in e.problems:
                assert "\n" not in str(problem) and "\r" not in str(problem)
            return
        assert isinstance(result, LoadedConfig)


@FUZZ
@given(documents)
def test_any_yaml_document(doc: object) -> None:
    load_text(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(near_valid)
def test_near_valid_documents(doc: dict) -> None:
    load_text(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    load_text(text)


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes(data: bytes) -> None:
    load_text(data)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "services:",
                "  web:",
                "    image: x",
                "    watch:",
                "      - path: src",
                "        action: sync",
                "  - ",
                "\t",
                ": :",
                "&a x",
                "*a",
                "*b",
                "{",
                "[",
                "'",
                '"',
                "? ",
                "---",
                "!!binary",
                "${",
                "#",
            ]
        ),
        max_size=12,
    )
)
def test_yaml_fragments(lines: list[str]) -> None:
    load_text("\n".join(lines))
