"""The remote-engine test bed is what issue 13 asks for: a second engine that does
not see this machine's files, holds the base images, answers over tcp, ssh and a
docker context, publishes ports on its own address, and sits behind a shaped link."""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.remote_bed import REPO, RemoteBed, run_script  # noqa: E402

pytestmark = [pytest.mark.remote, pytest.mark.timeout(120)]

BUSYBOX = os.environ.get("DEVRUN_BUSYBOX_IMAGE", "busybox:stable")
PYTHON = os.environ.get("DEVRUN_PYTHON_IMAGE", "python:3.11-slim")
SERVE = "mkdir -p /www && echo {text} > /www/index.html && head -c {size} /dev/zero > /www/blob && exec httpd -f -p 80 -h /www"


def _ls(client, folder: str) -> list[str]:
    out = client.containers.run(
        BUSYBOX, ["ls", "-A", "/x"], volumes={folder: {"bind": "/x", "mode": "ro"}}, remove=True
    )
    return out.decode().split()


def test_the_remote_engine_does_not_see_the_repository_or_temp_files(remote_client, tmp_path):
    import docker

    (tmp_path / "marker.txt").write_text("here")
    local = docker.from_env(timeout=30)
    # the local engine sees both: the comparison is meaningful
    assert "pyproject.toml" in _ls(local, str(REPO))
    assert _ls(local, str(tmp_path)) == ["marker.txt"]
    # the remote one mounts an empty folder in their place (dockerd creates a missing source)
    assert _ls(remote_client, str(REPO)) == []
    assert _ls(remote_client, str(tmp_path)) == []
    assert remote_client.info()["Name"] != local.info()["Name"]
    assert remote_client.info()["ID"] != local.info()["ID"]


def test_the_remote_engine_has_the_base_images(remote_client):
    import docker

    local = docker.from_env(timeout=30)
    for image in (BUSYBOX, PYTHON):
        assert remote_client.images.get(image).id == local.images.get(image).id


def test_the_remote_has_its_own_engine_state(remote_bed: RemoteBed, remote_client):
    info = remote_client.info()
    assert info["DockerRootDir"] == str(remote_bed.state / "data")
    assert info["Name"] == "devrun-remote" or info["Name"].startswith("devrun-remote")
    # its socket, its tcp endpoint and its contexts all reach the same daemon
    same = remote_bed.client(remote_bed.socket).info()["ID"]
    assert same == info["ID"]


@pytest.mark.parametrize("use_ssh_client", [False, True], ids=["paramiko", "ssh-binary"])
def test_ssh_url_works_through_docker_py(remote_bed: RemoteBed, remote_client, use_ssh_client):
    before = remote_bed.ssh_sessions()
    client = remote_bed.client(remote_bed.ssh, use_ssh_client=use_ssh_client)
    try:
        assert client.info()["ID"] == remote_client.info()["ID"]
        assert client.containers.run(BUSYBOX, ["echo", "over-ssh"], remove=True).strip() == b"over-ssh"
    finally:
        client.close()
        # docker-py 7 does not keep the ssh-binary transport's connection pools (a new
        # one per request), so close() misses them and their ssh processes live on until
        # exit, when they fail on a stopped sshd: close them now
        from docker.transport.sshconn import SSHConnectionPool

        for pool in [o for o in gc.get_objects() if isinstance(o, SSHConnectionPool)]:
            pool.close()
    # sshd logs each connection: the count the "ssh sessions per 50 edits" figure needs
    assert remote_bed.ssh_sessions() > before


def test_docker_py_over_paramiko_keeps_one_ssh_session(remote_bed: RemoteBed):
    """What "one long-lived connection for the whole up" can build on."""
    before = remote_bed.ssh_sessions()
    client = remote_bed.client(remote_bed.ssh, use_ssh_client=False)
    try:
        for _ in range(5):
            client.info()
            client.containers.list(all=True)
        client.containers.run(BUSYBOX, ["true"], remove=True)
    finally:
        client.close()
    assert remote_bed.ssh_sessions() - before == 1


def test_ssh_url_works_for_the_docker_cli(remote_bed: RemoteBed, remote_client):
    out = subprocess.run(
        ["docker", "-H", remote_bed.ssh, "info", "--format", "{{.ID}}"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,  # no prompt may wait for an answer
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == remote_client.info()["ID"]


@pytest.mark.parametrize("which", ["context", "context_ssh"])
def test_docker_contexts_reach_the_remote_engine(remote_bed: RemoteBed, remote_client, which):
    import hashlib

    import docker

    name = getattr(remote_bed, which)
    out = subprocess.run(
        ["docker", "--context", name, "info", "--format", "{{.ID}}"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == remote_client.info()["ID"]
    # the context store as the CLI wrote it (docker-py's ContextAPI cannot be used to
    # read it: without ~/.docker/config.json it looks in ./contexts, docker/docker-py#2622)
    config_dir = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    host = json.loads(meta.read_text())["Endpoints"]["docker"]["Host"]
    assert host == (remote_bed.tcp if which == "context" else remote_bed.ssh)
    client = docker.DockerClient(base_url=host, timeout=30)
    try:
        assert client.info()["ID"] == remote_client.info()["ID"]
    finally:
        client.close()


def _free_remote_port(remote_client) -> int:
    used = {
        int(b["HostPort"])
        for c in remote_client.containers.list()
        for bindings in (c.ports or {}).values()
        for b in bindings or []
    }
    for _ in range(100):
        port = 20000 + uuid.uuid4().int % 20000
        if port not in used and _refused("127.0.0.1", port):
            return port
    raise AssertionError("no free port")


def _refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except OSError:
        return True


def _get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


@pytest.fixture
def served(remote_client):
    """A busybox httpd on the remote engine publishing a free port; yields the port."""
    port = _free_remote_port(remote_client)
    text = uuid.uuid4().hex
    c = remote_client.containers.run(
        BUSYBOX,
        ["sh", "-c", SERVE.format(text=text, size=2_000_000)],
        detach=True,
        ports={"80/tcp": port},
        name=f"devrun-bed-{text[:8]}",
    )
    try:
        yield port, text
    finally:
        c.remove(force=True)


def _wait_get(url: str) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            return _get(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_published_ports_answer_at_the_remote_address_not_on_loopback(remote_bed: RemoteBed, served):
    port, text = served
    assert _wait_get(f"http://{remote_bed.addr}:{port}/").strip().decode() == text
    # as on a real remote machine: nothing on this machine's 127.0.0.1 (that is devrun's job)
    assert _refused("127.0.0.1", port)


def _connect_ms(host: str, port: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        with socket.create_connection((host, port), timeout=5):
            best = min(best, (time.perf_counter() - t0) * 1000)
    return best


def test_the_shaped_link_has_50ms_round_trips_and_20_mbit(remote_bed: RemoteBed, served):
    port, text = served
    assert _wait_get(f"http://{remote_bed.shaped_addr}:{port}/").strip().decode() == text
    plain, shaped = _connect_ms(remote_bed.addr, port), _connect_ms(remote_bed.shaped_addr, port)
    assert plain < 20, f"plain link: {plain:.1f} ms"
    assert 48 <= shaped < 150, f"shaped link round trip: {shaped:.1f} ms ({remote_bed.link})"
    t0 = time.perf_counter()
    assert len(_get(f"http://{remote_bed.shaped_addr}:{port}/blob", timeout=30)) == 2_000_000
    seconds = time.perf_counter() - t0
    mbit = 2_000_000 * 8 / seconds / 1e6
    # 2 MB at 20 Mbit/s is 0.8 s plus slow start; well above 20 would mean no shaping
    assert 8 < mbit <= 21, f"shaped link: {mbit:.1f} Mbit/s ({remote_bed.link})"
    # the engine answers over it too
    t0 = time.perf_counter()
    assert remote_bed.client(remote_bed.shaped_tcp).ping()
    assert time.perf_counter() - t0 >= 0.05


def test_a_second_bed_starts_idempotently_and_stop_leaves_nothing(remote_bed: RemoteBed):
    """Its own names, so the session's bed is untouched; only busybox, to be quick."""
    env = {
        "DEVRUN_REMOTE_STATE": "/var/lib/devrun-remote-lifecycle",
        "DEVRUN_REMOTE_NETNS": "devrun-remote-lc",
        "DEVRUN_REMOTE_NET": "10.196",
        "DEVRUN_REMOTE_TCP_PORT": "23751",
        "DEVRUN_REMOTE_SSH_PORT": "22221",
        "DEVRUN_REMOTE_CONTEXT": "devrun-remote-lifecycle",
        "DEVRUN_REMOTE_IMAGES": BUSYBOX,
    }
    state = Path(env["DEVRUN_REMOTE_STATE"])
    try:
        t0 = time.monotonic()
        first = run_script("start", "--quiet", env=env)
        started_s = time.monotonic() - t0
        assert first.returncode == 0, first.stderr
        bed = RemoteBed.from_env_text(first.stdout)
        assert started_s < 30, f"bed start took {started_s:.1f} s"
        t0 = time.monotonic()
        again = run_script("start", "--quiet", env=env)
        assert again.returncode == 0 and again.stdout == first.stdout
        assert time.monotonic() - t0 < 5
        container = bed.client().containers.run(
            BUSYBOX, ["sleep", "300"], detach=True, ports={"80/tcp": 23999}
        )
        assert container.status in ("created", "running")
        mntns = (state / "mntns").read_text().strip()
    finally:
        stopped = run_script("stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    # no process of the box (same mount namespace) or naming its state folder
    left = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "ns/mnt") == mntns:
                left.append(proc.name)
            elif str(state) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX":
                    left.append(proc.name)
        except OSError:
            continue
    assert not left, f"processes left: {left}"
    assert (
        "devrun-remote-lc"
        not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "10.196." not in subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout, links
    assert str(state) not in Path("/proc/mounts").read_text()
    contexts = json.loads(
        "["
        + ",".join(
            subprocess.run(
                ["docker", "context", "ls", "--format", "{{json .}}"], capture_output=True, text=True
            ).stdout.split("\n")[:-1]
        )
        + "]"
    )
    assert not [c for c in contexts if c["Name"].startswith("devrun-remote-lifecycle")]
    for f in ("config", "known_hosts"):
        path = Path.home() / ".ssh" / f
        assert not path.exists() or "devrun-remote-bed:devrun-remote-lc" not in path.read_text()
    assert not (state / "docker.sock").exists()
    # the session's bed still answers
    assert remote_bed.client().ping()
