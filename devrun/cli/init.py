"""`devrun init`: write a commented devrun.yaml from what the folder holds.

A compose file wins over a Dockerfile (it already names the services). The
decisions (what the Dockerfile says, what to watch, how to render) are pure
functions; `init_project` is the only one that reads and writes files."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devrun.config.compose_import import COMPOSE_NAMES, Skipped, Translation, translate
from devrun.config.render import SCHEMA_ID
from devrun.errors import ConfigError, Problem, UsageError

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
    path: Path
    source: str  # "Dockerfile" or the compose file's name
    skipped: list[Skipped]


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


def render(translation: Translation, origin: str, notes: list[str]) -> str:
    """The commented devrun.yaml text."""
    lines = [
        f"# yaml-language-server: $schema={SCHEMA_ID}",
        f"# Written by `devrun init` from {origin}. Check it with `devrun config`,",
        "# start it with `devrun up`. Reference: docs/config.md",
    ]
    lines += [f"# - {n}" for n in notes]
    lines.append("")
    body: dict[str, Any] = {}
    if translation.name:
        body["name"] = translation.name
    body["services"] = translation.services
    if translation.volumes:
        body["volumes"] = {k: (v or None) for k, v in translation.volumes.items()}
    lines.append(
        yaml.safe_dump(
            body, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
        ).rstrip()
    )
    if translation.skipped:
        lines += ["", f"# Not translated from {origin} (devrun has no equivalent):"]
        lines += [f"#   {s}" for s in translation.skipped]
    return "\n".join(lines) + "\n"


def find_compose(folder: Path) -> Path | None:
    return next((folder / n for n in COMPOSE_NAMES if (folder / n).is_file()), None)


def plan_for(folder: Path) -> tuple[str, Translation, list[str]]:
    """What to write for this folder: origin, translation and notes."""
    compose = find_compose(folder)
    if compose:
        try:
            data = yaml.safe_load(compose.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            mark = getattr(e, "problem_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
            raise ConfigError(
                [Problem(compose.name, line, col, "", f"cannot read it as YAML: {getattr(e, 'problem', e)}")]
            ) from None
        translation = translate(data)
        if not translation.services:
            raise UsageError(f"{compose.name} defines no services; nothing to translate")
        watched = sum(1 for s in translation.services.values() if s.get("watch"))
        notes = [f"{len(translation.services)} service(s) translated, {watched} with develop.watch rules"]
        return compose.name, translation, notes
    dockerfile = folder / "Dockerfile"
    if dockerfile.is_file():
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        facts = parse_dockerfile(dockerfile.read_text(encoding="utf-8", errors="replace"))
        service, notes = dockerfile_service(facts, entries)
        return "Dockerfile", Translation(services={"app": service}), notes
    raise UsageError(
        f"nothing to start from in {folder}: add a Dockerfile or a compose.yaml, or write devrun.yaml by hand (docs/config.md)"
    )


def init_project(folder: Path, *, force: bool = False) -> InitResult:
    folder = folder.resolve()
    target = folder / "devrun.yaml"
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it")
    origin, translation, notes = plan_for(folder)
    target.write_text(render(translation, origin, notes), encoding="utf-8")
    return InitResult(path=target, source=origin, skipped=translation.skipped)
