"""Watcher cost on a generated 100,000-file tree, most of it in ignored directories
(node_modules/, packages/*/node_modules/, .venv/): launch to watching, inotify
watches held, threads, RSS and CPU seconds over an idle window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import yaml

from bench.app import APP_PATH, APP_SOURCE, IMAGE, PORT
from bench.measure import EngineWatch, wait_for
from bench.projects import LAYOUTS, Project, free_port
from bench.tools import DRIVERS

IGNORED = ["node_modules/", "**/node_modules/", ".venv/"]
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _files(root: Path, dirs: int, per_dir: int) -> int:
    for d in range(dirs):
        sub = root / f"d{d:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in range(per_dir):
            (sub / f"f{f:03d}.js").touch()
    return dirs * per_dir


def make_tree(root: Path) -> dict:
    """~100,000 files: 60k in node_modules/, 24k in packages/*/node_modules/,
    15k in .venv/, and ~1,100 kept source files in ~130 kept directories."""
    total = 0
    for pkg in range(1500):  # node_modules/pkgNNNN/{lib,dist}: 40 files per package
        total += _files(root / "node_modules" / f"pkg{pkg:04d}", 2, 20)
    for p in range(20):  # packages/pNN/{src, node_modules}
        total += _files(root / "packages" / f"p{p:02d}" / "node_modules", 80, 15)
        total += _files(root / "packages" / f"p{p:02d}" / "src", 1, 10)
    total += _files(root / ".venv" / "lib" / "python3.11" / "site-packages", 750, 20)
    total += _files(root / "src", 100, 9)
    (root / ".gitignore").write_text("".join(line + "\n" for line in IGNORED))
    (root / ".dockerignore").write_text("node_modules\n**/node_modules\n.venv\n")
    return {"files": total, "kept_dirs": kept_dirs(root)}


def kept_dirs(root: Path) -> int:
    count = 0
    for _dirpath, dirnames, _files in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("node_modules", ".venv", ".git")]
        count += 1
    return count


def write_configs(root: Path, name: str, port: int) -> None:
    svc = {
        "image": IMAGE,
        "init": True,
        "command": ["python3", "-u", APP_PATH],
        "ports": [f"127.0.0.1:{port}:{PORT}"],
        "volumes": [f"./app.py:{APP_PATH}:ro"],
        "environment": {"APP_MODE": "live"},
    }
    rule = {"path": ".", "action": "restart", "ignore": IGNORED}
    (root / "app.py").write_text(APP_SOURCE)
    (root / "compose.yaml").write_text(
        yaml.safe_dump({"services": {"app": {**svc, "develop": {"watch": [rule]}}}})
    )
    (root / "devrun.yaml").write_text(
        yaml.safe_dump({"name": name, "services": {"app": {**svc, "watch": [rule]}}})
    )


def process_stats(pid: int) -> dict:
    """inotify watches (lines 'inotify wd:' over all fds), threads, RSS, CPU seconds."""
    watches = 0
    for fdinfo in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            watches += sum(1 for line in fdinfo.read_text().splitlines() if line.startswith("inotify wd:"))
        except OSError:
            continue
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / _CLK_TCK  # utime + stime
    return {
        "inotify_watches": watches,
        "threads": int(status["Threads"].strip()),
        "rss_mb": round(int(status["VmRSS"].split()[0]) / 1024, 1),
        "cpu_s": cpu,
    }


def measure(tool: str, client: docker.DockerClient, tree: Path, tree_info: dict, idle: float) -> dict:
    name = f"benchtree{tool[:2]}{uuid.uuid4().hex[:6]}"
    port = free_port()
    write_configs(tree, name, port)
    driver = DRIVERS[tool](Project(tool, name, tree, port, LAYOUTS["restart"]), client)
    engine = EngineWatch(driver.label)
    engine.start(client)
    try:
        # containers first, so "to watching" is the watching command's own start-up for both tools
        # (compose: `watch`; devrun: `up --json` finding everything running and unchanged)
        driver.up_detached()
        t0, ready = driver.start_watch(timeout=180)
        if ready is None:
            tail = driver.watcher.tail() if driver.watcher else ""
            return {"error": f"{tool} did not start watching the tree; last output:\n{tail}"}
        pid = driver.watcher_pid()
        wait_for(port, "value=", engine.gate, 30)
        time.sleep(2)  # let start-up work finish before the idle window
        before = process_stats(pid)
        time.sleep(idle)
        after = process_stats(pid)
        cpu = after["cpu_s"] - before["cpu_s"]
        return {
            "launch_to_watching_ms": round((ready - driver.watch_launched) * 1000, 1),
            "inotify_watches": after["inotify_watches"],
            "threads": after["threads"],
            "rss_mb": after["rss_mb"],
            "idle_window_s": idle,
            "idle_cpu_s": round(cpu, 3),
            "idle_cpu_pct_of_core": round(100 * cpu / idle, 3),
            "watches_over_kept_dirs": round(after["inotify_watches"] / tree_info["kept_dirs"], 2),
        }
    finally:
        engine.close()
        driver.down()


def watcher_only(tree: Path, idle: float) -> dict:
    """devrun's Watcher alone on the same tree, via bench/watcher_cost.py in its own process."""
    code = (
        "import json, sys; from pathlib import Path; from bench.watcher_cost import measure_cost; "
        "print(json.dumps(measure_cost(Path(sys.argv[1]), float(sys.argv[2]))))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tree), str(idle)],
        capture_output=True,
        text=True,
        timeout=idle + 180,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if res.returncode != 0:
        raise RuntimeError(f"bench/watcher_cost.py failed: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])
