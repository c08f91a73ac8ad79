"""Drivers for the two tools under test: start watching, count actions, tear down.

Each driver runs its watcher as a subprocess and reads its output in a thread,
stamping every line with the monotonic clock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker

from bench.cleanup import remember
from bench.projects import DEVRUN_COMPOSE, Project, config_file

DEVRUN = [sys.executable, "-m", "devrun"]
COMPOSE = ["docker", "compose"]


@dataclass
class Output:
    """Lines of a subprocess's stdout (stderr merged), timestamped."""

    proc: subprocess.Popen
    lines: list[tuple[float, str]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    closed: bool = False

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True, name="tool-output").start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            with self.changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.changed.notify_all()
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def wait_line(self, predicate, timeout: float) -> float | None:
        """Monotonic time of the first line matching `predicate`, or None."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for ts, line in self.lines:
                    if predicate(line):
                        return ts
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.changed.wait(timeout=min(left, 0.2))

    def tail(self, n: int = 15) -> str:
        return "\n".join(line for _, line in self.lines[-n:])


def _spawn(argv: list[str], cwd: Path) -> Output:
    env = {**os.environ, "NO_COLOR": "1", "COMPOSE_MENU": "false"}
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    remember(proc.pid)
    out = Output(proc)
    out.start()
    return out


def _stop(out: Output | None, sig: int, grace: float = 10.0) -> None:
    if out is None or out.proc.poll() is not None:
        return
    try:
        os.killpg(out.proc.pid, sig)
        out.proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(out.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out.proc.wait(timeout=5)


def remove_images(client: docker.DockerClient, project: str) -> None:
    """Images a rebuild scenario built, tagged after the project name."""
    for image in client.images.list():
        if any(tag.startswith(project) for tag in image.tags):
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.APIError:
                pass


def remove_labelled(client: docker.DockerClient, label: str) -> None:
    """Last-resort cleanup of containers, networks and volumes carrying `label`."""
    flt = {"label": label}
    for getter in (client.containers.list, client.networks.list, client.volumes.list):
        kwargs = {"all": True} if getter == client.containers.list else {}
        for obj in getter(filters=flt, **kwargs):
            try:
                obj.remove(force=True) if getter != client.networks.list else obj.remove()
            except docker.errors.APIError:
                pass


class Driver:
    tool = ""

    def __init__(self, project: Project, client: docker.DockerClient):
        self.project = project
        self.client = client
        self.watcher: Output | None = None
        self.watch_launched: float | None = None

    @property
    def label(self) -> str:
        raise NotImplementedError

    def run(self, *args: str, timeout: float = 300) -> tuple[float, subprocess.CompletedProcess]:
        """Run one CLI command in the project dir; (seconds taken, result)."""
        t0 = time.monotonic()
        res = subprocess.run(
            [*self.cli(), *args],
            cwd=self.project.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NO_COLOR": "1"},
        )
        return time.monotonic() - t0, res

    def cli(self) -> list[str]:
        raise NotImplementedError

    def watcher_pid(self) -> int | None:
        return self.watcher.proc.pid if self.watcher else None

    def up_detached(self) -> float:
        """`up -d` (same subcommand for both tools); seconds taken."""
        took, res = self.run("up", "-d")
        if res.returncode != 0:
            raise RuntimeError(f"{self.tool} up -d failed: {res.stdout}{res.stderr}")
        return took


class ComposeDriver(Driver):
    tool = "compose"

    @property
    def label(self) -> str:
        return f"com.docker.compose.project={self.project.name}"

    def cli(self) -> list[str]:
        return [*COMPOSE, "-p", self.project.name, "-f", str(self.project.root / "compose.yaml")]

    def start_watch(self, timeout: float = 120) -> tuple[float, float | None]:
        """`up -d` then `watch` (on engine 20.10 `up --watch` stops watching after
        the first restart); returns (launch time, time 'Watch enabled' was printed)."""
        t0 = time.monotonic()
        self.up_detached()
        self.watch_launched = time.monotonic()
        self.watcher = _spawn([*self.cli(), "watch"], self.project.root)
        return t0, self.watcher.wait_line(lambda line: "Watch enabled" in line, timeout)

    def actions(self, engine_watch, since: float) -> int:
        return engine_watch.count(self.project.layout.compose_marker, since)

    def watcher_pid(self) -> int | None:
        # `docker compose` execs the plugin as a child of the docker CLI
        if not self.watcher:
            return None
        pid = self.watcher.proc.pid
        children: list[str] = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                children += (task / "children").read_text().split()
            except OSError:
                continue
        return int(children[0]) if children else pid

    def down(self) -> None:
        _stop(self.watcher, signal.SIGTERM)
        try:
            self.run("down", "-v", "-t", "1", "--rmi", "local", "--remove-orphans", timeout=120)
        except subprocess.TimeoutExpired:
            pass
        remove_labelled(self.client, self.label)


class DevrunDriver(Driver):
    tool = "devrun"

    @property
    def label(self) -> str:
        return f"dev.devrun.project={self.project.name}"

    def cli(self) -> list[str]:
        return [
            *DEVRUN,
            "-p",
            self.project.name,
            "-f",
            str(self.project.root / config_file(self.project.tool)),
        ]

    def events(self, kind: str, since: float = 0.0) -> list[dict]:
        out = []
        for ts, line in list(self.watcher.lines if self.watcher else []):
            if ts < since or not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("event") == kind:
                out.append(obj)
        return out

    def start_watch(self, timeout: float = 120) -> tuple[float, float | None]:
        """`devrun up --json`; ready at its first `ready` event."""
        t0 = self.watch_launched = time.monotonic()
        self.watcher = _spawn([*self.cli(), "up", "--json"], self.project.root)
        return t0, self.watcher.wait_line(_is_ready_event, timeout)

    def actions(self, engine_watch, since: float) -> int:
        return len(self.events("action_finished", since))

    def applied(self, since: float) -> list[dict]:
        """The `applied` events (docs/events.md, "Is it live?") printed since `since`."""
        return self.events("applied", since)

    def down(self) -> None:
        _stop(self.watcher, signal.SIGINT, grace=15)
        try:
            self.run("down", "--volumes", timeout=120)
        except subprocess.TimeoutExpired:
            pass
        remove_labelled(self.client, self.label)
        if self.project.layout.build:
            remove_images(self.client, self.project.name)


def _is_ready_event(line: str) -> bool:
    if '"ready"' not in line:
        return False
    try:
        return json.loads(line).get("event") == "ready"
    except ValueError:
        return False


class DevrunComposeDriver(DevrunDriver):
    """devrun given the compose.yaml compose watches (`devrun -f compose.yaml up`)."""

    tool = DEVRUN_COMPOSE


DRIVERS = {"devrun": DevrunDriver, "compose": ComposeDriver, DEVRUN_COMPOSE: DevrunComposeDriver}
