"""The container's tree listed in the container (engine/tree.py LISTING_SCRIPT),
for engines across a slow link: it must equal the archive's reading of the same
tree, in busybox and in a coreutils image, or give way to the archive."""

from __future__ import annotations

import io
import tarfile

import pytest

from devrun.engine.docker import Engine
from devrun.engine.tree import parse_listing
from tests.conftest import PYTHON, cleanup_project


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(
            name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, data: bytes = b"", link: str = ""
        ):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.size, info.linkname = kind, mode, len(data), link
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("t", tarfile.DIRTYPE, 0o755)
        add("t/a.py", data=b"print(1)\n")
        add("t/empty.txt", mode=0o600)
        add("t/run.sh", mode=0o4755, data=b"#!/bin/sh\n")
        add("t/with space|and bar.txt", data=b"odd name")
        add("t/sub", tarfile.DIRTYPE, 0o700)
        add("t/sub/deep", tarfile.DIRTYPE, 0o755)
        add("t/sub/deep/x.bin", data=bytes(range(256)) * 64)
        add("t/link", tarfile.SYMTYPE, 0o777, link="sub/deep/x.bin")
        add("t/odd link", tarfile.SYMTYPE, 0o777, link="a|b c")
        add("t/hard", tarfile.LNKTYPE, link="t/a.py")
        add("t/caf\u00e9.txt", data="caf\u00e9".encode())
    return buf.getvalue()


@pytest.mark.docker
@pytest.mark.parametrize("image", ["busybox:stable", PYTHON])
def test_the_listing_equals_the_archive(docker_client, project_name, image):
    engine = Engine(docker_client, "local")
    c = docker_client.containers.run(
        image, ["sleep", "60"], detach=True, init=True, labels={"dev.devrun.project": project_name}
    )
    try:
        engine.put_archive(c.id, "/", _tar())
        listed = engine._listed_tree(c.id, "/t/")
        archived = engine.tree(c.id, "/t")
        assert listed is not None
        assert listed == archived
        assert listed["/t/run.sh"].mode == 0o4755 and listed["/t/odd link"].link == "a|b c"
        assert engine._listed_tree(c.id, "/nothing") == {}
        # a name with a newline cannot be read for certain: the archive decides
        c.exec_run(["sh", "-c", "printf x > '/t/new\nline'"])
        assert engine._listed_tree(c.id, "/t") is None
        engine.compress_archives = True  # across a network: tree() lists, and falls back here
        assert "/t/new\nline" in engine.tree(c.id, "/t", expect_bytes=1 << 30)
    finally:
        c.remove(force=True)
        cleanup_project(project_name)


@pytest.mark.docker
def test_a_stopped_container_is_read_from_the_archive(docker_client, project_name):
    engine = Engine(docker_client, "local")
    engine.compress_archives = True
    c = docker_client.containers.create(
        "busybox:stable", ["true"], labels={"dev.devrun.project": project_name}
    )
    try:
        engine.put_archive(c.id, "/", _tar())
        assert engine._listed_tree(c.id, "/t") is None  # no exec in a container that is not running
        assert engine.tree(c.id, "/t", expect_bytes=1 << 30)["/t/a.py"].size == 9
    finally:
        c.remove(force=True)
        cleanup_project(project_name)


def test_lines_that_are_not_certain_give_way():
    ok = ["S|regular file|644|9|/t/a.py", "H|" + "a" * 40 + "  /t/a.py"]
    assert parse_listing(ok, "/t")["/t/a.py"].digest == "a" * 40
    assert parse_listing(["S|regular file|644|9|/t/a.py"], "/t") is None  # no digest
    assert parse_listing([*ok, "H|\\" + "a" * 40 + "  /t/b\\nc"], "/t") is None  # escaped by sha1sum
    assert parse_listing([*ok, "line"], "/t") is None  # the rest of a name with a newline
    assert parse_listing(["S|regular file|644|9|/elsewhere"], "/t") is None
    assert parse_listing(["S|directory|755|4096|/t/caf\ufffd"], "/t") is None
    assert parse_listing(["S|symbolic link|777|3|/t/l", "L|5|a|b|c|/t/l"], "/t")["/t/l"].link == "a|b|c"


@pytest.mark.remote
@pytest.mark.timeout(180)
def test_a_stopped_container_across_the_link_is_started_to_be_listed(remote_bed, tmp_path):
    """`up -d`, stop, edit and delete, `up -d` again over ssh: the stopped
    container's 3 MB tree is listed in it (an exec the engine reports), not
    downloaded; the app, started on the old tree, is restarted once level."""
    import os
    import threading
    import uuid

    from tests.conftest import devrun
    from tests.live_helpers import wait_until, write_files
    from tests.test_remote_up import remote_leftovers

    project = f"rlist-{uuid.uuid4().hex[:6]}"
    write_files(
        tmp_path,
        {
            "compose.yaml": "services:\n  app:\n    image: busybox:stable\n"
            '    command: ["sh", "-c", "cat /code/v.txt; exec sleep 300"]\n'
            "    init: true\n    volumes: ['./code:/code']\n",
            "code/v.txt": "one\n",
            "code/gone.txt": "bye\n",
        },
    )
    for i in range(30):
        (tmp_path / "code" / f"blob{i}.bin").write_bytes(os.urandom(100_000))
    box = remote_bed.client(remote_bed.socket)
    env = {"DOCKER_HOST": remote_bed.ssh}
    execs: list[str] = []
    events = box.events(decode=True, filters={"label": f"dev.devrun.project={project}", "type": "container"})
    threading.Thread(target=lambda: [execs.append(e.get("Action", "")) for e in events], daemon=True).start()
    try:
        for argv in (("up", "-d"), ("stop",)):
            r = devrun(*argv, "-p", project, cwd=tmp_path, env=env, timeout=120)
            assert r.returncode == 0, r.stderr
        (tmp_path / "code" / "v.txt").write_text("two\n")
        (tmp_path / "code" / "gone.txt").unlink()
        before = len(execs)
        r = devrun("up", "-d", "-p", project, cwd=tmp_path, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "1 path(s) copied, 1 deleted" in r.stderr, r.stderr
        c = box.containers.get(f"{project}-app")
        assert c.exec_run(["cat", "/code/v.txt"]).output == b"two\n"
        assert c.exec_run(["test", "-e", "/code/gone.txt"]).exit_code != 0
        assert any("devrun-tree" in a for a in execs[before:]), execs[before:]
        # restarted once level: the app's last start printed the new content
        wait_until(lambda: c.logs().decode().strip().endswith("two"), 10, what="the app on the new tree")
    finally:
        events.close()
        devrun("down", "-v", "-p", project, cwd=tmp_path, env=env, timeout=120)
        assert remote_leftovers(box, project) == []
        box.close()
