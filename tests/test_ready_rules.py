"""The rules behind "is it live?" (issue 12), without an engine: a signal's
readiness waits for the app's own line (learned per service), a reset probe
is no answer, a `wait` sees an `applied` before the board does, and `ps`
rows are read again after a container event before they are served."""

from __future__ import annotations

import socket
import struct
import threading
import time

from devrun.session import ready, stages
from devrun.session.psrows import PsCache
from devrun.session.status import WaitTarget, wait_verdict


def test_a_signal_waits_for_the_apps_line_and_learns_a_silent_app(monkeypatch):
    monkeypatch.setattr(stages, "SIGNAL_WORD_FIRST", 0.1)
    lines = stages._Lines()
    since = time.monotonic()
    threading.Timer(0.03, lambda: lines({"event": "log", "service": "web", "line": "reloaded"})).start()
    assert lines.heard("web", since)  # it spoke: known to speak from now on
    t0 = time.monotonic()
    assert not lines.heard("db", time.monotonic())  # silent the first time: waited the short window
    assert 0.09 < time.monotonic() - t0 < 1.0
    t0 = time.monotonic()
    assert not lines.heard("db", time.monotonic())  # known silent: not waited for again
    assert time.monotonic() - t0 < 0.05
    other = stages._Lines()
    since = time.monotonic()
    other({"event": "log", "service": "web", "stream": "build", "line": "a build's line is not the app's"})
    assert not other.heard("web", since)


def _server(behaviour: str) -> tuple[socket.socket, tuple[str, int]]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            if behaviour == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif behaviour == "answer":
                conn.recv(100)
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()


def test_a_reset_is_told_apart_from_an_answer():
    for behaviour, expected in (("answer", True), ("reset", None)):
        srv, addr = _server(behaviour)
        try:
            assert ready.answers(addr, timeout=1.0) is expected, behaviour
        finally:
            srv.close()


def test_wait_sees_applied_before_the_board():
    snapshot = {"services": {"web": {"changes": {"pending": [3], "outcomes": {}}}}}
    target = [WaitTarget("web", 3)]
    assert not wait_verdict(snapshot, target).done
    seen = {"web": {3: {"ok": True, "error": None}}}
    assert wait_verdict(snapshot, target, seen).done and wait_verdict(snapshot, target, seen).ok
    failed = {"web": {3: {"ok": False, "error": "boom"}}}
    verdict = wait_verdict(snapshot, target, failed)
    assert verdict.done and not verdict.ok and "boom" in (verdict.error or "")


class _Engine:
    def __init__(self) -> None:
        self.reads = 0

    def project_containers(self, project: str) -> list:
        self.reads += 1
        time.sleep(0.05)
        return []


def test_ps_rows_are_read_again_after_an_event_before_they_are_served():
    engine = _Engine()
    cache = PsCache(engine, lambda: "p")
    try:
        assert cache.rows() == []
        first = engine.reads
        cache.touch("exec_start")  # not something ps shows: no read
        assert cache.rows() == [] and engine.reads == first
        cache.touch("die")
        assert cache.rows() == [] and engine.reads == first + 1  # served only after the new read
    finally:
        cache.close()


class _Port:
    protocol = "tcp"
    published = None
    host_ip = ""

    def __init__(self, target: int):
        self.target = target


class _Running:
    addresses = ("127.0.0.1",)
    running = True
    exit_code = None


def test_a_server_that_always_resets_is_ready_after_a_second():
    srv, (_host, port) = _server("reset")
    svc = type("Svc", (), {"healthcheck": None, "ports": [_Port(port)]})()
    engine = type("Engine", (), {"state": lambda self, cid: _Running()})()
    try:
        t0 = time.monotonic()
        assert ready.wait_ready(engine, svc, f"resets-{port}", timeout=5) == ("port", True, None)
        assert ready.RESETS <= time.monotonic() - t0 < 3
    finally:
        srv.close()
