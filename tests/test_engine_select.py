"""Engine selection the Docker way (devrun/engine/select.py): unit tests on
fake config folders, a differential test against the docker CLI's own choice, and
sees_host_files on real engines (local: yes; the remote bed: no; the local engine
over a tcp listener on 127.0.0.1: yes)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from devrun.engine.select import (
    PROBE_LABEL,
    EngineTarget,
    forget_seen,
    sees_host_files,
    select_engine,
)
from devrun.errors import EngineError

REPO = Path(__file__).resolve().parent.parent


def write_context(config: Path, name: str, host: str, skip_verify: bool = False, tls: bool = False) -> Path:
    cid = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / cid / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {"Description": "test"},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
            }
        )
    )
    if tls:
        tls_dir = config / "contexts" / "tls" / cid / "docker"
        tls_dir.mkdir(parents=True)
        for f in ("ca.pem", "cert.pem", "key.pem"):
            (tls_dir / f).write_text(f"fake {f}")
    return meta


@pytest.fixture
def config(tmp_path) -> Path:
    folder = tmp_path / "docker-config"
    folder.mkdir()
    return folder


def env_for(config: Path, **extra: str) -> dict[str, str]:
    return {"DOCKER_CONFIG": str(config), "HOME": str(config.parent), **extra}


def test_nothing_set_is_the_default_socket(config):
    t = select_engine(env=env_for(config))
    assert (t.url, t.transport, t.context, t.source, t.tls) == (
        "unix:///var/run/docker.sock",
        "unix",
        None,
        "default",
        False,
    )


def test_home_is_used_without_docker_config(tmp_path):
    (tmp_path / ".docker").mkdir()
    write_context(tmp_path / ".docker", "box", "ssh://dev@box")
    (tmp_path / ".docker" / "config.json").write_text(json.dumps({"currentContext": "box"}))
    t = select_engine(env={"HOME": str(tmp_path)})
    assert (t.url, t.transport, t.context, t.source) == ("ssh://dev@box", "ssh", "box", "docker context use")


@pytest.mark.parametrize(
    "host, transport",
    [
        ("tcp://127.0.0.1:2375", "tcp"),
        ("ssh://dev@box:2222", "ssh"),
        ("unix:///run/user/1000/docker.sock", "unix"),
        ("npipe:////./pipe/docker_engine", "npipe"),
    ],
)
def test_docker_host(config, host, transport):
    t = select_engine(env=env_for(config, DOCKER_HOST=host))
    assert (t.url, t.transport, t.context, t.source) == (host, transport, None, "DOCKER_HOST")
    assert host in t.describe() and transport in t.describe()


@pytest.mark.parametrize("host", ["http://box:2375", "box:2375", "tcp://", "fd://"])
def test_a_malformed_docker_host_is_one_line(config, host):
    with pytest.raises(EngineError) as e:
        select_engine(env=env_for(config, DOCKER_HOST=host))
    assert "DOCKER_HOST" in str(e.value) and "\n" not in str(e.value)


def test_tls_variables(config, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    for f in ("ca.pem", "cert.pem", "key.pem"):
        (certs / f).write_text("x")
    t = select_engine(
        env=env_for(config, DOCKER_HOST="tcp://box:2376", DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(certs))
    )
    assert (t.tls, t.tls_verify) == (True, True)
    assert (t.ca_cert, t.client_cert, t.client_key) == tuple(
        str(certs / f) for f in ("ca.pem", "cert.pem", "key.pem")
    )
    assert "TLS" in t.describe()
    # DOCKER_TLS without verification; the cert folder defaults to the config folder
    t = select_engine(env=env_for(config, DOCKER_HOST="tcp://box:2376", DOCKER_TLS="1"))
    assert (t.tls, t.tls_verify, t.ca_cert) == (True, False, None)


def test_tls_verify_without_a_ca_is_one_line_naming_the_file(config, tmp_path):
    with pytest.raises(EngineError) as e:
        select_engine(
            env=env_for(
                config, DOCKER_HOST="tcp://box:2376", DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(tmp_path)
            )
        )
    assert str(tmp_path / "ca.pem") in str(e.value) and "\n" not in str(e.value)


def test_docker_context_variable(config):
    write_context(config, "box", "ssh://dev@box")
    t = select_engine(env=env_for(config, DOCKER_CONTEXT="box"))
    assert (t.url, t.transport, t.context, t.source) == ("ssh://dev@box", "ssh", "box", "DOCKER_CONTEXT")


def test_current_context_from_config_json(config):
    write_context(config, "box", "tcp://box:2375")
    (config / "config.json").write_text(json.dumps({"auths": {}, "currentContext": "box"}))
    t = select_engine(env=env_for(config))
    assert (t.url, t.context, t.source) == ("tcp://box:2375", "box", "docker context use")


def test_precedence(config):
    write_context(config, "flag", "tcp://flag:1")
    write_context(config, "var", "tcp://var:1")
    write_context(config, "used", "tcp://used:1")
    (config / "config.json").write_text(json.dumps({"currentContext": "used"}))
    everything = env_for(config, DOCKER_HOST="tcp://host:1", DOCKER_CONTEXT="var")
    assert select_engine("flag", env=everything).url == "tcp://flag:1"
    assert select_engine(env=everything).url == "tcp://host:1"
    del everything["DOCKER_HOST"]
    assert select_engine(env=everything).url == "tcp://var:1"
    del everything["DOCKER_CONTEXT"]
    assert select_engine(env=everything).url == "tcp://used:1"


def test_the_default_context_by_name_is_docker_host_or_the_socket(config):
    (config / "config.json").write_text(json.dumps({"currentContext": "default"}))
    assert select_engine(env=env_for(config)).url == "unix:///var/run/docker.sock"
    t = select_engine("default", env=env_for(config, DOCKER_HOST="tcp://h:1"))
    assert (t.url, t.context, t.source) == ("tcp://h:1", None, "--context")


@pytest.mark.parametrize("how", ["flag", "DOCKER_CONTEXT", "config.json"])
def test_an_unknown_context_is_one_line_listing_the_known_ones(config, how):
    write_context(config, "alpha", "tcp://a:1")
    write_context(config, "beta", "ssh://b")
    env = env_for(config)
    if how == "DOCKER_CONTEXT":
        env["DOCKER_CONTEXT"] = "nope"
    elif how == "config.json":
        (config / "config.json").write_text(json.dumps({"currentContext": "nope"}))
    with pytest.raises(EngineError) as e:
        select_engine("nope" if how == "flag" else None, env=env)
    text = str(e.value)
    assert "\n" not in text
    assert "'nope'" in text and "alpha, beta, default" in text
    assert {"flag": "--context", "DOCKER_CONTEXT": "DOCKER_CONTEXT", "config.json": "config.json"}[
        how
    ] in text


def test_unreadable_meta_is_one_line_naming_the_file(config):
    meta = write_context(config, "broken", "tcp://a:1")
    meta.write_text("{not json")
    with pytest.raises(EngineError) as e:
        select_engine("broken", env=env_for(config))
    assert str(meta) in str(e.value) and "\n" not in str(e.value)
    meta.write_text(json.dumps({"Name": "broken", "Endpoints": {}}))
    with pytest.raises(EngineError, match="no docker endpoint"):
        select_engine("broken", env=env_for(config))


def test_unreadable_config_json_is_one_line(config):
    (config / "config.json").write_text("{")
    with pytest.raises(EngineError) as e:
        select_engine(env=env_for(config))
    assert "config.json" in str(e.value) and "\n" not in str(e.value)


def test_context_tls_material_and_skip_verify(config):
    write_context(config, "secure", "tcp://box:2376", tls=True)
    t = select_engine("secure", env=env_for(config))
    assert (t.tls, t.tls_verify) == (True, True)
    assert t.ca_cert and t.ca_cert.endswith("docker/ca.pem") and t.client_key.endswith("key.pem")
    write_context(config, "loose", "tcp://box:2376", skip_verify=True)
    t = select_engine("loose", env=env_for(config))
    assert (t.tls, t.tls_verify, t.ca_cert) == (True, False, None)
    kwargs = t.client_kwargs()
    assert kwargs["tls"].verify is False
    # ssh endpoints take no TLS; docker-py keeps one paramiko connection unless told otherwise
    write_context(config, "box", "ssh://dev@box", tls=True)
    t = select_engine("box", env=env_for(config))
    assert t.tls is False and t.client_kwargs()["use_ssh_client"] is False


def test_the_target_is_frozen():
    t = EngineTarget("tcp://h:1", "tcp", None, "DOCKER_HOST")
    with pytest.raises(AttributeError):
        t.url = "x"  # type: ignore[misc]


# ---- the same choice as the docker CLI's --------------------------------------------


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
def test_the_same_choice_as_the_docker_cli(config):
    """Contexts made by the CLI itself, no config.json at first (docker-py's ContextAPI
    finds nothing then, docker/docker-py#2622); `docker context inspect` and
    `docker context show` are the reference."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env = {**base, **env_for(config)}

    def cli(*args: str, **extra: str) -> str:
        out = subprocess.run(
            ["docker", *args], env={**env, **extra}, capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    cli("context", "create", "alpha", "--docker", "host=tcp://alpha.example:2375")
    cli("context", "create", "beta", "--docker", "host=ssh://dev@beta.example:2222")
    assert (
        not (config / "config.json").exists() or "currentContext" not in (config / "config.json").read_text()
    )
    for name in ("alpha", "beta"):
        host = json.loads(cli("context", "inspect", name))[0]["Endpoints"]["docker"]["Host"]
        assert select_engine(name, env=env).url == host
        assert select_engine(env={**env, "DOCKER_CONTEXT": name}).url == host
    cli("context", "use", "alpha")
    assert cli("context", "show") == "alpha" == select_engine(env=env).context
    assert (
        cli("context", "show", DOCKER_CONTEXT="beta")
        == "beta"
        == select_engine(env={**env, "DOCKER_CONTEXT": "beta"}).context
    )
    # DOCKER_HOST beats DOCKER_CONTEXT and the current context, for both
    both = {"DOCKER_HOST": "tcp://host.example:1", "DOCKER_CONTEXT": "beta"}
    assert cli("context", "show", **both) == "default"
    assert select_engine(env={**env, **both}).url == "tcp://host.example:1"


# ---- sees_host_files on real engines ---------------------------------------------------


def _probe_leftovers(client) -> list:
    return client.containers.list(all=True, filters={"label": PROBE_LABEL})


@pytest.mark.docker
def test_the_local_engine_sees_the_project(docker_client, tmp_path):
    forget_seen()
    (tmp_path / "devrun.yaml").write_text("project: x\n")
    assert sees_host_files(docker_client, tmp_path) is True
    assert sees_host_files(docker_client, REPO) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devrun.yaml"]  # the probe folder is gone
    assert not _probe_leftovers(docker_client)


@pytest.mark.docker
def test_the_answer_is_cached_per_engine_and_folder(docker_client, tmp_path, monkeypatch):
    import devrun.engine.select as sel

    forget_seen()
    calls = []
    real = sel._read_through_engine
    monkeypatch.setattr(sel, "_read_through_engine", lambda *a: calls.append(a) or real(*a))
    assert sees_host_files(docker_client, tmp_path) and sees_host_files(docker_client, tmp_path)
    assert len(calls) == 1
    (tmp_path / "other").mkdir()
    assert sees_host_files(docker_client, tmp_path / "other")
    assert len(calls) == 2


@pytest.mark.docker
def test_an_unwritable_project_folder_is_one_line(docker_client, tmp_path):
    forget_seen()
    with pytest.raises(EngineError) as e:
        sees_host_files(docker_client, tmp_path / "missing")
    assert "missing" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.remote
@pytest.mark.parametrize("via", ["tcp", "ssh", "context"])
def test_the_remote_engine_does_not_see_the_project(remote_bed, tmp_path, via):
    forget_seen()
    (tmp_path / "devrun.yaml").write_text("project: x\n")
    if via == "context":
        target = select_engine(remote_bed.context)
        assert (target.context, target.transport) == (remote_bed.context, "tcp")
        client = target.client(timeout=30)
    else:
        client = remote_bed.client(getattr(remote_bed, via))
    try:
        assert sees_host_files(client, tmp_path) is False
        assert sees_host_files(client, REPO) is False
        assert not _probe_leftovers(client)
        # the Mounts API refused the missing folder: nothing was created on the remote side
        assert not list(tmp_path.glob(".devrun-probe-*"))
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.docker
def test_the_local_engine_over_tcp_on_loopback_sees_the_project(docker_client, tmp_path):
    """Not decided by the URL: a tcp:// engine can be this machine's."""
    import docker

    from tests.remote_bed import local_engine_over_tcp

    with local_engine_over_tcp(_free_port()) as url:
        forget_seen()
        target = select_engine(env={"DOCKER_HOST": url, "HOME": str(tmp_path)})
        assert target.transport == "tcp"
        client = docker.DockerClient(**target.client_kwargs(timeout=30))
        try:
            assert sees_host_files(client, tmp_path) is True
        finally:
            client.close()
