"""python -m bench: devrun against `docker compose watch`, side by side, in one run.

python -m bench [--scenarios restart,sync,...] [--tools devrun,compose,devrun-compose] [--n 15] [--idle 60]
python -m bench --report-only bench/results/latest.json

Tool devrun-compose is devrun given compose's own compose.yaml (`devrun -f compose.yaml up`),
run in the edit scenarios beside the other two.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import docker

from bench import cleanup, commands, lifecycle, report, scenarios, tree_cost
from bench.compose_setup import ensure_compose
from bench.projects import DEVRUN_COMPOSE, compose_spelling_missing, layout_for

REPO = Path(__file__).resolve().parent.parent
EDIT_SCENARIOS = ("restart", "restart-container", "signal", "sync", "sync+restart", "exec", "rebuild")
OTHER = ("drip", "storm", "startup", "up", "commands", "watcher", "baseline")
TOOLS = ("devrun", "compose", DEVRUN_COMPOSE)
ALL = EDIT_SCENARIOS + OTHER
POLLING = (
    "Each edit writes a unique token into the watched file (the Dockerfile's ENV line for rebuild); latency runs "
    "from just before the write to the first HTTP answer containing the token. The bench polls "
    "`GET http://127.0.0.1:<port>/` on a fresh connection every 5 ms, but only while the service container is "
    "up: a thread follows the engine's event stream (docker SDK `events(filters={label: project})`) and "
    "closes the gate on `kill` (SIGTERM/SIGKILL only: devrun's USR2 process restart and HUP keep the container "
    "up), `die` and `stop`, and opens it on `start`. Polling into a stopped container would leave an "
    "unresolved neighbour entry on the bridge and add 0.6-0.7 s to the next connection. Actions are counted "
    "from devrun's `action_finished` JSON events and, for compose, from the engine's events (`start` for "
    "restart/rebuild, `extract-to-dir` for sync, `exec_start` for sync+exec). Compose runs as `docker compose "
    "up -d` then `docker compose watch` (on engine 20.10 `up --watch` stops watching after the first restart). "
    "A miss is an edit not visible within 15 s (60 s for rebuild). In the edit scenarios the projects of all "
    "tools (compose, devrun on its devrun.yaml, devrun on compose's compose.yaml) run at once (separate "
    "projects, ports and files) and take turns edit by edit, so load from anything else on the host falls on "
    "all alike; drip, storm, startup and up run one tool after the other, the command rows take turns "
    "command by command."
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _terminate(signum, frame):  # so `finally` blocks tear everything down
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", default=",".join(ALL), help=f"comma-separated subset of: {','.join(ALL)}")
    p.add_argument(
        "--tools",
        default="compose,devrun," + DEVRUN_COMPOSE,
        help=f"comma-separated: {','.join(TOOLS)} ({DEVRUN_COMPOSE}: devrun on compose's compose.yaml, "
        "edit scenarios only)",
    )
    p.add_argument("--n", type=int, default=15, help="edits per scenario (default 15)")
    p.add_argument(
        "--reps", type=int, default=3, help="repetitions of drip, startup and up (default 3; storm: 2)"
    )
    p.add_argument(
        "--cmd-reps",
        type=int,
        default=15,
        help="runs of each command in `commands` (default 15; down+up: a third)",
    )
    p.add_argument(
        "--idle", type=float, default=60.0, help="idle window for the watcher's CPU (seconds, default 60)"
    )
    p.add_argument("--out", default=str(REPO / "bench" / "results"), help="results directory")
    p.add_argument(
        "--docs", default=str(REPO / "docs" / "benchmarks.md"), help="markdown report to write ('' = none)"
    )
    p.add_argument(
        "--report-only", metavar="RESULTS_JSON", help="only regenerate the markdown from a results file"
    )
    args = p.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [s for s in args.scenarios if s not in ALL] + [t for t in args.tools if t not in TOOLS]
    if bad:
        p.error(f"unknown scenario or tool: {', '.join(bad)}")
    return args


def _versions(client: docker.DockerClient, compose_version: str) -> dict:
    try:
        devrun = subprocess.run(
            [sys.executable, "-m", "devrun", "--version"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        devrun = "unavailable"
    os_name = (
        platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
        if hasattr(platform, "freedesktop_os_release")
        else platform.system()
    )
    return {
        "machine": {"cores": os.cpu_count(), "kernel": platform.release(), "os": os_name},
        "engine_version": client.version().get("Version"),
        "compose_version": compose_version,
        "devrun_version": devrun or "unavailable",
        "devrun_settings": _devrun_settings(),
    }


def _devrun_settings() -> dict:
    try:
        import devrun.watch.watcher as watch
    except ImportError:
        return {}
    names = ("DEFAULT_QUIET", "DEFAULT_DRIP_QUIET", "DEFAULT_MAX_WAIT")
    return {name: getattr(watch, name) for name in names if hasattr(watch, name)}


def _run_step(results: dict, key: str, fn, *path: str) -> None:
    """Run one measurement; a failure is recorded, never fatal to the rest."""
    t0 = time.monotonic()
    try:
        value = fn()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - one broken scenario must not lose the others
        value = {"error": f"{type(e).__name__}: {e}"}
        results["errors"].append(f"{key}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    if isinstance(value, dict):  # per-tool failures inside a combined step
        for tool, sub in value.items():
            if isinstance(sub, dict) and "error" in sub and tool in TOOLS:
                results["errors"].append(f"{key}/{tool}: {sub['error'].splitlines()[0]}")
    node = results
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    log(f"{key}: done in {time.monotonic() - t0:.1f} s: {_short(value)}")


def _short(value) -> str:
    if isinstance(value, dict) and "rows" in value:  # the command rows
        return "; ".join(f"{row} x{commands.row_ratio(v)}" for row, v in value["rows"].items())
    if isinstance(value, dict) and "median_ms" in value:
        return f"median {value['median_ms']} ms, misses {value['misses']}"
    if isinstance(value, dict) and any(isinstance(v, dict) and "median_ms" in v for v in value.values()):
        return "; ".join(f"{tool} {_short(v)}" for tool, v in value.items())
    return json.dumps(value)[:300]


def run(args: argparse.Namespace) -> dict:
    client = docker.from_env(timeout=120)
    compose_version = ensure_compose(log) if "compose" in args.tools else "not run"
    killed = cleanup.kill_leftover_processes()
    removed = cleanup.remove_leftover_projects(client)
    if killed or removed:
        log(f"removed leftovers of an earlier run: processes {killed}, containers {removed}")
    started = time.monotonic()
    results: dict = {
        "meta": {
            **_versions(client, compose_version),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "n": args.n,
            "idle_s": args.idle,
            "tools": args.tools,
            "scenarios": args.scenarios,
            "command": "make bench" if len(sys.argv) == 1 else "python -m bench " + " ".join(sys.argv[1:]),
            "polling": POLLING,
            "loadavg_start": os.getloadavg(),
        },
        "scenarios": {},
        "errors": [],
    }
    workdir = Path(tempfile.mkdtemp(prefix="devrun-bench-"))
    try:
        for name in args.scenarios:
            if name in EDIT_SCENARIOS:
                _run_step(
                    results,
                    name,
                    lambda name=name: _interleaved(name, client, workdir, args),
                    "scenarios",
                    name,
                )
                continue
            if name == "commands":
                if {"devrun", "compose"} <= set(args.tools):
                    _run_step(
                        results,
                        "commands",
                        lambda: commands.measure(client, workdir, args.cmd_reps, max(2, args.cmd_reps // 3)),
                        "commands",
                    )
                continue
            for tool in _plain(args.tools):
                step = _scenario_step(name, tool, client, workdir, args)
                if step is not None:
                    path, fn = step
                    _run_step(results, f"{name}/{tool}", fn, *path)
        if "watcher" in args.scenarios:
            _watcher(results, client, workdir, args)
        if "baseline" in args.scenarios:
            _run_step(results, "baseline", lambda: lifecycle.baseline(client, workdir, args.n), "baseline")
    finally:
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
        cleanup.remove_leftover_projects(client)
    results["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    results["meta"]["loadavg_end"] = os.getloadavg()
    return results


def _plain(tools: list[str]) -> list[str]:
    """The tools of the scenarios other than the edit ones (devrun on its own file, compose)."""
    return [t for t in tools if t != DEVRUN_COMPOSE]


def _interleaved(name: str, client, workdir: Path, args) -> dict:
    """All tools' projects up at once, taking turns edit by edit. devrun-compose is
    skipped (and says why) where devrun's side has no compose-file spelling."""
    skipped = {}
    tools = list(args.tools)
    if DEVRUN_COMPOSE in tools:
        reason = compose_spelling_missing(layout_for(name))
        if reason:
            tools.remove(DEVRUN_COMPOSE)
            skipped[DEVRUN_COMPOSE] = {"skipped": reason}
    with ExitStack() as stack:
        sessions = {
            tool: stack.enter_context(scenarios.session(tool, name, client, workdir))[0] for tool in tools
        }
        return {**scenarios.edits(sessions, args.n), **skipped}


def _scenario_step(name: str, tool: str, client, workdir: Path, args):
    if name in ("drip", "storm"):
        reps = args.reps if name == "drip" else max(1, min(2, args.reps))

        def fn():
            with scenarios.session(tool, name, client, workdir) as (s, _t0, _ready):
                return getattr(scenarios, name)(s, reps)

        path = ("scenarios", name, tool)
    elif name == "startup":

        def fn():
            return lifecycle.startup(tool, client, workdir, args.reps)

        path = ("scenarios", "startup", tool)
    elif name == "up":

        def fn():
            return lifecycle.up_times(tool, client, workdir, args.reps)

        path = ("up", tool)
    else:
        return None
    return path, fn


def _watcher(results: dict, client, workdir: Path, args) -> None:
    tree = workdir / "tree"
    log("watcher: generating the 100,000-file tree")
    info = tree_cost.make_tree(tree)
    results["watcher_cost"] = {"tree": info}
    for tool in _plain(args.tools):
        _run_step(
            results,
            f"watcher/{tool}",
            lambda tool=tool: tree_cost.measure(tool, client, tree, info, args.idle),
            "watcher_cost",
            tool,
        )
    if "devrun" in args.tools and (REPO / "bench" / "watcher_cost.py").exists():
        _run_step(
            results,
            "watcher/devrun-watcher-only",
            lambda: tree_cost.watcher_only(tree, max(10.0, args.idle / 3)),
            "watcher_cost",
            "devrun_watcher_only",
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        results = json.loads(Path(args.report_only).read_text())
    else:
        signal.signal(signal.SIGTERM, _terminate)
        results = run(args)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = out / f"bench-{stamp}.json"
        results["meta"]["results_file"] = (
            str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
        )
        text = json.dumps(results, indent=1)
        path.write_text(text)
        (out / "latest.json").write_text(text)
        log(f"results: {path}")
    if args.docs:
        Path(args.docs).write_text(report.render(results))
        log(f"report: {args.docs}")
    for name, value, ok in report.targets(results):
        log(f"target {'met   ' if ok else 'MISSED' if ok is not None else 'n/a   '} {name}: {value}")
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
