"""devrun up / down / ps / exec on the real engine, through the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import BUSYBOX, devrun

from tests.live_helpers import IDLE, DevrunUp

pytestmark = pytest.mark.docker

DB_WEB = """
name: {name}
services:
  db:
    image: {image}
    environment: {{DB_MODE: "{mode}"}}
    command: ["sh", "-c", "[ -f /data/v ] || cat /proc/sys/kernel/random/uuid > /data/v; exec httpd -f -p 80 -h /data"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost/v"]
      interval: 0.2s
  web:
    image: {image}
    environment: {{WEB_MODE: "{web_mode}"}}
    command: ["sh", "-c", "echo from-db $(wget -q -O- http://db/v); mkdir -p /www; echo hi > /www/index.html; exec httpd -f -p 8000 -h /www"]
    ports: ["{port}:8000"]
    volumes: ["./src:/src"]
    depends_on:
      db: {{condition: service_healthy}}
volumes:
  data:
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def project(tmp_project, project_name):
    port = free_port()

    def write(mode: str = "a", web_mode: str = "a"):
        return tmp_project(
            DB_WEB.format(name=project_name, image=BUSYBOX, mode=mode, web_mode=web_mode, port=port),
            {"src/msg.txt": "first\n"},
        )

    write.port = port
    return write


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def ps(cwd) -> dict[str, dict]:
    return {row["service"]: row for row in json.loads(ok(devrun("ps", "--json", cwd=cwd)))}


def exec_out(cwd, service: str, *cmd: str) -> str:
    return ok(devrun("exec", service, *cmd, cwd=cwd)).strip()


def test_two_services_volume_bind_and_idempotent_up(project, docker_client):
    cwd = project()
    ok(devrun("up", "-d", cwd=cwd))
    rows = ps(cwd)
    assert rows["db"]["state"] == rows["web"]["state"] == "running"
    assert rows["db"]["health"] == "healthy"
    assert rows["web"]["ports"] == [
        {"host_ip": "127.0.0.1", "published": project.port, "target": 8000, "protocol": "tcp"}
    ]
    value = exec_out(cwd, "db", "cat", "/data/v")
    # web reached db by its service name
    assert f"from-db {value}" in ok(devrun("logs", "web", cwd=cwd))

    # bind mount: a host edit is visible inside without a rebuild
    assert exec_out(cwd, "web", "cat", "/src/msg.txt") == "first"
    (cwd / "src" / "msg.txt").write_text("second\n")
    assert exec_out(cwd, "web", "cat", "/src/msg.txt") == "second"

    # up again: same containers; an env change recreates only that service
    ok(devrun("up", "-d", cwd=cwd))
    assert {s: r["id"] for s, r in ps(cwd).items()} == {s: r["id"] for s, r in rows.items()}
    project(web_mode="b")
    ok(devrun("up", "-d", cwd=cwd))
    after = ps(cwd)
    assert after["db"]["id"] == rows["db"]["id"] and after["web"]["id"] != rows["web"]["id"]

    # the named volume outlives down, up, and a recreate by config change
    ok(devrun("down", cwd=cwd))
    assert ps(cwd) == {}
    ok(devrun("up", "-d", cwd=cwd))
    assert exec_out(cwd, "db", "cat", "/data/v") == value
    project(mode="b", web_mode="b")
    ok(devrun("up", "-d", cwd=cwd))
    assert ps(cwd)["db"]["id"] != after["db"]["id"]
    assert exec_out(cwd, "db", "cat", "/data/v") == value
    # ... and is gone only after down --volumes
    ok(devrun("down", "--volumes", cwd=cwd))
    ok(devrun("up", "-d", cwd=cwd))
    assert exec_out(cwd, "db", "cat", "/data/v") != value


def test_exec_returns_command_exit_code(project):
    cwd = project()
    ok(devrun("up", "-d", "db", cwd=cwd))
    r = devrun("exec", "db", "sh", "-c", "echo out; echo err >&2; exit 5", cwd=cwd)
    assert r.returncode == 5 and r.stdout == "out\n" and "err" in r.stderr


def one_app(project_name: str, command: str, extra: str = "") -> str:
    return f"name: {project_name}\nservices:\n  app:\n    image: {BUSYBOX}\n    command: {json.dumps(['sh', '-c', command])}\n{extra}"


def up_foreground(cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "devrun", "up", "--json"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def events_until(proc: subprocess.Popen, done) -> list[dict]:
    """JSON events from a foreground up until done(events) says enough."""
    seen: list[dict] = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if done(seen):
            break
    return seen


def test_sigint_stops_everything_and_exits_130(tmp_project, project_name, docker_client):
    cwd = tmp_project(one_app(project_name, "echo started; exec sleep 1000", "    stop_grace_period: 3s\n"))
    proc = up_foreground(cwd)
    try:
        # the app's first line may arrive before or after `ready`: wait for both
        events_until(
            proc,
            lambda ev: any(e["event"] == "ready" for e in ev) and any(e.get("line") == "started" for e in ev),
        )
        # a second up for the same project is refused while this one runs
        second = devrun("up", "-d", cwd=cwd)
        assert (
            second.returncode == 1
            and f"already running for project {project_name} (pid {proc.pid})" in second.stderr
        )
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert time.monotonic() - t0 < 4
    finally:
        if proc.poll() is None:
            proc.kill()
    running = docker_client.containers.list(filters={"label": f"dev.devrun.project={project_name}"})
    assert running == []


def test_crash_is_reported_and_restarted(tmp_project, project_name):
    cwd = tmp_project(one_app(project_name, "echo boom; exit 3", "    restart: on-failure\n"))
    proc = up_foreground(cwd)
    try:
        seen = events_until(proc, lambda ev: sum(e["event"] == "container_exited" for e in ev) == 2)
        exits = [e for e in seen if e["event"] == "container_exited"]
        assert exits[0]["exit_code"] == 3 and "boom" in exits[0]["last_lines"]
        assert any("the engine restarts app (restart: on-failure)" in e.get("message", "") for e in seen)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def nothing_created(docker_client, name: str) -> bool:
    flt = {"label": f"dev.devrun.project={name}"}
    return not (
        docker_client.containers.list(all=True, filters=flt)
        or docker_client.networks.list(filters=flt)
        or docker_client.volumes.list(filters=flt)
    )


def test_engine_unreachable(project):
    r = devrun("up", "-d", cwd=project(), env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "/nonexistent.sock" in r.stderr and "start Docker" in r.stderr
    assert "Traceback" not in r.stderr


def test_port_in_use(project, project_name, docker_client):
    cwd = project()
    with socket.socket() as s:
        s.bind(("127.0.0.1", project.port))
        s.listen()
        r = devrun("up", "-d", cwd=cwd)
    assert r.returncode == 1
    assert f"service web: host port {project.port} is already in use" in r.stderr
    assert nothing_created(docker_client, project_name)


def test_missing_image(tmp_project, project_name, docker_client):
    cwd = tmp_project(f"name: {project_name}\nservices:\n  app:\n    image: devrun-test/no-such-image:1\n")
    r = devrun("up", "-d", cwd=cwd)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "image devrun-test/no-such-image:1 is not on this machine and cannot be pulled" in r.stderr
    assert nothing_created(docker_client, project_name)


def test_build_failure_shows_step_and_log(tmp_project, project_name, docker_client):
    cwd = tmp_project(
        f"name: {project_name}\nservices:\n  app:\n    build: .\n",
        {"Dockerfile": f"FROM {BUSYBOX}\nRUN echo preparing-things\nRUN echo about-to-fail && exit 3\n"},
    )
    r = devrun("up", "-d", cwd=cwd)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert re.search(r"service app: build failed at Step 3/\d+ : RUN echo about-to-fail && exit 3", r.stderr)
    assert "about-to-fail" in r.stderr.split("\n", 1)[1]
    assert nothing_created(docker_client, project_name)


def test_build_then_run(tmp_project, project_name):
    cwd = tmp_project(
        f"name: {project_name}\nservices:\n  app:\n    build: .\n    command: ['sleep', '100']\n",
        {"Dockerfile": f"FROM {BUSYBOX}\nRUN echo built > /built\n"},
    )
    ok(devrun("up", "-d", cwd=cwd))
    assert exec_out(cwd, "app", "cat", "/built") == "built"


def test_missing_bind_source(tmp_project, project_name, docker_client):
    cwd = tmp_project(
        f"name: {project_name}\nservices:\n  app:\n    image: {BUSYBOX}\n    volumes: ['./nope:/x']\n"
    )
    r = devrun("up", "-d", cwd=cwd)
    assert r.returncode == 2 and "bind source does not exist" in r.stderr
    assert nothing_created(docker_client, project_name)


def test_name_clash_is_not_taken_over(tmp_project, project_name, docker_client):
    other = docker_client.containers.create(BUSYBOX, ["true"], name=f"{project_name}-app")
    try:
        cwd = tmp_project(f"name: {project_name}\nservices:\n  app:\n    image: {BUSYBOX}\n")
        r = devrun("up", "-d", cwd=cwd)
        assert r.returncode == 1 and f"a container named {project_name}-app already exists" in r.stderr
        assert nothing_created(docker_client, project_name)
    finally:
        other.remove(force=True)


def test_up_of_one_service_does_not_wait_on_health_only_its_dependents_need(tmp_path, project_name):
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


def test_exec_into_a_stopped_service_says_what_to_do(tmp_path, project_name, docker_client):
    """It printed the engine's 'Container <64 hex> is not running'."""
    (tmp_path / "devrun.yaml").write_text(f"services:\n  app:\n    image: {BUSYBOX}\n    command: ['true']\n")
    assert devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=60).returncode == 0
    docker_client.containers.get(f"{project_name}-app").wait(timeout=10)
    res = devrun("exec", "-p", project_name, "app", "ls", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip() == "devrun: app is not running (exited); start it with `devrun up app`"


def test_down_while_up_runs_stops_the_up_instead_of_being_undone(tmp_path, project_name, docker_client):
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


def test_no_recreate_attached_keeps_the_changed_container_and_t_bounds_the_stop(
    tmp_project, project_name, docker_client
):
    # the app ignores SIGTERM: only the engine's kill after the grace period ends it
    script = "trap '' TERM; echo started; while :; do sleep 0.1; done"
    cwd = tmp_project(one_app(project_name, script, "    stop_grace_period: 30s\n"))
    assert devrun("up", "-d", cwd=cwd).returncode == 0
    first = docker_client.containers.get(f"{project_name}-app").id
    (cwd / "devrun.yaml").write_text((cwd / "devrun.yaml").read_text().replace("30s", "20s"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "devrun", "up", "--json", "--no-recreate", "-t", "1"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        events_until(proc, lambda ev: any(e["event"] == "ready" for e in ev))
        assert docker_client.containers.get(f"{project_name}-app").id == first  # not recreated
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
        assert time.monotonic() - t0 < 8  # -t 1, not the 20 s grace period
    finally:
        if proc.poll() is None:
            proc.kill()
