"""Security defaults on the real engine: ports bind to 127.0.0.1 unless the
config names an address, and a port on all interfaces is warned about by `up`
and `ps`; secrets from env_file never show in `config`, `ps --json` or the
JSON events unless `config --show-secrets`; and devrun never touches a
container, network or volume that lacks its project label, even with the
very name it would use. (Mount/privilege opt-ins: test_hostile_inputs.py.)"""

from __future__ import annotations

import json

import docker.errors
import pytest

from tests.conftest import BUSYBOX, devrun
from tests.live_helpers import DevrunUp, free_port

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
SECRETS = {
    "API_TOKEN": "tok-4f9a1c0e77",
    "DB_PASSWORD": "hunter2-xyzzy",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-K7MDENG",
}


def service(extra: str = "") -> str:
    return f"""
services:
  web:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(IDLE)}
    stop_grace_period: 1s
{extra}"""


def test_ports_bind_to_loopback_by_default_and_all_interfaces_are_warned(
    tmp_path, project_name, docker_client
):
    local, public = free_port(), free_port()
    (tmp_path / "devrun.yaml").write_text(
        service(f"""    ports:
      - "{local}:80"
      - "0.0.0.0:{public}:81"
""")
    )
    res = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"port {public} is published on all interfaces" in res.stdout + res.stderr
    assert f"port {local} " not in res.stdout + res.stderr
    bindings = docker_client.containers.get(f"{project_name}-web").attrs["HostConfig"]["PortBindings"]
    assert bindings["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(local)}]
    assert bindings["81/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(public)}]
    ps = devrun("ps", "--json", "-p", project_name, cwd=tmp_path)
    assert ps.returncode == 0
    json.loads(ps.stdout)  # the warning goes to stderr: stdout stays one JSON document
    assert f"port {public} is published on all interfaces" in ps.stderr


def test_secrets_are_masked_in_config_ps_and_events(tmp_path, project_name):
    (tmp_path / "secrets.env").write_text(
        "".join(f"{k}={v}\n" for k, v in SECRETS.items()) + "GREETING=hello-visible\n"
    )
    (tmp_path / "devrun.yaml").write_text(service("    env_file: secrets.env\n"))
    for args in (["config"], ["config", "--json"]):
        res = devrun(*args, "-p", project_name, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert "hello-visible" in res.stdout and "********" in res.stdout
        assert not [v for v in SECRETS.values() if v in res.stdout + res.stderr]
    shown = devrun("config", "--show-secrets", "-p", project_name, cwd=tmp_path)
    assert all(v in shown.stdout for v in SECRETS.values())

    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        ps = devrun("ps", "--json", "-p", project_name, cwd=tmp_path)
        ps_text = devrun("ps", "-p", project_name, cwd=tmp_path)
        # a config reload prints what changed, never the values
        (tmp_path / "secrets.env").write_text(
            (tmp_path / "secrets.env").read_text().replace("hunter2-xyzzy", "hunter3-xyzzy")
        )
        up.wait_for("config_reloaded", timeout=30)
    everything = up.tail(10_000) + ps.stdout + ps.stderr + ps_text.stdout + ps_text.stderr
    assert not [v for v in [*SECRETS.values(), "hunter3-xyzzy"] if v in everything]


@pytest.fixture
def squatters(project_name, docker_client):
    """Unlabelled resources holding the exact names devrun would use."""
    made = {
        "container": docker_client.containers.create(BUSYBOX, ["sleep", "600"], name=f"{project_name}-web"),
        "network": docker_client.networks.create(f"{project_name}_default"),
        "volume": docker_client.volumes.create(f"{project_name}_data"),
    }
    yield made
    for kind, obj in made.items():
        try:
            obj.remove(force=True) if kind != "network" else obj.remove()
        except docker.errors.APIError:
            pass


def test_unlabelled_same_named_resources_are_never_touched(tmp_path, project_name, docker_client, squatters):
    (tmp_path / "devrun.yaml").write_text(service("    volumes: ['data:/data']\nvolumes:\n  data: {}\n"))
    before = {k: (o.id, o.attrs.get("Created") or o.attrs.get("CreatedAt")) for k, o in squatters.items()}
    res = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    for kind, name in (
        ("container", f"{project_name}-web"),
        ("network", f"{project_name}_default"),
        ("volume", f"{project_name}_data"),
    ):
        assert (
            f"a {kind} named {name} already exists and belongs to something other than devrun" in res.stderr
        ), res.stderr
    assert len(res.stderr.strip().splitlines()) == 3  # one line per clash

    down = devrun("down", "--volumes", "-p", project_name, cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    # every squatter is still there, unchanged and unlabelled
    c = docker_client.containers.get(f"{project_name}-web")
    n = docker_client.networks.get(f"{project_name}_default")
    v = docker_client.volumes.get(f"{project_name}_data")
    assert (c.id, c.attrs["Created"]) == before["container"] and c.status == "created"
    assert n.id == before["network"][0] and v.id == before["volume"][0]
    assert not (c.labels or {}) and not (n.attrs.get("Labels") or {}) and not (v.attrs.get("Labels") or {})
    # and nothing of the project's own was left behind
    assert (
        docker_client.containers.list(all=True, filters={"label": f"dev.devrun.project={project_name}"}) == []
    )
    assert docker_client.networks.list(filters={"label": f"dev.devrun.project={project_name}"}) == []
