"""Containers killed or removed from outside devrun while `up` runs: devrun
notices through the engine's event stream, says so, brings the service back
as its restart policy says, and the log stream reattaches after every
restart, recreate and rebuild (each new run's first line arrives as a `log`
event)."""

from __future__ import annotations

import json

from tests.conftest import BUSYBOX
from tests.live_helpers import DevrunUp, wait_until

# one distinct line per run of the app, then idle
APP = [
    "sh",
    "-c",
    "echo \"run $(cat /proc/sys/kernel/random/uuid)\"; trap 'exit 0' TERM; while :; do sleep 0.1; done",
]


def runs(up: DevrunUp) -> list[str]:
    return [e["line"] for e in up.of("log", service="app") if e["line"].startswith("run ")]


def test_kill_rm_restart_rebuild_each_bring_it_back_with_logs(tmp_path, project_name, docker_client):
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY marker /marker\n")
    (tmp_path / "marker").write_text("1")
    (tmp_path / "reload").write_text("")
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    build: .
    init: true
    command: {json.dumps(APP)}
    restart: always
    stop_grace_period: 1s
    watch:
      - path: reload
        action: restart
      - path: marker
        action: rebuild
""")
    name = f"{project_name}-app"
    try:
        with DevrunUp(tmp_path, project_name) as up:
            up.wait_for("ready", timeout=90)
            wait_until(lambda: len(runs(up)) == 1, 10, what="first run's log line")

            # docker kill: a die event, reported, restarted by policy, logs follow the new run
            docker_client.containers.get(name).kill()
            ev = up.wait_for("container_exited", timeout=10)[0]
            assert ev["exit_code"] == 137
            wait_until(lambda: len(runs(up)) == 2, 10, what="log line after docker kill + restart")

            # docker rm -f: recreated (restart: always), a new id, logs follow it
            old_id = docker_client.containers.get(name).id
            docker_client.containers.get(name).remove(force=True)
            wait_until(
                lambda: [w for w in up.of("warning") if "removed outside devrun; recreating" in w["message"]],
                10,
                what="removal warning",
            )
            wait_until(lambda: len(runs(up)) == 3, 15, what="log line after docker rm -f + recreate")
            new_id = docker_client.containers.get(name).id
            assert new_id != old_id
            assert up.of("service_started")[-1]["container"] == new_id

            # a restart action (process mode: the app restarts inside the container)
            (tmp_path / "reload").write_text("x")
            wait_until(lambda: len(runs(up)) == 4, 15, what="log line after restart action")

            # a rebuild: new image, new container, logs follow it
            (tmp_path / "marker").write_text("2")
            up.wait_for("action_finished", timeout=60, action="rebuild")
            wait_until(lambda: len(runs(up)) == 5, 15, what="log line after rebuild")
            c = docker_client.containers.get(name)
            assert c.exec_run(["cat", "/marker"]).output == b"2"

            # and a docker kill of the rebuilt container still comes back with logs
            c.kill()
            wait_until(lambda: len(runs(up)) == 6, 15, what="log line after kill of the rebuilt container")
            assert len(set(runs(up))) == 6  # six distinct runs, no line printed twice
            assert not up.of("error"), up.of("error")
            assert (
                len(
                    docker_client.containers.list(
                        all=True, filters={"label": f"dev.devrun.project={project_name}"}
                    )
                )
                == 1
            )
    finally:
        for c in docker_client.containers.list(
            all=True, filters={"label": f"dev.devrun.project={project_name}"}
        ):
            c.remove(force=True)
        try:
            docker_client.images.remove(f"{project_name}-app", force=True)
        except Exception:  # noqa: BLE001 - best effort
            pass


def test_without_policy_kill_and_rm_are_reported_and_left_down(tmp_path, project_name, docker_client):
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(APP)}
    stop_grace_period: 1s
  other:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(APP)}
    stop_grace_period: 1s
""")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        docker_client.containers.get(f"{project_name}-app").kill()
        assert up.wait_for("container_exited", timeout=10)[0]["exit_code"] == 137
        docker_client.containers.get(f"{project_name}-app").remove(force=True)
        warn = wait_until(
            lambda: [w for w in up.of("warning") if "removed outside devrun" in w["message"]],
            10,
            what="warning",
        )
        assert "run `devrun up` again" in warn[0]["message"]
        assert up.proc.poll() is None
        assert docker_client.containers.get(f"{project_name}-other").status == "running"
        names = [
            c.name
            for c in docker_client.containers.list(
                all=True, filters={"label": f"dev.devrun.project={project_name}"}
            )
        ]
        assert names == [f"{project_name}-other"]


def test_docker_stop_and_restart_from_outside_are_not_crashes(tmp_path, project_name, docker_client):
    """`docker restart` / `docker stop` send the stop signal: devrun says what
    happened, does not report a crash and does not restart on its own."""
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(APP)}
    restart: on-failure
    stop_grace_period: 1s
""")
    name = f"{project_name}-app"
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        wait_until(lambda: len(runs(up)) == 1, 10, what="first run")
        docker_client.containers.get(name).restart(timeout=1)
        wait_until(lambda: len(runs(up)) == 2, 10, what="log stream back after docker restart")
        docker_client.containers.get(name).stop(timeout=1)
        up.wait_for("info", timeout=10, count=2)
        assert not up.of("container_exited"), up.tail()
        assert not [e for e in up.of("info") if "restarting" in e["message"]], up.tail()
        assert docker_client.containers.get(name).status == "exited"
        assert any("stopped outside devrun" in e["message"] for e in up.of("info"))
