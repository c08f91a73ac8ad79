"""What changes when the engine does not see this machine's files (issue 13).

Decided by a check (engine/select.py: sees_host_files, cached), or forced with
`mounts: bind | sync | auto` (devrun.yaml, or `x-devrun: {mounts: ...}`).

Where the engine does not see them, the config is adapted before anything is
planned: each bind mount of a project path leaves the service's volumes and
becomes a sync rule to the same target. Nothing else is new: the container is
brought level by the reconcile that runs before every start (the initial copy,
through the archive API), then kept level by live sync, with deletes, modes and
symlinks as sync handles them. Secrets and configs from files are written in
like `content:` ones. A bind of a path outside the project cannot be synced:
one error names each such mount, before anything is created."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from devrun.config.model import WatchRule
from devrun.errors import EngineError

if TYPE_CHECKING:
    from devrun.config.loader import LoadedConfig


def mounts_mode(cfg: LoadedConfig, engine) -> Literal["bind", "sync"]:
    """`bind` when the engine sees the project's files (or `mounts: bind`)."""
    mode = cfg.project.mounts
    if mode != "auto":
        return mode
    sees = getattr(engine, "sees_host_files", None)  # engines without the check: local
    return "bind" if sees is None or sees(cfg.root) else "sync"


def _within(path: str, root: Path) -> bool:
    rel = os.path.relpath(os.path.normpath(path), os.path.normpath(root))
    return rel != ".." and not rel.startswith("../")


def adapt(cfg: LoadedConfig, engine, printer=None) -> LoadedConfig:
    """The config as this engine can run it: unchanged when binds work, else
    with project binds as sync rules (appended: the indices of the config's own
    rules stay) and file-backed secrets and configs as contents."""
    if getattr(cfg, "mounts_synced", None) is not None or mounts_mode(cfg, engine) == "bind":
        return cfg
    project = cfg.project.model_copy(deep=True)
    outside: list[str] = []
    synced = 0
    for name, svc in project.services.items():
        kept = []
        synced_here = 0
        for m in svc.volumes:
            if m.type != "bind" or not m.source:
                kept.append(m)
            elif not _within(m.source, cfg.root):
                outside.append(f"service {name}: the bind mount {m.source}:{m.target}")
            else:
                svc.watch.append(WatchRule(path=[m.source], action="sync", target=m.target))
                synced += 1
                synced_here += 1
        svc.volumes = kept
        # a sync rule inside a bind's target: the bind showed those files from the start, so must it
        targets = [r.target for r in svc.watch[len(svc.watch) - synced_here :]] if synced_here else []
        for r in svc.watch:
            if r.action.startswith("sync") and r.target and any(_within(r.target, Path(t)) for t in targets):
                r.initial_sync = True
    if outside:
        raise EngineError(
            "\n".join(
                f"{line} is outside the project ({cfg.root}) and the engine at {engine.where} cannot see it; "
                "copy what it needs into the project, or use a named volume"
                for line in outside
            )
        )
    for kind in ("secrets", "configs"):
        for key, src in getattr(project, kind).items():
            if src.file and not src.external:
                try:
                    src.content = Path(src.file).read_text()
                except (OSError, UnicodeDecodeError) as e:
                    raise EngineError(
                        f"{kind}.{key}: cannot read {src.file} to copy it to the engine: {e}"
                    ) from None
                src.file = None
    out = replace(cfg, project=project)
    out.mounts_synced = synced  # type: ignore[attr-defined]  # adapted once
    if printer is not None and synced:
        printer.info(
            f"the engine at {engine.where} does not see this machine's files: "
            f"{synced} bind mount(s) are copied in and kept in sync instead"
        )
    return out


def is_remote(cfg: LoadedConfig, engine) -> bool:
    """The engine does not see this machine's files: its ports are elsewhere too."""
    sees = getattr(engine, "sees_host_files", None)
    return sees is not None and not sees(cfg.root)


def forward_ports(cfg: LoadedConfig, engine, printer, services: list[str]):
    """Serve a remote engine's published ports on 127.0.0.1 (session/ports.py);
    None for an engine that sees this machine (its ports are here already)."""
    if not is_remote(cfg, engine):
        return None
    from devrun.session.ports import PortForwards

    forwards = PortForwards(engine, cfg.name, printer)
    forwards.start(cfg, services)
    return forwards


def level_hook(cfg: LoadedConfig, engine, printer, expect_stop=None, may_start: bool = True):
    """A `before_start(service, cid)` for commands that start containers
    without live reload (`up -d --no-watch`, `up --no-watch`, `run`, `start`,
    `restart`): the same reconcile the attached `up` runs, so the app finds the
    project's folders copied in. None where the engine sees this machine's
    files (its bind mounts show them)."""
    cfg = adapt(cfg, engine)
    if getattr(cfg, "mounts_synced", None) is None:
        return None
    from devrun.session.reconcile import reconcile

    def before_start(service: str, cid: str) -> None:
        svc = cfg.project.services.get(service)
        if svc is not None and any(r.action.startswith("sync") and r.initial_sync for r in svc.watch):
            reconcile(cfg, engine, printer, service, cid, expect_stop, may_start, starting=True)

    return before_start


def level_unless_up_runs(cfg: LoadedConfig, engine, printer):
    """level_hook, for `start` and `restart`; None while an `up` of the project
    runs: it keeps the containers' files itself."""
    from devrun.session.project_lock import ProjectLock

    return None if ProjectLock.holder(cfg.name) else level_hook(cfg, engine, printer)


def copy_into_oneoff(cfg: LoadedConfig, engine, printer, service: str, cid: str) -> None:
    """The project's folders into a created one-off. It is never started for
    this (its command must run once, attached): deletes it would need wait, and
    what the image has there beyond this machine's files stays."""
    from devrun.session.reconcile import DeletesWait

    level = level_hook(cfg, engine, printer, may_start=False)
    if level is None:
        return
    try:
        level(service, cid)
    except DeletesWait:
        printer.warn(
            f"{service}: the image has files in the copied folders that this machine does not; "
            "they stay in the one-off container (a bind mount would hide them)"
        )
