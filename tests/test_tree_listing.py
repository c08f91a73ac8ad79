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
