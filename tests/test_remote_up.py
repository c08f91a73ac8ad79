"""`devrun up` against a remote engine (issue 13 phase 2, done-when), on the bed
(tests/remote_bed.py: a second dockerd that does not see this machine's files).

Each test brings one project up by one way of reaching the engine (tcp, ssh, a
docker context) and runs every assertion on that one up: binds become syncs
(create, modify, delete, a new folder arrive), the signal action and the
process restart work, the published port answers on this machine's 127.0.0.1
(also after a container restart and a recreate), and `down` leaves nothing on
the remote engine."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import PYTHON, REPO, devrun
from tests.live_helpers import DevrunUp, wait_until, write_files

pytestmark = [pytest.mark.remote, pytest.mark.timeout(240)]

SERVER = """\
import os, signal, http.server
signals = 0
def on_usr1(sig, frame):
    global signals
    signals += 1
signal.signal(signal.SIGUSR1, on_usr1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        page = open("/code/page.txt").read().strip()
        body = f"pid={os.getpid()} signals={signals} page={page}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("serving", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""

COMPOSE = """\
services:
  web:
    image: {image}
    command: ["python3", "-u", "/code/server.py"]
    ports: ["{port}:8000"]
    volumes: ["./code:/code", "cache:/cache"]
    environment:
      LEVEL: "{level}"
    stop_grace_period: 2s
    develop:
      watch:
        - path: ./code/server.py
          action: sync+restart
          target: /code/server.py
    x-devrun:
      watch:
        - path: ./code/poke.txt
          action: signal
          signal: SIGUSR1
volumes:
  cache: {{}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, timeout: float = 3) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as r:
            return r.read().decode()
    except Exception:  # noqa: BLE001 - refused, reset, or not HTTP yet: no answer
        return None


def answers(port: int, want: str, timeout: float = 30) -> str:
    return wait_until(
        lambda: (t := get(port)) and want in t and t, timeout, interval=0.2, what=f"{want!r} on :{port}"
    )


def how_env(remote_bed, how: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """(global flags, environment) that reach the bed `how`."""
    if how == "tcp":
        return (), {"DOCKER_HOST": remote_bed.tcp}
    if how == "ssh":
        return (), {"DOCKER_HOST": remote_bed.ssh}
    context = remote_bed.context if how == "context" else remote_bed.context_ssh
    return ("--context", context), {"DOCKER_HOST": ""}


def in_container(client, project: str, service: str, *argv: str) -> tuple[int, str]:
    import docker.errors

    try:
        code, out = client.containers.get(f"{project}-{service}").exec_run(list(argv))
    except docker.errors.APIError:  # restarting, or replaced just now
        return -1, ""
    return code, out.decode()


def remote_leftovers(client, project: str) -> list[str]:
    flt = {"label": f"dev.devrun.project={project}"}
    return (
        [c.name for c in client.containers.list(all=True, filters=flt)]
        + [n.name for n in client.networks.list(filters=flt)]
        + [v.name for v in client.volumes.list(filters=flt)]
    )


class Up(DevrunUp):
    """`devrun [FLAGS] up --json --no-tui -p PROJECT`: global flags go before the command."""

    def __init__(self, folder: Path, project: str, flags: tuple[str, ...], env: dict[str, str]):
        self.folder, self.project, self.events, self.stderr = folder, project, [], []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devrun", *flags, "up", "--json", "--no-tui", "-p", project],
            cwd=folder,
            env={**os.environ, "NO_COLOR": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def messages(self) -> str:
        return "\n".join(str(e.get("message", "")) for e in self.events)


def _down(remote_bed, folder: Path, project: str, flags, env) -> None:
    r = devrun(*flags, "down", "-v", "-p", project, cwd=folder, env=env, timeout=90)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("how", ["tcp", "ssh"])
def test_python_web_on_a_remote_engine(remote_bed, remote_client, tmp_path, how):
    project = f"rweb-{how}-{uuid.uuid4().hex[:6]}"
    folder = tmp_path / "python-web"
    shutil.copytree(REPO / "examples" / "python-web", folder)
    port = free_port()
    flags, env = how_env(remote_bed, how)
    env = {**env, "PYTHON_WEB_PORT": str(port)}
    up = Up(folder, project, flags, env)
    try:
        up.wait_for("ready", timeout=150)
        assert "copied in and kept in sync" in up.messages()
        assert remote_client.containers.get(f"{project}-web").attrs["Mounts"] == []  # no bind mount there
        answers(port, "hello from devrun")
        src = folder / "src"
        # the signal action: the app re-imports its handler
        (src / "handler.py").write_text(
            (src / "handler.py").read_text().replace("hello from devrun", "hello remote")
        )
        answers(port, "hello remote", 20)
        # create, a new folder, modify, delete
        write_files(src, {"extra/deep/new.txt": "one"})
        wait_until(
            lambda: (
                in_container(remote_client, project, "web", "cat", "/app/src/extra/deep/new.txt")[1] == "one"
            ),
            20,
            what="new folder synced",
        )
        (src / "extra" / "deep" / "new.txt").write_text("two")
        wait_until(
            lambda: (
                in_container(remote_client, project, "web", "cat", "/app/src/extra/deep/new.txt")[1] == "two"
            ),
            20,
            what="modify synced",
        )
        shutil.rmtree(src / "extra")
        wait_until(
            lambda: in_container(remote_client, project, "web", "test", "-e", "/app/src/extra")[0] != 0,
            20,
            what="delete synced",
        )
        # the process restart (another src file), then the port still answers
        restarts = len(up.of("action_finished", service="web"))
        (src / "app.py").write_text((src / "app.py").read_text() + "\n# touched\n")
        wait_until(
            lambda: any("restart" in str(e) for e in up.of("action_finished", service="web")[restarts:]),
            30,
            what="process restart",
        )
        answers(port, "hello remote")
        # a container restart from outside devrun: the forward finds it again
        remote_client.containers.get(f"{project}-web").restart(timeout=1)
        answers(port, "hello remote")
        # `ps` lists the forward
        r = devrun(*flags, "ps", "-p", project, cwd=folder, env=env, timeout=60)
        assert f"here 127.0.0.1:{port}->8000/tcp" in r.stdout, r.stdout + r.stderr
    finally:
        up.stop()
        print("\n".join(json.dumps(e)[:300] for e in up.events if e.get("event") not in ("log",)))
        _down(remote_bed, folder, project, flags, env)
    assert remote_leftovers(remote_client, project) == []
    assert get(port, 1) is None  # the forward ended with the up


@pytest.mark.parametrize(
    "how",
    ["context", "context-ssh"],
)
def test_a_compose_project_on_a_remote_engine_by_context(remote_bed, remote_client, tmp_path, how):
    project = f"rcomp-{how}-{uuid.uuid4().hex[:6]}"
    port = free_port()
    write_files(
        tmp_path,
        {
            "compose.yaml": COMPOSE.format(image=PYTHON, port=port, level=1),
            "code/server.py": SERVER,
            "code/page.txt": "first",
            "code/poke.txt": "0",
        },
    )
    # the port is taken on this machine: the forward takes a free one and says which
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        flags, env = how_env(remote_bed, how)
        up = Up(tmp_path, project, flags, env)
        try:
            up.wait_for("ready", timeout=150)
            (line,) = [m for m in up.messages().splitlines() if "-> port 8000 on the engine" in m]
            assert f"({port} is taken here)" in line
            local = int(line.split("127.0.0.1:")[1].split()[0])
            first = answers(local, "page=first")
            pid = first.split()[0]
            # sync: the page changes
            (tmp_path / "code" / "page.txt").write_text("second")
            answers(local, "page=second", 20)
            # the signal action
            (tmp_path / "code" / "poke.txt").write_text("1")
            answers(local, "signals=1", 20)
            # sync+restart: a new process
            (tmp_path / "code" / "server.py").write_text(SERVER + "\n# v2\n")
            wait_until(
                lambda: (t := get(local)) and t.split()[0] != pid, 30, interval=0.2, what="process restart"
            )
            # a recreate (the config changes): the forward follows the new container
            old = remote_client.containers.get(f"{project}-web").id
            (tmp_path / "compose.yaml").write_text(COMPOSE.format(image=PYTHON, port=port, level=2))
            wait_until(
                lambda: remote_client.containers.get(f"{project}-web").id != old,
                60,
                interval=0.3,
                what="recreate",
            )
            answers(local, "page=second", 30)
        finally:
            up.stop()
            print(up.messages(), "".join(up.stderr))
            _down(remote_bed, tmp_path, project, flags, env)
    assert remote_leftovers(remote_client, project) == []


@pytest.mark.docker
def test_the_local_engine_over_tcp_keeps_bind_mounts(docker_client, tmp_path):
    """The same kind of project against the local engine reached by tcp on
    127.0.0.1: the check says it sees the files, so the bind mount stays."""
    from tests.remote_bed import local_engine_over_tcp

    with local_engine_over_tcp(free_port()) as url:
        project = f"rlocal-{uuid.uuid4().hex[:6]}"
        write_files(
            tmp_path,
            {
                "compose.yaml": "services:\n  app:\n    image: busybox:stable\n    command: ['sleep', '300']\n"
                "    init: true\n    volumes: ['./code:/code']\n",
                "code/a.txt": "a",
            },
        )
        env = {"DOCKER_HOST": url}
        try:
            r = devrun("up", "-d", "-p", project, cwd=tmp_path, env=env, timeout=90)
            assert r.returncode == 0, r.stderr
            mounts = docker_client.containers.get(f"{project}-app").attrs["Mounts"]
            assert [(m["Type"], m["Destination"]) for m in mounts] == [("bind", "/code")]
            assert "kept in sync" not in r.stderr
        finally:
            devrun("down", "-p", project, cwd=tmp_path, env=env, timeout=60)
