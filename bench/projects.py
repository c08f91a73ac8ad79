"""Generate one project per scenario layout: a devrun.yaml and a compose.yaml that
run the same image and service with the closest equivalent watch rules."""

from __future__ import annotations

import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.app import APP_PATH, APP_SOURCE, IMAGE, PORT, WORKER_IMAGE, dockerfile

TOOLS = ("devrun", "compose")
# devrun given the very compose.yaml that compose watches (issue 11)
DEVRUN_COMPOSE = "devrun-compose"
INITIAL = "initial"
# the watch actions a compose file can spell (compose's develop.watch)
COMPOSE_ACTIONS = ("sync", "rebuild", "restart", "sync+restart", "sync+exec")


@dataclass(frozen=True)
class Layout:
    """How one scenario's service is wired, per tool."""

    name: str
    mode: str  # "snapshot" or "live"
    value_file: str  # where the app reads the value inside the container
    edit_file: str  # the host file an edit writes, relative to the project
    mounts: dict[str, list[str]]
    rules: dict[str, list[dict]]
    # the engine event that marks one compose action (devrun counts its JSON events)
    compose_marker: str
    build: bool = False
    devrun_extra: dict | None = None  # devrun-only service fields


_SRC_BIND = ["./src:/srv"]
_EXEC = "cp /stage/value.txt /tmp/value.txt"

LAYOUTS: dict[str, Layout] = {
    "restart": Layout(
        "restart",
        "snapshot",
        "/srv/value.txt",
        "src/value.txt",
        {"devrun": _SRC_BIND, "compose": _SRC_BIND},
        {t: [{"path": "./src", "action": "restart"}] for t in TOOLS},
        "start",
    ),
    # devrun forced to restart the whole container, like compose does
    "restart-container": Layout(
        "restart-container",
        "snapshot",
        "/srv/value.txt",
        "src/value.txt",
        {"devrun": _SRC_BIND, "compose": _SRC_BIND},
        {t: [{"path": "./src", "action": "restart"}] for t in TOOLS},
        "start",
        devrun_extra={"restart_mode": "container"},
    ),
    # compose has no signal action: its nearest is sync+exec running `kill -HUP 1`
    # (PID 1 is docker-init with init: true, which forwards the signal to the app)
    "signal": Layout(
        "signal",
        "snapshot",
        "/srv/value.txt",
        "src/value.txt",
        {"devrun": _SRC_BIND, "compose": []},
        {
            "devrun": [{"path": "./src", "action": "signal", "signal": "HUP"}],
            "compose": [
                {
                    "path": "./src",
                    "action": "sync+exec",
                    "target": "/srv",
                    "exec": {"command": ["sh", "-c", "kill -HUP 1"]},
                }
            ],
        },
        "exec_start",
    ),
    "sync": Layout(
        "sync",
        "live",
        "/srv/value.txt",
        "src/value.txt",
        {"devrun": [], "compose": []},
        {t: [{"path": "./src", "action": "sync", "target": "/srv"}] for t in TOOLS},
        "extract-to-dir",
    ),
    "sync+restart": Layout(
        "sync+restart",
        "snapshot",
        "/srv/value.txt",
        "src/value.txt",
        {"devrun": [], "compose": []},
        {t: [{"path": "./src", "action": "sync+restart", "target": "/srv"}] for t in TOOLS},
        "start",
    ),
    # compose has no plain exec action: its nearest is sync+exec
    "exec": Layout(
        "exec",
        "live",
        "/tmp/value.txt",
        "src/value.txt",
        {"devrun": ["./src:/stage"], "compose": []},
        {
            "devrun": [{"path": "./src", "action": "exec", "exec": _EXEC}],
            "compose": [
                {
                    "path": "./src",
                    "action": "sync+exec",
                    "target": "/stage",
                    "exec": {"command": ["sh", "-c", _EXEC]},
                }
            ],
        },
        "exec_start",
    ),
    "rebuild": Layout(
        "rebuild",
        "snapshot",
        "/srv/value.txt",
        "ctx/Dockerfile",
        {"devrun": [], "compose": []},
        {t: [{"path": "./ctx", "action": "rebuild"}] for t in TOOLS},
        "start",
        build=True,
    ),
}

# scenarios that reuse another scenario's layout
SCENARIO_LAYOUT = {"drip": "restart", "startup": "restart", "storm": "sync"}


def layout_for(scenario: str) -> Layout:
    return LAYOUTS[SCENARIO_LAYOUT.get(scenario, scenario)]


def compose_spelling_missing(layout: Layout) -> str | None:
    """Why devrun's side of this scenario cannot be given as a compose.yaml, or
    None when compose's own file, with devrun's extras under `x-devrun`
    (compose_x_devrun), says what devrun runs."""
    own = [r for r in layout.rules["devrun"] if r["action"] not in COMPOSE_ACTIONS]
    if not own and (
        layout.rules["devrun"] != layout.rules["compose"]
        or layout.mounts["devrun"] != layout.mounts["compose"]
    ):
        return "devrun's rules differ from compose's here"
    return None


def compose_x_devrun(layout: Layout) -> tuple[dict, list[dict]]:
    """(the service's `x-devrun`, compose's rules with theirs): devrun's extras on
    compose's own file. A devrun action compose cannot spell (signal, exec) goes
    under the service's `x-devrun.watch`; compose's sync+exec rule, which brings
    the files in where devrun's side has a bind mount, stays a plain sync for
    devrun, so one batch is the sync, then devrun's own action."""
    extras = dict(layout.devrun_extra or {})
    rules = [dict(r) for r in layout.rules["compose"]]
    own = [dict(r) for r in layout.rules["devrun"] if r["action"] not in COMPOSE_ACTIONS]
    if own:
        extras["watch"] = own
        for rule in rules:
            if rule["action"] == "sync+exec":
                rule["x-devrun"] = {"action": "sync"}
    return extras, rules


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Project:
    tool: str
    name: str
    root: Path
    port: int
    layout: Layout

    @property
    def edit_path(self) -> Path:
        return self.root / self.layout.edit_file

    def edit_text(self, token: str) -> str:
        return dockerfile(token) if self.layout.build else token + "\n"


def _side(tool: str) -> str:
    return "compose" if tool == DEVRUN_COMPOSE else tool


def _service(layout: Layout, tool: str, port: int) -> dict:
    svc: dict = {
        "init": True,
        "ports": [f"127.0.0.1:{port}:{PORT}"],
        "environment": {"APP_MODE": layout.mode, "APP_VALUE_FILE": layout.value_file},
    }
    if layout.build:
        svc["build"] = "./ctx"
    else:
        svc["image"] = IMAGE
        svc["command"] = ["python3", "-u", APP_PATH]
        # devrun on compose's file mounts what compose mounts
        svc["volumes"] = ["./app.py:" + APP_PATH + ":ro", *layout.mounts[_side(tool)]]
    rules = layout.rules[_side(tool)]
    if tool == DEVRUN_COMPOSE:
        extras, rules = compose_x_devrun(layout)
        svc["develop"] = {"watch": rules}
        if extras:
            svc["x-devrun"] = extras
    elif tool == "compose":
        svc["develop"] = {"watch": rules}
    else:
        svc["watch"] = rules
        svc.update(layout.devrun_extra or {})
    return svc


def generate(layout: Layout, tool: str, name: str, base: Path | None = None) -> Project:
    """Write the project for one tool into a fresh temp dir. DEVRUN_COMPOSE gets
    compose's compose.yaml, exactly as compose watches it."""
    if tool == DEVRUN_COMPOSE:
        reason = compose_spelling_missing(layout)
        if reason:
            raise ValueError(f"{layout.name}: {reason}")
    root, port = _skeleton(name, base)
    if layout.build:
        (root / "ctx").mkdir()
        (root / "ctx" / "app.py").write_text(APP_SOURCE)
        (root / "ctx" / "Dockerfile").write_text(dockerfile(INITIAL))
    as_compose = tool in ("compose", DEVRUN_COMPOSE)
    doc = {"name": name, "services": {"app": _service(layout, tool, port)}}
    if as_compose:
        doc = {"services": doc["services"]}
    (root / config_file(tool)).write_text(yaml.safe_dump(doc, sort_keys=False))
    return Project(tool, name, root, port, layout)


def _skeleton(name: str, base: Path | None) -> tuple[Path, int]:
    """A fresh project folder with the app and its value file; (folder, free host port)."""
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
    (root / "src").mkdir()
    (root / "src" / "value.txt").write_text(INITIAL + "\n")
    (root / "app.py").write_text(APP_SOURCE)
    return root, free_port()


def config_file(tool: str) -> str:
    return "devrun.yaml" if tool == "devrun" else "compose.yaml"


def generate_pair(tool: str, name: str, base: Path | None = None) -> Project:
    """The command-startup project: the app (watched, port published) and a
    busybox worker, two services, in the tool's own file."""
    layout = LAYOUTS["restart"]
    root, port = _skeleton(name, base)
    worker: dict = {
        "image": WORKER_IMAGE,
        "init": True,
        "command": ["sh", "-c", "while true; do sleep 1; done"],
        "depends_on": ["app"],
    }
    doc = {
        "services": {"app": _service(layout, "compose" if tool != "devrun" else tool, port), "worker": worker}
    }
    if tool == "devrun":
        doc = {"name": name, **doc}
    (root / config_file(tool)).write_text(yaml.safe_dump(doc, sort_keys=False))
    return Project(tool, name, root, port, layout)
