"""Live reload, each with its own `devrun up`: a 2,000-file storm, config hot
reload (valid and invalid), forced polling, rebuild (and a failing one), the
container restart fallback, and the watch count on a tree of ignored files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.conftest import BUSYBOX
from tests.live_helpers import DevrunUp, read, wait_until

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


def write(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def exec_out(docker_client, name: str, *argv: str) -> str:
    code, out = docker_client.containers.get(name).exec_run(list(argv))
    return out.decode() if code == 0 else ""


def test_storm_of_2000_files_is_one_or_two_actions_and_all_arrive(tmp_path, project_name, docker_client):
    write(
        tmp_path,
        {
            "devrun.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    watch:
      - path: gen
        action: sync
        target: /gen
""",
            "gen/.keep": "",
        },
    )
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        up.settle()
        for i in range(2000):
            (tmp_path / "gen" / f"f{i:04d}.txt").write_text(str(i))
        n = up.settle(quiet=1.0, timeout=60)
        assert 1 <= n <= 2, up.actions()
        count = exec_out(docker_client, f"{project_name}-app", "sh", "-c", "ls -A /gen | wc -l").strip()
        assert count == "2001"  # .keep too
        assert exec_out(docker_client, f"{project_name}-app", "cat", "/gen/f1999.txt") == "1999"
        # the next edit still works
        (tmp_path / "gen" / "f0000.txt").write_text("after")
        wait_until(
            lambda: exec_out(docker_client, f"{project_name}-app", "cat", "/gen/f0000.txt") == "after", 10
        )


def test_config_hot_reload_valid_then_invalid(tmp_path, project_name, docker_client):
    def config(greeting: str, extra: str = "") -> str:
        return f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    environment:
      GREETING: {greeting}
  other:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
{extra}"""

    write(tmp_path, {"devrun.yaml": config("one")})
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        other_id = docker_client.containers.get(f"{project_name}-other").id
        (tmp_path / "devrun.yaml").write_text(config("two"))
        ev = up.wait_for("config_reloaded", timeout=30)[-1]
        assert ev["services_changed"] == ["app"]
        assert exec_out(docker_client, f"{project_name}-app", "sh", "-c", "echo $GREETING").strip() == "two"
        assert docker_client.containers.get(f"{project_name}-other").id == other_id  # untouched
        app_id = docker_client.containers.get(f"{project_name}-app").id
        # an invalid edit: the error is shown, the old config keeps running
        (tmp_path / "devrun.yaml").write_text(config("three", "    bogus: 1\n"))
        err = up.wait_for("error", timeout=30)[-1]
        assert "devrun.yaml:" in err["message"] and "bogus" in err["message"]
        time.sleep(0.5)
        assert docker_client.containers.get(f"{project_name}-app").id == app_id
        assert up.proc.poll() is None
        # fixing it applies again; a .env edit counts as a config edit too
        (tmp_path / "devrun.yaml").write_text(config("${GREETING_FROM_ENV:-unset}"))
        up.wait_for("config_reloaded", timeout=30, count=2)
        (tmp_path / ".env").write_text("GREETING_FROM_ENV=from-dotenv\n")
        up.wait_for("config_reloaded", timeout=30, count=3)
        assert (
            exec_out(docker_client, f"{project_name}-app", "sh", "-c", "echo $GREETING").strip()
            == "from-dotenv"
        )


def test_forced_polling_detects_changes(tmp_path, project_name):
    write(
        tmp_path,
        {
            "devrun.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    volumes: ["./src:/src", "./state:/state"]
    watch:
      - path: src
        action: exec
        exec: cp /src/a.txt /state/out
""",
            "src/a.txt": "0",
            "state/.keep": "",
        },
    )
    with DevrunUp(tmp_path, project_name, env={"DEVRUN_POLL": "1"}) as up:
        up.wait_for("ready", timeout=60)
        time.sleep(0.3)
        (tmp_path / "src/a.txt").write_text("polled")
        wait_until(lambda: read(tmp_path / "state/out") == "polled", 10, what="polled change applied")
        assert up.settle() == 1


def test_rebuild_recreates_keeps_volume_and_survives_a_failing_build(tmp_path, project_name, docker_client):
    write(
        tmp_path,
        {
            "devrun.yaml": """
services:
  app:
    build: .
    volumes: ["data:/data"]
    command: ["sh", "-c", "cat /version > /data/seen; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    watch:
      - path: Dockerfile
        action: rebuild
volumes:
  data:
""",
            "Dockerfile": f"FROM {BUSYBOX}\nRUN echo v1 > /version\n",
        },
    )
    name = f"{project_name}-app"
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        wait_until(lambda: exec_out(docker_client, name, "cat", "/version").strip() == "v1", 10)
        docker_client.containers.get(name).exec_run(["sh", "-c", "echo precious > /data/keep"])
        (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo v2 > /version\n")
        ev = up.wait_for("action_finished", action="rebuild", timeout=120)[-1]
        assert ev["ok"], ev
        wait_until(lambda: exec_out(docker_client, name, "cat", "/version").strip() == "v2", 20)
        assert exec_out(docker_client, name, "cat", "/data/keep").strip() == "precious"
        good_id = docker_client.containers.get(name).id
        # a broken Dockerfile: the error is reported, the running container stays
        (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN exit 3\n")
        ev = up.wait_for("action_finished", action="rebuild", count=2, timeout=120)[-1]
        assert not ev["ok"] and ev["error"]
        c = docker_client.containers.get(name)
        assert c.id == good_id and c.status == "running"


def test_container_restart_mode_restarts_the_container(tmp_path, project_name, docker_client):
    write(
        tmp_path,
        {
            "devrun.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    restart_mode: container
    command: ["sh", "-c", "echo start >> /state/starts; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    volumes: ["./state:/state", "./src:/src"]
    watch:
      - path: src
        action: restart
""",
            "src/a.txt": "0",
            "state/.keep": "",
        },
    )
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        wait_until(lambda: read(tmp_path / "state/starts").count("start") == 1, 10)
        (tmp_path / "src/a.txt").write_text("1")
        ev = up.wait_for("action_finished", timeout=30)[-1]
        assert ev["action"] == "restart (container)" and ev["ok"]
        wait_until(lambda: read(tmp_path / "state/starts").count("start") == 2, 10)
        # logs reattach after the restart: a line printed after it still arrives
        docker_client.containers.get(f"{project_name}-app").exec_run(
            ["sh", "-c", "echo marker-after-restart > /proc/1/fd/1"]
        )
        up.wait_for("log", timeout=10, line="marker-after-restart")


def test_watch_count_stays_near_kept_dirs_on_a_big_ignored_tree(big_tree, project_name):
    root, counts = big_tree
    kept = counts["kept_dirs"]
    (root / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    watch:
      - path: .
        action: restart
""")
    from devrun.watch import count_inotify_watches

    with DevrunUp(root, project_name) as up:
        up.wait_for("ready", timeout=60)
        watches = count_inotify_watches(up.proc.pid)
        threads = len(os.listdir(f"/proc/{up.proc.pid}/task"))
        assert watches <= kept * 1.05 + 2, (watches, kept)
        assert threads <= 20, threads
