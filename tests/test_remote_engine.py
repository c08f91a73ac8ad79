"""Remote engines (issue 13): engine selection wired into Engine.connect and the
CLI (--context), one clear line per connection fault, doctor's engine line."""

from __future__ import annotations

import socket

import pytest

from devrun.engine.docker import Engine
from devrun.errors import EngineError
from tests.conftest import devrun
from tests.test_engine_select import env_for


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_error(monkeypatch, env: dict[str, str], context: str | None = None) -> str:
    for key in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(EngineError) as e:
        Engine.connect(timeout=5, context=context)
    text = str(e.value)
    assert "\n" not in text, text
    return text


def test_an_unreachable_tcp_host_is_one_line_naming_it(monkeypatch, tmp_path):
    port = unused_port()
    text = connect_error(
        monkeypatch, {"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_CONFIG": str(tmp_path)}
    )
    assert f"tcp://127.0.0.1:{port}" in text and "nothing answers" in text and "--context" in text


def test_an_unknown_context_is_one_line(monkeypatch, tmp_path):
    text = connect_error(monkeypatch, {"DOCKER_CONFIG": str(tmp_path)}, context="nowhere")
    assert "unknown docker context 'nowhere' (from --context)" in text and "docker context ls" in text


def test_tls_against_a_plain_port_is_one_line_naming_the_variables(monkeypatch, tmp_path):
    with socket.socket() as server:  # a plain-http listener that answers a TLS hello with nonsense
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        import threading

        def answer() -> None:
            for _ in range(4):
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        text = connect_error(
            monkeypatch,
            {"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS": "1", "DOCKER_CONFIG": str(tmp_path)},
        )
    assert f"tcp://127.0.0.1:{port} (tcp + TLS)" in text and "TLS handshake failed" in text
    assert "DOCKER_TLS_VERIFY" in text and "DOCKER_CERT_PATH" in text


def test_up_against_an_unreachable_host_says_one_line_and_creates_nothing(tmp_project, tmp_path):
    folder = tmp_project("name: unreach\nservices:\n  app:\n    image: busybox:stable\n")
    port = unused_port()
    r = devrun("up", "-d", cwd=folder, env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}, timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and f"127.0.0.1:{port}" in r.stderr, r.stderr


def test_the_context_flag_chooses_the_engine(tmp_path):
    from tests.test_engine_select import write_context

    (tmp_path / "devrun.yaml").write_text("name: ctx\nservices:\n  app:\n    image: busybox:stable\n")
    config = tmp_path / "docker-config"
    config.mkdir()
    port = unused_port()
    write_context(config, "elsewhere", f"tcp://127.0.0.1:{port}")
    env = {**env_for(config), "DOCKER_HOST": ""}
    r = devrun("--context", "elsewhere", "ps", cwd=tmp_path, env=env, timeout=30)
    assert r.returncode == 1
    assert f"tcp://127.0.0.1:{port} (context elsewhere, tcp)" in r.stderr, r.stderr


@pytest.mark.remote
def test_a_refused_ssh_login_is_one_line_naming_user_and_host(remote_bed, monkeypatch):
    port = remote_bed.ssh.rsplit(":", 1)[1]
    text = connect_error(monkeypatch, {"DOCKER_HOST": f"ssh://nobody@127.0.0.1:{port}"})
    assert "ssh refused the login of nobody on 127.0.0.1" in text and "authorized_keys" in text


@pytest.mark.remote
@pytest.mark.parametrize("how", ["tcp", "ssh", "context"])
def test_doctor_says_which_engine_how_and_the_round_trip(remote_bed, how):
    env = {"DOCKER_HOST": remote_bed.tcp if how == "tcp" else remote_bed.ssh if how == "ssh" else ""}
    args = ("--context", remote_bed.context_ssh) if how == "context" else ()
    r = devrun(*args, "doctor", cwd="/", env=env, timeout=60)
    (line,) = [x for x in r.stdout.splitlines() if x.split()[:2] == ["ok", "engine"]]
    want = {
        "tcp": f"{remote_bed.tcp} (tcp), chosen by DOCKER_HOST",
        "ssh": f"{remote_bed.ssh} (ssh), chosen by DOCKER_HOST",
        "context": f"{remote_bed.ssh} (context {remote_bed.context_ssh}, ssh), chosen by --context",
    }[how]
    assert want in line and "round trip" in line and line.endswith(" ms"), line


# ---- binds become syncs where the engine does not see the files -------------------


class _Sees:
    def __init__(self, sees: bool):
        self.where, self.sees, self.asked = "tcp://box:2375", sees, 0

    def sees_host_files(self, folder) -> bool:
        self.asked += 1
        return self.sees


def _cfg(tmp_project, extra: str = "", volumes: str = '["./src:/app/src", "data:/data"]'):
    from devrun.config import loader

    folder = tmp_project(
        "name: adapt\nservices:\n  app:\n    image: busybox:stable\n"
        f"    volumes: {volumes}\n"
        "    watch:\n      - path: src\n        action: restart\n"
        f"volumes:\n  data: {{}}\n{extra}",
        {"src/a.txt": "a\n"},
    )
    return loader.load(str(folder / "devrun.yaml"))


def test_project_binds_become_sync_rules_appended(tmp_project):
    from devrun.session import remote

    cfg = _cfg(tmp_project)
    out = remote.adapt(cfg, _Sees(False))
    svc = out.project.services["app"]
    assert [(m.type, m.target) for m in svc.volumes] == [("volume", "/data")]  # named volumes stay
    assert svc.watch[0].action == "restart"  # the config's own rule keeps its index
    (rule,) = svc.watch[1:]
    assert (rule.action, rule.target, rule.path, rule.initial_sync) == (
        "sync",
        "/app/src",
        [str(cfg.root / "src")],
        True,
    )
    assert cfg.project.services["app"].volumes[0].type == "bind"  # the loaded config is untouched
    assert remote.adapt(out, _Sees(False)) is out  # adapted once


def test_an_engine_that_sees_the_files_keeps_binds_and_mounts_can_be_forced(tmp_project):
    from devrun.session import remote

    cfg = _cfg(tmp_project)
    assert remote.adapt(cfg, _Sees(True)) is cfg
    forced = _cfg(tmp_project, "mounts: sync\n")
    engine = _Sees(True)
    assert remote.adapt(forced, engine).project.services["app"].watch[1].action == "sync"
    assert engine.asked == 0  # forced: no check
    bound = _cfg(tmp_project, "mounts: bind\n")
    assert remote.adapt(bound, _Sees(False)) is bound


def test_binds_outside_the_project_are_one_error_naming_each(tmp_project, tmp_path_factory):
    from devrun.session import remote

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    cfg = _cfg(
        tmp_project,
        extra=f"allow_host_paths: ['{elsewhere}']\n",
        volumes=f'["./src:/app/src", "{elsewhere}:/a", "{elsewhere}:/b:ro"]',
    )
    with pytest.raises(EngineError) as e:
        remote.adapt(cfg, _Sees(False))
    lines = e.value.lines()
    assert len(lines) == 2 and all(str(elsewhere) in x and "outside the project" in x for x in lines)
    assert ":/a is" in lines[0] and ":/b is" in lines[1]


def test_x_devrun_mounts_in_a_compose_file(tmp_path):
    from devrun.config import loader

    (tmp_path / "compose.yaml").write_text(
        "x-devrun:\n  mounts: sync\nservices:\n  app:\n    image: busybox:stable\n"
    )
    assert loader.load(str(tmp_path / "compose.yaml")).project.mounts == "sync"
