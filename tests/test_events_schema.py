"""docs/events.schema.json describes every event `--json` prints: samples,
every kind the Printer knows, and a real `devrun up --json` stream."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from devrun.output import EVENTS, Printer
from tests.conftest import BUSYBOX, REPO

SCHEMA = json.loads((REPO / "docs" / "events.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
TS = "2025-01-31T12:00:00.123Z"

SAMPLES = [
    {"event": "service_started", "service": "web", "container": "5db6b6a13c60"},
    {"event": "ready", "services": ["web", "db"]},
    {"event": "change", "service": "web", "paths": ["/p/src/app.py"], "count": 1},
    {
        "event": "action_started",
        "service": "web",
        "action": "sync+restart",
        "paths": ["/p/src/a.py"],
        "count": 3,
    },
    {
        "event": "action_finished",
        "service": "web",
        "action": "restart",
        "paths": [],
        "count": 1,
        "duration_ms": 412,
        "ok": True,
        "error": None,
    },
    {
        "event": "action_finished",
        "service": "web",
        "action": "exec",
        "paths": ["x"],
        "count": 1,
        "duration_ms": 9,
        "ok": False,
        "error": "exit code 2",
    },
    {"event": "log", "service": "web", "stream": "stderr", "line": "listening on :8080"},
    {"event": "container_exited", "service": "web", "exit_code": 137},
    {
        "event": "container_exited",
        "service": "web",
        "exit_code": 1,
        "last_lines": ["Traceback...", "ValueError"],
    },
    {"event": "config_reloaded", "services_changed": ["web"]},
    {"event": "error", "message": "port 8080 is taken", "where": "devrun.yaml:7:9"},
    {"event": "error", "message": "engine went away", "where": None},
    {"event": "warning", "message": "port published on all interfaces"},
    {"event": "info", "message": "building web"},
    {"event": "service_stopped", "service": "web"},
]


def full(sample: dict) -> dict:
    return {"v": 1, "ts": TS, **sample}


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s['event']}-{i}" for i, s in enumerate(SAMPLES)])
def test_samples_validate(sample: dict) -> None:
    VALIDATOR.validate(full(sample))


@pytest.mark.parametrize(
    "bad",
    [
        {"ts": TS, "event": "ready", "services": []},  # no v
        {"v": 2, "ts": TS, "event": "ready", "services": []},
        {"v": 1, "ts": "yesterday", "event": "ready", "services": []},
        {"v": 1, "ts": TS, "event": "exploded"},
        {"v": 1, "ts": TS, "event": "change", "service": "web", "paths": []},  # no count
        {"v": 1, "ts": TS, "event": "log", "service": "web", "stream": "stdin", "line": "x"},
        {"v": 1, "ts": TS, "event": "warning", "message": "x", "surprise": 1},
        {
            "v": 1,
            "ts": TS,
            "event": "action_finished",
            "service": "w",
            "action": "restat",
            "paths": [],
            "count": 0,
            "duration_ms": 1,
            "ok": True,
            "error": None,
        },
    ],
)
def test_bad_events_are_rejected(bad: dict) -> None:
    assert not VALIDATOR.is_valid(bad)


def test_schema_kinds_match_the_printer() -> None:
    """Every kind and field the Printer declares is in the schema, and back."""
    kinds = {d["properties"]["event"]["const"]: d for k, d in SCHEMA["$defs"].items() if k not in ("v", "ts")}
    assert set(kinds) == set(EVENTS)
    for kind, fields in EVENTS.items():
        assert set(kinds[kind]["properties"]) - {"v", "ts", "event"} == set(fields), kind


def example_value(json_type: str):
    first = json_type.split("|")[0]
    return {"string": "text", "integer": 3, "boolean": True, "array": ["a"], "null": None, "object": {}}[
        first
    ]


VALUES = {
    "action": "restart",
    "stream": "stdout",
    "changes": [4, 5],
    "stages": {"detected": 0, "batch_closed": 52, "applied": 70, "ready": 75},
    "ready": "port",
}


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_every_printer_event_validates(kind: str) -> None:
    out = io.StringIO()
    printer = Printer(json_mode=True, color=False, out=out, err=io.StringIO())
    fields = {name: VALUES.get(name, example_value(t)) for name, t in EVENTS[kind].items()}
    if kind == "log":
        printer.log(fields["service"], fields["stream"], fields["line"])
    else:
        printer.event(kind, **fields)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    VALIDATOR.validate(json.loads(lines[0]))


def test_printer_helpers_validate() -> None:
    out = io.StringIO()
    printer = Printer(json_mode=True, color=False, out=out, err=io.StringIO())
    printer.info("building web")
    printer.warn("slow mount")
    printer.error("engine went away")
    printer.error("bad port", where="devrun.yaml:3:5")
    for line in out.getvalue().splitlines():
        VALIDATOR.validate(json.loads(line))


@pytest.mark.docker
def test_real_up_stream_validates(tmp_path: Path, docker_client, project_name: str) -> None:
    """Bring a service up with --json, stop it, and validate every stdout line."""
    (tmp_path / "devrun.yaml").write_text(
        "services:\n"
        "  talker:\n"
        f"    image: {BUSYBOX}\n"
        "    command: sh -c 'echo out; echo err >&2; exec sleep 60'\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "devrun", "-p", project_name, "up", "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    events = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            events.append(json.loads(line))
            seen = {(e["event"], e.get("line")) for e in events}
            if ("ready", None) in seen and ("log", "out") in seen and ("log", "err") in seen:
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events += [json.loads(line) for line in rest.splitlines()]
    assert "Traceback" not in err
    for event in events:
        VALIDATOR.validate(event)
    kinds = [e["event"] for e in events]
    assert {"service_started", "ready", "log"} <= set(kinds)
    assert proc.returncode in (0, 130)


def test_vscode_task_patterns_follow_human_output() -> None:
    """examples/vscode/tasks.json: busy from a change until its action ends;
    config error lines are file:line:col problems."""
    import re

    text = (REPO / "examples" / "vscode" / "tasks.json").read_text()
    tasks = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))
    matcher = tasks["tasks"][0]["problemMatcher"]
    out = io.StringIO()
    printer = Printer(color=False, out=out, err=out)
    printer.set_services(["web", "a-long-service-name"])
    printer.event("change", service="web", paths=["src/a.py"], count=1)
    printer.event(
        "action_finished",
        service="web",
        action="restart (process)",
        paths=["src/a.py"],
        count=1,
        duration_ms=17,
        ok=True,
        error=None,
    )
    printer.event(
        "action_finished",
        service="web",
        action="sync",
        paths=["src/a.py"],
        count=1,
        duration_ms=3,
        ok=False,
        error="boom",
    )
    printer.log("web", "stdout", "web: 2 changed: not devrun's own line")
    change, done, failed, log = out.getvalue().splitlines()
    begins, ends = matcher["background"]["beginsPattern"], matcher["background"]["endsPattern"]
    assert re.search(begins, change) and not re.search(ends, change)
    assert re.search(ends, done) and re.search(ends, failed)
    assert not re.search(begins, log) and not re.search(ends, log)
    m = re.search(
        matcher["pattern"]["regexp"],
        "devrun.yaml:8:17: services.web.watch[0].action: 'restat' is not one of ...",
    )
    assert m and m.groups()[:3] == ("devrun.yaml", "8", "17")
