"""Compose files read natively: which files are found, what the command line
adds, which file an error names after merging, and YAML merge keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devrun.config import loader
from devrun.config.compose_files import Options, find_files
from devrun.errors import ConfigError

ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root"}


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def devrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devrun", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


SVC = "services:\n  web:\n    image: busybox:stable\n"


@pytest.mark.parametrize(
    ("present", "found"),
    [
        (["docker-compose.yml", "compose.yaml"], ["compose.yaml"]),
        (["docker-compose.yaml", "docker-compose.yml"], ["docker-compose.yml"]),
        (
            ["compose.yml", "compose.override.yaml", "docker-compose.override.yml"],
            ["compose.yml", "compose.override.yaml"],
        ),
        (
            ["docker-compose.yaml", "docker-compose.override.yaml"],
            ["docker-compose.yaml", "docker-compose.override.yaml"],
        ),
    ],
)
def test_files_found_by_compose_names_with_override(tmp_path, present, found) -> None:
    write(tmp_path, dict.fromkeys(present, SVC))
    assert [p.name for p in find_files(tmp_path, {})] == found


def test_files_found_in_a_parent_folder_and_from_compose_file(tmp_path) -> None:
    write(tmp_path, {"compose.yaml": SVC, "sub/deeper/x.txt": "", "one.yaml": SVC, "two.yaml": SVC})
    assert find_files(tmp_path / "sub" / "deeper", {}) == [tmp_path / "compose.yaml"]
    env = {"COMPOSE_FILE": "one.yaml:two.yaml"}
    assert find_files(tmp_path, env) == [tmp_path / "one.yaml", tmp_path / "two.yaml"]


def test_devrun_yaml_wins_and_config_says_which_files_it_read(tmp_path) -> None:
    write(tmp_path, {"compose.yaml": SVC + "  other:\n    image: busybox:stable\n", "devrun.yaml": SVC})
    cfg = loader.load(None, start=tmp_path, environ=ENV)
    assert cfg.files == [tmp_path / "devrun.yaml"] and not cfg.compose
    result = devrun("config", "--services", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["web"]
    assert "read devrun.yaml (devrun.yaml wins over compose.yaml beside it)" in result.stderr


def test_cli_repeated_f_env_file_and_profile(tmp_path) -> None:
    write(
        tmp_path,
        {
            "a.yaml": "services:\n  web:\n    image: ${IMAGE}\n  dbg:\n    image: busybox:stable\n    profiles: [debug]\n",
            "b.compose.yaml": "services:\n  web:\n    environment: [FROM_B=1]\n",
            "vars.env": "IMAGE=python:3.11-slim\n",
        },
    )
    result = devrun(
        "-f", "a.yaml", "-f", "b.compose.yaml", "--env-file", "vars.env", "--profile", "debug",
        "config", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    import json

    services = json.loads(result.stdout)["services"]
    assert sorted(services) == ["dbg", "web"]
    assert services["web"]["image"] == "python:3.11-slim"
    assert services["web"]["environment"] == {"FROM_B": "1"}
    assert "read a.yaml, b.compose.yaml" in result.stderr


def test_profile_only_services_left_out_unless_named_or_active(tmp_path) -> None:
    write(tmp_path, {"compose.yaml": SVC + "  tool:\n    image: busybox:stable\n    profiles: [tools]\n"})
    assert sorted(loader.load(None, start=tmp_path, environ=ENV).project.services) == ["web"]
    named = loader.load(None, start=tmp_path, environ=ENV, options=Options(services=["tool"]))
    assert sorted(named.project.services) == ["tool", "web"]
    every = loader.load(None, start=tmp_path, environ={**ENV, "COMPOSE_PROFILES": "*"})
    assert sorted(every.project.services) == ["tool", "web"]


def test_project_name_precedence(tmp_path) -> None:
    folder = tmp_path / "My.Folder"
    write(folder, {"compose.yaml": SVC})
    assert loader.load(None, start=folder, environ=ENV).name == "myfolder"
    write(folder, {"compose.yaml": "name: written\n" + SVC})
    assert loader.load(None, start=folder, environ=ENV).name == "written"
    write(folder, {".env": "COMPOSE_PROJECT_NAME=dotenv\n"})
    assert loader.load(None, start=folder, environ=ENV).name == "dotenv"
    assert loader.load(None, start=folder, environ=ENV, project_name="flag").name == "flag"


def test_error_names_the_file_the_value_came_from(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        {
            "compose.yaml": SVC + "    ports: ['8000:8000']\n",
            "compose.override.yaml": "services:\n  web:\n    ports:\n      - 'not-a-port'\n    stop_signal: NOPE\n",
        },
    )
    with pytest.raises(ConfigError) as e:
        loader.load(None, start=tmp_path, environ=ENV)
    lines = e.value.lines()
    assert any(line.startswith("compose.override.yaml:4:9: services.web.ports[1]:") for line in lines), lines
    assert any(line.startswith("compose.override.yaml:5:18: services.web.stop_signal:") for line in lines), (
        lines
    )


def test_remote_include_is_one_line_exit_2(tmp_path) -> None:
    write(tmp_path, {"compose.yaml": "include:\n  - oci://docker.io/x/y:latest\n" + SVC})
    result = devrun("config", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "compose.yaml:2:5: include[0]: a remote include (OCI or git) needs the network; devrun reads local files only"
    ]


def test_merge_key_then_overriding_key_in_devrun_yaml(tmp_path) -> None:
    write(
        tmp_path,
        {
            "devrun.yaml": "x-base: &base\n  image: busybox:stable\n  environment: {A: '1'}\n"
            "services:\n  web:\n    <<: *base\n    image: python:3.11-slim\n",
        },
    )
    cfg = loader.load(None, start=tmp_path, environ=ENV)
    web = cfg.project.services["web"]
    assert web.image == "python:3.11-slim" and web.environment == {"A": "1"}
    write(tmp_path, {"devrun.yaml": "services:\n  web:\n    image: a\n    image: b\n"})
    with pytest.raises(ConfigError, match="duplicate key 'image'"):
        loader.load(None, start=tmp_path, environ=ENV)


def test_compose_tags_only_in_compose_files(tmp_path) -> None:
    write(tmp_path, {"devrun.yaml": "services:\n  web:\n    image: x\n    ports: !reset []\n"})
    with pytest.raises(ConfigError, match="compose file tag"):
        loader.load(None, start=tmp_path, environ=ENV)


def test_included_files_paths_are_relative_to_their_folder(tmp_path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "include: [sub/compose.yaml]\n" + SVC,
            "sub/compose.yaml": "services:\n  db:\n    image: busybox:stable\n    secrets: [pw]\n"
            "    volumes: ['./init:/init']\nsecrets:\n  pw: {file: ./pw.txt}\n",
            "sub/pw.txt": "x\n",
        },
    )
    cfg = loader.load(None, start=tmp_path, environ=ENV)
    assert cfg.project.secrets["pw"].file == str(tmp_path / "sub" / "pw.txt")
    assert cfg.project.services["db"].volumes[0].source == str(tmp_path / "sub" / "init")
    assert cfg.project.services["db"].secrets[0].target == "/run/secrets/pw"


def test_a_needed_service_whose_profiles_are_off_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        {
            "compose.yaml": SVC
            + "    depends_on: [tool]\n  tool:\n    image: busybox:stable\n    profiles: [t]\n"
        },
    )
    with pytest.raises(ConfigError) as e:
        loader.load(None, start=tmp_path, environ=ENV)
    assert e.value.lines() == [
        "compose.yaml:4:18: services.web.depends_on.tool: 'tool' has profiles that are not active; "
        "add --profile or COMPOSE_PROFILES"
    ]
    assert sorted(loader.load(None, environ={**ENV, "COMPOSE_PROFILES": "t"}).project.services) == [
        "tool",
        "web",
    ]


def test_doctor_checks_a_compose_project(tmp_path) -> None:
    write(tmp_path, {"compose.yaml": SVC})
    result = devrun("doctor", cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert "only machine checks ran" not in result.stdout
    assert "project" in result.stdout and "1 service" in result.stdout, result.stdout


def test_env_file_name_alone_takes_the_shell_value(tmp_path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": SVC + "    env_file: app.env\n",
            "app.env": "FROM_SHELL\nUNSET_HERE\nexport A=1\nB=${A}-x\n",
        },
    )
    cfg = loader.load(None, start=tmp_path, environ={**ENV, "FROM_SHELL": "yes"})
    assert cfg.project.services["web"].environment == {"FROM_SHELL": "yes", "A": "1", "B": "1-x"}


def test_first_of_several_merged_anchors_wins(tmp_path) -> None:
    write(
        tmp_path,
        {
            "devrun.yaml": "x-a: &a {image: a, user: a}\nx-b: &b {image: b, working_dir: /b}\n"
            "services:\n  web:\n    <<: [*a, *b]\n    user: own\n",
        },
    )
    web = loader.load(None, start=tmp_path, environ=ENV).project.services["web"]
    assert (web.image, web.user, web.working_dir) == ("a", "own", "/b")


def test_reload_reads_the_same_files_with_the_same_options(tmp_path) -> None:
    write(
        tmp_path,
        {
            "a.yaml": SVC + "  dbg:\n    image: busybox:stable\n    profiles: [debug]\n",
            "b.yaml": "services:\n  web:\n    environment: {V: '1'}\n",
        },
    )
    files = [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    cfg = loader.load(files, environ=ENV, options=Options(profiles=["debug"]))
    write(tmp_path, {"b.yaml": "services:\n  web:\n    environment: {V: '2'}\n"})
    again = loader.reload(cfg, environ=ENV)
    assert sorted(again.project.services) == ["dbg", "web"]
    assert again.project.services["web"].environment == {"V": "2"}
    assert set(again.sources) >= {tmp_path / "a.yaml", tmp_path / "b.yaml"}
