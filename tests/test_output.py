"""Printer: human lines, JSON lines, thread safety."""

from __future__ import annotations

import io
import json
import re
import threading

import pytest

from devrun.output import EVENTS, Printer, human_text


def test_human_prefix_padded_without_colour():
    out = io.StringIO()
    p = Printer(out=out, err=io.StringIO(), color=False)
    p.set_services(["web", "database"])
    p.log("web", "stdout", "hello")
    p.event("service_started", service="web", container="abcdef1234567890")
    assert out.getvalue().splitlines() == ["web      | hello", "devrun   | web started (abcdef123456)"]


def test_colour_only_when_asked():
    out = io.StringIO()
    Printer(out=out, color=True).log("web", "stdout", "x")
    assert "\x1b[" in out.getvalue()
    out = io.StringIO()
    Printer(out=out).log("web", "stdout", "x")  # StringIO is not a TTY
    assert "\x1b[" not in out.getvalue()


def test_no_color_env(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    out = Tty()
    Printer(out=out).log("web", "stdout", "x")
    assert "\x1b[" not in out.getvalue()


def test_json_lines_have_version_timestamp_event():
    out, err = io.StringIO(), io.StringIO()
    p = Printer(json_mode=True, out=out, err=err)
    p.log("web", "stderr", "boom")
    p.warn("careful")
    p.event("container_exited", service="web", exit_code=3, last_lines=["a"])
    objs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [o["event"] for o in objs] == ["log", "warning", "container_exited"]
    assert all(o["v"] == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["ts"]) for o in objs)
    assert objs[0] == {**objs[0], "service": "web", "stream": "stderr", "line": "boom"}
    assert err.getvalue() == ""


def test_unknown_event_refused():
    with pytest.raises(ValueError):
        Printer(out=io.StringIO()).event("nope")


def test_every_event_has_human_text():
    samples = {
        "string": "s",
        "array": ["a"],
        "integer": 1,
        "boolean": True,
        "string|null": None,
        "integer|null": None,
        "object": {},
    }
    silent = {"action_started", "applied"}  # the finished line says it all
    for kind, fields in EVENTS.items():
        text = human_text(kind, {k: samples[t] for k, t in fields.items()})
        assert (text is None) == (kind in silent), kind


def test_threads_never_interleave_lines():
    out = io.StringIO()
    p = Printer(out=out, color=False)

    def spam(name: str) -> None:
        for i in range(300):
            p.log(name, "stdout", f"{name} line {i}")

    threads = [threading.Thread(target=spam, args=(f"s{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1200 and all(re.fullmatch(r"s\d\s+\| s\d line \d+", line) for line in lines)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_build_transcript_is_one_changing_line():
    out = _Terminal()
    p = Printer(color=False, out=out, err=out)
    p.set_services(["web"])
    for n in range(3):
        p.log("web", "build", f"Step {n}/3 : RUN something")
    p.info("web started")
    text = out.getvalue()
    assert text.count("\n") == 1  # only the info line ends a line
    assert text.count("\r\x1b[K") == 4  # each step redraws; the info line wipes the last
    assert text.endswith("devrun | web started\n")


def test_in_a_pipe_a_build_transcript_is_every_line():
    out = io.StringIO()
    p = Printer(color=False, out=out, err=out)
    for n in range(3):
        p.log("web", "build", f"Step {n}/3")
    assert out.getvalue().count("\n") == 3 and "\r" not in out.getvalue()
