"""`devrun doctor` on the real engine and a real machine: a healthy project
passes, a taken port, a missing image and an unreachable engine fail with one
line each; the pure decisions (platform, inotify budget) with plain values."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from devrun.cli import doctor
from devrun.config import loader
from devrun.errors import Problem
from devrun.watch.watcher import Watcher
from tests.conftest import BUSYBOX, devrun
from tests.live_helpers import free_port


def project(tmp_project, port: int, image: str = BUSYBOX) -> Path:
    return tmp_project(
        f"""
services:
  web:
    image: {image}
    command: httpd -f -p 8080
    ports: ["{port}:8080"]
    volumes: ["./src:/src"]
    watch:
      - path: src
        ignore: [node_modules/]
        action: restart
""",
        {"src/a.txt": "a\n", "src/node_modules/x/y.js": "", "src/lib/b.txt": "b\n"},
    )


def lines_of(out: str, level: str, check: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.split()[:2] == [level, check]]


@pytest.mark.docker
def test_healthy_project_passes(docker_client, tmp_project) -> None:
    folder = project(tmp_project, free_port())
    r = devrun("doctor", cwd=folder)
    assert r.returncode == 0, r.stdout + r.stderr
    for check in ("engine", "platform", "inotify", "config", "port", "bind", "image"):
        assert lines_of(r.stdout, "ok", check), f"no ok {check} line in:\n{r.stdout}"
    assert "API " in lines_of(r.stdout, "ok", "engine")[0]
    # src and src/lib are watched, src/node_modules is pruned; the project folder holds devrun.yaml
    assert "3 directories to watch" in r.stdout
    assert r.stdout.splitlines()[-1].startswith("doctor: ") and "0 failed" in r.stdout


@pytest.mark.docker
def test_taken_port_fails_naming_service_and_port(docker_client, tmp_project) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        folder = project(tmp_project, port)
        r = devrun("doctor", cwd=folder)
    assert r.returncode == 1, r.stdout
    (line,) = lines_of(r.stdout, "FAIL", "port")
    assert f"web: host port 127.0.0.1:{port}/tcp is already in use" in line
    assert "fix: stop what listens" in line
    assert "Traceback" not in r.stderr


@pytest.mark.docker
def test_missing_image_without_build_fails(docker_client, tmp_project) -> None:
    folder = project(tmp_project, free_port(), image="devrun-doctor-test/absent:never")
    r = devrun("doctor", cwd=folder)
    assert r.returncode == 1
    (line,) = lines_of(r.stdout, "FAIL", "image")
    assert "web: image devrun-doctor-test/absent:never is not present and has no `build:`" in line
    assert "docker pull" in line


@pytest.mark.docker
def test_missing_dockerfile_and_bind_source_are_filed_under_their_checks(docker_client, tmp_project) -> None:
    folder = tmp_project(
        'services:\n  web:\n    build: ./app\n    volumes: ["./nope:/x"]\n',
        {"app/README": "no Dockerfile here\n"},
    )
    r = devrun("doctor", cwd=folder)
    assert r.returncode == 1
    assert "this Dockerfile is not in the build context" in lines_of(r.stdout, "FAIL", "image")[0]
    assert "bind source does not exist" in lines_of(r.stdout, "FAIL", "bind")[0]
    assert lines_of(r.stdout, "ok", "engine"), "machine checks still run"


def test_unreachable_engine_is_one_line(tmp_project) -> None:
    folder = project(tmp_project, free_port())
    r = devrun("doctor", cwd=folder, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert r.returncode == 1
    (line,) = lines_of(r.stdout, "FAIL", "engine")
    assert (
        "cannot reach the Docker engine at unix:///nonexistent.sock" in line and "fix: start Docker" in line
    )
    assert lines_of(r.stdout, "skip", "image")
    assert r.stderr == ""


@pytest.mark.docker
def test_json_output_parses(docker_client, tmp_project) -> None:
    folder = project(tmp_project, free_port())
    r = devrun("doctor", "--json", cwd=folder)
    assert r.returncode == 0, r.stdout
    checks = [json.loads(line) for line in r.stdout.splitlines()]
    assert {c["check"] for c in checks} >= {
        "engine",
        "platform",
        "inotify",
        "config",
        "port",
        "bind",
        "image",
    }
    for c in checks:
        assert set(c) == {"v", "check", "ok", "level", "message", "fix"}
        assert c["ok"] is (c["level"] != "fail") and c["level"] in ("ok", "warn", "fail", "skip")


def test_without_a_config_only_machine_checks(tmp_path: Path) -> None:
    r = devrun("doctor", cwd=tmp_path, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert "only machine checks ran" in lines_of(r.stdout, "skip", "config")[0]
    assert not lines_of(r.stdout, "ok", "port")


@pytest.mark.docker
def test_all_interfaces_is_a_warning_not_a_failure(docker_client, tmp_project) -> None:
    port = free_port()
    folder = tmp_project(f'services:\n  web:\n    image: {BUSYBOX}\n    ports: ["0.0.0.0:{port}:80"]\n')
    r = devrun("doctor", cwd=folder)
    assert r.returncode == 0, r.stdout
    assert f"127.0.0.1:{port}:80" in lines_of(r.stdout, "warn", "port")[0]


def test_planned_watch_dirs_match_the_watcher(tmp_project) -> None:
    folder = project(tmp_project, free_port())
    (folder / "src" / ".gitignore").write_text("generated/\n")
    (folder / "src" / "generated" / "deep").mkdir(parents=True)
    cfg = loader.load(folder / "devrun.yaml")
    from devrun.session.live import watch_specs

    watcher = Watcher(watch_specs(cfg), lambda _batch: None, project_root=str(cfg.root))
    watcher.start()
    try:
        assert doctor.planned_watch_dirs(cfg) == watcher.stats()["watches"] == 3
    finally:
        watcher.stop()


# ---- pure decisions -------------------------------------------------------------


def test_platform_caveats() -> None:
    assert doctor.platform_check("linux", "Linux version 6.1", "/home/a/p").level == "ok"
    assert doctor.platform_check("darwin", "", "/Users/a/p").level == "warn"
    assert doctor.platform_check("win32", "", "C:\\p").level == "warn"
    wsl = "Linux version 5.15.90.1-microsoft-standard-WSL2"
    slow = doctor.platform_check("linux", wsl, "/mnt/c/Users/a/p")
    assert (
        slow.level == "warn" and "Windows drive" in slow.message and "Linux file system" in (slow.fix or "")
    )
    assert doctor.platform_check("linux", wsl, "/home/a/p").level == "ok"


def test_inotify_budget() -> None:
    ok = doctor.inotify_check(100, (8192, 128), (500, 3), poll=False)
    assert ok.level == "ok" and "100 directories to watch" in ok.message
    short = doctor.inotify_check(9000, (8192, 128), (500, 3), poll=False)
    assert short.level == "fail" and "max_user_watches" in (short.fix or "")
    full = doctor.inotify_check(1, (8192, 128), (0, 128), poll=False)
    assert full.level == "fail" and "max_user_instances" in (full.fix or "")
    assert doctor.inotify_check(9000, (8192, 128), (0, 3), poll=True).level == "ok"
    assert doctor.inotify_check(None, None, (0, 0), poll=False).level == "ok"


def test_config_problems_are_filed_by_field() -> None:
    found = doctor.config_checks(
        [
            Problem("devrun.yaml", 5, 7, "services.web.volumes[0]", "bind source does not exist"),
            Problem("devrun.yaml", 3, 5, "services.web.build.dockerfile", "no Dockerfile in /p"),
            Problem("devrun.yaml", 1, 1, "services", "needs at least one"),
        ]
    )
    assert [c.check for c in found] == ["bind", "image", "config"]
    assert all(c.level == "fail" and c.fix for c in found)
