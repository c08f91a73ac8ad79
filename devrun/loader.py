"""devrun.yaml -> validated, resolved Project, or a ConfigError whose every
problem names file, line, column and field path.

YAML is composed into nodes (not loaded) so each value keeps its position;
interpolation happens per scalar so a `${VAR:?}` error points at its line."""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from devrun.compose_import import compose_key_reason
from devrun.config import Project, Service, normalise_project_name
from devrun.errors import ConfigError, Problem
from devrun.interpolate import InterpolationError, interpolate, parse_env_file

CONFIG_NAMES = ("devrun.yaml", "devrun.yml")
MAX_NODES = 50_000
MAX_DEPTH = 64
MAX_BYTES = 4 * 1024 * 1024

Loc = tuple[str | int, ...]


@dataclass
class Marks:
    """Where each value (and each mapping key) sits in the source."""

    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def find(self, loc: Loc, prefer_key: bool = False) -> tuple[int | None, int | None]:
        if prefer_key and loc in self.keys:
            return self.keys[loc]
        for i in range(len(loc), -1, -1):
            part = loc[:i]
            if part in self.values:
                return self.values[part]
        return (None, None)


@dataclass
class LoadedConfig:
    project: Project
    name: str
    file: Path
    root: Path
    # files whose edits change the config: devrun.yaml, .env, env_file entries
    sources: list[Path]
    marks: Marks
    # the interpolation environment, for commands that print where a value came from
    env: dict[str, str]


def find_config(start: Path | None = None, explicit: str | Path | None = None) -> Path:
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            for name in CONFIG_NAMES:
                if (path / name).is_file():
                    return (path / name).resolve()
        if not path.is_file():
            raise ConfigError(
                [
                    Problem(
                        str(explicit), None, None, "", "no such file; pass the path of a devrun.yaml with -f"
                    )
                ]
            )
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise ConfigError(
        [
            Problem(
                str(here),
                None,
                None,
                "",
                "no devrun.yaml here or in any parent folder; run `devrun init` or pass -f FILE",
            )
        ]
    )


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load(
    explicit: str | Path | None = None, *, project_name: str | None = None, start: Path | None = None
) -> LoadedConfig:
    path = find_config(start, explicit)
    return load_file(path, project_name=project_name)


def load_file(
    path: Path, *, project_name: str | None = None, environ: dict[str, str] | None = None
) -> LoadedConfig:
    path = Path(path).resolve()
    shown = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError([Problem(shown, None, None, "", f"cannot read: {e.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            [
                Problem(
                    shown, None, None, "", f"file is {len(raw)} bytes; a devrun.yaml is at most {MAX_BYTES}"
                )
            ]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            [Problem(shown, None, None, "", f"not UTF-8 text (byte {e.start}); save it as UTF-8")]
        ) from None
    root = path.parent
    env, sources = _interpolation_env(root, shown, environ)
    data, marks = parse_yaml(text, shown, env)
    return validate(
        data,
        marks,
        path=path,
        shown=shown,
        root=root,
        env=env,
        sources=[path, *sources],
        project_name=project_name,
    )


def _interpolation_env(
    root: Path, shown: str, environ: dict[str, str] | None
) -> tuple[dict[str, str], list[Path]]:
    env: dict[str, str] = {}
    sources: list[Path] = []
    dotenv = root / ".env"
    if dotenv.is_file():
        values, problems = parse_env_file(dotenv)
        if problems:
            raise ConfigError([Problem(display_path(dotenv), ln, 1, "", msg) for ln, msg in problems])
        env.update(values)
    sources.append(dotenv)
    # the shell wins over .env, as in compose
    env.update(os.environ if environ is None else environ)
    return env, sources


_UNPRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0


def parse_yaml(text: str, shown: str, env: dict[str, str]) -> tuple[Any, Marks]:
    bad = _UNPRINTABLE.search(text)
    if bad:
        # PyYAML refuses these before parsing starts, with a message about positions
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise ConfigError(
            [
                Problem(
                    shown,
                    line,
                    col,
                    "",
                    f"control character {bad.group()!r} is not allowed in YAML; remove it",
                )
            ]
        )
    loader = yaml.SafeLoader(text)
    marks = Marks()
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([Problem(shown, 1, 1, "", "the file is empty; it needs at least `services:`")])
        data = _build(loader, node, (), marks, env, shown, _Budget(), 0)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = (e.problem or e.context or "invalid YAML").strip()
        if e.context and e.problem:
            msg = f"{e.problem} ({e.context})"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        if "'\\t'" in msg:
            msg += "; indent with spaces, not tabs"
        raise ConfigError([Problem(shown, line, col, "", f"YAML syntax error: {msg}")]) from None
    except yaml.YAMLError as e:
        raise ConfigError([Problem(shown, None, None, "", f"YAML error: {e}")]) from None
    except RecursionError:
        raise ConfigError([Problem(shown, None, None, "", "the document nests too deeply")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(
            [
                Problem(
                    shown,
                    1,
                    1,
                    "",
                    f"the top level must be a mapping with `services:`, not {type(data).__name__}",
                )
            ]
        )
    return data, marks


def _at(node: yaml.Node) -> tuple[int, int]:
    """A node's 1-based line and column."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def _node_error(shown: str, node: yaml.Node, path: str, message: str) -> ConfigError:
    return ConfigError([Problem(shown, *_at(node), path, message)])


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    loc: Loc,
    marks: Marks,
    env: dict[str, str],
    shown: str,
    budget: _Budget,
    depth: int,
) -> Any:
    budget.nodes += 1
    if budget.nodes > MAX_NODES or depth > MAX_DEPTH:
        # a recursive alias nests forever: show only the start of its path
        where = _fmt(loc[:8]) + ("..." if len(loc) > 8 else "")
        raise _node_error(
            shown, node, where, "document too large or too deeply nested (aliases expanded); simplify it"
        )
    marks.values[loc] = _at(node)
    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
        # tags on collections would be dropped silently below; say so instead
        raise _node_error(shown, node, _fmt(loc), f"YAML tag {node.tag} is not supported here; remove it")
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            if isinstance(key, list | dict):
                raise _node_error(shown, knode, _fmt(loc), "a key must be a plain value")
            key = "null" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
            kloc = (*loc, key)
            if key in out:
                raise _node_error(shown, knode, _fmt(kloc), f"duplicate key '{key}'; keep one")
            marks.keys[kloc] = _at(knode)
            out[key] = _build(loader, vnode, kloc, marks, env, shown, budget, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = [
            _build(loader, item, (*loc, i), marks, env, shown, budget, depth + 1)
            for i, item in enumerate(node.value)
        ]
        # list items that are names (depends_on: [db]) can be found by name, like keys
        for item, inode in zip(items, node.value, strict=True):
            if isinstance(item, str):
                marks.keys.setdefault((*loc, item), _at(inode))
        return items
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str):
        try:
            value = interpolate(value, env)
        except InterpolationError as e:
            raise _node_error(shown, node, _fmt(loc), str(e)) from None
    elif isinstance(value, bytes | set) or type(value).__name__ in ("date", "datetime"):
        value = str(value)
    return value


def _fmt(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# ---- pydantic errors -> Problems -------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """Peel Annotated/Optional/list/dict down to a model class, if there is one."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return None
        else:
            return tp


def _model_at(loc: Loc) -> type[BaseModel] | None:
    current: Any = Project
    for part in loc:
        tp = _unwrap(current)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if not isinstance(part, str) or part not in tp.model_fields:
                return None
            current = tp.model_fields[part].annotation
            continue
        origin = typing.get_origin(tp)
        if origin in (list, dict):
            current = typing.get_args(tp)[-1]
            continue
        return None
    tp = _unwrap(current)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _problem_from_error(err: dict[str, Any], marks: Marks, shown: str) -> Problem:
    loc: Loc = ()
    for part in err["loc"]:
        # pydantic adds validator names to locations; a key the user wrote stays even if it looks like one
        internal = isinstance(part, str) and part.startswith(("function-", "["))
        if not internal or (*loc, part) in marks.values:
            loc = (*loc, part)
    kind = err["type"]
    path = _fmt(loc)
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        model = _model_at(loc[:-1])
        options = sorted(model.model_fields) if model else []
        msg = f"unknown key '{key}'{_suggest(key, options)}"
        reason = compose_key_reason(key, model is Project) if model in (Project, Service) else None
        if reason:
            msg = f"'{key}' is compose's, not devrun's: {reason}"
        elif options and not _suggest(key, options):
            msg += f"; known keys: {', '.join(options)}"
        line, col = marks.find(loc, prefer_key=True)
        return Problem(shown, line, col, path, msg)
    line, col = marks.find(loc)
    if kind == "missing":
        return Problem(shown, line, col, path, "required; add it")
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        got = err.get("input")
        msg = f"{got!r} is not one of {', '.join(expected)}"
        if isinstance(got, str):
            msg += _suggest(got, expected)
        return Problem(shown, line, col, path, msg)
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif "input" in err and not isinstance(err["input"], dict | list):
        msg = f"{msg}, got {err['input']!r}"
    return Problem(shown, line, col, path, msg)


def validate(
    data: dict[str, Any],
    marks: Marks,
    *,
    path: Path,
    shown: str,
    root: Path,
    env: dict[str, str],
    sources: list[Path],
    project_name: str | None = None,
) -> LoadedConfig:
    try:
        project = Project.model_validate(data)
    except ValidationError as e:
        problems = [_problem_from_error(err, marks, shown) for err in e.errors(include_url=False)]
        problems.sort(key=lambda p: (p.line or 0, p.col or 0))
        raise ConfigError(problems) from None
    from devrun.checks import check_and_resolve  # cross-field rules live apart: they are long

    _check_project_name(project_name, project.name, marks, shown)
    name = normalise_project_name(project_name or project.name or root.name)
    extra_sources = check_and_resolve(project, marks, shown, root, env)
    return LoadedConfig(
        project=project,
        name=name,
        file=path,
        root=root,
        sources=sources + extra_sources,
        marks=marks,
        env=env,
    )


def _check_project_name(given: str | None, written: str | None, marks: Marks, shown: str) -> None:
    """A name from -p or `name:` with nothing docker-safe in it is a mistake,
    not a reason to fall back to 'default' silently."""
    from devrun.errors import UsageError

    if given is not None and not re.search(r"[a-zA-Z0-9]", given):
        raise UsageError(f"-p {given!r}: a project name needs letters or digits")
    if given is None and written is not None and not re.search(r"[a-zA-Z0-9]", written):
        line, col = marks.find(("name",))
        raise ConfigError(
            [
                Problem(
                    shown,
                    line,
                    col,
                    "name",
                    f"{written!r} has no letters or digits; name the project e.g. 'myapp'",
                )
            ]
        )
