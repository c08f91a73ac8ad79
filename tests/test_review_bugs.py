"""Regressions for bugs found by a fresh-eyes review, each on the real engine
where the behaviour depends on Docker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devrun.errors import UsageError
from tests.conftest import BUSYBOX, devrun
from tests.live_helpers import DevrunUp, free_port, wait_until

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


def test_reload_to_a_taken_port_keeps_the_running_container(tmp_path: Path, project_name, docker_client):
    """Changing `ports:` to a port something else holds used to remove the
    running container first and then fail, leaving the service down."""
    port, taken = free_port(), socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()

    def config(published: int) -> str:
        return f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    ports: ["{published}:80"]
"""

    (tmp_path / "devrun.yaml").write_text(config(port))
    with taken, DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        before = docker_client.containers.get(f"{project_name}-app").id
        (tmp_path / "devrun.yaml").write_text(config(taken.getsockname()[1]))
        err = up.wait_for("error", timeout=30)[-1]
        assert "already in use" in err["message"]
        time.sleep(0.3)
        app = docker_client.containers.get(f"{project_name}-app")
        assert app.id == before and app.status == "running"
        assert up.proc.poll() is None


def test_down_while_up_runs_stops_the_up_instead_of_being_undone(tmp_path: Path, project_name, docker_client):
    """`devrun down` while `devrun up` ran: up saw its containers go, recreated
    the `restart: always` one (and the network) and never ended."""
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    restart: always
""")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        down = subprocess.run(
            [sys.executable, "-m", "devrun", "down", "-p", project_name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert down.returncode == 0, down.stderr
        assert up.proc.wait(20) == 0, up.tail()
    label = f"dev.devrun.project={project_name}"
    assert docker_client.containers.list(all=True, filters={"label": label}) == []
    assert docker_client.networks.list(filters={"label": label}) == []


def test_logs_tail_refuses_what_the_engine_would_read_as_all(tmp_path: Path):
    from devrun.cli_run import tail_lines

    assert tail_lines("5") == "5" and tail_lines("0") == "0" and tail_lines("ALL") == "all"
    for bad in ("abc", "-3", "1.5", ""):
        with pytest.raises(UsageError, match="--tail"):
            tail_lines(bad)
    res = subprocess.run(
        [sys.executable, "-m", "devrun", "logs", "--tail", "abc"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (
        res.returncode == 2
        and res.stderr.strip() == "devrun: --tail abc: give a number of lines (0 or more) or 'all'"
    )


@pytest.mark.parametrize(
    ("svc", "has_shell", "says"),
    [
        ({"restart_mode": "process"}, False, "has no /bin/sh"),
        ({"watch": [{"path": ".", "action": "restart"}]}, False, "has no /bin/sh"),
        (
            {"restart_mode": "process", "watch": [{"path": ".", "action": "signal", "signal": "USR2"}]},
            True,
            "SIGUSR2",
        ),
        ({"restart_mode": "process"}, True, None),  # gets what it asked for
        ({"restart_mode": "container"}, False, None),  # asked for container restarts
        ({}, False, None),  # auto, nothing restarts: nothing to say
    ],
)
def test_process_restart_fallback_is_said(svc, has_shell, says):
    """`restart_mode: process` on an image without /bin/sh silently became
    container restarts; design.md promises devrun says so."""
    from devrun import plan
    from devrun.config import Project

    service = Project.model_validate({"services": {"s": {"image": "scratch-app", **svc}}}).services["s"]
    note = plan.restart_mode_note(
        "s", service, plan.ImageInfo("scratch-app", "sha256:1", has_shell=has_shell)
    )
    assert (note is None) if says is None else (says in note and note.startswith("service s:"))


def test_rebuild_rule_on_a_service_without_build_is_a_config_error(tmp_path: Path):
    """It used to be accepted and each change reported `rebuild done` while
    nothing was rebuilt (compose refuses it too)."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "devrun.yaml").write_text(f"""services:
  web:
    image: {BUSYBOX}
    watch:
      - path: conf
        action: rebuild
""")
    res = devrun("config", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "devrun.yaml:6:17: services.web.watch[0].action: action rebuild needs `build:` on the service (an image is not rebuilt); "
        "add `build:` or use restart"
    ]


def test_bind_echo_finds_a_sync_that_lands_on_its_own_watched_files():
    from devrun.config import MountSpec as Mount
    from devrun.sync import bind_echo

    bind = [Mount(type="bind", source="/p/www", target="/www")]
    assert bind_echo("/www", ["/p/www"], bind) == "/p/www"
    assert bind_echo("/www/sub", ["/p/www"], bind) == "/p/www/sub"
    assert bind_echo("/www", ["/p"], bind) == "/p/www"  # lands inside the watched tree: still a loop
    assert (
        bind_echo("/www", ["/p/*/src"], [Mount(type="bind", source="/p/a/src", target="/www")]) == "/p/a/src"
    )
    assert bind_echo("/other", ["/p/www"], bind) is None
    assert bind_echo("/www", ["/p/elsewhere"], bind) is None
    assert bind_echo("/www", ["/p/www"], [Mount(type="volume", source="data", target="/www")]) is None


def test_sync_restart_over_a_bind_mount_of_the_same_folder_acts_once(tmp_path: Path, project_name):
    """Each copy landed on the watched host file through the bind mount and
    was synced (and restarted) again: an endless restart loop."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "a").write_text("1")
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  web:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    volumes: ["./www:/www"]
    watch:
      - path: www
        action: sync+restart
        target: /www
""")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        assert any("bind-mounted" in w["message"] for w in up.of("warning"))
        (tmp_path / "www" / "a").write_text("2")
        up.wait_for("action_finished", timeout=20, service="web", action="restart (process)")
        assert up.settle(quiet=1.5) == 2, up.actions()  # the skipped sync, then one restart
        assert [a["action"] for a in up.actions()] == ["sync (skipped: bind-mounted)", "restart (process)"]


def test_up_of_one_service_does_not_wait_on_health_only_its_dependents_need(tmp_path: Path, project_name):
    """`devrun up db` waited for db's health (and failed on a bad healthcheck)
    because web, which was not being started, depends on it healthy."""
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  db:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    healthcheck: {{test: "false", interval: 100ms, retries: 1}}
  web:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    depends_on: {{db: {{condition: service_healthy}}}}
""")
    alone = devrun("up", "-d", "-p", project_name, "db", cwd=tmp_path, timeout=60)
    assert alone.returncode == 0, alone.stderr
    assert "healthy" not in alone.stdout + alone.stderr
    with_web = devrun("up", "-d", "-p", project_name, "web", cwd=tmp_path, timeout=60)
    assert with_web.returncode == 1 and "did not become healthy" in with_web.stderr


def test_exec_into_a_stopped_service_says_what_to_do(tmp_path: Path, project_name, docker_client):
    """It printed the engine's 'Container <64 hex> is not running'."""
    (tmp_path / "devrun.yaml").write_text(f"services:\n  app:\n    image: {BUSYBOX}\n    command: ['true']\n")
    assert devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=60).returncode == 0
    docker_client.containers.get(f"{project_name}-app").wait(timeout=10)
    res = devrun("exec", "-p", project_name, "app", "ls", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip() == "devrun: app is not running (exited); start it with `devrun up app`"


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


def test_logs_follow_carries_on_across_a_container_restart(tmp_path: Path, project_name, docker_client):
    """`devrun logs -f` ended at the first container restart (the engine ends
    a follow when the container stops); now it picks the container up again,
    and ends when the service has no container any more (`devrun down`)."""
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    command: ["sh", "-c", "echo hello; exec sleep 1000"]
    restart_mode: container
""")
    assert devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=60).returncode == 0
    follow = subprocess.Popen(
        [sys.executable, "-m", "devrun", "logs", "-f", "-p", project_name],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline().strip() == "app    | hello"
        docker_client.containers.get(f"{project_name}-app").restart(timeout=1)
        assert follow.stdout.readline().strip() == "app    | hello"  # the restarted container's line
        assert devrun("down", "-p", project_name, cwd=tmp_path, timeout=60).returncode == 0
        assert follow.wait(10) == 0
    finally:
        follow.kill()


def test_init_restart_rule_leaves_dotenv_to_the_config_reload(tmp_path: Path):
    """An .env edit both reloaded the config (recreate) and fired the `.` restart rule."""
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nWORKDIR /app\nCOPY . .\n")
    assert devrun("init", cwd=tmp_path).returncode == 0
    import yaml

    restart = yaml.safe_load((tmp_path / "devrun.yaml").read_text())["services"]["app"]["watch"][0]
    assert restart["path"] == "." and {".env", "devrun.yaml"} <= set(restart["ignore"])
