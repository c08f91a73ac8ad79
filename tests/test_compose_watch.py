"""compose's own watch semantics through `devrun up` on a compose file whose
rule uses the older `x-develop` spelling: a file created, modified or deleted
on the host is created, modified or deleted in the container; `*.foo` and
`./ignored` ignores hold (.dockerignore syntax, anchored at the rule's path,
so `deep/b.foo` is synced as compose syncs it); a new subdirectory
appears and a deleted one is deleted; the last of several quick writes wins."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import BUSYBOX, cleanup_project
from tests.live_helpers import IDLE, DevrunUp, wait_until, write_files

pytestmark = pytest.mark.docker

COMPOSE = f"""
services:
  app:
    image: {BUSYBOX}
    command: {IDLE!r}
    init: true
    x-develop:
      watch:
        - path: ./src
          action: sync
          target: /app
          ignore: ["*.foo", "./ignored"]
"""


@pytest.fixture
def synced(tmp_path: Path, project_name: str, docker_client):
    write_files(tmp_path, {"compose.yaml": COMPOSE, "src/.keep": ""})
    up = DevrunUp(tmp_path, project_name)
    try:
        up.wait_for("ready", timeout=90)
        container = docker_client.containers.get(f"{project_name}-app")
        yield tmp_path / "src", container, up
    finally:
        up.stop()
        cleanup_project(project_name)


def content(container, path: str) -> str | None:
    code, out = container.exec_run(["cat", path])
    return out.decode() if code == 0 else None


def exists(container, path: str) -> bool:
    return container.exec_run(["test", "-e", path])[0] == 0


def test_create_modify_delete(synced) -> None:
    src, c, _ = synced
    (src / "new.txt").write_text("one")
    wait_until(lambda: content(c, "/app/new.txt") == "one", 10, what="created in the container")
    (src / "new.txt").write_text("two")
    wait_until(lambda: content(c, "/app/new.txt") == "two", 10, what="modified in the container")
    (src / "new.txt").unlink()
    wait_until(lambda: not exists(c, "/app/new.txt"), 10, what="deleted in the container")


def test_ignores_hold(synced) -> None:
    src, c, _ = synced
    (src / "a.foo").write_text("x")
    (src / "deep").mkdir()
    (src / "deep" / "b.foo").write_text("x")
    (src / "ignored").mkdir()
    (src / "ignored" / "c.txt").write_text("x")
    (src / "marker.txt").write_text("after")  # synced in the same or a later batch
    wait_until(lambda: content(c, "/app/marker.txt") == "after", 10, what="the marker")
    # .dockerignore syntax, as compose reads it: `*.foo` is anchored at the rule's path
    wait_until(lambda: content(c, "/app/deep/b.foo") == "x", 10, what="a .foo file below the top")
    for path in ("/app/a.foo", "/app/ignored/c.txt", "/app/ignored"):
        assert not exists(c, path), path


def test_a_new_subdirectory_appears_and_a_deleted_one_goes(synced) -> None:
    src, c, _ = synced
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "sub" / "deeper" / "f.txt").write_text("deep")
    (src / "sub" / "empty").mkdir()
    wait_until(lambda: content(c, "/app/sub/deeper/f.txt") == "deep", 10, what="the new subdirectory")
    wait_until(lambda: exists(c, "/app/sub/empty"), 10, what="the new empty subdirectory")
    shutil.rmtree(src / "sub")
    wait_until(lambda: not exists(c, "/app/sub"), 10, what="the deleted directory gone")


def test_the_last_of_several_quick_writes_wins(synced) -> None:
    src, c, up = synced
    for i in range(30):
        (src / "quick.txt").write_text(f"v{i}")
    wait_until(lambda: content(c, "/app/quick.txt") == "v29", 10, what="the last write")
    up.settle()
    assert content(c, "/app/quick.txt") == "v29"
