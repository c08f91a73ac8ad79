"""Remote engines beyond the attached, watching `up` (issue 13), on the bed
(tests/remote_bed.py): `up -d`, `up --no-watch`, `run`, `start` and `restart`
copy the project's bind-mounted folders in before the app starts; a large
build context is reported before it is sent; a config reload that publishes
a port gets it forwarded here, and one that drops it closes the forward.

Every test reaches the engine over tcp, uses a project of its own and leaves
nothing on the remote engine (checked through the engine's own socket)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import BUSYBOX, PYTHON, devrun
from tests.live_helpers import DevrunUp, wait_until, write_files
from tests.test_remote_up import answers, free_port, get, remote_leftovers

pytestmark = [pytest.mark.remote, pytest.mark.timeout(90)]

APP = f"""\
services:
  app:
    image: {BUSYBOX}
    command: ["sleep", "300"]
    init: true
    stop_grace_period: 1s
    volumes: ["./code:/code"]
"""


@pytest.fixture(scope="module")
def box(remote_bed):
    """The remote engine through its own socket: what is really there."""
    client = remote_bed.client(remote_bed.socket)
    yield client
    client.close()


@pytest.fixture
def project(remote_bed, box, tmp_path):
    """(project name, environment reaching the bed over tcp); `down -v --rmi
    local` at the end, and nothing of the project may be left on the engine."""
    name = f"rdet-{uuid.uuid4().hex[:8]}"
    env = {"DOCKER_HOST": remote_bed.tcp}
    yield name, env
    r = devrun("down", "-v", "--rmi", "local", "-p", name, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert remote_leftovers(box, name) == []
    assert [t for i in box.images.list() for t in i.tags if t.startswith(name)] == []


def cat(box, container: str, path: str) -> str:
    code, out = box.containers.get(container).exec_run(["cat", path])
    return out.decode() if code == 0 else f"<exit {code}: {out.decode().strip()}>"


@pytest.mark.parametrize("flags", [("-d",), ("-d", "--no-watch")], ids=["d", "d-no-watch"])
def test_detached_up_copies_the_bind_mounted_folders_in(box, project, tmp_path, flags):
    name, env = project
    write_files(tmp_path, {"compose.yaml": APP, "code/x": "one", "code/sub/y": "deep"})
    r = devrun("up", *flags, "-p", name, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "brought level with the host: 3 path(s) copied" in r.stderr
    c = f"{name}-app"
    assert (cat(box, c, "/code/x"), cat(box, c, "/code/sub/y")) == ("one", "deep")
    # nothing watches after a detached up: `restart` brings the edits made since
    write_files(tmp_path, {"code/x": "two"})
    (tmp_path / "code" / "sub" / "y").unlink()
    r = devrun("restart", "-p", name, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert cat(box, c, "/code/x") == "two"
    assert box.containers.get(c).exec_run(["test", "-e", "/code/sub/y"])[0] != 0
    # and `start` of a stopped container
    assert devrun("stop", "-p", name, cwd=tmp_path, env=env, timeout=60).returncode == 0
    write_files(tmp_path, {"code/x": "three"})
    r = devrun("start", "-p", name, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert cat(box, c, "/code/x") == "three"


def test_attached_up_without_watching_copies_them_in(box, project, tmp_path):
    name, env = project
    write_files(tmp_path, {"compose.yaml": APP, "code/x": "attached"})
    with DevrunUp(tmp_path, name, "--no-tui", "--no-watch", env=env) as up:
        up.wait_for("ready", timeout=60)
        assert cat(box, f"{name}-app", "/code/x") == "attached"


def test_run_copies_them_into_the_one_off_and_its_dependencies(box, project, tmp_path):
    name, env = project
    side = (
        f"  side:\n    image: {BUSYBOX}\n    command: ['sleep', '300']\n    init: true\n"
        "    stop_grace_period: 1s\n    volumes: ['./side:/side']\n"
    )
    compose = APP + "    depends_on: [side]\n" + side
    write_files(tmp_path, {"compose.yaml": compose, "code/x": "from this machine", "side/z": "zed"})
    r = devrun("run", "-p", name, "--rm", "app", "cat", "/code/x", cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from this machine"
    assert cat(box, f"{name}-side", "/side/z") == "zed"


def test_run_keeps_what_the_image_has_in_a_copied_folder_and_says_so(project, tmp_path):
    """The one-off is never started just to delete: the image's files in the
    folder (busybox's /etc) stay beside the copied ones, with one warning."""
    name, env = project
    compose = f"services:\n  app:\n    image: {BUSYBOX}\n    volumes: ['./etc:/etc']\n"
    write_files(tmp_path, {"compose.yaml": compose, "etc/x.conf": "mine\n"})
    r = devrun(
        "run", "-p", name, "--rm", "app", "sh", "-c", "cat /etc/x.conf; test -e /etc/passwd && echo kept",
        cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["mine", "kept"]
    assert "they stay in the one-off container" in r.stderr


def _incompressible(path: Path, mb: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(2**20))


def test_a_large_build_context_is_reported_before_it_is_sent(remote_bed, project, tmp_path):
    name, env = project
    write_files(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    build: .\n    command: ['sleep', '300']\n",
            "Dockerfile": f"FROM {BUSYBOX}\nCOPY small.txt /small.txt\n",
            "small.txt": "small",
        },
    )
    r = devrun("build", "-p", name, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "of build context" not in r.stderr
    for i in range(3):
        _incompressible(tmp_path / "data" / f"blob{i}.bin", 18)
    _incompressible(tmp_path / "ignored" / "blob.bin", 60)
    write_files(tmp_path, {".dockerignore": "# not sent\nignored\n"})
    r = devrun("build", "-p", name, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if "of build context" in x]
    # 54 MB of data/, the ignored 60 MB left out as docker-py leaves it out
    assert f"building web: sending 54 MB of build context to the engine at {remote_bed.tcp}" in line
    assert line.endswith("a .dockerignore that leaves out data/ (54 MB) would shrink it")


PAGE_SERVER = """\
services:
  web:
    image: {image}
    command: ["python3", "-m", "http.server", "8000", "--directory", "/code"]
    stop_grace_period: 1s
    volumes: ["./code:/code"]
{ports}"""


def test_a_reload_that_publishes_a_port_forwards_it(project, tmp_path):
    name, env = project
    port = free_port()
    write_files(
        tmp_path,
        {"compose.yaml": PAGE_SERVER.format(image=PYTHON, ports=""), "code/index.html": "page here"},
    )
    with DevrunUp(tmp_path, name, "--no-tui", env=env) as up:
        up.wait_for("ready", timeout=60)
        assert get(port, 1) is None
        write_files(
            tmp_path,
            {"compose.yaml": PAGE_SERVER.format(image=PYTHON, ports=f'    ports: ["{port}:8000"]\n')},
        )
        up.wait_for("config_reloaded", timeout=60)
        answers(port, "page here", 30)
        assert any(
            f"web: 127.0.0.1:{port} -> port 8000 on the engine" in str(e.get("message")) for e in up.events
        )
        # dropped again: the forward closes
        write_files(tmp_path, {"compose.yaml": PAGE_SERVER.format(image=PYTHON, ports="")})
        up.wait_for("config_reloaded", timeout=60, count=2)
        wait_until(lambda: get(port, 1) is None, 10, what=f"127.0.0.1:{port} closed")
