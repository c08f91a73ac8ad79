"""Drive a real `devrun up --json` in a subprocess and wait on its events."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Event = dict[str, Any]

# a container command that idles and ends at once on SIGTERM
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    check: Callable[[], Any], timeout: float = 10, interval: float = 0.02, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def write_files(folder: Path, files: dict[str, str]) -> None:
    """Write each relative path's text under `folder`, making folders as needed."""
    for rel, text in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def exec_out(docker_client, name: str, *argv: str) -> str:
    """The output of `argv` run in container `name`, or "" if it failed."""
    code, out = docker_client.containers.get(name).exec_run(list(argv))
    return out.decode() if code == 0 else ""


class DevrunUp:
    """`devrun up --json` as a user would run it; events collected from stdout."""

    def __init__(self, folder: Path, project: str, *args: str, env: dict[str, str] | None = None):
        self.folder = folder
        self.project = project
        self.events: list[Event] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devrun", "up", "--json", "-p", project, *args],
            cwd=folder,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "not-json", "line": line}
            with self._lock:
                self.events.append(ev)

    def _read_err(self) -> None:
        assert self.proc.stderr
        for line in self.proc.stderr:
            with self._lock:
                self.stderr.append(line)

    def of(self, kind: str, **match: Any) -> list[Event]:
        with self._lock:
            return [
                e
                for e in self.events
                if e.get("event") == kind and all(e.get(k) == v for k, v in match.items())
            ]

    def wait_for(self, kind: str, timeout: float = 30, count: int = 1, **match: Any) -> list[Event]:
        def check():
            if self.proc.poll() is not None and len(self.of(kind, **match)) < count:
                raise AssertionError(
                    f"devrun up exited ({self.proc.returncode}) before {kind}: {self.tail()}"
                )
            found = self.of(kind, **match)
            return found if len(found) >= count else None

        return wait_until(check, timeout, what=f"{count} x {kind} {match}")

    def actions(self, service: str | None = None) -> list[Event]:
        return self.of("action_finished", **({"service": service} if service else {}))

    def settle(self, service: str | None = None, quiet: float = 0.6, timeout: float = 20) -> int:
        """Wait until no action started or finished for `quiet` seconds; returns the action count."""
        deadline = time.monotonic() + timeout
        last = (-1, -1)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            now = (len(self.of("action_started")), len(self.actions()))
            if now != last:
                last, stable_since = now, time.monotonic()
            elif now[0] == now[1] and time.monotonic() - stable_since >= quiet:
                return len(self.actions(service))
            time.sleep(0.02)
        raise AssertionError("actions never settled")

    def tail(self, n: int = 15) -> str:
        with self._lock:
            return "".join(self.stderr[-n:]) + "\n".join(json.dumps(e) for e in self.events[-n:])

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> DevrunUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
