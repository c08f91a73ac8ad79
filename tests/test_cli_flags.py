"""Global flags work before or after the command, as people type them."""

from __future__ import annotations

import pytest

from devrun.cli.main import hoist_global_flags
from tests.conftest import devrun


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["up", "--no-color"], ["--no-color", "up"]),
        (["-p", "x", "up", "--terse", "web"], ["--terse", "-p", "x", "up", "web"]),
        (["ps", "-q"], ["ps", "-q"]),  # compose's -q: ps's own (ids), never devrun's quiet
        (["config", "--quiet"], ["config", "--quiet"]),
        (["run", "app", "ls", "--no-color"], ["run", "app", "ls", "--no-color"]),
        (["--no-color", "up"], ["--no-color", "up"]),
        (["exec", "web", "ls", "-q"], ["exec", "web", "ls", "-q"]),  # the container's command keeps its flags
        (["up", "--", "-q"], ["up", "--", "-q"]),
        (["-f", "up", "config", "--terse"], ["--terse", "-f", "up", "config"]),  # 'up' is -f's value here
        ([], []),
    ],
)
def test_hoist_global_flags(argv, expected):
    assert hoist_global_flags(argv) == expected


def test_no_color_after_the_command_is_accepted(tmp_project):
    folder = tmp_project("services:\n  app:\n    image: busybox:stable\n")
    result = devrun("config", "--no-color", "--terse", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "services:" in result.stdout


def test_q_after_a_command_is_the_commands_own(tmp_project):
    folder = tmp_project("services:\n  app:\n    image: busybox:stable\n")
    result = devrun("config", "-q", cwd=folder)
    assert (result.returncode, result.stdout) == (0, "")
