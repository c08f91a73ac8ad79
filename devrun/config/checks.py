"""Rules that span fields, and resolution of paths against the project folder.

`resolve()` returns a new model: paths made absolute, env_file values merged
into `environment`, defaults that depend on other fields filled in. Each
concern is one small method of `_Checks`; all problems are collected (not
just the first), so one run shows them all."""

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


def absolute(path: str, root: Path) -> Path:
    """The one path rule: `~` expanded, relative to the project folder,
    normalised (symlinks kept: callers that need the real path resolve it)."""
    p = Path(os.path.expanduser(path))
    return Path(os.path.normpath(p if p.is_absolute() else root / p))


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def resolve(
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
) -> tuple[Project, list[Path]]:
    """Check the rules that span fields and return the resolved model (a new
    one; `project` is left as it was) and the env files read (for hot reload).
    `compose`: the project came from compose files, so compose's meaning holds
    where devrun.yaml is stricter: a missing bind source or watch path is
    created or waited for, and host paths and privileges are the team's written
    decision, so they become `notes` (warnings, also in `risks`) instead of
    problems; `strict` (--strict, x-devrun: {strict: true}) refuses them."""
    c = _Checks(project.model_copy(deep=True), marks, shown, root, env, compose, strict)
    c.run()
    if notes is not None:
        notes += c.notes
    if risks is not None:
        risks += c.risks
    if c.problems:
        c.problems.sort(key=lambda p: (p.file, p.line or 0, p.col or 0))
        raise ConfigError(c.problems)
    return c.project, c.env_sources


class _Checks:
    def __init__(self, project: Project, marks, shown: str, root: Path, env, compose: bool, strict: bool):
        self.project, self.marks, self.shown, self.env = project, marks, shown, env
        self.compose, self.strict = compose, strict
        self.root = root.resolve()
        self.home = Path.home().resolve()
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.risks: list[str] = []
        self.env_sources: list[Path] = []
        allowed = [absolute(p, self.root) for p in project.allow_host_paths]
        # both spellings: /var/run/docker.sock is /run/docker.sock once symlinks resolve
        self.allowed = [*set(allowed), *{p.resolve() for p in allowed}]
        self.names = set(project.services)
        self.published: dict[tuple[str, int], str] = {}

    # ---- reporting ----------------------------------------------------------------

    def add(self, loc: tuple, msg: str, key: bool = False) -> None:
        line, col = self.marks.find(loc, prefer_key=key)
        self.problems.append(Problem(self.marks.file_at(loc, self.shown), line, col, fmt_loc(loc), msg))

    def risky(self, loc: tuple, msg: str) -> None:
        """A host path or a privilege: an error in devrun.yaml (without its
        opt-in), a warning from a compose file, an error again with --strict."""
        if not self.compose:
            self.add(loc, msg)
            return
        if self.strict:
            self.add(loc, f"{msg.split('; ')[0]}; refused by --strict (or x-devrun: {{strict: true}})")
            return
        line, _ = self.marks.find(loc)
        where = self.marks.file_at(loc, self.shown) + (f":{line}" if line else "")
        note = f"{where}: {fmt_loc(loc)}: {msg.split('; ')[0]} (as the compose file says)"
        self.notes.append(note)
        self.risks.append(note)

    def host_path_refusal(self, p: Path) -> str | None:
        """Why a host path may not be used without an opt-in, or None."""
        if any(p == a or _is_within(p, a) for a in self.allowed):
            return None
        if str(p) in DOCKER_SOCKETS or p.name == "docker.sock":
            return "mounting the Docker socket gives the container control of the host"
        if p == Path("/"):
            return "mounting / exposes the whole host"
        if p == self.home:
            return "mounting your home folder exposes your keys and credentials"
        if not _is_within(p, self.root):
            return f"the path is outside the project folder {self.root}"
        return None

    # ---- the pass -----------------------------------------------------------------

    def run(self) -> None:
        self.file_sources()
        self.volume_names()
        for sname, svc in self.project.services.items():
            base = ("services", sname)
            self.service_basics(base, sname, svc)
            self.build(base, svc)
            self.depends_on(base, sname, svc)
            self.environment(base, svc)
            self.ports(base, sname, svc)
            self.mounts(base, svc)
            _file_refs(self.project, svc, base, self.add)
            self.privileges(base, svc)
            for r, rule in enumerate(svc.watch):
                self.watch_rule((*base, "watch", r), svc, rule)
        cycle = _find_cycle({s: list(v.depends_on) for s, v in self.project.services.items()})
        if cycle:
            self.add(
                ("services", cycle[0], "depends_on"), "dependency cycle: " + " -> ".join(map(excerpt, cycle))
            )

    def file_sources(self) -> None:
        """Top-level secrets and configs: a file (made absolute), a variable, content or external."""
        for kind in ("secrets", "configs"):
            for fname, spec in getattr(self.project, kind).items():
                if spec.file:
                    spec.file = str(absolute(spec.file, self.root).resolve())
                elif spec.environment:
                    spec._env_value = self.env.get(
                        spec.environment
                    )  # written into the container, never shown
                elif not (spec.environment or spec.content is not None or spec.external):
                    self.add(
                        (kind, fname), "give `file`, `environment`, `content` or `external: true`", key=True
                    )

    def volume_names(self) -> None:
        for vname in self.project.volumes:
            if not NAME_RE.match(vname):
                self.add(
                    ("volumes", vname),
                    f"volume name '{excerpt(vname)}' may use letters, digits, '_', '.', '-'",
                    key=True,
                )

    def service_basics(self, base: tuple, sname: str, svc) -> None:
        if not NAME_RE.match(sname):
            self.add(
                base,
                f"service name '{excerpt(sname)}' may use letters, digits, '_', '.', '-' and must start with a letter or digit",
                key=True,
            )
        if not svc.image and not svc.build:
            self.add(base, "needs `image` or `build`", key=True)

    def build(self, base: tuple, svc) -> None:
        if not svc.build:
            return
        ctx = absolute(svc.build.context, self.root).resolve()
        svc.build.context = str(ctx)
        # the engine would be sent the whole tree: refuse / and home like mounts
        why = self.host_path_refusal(ctx) if ctx in (Path("/"), self.home) else None
        if why:
            self.add(
                (*base, "build", "context"),
                f"{why} to the build; list it under allow_host_paths to allow it",
            )
        elif not ctx.is_dir():
            self.add((*base, "build", "context"), "the build context is not a folder")
        elif svc.build.dockerfile_inline is None and not (ctx / svc.build.dockerfile).is_file():
            self.add((*base, "build", "dockerfile"), "this Dockerfile is not in the build context")
        # a build arg without a value takes the shell's; unset, compose leaves it out
        svc.build.args = {
            k: (v if v is not None else self.env.get(k))
            for k, v in svc.build.args.items()
            if v is not None or k in self.env
        }

    def depends_on(self, base: tuple, sname: str, svc) -> None:
        # an optional dependency that is not in the project is left out, as compose does
        svc.depends_on = {d: v for d, v in svc.depends_on.items() if d in self.names or v.required}
        for dep in svc.depends_on:
            if dep not in self.names:
                self.add(
                    (*base, "depends_on", dep),
                    f"'{excerpt(dep)}' is not a service{_near(dep, self.names)}",
                    key=True,
                )
            elif dep == sname:
                self.add((*base, "depends_on", dep), "a service cannot depend on itself", key=True)

    def environment(self, base: tuple, svc) -> None:
        """env_file values sit under environment; environment wins, as in compose."""
        file_env: dict[str, str] = {}
        for i, ef in enumerate(svc.env_file):
            p = absolute(ef.path, self.root).resolve()
            self.env_sources.append(p)
            if not p.is_file():
                if ef.required:
                    self.add((*base, "env_file", i), "env file not found")
                continue
            values, bad = parse_env_file(p, self.env)
            for ln, msg in bad:
                self.problems.append(Problem(os.path.relpath(p), ln, 1, "", msg))
            file_env.update(values)
        merged = dict(file_env)
        for k, v in svc.environment.items():
            if v is None:
                if k in self.env:
                    merged[k] = self.env[k]
            else:
                merged[k] = v
        svc.environment = merged

    def ports(self, base: tuple, sname: str, svc) -> None:
        for i, port in enumerate(svc.ports):
            if port.published is None:
                continue
            key = (port.protocol, port.published)
            other = self.published.get(key)
            if other:
                self.add((*base, "ports", i), f"this host port is already published by {other}")
            self.published[key] = f"services.{sname}.ports"

    def mounts(self, base: tuple, svc) -> None:
        for i, m in enumerate(svc.volumes):
            loc = (*base, "volumes", i)
            if m.type == "bind":
                if not m.source:
                    self.add(loc, "a bind mount needs a source")
                    continue
                p = absolute(m.source, self.root)
                why = self.host_path_refusal(p.resolve()) or self.host_path_refusal(p)
                if why:
                    self.risky(loc, f"{why}; list it under allow_host_paths to allow it")
                if not p.exists() and not self.compose and not why:
                    self.add(loc, "bind source does not exist; create it or fix the path")
                m.source = str(p)
            elif m.source and m.source not in self.project.volumes:
                self.add(
                    loc,
                    f"the named volume is not declared under top-level `volumes:`{_near(m.source, set(self.project.volumes))}",
                )

    def privileges(self, base: tuple, svc) -> None:
        p = self.project
        if svc.privileged and not p.allow_privileged:
            self.risky(
                (*base, "privileged"),
                "privileged containers can take over the host; set allow_privileged: true at the top level to allow it",
            )
        if svc.cap_add and not p.allow_cap_add:
            self.risky(
                (*base, "cap_add"),
                "added capabilities widen what the container can do to the host; set allow_cap_add: true to allow it",
            )
        if svc.devices and not p.allow_privileged:
            self.risky(
                (*base, "devices"),
                "devices give the container the host's hardware; set allow_privileged: true to allow it",
            )
        unconfined = [
            o for o in svc.security_opt if "unconfined" in o or o.replace("=", ":") == "label:disable"
        ]
        if unconfined and not p.allow_privileged:
            self.risky(
                (*base, "security_opt"),
                "an entry lifts the container's confinement; set allow_privileged: true to allow it",
            )
        if svc.network_mode == "host" and not p.allow_host_network:
            self.risky(
                (*base, "network_mode"),
                "host networking exposes every port of the container; set allow_host_network: true to allow it",
            )

    def watch_rule(self, rloc: tuple, svc, rule) -> None:
        add = self.add
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
                add((*rloc, "target"), "the target must be an absolute container path without '..'")
        elif rule.target:
            add((*rloc, "target"), f"`target` only applies to sync actions, not {rule.action}")
        resolved = []
        for j, pat in enumerate(rule.path):
            ploc = (
                (*rloc, "path", j)
                if len(rule.path) > 1 or (*rloc, "path", j) in self.marks.values
                else (*rloc, "path")
            )
            full = absolute(pat, self.root)
            if not _is_within(full, self.root) and not any(_is_within(full, a) for a in self.allowed):
                add(ploc, f"the watch path is outside the project folder {self.root}")
                continue
            if glob.has_magic(str(full)):
                if not glob.glob(str(full), recursive=True) and not os.path.isdir(split_glob(str(full))[0]):
                    add(ploc, "the watch path matches nothing")
            elif not full.exists() and not self.compose:
                add(ploc, "the watch path does not exist; create it or fix the path")
            resolved.append(str(full))
        rule.path = resolved


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
