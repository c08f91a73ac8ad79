"""Across a network link big archives go gzip'd (engine/streams.py put_archive):
the engine extracts them as it extracts plain ones, and small ones go plain."""

from __future__ import annotations

import io
import tarfile
import zlib

import pytest

from devrun.engine import streams
from devrun.engine.docker import Engine
from tests.conftest import cleanup_project


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o640
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_the_chunks_are_one_gzip_stream_of_the_tar():
    data = _tar({"a/b.txt": b"x" * 1_000_000})
    packed = b"".join(streams._gzip_chunks(io.BytesIO(data)))
    assert zlib.decompress(packed, 31) == data
    assert len(packed) < len(data) // 50


@pytest.mark.docker
def test_a_gzipped_archive_lands_as_a_plain_one(docker_client, project_name, monkeypatch):
    sent: list[object] = []
    engine = Engine(docker_client, "local")
    engine.compress_archives = True
    real = engine.api.put_archive
    monkeypatch.setattr(
        engine.api, "put_archive", lambda cid, path, data: sent.append(data) or real(cid, path, data)
    )
    c = docker_client.containers.create(
        "busybox:stable", ["sleep", "30"], labels={"dev.devrun.project": project_name}
    )
    try:
        big = {f"code/pkg/m{i}.py": (f"def f{i}():\n    return {i}\n" * 2000).encode() for i in range(20)}
        engine.put_archive(c.id, "/", _tar(big))
        engine.put_archive(c.id, "/", _tar({"code/small.txt": b"small"}))
        assert not isinstance(sent[0], bytes) and isinstance(sent[1], bytes)  # gzip'd, then plain
        got = engine.tree(c.id, "/code")
        assert got["/code/pkg/m7.py"].size == len(big["code/pkg/m7.py"])
        assert got["/code/pkg/m7.py"].mode == 0o640
        assert got["/code/small.txt"].size == 5
        assert sum(1 for e in got.values() if e.kind == "file") == 21
    finally:
        c.remove(force=True)
        cleanup_project(project_name)


@pytest.mark.parametrize(
    "url, far",
    [
        ("unix:///var/run/docker.sock", False),
        ("tcp://127.0.0.1:2375", False),
        ("tcp://localhost:2375", False),
        ("tcp://[::1]:2375", False),
        ("tcp://10.0.0.5:2376", True),
        ("tcp://box.example:2376", True),
        ("ssh://dev@127.0.0.1", True),
    ],
)
def test_only_engines_across_a_network_get_compressed_archives(url, far):
    from devrun.engine.select import EngineTarget

    target = EngineTarget(url, url.split(":")[0], None, "DOCKER_HOST")
    assert target.across_network() is far
