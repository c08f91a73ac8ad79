"""Command startup (issues 10 and 12): whole processes, devrun beside compose, on
the same two-service project (bench.projects.generate_pair), each tool on its own
file and project. The two tools take turns command by command.

Rows: `--version`, `config`, `ps`, warm `up -d` (everything running and
unchanged), `down` then `up -d`, and `ps` while an attached `devrun up --json` runs
for the project (compose's `ps` beside it, its project up). For a row over its
target, the import profile of `python -X importtime -m devrun <cmd>` says why."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import docker

from bench.compose_setup import compose_binary
from bench.measure import summarize, wait_for
from bench.projects import Project, generate_pair
from bench.scenarios import project_name
from bench.tools import DevrunDriver

# row -> (devrun/compose median target, what it is); None = no target
ROWS: dict[str, tuple[float | None, str]] = {
    "--version": (None, "`--version`"),
    "config": (1.5, "`config`"),
    "ps": (2.0, "`ps`"),
    "up-warm": (2.0, "`up -d`, everything already running"),
    "down+up": (None, "`down` then `up -d` (both processes)"),
    "down": (None, "`down` alone (part of the row above)"),
    "up-cold": (None, "`up -d` after `down` (part of the row above)"),
    "ps-up-running": (1.0, "`ps` with an attached `devrun up` running"),
}
ARGS = {
    "--version": ["--version"],
    "config": ["config"],
    "ps": ["ps"],
    "up-warm": ["up", "-d"],
    "ps-up-running": ["ps"],
}
PROFILE_TOP = 8
PROFILE_RUNS = 3
# top-level packages whose share of the import time is named in a profile
PACKAGES = ("typer", "pydantic", "docker", "paramiko", "yaml", "aiohttp", "watchdog")


def devrun_argv() -> list[str]:
    """The `devrun` console script beside this interpreter (what a user runs), else -m."""
    script = Path(sys.executable).parent / "devrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "devrun"]


class Runner:
    """One tool's CLI on one project: `<cli> -p NAME -f FILE <args>`, timed whole."""

    def __init__(self, tool: str, argv: list[str], project: Project, filename: str):
        self.tool = tool
        self.project = project
        self.base = [*argv, "-p", project.name, "-f", str(project.root / filename)]
        self.env = {**os.environ, "NO_COLOR": "1", "COMPOSE_MENU": "false"}

    def argv(self, args: list[str]) -> list[str]:
        return [self.base[0], *args] if args == ["--version"] else [*self.base, *args]

    def time(self, args: list[str], check: bool = True) -> float:
        t0 = time.monotonic()
        res = subprocess.run(
            self.argv(args), cwd=self.project.root, env=self.env, capture_output=True, text=True, timeout=300
        )
        took = time.monotonic() - t0
        if check and res.returncode != 0:
            raise RuntimeError(
                f"{self.tool} {' '.join(args)} exited {res.returncode}: {res.stderr.strip()[-500:]}"
            )
        return round(took * 1000, 1)


def measure(client: docker.DockerClient, workdir: Path, reps: int, cycle_reps: int) -> dict:
    """All rows for both tools; {"rows": {row: {"devrun": summary, "compose": summary}}, ...}."""
    compose_bin = compose_binary()
    projects = {
        "devrun": generate_pair("devrun", project_name("devrun", "cmds"), workdir),
        "compose": generate_pair("compose", project_name("compose", "cmds"), workdir),
    }
    runners = {
        "devrun": Runner("devrun", devrun_argv(), projects["devrun"], "devrun.yaml"),
        "compose": Runner("compose", [str(compose_bin)], projects["compose"], "compose.yaml"),
    }
    samples: dict[str, dict[str, list]] = {row: {"devrun": [], "compose": []} for row in ROWS}

    def turns(row: str, n: int, args: list[str] | None = None) -> None:
        for _ in range(n):
            for tool, runner in runners.items():
                samples[row][tool].append(runner.time(args or ARGS[row]))

    up_driver = DevrunDriver(projects["devrun"], client)
    try:
        for runner in runners.values():  # a first run of each (page cache, .pyc), not counted
            runner.time(["--version"])
        turns("--version", reps)
        turns("config", reps)
        for tool, runner in runners.items():
            runner.time(["up", "-d"])
            if wait_for(runner.project.port, "value=", None, 60) is None:
                raise RuntimeError(f"{tool}: the app never answered on port {runner.project.port}")
        turns("ps", reps)
        turns("up-warm", reps)
        for _ in range(cycle_reps):
            for tool, runner in runners.items():
                down = runner.time(["down"])
                up = runner.time(["up", "-d"])
                samples["down"][tool].append(down)
                samples["up-cold"][tool].append(up)
                samples["down+up"][tool].append(round(down + up, 1))
        profiles = _profiles(samples, runners["devrun"], exclude=("ps-up-running",))
        # devrun's project under an attached, watching `up` (it finds everything running)
        _t0, ready = up_driver.start_watch()
        if ready is None:
            tail = up_driver.watcher.tail() if up_driver.watcher else ""
            raise RuntimeError(f"devrun up did not become ready; last output:\n{tail}")
        turns("ps-up-running", reps)
        profiles.update(_profiles(samples, runners["devrun"], only=("ps-up-running",)))
        rows = {row: {tool: summarize(v) for tool, v in by_tool.items()} for row, by_tool in samples.items()}
        return {
            "rows": rows,
            "profiles": profiles,
            "devrun_cli": " ".join(runners["devrun"].base[:1]),
            "compose_cli": str(compose_bin),
            "reps": reps,
            "cycle_reps": cycle_reps,
        }
    finally:
        up_driver.down()  # stops the attached up, then `devrun down`
        try:
            runners["compose"].time(["down", "-v", "-t", "1", "--remove-orphans"], check=False)
        except subprocess.TimeoutExpired:
            pass


def _profiles(samples: dict, devrun: Runner, only: tuple = (), exclude: tuple = ()) -> dict:
    """The import profile of each row (with a target) whose median ratio misses it."""
    out = {}
    for row, (target, _what) in ROWS.items():
        if target is None or (only and row not in only) or row in exclude:
            continue
        r = row_ratio({tool: summarize(v) for tool, v in samples[row].items()})
        if r is not None and r > target:
            out[row] = import_profile(devrun, ARGS[row])
    return out


def row_ratio(row: dict) -> float | None:
    d = (row.get("devrun") or {}).get("median_ms")
    c = (row.get("compose") or {}).get("median_ms")
    return round(d / c, 2) if d is not None and c else None


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s*\|\s*(\d+)\s*\|(\s*)(\S+)")


def parse_importtime(stderr: str) -> list[tuple[str, int, int, str | None]]:
    """(module, self us, cumulative us, the module whose import first imported it)
    for each line of -X importtime (children are printed before their parent)."""
    rows = []
    for line in stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            rows.append((m.group(4), int(m.group(1)), int(m.group(2)), (len(m.group(3)) - 1) // 2))
    out: list[tuple[str, int, int, str | None]] = []
    parents: dict[int, str] = {}  # depth -> the module open at that depth, scanning backwards
    for name, self_us, cum_us, depth in reversed(rows):
        parents[depth] = name
        out.append((name, self_us, cum_us, parents.get(depth - 1) if depth else None))
    return out[::-1]


def _top_package(name: str) -> str:
    return name.split(".", 1)[0]


def import_profile(runner: Runner, args: list[str]) -> dict:
    """`python -X importtime -m devrun <args>`, PROFILE_RUNS times: the median per module.
    A package's share is the cumulative time of its outermost imports, so it holds what
    the package imported first (docker's holds requests, urllib3 and, when installed,
    paramiko)."""
    flags = [] if args == ["--version"] else runner.base[len(devrun_argv()) :]
    argv = [sys.executable, "-X", "importtime", "-m", "devrun", *flags, *args]
    runs, walls = [], []
    for _ in range(PROFILE_RUNS):
        t0 = time.monotonic()
        res = subprocess.run(
            argv, cwd=runner.project.root, env=runner.env, capture_output=True, text=True, timeout=300
        )
        walls.append((time.monotonic() - t0) * 1000)
        runs.append(parse_importtime(res.stderr))
    cum: dict[str, list[int]] = {}
    selfs: dict[str, list[int]] = {}
    parent: dict[str, str | None] = {}
    for run in runs:
        for name, self_us, cum_us, by in run:
            cum.setdefault(name, []).append(cum_us)
            selfs.setdefault(name, []).append(self_us)
            parent.setdefault(name, by)
    med_cum = {k: statistics.median(v) for k, v in cum.items()}
    total = sum(statistics.median(v) for v in selfs.values())
    top = sorted(med_cum.items(), key=lambda kv: -kv[1])[:PROFILE_TOP]
    shares = {}
    for pkg in PACKAGES:
        outer = [
            v
            for k, v in med_cum.items()
            if _top_package(k) == pkg and _top_package(parent.get(k) or "") != pkg
        ]
        if outer:
            us = sum(outer)
            shares[pkg] = {"ms": round(us / 1000, 1), "pct": round(100 * us / total, 1) if total else None}
    floor = []
    for _ in range(PROFILE_RUNS):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, timeout=60)
        floor.append((time.monotonic() - t0) * 1000)
    return {
        "command": "python -X importtime -m devrun " + " ".join(args),
        "python_ms": round(statistics.median(floor), 1),
        "wall_ms": round(statistics.median(walls), 1),
        "imports_ms": round(total / 1000, 1),
        "modules": len(med_cum),
        "top": [
            {"module": k, "cumulative_ms": round(v / 1000, 1), "imported_by": parent.get(k)} for k, v in top
        ],
        "packages": shares,
    }
