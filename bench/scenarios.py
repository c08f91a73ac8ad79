"""The scenarios: each gets a running, watching project and returns plain results."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from bench.measure import EngineWatch, summarize, wait_for
from bench.projects import Project, generate, layout_for
from bench.tools import DRIVERS, Driver

EDIT_TIMEOUT = 15.0
REBUILD_TIMEOUT = 60.0
DRIP_WRITES, DRIP_GAP = 10, 0.3
STORM_FILES = 2000


@dataclass
class Session:
    project: Project
    driver: Driver
    engine: EngineWatch
    client: docker.DockerClient

    @property
    def edit_timeout(self) -> float:
        return REBUILD_TIMEOUT if self.project.layout.build else EDIT_TIMEOUT

    def visible(self, token: str, timeout: float | None = None) -> float | None:
        return wait_for(self.project.port, token, self.engine.gate, timeout or self.edit_timeout)

    def write(self, token: str) -> float:
        """Write one edit; the time just before the write."""
        t0 = time.monotonic()
        self.project.edit_path.write_text(self.project.edit_text(token))
        return t0

    def settle(self, since: float, expected: int = 1, timeout: float = 5.0, quiet: float = 0.3) -> int:
        """Wait for the action(s) of an edit to be counted, then a short quiet time."""
        deadline = time.monotonic() + timeout
        while self.driver.actions(self.engine, since) < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(quiet)
        return self.driver.actions(self.engine, since)

    def container(self):
        found = self.client.containers.list(filters={"label": self.driver.label})
        return found[0] if found else None


def new_token() -> str:
    return "tok" + uuid.uuid4().hex[:10]


def project_name(tool: str, scenario: str) -> str:
    slug = "".join(c for c in scenario if c.isalnum())
    return f"bench{tool[:2]}{slug}{uuid.uuid4().hex[:6]}"


@contextmanager
def session(tool: str, scenario: str, client: docker.DockerClient, workdir: Path, warm_up: bool = True):
    """Generate, start and watch one project; always tear it down."""
    project = generate(layout_for(scenario), tool, project_name(tool, scenario), workdir)
    driver = DRIVERS[tool](project, client)
    engine = EngineWatch(driver.label)
    engine.start(client)
    try:
        t0, ready = driver.start_watch()
        if ready is None:
            tail = driver.watcher.tail() if driver.watcher else ""
            raise RuntimeError(f"{tool} did not start watching ({scenario}); last output:\n{tail}")
        if warm_up:
            if wait_for(project.port, "value=", engine.gate, 60) is None:
                raise RuntimeError(f"{tool}: the app never answered on port {project.port} ({scenario})")
            time.sleep(0.3)
        yield Session(project, driver, engine, client), t0, ready
    finally:
        engine.close()
        driver.down()


def one_edit(s: Session) -> tuple[float | None, int]:
    """One edit with a fresh token: (ms from just before the write to visible, actions it took)."""
    token = new_token()
    t0 = s.write(token)
    seen = s.visible(token)
    return (round((seen - t0) * 1000, 1) if seen else None), s.settle(t0)


def edits(sessions: dict[str, Session], n: int) -> dict[str, dict]:
    """N edits per tool, the tools taking turns edit by edit so that load from
    anything else on the host falls on both alike."""
    samples: dict[str, list] = {tool: [] for tool in sessions}
    actions: dict[str, list] = {tool: [] for tool in sessions}
    broken: set[str] = set()
    for i in range(n):
        for tool, s in sessions.items():
            if tool in broken:
                samples[tool].append(None)
                continue
            latency, taken = one_edit(s)
            samples[tool].append(latency)
            actions[tool].append(taken)
            if i == 1 and samples[tool] == [None, None]:  # broken, not slow: keep the time budget
                broken.add(tool)
    return {
        tool: {**summarize(samples[tool]), "actions_per_edit": actions[tool], "aborted": tool in broken}
        for tool in sessions
    }


def drip(s: Session, reps: int) -> dict:
    """10 writes 0.3 s apart: actions taken and latency after the last write."""
    latencies: list[float | None] = []
    actions: list[int] = []
    for _ in range(reps):
        first = time.monotonic()
        for i in range(DRIP_WRITES):
            token = new_token()
            last = s.write(token)
            if i < DRIP_WRITES - 1:
                time.sleep(DRIP_GAP)
        seen = s.visible(token)
        latencies.append(round((seen - last) * 1000, 1) if seen else None)
        time.sleep(1.5)  # let any trailing action run before counting
        actions.append(s.driver.actions(s.engine, first))
    return {**summarize(latencies), "actions_per_drip": actions}


def _files_in_container(s: Session, directory: str) -> int:
    ctr = s.container()
    if ctr is None:
        return -1
    res = ctr.exec_run(["sh", "-c", f"ls {directory} 2>/dev/null | wc -l"])
    try:
        return int(res.output.decode().strip())
    except ValueError:
        return -1


def storm(s: Session, reps: int) -> dict:
    """2,000 files in a tight loop: actions taken, files arriving, next edit still works."""
    runs = []
    for rep in range(reps):
        storm_dir = s.project.root / "src" / f"storm{rep}"
        first = time.monotonic()
        storm_dir.mkdir()
        for i in range(STORM_FILES):
            (storm_dir / f"f{i:05d}.txt").write_text(f"{i}\n")
        written = time.monotonic()
        arrived, all_at = 0, None
        deadline = written + 60
        while time.monotonic() < deadline:
            arrived = _files_in_container(s, f"/srv/storm{rep}")
            if arrived >= STORM_FILES:
                all_at = time.monotonic()
                break
            time.sleep(0.25)
        time.sleep(1.5)
        actions = s.driver.actions(s.engine, first)
        token = new_token()
        t0 = s.write(token)
        seen = s.visible(token)
        runs.append(
            {
                "write_s": round(written - first, 3),
                "files_arrived": arrived,
                "all_arrived_after_last_write_ms": round((all_at - written) * 1000, 1) if all_at else None,
                "actions": actions,
                "next_edit_ms": round((seen - t0) * 1000, 1) if seen else None,
            }
        )
        s.settle(t0)
    return {"runs": runs, "files": STORM_FILES}
