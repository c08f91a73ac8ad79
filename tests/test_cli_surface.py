"""The command line as a compose user meets it: every compose command is
either a devrun command or one line naming the devrun way; help speaks in
placeholders, not Python types, and starts with up, down, ps and logs; every
bad input is one line saying where and what to do, with a non-zero exit."""

from __future__ import annotations

import re

import pytest

from tests.conftest import devrun

# `docker compose --help` (v2.40)
COMPOSE_COMMANDS = (
    "attach build commit config cp create down events exec export images kill logs ls pause port ps "
    "publish pull push restart rm run scale start stats stop top unpause up version volumes wait watch "
    "bridge alpha viz"
).split()


@pytest.mark.parametrize("command", COMPOSE_COMMANDS)
def test_every_compose_command_is_implemented_or_answered(command):
    helped = devrun(command, "--help")
    assert "Traceback" not in helped.stderr
    if helped.returncode == 0 and "Not in devrun" not in helped.stdout:
        assert f"Usage: devrun {command}" in helped.stdout
        return
    answered = devrun(command, "anything", "--flag")
    assert answered.returncode != 0 and "Traceback" not in answered.stderr
    (line,) = answered.stderr.strip().splitlines()
    assert line.startswith(f"devrun: `{command}` is not a devrun command:")
    assert "`devrun" in line or "`docker" in line or "devrun" in line.split(":", 2)[2]


def test_help_lists_up_down_ps_logs_first_without_type_names():
    result = devrun("--help")
    assert result.returncode == 0
    commands = re.findall(r"^  (\w+)\s", result.stdout.split("Commands:")[1], re.M)
    assert commands[:4] == ["up", "down", "ps", "logs"]
    for command in commands:
        text = devrun(command, "--help").stdout
        assert not re.search(r"<(list|str|int|float|bool|path)\b", text), (command, text)


@pytest.mark.parametrize(
    "args, words",
    [
        (("ps", "--format", "xml"), "--format xml"),
        (("ps", "--status", "sleeping"), "--status sleeping"),
        (("ps", "--filter", "name=web"), "--filter name=web"),
        (("logs", "--since", "yesterday"), "--since yesterday"),
        (("logs", "--tail", "ten"), "--tail ten"),
        (("down", "--rmi", "some"), "--rmi some"),
        (("config", "--format", "toml"), "--format toml"),
        (("cp", "a.txt", "b.txt"), "cp:"),
        (("exec", "--index", "2", "app", "ls"), "--index 2"),
        (("kill", "-s", "NOPE"), "--signal NOPE"),
        (("up", "--build", "--no-build"), "--build and --no-build"),
        (("up", "-d", "--abort-on-container-exit"), "cannot be used together"),
        (("run", "--rm", "-d", "app"), "--rm and -d"),
        (("run", "nosuch"), "no service named nosuch"),
        (("exec", "-e", "=x", "app", "ls"), "-e =x"),
        (("--ansi", "sometimes", "ps"), "--ansi sometimes"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else None,
)
def test_bad_input_is_one_line_with_what_to_do(tmp_project, args, words):
    folder = tmp_project("services:\n  app:\n    image: busybox:stable\n")
    result = devrun(*args, cwd=folder)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert words in line


@pytest.mark.docker
def test_q_after_ps_is_ps_quiet_not_devrun_quiet(tmp_project):
    folder = tmp_project("name: tnocontainersq\nservices:\n  app:\n    image: busybox:stable\n")
    result = devrun("ps", "-q", cwd=folder)
    assert (result.returncode, result.stdout) == (0, "")


def test_config_lists(tmp_project):
    folder = tmp_project(
        "name: lists\nservices:\n  web:\n    build: .\n  db:\n    image: busybox:stable\n"
        "    volumes: [data:/data]\nvolumes:\n  data: {}\n",
        {"Dockerfile": "FROM busybox:stable\n"},
    )
    assert devrun("config", "--services", cwd=folder).stdout.split() == ["db", "web"]
    assert devrun("config", "--volumes", cwd=folder).stdout.split() == ["data"]
    assert devrun("config", "--images", cwd=folder).stdout.split() == ["busybox:stable", "lists-web"]
    assert devrun("config", "--profiles", cwd=folder).stdout == ""
    assert devrun("config", "--format", "json", cwd=folder).stdout.startswith("{")


def test_version_short():
    from devrun import __version__

    assert devrun("version", "--short").stdout.strip() == __version__


def test_doctor_without_a_config_never_says_ready(tmp_path):
    result = devrun("doctor", cwd=tmp_path)
    summary = result.stdout.strip().splitlines()[-1]
    assert "ready for `devrun up`" not in summary
    assert "no loadable devrun.yaml" in summary or "FAIL" in summary


def test_a_compose_key_in_devrun_yaml_gets_its_reason(tmp_project):
    folder = tmp_project(
        'version: "3.9"\nservices:\n  web:\n    image: busybox:stable\n    develop:\n      watch: []\n'
    )
    result = devrun("config", cwd=folder)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any("'version' is compose's, not devrun's: obsolete" in line for line in lines), lines
    assert any("'develop' is compose's, not devrun's" in line and "watch:" in line for line in lines), lines
    assert not any("known keys" in line for line in lines)
