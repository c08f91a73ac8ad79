"""`devrun up` killed with SIGKILL leaves its containers running: the next `up`
adopts them (same ids, no duplicates, no name clash) and `down` removes them.
Two `up` in one project at once: the second is refused by the project lock."""

from __future__ import annotations

import json
import time

from tests.conftest import BUSYBOX, devrun
from tests.live_helpers import DevrunUp

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


def config(tmp_path) -> None:
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  web:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(IDLE)}
    stop_grace_period: 1s
  worker:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(IDLE)}
    stop_grace_period: 1s
    depends_on: [web]
""")


def project_ids(docker_client, project: str) -> dict[str, str]:
    found = docker_client.containers.list(all=True, filters={"label": f"dev.devrun.project={project}"})
    return {c.name: c.id for c in found}


def test_up_after_sigkill_adopts_running_containers_and_down_removes_them(
    tmp_path, project_name, docker_client
):
    config(tmp_path)
    first = DevrunUp(tmp_path, project_name)
    first.wait_for("ready", timeout=60)
    before = project_ids(docker_client, project_name)
    assert sorted(before) == [f"{project_name}-web", f"{project_name}-worker"]
    first.proc.kill()  # SIGKILL: no cleanup at all
    first.proc.wait(5)
    assert all(
        c.status == "running"
        for c in docker_client.containers.list(filters={"label": f"dev.devrun.project={project_name}"})
    )

    with DevrunUp(tmp_path, project_name) as second:
        second.wait_for("ready", timeout=60)
        assert project_ids(docker_client, project_name) == before  # same ids: adopted, nothing recreated
        assert not second.of("service_started")  # kept, not started again
        assert not second.of("error")
        # and it follows the adopted containers' logs
        docker_client.containers.get(f"{project_name}-web").exec_run(
            ["sh", "-c", "echo adopted-log-line > /proc/1/fd/1"]
        )
        second.wait_for("log", timeout=10, service="web", line="adopted-log-line")

    res = devrun("down", "-p", project_name, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert project_ids(docker_client, project_name) == {}


def test_second_up_in_the_same_project_is_refused(tmp_path, project_name, docker_client):
    config(tmp_path)
    with DevrunUp(tmp_path, project_name) as first:
        first.wait_for("ready", timeout=60)
        ids = project_ids(docker_client, project_name)
        t0 = time.monotonic()
        res = devrun("up", "-p", project_name, cwd=tmp_path, timeout=30)
        assert res.returncode == 1
        assert time.monotonic() - t0 < 10
        assert f"devrun up is already running for project {project_name} (pid {first.proc.pid})" in res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
        # `up -d` too: it would converge under the running one's feet
        res = devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=30)
        assert res.returncode == 1 and "already running" in res.stderr
        assert project_ids(docker_client, project_name) == ids  # nothing touched
        assert first.proc.poll() is None
    # the lock is released when up ends: a new up works
    res = devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stderr


def test_down_with_a_broken_config_removes_by_label_with_p(tmp_path, project_name, docker_client):
    """A broken devrun.yaml must not keep anyone from cleaning up."""
    (tmp_path / "devrun.yaml").write_text(
        f"services:\n  app:\n    image: {BUSYBOX}\n    command: [sleep, '300']\nvolumes:\n  data:\n"
    )
    r = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "devrun.yaml").write_text("services:\n  app:\n    image: [broken\n")
    r = devrun("down", cwd=tmp_path)
    assert r.returncode == 2 and "devrun down -p PROJECT" in r.stderr and "Traceback" not in r.stderr
    r = devrun("down", "-p", project_name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    flt = {"label": f"dev.devrun.project={project_name}"}
    assert not docker_client.containers.list(all=True, filters=flt)
    assert not docker_client.networks.list(filters=flt)
