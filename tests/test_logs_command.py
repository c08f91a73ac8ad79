"""`devrun logs`: `--tail` takes a number of lines or 'all' (never a value
the engine would read as all), and `-f` carries on across a container
restart until the service has no container any more."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devrun.errors import UsageError
from tests.conftest import BUSYBOX, devrun


def test_logs_tail_refuses_what_the_engine_would_read_as_all(tmp_path: Path):
    from devrun.cli.run import tail_lines

    assert tail_lines("5") == "5" and tail_lines("0") == "0" and tail_lines("ALL") == "all"
    for bad in ("abc", "-3", "1.5", ""):
        with pytest.raises(UsageError, match="--tail"):
            tail_lines(bad)
    res = subprocess.run(
        [sys.executable, "-m", "devrun", "logs", "--tail", "abc"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (
        res.returncode == 2
        and res.stderr.strip() == "devrun: --tail abc: give a number of lines (0 or more) or 'all'"
    )


def test_logs_follow_carries_on_across_a_container_restart(tmp_path: Path, project_name, docker_client):
    """`devrun logs -f` ended at the first container restart (the engine ends
    a follow when the container stops); now it picks the container up again,
    and ends when the service has no container any more (`devrun down`)."""
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    command: ["sh", "-c", "echo hello; exec sleep 1000"]
    restart_mode: container
""")
    assert devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=60).returncode == 0
    follow = subprocess.Popen(
        [sys.executable, "-m", "devrun", "logs", "-f", "-p", project_name],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline().strip() == "app    | hello"
        docker_client.containers.get(f"{project_name}-app").restart(timeout=1)
        assert follow.stdout.readline().strip() == "app    | hello"  # the restarted container's line
        assert devrun("down", "-p", project_name, cwd=tmp_path, timeout=60).returncode == 0
        assert follow.wait(10) == 0
    finally:
        follow.kill()
