"""The scenarios: each gets a running, watching project and returns plain results."""

from __future__ import annotations

import statistics
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
# devrun's `applied` event: ms from the batch's first file event (docs/events.md)
STAGES = ("batch_closed", "applied", "ready", "edit_to_ready_ms")


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


def one_edit(s: Session) -> tuple[float | None, int, dict | None]:
    """One edit with a fresh token: (ms from just before the write to visible,
    actions it took, devrun's own stage times for it or None)."""
    token = new_token()
    t0 = s.write(token)
    seen = s.visible(token)
    taken = s.settle(t0)
    return (round((seen - t0) * 1000, 1) if seen else None), taken, edit_stages(s, t0)


def edit_stages(s: Session, since: float, timeout: float = 5.0) -> dict | None:
    """devrun's `applied` event for the edit written at `since` (the last one, when
    the edit took several runs): its stages, edit_to_ready_ms and how ready was told."""
    applied = getattr(s.driver, "applied", None)
    if applied is None:
        return None
    deadline = time.monotonic() + timeout
    while not (events := applied(since)) and time.monotonic() < deadline:
        time.sleep(0.02)
    if not events:
        return {"missing": True}
    last = events[-1]
    return {
        **(last.get("stages") or {}),
        "edit_to_ready_ms": last.get("edit_to_ready_ms"),
        "ready_by": last.get("ready"),
        "ok": last.get("ok"),
        "runs": len(events),
    }


def summarize_stages(records: list[dict | None]) -> dict | None:
    """Median of each stage over the edits that have an `applied` event."""
    got = [r for r in records if r and not r.get("missing")]
    if not any(records):
        return None
    out: dict = {"n": len(got), "missing": sum(1 for r in records if r and r.get("missing"))}
    for stage in STAGES:
        values = [r[stage] for r in got if isinstance(r.get(stage), int | float)]
        out[stage] = round(float(statistics.median(values)), 1) if values else None
    out["ready_by"] = sorted({r["ready_by"] for r in got if r.get("ready_by")})
    out["not_ok"] = sum(1 for r in got if r.get("ok") is False)
    out["several_runs"] = sum(1 for r in got if (r.get("runs") or 1) > 1)
    return out


def edits(sessions: dict[str, Session], n: int) -> dict[str, dict]:
    """N edits per tool, the tools taking turns edit by edit so that load from
    anything else on the host falls on all alike."""
    samples: dict[str, list] = {tool: [] for tool in sessions}
    actions: dict[str, list] = {tool: [] for tool in sessions}
    stages: dict[str, list] = {tool: [] for tool in sessions}
    broken: set[str] = set()
    for i in range(n):
        for tool, s in sessions.items():
            if tool in broken:
                samples[tool].append(None)
                continue
            latency, taken, staged = one_edit(s)
            samples[tool].append(latency)
            actions[tool].append(taken)
            stages[tool].append(staged)
            if i == 1 and samples[tool] == [None, None]:  # broken, not slow: keep the time budget
                broken.add(tool)
    out = {}
    for tool in sessions:
        out[tool] = {**summarize(samples[tool]), "actions_per_edit": actions[tool], "aborted": tool in broken}
        summary = summarize_stages(stages[tool])
        if summary is not None:
            out[tool]["stages"] = summary
    return out


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
