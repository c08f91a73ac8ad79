"""Crashes under a real `devrun up`: a container that dies at start is reported
with its exit code and last log lines; `restart: on-failure` is the engine's
own policy, which restarts it with its backoff (0.1 s doubling) while devrun
reports each exit, without flooding the log or spinning the CPU; without a policy it stays down while the other services and
the watcher carry on; and saving the fix after a crash starts the app again."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from devrun.session.restart_policy import BACKOFF_MAX, restart_delay
from tests.conftest import BUSYBOX
from tests.live_helpers import DevrunUp, wait_until

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
CRASH = ["sh", "-c", "echo booting; echo 'fatal: no config at /etc/app.conf' >&2; exit 3"]


def seconds(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def test_restart_delay_is_capped_exponential():
    assert [restart_delay("on-failure", 1, a) for a in range(7)] == [1, 2, 4, 8, 16, BACKOFF_MAX, BACKOFF_MAX]
    assert restart_delay("on-failure", 0, 0) is None  # a clean exit is not a failure
    assert restart_delay("no", 1, 0) is None
    assert restart_delay("always", 0, 2) == 4


def test_crash_loop_is_reported_and_backs_off(tmp_path, project_name):
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  crash:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(CRASH)}
    restart: on-failure
    stop_grace_period: 1s
""")
    with DevrunUp(tmp_path, project_name) as up:
        first = up.wait_for("container_exited", timeout=60)[0]
        assert first["service"] == "crash" and first["exit_code"] == 3
        assert "fatal: no config at /etc/app.conf" in first["last_lines"], first
        cpu_at_first = cpu_seconds(up.proc.pid)
        exits = up.wait_for("container_exited", count=4, timeout=20)
        cpu_used = cpu_seconds(up.proc.pid) - cpu_at_first
        times = [seconds(e["ts"]) for e in exits[:4]]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # the engine's backoff doubles (0.1, 0.2, 0.4 s, plus a start each)
        assert gaps[2] > gaps[0], gaps
        assert all(e["exit_code"] == 3 for e in exits)
        # no flood: two log lines per run, one line per exit saying the engine restarts it
        logs = up.of("log", service="crash")
        assert len(logs) <= 2 * len(up.of("container_exited")) + 2, len(logs)
        plans = [e["message"] for e in up.of("info") if "restarts crash" in e["message"]]
        assert plans[:3] == ["the engine restarts crash (restart: on-failure)"] * 3
        # devrun never starts it itself (the engine would be racing it)
        assert not [e for e in up.of("info") if "restarting crash in" in e["message"]]
        # the crash loop: devrun only reports
        assert cpu_used < 1.0, cpu_used
        print(
            f"backoff gaps {[round(g, 2) for g in gaps]} s, devrun CPU {cpu_used:.2f} s over {times[3] - times[0]:.1f} s"
        )


def test_without_restart_policy_it_stays_down_and_the_rest_keeps_running(
    tmp_path, project_name, docker_client
):
    (tmp_path / "src").mkdir()
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  crash:
    image: {BUSYBOX}
    init: true
    command: ["sh", "-c", "echo bye; exit 5"]
    stop_grace_period: 1s
  app:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(IDLE)}
    stop_grace_period: 1s
    watch:
      - path: src
        action: sync
        target: /src
""")
    with DevrunUp(tmp_path, project_name) as up:
        ev = up.wait_for("container_exited", timeout=60, service="crash")[0]
        assert ev["exit_code"] == 5 and ev["last_lines"] == ["bye"]
        up.wait_for("ready", timeout=30)
        (tmp_path / "src" / "a.txt").write_text("after the crash")
        up.wait_for("action_finished", service="app", timeout=15)
        app = docker_client.containers.get(f"{project_name}-app")
        assert app.exec_run(["cat", "/src/a.txt"]).output == b"after the crash"
        time.sleep(1.5)  # longer than the first backoff: nothing restarts it
        crash = docker_client.containers.get(f"{project_name}-crash")
        assert crash.status == "exited" and crash.attrs["State"]["ExitCode"] == 5
        assert len(up.of("container_exited")) == 1
        assert not [e for e in up.of("info") if "restarting" in e["message"]]
        assert up.proc.poll() is None
        wait_until(lambda: app.reload() or app.status == "running", 5, what="app running")


@pytest.mark.parametrize("action", ["restart", "signal"])
def test_saving_the_fix_after_a_crash_starts_the_app_again(
    tmp_path: Path, project_name, docker_client, action
):
    """The everyday loop: a bad edit crashes the app, the fixed file is saved.
    The restart (SIGUSR2) or signal (SIGHUP) failed with 'Container ... is not
    running' and the app stayed down."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.sh").write_text("echo first; exec sleep 1000\n")
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    command: ["sh", "/src/app.sh"]
    volumes: ["./src:/src"]
    watch:
      - path: src
        action: {action}
""")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        (src / "app.sh").write_text("exit 3\n")
        if action == "signal":  # a HUP does not crash it: stop it the way the bad edit would
            docker_client.containers.get(f"{project_name}-app").kill("SIGKILL")
        up.wait_for("container_exited", timeout=20)
        (src / "app.sh").write_text("echo fixed; exec sleep 1000\n")
        ok = [
            a
            for a in up.wait_for("action_finished", timeout=20, count=2 if action == "restart" else 1)
            if a["ok"]
        ]
        assert ok, up.tail()
        wait_until(
            lambda: docker_client.containers.get(f"{project_name}-app").status == "running",
            10,
            what="app running",
        )
        wait_until(
            lambda: any(e.get("line") == "fixed" for e in up.of("log")), 10, what="the fixed app's log line"
        )
