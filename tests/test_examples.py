"""The examples people copy from, end to end on the real engine: each one is
copied to a temporary folder, brought up under `devrun up --json`, edited,
and checked over HTTP on the host port it publishes (each example takes its
port from a variable, e.g. ${PYTHON_WEB_PORT:-8000}: the tests pick free ports).
compose-import has tests/test_init_example.py."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO, copy_example, devrun
from tests.live_helpers import DevrunUp, free_port, wait_until

pytestmark = pytest.mark.docker
SCHEMA = json.loads((REPO / "docs" / "events.schema.json").read_text())


def get(port: int, path: str = "/") -> tuple[int, str]:
    """(status, body); status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def answers(port: int, text: str, path: str = "/", timeout: float = 15) -> str:
    def check() -> str | None:
        status, body = get(port, path)
        return body if status == 200 and text in body else None

    return wait_until(check, timeout, 0.05, f"{text!r} at 127.0.0.1:{port}{path}")


def assert_clean(up: DevrunUp) -> None:
    """Stopped by Ctrl-C, no traceback, every event valid against the schema."""
    assert up.proc.returncode == 130, up.tail()
    assert "Traceback" not in "".join(up.stderr), up.tail()
    for event in up.events:
        jsonschema.validate(event, SCHEMA)


def pids_listening(up: DevrunUp) -> list[str]:
    return [
        m[1]
        for e in up.of("log", service="web")
        if (m := re.match(r"listening on :8000 \(pid (\d+)\)", e["line"]))
    ]


def test_python_web(tmp_path: Path, docker_client, project_name: str) -> None:
    port = free_port()
    folder = copy_example("python-web", tmp_path)
    try:
        with DevrunUp(folder, project_name, env={"PYTHON_WEB_PORT": str(port)}) as up:
            up.wait_for("ready", timeout=120)
            answers(port, "hello from devrun (you asked for /)")
            (pid,) = wait_until(lambda: pids_listening(up), 10, what="the app's pid")

            # handler.py -> SIGHUP: the app re-imports it in place, same process
            handler = folder / "src" / "handler.py"
            handler.write_text(handler.read_text().replace("hello from devrun", "hello, edited"))
            answers(port, "hello, edited")
            up.wait_for("log", service="web", line=f"reloaded handler (pid {pid})")
            assert [a["action"] for a in up.actions()] == ["signal SIGHUP"]
            assert pids_listening(up) == [pid]

            # app.py -> the app process restarts inside the running container
            app = folder / "src" / "app.py"
            app.write_text(app.read_text() + "\n# edited\n")
            wait_until(lambda: len(pids_listening(up)) == 2, 15, what="a new app process")
            assert up.actions()[-1]["action"].startswith("restart") and up.actions()[-1]["ok"]
            answers(port, "hello, edited")

            # requirements.txt -> image rebuilt, container recreated, still answering
            before = container_id(docker_client, project_name)
            first_image = docker_client.containers.get(before).image.id
            (folder / "requirements.txt").write_text("# edited by the test\n")
            up.wait_for("action_finished", service="web", action="rebuild", timeout=120)
            assert up.actions()[-1]["ok"], up.tail()
            wait_until(lambda: len(pids_listening(up)) == 3, 15, what="the app in the new container")
            assert container_id(docker_client, project_name) != before
            answers(port, "hello, edited")
        assert_clean(up)
    finally:
        remove_image(docker_client, f"{project_name}-web")
        if "first_image" in locals():
            remove_image(docker_client, first_image, only_untagged=True)


def test_static_site(tmp_path: Path, docker_client, project_name: str) -> None:
    port = free_port()
    folder = copy_example("static-site", tmp_path)
    site = folder / "site"
    with DevrunUp(folder, project_name, env={"STATIC_SITE_PORT": str(port)}) as up:
        up.wait_for("ready", timeout=60)
        answers(port, "Hello from busybox httpd")
        mounts = docker_client.containers.get(container_id(docker_client, project_name)).attrs["Mounts"]
        assert mounts == [], "static-site works by sync, without a bind mount"

        (site / "index.html").write_text("<h1>edited by the test</h1>\n")
        answers(port, "edited by the test")
        (site / "extra.html").write_text("<p>extra</p>\n")
        answers(port, "extra", "/extra.html")
        (site / "extra.html").unlink()
        wait_until(lambda: get(port, "/extra.html")[0] == 404, 10, 0.05, "404 for the deleted file")
        assert all(a["ok"] and a["action"] == "sync" for a in up.actions())
    assert_clean(up)


def visits(port: int) -> str:
    return answers(port, "visits: ", "/cgi-bin/visits").strip()


def test_db_persist(tmp_path: Path, docker_client, project_name: str) -> None:
    port = free_port()
    env = {"DB_PERSIST_PORT": str(port)}
    folder = copy_example("db-persist", tmp_path)

    def up_once(expected: list[str]) -> None:
        with DevrunUp(folder, project_name, env=env) as up:
            up.wait_for("ready", timeout=60)
            assert [visits(port) for _ in expected] == expected
        assert_clean(up)

    def down(*args: str) -> None:
        r = devrun("down", "-p", project_name, *args, cwd=folder, env=env)
        assert r.returncode == 0, r.stderr

    up_once(["visits: 1", "visits: 2"])  # web reaches db by its service name
    down()
    assert docker_client.volumes.list(filters={"label": f"dev.devrun.project={project_name}"}), (
        "down keeps the volume"
    )
    up_once(["visits: 3"])  # the counter survived down and up
    down("--volumes")
    up_once(["visits: 1"])  # --volumes reset it
    down("--volumes")


def container_id(client, project: str) -> str:
    (container,) = client.containers.list(filters={"label": f"dev.devrun.project={project}"})
    return container.id


def remove_image(client, ref: str, only_untagged: bool = False) -> None:
    """Remove what the test built; an image another tag still names stays."""
    try:
        if only_untagged and client.images.get(ref).tags:
            return
        client.images.remove(ref, force=not only_untagged)
    except Exception:  # noqa: BLE001 - already gone is fine
        pass
