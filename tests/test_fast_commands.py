"""`devrun ps`, `logs` and `restart` next to a running `up` (issue 12): the
`up` answers over its unix socket, with no engine round trip and no docker
import, and prints exactly what the engine path prints for the same state.
The fast runs get an engine address that does not exist, so an answer proves
the engine was not asked; DEVRUN_NO_FAST=1 forces the engine path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import devrun
from tests.live_helpers import wait_until
from tests.test_control_api import control, get, running_web  # noqa: F401 - a fixture

pytestmark = pytest.mark.docker
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/devrun-test.sock"}
ENGINE = {"DEVRUN_NO_FAST": "1"}


def _uptime_free(text: str) -> str:
    """The table's UPTIME column and --json's uptime_s change between two runs."""
    text = re.sub(r'"uptime_s": [0-9.]+', '"uptime_s": U', text)
    return re.sub(r" \d+s(?= +\d+  )", " Us", text)


@pytest.fixture
def running(running_web, tmp_path, project_name):  # noqa: F811 - the fixture imported above
    up, port, _client = running_web
    return tmp_path, project_name, port, up


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("-q",),
        ("--services",),
        ("--format", "json"),
        ("--json",),
        ("-a",),
        ("web",),
        ("--status", "running"),
    ],
    ids=lambda a: " ".join(a) or "table",
)
def test_ps_answers_as_the_engine_path_does(running, args):
    folder, project, _port, _up = running
    fast = devrun("-p", project, "ps", *args, cwd=folder, env=NO_ENGINE)
    slow = devrun("-p", project, "ps", *args, cwd=folder, env=ENGINE)
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    assert fast.stdout.strip(), fast.stderr
    assert _uptime_free(fast.stdout) == _uptime_free(slow.stdout)
    assert fast.stderr == slow.stderr


def test_ps_follows_a_stop_and_a_one_off(running):
    folder, project, _port, up = running
    assert devrun("-p", project, "run", "-d", "web", "sleep", "30", cwd=folder).returncode == 0
    assert devrun("-p", project, "stop", "web", cwd=folder).returncode == 0
    for args in (("-a",), ("-a", "--format", "json"), ()):
        fast = devrun("-p", project, "ps", *args, cwd=folder, env=NO_ENGINE)
        slow = devrun("-p", project, "ps", *args, cwd=folder, env=ENGINE)
        assert fast.returncode == 0, fast.stderr
        assert _uptime_free(fast.stdout) == _uptime_free(slow.stdout), args
    assert "exited" in fast.stdout or "not running" in fast.stdout


def test_ps_without_project_flag_finds_the_up_by_its_file_only_when_it_names_it(running):
    folder, project, _port, _up = running
    # this up runs under -p NAME, which the folder's config does not give: not found without -p
    other = devrun("ps", cwd=folder, env=NO_ENGINE)
    assert other.returncode != 0 and "engine" in other.stderr


def test_restart_goes_through_the_up(running):
    folder, project, port, up = running
    before = get(port, "/pid")
    done = devrun("-p", project, "restart", "web", cwd=folder, env=NO_ENGINE)
    assert done.returncode == 0, done.stderr
    assert re.search(r"restarted web \(process mode, \d+ ms\)", done.stderr)
    after = get(port, "/pid")  # ready when restart returned: the new app answers at once
    assert after and after != before


def test_logs_tail_and_follow(running):
    folder, project, port, up = running
    devrun("-p", project, "restart", "web", cwd=folder, env=NO_ENGINE)
    devrun("-p", project, "restart", "web", cwd=folder, env=NO_ENGINE)
    wait_until(lambda: len(up.of("log", service="web")) >= 3, 30, what="three log lines")
    # no --tail: the whole log, which this up printed from the container's first line
    for args in (
        (),
        ("--tail", "2"),
        ("--tail", "1", "--no-log-prefix"),
        ("-n", "2", "web"),
        ("--tail", "all"),
    ):
        fast = devrun("-p", project, "logs", *args, cwd=folder, env=NO_ENGINE)
        slow = devrun("-p", project, "logs", *args, cwd=folder, env=ENGINE)
        assert fast.returncode == 0, fast.stderr
        assert fast.stdout == slow.stdout and fast.stdout.strip(), args
    as_json = devrun("-p", project, "logs", "--tail", "1", "--json", cwd=folder, env=NO_ENGINE)
    assert json.loads(as_json.stdout)["event"] == "log"
    follow = subprocess.Popen(
        [sys.executable, "-m", "devrun", "-p", project, "logs", "-f", "--tail", "0"],
        cwd=folder,
        env={**os.environ, "NO_COLOR": "1", **NO_ENGINE},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: control(project).request("GET", "/api/status")[0] == 200, 10)
        time.sleep(1.0)  # the stream is connected
        devrun("-p", project, "restart", "web", cwd=folder, env=NO_ENGINE)
        line = follow.stdout.readline()
        assert line.startswith("web ") and "listening pid" in line, line
    finally:
        follow.terminate()
        follow.wait(5)


def test_the_fast_path_imports_no_docker(running):
    folder, project, _port, _up = running
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "devrun", "-p", project, "ps"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, **NO_ENGINE},
    )
    assert out.returncode == 0, out.stderr
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("docker", "typer", "pydantic", "yaml", "aiohttp")}
