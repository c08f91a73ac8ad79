"""`devrun init`: a first devrun.yaml from a folder's Dockerfile; in a folder
with a compose file, nothing to write: `devrun up` runs the file as it is, and
init shows the devrun-only extras as an `x-devrun` snippet for it.

The decisions (what the Dockerfile says, what to watch, how to render) are pure
functions; `init_project` is the only one that reads and writes files."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devrun.config.compose_files import COMPOSE_NAMES
from devrun.errors import UsageError

# written beside devrun.yaml (`devrun schema`): the schema line names a file that exists
SCHEMA_FILE = "devrun.schema.json"

# files whose change means "reinstall dependencies": a rebuild, not a restart
DEPENDENCY_FILES = (
    "requirements.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "Pipfile",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "go.mod",
    "go.sum",
    "Gemfile",
    "Gemfile.lock",
    "Cargo.toml",
    "Cargo.lock",
    "composer.json",
    "composer.lock",
    "mix.exs",
)


@dataclass
class DockerfileFacts:
    workdir: str | None = None
    # (host source, container destination) for every COPY/ADD from the build context
    copies: list[tuple[str, str]] = field(default_factory=list)
    exposes: list[int] = field(default_factory=list)


@dataclass
class InitResult:
    path: Path | None  # devrun.yaml written, or None (a compose folder)
    source: str  # "Dockerfile" or the compose file's name
    # a compose folder: what to say instead of writing a file
    advice: list[str] = field(default_factory=list)


def parse_dockerfile(text: str) -> DockerfileFacts:
    """WORKDIR, COPY/ADD and EXPOSE of the final stage; enough to guess mounts."""
    facts = DockerfileFacts()
    joined = re.sub(r"\\\r?\n", " ", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            facts = DockerfileFacts()  # only the last stage runs
        elif word == "WORKDIR":
            path = rest.strip().strip("\"'")
            facts.workdir = posixpath.join(facts.workdir or "/", path)
        elif word in ("COPY", "ADD"):
            args = _words(rest)
            if any(a.startswith("--from") for a in args):
                continue
            args = [a for a in args if not a.startswith("--")]
            if len(args) >= 2:
                dest = posixpath.normpath(posixpath.join(facts.workdir or "/", args[-1]))
                facts.copies.extend((src, dest) for src in args[:-1])
        elif word == "EXPOSE":
            for part in rest.split():
                number = part.split("/")[0]
                if number.isdigit():
                    facts.exposes.append(int(number))
    return facts


def _words(rest: str) -> list[str]:
    rest = rest.strip()
    if rest.startswith("["):
        try:
            return [str(x) for x in yaml.safe_load(rest)]
        except yaml.YAMLError:
            return []
    try:
        return shlex.split(rest)
    except ValueError:
        return rest.split()


def dockerfile_service(facts: DockerfileFacts, entries: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The service for a Dockerfile project, given the names at the folder's
    top level (directories end with '/'). Returns it and the comment lines."""
    workdir = facts.workdir or "/app"
    mounts: list[tuple[str, str]] = []
    for src, dest in facts.copies:
        name = src.rstrip("/").removeprefix("./") or "."
        # COPY of a folder copies its contents into dest: mount it there
        if name == "." or f"{name}/" in entries:
            mounts.append((name, posixpath.normpath(dest)))
    if not mounts:
        mounts = [(".", workdir)]
    deps = [e for e in entries if e in DEPENDENCY_FILES]
    sources = [m for m, _ in mounts]
    service: dict[str, Any] = {
        "build": ".",
        "volumes": [f"./{m}:{t}" if m != "." else f".:{t}" for m, t in mounts],
    }
    if facts.exposes:
        service["ports"] = [f"{p}:{p}" for p in facts.exposes]
    restart: dict[str, Any] = {"path": sources if len(sources) > 1 else sources[0], "action": "restart"}
    if "." in sources:
        # devrun.yaml and .env edits already reload the config (recreating what changed): no extra restart
        restart["ignore"] = [*deps, "Dockerfile", ".dockerignore", "devrun.yaml", ".env"]
    if "package.json" in entries:
        restart.setdefault("ignore", []).append("node_modules/")
    service["watch"] = [restart]
    notes = [
        f"source bind-mounted from the Dockerfile's COPY lines (WORKDIR {workdir}); edits are seen at once",
        "restart: the main process restarts in place (fast: container, network and logs stay)",
    ]
    if deps:
        service["watch"].append({"path": [*deps, "Dockerfile"], "action": "rebuild"})
        notes.append(f"rebuild: a change to {', '.join(deps)} or the Dockerfile rebuilds the image")
    return service, notes


def render(services: dict[str, Any], origin: str, notes: list[str]) -> str:
    """The commented devrun.yaml text."""
    lines = [
        f"# yaml-language-server: $schema={SCHEMA_FILE}",
        f"# Written by `devrun init` from {origin}. Check it with `devrun config`,",
        f"# start it with `devrun up`. {SCHEMA_FILE} beside it is `devrun schema` (for editors).",
    ]
    lines += [f"# - {n}" for n in notes]
    lines.append("")
    lines.append(
        yaml.safe_dump(
            {"services": services}, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
        ).rstrip()
    )
    return "\n".join(lines) + "\n"


def find_compose(folder: Path) -> Path | None:
    return next((folder / n for n in COMPOSE_NAMES if (folder / n).is_file()), None)


def extras_snippet(services: dict[str, Any], root: Path) -> list[str]:
    """The `x-devrun` lines for a compose file: per service, the process
    restart mode and debounce; on its first restart rule, a signal instead."""
    lines = ["services:"]
    for name, svc in services.items():
        lines += [
            f"  {name}:",
            "    x-devrun:",
            "      restart_mode: process   # a restart restarts the main process in place (fast)",
            "      debounce: 100ms         # the quiet time that closes a batch of changes",
        ]
        rule = next((r for r in svc.watch if r.action in ("restart", "sync+restart")), None)
        if rule is not None:
            path = os.path.relpath(rule.path[0], root)
            lines += [
                "    develop:",
                "      watch:",
                f"        - path: ./{path}" if not path.startswith("..") else f"        - path: {path}",
                f"          action: {rule.action}",
                "          # an app that reloads on a signal: send it instead of restarting",
                "          x-devrun: {action: signal, signal: HUP}",
            ]
    return lines


def compose_advice(compose: Path, services: dict[str, Any]) -> list[str]:
    return [
        f"{compose.name}: `devrun up` runs it as it is; no devrun.yaml needed, nothing written.",
        f"devrun's own extras go under `x-devrun` in {compose.name} (compose ignores x- keys), e.g.:",
        "",
        *extras_snippet(services, compose.parent),
    ]


def plan_for(folder: Path) -> tuple[str, dict[str, Any], list[str]]:
    """What to write for a Dockerfile folder: origin, services and notes."""
    dockerfile = folder / "Dockerfile"
    if dockerfile.is_file():
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        facts = parse_dockerfile(dockerfile.read_text(encoding="utf-8", errors="replace"))
        service, notes = dockerfile_service(facts, entries)
        return "Dockerfile", {"app": service}, notes
    raise UsageError(
        f"nothing to start from in {folder}: add a Dockerfile or a compose.yaml, or write devrun.yaml by hand (docs/config.md)"
    )


def init_project(folder: Path, *, force: bool = False) -> InitResult:
    folder = folder.resolve()
    compose = find_compose(folder)
    if compose:
        from devrun.config import loader

        cfg = loader.load(start=folder)  # a problem is a ConfigError: the caller prints it
        if not cfg.compose:
            raise UsageError(
                f"{cfg.file.name} here wins over {compose.name}; remove it to run {compose.name} as it is"
            )
        return InitResult(
            path=None, source=compose.name, advice=compose_advice(compose, cfg.project.services)
        )
    target = folder / "devrun.yaml"
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it")
    origin, services, notes = plan_for(folder)
    target.write_text(render(services, origin, notes), encoding="utf-8")
    from devrun.config.render import json_schema

    (folder / SCHEMA_FILE).write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    return InitResult(path=target, source=origin)
