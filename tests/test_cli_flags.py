"""Global flags work before or after the command, as people type them."""

from __future__ import annotations

import pytest

from devrun.cli import hoist_global_flags
from tests.conftest import devrun


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["up", "--no-color"], ["--no-color", "up"]),
        (["-p", "x", "up", "-q", "web"], ["-q", "-p", "x", "up", "web"]),
        (["--no-color", "up"], ["--no-color", "up"]),
        (["exec", "web", "ls", "-q"], ["exec", "web", "ls", "-q"]),  # the container's command keeps its flags
        (["up", "--", "-q"], ["up", "--", "-q"]),
        (["-f", "up", "config", "--quiet"], ["--quiet", "-f", "up", "config"]),  # 'up' is -f's value here
        ([], []),
    ],
)
def test_hoist_global_flags(argv, expected):
    assert hoist_global_flags(argv) == expected


def test_no_color_after_the_command_is_accepted(tmp_project):
    folder = tmp_project("services:\n  app:\n    image: busybox:stable\n")
    result = devrun("config", "--no-color", "-q", cwd=folder)
    assert result.returncode == 0, result.stderr
