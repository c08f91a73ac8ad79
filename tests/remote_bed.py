"""The remote-engine test bed (scripts/remote-engine.sh) as a session fixture.

A plain helper module and pytest plugin: a test module loads it with
``pytest_plugins = ["tests.remote_bed"]`` (or the root conftest does, once),
which registers the ``remote`` marker and the ``remote_bed`` fixture.

The bed is started once per session and stopped at its end, unless another
pytest session still uses it (each session holds a shared lock on a lease file
for as long as it runs; the last one out stops the bed) or DEVRUN_REMOTE_KEEP=1.
Without root, dockerd or a local engine it skips, except under CI=true, where a
test that needs the bed fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "remote-engine.sh"
MARKER = "remote: needs the remote-engine test bed (scripts/remote-engine.sh: a second dockerd + sshd in their own namespaces)"


@dataclass(frozen=True)
class RemoteBed:
    """What a test needs to reach the bed; the fields mirror `remote-engine.sh env`."""

    tcp: str  # tcp://127.0.0.1:PORT, a loopback forwarder to the engine (no TLS)
    ssh: str  # ssh://root@127.0.0.1:PORT, sshd inside the remote box
    socket: str  # unix:///.../docker.sock, the engine's own socket (for set-up and checks)
    context: str  # docker context with the tcp endpoint
    context_ssh: str  # docker context with the ssh endpoint
    addr: str  # the remote box's address: its published ports answer here
    shaped_addr: str  # the same box over the shaped link (50 ms round trip, 20 Mbit/s)
    shaped_tcp: str
    shaped_ssh: str
    link: str  # netem | delayline: how the shaped link is made
    ssh_key: Path
    sshd_log: Path
    hidden: tuple[str, ...]  # folders that are empty tmpfs for the remote engine
    state: Path

    @classmethod
    def from_env_text(cls, text: str) -> RemoteBed:
        env = dict(
            line.removeprefix("export ").split("=", 1)
            for line in text.splitlines()
            if re.match(r"^(export )?DEVRUN_REMOTE_\w+=", line)
        )

        def get(key: str) -> str:
            return env[f"DEVRUN_REMOTE_{key}"]

        return cls(
            tcp=get("TCP"),
            ssh=get("SSH"),
            socket=get("SOCKET"),
            context=get("CONTEXT"),
            context_ssh=get("CONTEXT_SSH"),
            addr=get("ADDR"),
            shaped_addr=get("SHAPED_ADDR"),
            shaped_tcp=get("SHAPED_TCP"),
            shaped_ssh=get("SHAPED_SSH"),
            link=get("LINK"),
            ssh_key=Path(get("SSH_KEY")),
            sshd_log=Path(get("SSHD_LOG")),
            hidden=tuple(p for p in get("HIDDEN").split(":") if p),
            state=Path(get("STATE")),
        )

    def client(self, base_url: str | None = None, **kwargs):
        """A docker-py client for the bed (tcp unless told otherwise)."""
        import docker

        return docker.DockerClient(base_url=base_url or self.tcp, timeout=kwargs.pop("timeout", 30), **kwargs)

    def ssh_sessions(self) -> int:
        """ssh connections sshd accepted so far (count before and after to measure)."""
        try:
            return self.sshd_log.read_text(errors="replace").count("Accepted publickey")
        except OSError:
            return 0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


def _unavailable(why: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"remote-engine test bed required in CI: {why}", pytrace=False)
    pytest.skip(f"remote-engine test bed: {why}")


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "needs Linux (network and mount namespaces)"
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces, a second dockerd)"
    for tool in ("dockerd", "docker", "ip", "unshare", "nsenter", "ssh"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def run_script(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _state_dir() -> Path:
    return Path(os.environ.get("DEVRUN_REMOTE_STATE", "/var/lib/devrun-remote"))


@pytest.fixture(scope="session")
def remote_bed(docker_client) -> Iterator[RemoteBed]:
    """The bed; it needs the local engine too (its images come from there, and
    the tests compare the two), so without one it skips like every engine test."""
    why = _why_not()
    if why:
        _unavailable(why)
    state = _state_dir()
    state.mkdir(parents=True, exist_ok=True)
    lease = open(state / "lease", "a+")  # noqa: SIM115 - held for the whole session
    fcntl.flock(lease, fcntl.LOCK_SH)  # waits while another session is stopping the bed
    try:
        t0 = time.monotonic()
        try:
            done = run_script("start", "--quiet")
        except subprocess.TimeoutExpired:
            _unavailable("scripts/remote-engine.sh start did not finish within 180 s")
        if done.returncode != 0:
            _unavailable(f"scripts/remote-engine.sh start failed: {done.stderr.strip()[-800:]}")
        bed = RemoteBed.from_env_text(done.stdout)
        bed_started_s = time.monotonic() - t0
        os.environ.setdefault("DEVRUN_REMOTE_STARTED_S", f"{bed_started_s:.1f}")
        yield bed
    finally:
        if os.environ.get("DEVRUN_REMOTE_KEEP") != "1":
            try:
                fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last session out stops it
            except BlockingIOError:
                pass
            else:
                run_script("stop", timeout=60)
        lease.close()


@pytest.fixture(scope="session")
def remote_client(remote_bed: RemoteBed):
    """docker-py over the bed's tcp endpoint."""
    client = remote_bed.client()
    yield client
    client.close()


@contextlib.contextmanager
def local_engine_over_tcp(port: int) -> Iterator[str]:
    """This machine's engine reached as tcp://127.0.0.1:PORT (a loopback
    forwarder to its socket): a tcp engine that does see this machine's files."""
    forwarder = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "scripts" / "remote-engine-link.py"),
            "forward",
            f"127.0.0.1:{port}=unix:/var/run/docker.sock:0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert forwarder.stdout is not None and forwarder.stdout.readline().strip() == "ready"
        yield f"tcp://127.0.0.1:{port}"
    finally:
        forwarder.terminate()
        forwarder.wait(10)
