"""build.dockerfile_inline: the Dockerfile written in the compose file is the
one built (docker-py sends it beside the context under a name of its own)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest

from tests.conftest import BUSYBOX

pytestmark = pytest.mark.docker


def test_an_inline_dockerfile_is_built(tmp_path, project_name, docker_client):
    (tmp_path / "greeting.txt").write_text("from the context\n")
    (tmp_path / "compose.yaml").write_text(
        f"name: {project_name}\n"
        "services:\n"
        "  app:\n"
        "    build:\n"
        "      context: .\n"
        "      dockerfile_inline: |\n"
        f"        FROM {BUSYBOX}\n"
        "        COPY greeting.txt /greeting.txt\n"
        "        RUN echo inline > /built.txt\n"
        '    command: ["sleep", "3600"]\n'
    )
    env = {**os.environ, "NO_COLOR": "1"}
    try:
        r = subprocess.run(
            [sys.executable, "-m", "devrun", "up", "-d"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        app = docker_client.containers.get(f"{project_name}-app")
        assert (
            app.exec_run(["cat", "/built.txt", "/greeting.txt"]).output.decode()
            == "inline\nfrom the context\n"
        )
        assert "dockerfile_inline" not in r.stderr  # applied, not reported
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(f"{project_name}-app", force=True)
