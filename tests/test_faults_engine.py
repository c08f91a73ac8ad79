"""The engine's event stream drops (dockerd restarted) while `up` runs.

The machine's dockerd is shared with other test runs, so it is never
restarted here: the reconnect logic is driven through a fake at the engine
seam (Session takes its engine through the constructor). A stream that ends
is followed by reconnect attempts with backoff, replaying from the last event
seen; if the engine stays away past DEVRUN_ENGINE_TIMEOUT, `up` says so and
exits 1 without touching a container."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from devrun.config import loader
from devrun.engine.protocol import EngineEvent
from devrun.errors import EngineError
from devrun.output import Printer
from devrun.session.runner import Session, reconnect_delay
from tests.conftest import BUSYBOX
from tests.fake_engine import END, EventFeed, FakeEngine


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "devrun.yaml").write_text(f"services:\n  app:\n    image: {BUSYBOX}\n")
    return loader.load_file(tmp_path / "devrun.yaml", project_name="fake")


def events_of(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def run_session(cfg, engine) -> tuple[Session, io.StringIO, threading.Thread, list[int]]:
    out = io.StringIO()
    session = Session(cfg, engine, Printer(json_mode=True, out=out, err=out), ["app"])
    session.containers = {"app": engine.add("app", "c1")}
    session.attach(since=1000.0)
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(session.run()), daemon=True)
    t.start()
    return session, out, t, result


def wait(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_reconnect_delay_backs_off_and_caps():
    assert [reconnect_delay(a) for a in range(7)] == [0.25, 0.5, 1, 2, 4, 4, 4]


def test_stream_that_ends_is_reconnected_and_events_keep_flowing(cfg, monkeypatch):
    monkeypatch.setenv("DEVRUN_ENGINE_TIMEOUT", "30")
    first = EventFeed([EngineEvent("start", "c1", "app", 1001.0)])
    first.put(END)  # the engine went away after one event
    second = EventFeed([EngineEvent("die", "c1", "app", 1005.0, exit_code=3)])
    engine = FakeEngine(events=[first, EngineError("refused"), EngineError("refused"), second])
    session, out, t, result = run_session(cfg, engine)
    wait(lambda: any(e["event"] == "container_exited" for e in events_of(out)))
    evs = events_of(out)
    kinds = [e["event"] for e in evs]
    assert any(e["event"] == "warning" and "lost the engine's event stream" in e["message"] for e in evs)
    assert any(e["event"] == "info" and e["message"] == "reconnected to the engine" for e in evs)
    assert kinds.index("container_exited") > kinds.index("warning")
    assert [e for e in evs if e["event"] == "container_exited"][0]["exit_code"] == 3
    # 4 calls: attach, 2 refused, then the one that worked, resuming just after the last event
    assert len(engine.events_calls) == 4
    assert engine.events_calls[0] == 1000.0 and engine.events_calls[-1] == pytest.approx(1001.0, abs=1e-3)
    assert engine.events_calls[-1] > 1001.0
    # the log stream that ended with the engine is followed again, from the drop
    assert [cid for cid, _ in engine.log_calls] == ["c1", "c1"] and engine.log_calls[1][1] > 1000.0
    session.exit_code = 0
    t.join(5)
    assert result == [0] and engine.calls == []


def test_engine_gone_past_the_timeout_exits_1_and_leaves_containers(cfg, monkeypatch):
    monkeypatch.setenv("DEVRUN_ENGINE_TIMEOUT", "0.8")
    gone = EventFeed()
    gone.put(END)
    engine = FakeEngine(events=[gone])  # every later events() call raises EngineError
    t0 = time.monotonic()
    session, out, t, result = run_session(cfg, engine)
    t.join(10)
    took = time.monotonic() - t0
    assert result == [1]
    assert 0.8 <= took < 3.5, took
    errors = [e for e in events_of(out) if e["event"] == "error"]
    assert (
        len(errors) == 1
        and "unreachable" in errors[0]["message"]
        and "leaving the containers as they are" in errors[0]["message"]
    )
    assert engine.calls == []  # no stop, kill, remove or start
    assert len(engine.events_calls) >= 3  # it did retry


def test_closing_the_session_does_not_count_as_a_drop(cfg, monkeypatch):
    monkeypatch.setenv("DEVRUN_ENGINE_TIMEOUT", "30")
    engine = FakeEngine(events=[EventFeed()])
    session, out, t, result = run_session(cfg, engine)
    time.sleep(0.1)
    session.exit_code = 0
    t.join(5)
    time.sleep(0.4)
    assert result == [0]
    assert len(engine.events_calls) == 1
    assert not [e for e in events_of(out) if e["event"] == "warning"]
