"""Shared fixtures. Docker-backed tests use the real engine; with CI=true a
missing engine is a failure, never a skip."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

# A test run started in the background (`cmd &` in a shell without job control, as CI
# scripts do) inherits SIGINT ignored, and so would every devrun it starts; the tests
# interrupt devrun as a terminal's Ctrl-C does, so the run takes the default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
BUSYBOX = os.environ.get("DEVRUN_BUSYBOX_IMAGE", "busybox:stable")
PYTHON = os.environ.get("DEVRUN_PYTHON_IMAGE", "python:3.11-slim")
LABEL_PROJECT = "dev.devrun.project"

# the remote-engine test bed: its session fixture and the `remote` marker
pytest_plugins = ["tests.remote_bed"]


def _docker_client():
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 - any failure means "no engine"
        if os.environ.get("CI") == "true":
            pytest.fail(f"Docker engine required in CI but not reachable: {e}")
        pytest.skip(f"no Docker engine: {e}")


@pytest.fixture(scope="session")
def docker_client():
    return _engine_once()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `docker` needs the engine: it skips without one, except
    under CI=true, where it fails (docker_client decides)."""
    if item.get_closest_marker("docker") is not None:
        _engine_once()


_ENGINE: list = []  # the client, or the skip that stands for "no engine"


def _engine_once():
    if not _ENGINE:
        try:
            _ENGINE.append(_docker_client())
        except pytest.skip.Exception as e:
            _ENGINE.append(e)
    if isinstance(_ENGINE[0], BaseException):
        pytest.skip(str(_ENGINE[0]))
    return _ENGINE[0]


@pytest.fixture
def project_name(request, docker_client) -> str:
    """A unique project name; everything labelled with it is removed afterwards."""
    base = "".join(c for c in request.node.name.lower() if c.isalnum())[:20]
    name = f"t{base}{uuid.uuid4().hex[:6]}"
    yield name
    cleanup_project(name)


def cleanup_project(name: str, label: str = LABEL_PROJECT) -> None:
    """Remove everything labelled as the project's: devrun's label, or compose's
    (com.docker.compose.project) for the reference runs."""
    try:
        import docker

        client = docker.from_env(timeout=30)
    except Exception:  # noqa: BLE001
        return
    flt = {"label": f"{label}={name}"}
    for c in client.containers.list(all=True, filters=flt):
        try:
            c.remove(force=True, v=True)
        except Exception:  # noqa: BLE001
            pass
    for n in client.networks.list(filters=flt):
        try:
            n.remove()
        except Exception:  # noqa: BLE001
            pass
    for v in client.volumes.list(filters=flt):
        try:
            v.remove(force=True)
        except Exception:  # noqa: BLE001
            pass


def devrun(
    *args: str,
    cwd: Path | str | None = None,
    env: dict | None = None,
    timeout: float = 120,
    input: str | None = None,
):
    """Run the devrun CLI in a subprocess, as a user would."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "devrun", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


@pytest.fixture
def tmp_project(tmp_path: Path):
    """Write a devrun.yaml (and extra files) into a fresh folder."""

    def make(yaml_text: str, files: dict[str, str] | None = None) -> Path:
        (tmp_path / "devrun.yaml").write_text(yaml_text)
        for rel, text in (files or {}).items():
            p = tmp_path / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return tmp_path

    return make


def copy_example(name: str, dest: Path) -> Path:
    src = REPO / "examples" / name
    shutil.copytree(src, dest / name)
    return dest / name


@pytest.fixture(scope="session")
def big_tree(tmp_path_factory):
    """~100,000 files, most in ignored folders (node_modules, packages/*/node_modules,
    .venv), generated once per session: (root, counts)."""
    from bench.watcher_cost import generate_tree

    root = tmp_path_factory.mktemp("bigtree")
    return root, generate_tree(root)
