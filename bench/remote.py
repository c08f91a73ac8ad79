"""`make bench-remote`: devrun against `docker compose watch` on a remote engine (issue 13).

Both tools reach the same engine, the test bed's (scripts/remote-engine.sh), over
its shaped link: ssh to the box at 50 ms round trip and 20 Mbit/s each way. In one
run, one tool after the other on the same box:

- edit to visible for sync, restart and signal. compose has no process restart
  and no signal action: its rows are sync, sync+restart (the container) and
  sync+exec `kill -HUP 1`, the closest it offers (`docker compose watch`). devrun's app answers on its port
  forward (127.0.0.1), compose's on the box's published port over the same link;
- ssh connections sshd accepted during those 51 edits (its log's `Accepted` lines);
- the initial sync of a 10,000-file, 100 MB tree: from the command's start until
  every file is in the container (counted inside, through the box's own socket);
  then Ctrl-C, one file edited, the command started again: until that edit is in.

Results: bench/results/remote-*.json, and the "Remote engine" section of
docs/benchmarks.md (bench/remote_report.py)."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import docker

from bench import remote_report
from bench.cleanup import remember
from bench.compose_setup import ensure_compose
from bench.measure import EngineWatch, summarize, wait_for
from bench.projects import free_port
from bench.remote_projects import (
    APP,
    COMPOSE_EDITS,
    COMPOSE_TREE,
    DEVRUN_EDITS,
    DEVRUN_TREE,
    FILES,
    KINDS,
    TREE_DIRS,
    TREE_FILES,
    fill,
    make_tree,
)

REPO = Path(__file__).resolve().parent.parent
BED = REPO / "scripts" / "remote-engine.sh"
TREE_TIMEOUT_S = 900
PAUSE_S = 1.0  # between one edit being visible and the next


def log(msg: str) -> None:
    print(f"bench-remote: {msg}", file=sys.stderr, flush=True)


@contextmanager
def bed_lease() -> Iterator[None]:
    """A share of the bed, as each test session holds one (tests/remote_bed.py):
    the last one out stops it, so a test run ending meanwhile leaves it up."""
    state = Path(os.environ.get("DEVRUN_REMOTE_STATE", "/var/lib/devrun-remote"))
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lease", "a+") as lease:
        fcntl.flock(lease, fcntl.LOCK_SH)
        try:
            yield
        finally:
            try:
                if os.environ.get("DEVRUN_REMOTE_KEEP") == "1":
                    raise BlockingIOError
                fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                subprocess.run(["bash", str(BED), "stop"], capture_output=True, timeout=120)


def bed_env() -> dict[str, str]:
    r = subprocess.run(["bash", str(BED), "start", "--quiet"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"bench-remote: the remote-engine bed did not start: {r.stderr.strip()}")
    return dict(
        line.removeprefix("export ").split("=", 1)
        for line in r.stdout.splitlines()
        if line.startswith("DEVRUN_")
    )


class Tool:
    """One tool's `up` (watching) on the box, as a subprocess."""

    def __init__(self, name: str, folder: Path, project: str, env: dict[str, str]):
        self.name, self.folder, self.project = name, folder, project
        self.env = {**os.environ, "NO_COLOR": "1", "COMPOSE_MENU": "false", **env}
        self.proc: subprocess.Popen | None = None

    @property
    def label(self) -> str:
        key = "dev.devrun.project" if self.name == "devrun" else "com.docker.compose.project"
        return f"{key}={self.project}"

    def up(self) -> None:
        argv = (
            [sys.executable, "-m", "devrun", "up", "--json", "--no-tui", "-p", self.project]
            if self.name == "devrun"
            else ["docker", "compose", "-p", self.project, "watch"]
        )
        self.log = self.folder / f"{self.project}.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        remember(self.proc.pid)

    def interrupt(self) -> None:
        """Ctrl-C, as a person stops it; its containers stay."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def check_running(self) -> None:
        """Raise, with the last lines it printed, if the tool's `up` has ended."""
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").splitlines()[-8:]
            raise RuntimeError(f"{self.name} up ended (exit {self.proc.returncode}): " + " | ".join(tail))

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        argv = (
            [sys.executable, "-m", "devrun", "down", "-v", "-p", self.project]
            if self.name == "devrun"
            else ["docker", "compose", "-p", self.project, "down", "-v", "-t", "1"]
        )
        subprocess.run(argv, cwd=self.folder, env=self.env, capture_output=True, timeout=120)


def ssh_accepted(env: dict[str, str]) -> int:
    try:
        return Path(env["DEVRUN_REMOTE_SSHD_LOG"]).read_text(errors="replace").count("Accepted publickey")
    except OSError:
        return 0


def edits(tool: str, env: dict, box: docker.DockerClient, tool_env: dict, workdir: Path, n: int) -> dict:
    folder = workdir / f"edits-{tool}"
    (folder / "code").mkdir(parents=True)
    for kind, name in FILES.items():
        (folder / "code" / name).write_text(f"{kind}0\n")
    (folder / "code" / "server.py").write_text(APP)
    port = free_port()
    (folder / "compose.yaml").write_text(fill(DEVRUN_EDITS if tool == "devrun" else COMPOSE_EDITS, port))
    host = "127.0.0.1" if tool == "devrun" else env["DEVRUN_REMOTE_SHAPED_ADDR"]
    t = Tool(tool, folder, f"br{tool[:2]}{uuid.uuid4().hex[:6]}", tool_env)
    watch = EngineWatch(t.label)
    watch.start(box)
    sessions_before = ssh_accepted(env)
    t0 = time.monotonic()
    t.up()
    try:
        if wait_for(port, "page=", watch.gate, 120, host=host) is None:
            t.check_running()
            raise RuntimeError(f"{tool}: the app never answered at {host}:{port}")
        started_s = time.monotonic() - t0
        time.sleep(1.0)  # compose's watch starts after the app answers
        latencies: dict[str, list[float | None]] = {k: [] for k in KINDS}
        during = ssh_accepted(env)
        for i in range(n):
            kind = KINDS[i % len(KINDS)]
            token = f"{kind}{uuid.uuid4().hex[:8]}"
            w0 = time.monotonic()
            (folder / "code" / FILES[kind]).write_text(token + "\n")
            seen = wait_for(port, f"={token}", watch.gate, 30, host=host)
            if seen is None:
                t.check_running()
            latencies[kind].append(round((seen - w0) * 1000, 1) if seen else None)
            # a person's pace: edits closer than devrun's drip gap (0.5 s after the
            # last batch) are taken for a tool's trickle and wait 0.5 s of quiet
            time.sleep(PAUSE_S)
        return {
            "start_s": round(started_s, 2),
            "edits": n,
            "ssh_connections_during_edits": ssh_accepted(env) - during,
            "ssh_connections_whole_run": ssh_accepted(env) - sessions_before,
            "kinds": {k: summarize(v) for k, v in latencies.items()},
        }
    finally:
        watch.close()
        t.down()


def initial_sync(tool: str, box: docker.DockerClient, tool_env: dict, folder: Path) -> dict:
    """`folder` holds ./tree; each tool in turn gets its compose.yaml there.
    Then the tool is stopped (Ctrl-C), one file is edited, and it is started
    again: how long until that edit is in the container ("Ctrl-C, edit, up")."""
    (folder / "compose.yaml").write_text(fill(DEVRUN_TREE if tool == "devrun" else COMPOSE_TREE))
    t = Tool(tool, folder, f"bt{tool[:2]}{uuid.uuid4().hex[:6]}", tool_env)
    want = TREE_DIRS * TREE_FILES
    t0 = time.monotonic()
    t.up()
    try:
        count = 0
        while (count := _count(box, t.label)) < want and time.monotonic() < t0 + TREE_TIMEOUT_S:
            time.sleep(0.5)
        if count < want:
            return {"files": count, "seconds": None, "timeout_s": TREE_TIMEOUT_S}
        out = {"files": count, "seconds": round(time.monotonic() - t0, 1)}
        t.interrupt()
        token = uuid.uuid4().hex
        edited = folder / "tree" / "pkg050" / "mod050.py"
        edited.write_text(f"# {token}\n" + edited.read_text())
        t1 = time.monotonic()
        t.up()
        while time.monotonic() < t1 + TREE_TIMEOUT_S:
            if _has(box, t.label, "/tree/pkg050/mod050.py", token):
                out["again_s"] = round(time.monotonic() - t1, 1)
                break
            time.sleep(0.25)
        return out
    finally:
        t.down()


def _count(box: docker.DockerClient, label: str) -> int:
    found = box.containers.list(filters={"label": label})
    if not found:
        return 0
    code, out = found[0].exec_run(["sh", "-c", "find /tree -type f 2>/dev/null | wc -l"])
    return int(out.decode().strip() or 0) if code == 0 else 0


def _has(box: docker.DockerClient, label: str, path: str, text: str) -> bool:
    found = box.containers.list(filters={"label": label})
    return bool(found) and found[0].exec_run(["grep", "-q", text, path])[0] == 0


def main(argv: list[str] | None = None) -> int:
    with bed_lease():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.remote", description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=51, help="edits per tool, cycling sync, restart, signal")
    ap.add_argument("--no-tree", action="store_true", help="skip the 10,000-file initial sync")
    ap.add_argument("--no-edits", action="store_true", help="skip the edits")
    ap.add_argument("--tools", nargs="+", default=["devrun", "compose"], choices=["devrun", "compose"])
    ap.add_argument(
        "--keep", action="store_true", help="keep the work folder (the tools' logs) and say where"
    )
    ap.add_argument(
        "--docs", default=str(REPO / "docs" / "benchmarks.md"), help="report into this file ('' for none)"
    )
    args = ap.parse_args(argv)
    compose_version = ensure_compose(log)
    env = bed_env()
    box = docker.DockerClient(base_url=env["DEVRUN_REMOTE_SOCKET"], timeout=120)
    # compose's docker CLI would ask the box for API 1.50; the bed's engine speaks 1.41
    tool_env = {
        "DOCKER_HOST": env["DEVRUN_REMOTE_SHAPED_SSH"],
        "DOCKER_API_VERSION": box.version()["ApiVersion"],
    }
    results: dict = {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "engine": box.version()["Version"],
            "compose_version": compose_version,
            "link": f"{env['DEVRUN_REMOTE_SHAPED_SSH']} ({env.get('DEVRUN_REMOTE_LINK')}: 50 ms round trip, 20 Mbit/s)",
            "command": "make bench-remote",
            "loadavg_start": os.getloadavg(),
        },
        "edits": {},
        "tree": {},
        "errors": [],
    }
    workdir = Path(tempfile.mkdtemp(prefix="devrun-bench-remote-"))
    started = time.monotonic()
    try:
        for tool in () if args.no_edits else args.tools:
            log(f"{tool}: {args.edits} edits over the shaped link")
            try:
                results["edits"][tool] = edits(tool, env, box, tool_env, workdir, args.edits)
            except Exception as e:  # noqa: BLE001 - one tool's failure is a result, the run goes on
                results["errors"].append(f"edits/{tool}: {e}")
        if not args.no_tree:
            folder = workdir / "tree-project"
            log(f"writing the tree ({make_tree(folder / 'tree') / 1e6:.1f} MB)")
            for tool in args.tools:
                log(f"{tool}: initial sync of the tree")
                try:
                    results["tree"][tool] = initial_sync(tool, box, tool_env, folder)
                except Exception as e:  # noqa: BLE001
                    results["errors"].append(f"tree/{tool}: {e}")
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
    results["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    results["meta"]["loadavg_end"] = os.getloadavg()
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results["meta"]["results_file"] = f"bench/results/remote-{stamp}.json"
    text = json.dumps(results, indent=1)
    (out / f"remote-{stamp}.json").write_text(text)
    (out / "remote-latest.json").write_text(text)
    if args.docs:
        remote_report.write_into(Path(args.docs), results)
    for line in remote_report.summary(results):
        log(line)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
