"""Safety of a compose file run as it is: ports stay on 127.0.0.1 unless the
file names an address (`up` says once that compose would publish on 0.0.0.0);
the Docker socket, host paths outside the project and privileges run with one
warning line each at `up` and in `doctor`; `--strict` (anywhere on the command
line) or `x-devrun: {strict: true}` makes them errors, before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BUSYBOX, LABEL_PROJECT, devrun
from tests.live_helpers import free_port, write_files

NOTE = "compose would publish on 0.0.0.0"


def risky_project(folder: Path, port: int, extra: str = "") -> Path:
    project = folder / "proj"
    (folder / "outside").mkdir()
    write_files(
        project,
        {
            "compose.yaml": f"""{extra}
services:
  web:
    image: {BUSYBOX}
    command: ["sleep", "300"]
    init: true
    ports: ["{port}:80", "127.0.0.1:{free_port()}:81"]
    volumes: ["../outside:/outside"]
    cap_add: [NET_ADMIN]
"""
        },
    )
    return project


def test_config_and_doctor_say_each_risk_once_and_strict_refuses(tmp_path: Path) -> None:
    project = risky_project(tmp_path, free_port())
    r = devrun("config", "--services", cwd=project)
    assert r.returncode == 0 and r.stdout == "web\n", r.stderr
    assert r.stderr.count(NOTE) == 1
    assert r.stderr.count("is outside the project folder") == 1
    assert r.stderr.count("services.web.cap_add: added capabilities") == 1
    doctor = devrun("doctor", cwd=project)
    warned = [ln for ln in doctor.stdout.splitlines() if ln.startswith("warn") and "compose file says" in ln]
    assert len(warned) == 2, doctor.stdout
    for args in (("--strict", "config"), ("config", "--strict"), ("doctor", "--strict")):
        r = devrun(*args, cwd=project)
        out = r.stdout + r.stderr
        assert r.returncode in (1, 2) and "refused by --strict" in out, (args, out)
        assert out.count("refused by --strict") == 2, out


@pytest.mark.docker
def test_up_warns_once_and_publishes_on_localhost(tmp_path: Path, project_name: str, docker_client) -> None:
    port = free_port()
    project = risky_project(tmp_path, port)
    r = devrun("up", "-d", "-p", project_name, cwd=project, timeout=120)
    try:
        assert r.returncode == 0, r.stderr
        assert r.stderr.count(NOTE) == 1, r.stderr
        assert r.stderr.count("is outside the project folder") == 1, r.stderr
        assert r.stderr.count("added capabilities") == 1, r.stderr
        (container,) = docker_client.containers.list(filters={"label": f"{LABEL_PROJECT}={project_name}"})
        bindings = container.attrs["HostConfig"]["PortBindings"]
        assert bindings["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        assert "NET_ADMIN" in container.attrs["HostConfig"]["CapAdd"]
    finally:
        devrun("down", "-p", project_name, "-t", "0", cwd=project)


@pytest.mark.docker
@pytest.mark.parametrize(
    ("args", "extra"),
    [(("--strict", "up"), ""), (("up", "--strict"), ""), (("up",), "x-devrun: {strict: true}")],
    ids=["global-flag", "flag-after-up", "x-devrun"],
)
def test_strict_refuses_before_anything_is_created(
    tmp_path: Path, project_name: str, docker_client, args, extra
) -> None:
    project = risky_project(tmp_path, free_port(), extra)
    r = devrun("-p", project_name, *args, "-d", cwd=project, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("refused by --strict") == 2, r.stderr
    label = {"label": f"{LABEL_PROJECT}={project_name}"}
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.networks.list(filters=label) == []
