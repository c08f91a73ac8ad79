"""The engine restarts while `devrun up` runs: proved on a real dockerd.

The machine's dockerd is shared (other engineers, CI), so it is never stopped:
each test starts a PRIVATE dockerd on its own socket, data root and exec root
(its own managed containerd under the exec root, its own default bridge, no
iptables, `--live-restore` so containers outlive the daemon), loads busybox
into it, points `devrun up --json` at it through DOCKER_HOST, then stops the
daemon (SIGTERM) and, in the first test, starts it again with the same
arguments. Everything is torn down in a finally: containers and networks,
the daemon, leftover shims, the data root's mounts, the temp folder."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import docker
import pytest

from tests.conftest import BUSYBOX
from tests.live_helpers import DevrunUp, read, wait_until

# prints "say <content of /state/say>" each time that file changes ($$: devrun interpolates $)
APP = 'last=; while :; do s=$$(cat /state/say 2>/dev/null); if [ "$$s" != "$$last" ]; then echo "say $$s"; last=$$s; fi; sleep 0.05; done'

CONFIG = f"""
services:
  app:
    image: {BUSYBOX}
    init: true
    command: ["sh", "-c", {json.dumps(APP)}]
    volumes: ["./src:/src", "./state:/state"]
    stop_grace_period: 1s
    watch:
      - path: src/exec.txt
        action: exec
        exec: cp /src/exec.txt /state/exec-out
"""


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line names our temp folder (daemon, containerd, shims)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _children(pid: int) -> list[int]:
    try:
        return [
            int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()
        ]
    except OSError:
        return []


class PrivateEngine:
    """A dockerd of our own under /tmp/devrun-it-XXXX (short: unix socket paths are capped at 108 bytes)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="devrun-it-", dir="/tmp"))
        self.host = f"unix://{self.root}/docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.bridges: set[str] = set()  # host interfaces of its networks, deleted if the daemon cannot
        used = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        octet = random.choice([n for n in range(200, 250) if f"10.{n}." not in used])
        # A default bridge of its own: with `--bridge none` dockerd deletes the host's
        # docker0 at start (removeDefaultBridgeInterface), breaking the main daemon's builds.
        self.own_bridge = f"dvrit{octet}"
        subprocess.run(["ip", "link", "delete", self.own_bridge], capture_output=True)
        for cmd in (
            ["ip", "link", "add", "name", self.own_bridge, "type", "bridge"],
            ["ip", "addr", "add", f"10.{octet}.254.1/24", "dev", self.own_bridge],
            ["ip", "link", "set", self.own_bridge, "up"],
        ):
            subprocess.run(cmd, check=True, capture_output=True)
        self.bridges.add(self.own_bridge)
        self.args = [
            "dockerd",
            "--host",
            self.host,
            "--data-root",
            f"{self.root}/root",
            "--exec-root",
            f"{self.root}/exec",
            "--pidfile",
            f"{self.root}/docker.pid",
            "--bridge",
            self.own_bridge,
            "--iptables=false",
            "--ip-masq=false",
            "--live-restore",
            "--default-address-pool",
            f"base=10.{octet}.0.0/16,size=24",
        ]

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=20)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20) -> None:
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - the daemon keeps writing to it
        self.proc = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"private dockerd exited ({self.proc.returncode}): {' '.join(self.args)}\n{self.log_tail()}"
                )
            try:
                self.client().ping()
                return
            except Exception:  # noqa: BLE001 - not listening yet
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"private dockerd not answering after {timeout}s\n{self.log_tail()}"
                    ) from None
                time.sleep(0.05)

    def containerd_pids(self) -> list[int]:
        """Its managed containerd: a child of our dockerd whose config lives under our exec root."""
        assert self.proc is not None
        config = f"containerd --config {self.root}/exec/containerd/containerd.toml"
        return [
            p
            for p in _children(self.proc.pid)
            if config in Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        ]

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM and wait for the daemon to exit; with --live-restore containers keep running."""
        if not self.running():
            return
        try:
            self.bridges |= {
                f"br-{n.id[:12]}" for n in self.client().networks.list() if n.attrs.get("Driver") == "bridge"
            }
        except Exception:  # noqa: BLE001 - only a cleanup aid
            pass
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, n: int = 15) -> str:
        return "\n".join(read(self.root / "dockerd.log").splitlines()[-n:])

    def destroy(self) -> None:
        """Remove everything it made, even when a test failed halfway: its containers
        and networks (through a running daemon), the daemon, any process still naming
        our folder (shims and their containers), mounts under the folder, the folder."""
        try:
            if not self.running():
                self.start()
            client = self.client()
            for c in client.containers.list(all=True):
                c.remove(force=True, v=True)
            for n in client.networks.list():
                if n.name not in ("none", "host", "bridge"):
                    n.remove()
        except Exception:  # noqa: BLE001 - fall through to the blunt steps below
            pass
        self.stop()
        for pid in _pids_mentioning(str(self.root)):
            for victim in [*_children(pid), pid]:
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for bridge in self.bridges:
            subprocess.run(["ip", "link", "delete", bridge], capture_output=True)
        mounts = subprocess.run(
            ["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True
        ).stdout.split()
        for target in sorted((m for m in mounts if m.startswith(str(self.root))), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def engine(docker_client):
    """A started private dockerd with busybox loaded; with CI=true failing to start it fails the test."""
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        why = (
            "dockerd is not installed" if shutil.which("dockerd") is None else "a private dockerd needs root"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"private dockerd required in CI: {why}")
        pytest.skip(why)
    private = PrivateEngine()
    had_docker0 = Path("/sys/class/net/docker0").exists()
    try:
        try:
            private.start()
        except RuntimeError as e:
            if os.environ.get("CI") == "true":
                pytest.fail(str(e))
            pytest.skip(str(e))
        # its own containerd, not the shared daemon's
        assert private.containerd_pids(), f"no containerd under {private.root}/exec: {private.log_tail()}"
        private.client().images.load(b"".join(docker_client.images.get(BUSYBOX).save(named=True)))
        yield private
    finally:
        private.destroy()
        docker_client.ping()  # the shared daemon never noticed
    assert not private.root.exists() and not _pids_mentioning(str(private.root))
    # the shared daemon's default bridge is untouched (image builds with RUN need it)
    assert had_docker0 <= Path("/sys/class/net/docker0").exists(), "the private dockerd removed docker0"


def make_project(folder: Path) -> None:
    (folder / "devrun.yaml").write_text(CONFIG)
    (folder / "src").mkdir()
    (folder / "state").mkdir()
    (folder / "src/exec.txt").write_text("e0")


def says(up: DevrunUp, word: str, timeout: float = 10) -> None:
    wait_until(
        lambda: up.of("log", service="app", line=f"say {word}"),
        timeout,
        what=f"log line 'say {word}': {up.tail()}",
    )


def no_traceback(up: DevrunUp) -> None:
    assert "Traceback" not in "".join(up.stderr), "".join(up.stderr)
    assert not up.of("not-json")


@pytest.mark.timeout(90)
def test_engine_restart_is_survived_with_actions_and_logs(tmp_path, project_name, engine):
    make_project(tmp_path)
    env = {"DOCKER_HOST": engine.host, "DEVRUN_ENGINE_TIMEOUT": "20"}
    with DevrunUp(tmp_path, project_name, env=env) as up:
        up.wait_for("ready", timeout=30)
        before, during, after = (f"{w}-{uuid.uuid4().hex[:8]}" for w in ("before", "during", "after"))
        (tmp_path / "state/say").write_text(before)
        says(up, before)
        c = engine.client().containers.get(f"{project_name}-app")
        started_at = c.attrs["State"]["StartedAt"]

        engine.stop()
        up.wait_for("warning", timeout=10)
        assert "lost the engine's event stream" in up.of("warning")[0]["message"]
        (tmp_path / "state/say").write_text(
            during
        )  # the app runs on (live-restore) and logs while no daemon reads
        engine.start()
        up.wait_for("info", timeout=20, message="reconnected to the engine")

        # the same container, never restarted
        c = engine.client().containers.get(f"{project_name}-app")
        assert c.attrs["State"]["Running"] and c.attrs["State"]["StartedAt"] == started_at
        says(up, during)  # what it printed during the outage is not lost
        (tmp_path / "state/say").write_text(after)
        says(up, after)  # the log stream is followed again
        (tmp_path / "src/exec.txt").write_text(after)
        wait_until(
            lambda: read(tmp_path / "state/exec-out") == after,
            10,
            what=f"exec action after the restart: {up.tail()}",
        )
        assert up.wait_for("action_finished", timeout=5, action="exec")[-1]["ok"] is True
        # each line exactly once: the re-followed stream starts at the drop, not at the beginning
        assert [e["line"] for e in up.of("log", service="app")] == [
            f"say {before}",
            f"say {during}",
            f"say {after}",
        ]
        assert not up.of("error"), up.of("error")
        assert len(up.of("warning")) == 1
    no_traceback(up)


@pytest.mark.timeout(90)
def test_engine_gone_past_the_timeout_exits_1_and_leaves_the_container(tmp_path, project_name, engine):
    make_project(tmp_path)
    timeout = 5.0
    with DevrunUp(
        tmp_path, project_name, env={"DOCKER_HOST": engine.host, "DEVRUN_ENGINE_TIMEOUT": f"{timeout:g}"}
    ) as up:
        up.wait_for("ready", timeout=30)
        state = engine.client().containers.get(f"{project_name}-app").attrs["State"]

        engine.stop()
        gone = time.monotonic()
        rc = up.proc.wait(timeout + 10)
        took = time.monotonic() - gone
        assert rc == 1, up.tail()
        assert timeout - 0.5 <= took <= timeout + 2.0, took
        wait_until(lambda: up.of("error"), 2, what="error event")  # the reader thread may lag the exit
        errors = up.of("error")
        assert len(errors) == 1, errors
        assert (
            "unreachable for 5s" in errors[0]["message"]
            and "leaving the containers as they are" in errors[0]["message"]
        )
        assert Path(f"/proc/{state['Pid']}").exists()  # the app still runs with no daemon at all

    no_traceback(up)
    engine.start()
    containers = engine.client().containers.list(all=True)
    assert [c.name for c in containers] == [f"{project_name}-app"]
    after = containers[0].attrs["State"]
    assert after["Running"] and (after["Pid"], after["StartedAt"]) == (state["Pid"], state["StartedAt"])
