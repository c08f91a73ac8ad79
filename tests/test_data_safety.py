"""Data is never lost: a value written into a named volume survives a seeded
random scenario of up -d / down / config edits / rebuilds / docker kill /
docker rm -f, read back after every step through a fresh container; only
`down --volumes` removes the volume. And sync writes only inside its target:
a symlink to a host file outside the project arrives as a link (never the
file's content), and deletions stay inside the target."""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
import uuid

import docker.errors

from tests.conftest import BUSYBOX, devrun
from tests.live_helpers import DevrunUp, wait_until

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
SEED = int(os.environ.get("DEVRUN_SCENARIO_SEED", "7"))
STEPS = ("up", "down", "edit", "rebuild", "kill", "rm")


def write_config(folder, version: int) -> None:
    (folder / "devrun.yaml").write_text(f"""
services:
  app:
    build: .
    init: true
    command: {json.dumps(IDLE)}
    stop_grace_period: 1s
    environment:
      CONFIG_VERSION: "{version}"
    volumes:
      - data:/data
volumes:
  data: {{}}
""")


def scenario(rng: random.Random, n: int = 18) -> list[str]:
    steps = [*STEPS, *STEPS]  # every kind at least twice
    steps += [rng.choice(STEPS) for _ in range(n - len(steps))]
    rng.shuffle(steps)
    return steps


def test_volume_value_survives_a_random_scenario(tmp_path, project_name, docker_client):
    rng = random.Random(SEED)
    steps = scenario(rng)
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY stamp /stamp\n")
    (tmp_path / "stamp").write_text("0")
    version = 0
    write_config(tmp_path, version)
    volume = f"{project_name}_data"
    name = f"{project_name}-app"
    value = uuid.uuid4().hex

    def cli(*args: str) -> None:
        res = devrun(*args, "-p", project_name, cwd=tmp_path, timeout=120)
        assert res.returncode == 0, (args, res.stderr)

    def read_value() -> str:
        # through a fresh, never started container: the engine's archive API reads the volume
        reader = docker_client.containers.create(
            BUSYBOX, ["true"], volumes={volume: {"bind": "/data", "mode": "ro"}}
        )
        try:
            stream, _ = reader.get_archive("/data/value")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                return tar.extractfile("value").read().decode()
        except docker.errors.NotFound:
            return "<no /data/value>"
        finally:
            reader.remove(force=True)

    def app():
        try:
            return docker_client.containers.get(name)
        except docker.errors.NotFound:
            return None

    try:
        cli("up", "-d")
        assert app().exec_run(["sh", "-c", f"printf {value} > /data/value"]).exit_code == 0
        done = []
        for step in steps:
            c = app()
            if step == "up":
                cli("up", "-d")
            elif step == "down":
                cli("down")
                assert app() is None
            elif step == "edit":  # env change -> recreate on the next up
                version += 1
                write_config(tmp_path, version)
                cli("up", "-d")
                assert (
                    app().exec_run(["sh", "-c", "echo $CONFIG_VERSION"]).output.strip()
                    == str(version).encode()
                )
            elif step == "rebuild":  # new image -> recreate
                (tmp_path / "stamp").write_text(uuid.uuid4().hex)
                old = c.id if c else None
                cli("up", "-d", "--build")
                assert app().id != old
            elif step == "kill" and c is not None and c.status == "running":
                c.kill()
            elif step == "rm" and c is not None:
                c.remove(force=True)
            done.append(step)
            assert read_value() == value, f"value lost after steps {done} (seed {SEED})"
            assert docker_client.volumes.get(volume).attrs["Labels"]["dev.devrun.project"] == project_name
        print(f"seed {SEED}: {' '.join(done)}")
        cli("down")
        assert read_value() == value  # plain down keeps volumes
        cli("down", "--volumes")
        try:
            docker_client.volumes.get(volume)
            raise AssertionError("down --volumes left the volume")
        except docker.errors.NotFound:
            pass
    finally:
        try:
            docker_client.images.remove(f"{project_name}-app", force=True)
        except docker.errors.APIError:
            pass


def test_sync_never_writes_or_deletes_outside_target(tmp_path, project_name, docker_client):
    project = tmp_path / "proj"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET host file")
    src = project / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("a")
    os.symlink(outside / "secret.txt", src / "escape")  # absolute link out of the project
    os.symlink("../../outside", src / "updir")  # relative link out of the project
    (project / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    init: true
    command: ["sh", "-c", "mkdir -p /app/keep && echo precious > /app/keep/file && echo sibling > /app/src-sibling && trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    stop_grace_period: 1s
    watch:
      - path: src
        action: sync
        target: /app/src
""")
    with DevrunUp(project, project_name) as up:
        up.wait_for("ready", timeout=60)
        c = docker_client.containers.get(f"{project_name}-app")
        wait_until(lambda: c.exec_run(["cat", "/app/keep/file"]).exit_code == 0, 10, what="app ready")
        assert c.exec_run(["cat", "/app/src/sub/a.txt"]).output == b"a"
        # links arrive as links: the host file's content never enters the container
        assert (
            c.exec_run(["readlink", "/app/src/escape"]).output.strip() == str(outside / "secret.txt").encode()
        )
        assert c.exec_run(["readlink", "/app/src/updir"]).output.strip() == b"../../outside"
        assert (
            b"TOP SECRET" not in c.exec_run(["sh", "-c", "cat /app/src/escape /app/src/updir/* 2>&1"]).output
        )
        tar, _ = c.get_archive("/app")
        assert b"TOP SECRET" not in b"".join(tar)

        # deletions: the whole synced tree goes; nothing beside or above the target does
        os.unlink(src / "escape")
        os.unlink(src / "updir")
        (src / "sub" / "a.txt").unlink()
        (src / "sub").rmdir()
        (src / "last.txt").write_text("last")
        wait_until(lambda: c.exec_run(["cat", "/app/src/last.txt"]).output == b"last", 15, what="last edit")
        wait_until(
            lambda: c.exec_run(["ls", "-A", "/app/src"]).output.split() == [b"last.txt"],
            10,
            what="deletes applied",
        )
        assert c.exec_run(["cat", "/app/keep/file"]).output == b"precious\n"
        assert c.exec_run(["cat", "/app/src-sibling"]).output == b"sibling\n"
        assert (
            outside / "secret.txt"
        ).read_text() == "TOP SECRET host file"  # the host side is never touched either
        assert not up.of("error"), up.of("error")


def test_deletes_do_not_follow_a_symlink_the_container_planted_in_target(
    tmp_path, project_name, docker_client
):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("host copy")
    (src / "keep.txt").write_text("k")
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(IDLE)}
    stop_grace_period: 1s
    watch:
      - path: src
        action: sync
        target: /app/src
""")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        c = docker_client.containers.get(f"{project_name}-app")
        assert c.exec_run(["cat", "/app/src/d/f.txt"]).output == b"host copy"
        # the app swaps the synced dir for a link out of the target
        planted = (
            "rm -rf /app/src/d && mkdir /victim && echo precious > /victim/f.txt && ln -s /victim /app/src/d"
        )
        assert c.exec_run(["sh", "-c", planted]).exit_code == 0
        (src / "d" / "f.txt").unlink()
        up.wait_for("action_finished", timeout=15, service="app")
        assert c.exec_run(["cat", "/victim/f.txt"]).output == b"precious\n"
        # ordinary deletes still work
        (src / "keep.txt").unlink()
        wait_until(
            lambda: c.exec_run(["test", "-e", "/app/src/keep.txt"]).exit_code == 1,
            10,
            what="keep.txt deleted",
        )
        assert c.exec_run(["cat", "/victim/f.txt"]).output == b"precious\n"


def test_guarded_delete_script_with_local_sh(tmp_path):
    import subprocess

    from devrun.session.sync import guarded_delete_commands

    target, victim = tmp_path / "t", tmp_path / "victim"
    (target / "real").mkdir(parents=True)
    victim.mkdir()
    (victim / "f").write_text("v")
    (target / "real" / "g").write_text("g")
    (target / "top").write_text("t")
    os.symlink(victim, target / "link")
    deletes = [f"{target}/link/f", f"{target}/real/g", f"{target}/top", f"{target}/missing/x"]
    (argv,) = guarded_delete_commands(deletes, str(target))
    assert subprocess.run(argv, check=False).returncode == 0
    assert (victim / "f").read_text() == "v"  # behind a link: kept
    assert not (target / "real" / "g").exists() and not (target / "top").exists()
    assert (target / "link").is_symlink()
