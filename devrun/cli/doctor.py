"""`devrun doctor`: is this machine (and this project) ready for `devrun up`?

Each check yields one Check: a level (ok, warn, fail, skip), one line saying
what was found and, when it is not ok, one line saying what to do. Only
`fail` makes the doctor exit non-zero; a warning is something that works but
may surprise (slow mounts, ports open to the network). The decisions are pure
functions over plain values; reading /proc, sockets and the engine happens in
the few `gather`-style functions at the edge."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from devrun.config import loader
from devrun.engine.docker import Engine
from devrun.engine.select import START_HINT
from devrun.errors import ConfigError, EngineError, Problem
from devrun.session.lifecycle import ALL_INTERFACES, image_tag, port_taken
from devrun.watch.ignore import GitignoreCache
from devrun.watch.poll import walk_kept
from devrun.watch.rules import Router
from devrun.watch.watcher import LIMIT_HINT

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
INOTIFY_DIR = "/proc/sys/fs/inotify"
INSTANCES_HINT = "sudo sysctl fs.inotify.max_user_instances=1024"


@dataclass(frozen=True)
class Check:
    check: str  # engine, platform, inotify, config, port, bind, image
    level: str  # ok | warn | fail | skip
    message: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.level != FAIL

    def as_json(self) -> dict:
        return {"v": 1, **asdict(self), "ok": self.ok}


# ---- machine checks -------------------------------------------------------------


def engine_check() -> tuple[Check, Engine | None]:
    try:
        engine = Engine.connect(timeout=10)
        version, api = engine.versions()
    except EngineError as e:
        # one line: the reason here, the remedy in `fix`
        reason = str(e).splitlines()[0].removesuffix(f"; {START_HINT}")
        return Check("engine", FAIL, reason, START_HINT), None
    return Check("engine", OK, f"Docker {version} (API {api}) at {reached(engine)}"), engine


def reached(engine: Engine) -> str:
    """Where and how: `ssh://dev@box (context box, ssh), round trip 42 ms` (the
    best of three pings over the connection already open)."""
    import time

    where = engine.target.describe() if engine.target else engine.where
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        try:
            engine.client.ping()
        except Exception:  # noqa: BLE001 - the versions call just worked; a ping is only for the figure
            return where
        best = min(best, time.perf_counter() - t0)
    source = engine.target.source if engine.target else "default"
    return f"{where}, chosen by {source}, round trip {best * 1000:.0f} ms"


def platform_check(system: str, proc_version: str, root: str | None) -> Check:
    """Bind mount and file event caveats of the platform devrun runs on (pure)."""
    if system == "darwin" or system.startswith("win"):
        name = "macOS" if system == "darwin" else "Windows"
        return Check(
            "platform",
            WARN,
            f"{name}: bind mounts cross Docker Desktop's VM (slower file I/O) and there is no inotify, devrun polls every 0.4 s",
            "prefer `sync` rules over bind mounts for big trees; keep watched folders small",
        )
    if "microsoft" in proc_version.lower():
        if root is not None and (root == "/mnt" or root.startswith("/mnt/")):
            return Check(
                "platform",
                WARN,
                f"WSL: the project is on a Windows drive ({root}): no file events reach Linux and bind mounts are slow",
                "move the project into the Linux file system (e.g. ~/src), or set `poll: true` in devrun.yaml",
            )
        return Check("platform", OK, "WSL: project on the Linux file system, native file events")
    if system.startswith("linux"):
        return Check("platform", OK, "Linux: native bind mounts and inotify")
    return Check("platform", WARN, f"{system}: untested platform; devrun polls for changes", None)


def inotify_check(
    needed: int | None, limits: tuple[int, int] | None, used: tuple[int, int], poll: bool
) -> Check:
    """Watches the config needs against what the user has left (pure).
    needed: directories devrun will watch (None without a config); limits:
    (max_user_watches, max_user_instances) or None without inotify; used:
    (watches, instances) already held by this user's processes."""
    if limits is None:
        return Check(
            "inotify",
            OK if poll or needed is None else WARN,
            "no inotify on this system: devrun polls for changes",
        )
    max_watches, max_instances = limits
    used_watches, used_instances = used
    free = max(max_watches - used_watches, 0)
    if used_instances >= max_instances:
        return Check(
            "inotify",
            FAIL,
            f"all {max_instances} inotify instances of this user are in use; devrun needs one",
            INSTANCES_HINT,
        )
    if poll:
        return Check("inotify", OK, "`poll: true` in devrun.yaml: devrun polls, no inotify watches needed")
    limits_text = f"{free:,} of {max_watches:,} watches and {max_instances - used_instances} of {max_instances} instances free"
    if needed is None:
        return Check("inotify", OK, limits_text)
    text = f"{needed:,} director{'y' if needed == 1 else 'ies'} to watch; {limits_text}"
    if needed > free:
        return Check(
            "inotify",
            FAIL,
            f"{text}: devrun would fall back to polling",
            f"{LIMIT_HINT} (or ignore big folders in the watch rules)",
        )
    return Check("inotify", OK, text)


def read_inotify_limits(folder: str = INOTIFY_DIR) -> tuple[int, int] | None:
    try:
        return (
            int(Path(folder, "max_user_watches").read_text()),
            int(Path(folder, "max_user_instances").read_text()),
        )
    except (OSError, ValueError):
        return None


def inotify_in_use(uid: int | None = None) -> tuple[int, int]:
    """(watches, instances) held by this user's processes, from /proc (what is readable)."""
    uid = os.getuid() if uid is None else uid
    watches = instances = 0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0, 0
    for pid in pids:
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    watches += sum(1 for line in f if line.startswith("inotify wd:"))
                instances += 1
            except OSError:
                continue
    return watches, instances


def planned_watch_dirs(cfg: loader.LoadedConfig) -> int:
    """Directories the watcher will place a watch on: every kept directory
    under the rules' paths (ignored ones pruned as the watcher does), plus the
    nearest existing folder of file and missing paths."""
    from devrun.session.live import watch_specs  # the same specs `devrun up` watches

    router = Router(watch_specs(cfg), GitignoreCache(), str(cfg.root))
    dirs: set[str] = set()
    for root in router.roots:
        if not root.files_only and os.path.isdir(root.base) and not os.path.islink(root.base):
            dirs.update(
                folder for folder, _entries in walk_kept(root.base, router.keep_dir, lambda _msg: None)
            )
            continue
        anchor = os.path.dirname(root.base) if root.files_only else root.base
        while not os.path.isdir(anchor) and os.path.dirname(anchor) != anchor:
            anchor = os.path.dirname(anchor)
        dirs.add(anchor)
    return len(dirs)


# ---- project checks -------------------------------------------------------------


def config_checks(problems: list[Problem]) -> list[Check]:
    """Loader problems, filed under the check they belong to (a missing bind
    source or Dockerfile already stops the config from loading)."""
    out = []
    for p in problems:
        parts = re.split(r"[.\[]", p.path)  # services.web.volumes[0] -> services, web, volumes, 0]
        kind = "config"
        if parts[0] == "services" and len(parts) > 2:
            kind = {"volumes": "bind", "build": "image", "ports": "port"}.get(parts[2], "config")
        out.append(Check(kind, FAIL, str(p), "edit the file at that line; `devrun config` checks it again"))
    return out


def port_checks(cfg: loader.LoadedConfig, ours: set[tuple[int, str]]) -> Iterator[Check]:
    for name, svc in cfg.project.services.items():
        for p in svc.ports:
            if p.published is None or p.protocol == "sctp" or svc.network_mode in ("host", "none"):
                continue
            where = f"{p.host_ip or '0.0.0.0'}:{p.published}/{p.protocol}"
            if (p.published, p.protocol) in ours:
                yield Check("port", OK, f"{name}: {where} held by this project's running container")
            elif port_taken(p.host_ip, p.published, p.protocol):
                yield Check(
                    "port",
                    FAIL,
                    f"{name}: host port {where} is already in use",
                    f"stop what listens on {p.published}, or change `ports:` of {name} in devrun.yaml",
                )
            elif p.host_ip in ALL_INTERFACES:
                yield Check(
                    "port",
                    WARN,
                    f"{name}: {where} is free but published on all interfaces (reachable from the network)",
                    f'write "127.0.0.1:{p.published}:{p.target}" unless other machines must reach it',
                )
            else:
                yield Check("port", OK, f"{name}: {where} free")


def bind_checks(cfg: loader.LoadedConfig) -> Iterator[Check]:
    for name, svc in cfg.project.services.items():
        for m in svc.volumes:
            if m.type != "bind" or not m.source:
                continue
            shown = _shown(m.source, cfg.root)
            if os.path.exists(m.source):
                yield Check("bind", OK, f"{name}: {shown} -> {m.target} present")
            else:
                yield Check(
                    "bind",
                    FAIL,
                    f"{name}: bind source {shown} is missing",
                    f"create it (mkdir -p {shown}) or fix `volumes:`",
                )


def image_checks(cfg: loader.LoadedConfig, engine: Engine | None) -> Iterator[Check]:
    for name, svc in cfg.project.services.items():
        tag = image_tag(cfg, name)
        if svc.build:
            context = svc.build.context
            dockerfile = Path(context, svc.build.dockerfile)
            if not dockerfile.is_file():
                yield Check(
                    "image",
                    FAIL,
                    f"{name}: no {svc.build.dockerfile} in {_shown(context, cfg.root)}",
                    "add it or fix `build:`",
                )
                continue
            built = engine is not None and engine.has_image(tag)
            state = "built" if built else "buildable, built at first `devrun up`"
            yield Check("image", OK, f"{name}: {tag} {state} (from {_shown(str(dockerfile), cfg.root)})")
        elif engine is None:
            yield Check("image", SKIP, f"{name}: {tag} not checked (no engine)")
        elif engine.has_image(tag):
            yield Check("image", OK, f"{name}: {tag} present")
        else:
            yield Check(
                "image",
                FAIL,
                f"{name}: image {tag} is not present and has no `build:`",
                f"`docker pull {tag}` (devrun up pulls it when the registry is reachable), or add `build:`",
            )


def _shown(path: str, root: Path) -> str:
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else ("./" + rel if rel != "." else ".")


# ---- the whole run ------------------------------------------------------------


def run(file: str | None = None, project: str | None = None, *, strict: bool = False) -> list[Check]:
    """Every check, machine first, then the project's when a devrun.yaml is found."""
    cfg: loader.LoadedConfig | None = None
    project_checks: list[Check] = []
    try:
        if file is not None:
            loader.find_config(None, file)
        elif not loader.config_exists():
            raise ConfigError([])
    except ConfigError:
        if file is not None:
            raise  # -f names a file that is not there: a usage mistake, not a finding
        project_checks.append(
            Check(
                "config",
                SKIP,
                "no devrun.yaml or compose file here or in a parent folder: only machine checks ran",
                "`devrun init` writes one; or run doctor in the project folder or with -f FILE",
            )
        )
    else:
        try:
            from devrun.config.compose_files import Options

            cfg = loader.load(file, project_name=project, options=Options(strict=strict))
        except ConfigError as e:
            project_checks.extend(config_checks(e.problems))
            project_checks.append(Check("config", SKIP, "project checks skipped until devrun.yaml loads"))

    engine_result, engine = engine_check()
    checks = [
        engine_result,
        platform_check(sys.platform, _read("/proc/version"), str(cfg.root) if cfg else os.getcwd()),
    ]
    needed = planned_watch_dirs(cfg) if cfg else None
    limits = read_inotify_limits()
    used = inotify_in_use() if limits else (0, 0)
    checks.append(inotify_check(needed, limits, used, poll=bool(cfg and cfg.project.poll)))
    if cfg is None:
        return checks + project_checks

    shown = os.path.relpath(cfg.file) if not os.path.relpath(cfg.file).startswith("..") else str(cfg.file)
    checks.append(Check("config", OK, f"{shown}: project {cfg.name}, {len(cfg.project.services)} service(s)"))
    # what a compose file asks for that devrun.yaml would refuse: the team's decision, said once
    checks.extend(
        Check("config", WARN, risk, "--strict (or x-devrun: {strict: true}) refuses it")
        for risk in dict.fromkeys(cfg.risks)
    )
    try:
        ours = engine.published_ports(cfg.name) if engine else set()
        checks.extend(port_checks(cfg, ours))
        checks.extend(bind_checks(cfg))
        checks.extend(image_checks(cfg, engine))
    except EngineError as e:
        checks.append(Check("engine", FAIL, str(e).splitlines()[0], START_HINT))
    return checks


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def human_line(c: Check) -> str:
    label = {OK: "ok", WARN: "warn", FAIL: "FAIL", SKIP: "skip"}[c.level]
    return f"{label:<5} {c.check:<9} {c.message}" + (f"; fix: {c.fix}" if c.fix and c.level != OK else "")


def summary(checks: list[Check]) -> str:
    count = {lvl: sum(1 for c in checks if c.level == lvl) for lvl in (OK, WARN, FAIL, SKIP)}
    config_ok = any(c.check == "config" and c.level == OK for c in checks)
    if count[FAIL]:
        verdict = "fix the FAIL lines above"
    elif not config_ok:
        # the machine may be fine, but there is nothing `devrun up` could start yet
        verdict = "this machine is ready; no loadable devrun.yaml yet (see the skip lines above)"
    else:
        verdict = "ready for `devrun up`"
    return f"doctor: {count[OK]} ok, {count[WARN]} warning(s), {count[FAIL]} failed, {count[SKIP]} skipped: {verdict}"
