"""What devrun's file watcher costs on a big tree, and how long editor saves take.

    python -m bench.watcher_cost [--idle 60] [--root DIR] [--saves]

Generates ~100,000 empty files, most in ignored directories (top-level
node_modules/, packages/*/node_modules/, .venv/), starts a Watcher on it and
prints one JSON line: time to ready, inotify watches held (from
/proc/self/fdinfo), kept directories, threads, RSS, CPU seconds while idle.
With --saves it also prints, per editor save pattern, the span between the
first and the last inotify event of one save (what the quiet period must cover).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

IGNORED_DIRS = ("node_modules", ".venv")


def _empty_files(folder: str, count: int) -> None:
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        os.close(os.open(f"{folder}/f{i:03d}.js", os.O_CREAT | os.O_WRONLY, 0o644))


def generate_tree(root: Path) -> dict[str, int]:
    """100,000 files in ~5,000 ignored dirs and ~150 kept dirs; returns counts."""
    r = str(root)
    for i in range(2500):  # node_modules/pNNNN/lib: 50,000 files
        _empty_files(f"{r}/node_modules/p{i:04d}/lib", 20)
    for p in range(20):  # packages/pNN/node_modules/...: 30,000 files
        for i in range(75):
            _empty_files(f"{r}/packages/p{p:02d}/node_modules/m{i:02d}", 20)
        _empty_files(f"{r}/packages/p{p:02d}/src", 5)
    for i in range(1000):  # .venv/lib/python3.11/site-packages/...: 20,000 files
        _empty_files(f"{r}/.venv/lib/python3.11/site-packages/m{i:04d}", 20)
    for i in range(80):
        _empty_files(f"{r}/src/mod{i:02d}", 5)
    Path(r, ".gitignore").write_text("node_modules/\n.venv/\n")
    files = dirs = kept = 0
    for dirpath, _dirnames, filenames in os.walk(r):
        dirs += 1
        files += len(filenames)
        if not any(part in IGNORED_DIRS for part in dirpath[len(r) :].split("/")):
            kept += 1
    return {"files": files, "dirs": dirs, "kept_dirs": kept}


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measure_cost(root: Path, idle: float) -> dict:
    from devrun.watch.watcher import Watcher, WatchSpec, count_inotify_watches

    warnings: list[str] = []
    before = count_inotify_watches()
    threads_before = threading.active_count()
    watcher = Watcher([WatchSpec("app", 0, [str(root)])], lambda _b: None, on_warning=warnings.append)
    t0 = time.perf_counter()
    watcher.start()
    ready_s = time.perf_counter() - t0
    watches = count_inotify_watches() - before
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(idle)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    result = {
        "ready_s": round(ready_s, 4),
        "inotify_watches": watches,
        "watcher_threads": threading.active_count() - threads_before,
        "process_threads": _proc_status("Threads"),
        "rss_mb": round(_proc_status("VmRSS") / 1024, 1),
        "idle_s": idle,
        "idle_cpu_s": round(cpu, 4),
        "idle_cpu_pct": round(100 * cpu / idle, 3) if idle else None,
        "stats": watcher.stats(),
        "warnings": warnings,
    }
    watcher.stop()
    return result


# -- editor save patterns (also used by tests/test_watch.py) ------------------


def save_in_place(f: Path) -> None:
    f.write_text(f.read_text().replace("v1", "v2"))


def save_by_rename(f: Path) -> None:
    tmp = f.with_name(f".{f.name}.tmp{os.getpid()}")
    tmp.write_text(f.read_text().replace("v1", "v2"))
    os.replace(tmp, f)


def save_like_vim(f: Path) -> None:
    """Real vim when installed (backup-and-rename: 4913 probe, file~ backup)."""
    if shutil.which("vim"):
        cmd = [
            "vim",
            "-u",
            "NONE",
            "-N",
            "-es",
            "-c",
            "set nobackup writebackup backupcopy=no",
            "-c",
            "%s/v1/v2/",
            "-c",
            "wq",
            str(f),
        ]
        subprocess.run(cmd, check=True, timeout=10)
        return
    text = f.read_text().replace("v1", "v2")
    probe = f.with_name("4913")
    probe.write_text("")
    probe.unlink()
    backup = f.with_name(f.name + "~")
    os.rename(f, backup)
    f.write_text(text)
    backup.unlink()


def save_like_jetbrains(f: Path) -> None:
    tmp, old = f.with_name(f.name + "___jb_tmp___"), f.with_name(f.name + "___jb_old___")
    tmp.write_text(f.read_text().replace("v1", "v2"))
    os.rename(f, old)
    os.rename(tmp, f)
    old.unlink()


def save_with_sed(f: Path) -> None:
    subprocess.run(["sed", "-i", "s/v1/v2/", str(f)], check=True, timeout=10)


SAVES: dict[str, Callable[[Path], None]] = {
    "in_place": save_in_place,
    "rename_over": save_by_rename,
    "vim": save_like_vim,
    "jetbrains": save_like_jetbrains,
    "sed_i": save_with_sed,
}


def measure_save_spans(rounds: int = 20) -> dict[str, dict[str, float]]:
    """Max and median ms between the first and last inotify event of one save."""
    from watchdog.observers.inotify_c import InotifyFD

    from devrun.watch.watcher import DIR_MASK

    stamps: list[float] = []

    class Recorder:
        def on_event(self, _event) -> None:
            stamps.append(time.perf_counter())

        def on_watch_deleted(self, _wd) -> None: ...

        def on_queue_overflow(self) -> None: ...

    out = {}
    with tempfile.TemporaryDirectory() as d:
        fd = InotifyFD()
        fd.start()
        fd.add_callback(os.fsencode(d), DIR_MASK, Recorder(), 0)
        f = Path(d) / "app.py"
        for name, save in SAVES.items():
            spans = []
            for _ in range(rounds):
                f.write_text("v1\n")
                time.sleep(0.05)
                stamps.clear()
                save(f)
                time.sleep(0.05)
                spans.append((stamps[-1] - stamps[0]) * 1000 if stamps else 0.0)
            spans.sort()
            out[name] = {"max_ms": round(spans[-1], 2), "median_ms": round(spans[len(spans) // 2], 2)}
        fd.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=60.0, help="idle window for CPU (seconds)")
    parser.add_argument("--root", help="generate the tree here (default: a temp dir, removed after)")
    parser.add_argument("--saves", action="store_true", help="also time editor save patterns")
    args = parser.parse_args()
    root = Path(args.root or tempfile.mkdtemp(prefix="devrun-tree-"))
    try:
        t0 = time.perf_counter()
        counts = generate_tree(root)
        result = {"tree": counts, "generate_s": round(time.perf_counter() - t0, 2)}
        result.update(measure_cost(root, args.idle))
        if args.saves:
            result["save_spans"] = measure_save_spans()
        print(json.dumps(result))
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
