"""Compose files read as `docker compose` reads them, into devrun's model.

Finding: `-f` (repeatable), else COMPOSE_FILE (split at COMPOSE_PATH_SEPARATOR),
else the first of compose.yaml, compose.yml, docker-compose.yml,
docker-compose.yaml in this folder or the nearest parent, plus the first
override file beside it. The project folder is the first file's folder; its
`.env` (or every `--env-file`) feeds interpolation, and the shell wins.
Resolving: each file is read with positions, its `include`s and `extends`
resolved, then merged in order by compose's rules (`compose_merge`); services
whose profiles are all inactive are left out, as `docker compose config` does."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devrun.config import compose_merge, compose_translate, yaml_source
from devrun.config.interpolate import interpolate, parse_env_file
from devrun.config.yaml_source import PosDict, excerpt, shown_path
from devrun.errors import ConfigError, Problem

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
# a compose file's top-level keys (and x-*): a file with none of them is not one
TOP_KEYS = ("name", "services", "include", "volumes", "networks", "secrets", "configs", "version", "models")
OVERRIDE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


def find_files(start: Path, environ: dict[str, str]) -> list[Path]:
    """The compose files for a folder with no -f, or [] when there are none."""
    listed = environ.get("COMPOSE_FILE")
    if listed:
        sep = environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        return [(start / p).resolve() for p in listed.split(sep) if p]
    for folder in (start, *start.parents):
        found = in_folder(folder)
        if found:
            return found
    return []


def in_folder(folder: Path) -> list[Path]:
    """The first compose file of this folder and the first override file beside it."""
    main = next((folder / n for n in COMPOSE_NAMES if (folder / n).is_file()), None)
    if not main:
        return []
    return with_override(main)


def with_override(main: Path) -> list[Path]:
    if main.name not in COMPOSE_NAMES:
        return [main]
    over = next((main.parent / n for n in OVERRIDE_NAMES if (main.parent / n).is_file()), None)
    return [main, over] if over else [main]


def load(
    files: list[Path],
    *,
    project_name: str | None = None,
    options: Options | None = None,
    environ: dict[str, str],
):
    """The LoadedConfig of these compose files (devrun.config.loader's shape)."""
    from devrun.config import loader

    for f in files:
        if not f.is_file():
            raise ConfigError([Problem(shown_path(f), None, None, "", "no such compose file")])
    resolved = read(files, options or Options(), environ)
    shown = shown_path(files[0])
    if resolved.problems and not isinstance(resolved.data.get("services"), dict):
        raise ConfigError(resolved.problems)
    marks = yaml_source.marks_of(resolved.data, shown)
    loaded = loader.validate(
        resolved.data,
        marks,
        path=files[0],
        shown=shown,
        root=resolved.root,
        env=resolved.env,
        sources=resolved.sources,
        project_name=project_name or resolved.env.get("COMPOSE_PROJECT_NAME") or None,
        compose=True,
        problems=resolved.problems,
        strict=(options or Options()).strict or resolved.strict,
    )
    loaded.files = list(files)
    loaded.options = options
    loaded.notes = resolved.notes + loaded.notes
    return loaded


@dataclass
class Options:
    """What the command line adds to the files: compose's global flags."""

    profiles: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    # services named on the command line start even when their profiles are off
    services: list[str] = field(default_factory=list)
    # --strict: the risky settings a compose file asks for are errors
    strict: bool = False


@dataclass
class Resolved:
    data: dict[str, Any]
    root: Path
    env: dict[str, str]
    files: list[Path]
    # files whose edits change the config (compose files, .env, included files)
    sources: list[Path]
    notes: list[str]
    # what was wrong on the way (files, include, extends, interpolation), said with the rest
    problems: list[Problem] = field(default_factory=list)
    # x-devrun: {strict: true} at the top level
    strict: bool = False


def project_env(
    root: Path, env_files: list[str], environ: dict[str, str], problems: list[Problem] | None = None
) -> tuple[dict[str, str], list[Path]]:
    """The interpolation environment: --env-file files (else the project's
    .env), then the shell, which wins."""
    env: dict[str, str] = {}
    paths = [Path(p).expanduser() for p in env_files] or [root / ".env"]
    for path in paths:
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            if env_files:
                raise ConfigError(
                    [Problem(shown_path(path), None, None, "", "env file not found (--env-file)")]
                )
            continue
        values, bad = parse_env_file(path, {**env, **environ})
        found = [Problem(shown_path(path), ln, 1, "", msg) for ln, msg in bad]
        if found and problems is None:
            raise ConfigError(found)
        (problems if problems is not None else []).extend(found)
        env.update(values)
    env.update(environ)
    return env, paths


def read(files: list[Path], options: Options, environ: dict[str, str]) -> Resolved:
    root = files[0].parent
    problems: list[Problem] = []
    env, env_paths = project_env(root, options.env_files, environ, problems)
    reader = _Reader(env, problems)
    merged: Any = PosDict()
    for path in files:
        data = reader.file(path, main=True)
        if data is not None:
            merged = compose_merge.merge(merged, data)
    merged = compose_merge._plain(merged)
    services = merged.get("services")
    if isinstance(services, dict):
        for svc in services.values():
            if isinstance(svc, dict):
                compose_merge.unique_lists(svc)
    profiles = set(options.profiles or _split(env.get("COMPOSE_PROFILES", "")))
    notes: list[str] = []
    try:
        data = compose_translate.to_devrun(merged, profiles, set(options.services), notes)
    except ConfigError as e:
        problems += e.problems
        data = compose_translate.to_devrun(merged, {"*"}, set(), [])
    return Resolved(
        data=data,
        root=root,
        env=env,
        files=files,
        sources=[*reader.read, *env_paths],
        notes=notes,
        problems=problems,
        strict=_devrun_extras(merged).get("strict") is True,
    )


def _devrun_extras(data: Any) -> dict[str, Any]:
    extras = data.get("x-devrun") if isinstance(data, dict) else None
    return extras if isinstance(extras, dict) else {}


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


class _Reader:
    """Reads files, resolving `include` and `extends`; remembers what it read.
    A problem on the way is kept in `problems` and the reading goes on
    without the part it concerns, so one run names them all."""

    def __init__(self, env: dict[str, str], problems: list[Problem]):
        self.env = env
        self.read: list[Path] = []
        self.cache: dict[Path, Any] = {}
        self.problems = problems

    def parse(self, path: Path, env: dict[str, str] | None = None) -> Any:
        path = path.resolve()
        if path in self.cache and env is None:
            return self.cache[path]
        shown = shown_path(path)
        text = yaml_source.read_text(path, shown)
        use = self.env if env is None else env
        data = yaml_source.parse(
            text, shown, lambda s: interpolate(s, use), tags=True, problems=self.problems
        )
        from devrun.config.loader import wrong_shape

        wrong = wrong_shape(data, shown, set(TOP_KEYS), "a compose file")
        if wrong:
            raise ConfigError([wrong])
        self.read.append(path)
        for svc in (data.get("services") or {}).values() if isinstance(data.get("services"), dict) else ():
            compose_merge.canonical_service(svc)
        if env is None:
            self.cache[path] = data
        return data

    def file(self, path: Path, *, main: bool, env: dict[str, str] | None = None) -> Any:
        """The file resolved, or None when it cannot be read (its problem kept)."""
        try:
            data = self.parse(path, env)
        except ConfigError as e:
            self.problems += e.problems
            return None
        data = self.extends(data, path, set())
        includes = data.pop("include", None)
        if includes:
            data = self.include(data, includes, path)
        if not main:
            # an included file's relative paths are relative to its own folder
            for svc in (data.get("services") or {}).values():
                if isinstance(svc, dict):
                    compose_merge.absolute_paths(svc, str(path.parent))
            for section in ("secrets", "configs"):
                for spec in (data.get(section) or {}).values():
                    if isinstance(spec, dict) and isinstance(spec.get("file"), str):
                        spec["file"] = str(path.parent / os.path.expanduser(spec["file"]))
        return data

    def include(self, data: Any, includes: Any, path: Path) -> Any:
        shown = shown_path(path)
        items = includes if isinstance(includes, list) else [includes]
        for i, item in enumerate(items):
            at = (getattr(includes, "at", None) or [None] * len(items))[i]
            line, col = (at[1], at[2]) if at else (None, None)
            spec = {"path": item} if isinstance(item, str) else item
            if not isinstance(spec, dict) or not spec.get("path"):
                self.problems.append(
                    Problem(shown, line, col, f"include[{i}]", "give a file path or `path:`")
                )
                continue
            paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
            if any("://" in str(p) or str(p).startswith("oci:") for p in paths):
                msg = "a remote include (OCI or git) needs the network; devrun reads local files only"
                self.problems.append(Problem(shown, line, col, f"include[{i}]", msg))
                continue
            files = [(path.parent / str(p)).resolve() for p in paths]
            missing = [f for f in files if not f.is_file()]
            if missing:
                msg = f"included file {shown_path(missing[0])} does not exist"
                self.problems.append(Problem(shown, line, col, f"include[{i}]", msg))
                continue
            env = self.env
            if spec.get("env_file") or (files[0].parent / ".env").is_file():
                env_files = spec.get("env_file") or [str(files[0].parent / ".env")]
                env_files = env_files if isinstance(env_files, list) else [env_files]
                extra, _ = project_env(
                    files[0].parent, [str(path.parent / e) for e in env_files], {}, self.problems
                )
                env = {**extra, **self.env}
            included: Any = PosDict()
            for f in files:
                one = self.file(f, main=False, env=env)
                if one is not None:
                    included = compose_merge.merge(included, one)
            for section in ("services", "volumes", "networks", "secrets", "configs"):
                mine = data.get(section) or PosDict()
                theirs = included.get(section) or {}
                for name in theirs:
                    if name in mine:
                        msg = f"'{excerpt(name)}' is defined here and in included {shown_path(files[0])}; keep one"
                        self.problems.append(Problem(shown, line, col, f"{section}.{excerpt(name)}", msg))
                if theirs:
                    out = compose_merge.merge(PosDict(theirs), mine)
                    data[section] = out
        return data

    def extends(self, data: Any, path: Path, busy: set[tuple[Path, str]]) -> Any:
        services = data.get("services")
        if not isinstance(services, dict):
            return data
        for name in list(services):
            try:
                services[name] = self.extended(services, name, path, busy)
            except ConfigError as e:
                # said once; the service goes on without what it extends
                self.problems += [p for p in e.problems if p not in self.problems]
                if isinstance(services[name], dict):
                    services[name].pop("extends", None)
        return data

    def extended(self, services: dict[str, Any], name: str, path: Path, busy: set[tuple[Path, str]]) -> Any:
        svc = services[name]
        spec = svc.get("extends") if isinstance(svc, dict) else None
        if not spec:
            return svc
        shown = shown_path(path)
        at = getattr(svc, "at", {}).get("extends")
        line, col = (at[1], at[2]) if at else (None, None)
        where = f"services.{name}.extends"
        if not isinstance(spec, dict) or not isinstance(spec.get("service"), str):
            raise ConfigError(
                [Problem(shown, line, col, where, "give `service:` (and `file:` for another file)")]
            )
        if (path, name) in busy:
            raise ConfigError([Problem(shown, line, col, where, "extends goes round in a circle")])
        busy = busy | {(path, name)}
        base_name = spec["service"]
        if spec.get("file"):
            other = (path.parent / str(spec["file"])).resolve()
            if not other.is_file():
                msg = f"file {shown_path(other)} does not exist"
                raise ConfigError([Problem(shown, line, col, where, msg)])
            base_services = self.parse(other).get("services") or {}
            if base_name not in base_services:
                msg = f"service '{excerpt(base_name)}' is not in {shown_path(other)}"
                raise ConfigError([Problem(shown, line, col, where, msg)])
            base = self.extended(base_services, base_name, other, busy)
            base = _copy(base)
            compose_merge.absolute_paths(base, str(other.parent))
        else:
            if base_name not in services:
                raise ConfigError(
                    [Problem(shown, line, col, where, f"'{excerpt(base_name)}' is not a service here")]
                )
            base = _copy(self.extended(services, base_name, path, busy))
        own = PosDict({k: v for k, v in svc.items() if k != "extends"})
        own.at, own.key_at, own.pos = dict(svc.at), dict(svc.key_at), svc.pos
        merged = compose_merge.merge(base, own, ("services", name))
        merged.pop("extends", None)
        return merged


def _copy(value: Any) -> Any:
    """A deep copy keeping positions: one base may be extended twice."""
    if isinstance(value, dict):
        out = PosDict({k: _copy(v) for k, v in value.items()})
        out.at, out.key_at = dict(getattr(value, "at", {})), dict(getattr(value, "key_at", {}))
        out.pos = getattr(value, "pos", None)
        return out
    if isinstance(value, list):
        out = yaml_source.PosList([_copy(v) for v in value])
        out.at = list(getattr(value, "at", [None] * len(value)))
        out.pos = getattr(value, "pos", None)
        return out
    return value


def summary(cfg) -> list[str]:
    """What `devrun config` says on stderr: the files read (and a compose file
    left unread beside a devrun.yaml), then each note once."""
    shown = ", ".join(shown_path(f) for f in cfg.files or [cfg.file])
    lines = [f"read {shown}"]
    if not cfg.compose:
        beside = in_folder(cfg.root)
        if beside:
            lines[0] += f" (devrun.yaml wins over {', '.join(p.name for p in beside)} beside it)"
        elif not cfg.notes:
            return []
    return lines + list(dict.fromkeys(cfg.notes))
