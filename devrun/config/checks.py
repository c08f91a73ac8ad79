"""Rules that span fields, and resolution of paths against the project folder.

All problems are collected (not just the first) so one run shows them all."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from devrun.config.interpolate import parse_env_file
from devrun.config.model import Project
from devrun.config.yaml_source import excerpt, fmt_loc
from devrun.errors import ConfigError, Problem
from devrun.watch.rules import split_glob

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
EXEC_ACTIONS = {"exec", "sync+exec"}
SYNC_ACTIONS = {"sync", "sync+restart", "sync+exec"}
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def check_and_resolve(
    project: Project,
    marks,
    shown: str,
    root: Path,
    env: dict[str, str],
    *,
    compose: bool = False,
    notes: list[str] | None = None,
    risks: list[str] | None = None,
    strict: bool = False,
) -> list[Path]:
    """Check cross-field rules; make relative paths absolute; merge env_file
    values into environment. Returns the env files (for hot reload).
    `compose`: the project came from compose files, so compose's meaning holds
    where devrun.yaml is stricter: a missing bind source or watch path is
    created or waited for, and host paths and privileges are the team's written
    decision, so they become `notes` (warnings, also in `risks`) instead of
    problems; `strict` (--strict, x-devrun: {strict: true}) refuses them."""
    notes = [] if notes is None else notes
    risks = [] if risks is None else risks
    problems: list[Problem] = []
    env_sources: list[Path] = []

    def add(loc: tuple, msg: str, key: bool = False) -> None:
        line, col = marks.find(loc, prefer_key=key)
        problems.append(Problem(marks.file_at(loc, shown), line, col, fmt_loc(loc), msg))

    def risky(loc: tuple, msg: str) -> None:
        if not compose:
            add(loc, msg)
            return
        if strict:
            add(loc, f"{msg.split('; ')[0]}; refused by --strict (or x-devrun: {{strict: true}})")
            return
        line, _ = marks.find(loc)
        where = marks.file_at(loc, shown) + (f":{line}" if line else "")
        note = f"{where}: {fmt_loc(loc)}: {msg.split('; ')[0]} (as the compose file says)"
        notes.append(note)
        risks.append(note)

    root = root.resolve()
    home = Path.home().resolve()
    allowed = [Path(os.path.expanduser(p)) for p in project.allow_host_paths]
    allowed = [(p if p.is_absolute() else root / p) for p in allowed]
    # both spellings: /var/run/docker.sock is /run/docker.sock once symlinks resolve
    allowed = [*{Path(os.path.normpath(p)) for p in allowed}, *{p.resolve() for p in allowed}]

    def host_path_refusal(p: Path) -> str | None:
        """Why a host path may not be used without an opt-in, or None."""
        if any(p == a or _is_within(p, a) for a in allowed):
            return None
        if str(p) in DOCKER_SOCKETS or p.name == "docker.sock":
            return "mounting the Docker socket gives the container control of the host"
        if p == Path("/"):
            return "mounting / exposes the whole host"
        if p == home:
            return "mounting your home folder exposes your keys and credentials"
        if not _is_within(p, root):
            return f"the path is outside the project folder {root}"
        return None

    for kind in ("secrets", "configs"):
        for fname, spec in getattr(project, kind).items():
            if spec.file:
                p = Path(os.path.expanduser(spec.file))
                spec.file = str(p if p.is_absolute() else (root / p).resolve())
            elif spec.environment:
                spec._env_value = env.get(spec.environment)  # written into the container, never shown
            elif not (spec.environment or spec.content is not None or spec.external):
                add((kind, fname), "give `file`, `environment`, `content` or `external: true`", key=True)

    for vname in project.volumes:
        if not NAME_RE.match(vname):
            add(
                ("volumes", vname),
                f"volume name '{excerpt(vname)}' may use letters, digits, '_', '.', '-'",
                key=True,
            )

    names = set(project.services)
    published: dict[tuple[str, int], str] = {}
    for sname, svc in project.services.items():
        base = ("services", sname)
        if not NAME_RE.match(sname):
            add(
                base,
                f"service name '{excerpt(sname)}' may use letters, digits, '_', '.', '-' and must start with a letter or digit",
                key=True,
            )
        if not svc.image and not svc.build:
            add(base, "needs `image` or `build`", key=True)
        if svc.build:
            ctx = Path(os.path.expanduser(svc.build.context))
            ctx = (ctx if ctx.is_absolute() else root / ctx).resolve()
            svc.build.context = str(ctx)
            # the engine would be sent the whole tree: refuse / and home like mounts
            why = host_path_refusal(ctx) if ctx in (Path("/"), home) else None
            if why:
                add(
                    (*base, "build", "context"),
                    f"{why} to the build; list it under allow_host_paths to allow it",
                )
            elif not ctx.is_dir():
                add((*base, "build", "context"), "the build context is not a folder")
            elif not (ctx / svc.build.dockerfile).is_file():
                add((*base, "build", "dockerfile"), "this Dockerfile is not in the build context")
            # a build arg without a value takes the shell's; unset, compose leaves it out
            svc.build.args = {
                k: (v if v is not None else env.get(k))
                for k, v in svc.build.args.items()
                if v is not None or k in env
            }
        # an optional dependency that is not in the project is left out, as compose does
        svc.depends_on = {d: v for d, v in svc.depends_on.items() if d in names or v.required}
        for dep in svc.depends_on:
            if dep not in names:
                add(
                    (*base, "depends_on", dep),
                    f"'{excerpt(dep)}' is not a service{_near(dep, names)}",
                    key=True,
                )
            elif dep == sname:
                add((*base, "depends_on", dep), "a service cannot depend on itself", key=True)

        # env_file values sit under environment; environment wins, as in compose
        file_env: dict[str, str] = {}
        for i, ef in enumerate(svc.env_file):
            p = Path(os.path.expanduser(ef.path))
            p = (p if p.is_absolute() else root / p).resolve()
            env_sources.append(p)
            if not p.is_file():
                if ef.required:
                    add((*base, "env_file", i), "env file not found")
                continue
            values, bad = parse_env_file(p, env)
            for ln, msg in bad:
                problems.append(Problem(os.path.relpath(p), ln, 1, "", msg))
            file_env.update(values)
        merged = dict(file_env)
        for k, v in svc.environment.items():
            if v is None:
                if k in env:
                    merged[k] = env[k]
            else:
                merged[k] = v
        svc.environment = merged

        for i, port in enumerate(svc.ports):
            if port.published is None:
                continue
            key = (port.protocol, port.published)
            other = published.get(key)
            if other:
                add(
                    (*base, "ports", i),
                    f"this host port is already published by {other}",
                )
            published[key] = f"services.{sname}.ports"

        for i, m in enumerate(svc.volumes):
            loc = (*base, "volumes", i)
            if m.type == "bind":
                if not m.source:
                    add(loc, "a bind mount needs a source")
                    continue
                p = Path(os.path.expanduser(m.source))
                p = (p if p.is_absolute() else root / p).absolute()
                p = Path(os.path.normpath(p))
                real = p.resolve()
                why = host_path_refusal(real) or host_path_refusal(p)
                if why:
                    risky(loc, f"{why}; list it under allow_host_paths to allow it")
                if not p.exists() and not compose and not why:
                    add(loc, "bind source does not exist; create it or fix the path")
                m.source = str(p)
            elif m.source and m.source not in project.volumes:
                add(
                    loc,
                    f"the named volume is not declared under top-level `volumes:`{_near(m.source, set(project.volumes))}",
                )

        _file_refs(project, svc, base, add)

        if svc.privileged and not project.allow_privileged:
            risky(
                (*base, "privileged"),
                "privileged containers can take over the host; set allow_privileged: true at the top level to allow it",
            )
        if svc.cap_add and not project.allow_cap_add:
            risky(
                (*base, "cap_add"),
                "added capabilities widen what the container can do to the host; set allow_cap_add: true to allow it",
            )
        if svc.devices and not project.allow_privileged:
            risky(
                (*base, "devices"),
                "devices give the container the host's hardware; set allow_privileged: true to allow it",
            )
        unconfined = [
            o for o in svc.security_opt if "unconfined" in o or o.replace("=", ":") == "label:disable"
        ]
        if unconfined and not project.allow_privileged:
            risky(
                (*base, "security_opt"),
                "an entry lifts the container's confinement; set allow_privileged: true to allow it",
            )
        if svc.network_mode == "host" and not project.allow_host_network:
            risky(
                (*base, "network_mode"),
                "host networking exposes every port of the container; set allow_host_network: true to allow it",
            )

        for r, rule in enumerate(svc.watch):
            rloc = (*base, "watch", r)
            if rule.signal and rule.action != "signal":
                add((*rloc, "signal"), f"`signal` only applies to action signal, not {rule.action}")
            if rule.action == "signal" and not rule.signal:
                rule.signal = "SIGHUP"
            if rule.action == "rebuild" and not svc.build:
                # as compose refuses it: without `build:` a rebuild would silently do nothing
                add(
                    (*rloc, "action"),
                    "action rebuild needs `build:` on the service (an image is not rebuilt); add `build:` or use restart",
                )
            if rule.action in EXEC_ACTIONS and not rule.exec:
                add(rloc, f"action {rule.action} needs `exec` (the command to run)")
            if rule.exec and rule.action not in EXEC_ACTIONS:
                add((*rloc, "exec"), f"`exec` only applies to actions exec and sync+exec, not {rule.action}")
            if rule.action in SYNC_ACTIONS:
                if not rule.target:
                    add(rloc, f"action {rule.action} needs `target` (the container path to sync into)")
                elif not rule.target.startswith("/") or ".." in Path(rule.target).parts:
                    add(
                        (*rloc, "target"),
                        "the target must be an absolute container path without '..'",
                    )
            elif rule.target:
                add((*rloc, "target"), f"`target` only applies to sync actions, not {rule.action}")
            resolved = []
            for j, pat in enumerate(rule.path):
                ploc = (
                    (*rloc, "path", j)
                    if len(rule.path) > 1 or (*rloc, "path", j) in marks.values
                    else (*rloc, "path")
                )
                p = Path(os.path.expanduser(pat))
                full = os.path.normpath(p if p.is_absolute() else root / p)
                if not _is_within(Path(full), root) and not any(_is_within(Path(full), a) for a in allowed):
                    add(ploc, f"the watch path is outside the project folder {root}")
                    continue
                if glob.has_magic(full):
                    if not glob.glob(full, recursive=True) and not os.path.isdir(split_glob(full)[0]):
                        add(ploc, "the watch path matches nothing")
                elif not os.path.exists(full) and not compose:
                    add(ploc, "the watch path does not exist; create it or fix the path")
                resolved.append(full)
            rule.path = resolved

    cycle = _find_cycle({s: list(v.depends_on) for s, v in project.services.items()})
    if cycle:
        add(("services", cycle[0], "depends_on"), "dependency cycle: " + " -> ".join(map(excerpt, cycle)))

    if problems:
        problems.sort(key=lambda p: (p.file, p.line or 0, p.col or 0))
        raise ConfigError(problems)
    return env_sources


def _file_refs(project: Project, svc, base: tuple, add) -> None:
    """Secrets and configs: declared at the top level, mounted where compose
    mounts them (/run/secrets/NAME, /NAME; a relative secret target under /run/secrets)."""
    for kind, folder in (("secrets", "/run/secrets/"), ("configs", "/")):
        declared = getattr(project, kind)
        for i, ref in enumerate(getattr(svc, kind)):
            if ref.source not in declared:
                near = _near(ref.source, set(declared))
                add((*base, kind, i), f"not declared under top-level `{kind}:`{near}")
            target = ref.target or ref.source
            ref.target = target if target.startswith("/") else folder + target


def _near(word: str, options: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if m not in graph:
                continue
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None
