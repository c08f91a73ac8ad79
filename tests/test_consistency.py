"""The container matches the host and no recreate loses data: one regression
test per reproduction of issue 15 (anonymous volumes across a recreate, stale
code and leftover files after devrun was stopped or killed, failed syncs
retried, a config edit during a rebuild, interrupts at any moment, hard links)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker.errors
import pytest

from tests.conftest import BUSYBOX, devrun
from tests.live_helpers import DevrunUp, read, wait_until

pytestmark = pytest.mark.docker

# the app: records each start with the version it loaded; exits at once when
# /app/crash exists (a bad edit)
APP = r"""
test -e /app/crash && { echo "CRASH"; exit 1; }
echo "STARTED $(cat /app/v.txt 2>/dev/null)" >> /state/starts
echo "STARTED $(cat /app/v.txt 2>/dev/null)"
trap 'exit 0' TERM
while :; do sleep 0.1; done
"""


def sync_project(folder: Path, extra: str = "") -> None:
    (folder / "src").mkdir(exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    (folder / "src/v.txt").write_text("v1")
    (folder / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    command: ["sh", "-c", {json.dumps(APP)}]
    volumes: ["./state:/state"]
    stop_grace_period: 1s
{extra}
    watch:
      - path: src
        action: sync+restart
        target: /app
""")


def container(docker_client, project: str):
    try:
        return docker_client.containers.get(f"{project}-app")
    except docker.errors.NotFound:
        return None


def cat(docker_client, project: str, path: str) -> str | None:
    """A file's content in the container (running or not), None if absent."""
    import io
    import tarfile

    c = container(docker_client, project)
    try:
        stream, _ = c.get_archive(path)
    except docker.errors.NotFound:
        return None
    try:
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            members = tar.getmembers()
            if not members:
                return "<changing>"  # read while devrun deletes it
            member = members[0]
            return tar.extractfile(member).read().decode() if member.isfile() else "<dir>"
    except tarfile.ReadError:
        return "<changing>"  # read while devrun deletes it


def last_start(folder: Path) -> str:
    lines = read(folder / "state/starts").splitlines()
    return lines[-1] if lines else ""


def test_anonymous_volumes_survive_a_recreate_and_go_with_down_v(tmp_path, project_name, docker_client):
    # an image VOLUME (as postgres has) and a `volumes: [/data]` entry, seeded once
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nVOLUME /vol\n")
    seed = (
        "for d in /data /vol; do test -f $d/seed || cat /proc/sys/kernel/random/uuid > $d/seed; done; "
        "echo SEEDED $(cat /data/seed) $(cat /vol/seed); trap 'exit 0' TERM; while :; do sleep 0.1; done"
    )

    def write(level: int) -> None:
        (tmp_path / "devrun.yaml").write_text(f"""
services:
  db:
    build: .
    command: ["sh", "-c", {json.dumps(seed)}]
    environment: {{LEVEL: "{level}"}}
    volumes: ["/data"]
    stop_grace_period: 1s
""")

    def seeds() -> tuple[str, str]:
        c = docker_client.containers.get(f"{project_name}-db")
        return tuple(c.exec_run(["cat", f"{d}/seed"]).output.decode().strip() for d in ("/data", "/vol"))

    write(1)
    assert devrun("up", "-d", "-p", project_name, cwd=tmp_path).returncode == 0
    first = wait_until(lambda: all(seeds()) and seeds(), 10, what="seeded")
    first_id = docker_client.containers.get(f"{project_name}-db").id
    write(2)  # a config edit: recreate
    res = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert docker_client.containers.get(f"{project_name}-db").id != first_id
    assert wait_until(lambda: all(seeds()) and seeds(), 10, what="seeded") == first
    res = devrun("up", "-d", "--build", "-p", project_name, cwd=tmp_path)  # a rebuild recreates too
    assert res.returncode == 0, res.stderr
    assert wait_until(lambda: all(seeds()) and seeds(), 10, what="seeded") == first
    mounts = docker_client.containers.get(f"{project_name}-db").attrs["Mounts"]
    anonymous = [m["Name"] for m in mounts if m["Type"] == "volume"]
    assert len(anonymous) == 2
    # nothing left behind by the recreates: no renamed old container
    assert [
        c.name
        for c in docker_client.containers.list(
            all=True, filters={"label": f"dev.devrun.project={project_name}"}
        )
    ] == [f"{project_name}-db"]
    # `- /data` dropped from the config: as in compose, it is not remounted; the image's VOLUME still is
    (tmp_path / "devrun.yaml").write_text(
        (tmp_path / "devrun.yaml").read_text().replace('volumes: ["/data"]', "")
    )
    assert devrun("up", "-d", "-p", project_name, cwd=tmp_path).returncode == 0
    mounts = docker_client.containers.get(f"{project_name}-db").attrs["Mounts"]
    assert [m["Destination"] for m in mounts if m["Type"] == "volume"] == ["/vol"]
    assert wait_until(lambda: seeds()[1], 10, what="vol seed") == first[1]
    dropped = set(anonymous) - {m["Name"] for m in mounts if m["Type"] == "volume"}
    assert len(dropped) == 1
    docker_client.volumes.get(dropped.pop()).remove()  # left dangling, as compose leaves it
    assert devrun("down", "-v", "-p", project_name, cwd=tmp_path).returncode == 0
    for name in {m["Name"] for m in mounts if m["Type"] == "volume"}:
        with pytest.raises(docker.errors.NotFound):
            docker_client.volumes.get(name)


def test_after_ctrl_c_or_kill_9_up_runs_the_latest_code_and_deletes_what_went(
    tmp_path, project_name, docker_client
):
    sync_project(tmp_path)
    (tmp_path / "src/b.txt").write_text("b")
    (tmp_path / "src/x").mkdir()
    (tmp_path / "src/x/inner.txt").write_text("i")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        wait_until(lambda: last_start(tmp_path) == "STARTED v1", 10, what="v1 started")
        assert cat(docker_client, project_name, "/app/b.txt") == "b"
    # Ctrl-C'd: edit and delete while devrun is down
    (tmp_path / "src/v.txt").write_text("v2")
    (tmp_path / "src/b.txt").unlink()
    (tmp_path / "src/x/inner.txt").unlink()
    (tmp_path / "src/x").rmdir()
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        wait_until(lambda: last_start(tmp_path) == "STARTED v2", 10, what="v2 started")
        assert read(tmp_path / "state/starts").splitlines()[-2:] == ["STARTED v1", "STARTED v2"]
        assert cat(docker_client, project_name, "/app/b.txt") is None
        assert cat(docker_client, project_name, "/app/x") is None
        up.proc.kill()  # kill -9: the container keeps running, adopted by the next up
        up.proc.wait(10)
    assert container(docker_client, project_name).status == "running"
    (tmp_path / "src/v.txt").write_text("v3")
    (tmp_path / "src/gone.txt").write_text("soon gone")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        wait_until(
            lambda: cat(docker_client, project_name, "/app/gone.txt") == "soon gone", 10, what="synced"
        )
        up.proc.kill()
        up.proc.wait(10)
    (tmp_path / "src/gone.txt").unlink()
    starts = len(read(tmp_path / "state/starts").splitlines())
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        # the adopted container changed (a delete): the app restarts on the new tree
        wait_until(lambda: len(read(tmp_path / "state/starts").splitlines()) > starts, 10, what="restart")
        assert last_start(tmp_path) == "STARTED v3"
        assert cat(docker_client, project_name, "/app/gone.txt") is None
        count = len(read(tmp_path / "state/starts").splitlines())
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        up.settle()
        # nothing changed meanwhile: the stopped container starts once, with nothing to restart
        assert len(read(tmp_path / "state/starts").splitlines()) == count + 1


def test_a_12000_file_folder_deletion_is_one_path(tmp_path, project_name, docker_client):
    sync_project(tmp_path)
    big = tmp_path / "src/big"
    for i in range(120):
        d = big / f"d{i}"
        d.mkdir(parents=True)
        for j in range(100):
            (d / f"f{j}.txt").write_text("x")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        c = container(docker_client, project_name)
        assert c.exec_run(["sh", "-c", "find /app/big -type f | wc -l"]).output.strip() == b"12000"
        up.settle()
        subprocess.run(["rm", "-rf", str(big)], check=True)
        wait_until(lambda: cat(docker_client, project_name, "/app/big") is None, 30, what="big deleted")
        assert all(e["ok"] for e in up.actions("app")), up.actions("app")


def test_a_sync_into_a_paused_container_is_retried_on_unpause(tmp_path, project_name, docker_client):
    sync_project(tmp_path)
    (tmp_path / "src/old.txt").write_text("old")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        up.settle()
        c = container(docker_client, project_name)
        c.pause()
        try:
            (tmp_path / "src/old.txt").unlink()
            (tmp_path / "src/v.txt").write_text("v2")
            up.wait_for("action_finished", ok=False, timeout=20)
        finally:
            c.unpause()
        wait_until(
            lambda: cat(docker_client, project_name, "/app/old.txt") is None, 20, what="retried delete"
        )
        wait_until(lambda: last_start(tmp_path) == "STARTED v2", 20, what="restart after unpause")
        assert cat(docker_client, project_name, "/app/v.txt") == "v2"


def test_deleting_the_file_that_crashes_the_app_brings_it_back(tmp_path, project_name, docker_client):
    sync_project(tmp_path)
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        up.settle()
        (tmp_path / "src/crash").write_text("bad edit")
        wait_until(lambda: container(docker_client, project_name).status == "exited", 20, what="crash")
        (tmp_path / "src/crash").unlink()
        (tmp_path / "src/v.txt").write_text("fixed")
        wait_until(lambda: last_start(tmp_path) == "STARTED fixed", 20, what="app back up")
        assert container(docker_client, project_name).status == "running"
        assert cat(docker_client, project_name, "/app/crash") is None


def test_a_config_edit_during_a_rebuild_is_what_the_container_ends_with(
    tmp_path, project_name, docker_client
):
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY stamp /stamp\nRUN sleep 3\n")
    (tmp_path / "stamp").write_text("0")
    idle = "trap 'exit 0' TERM; while :; do sleep 0.1; done"

    def write(level: int) -> None:
        (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    build: .
    command: ["sh", "-c", {json.dumps(idle)}]
    environment: {{LEVEL: "{level}"}}
    stop_grace_period: 1s
    watch:
      - path: stamp
        action: rebuild
""")

    write(1)
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        (tmp_path / "stamp").write_text("1")
        up.wait_for("action_started", action="rebuild", timeout=20)
        time.sleep(0.5)  # the build is running (its RUN sleeps 3 s)
        write(2)
        up.wait_for("action_finished", action="rebuild", timeout=60)
        up.wait_for("config_reloaded", timeout=60)

        def env_and_stamp():
            c = container(docker_client, project_name)
            if c is None or c.status != "running":
                return None
            env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
            return env.get("LEVEL"), c.exec_run(["cat", "/stamp"]).output.decode()

        wait_until(lambda: env_and_stamp() == ("2", "1"), 30, what="LEVEL=2 with the new image")
        up.settle()
        assert env_and_stamp() == ("2", "1")
        said = up.tail(200) + "".join(up.stderr)
        assert "outside devrun" not in said, said


def test_hard_linked_files_both_follow_an_edit(tmp_path, project_name, docker_client):
    sync_project(tmp_path)
    (tmp_path / "src/a.txt").write_text("one")
    os.link(tmp_path / "src/a.txt", tmp_path / "src/b.txt")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        up.settle()
        with open(tmp_path / "src/a.txt", "r+") as fh:  # an in-place write: b.txt changes too
            fh.write("two")
        wait_until(lambda: cat(docker_client, project_name, "/app/a.txt") == "two", 10, what="a synced")
        wait_until(lambda: cat(docker_client, project_name, "/app/b.txt") == "two", 10, what="b synced")


def _up_process(folder: Path, project: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "devrun", "up", "-p", project],
        cwd=folder,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_at_any_moment_leaves_the_service_as_it_was_or_stopped(
    tmp_path, project_name, docker_client, signum
):
    sync_project(tmp_path)
    for i in range(3000):  # an initial sync that takes a while
        (tmp_path / "src" / f"f{i}.txt").write_text(str(i))
    # first run: a fresh container (interrupting create and sync); later runs:
    # an adopted stopped container (interrupting the reconcile)
    for delay in (0.4, 0.8, 1.2, 1.6, 2.5):
        proc = _up_process(tmp_path, project_name)
        time.sleep(delay)
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=60)
        c = container(docker_client, project_name)
        if proc.returncode == -signum:
            # still starting Python: the default action, before devrun did anything
            assert out == "" and (c is None or c.status == "exited"), (delay, out)
        else:
            assert proc.returncode == (130 if signum == signal.SIGINT else 143), out
        assert "Traceback" not in out, out
        if c is not None:
            assert c.status == "exited", (delay, c.status, out)
        (tmp_path / "src/v.txt").write_text(f"after {delay}")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        wait_until(lambda: last_start(tmp_path) == "STARTED after 2.5", 20, what="latest code")
        assert cat(docker_client, project_name, "/app/f2999.txt") == "2999"
        up.proc.kill()  # kill -9: the next up adopts the running container
        up.proc.wait(10)
    for i in range(3000, 6000):  # its reconcile has work to do
        (tmp_path / "src" / f"f{i}.txt").write_text(str(i))
    proc = _up_process(tmp_path, project_name)
    time.sleep(1.5)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=60)
    assert "Traceback" not in out, out
    if proc.returncode == -signum:
        # a loaded machine: Python had not even reached devrun's own code, which left
        # the adopted container as it was
        assert out == "" and container(docker_client, project_name).status == "running", out
        return
    assert proc.returncode == (130 if signum == signal.SIGINT else 143), out
    assert "stopping" in out, out
    assert container(docker_client, project_name).status == "exited", out


def test_ctrl_c_during_a_rebuild_leaves_the_service_stopped_not_missing(
    tmp_path, project_name, docker_client
):
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY stamp /stamp\nRUN sleep 2\n")
    (tmp_path / "stamp").write_text("0")
    idle = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    build: .
    command: ["sh", "-c", {json.dumps(idle)}]
    stop_grace_period: 1s
    watch:
      - path: stamp
        action: rebuild
""")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        (tmp_path / "stamp").write_text("1")
        up.wait_for("action_started", action="rebuild", timeout=20)
        time.sleep(0.5)
        assert up.stop(timeout=90) == 130, up.tail()
    c = container(docker_client, project_name)
    assert c is not None and c.status == "exited"
    names = [
        x.name
        for x in docker_client.containers.list(
            all=True, filters={"label": f"dev.devrun.project={project_name}"}
        )
    ]
    assert names == [f"{project_name}-app"]


def _level_after_ctrl_c(tmp_path: Path, project: str, edit) -> DevrunUp:
    """up, Ctrl-C, edit(), up again: returns the second (running) up."""
    with DevrunUp(tmp_path, project) as up:
        up.wait_for("ready", timeout=120)
    edit()
    up = DevrunUp(tmp_path, project)
    up.wait_for("ready", timeout=120)
    return up


def test_mounts_and_other_targets_inside_a_sync_target_are_left_alone(tmp_path, project_name, docker_client):
    sync_project(
        tmp_path,
        extra="""    volumes: ["./state:/state", "./config:/app/config", "data:/app/data"]""",
    )
    text = (tmp_path / "devrun.yaml").read_text().replace('    volumes: ["./state:/state"]\n', "", 1)
    text = text.replace(
        "        target: /app\n",
        "        target: /app\n      - path: shared\n        action: sync\n        target: /app/shared\n",
    )
    (tmp_path / "devrun.yaml").write_text(text + "volumes:\n  data: {}\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config/settings.ini").write_text("host config")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared/lib.txt").write_text("lib")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        c = container(docker_client, project_name)
        assert c.exec_run(["sh", "-c", "echo db > /app/data/db.sqlite"]).exit_code == 0
    (tmp_path / "src/v.txt").write_text("v2")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        wait_until(lambda: last_start(tmp_path) == "STARTED v2", 20, what="v2 started")
        assert (tmp_path / "config/settings.ini").read_text() == "host config"  # a host file, never deleted
        assert cat(docker_client, project_name, "/app/data/db.sqlite") == "db\n"  # a volume's data
        assert cat(docker_client, project_name, "/app/shared/lib.txt") == "lib"  # another rule's target
        assert not [e for e in up.of("warning") if "deleted" in e.get("message", "")], up.tail()


def test_deletes_work_when_the_app_runs_as_another_user(tmp_path, project_name, docker_client):
    sync_project(tmp_path, extra='    user: "1000"')
    (tmp_path / "state").chmod(0o777)
    (tmp_path / "src/old").mkdir()
    (tmp_path / "src/old/x.txt").write_text("x")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        wait_until(lambda: cat(docker_client, project_name, "/app/old/x.txt") == "x", 10, what="synced")
        up.settle()
        shutil.rmtree(tmp_path / "src/old")
        (tmp_path / "src/v.txt").write_text("v2")
        wait_until(lambda: cat(docker_client, project_name, "/app/old") is None, 20, what="deleted")
        wait_until(lambda: last_start(tmp_path) == "STARTED v2", 20, what="v2 started")


def test_an_image_without_a_shell_still_comes_up_with_its_copies(tmp_path, project_name, docker_client):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BUSYBOX} AS bb\nFROM scratch\nCOPY --from=bb /bin/busybox /busybox\n"
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src/v.txt").write_text("v1")
    (tmp_path / "src/old.txt").write_text("old")
    (tmp_path / "devrun.yaml").write_text("""
services:
  app:
    build: .
    command: ["/busybox", "sleep", "3600"]
    stop_grace_period: 1s
    watch:
      - path: src
        action: sync+restart
        target: /app
""")

    def edit() -> None:
        (tmp_path / "src/old.txt").unlink()
        (tmp_path / "src/v.txt").write_text("v2")

    up = _level_after_ctrl_c(tmp_path, project_name, edit)
    try:
        assert cat(docker_client, project_name, "/app/v.txt") == "v2"
        assert container(docker_client, project_name).status == "running"
        assert any("needs /bin/sh" in e.get("message", "") for e in up.of("warning")), up.tail()
    finally:
        up.stop()


def test_a_service_stopped_from_outside_stays_stopped_until_started(tmp_path, project_name, docker_client):
    sync_project(tmp_path)
    (tmp_path / "src/old.txt").write_text("old")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        up.settle()
        container(docker_client, project_name).stop(timeout=2)
        wait_until(
            lambda: up.of("info") and "stopped outside devrun" in json.dumps(up.of("info")), 10, what="said"
        )
        (tmp_path / "src/old.txt").unlink()
        (tmp_path / "src/v.txt").write_text("v2")
        up.wait_for("action_finished", ok=False, timeout=20)
        up.settle()
        assert container(docker_client, project_name).status == "exited"  # devrun did not start it
        container(docker_client, project_name).start()
        wait_until(lambda: cat(docker_client, project_name, "/app/old.txt") is None, 20, what="caught up")
        wait_until(lambda: last_start(tmp_path) == "STARTED v2", 20, what="latest code after the start")
