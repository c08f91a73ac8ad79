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

from pydantic import BaseModel, ValidationError

from devrun.config import yaml_source
from devrun.config.compose_import import compose_key_reason
from devrun.config.interpolate import interpolate, parse_env_file
from devrun.config.model import Project, Service, normalise_project_name
from devrun.config.yaml_source import Loc, Marks, excerpt, fmt_loc
from devrun.errors import ConfigError, Problem

CONFIG_NAMES = ("devrun.yaml", "devrun.yml")


@dataclass
class LoadedConfig:
    project: Project
    name: str
    file: Path
    root: Path
    # files whose edits change the config: devrun.yaml, .env, env_file entries
    sources: list[Path]
    # the config files read, in order (one devrun.yaml, or the compose files)
    files: list[Path] = field(default_factory=list)
    # keys read but not applied, and risky settings a compose file asks for: say them once
    notes: list[str] = field(default_factory=list)
    # of those, the risky settings a compose file asks for (socket, host paths, privileges)
    risks: list[str] = field(default_factory=list)
    compose: bool = False
    # compose's command-line options the files were read with (profiles, env files), for reload
    options: Any = None


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


display_path = yaml_source.shown_path


def config_exists(start: Path | None = None, environ: dict[str, str] | None = None) -> bool:
    """A devrun.yaml or compose files here or in a parent folder (or COMPOSE_FILE)."""
    from devrun.config import compose_files

    environ = dict(os.environ if environ is None else environ)
    here = (start or Path.cwd()).resolve()
    if compose_files.find_files(here, environ):
        return True
    return any((folder / n).is_file() for folder in (here, *here.parents) for n in CONFIG_NAMES)


def reload(old: LoadedConfig, environ: dict[str, str] | None = None) -> LoadedConfig:
    """The same files read again, with the same options and project name."""
    if old.compose:
        from devrun.config import compose_files

        env = dict(os.environ if environ is None else environ)
        return compose_files.load(old.files, project_name=old.name, options=old.options, environ=env)
    return load_file(old.file, project_name=old.name, environ=environ)


def is_compose_name(path: Path) -> bool:
    """-f names a compose file rather than a devrun.yaml (by its name)."""
    return path.name not in CONFIG_NAMES and "compose" in path.name


def load(
    explicit: str | Path | list[str] | None = None,
    *,
    project_name: str | None = None,
    start: Path | None = None,
    options: Any = None,
    environ: dict[str, str] | None = None,
) -> LoadedConfig:
    """The config for a command: -f files (one devrun.yaml, or compose files),
    else the nearest devrun.yaml, else the compose files compose would read."""
    from devrun.config import compose_files

    environ = dict(os.environ if environ is None else environ)
    given = [explicit] if isinstance(explicit, str | Path) else list(explicit or [])
    if len(given) > 1 or (given and is_compose_name(Path(given[0]))):
        files = [Path(f).expanduser().resolve() for f in given]
        return compose_files.load(files, project_name=project_name, options=options, environ=environ)
    if given:
        return load_file(find_config(start, given[0]), project_name=project_name, environ=environ)
    here = (start or Path.cwd()).resolve()
    found = compose_files.find_files(here, environ) if environ.get("COMPOSE_FILE") else []
    for folder in () if found else (here, *here.parents):
        if any((folder / n).is_file() for n in CONFIG_NAMES):
            return load_file(find_config(folder), project_name=project_name, environ=environ)
        found = compose_files.in_folder(folder)
        if found:
            break
    if found:
        return compose_files.load(found, project_name=project_name, options=options, environ=environ)
    return load_file(find_config(start), project_name=project_name, environ=environ)


def load_file(
    path: Path, *, project_name: str | None = None, environ: dict[str, str] | None = None
) -> LoadedConfig:
    path = Path(path).resolve()
    if is_compose_name(path):
        from devrun.config import compose_files

        files = compose_files.with_override(path)
        env = dict(os.environ if environ is None else environ)
        return compose_files.load(files, project_name=project_name, environ=env)
    shown = display_path(path)
    text = yaml_source.read_text(path, shown)
    root = path.parent
    # every problem of every stage is collected, so one run names them all
    problems: list[Problem] = []
    env, sources = _interpolation_env(root, shown, environ, problems)
    data, marks = parse_yaml(text, shown, env, problems)
    loaded = validate(
        data,
        marks,
        path=path,
        shown=shown,
        root=root,
        env=env,
        sources=[path, *sources],
        project_name=project_name,
        problems=problems,
    )
    loaded.files = [path]
    return loaded


def _interpolation_env(
    root: Path, shown: str, environ: dict[str, str] | None, problems: list[Problem]
) -> tuple[dict[str, str], list[Path]]:
    env: dict[str, str] = {}
    sources: list[Path] = []
    dotenv = root / ".env"
    if dotenv.is_file():
        values, bad = parse_env_file(dotenv)
        problems += [Problem(display_path(dotenv), ln, 1, "", msg) for ln, msg in bad]
        env.update(values)
    sources.append(dotenv)
    # the shell wins over .env, as in compose
    env.update(os.environ if environ is None else environ)
    return env, sources


def parse_yaml(
    text: str, shown: str, env: dict[str, str], problems: list[Problem] | None = None
) -> tuple[Any, Marks]:
    pending = [] if problems is None else problems
    try:
        data = yaml_source.parse(text, shown, lambda s: interpolate(s, env), problems=pending)
    except ConfigError as e:
        raise ConfigError([*pending, *e.problems]) from None
    wrong = wrong_shape(data, shown, set(Project.model_fields), "a devrun.yaml")
    if wrong:
        raise ConfigError([*pending, wrong])
    if problems is None and pending:
        raise ConfigError(pending)
    return data, yaml_source.marks_of(data, shown)


def wrong_shape(data: Any, shown: str, known: set[str], what: str) -> Problem | None:
    """The document is not a config at all (a scalar, a list, or a mapping with
    none of the known keys: e.g. a secrets file behind a symlink). Said in one
    line that quotes nothing from it: its "keys" would be its secrets."""
    if not isinstance(data, dict):
        msg = f"the top level must be a mapping with `services:`, not {type(data).__name__}"
        return Problem(shown, 1, 1, "", msg)

    def config_like(key: str) -> bool:
        # a known key, an extension, or a plain name close to a known key (a typo to point out)
        plain = excerpt(key) == key
        return key in known or key.startswith("x-") or (plain and bool(difflib.get_close_matches(key, known)))

    if any(config_like(str(k)) for k in data):
        return None
    msg = (
        f"not {what}: the top level has none of its keys (services, name, volumes, ...); "
        "its content is not shown; check that the file (or the link to it) is the right one"
    )
    return Problem(shown, 1, 1, "", msg)


_fmt = fmt_loc


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
    loc = _user_loc(err["loc"], marks)
    kind = err["type"]
    path = _fmt(loc)
    shown = marks.file_at(loc, shown)
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        model = _model_at(loc[:-1])
        options = sorted(model.model_fields) if model else []
        msg = f"unknown key '{excerpt(key)}'{_suggest(key, options)}"
        reason = compose_key_reason(key, model is Project) if model in (Project, Service) else None
        if key.startswith("x-devrun."):
            from devrun.config import compose_translate as ct

            level = (
                ct.DEVRUN_TOP if len(loc) == 1 else ct.DEVRUN_RULE if "watch" in loc else ct.DEVRUN_SERVICE
            )
            msg = f"unknown key '{excerpt(key)}'{_suggest(key[9:], list(level))}; x-devrun here takes {', '.join(level)}"
        elif reason:
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
        # the value itself is never quoted: it may hold an interpolated secret
        msg = f"not one of {', '.join(expected)}"
        if isinstance(got, str):
            msg += _suggest(got, expected)
        return Problem(shown, line, col, path, msg)
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
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
    compose: bool = False,
    problems: list[Problem] | None = None,
    strict: bool = False,
) -> LoadedConfig:
    """The Project, or one ConfigError with every problem found: those passed
    in (earlier stages), the model's, and the cross-field checks' (run on the
    project with the fields the model refused left out)."""
    problems = list(problems or [])
    project, cuts = _validated(data, marks, shown, problems)
    if project is None:
        raise ConfigError(_in_order(problems))
    from devrun.config.checks import resolve  # cross-field rules live apart: they are long

    try:
        _check_project_name(project_name, project.name, marks, shown)
    except ConfigError as e:
        problems += e.problems
    name = normalise_project_name(project_name or project.name or root.name)
    notes: list[str] = []
    risks: list[str] = []
    try:
        project, extra_sources = resolve(
            project, marks, shown, root, env, compose=compose, notes=notes, risks=risks, strict=strict
        )
    except ConfigError as e:
        problems += [p for p in e.problems if not _follows_from_cut(p, cuts)]
    if problems:
        raise ConfigError(_in_order(problems))
    return LoadedConfig(
        project=project,
        name=name,
        file=path,
        root=root,
        sources=sources + extra_sources,
        notes=notes,
        risks=risks,
        compose=compose,
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


def _in_order(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.col or 0))


# what a refused entry is replaced with, so references to it do not fail too
_PLACEHOLDERS = {"volumes": {}, "networks": {}, "secrets": {"external": True}, "configs": {"external": True}}


def _validated(
    data: dict[str, Any], marks: Marks, shown: str, problems: list[Problem]
) -> tuple[Project | None, set[Loc]]:
    """The model of `data`; where it refuses fields, their problems go to
    `problems` and the model of the rest is returned, so the cross-field
    checks still run. None when what is left has no services."""
    import copy

    cuts: set[Loc] = set()
    current = data
    for _ in range(4):
        try:
            return Project.model_validate(current), cuts
        except ValidationError as e:
            errors = e.errors(include_url=False)
        problems += [_problem_from_error(err, marks, shown) for err in errors]
        current = copy.deepcopy(current)
        for err in errors:
            cut = _cut_point(_user_loc(err["loc"], marks))
            if cut is None:
                return None, cuts
            cuts.add(cut)
            _apply_cut(current, cut)
    return None, cuts


def _user_loc(raw: tuple, marks: Marks) -> Loc:
    loc: Loc = ()
    for part in raw:
        # pydantic adds validator names to locations; a key the user wrote stays even if it looks like one
        internal = isinstance(part, str) and part.startswith(("function-", "["))
        if not internal or (*loc, part) in marks.values:
            loc = (*loc, part)
    return loc


def _cut_point(loc: Loc) -> Loc | None:
    """What to leave out for the checks: the service's field, a top-level
    entry, or a top-level key; None when it is `services` itself."""
    if not loc or loc == ("services",):
        return None
    if loc[0] == "services":
        return loc[:3]
    return loc[:2] if loc[0] in _PLACEHOLDERS else loc[:1]


def _apply_cut(data: Any, cut: Loc) -> None:
    parent = data
    for part in cut[:-1]:
        parent = parent.get(part) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or cut[-1] not in parent:
        return
    if cut[0] == "services" and len(cut) == 2:
        parent[cut[-1]] = {"image": "-"}  # a service the model refused is still a service
    elif cut[0] in _PLACEHOLDERS and len(cut) == 2:
        parent[cut[-1]] = dict(_PLACEHOLDERS[cut[0]])
    else:
        del parent[cut[-1]]


def _follows_from_cut(problem: Problem, cuts: set[Loc]) -> bool:
    """A check's problem that only says again what the model refused."""
    for cut in cuts:
        if cut[0] == "services" and len(cut) == 3 and cut[2] in ("image", "build"):
            if problem.path.startswith(fmt_loc(cut[:2])) and (
                "needs `image` or `build`" in problem.message or "needs `build:`" in problem.message
            ):
                return True
        if len(cut) == 1 and f"top-level `{cut[0]}:`" in problem.message:
            return True
    return False
