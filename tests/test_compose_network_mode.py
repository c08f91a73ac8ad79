"""network_mode: service:X on the real engine: the dependent shares X's
network (X's port answers on the dependent's 127.0.0.1), starts after X, and
follows X when X gets a new container."""

from __future__ import annotations

from pathlib import Path

import pytest

from devrun.config import loader
from devrun.plan import ImageInfo, service_spec
from tests.conftest import BUSYBOX, LABEL_PROJECT, devrun
from tests.live_helpers import DevrunUp, wait_until, write_files

PORT = 8123


def compose_file(version: str = "1") -> str:
    return f"""
services:
  x:
    image: {BUSYBOX}
    command: ["sh", "-c", "mkdir -p /www && echo served-$$V > /www/index.html && exec httpd -f -p {PORT} -h /www"]
    environment: {{V: "{version}"}}
  dep:
    image: {BUSYBOX}
    command: ["sleep", "300"]
    network_mode: service:x
    ports: ["9999:9999"]
"""


def test_the_dependent_waits_for_x_and_has_no_network_of_its_own(tmp_path: Path) -> None:
    write_files(tmp_path, {"compose.yaml": compose_file()})
    cfg = loader.load(start=tmp_path, environ={})
    dep = cfg.project.services["dep"]
    # as `docker compose config` adds it
    assert {k: v.model_dump() for k, v in dep.depends_on.items()} == {
        "x": {"condition": "service_started", "restart": True, "required": True}
    }
    assert any("services.dep.ports: not applied" in n and "x's network" in n for n in cfg.notes)
    spec = service_spec(cfg.project, "p", "dep", ImageInfo(ref=BUSYBOX, id="sha256:x", has_shell=True))
    assert spec.network_mode == "container:p-x" and spec.network is None
    assert (spec.ports, spec.aliases, spec.hostname) == ((), (), None)


def test_a_name_that_is_no_service_is_an_error(tmp_path: Path) -> None:
    write_files(tmp_path, {"compose.yaml": compose_file().replace("service:x", "service:nope")})
    r = devrun("config", cwd=tmp_path)
    assert r.returncode == 2 and "network_mode 'service:nope' names no other service" in r.stderr


@pytest.mark.docker
def test_the_dependent_reaches_x_on_localhost_and_follows_its_recreate(
    tmp_path: Path, project_name: str, docker_client
) -> None:
    write_files(tmp_path, {"compose.yaml": compose_file()})

    def containers() -> dict[str, object]:
        found = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={project_name}"})
        return {c.labels["dev.devrun.service"]: c for c in found}

    def fetched() -> str:
        code, out = containers()["dep"].exec_run(["wget", "-qO-", f"http://127.0.0.1:{PORT}/"])
        return out.decode().strip() if code == 0 else ""

    try:
        r = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert wait_until(lambda: fetched() == "served-1", 15)
        x, dep = containers()["x"], containers()["dep"]
        assert dep.attrs["HostConfig"]["NetworkMode"] in (f"container:{x.name}", f"container:{x.id}")
        assert x.attrs["State"]["StartedAt"] < dep.attrs["State"]["StartedAt"]  # x first
        assert not dep.attrs["HostConfig"]["PortBindings"]

        # x gets a new container: so does the dependent, on the new x's network
        (tmp_path / "compose.yaml").write_text(compose_file("2"))
        r = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert containers()["x"].id != x.id and containers()["dep"].id != dep.id
        assert "recreating dep (its network is container:" in r.stderr
        assert wait_until(lambda: fetched() == "served-2", 15)

        # only x brought up: the running dependent is recreated onto the new x all the same
        dep = containers()["dep"]
        (tmp_path / "compose.yaml").write_text(compose_file("3"))
        r = devrun("up", "-d", "-p", project_name, "x", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "recreating dep (its network is container:" in r.stderr and containers()["dep"].id != dep.id
        assert wait_until(lambda: fetched() == "served-3", 15)
    finally:
        devrun("down", "-p", project_name, "-t", "0", cwd=tmp_path)


@pytest.mark.docker
def test_an_attached_up_follows_x_through_a_config_edit(
    tmp_path: Path, project_name: str, docker_client
) -> None:
    """A reload recreates x: the dependent is recreated onto it, and the stop at
    Ctrl-C stops the new dependent (the session tracks it)."""
    write_files(tmp_path, {"compose.yaml": compose_file()})

    def dep():
        (c,) = docker_client.containers.list(
            all=True, filters={"label": [f"{LABEL_PROJECT}={project_name}", "dev.devrun.service=dep"]}
        )
        return c

    def fetched() -> str:
        try:
            code, out = dep().exec_run(["wget", "-qO-", f"http://127.0.0.1:{PORT}/"])
        except Exception:  # noqa: BLE001 - mid-recreate: two of them, or not running yet
            return ""
        return out.decode().strip() if code == 0 else ""

    try:
        with DevrunUp(tmp_path, project_name) as up:
            up.wait_for("ready", timeout=60)
            assert wait_until(lambda: fetched() == "served-1", 15)
            (tmp_path / "compose.yaml").write_text(compose_file("2"))
            assert wait_until(lambda: fetched() == "served-2", 30)
            up.stop()
        assert dep().status == "exited"
    finally:
        devrun("down", "-p", project_name, "-t", "0", cwd=tmp_path)
