"""Bringing a container level with the host: each sync rule's target folder
is made equal to the host's filtered tree (copies, deletes, modes, symlinks).

`diff_trees` is pure: two manifests in, copies and top-most deletes out. The
rest is the engine-facing side: read both trees, apply the difference to a
running or stopped container, and copy or delete the paths of a watch batch.

A stopped container is brought level before its app starts: copies go through
the archive API, which works on stopped containers. Deletes need a shell in
the container, so it is started with a hold marker that devrun's supervisor
waits on (process mode), or started, cleaned and restarted (container mode)."""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devrun.config import loader
from devrun.engine.streams import LISTING_FROM
from devrun.engine.tree import TreeEntry, digest_file, host_entry
from devrun.errors import EngineError
from devrun.session.sync import (
    SyncPlan,
    bind_echo,
    guarded_delete_commands,
    initial_plan,
    max_file_bytes,
    top_most,
    write_tar,
)
from devrun.watch.ignore import GitignoreCache
from devrun.watch.rules import Router, WatchSpec, split_glob

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine
    from devrun.output import Printer

# devrun's supervisor waits while this file exists before it first starts the
# app (see supervisor.sh): deletes land before the app can see the old files
HOLD_MARKER = "/.devrun-hold"

KeepPath = Callable[[str, bool], bool]  # (host path, is_dir) -> inside the rule's filter


@dataclass
class TreeDiff:
    copies: list[tuple[str, str]] = field(default_factory=list)  # (host path, container path)
    deletes: list[str] = field(default_factory=list)  # container paths, top-most only

    @property
    def empty(self) -> bool:
        return not self.copies and not self.deletes


def _differs(host: TreeEntry, there: TreeEntry | None, digest: Callable[[], str]) -> bool:
    if there is None or there.kind != host.kind or there.mode != host.mode:
        return True
    if host.kind == "link":
        return there.link != host.link
    if host.kind == "file":
        return there.size != host.size or there.digest != digest()
    return False


def _inside(path: str, tops: list[str]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in tops)


def diff_trees(
    target: str,
    host: dict[str, tuple[str, TreeEntry]],
    container: dict[str, TreeEntry],
    kept_if_gone: Callable[[str, bool], bool],
    digest: Callable[[str], str] = digest_file,
    excluded: list[str] | tuple[str, ...] = (),
) -> TreeDiff:
    """What makes `container` (container path -> entry) equal `host`
    (container path -> (host path, entry)) under `target`. A container path
    missing on the host goes only if the rule's filter would keep it
    (`kept_if_gone(container path, is_dir)`): ignored folders such as
    node_modules, built in the image, stay. A path whose type changed is
    deleted before its copy. Nothing at or under an `excluded` path is
    touched: a mount inside the target (a bind mount's files are the host's, a
    volume's are data) or another rule's target."""
    target = posixpath.normpath(target)
    out = TreeDiff()
    excluded = [posixpath.normpath(e) for e in excluded]
    for dest, (host_path, entry) in sorted(host.items()):
        if dest == target and entry.kind == "dir":
            continue  # the target folder itself: its mode is the image's business
        if _inside(dest, excluded):
            continue
        there = container.get(dest)
        if _differs(entry, there, lambda p=host_path: digest(p)):
            if there is not None and (there.kind == "dir") != (entry.kind == "dir"):
                out.deletes.append(dest)
            out.copies.append((host_path, dest))
    pruned: list[str] = []
    for path in sorted(container):
        if path == target or not path.startswith(target.rstrip("/") + "/") or _inside(path, excluded):
            continue
        if pruned and path.startswith(pruned[-1] + "/"):
            continue
        is_dir = container[path].kind == "dir"
        if path in host:
            continue
        if kept_if_gone(path, is_dir):
            out.deletes.append(path)
        if is_dir:
            pruned.append(path)  # deleted whole, or ignored whole
    out.deletes = top_most(out.deletes)
    return out


# ---- the engine side ---------------------------------------------------------------


CONFIG_KEY = None  # WatchSpec.service for devrun.yaml, .env and env files


def watch_specs(cfg: loader.LoadedConfig) -> list[WatchSpec]:
    specs: list[WatchSpec] = []
    for name, svc in cfg.project.services.items():
        for i, rule in enumerate(svc.watch):
            ignore_files: list[str] = []
            if rule.action == "rebuild" and svc.build:
                ignore_files.append(os.path.join(svc.build.context, ".dockerignore"))
            specs.append(WatchSpec(name, i, list(rule.path), list(rule.ignore), ignore_files, rule.debounce))
    specs.append(WatchSpec(CONFIG_KEY, 0, [str(p) for p in cfg.sources]))
    return specs


def sync_router(cfg: loader.LoadedConfig) -> Router:
    return Router([sp for sp in watch_specs(cfg) if sp.service is not None], GitignoreCache(), str(cfg.root))


def keep_for(router: Router, service: str, rule_index: int):
    """The rule's filter (defaults, .gitignore, rule ignores) as a path
    predicate; is_dir is read from disk unless given (a path gone from disk)."""
    roots = [r for r in router.roots if r.spec.service == service and r.spec.rule_index == rule_index]

    def keep(path: str, is_dir: bool | None = None) -> bool:
        if is_dir is None:
            is_dir = os.path.isdir(path) and not os.path.islink(path)
        return any(r.counts(path, is_dir) for r in roots)

    return keep


def host_paths(container_path: str, roots: list[str], target: str) -> list[str]:
    """The host paths that would land at `container_path`, one per rule root."""
    rel = posixpath.relpath(container_path, posixpath.normpath(target))
    return [os.path.normpath(os.path.join(split_glob(root)[0], rel)) for root in roots]


def tree_diff(
    engine, cid: str, roots: list[str], target: str, keep, excluded: list[str]
) -> tuple[TreeDiff, SyncPlan]:
    """The difference between the host's filtered tree and the container's."""
    sp = initial_plan(roots, target, keep)
    host: dict[str, tuple[str, TreeEntry]] = {}
    for host_path, dest in sp.copies:
        entry = host_entry(host_path)
        if entry is not None and entry.kind != "other":  # sockets and fifos are never synced
            host[dest] = (host_path, entry)

    def kept_if_gone(path: str, is_dir: bool) -> bool:
        candidates = host_paths(path, roots, target)
        # a host file that exists but is not synced (too big, refused) is never deleted there
        if any(os.path.lexists(h) for h in candidates):
            return False
        return any(keep(h, is_dir) for h in candidates)

    size = sum(entry.size for _path, entry in host.values())
    there = engine.tree(cid, target, expect_bytes=size)
    return diff_trees(target, host, there, kept_if_gone, excluded=excluded), sp


def warn_skipped(printer, service: str, sp: SyncPlan) -> None:
    if sp.refused:
        printer.warn(
            f"{service}: not syncing {len(sp.refused)} path(s) outside the rule's path, e.g. {sp.refused[0]}"
        )
    for path in sp.too_big:
        try:
            size = f"{os.path.getsize(path) / 2**20:.0f} MB, "
        except OSError:
            size = ""  # gone since planning
        printer.warn(
            f"{service}: not syncing {path} ({size}over the {max_file_bytes() // 2**20} MB sync limit); "
            "bind-mount big files, or raise DEVRUN_SYNC_MAX_FILE_MB"
        )


def copy_into(engine: Engine, cid: str, copies: list[tuple[str, str]]) -> None:
    if copies:
        with write_tar(SyncPlan(copies=copies)) as data:
            engine.put_archive(cid, "/", data)


def delete_in(
    engine: Engine, printer: Printer, service: str, cid: str, deletes: list[str], target: str
) -> None:
    """Delete container paths (top-most, in bounded batches) through the
    symlink-guarded script; the container must be running."""
    for argv in guarded_delete_commands(deletes, target):
        # as root: the folders were made by the engine's copies, whoever the app runs as
        code = engine.exec(cid, argv, lambda stream, line: printer.log(service, stream, line), user="0")
        if code != 0:
            raise EngineError(f"deleting {len(argv) - 5} path(s) in {target} failed (exit {code})")


def sync_into(engine: Engine, printer: Printer, service: str, cid: str, sp: SyncPlan, target: str) -> None:
    """A watch batch's copies and deletes."""
    warn_skipped(printer, service, sp)
    copy_into(engine, cid, sp.copies)
    if sp.deletes:
        delete_in(engine, printer, service, cid, sp.deletes, target)


def _hold_tar() -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(HOLD_MARKER.lstrip("/"))
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(b""))
    buf.seek(0)
    return buf


def _apply_diffs(
    engine: Engine, printer: Printer, service: str, cid: str, diffs: list[tuple[str, TreeDiff]]
) -> None:
    """Deletes first (a path whose type changed must go before its copy
    lands); a failed delete still lets the copies land, then is reported."""
    failure: EngineError | None = None
    for target, diff in diffs:
        if diff.deletes:
            try:
                delete_in(engine, printer, service, cid, diff.deletes, target)
            except EngineError as e:
                failure = failure or e
        copy_into(engine, cid, diff.copies)
    if failure is not None:
        raise failure


def _apply_with_start(
    engine,
    printer,
    service: str,
    cid: str,
    state,
    diffs: list[tuple[str, TreeDiff]],
    expect_stop: Callable[[str], None] | None,
) -> None:
    """Deletes in a stopped container need it running: start it held (process
    mode: the app waits for the marker to go), or copy, start, delete and
    restart it (container mode). Interrupted or failed, the container ends
    stopped again, never running a half-synced tree."""
    held = state.restart_mode == "process"
    if held:
        engine.put_archive(cid, "/", _hold_tar())
    else:
        for _target, diff in diffs:
            copy_into(engine, cid, diff.copies)
        # copied already: only a path whose type changed goes again, after its delete
        diffs = [
            (t, TreeDiff([c for c in d.copies if _inside(c[1], d.deletes)], d.deletes)) for t, d in diffs
        ]
    engine.start(cid)
    try:
        _apply_diffs(engine, printer, service, cid, diffs)
    except BaseException:
        if expect_stop is not None:
            expect_stop(cid)
        with contextlib.suppress(EngineError):
            engine.stop(cid, 2)
        raise
    finally:
        if held:
            with contextlib.suppress(EngineError):
                engine.exec(cid, ["rm", "-f", HOLD_MARKER], lambda s, line: None, user="0")
    if not held:
        if expect_stop is not None:
            expect_stop(cid)  # devrun's own restart, not a stop from outside
        engine.restart(cid, 10)


class DeletesWait(EngineError):
    """The copies landed; the deletes need the stopped container running."""


@dataclass
class Reconciled:
    """What a reconcile changed, per rule index: host paths (deleted ones included)."""

    changed: dict[int, set[str]] = field(default_factory=dict)
    copied: int = 0
    deleted: int = 0
    started: bool = False  # the container was stopped and had to be started for deletes


def reconcile(
    cfg: loader.LoadedConfig,
    engine,
    printer,
    service: str,
    cid: str,
    expect_stop: Callable[[str], None] | None = None,
    may_start: bool = True,
    starting: bool = False,
) -> Reconciled:
    """Make every sync target of the service equal the host's filtered tree,
    in a created, stopped, running or adopted container. Raises EngineError
    when a step fails (the caller keeps the service pending). `starting`: the
    caller starts the container next (a before_start hook), so a stopped one
    may be started here to be listed (_listing_pays)."""
    out = Reconciled()
    svc = cfg.project.services.get(service)
    if svc is None:
        return out
    diffs: list[tuple[str, TreeDiff]] = []
    t0 = time.perf_counter()
    state = engine.state(cid)
    rules = [
        (i, r)
        for i, r in enumerate(svc.watch)
        if r.action.startswith("sync")
        and r.initial_sync
        and r.target
        and not bind_echo(r.target, r.path, svc.volumes)
    ]
    held: bool | None = None  # started here to be listed: held (process mode) or not
    # a container that never ran holds only what its image put there: its archive is small
    ran_before = not state.running and state.status != "created"
    if starting and may_start and ran_before and rules and _listing_pays(cfg, engine, service, rules):
        held = state.restart_mode == "process"
        if held:
            engine.put_archive(cid, "/", _hold_tar())
        engine.start(cid)
        state = engine.state(cid)
        out.started = True
    try:
        _level(cfg, engine, printer, service, cid, state, rules, diffs, out, may_start, expect_stop)
    except BaseException:
        if held is not None:
            if expect_stop is not None:
                expect_stop(cid)
            with contextlib.suppress(EngineError):
                engine.stop(cid, 2)  # never left running a half-synced tree
        raise
    finally:
        if held:
            with contextlib.suppress(EngineError):
                engine.exec(cid, ["rm", "-f", HOLD_MARKER], lambda s, line: None, user="0")
    if held is False and diffs:
        if expect_stop is not None:
            expect_stop(cid)  # devrun's own restart: the app started on the old tree
        engine.restart(cid, 10)
    if diffs:
        printer.info(
            f"{service}: brought level with the host: {out.copied} path(s) copied, {out.deleted} deleted "
            f"in {int((time.perf_counter() - t0) * 1000)} ms"
        )
    # a path whose type changed was deleted only to be copied again: not a loss to warn about
    deleted = [p for _t, d in diffs for p in d.deletes if p not in {dest for _h, dest in d.copies}]
    if deleted:
        # the one place devrun removes files it did not write: say which, and how to keep them
        printer.warn(
            f"{service}: deleted {len(deleted)} path(s) that are not on the host, e.g. {', '.join(deleted[:3])}; "
            "to keep what the image puts there (node_modules, build output), add it to the rule's `ignore`"
        )
    return out


def _listing_pays(cfg: loader.LoadedConfig, engine, service: str, rules) -> bool:
    """Across a network link a big tree is listed in the container rather than
    downloaded, and listing needs it running: start a stopped one first (the
    app held, or restarted once it is level) rather than read it all back."""
    if not getattr(engine, "compress_archives", False):
        return False
    router = sync_router(cfg)
    size = 0
    for i, rule in rules:
        sp = initial_plan(rule.path, rule.target, keep_for(router, service, i))
        for host_path, _dest in sp.copies:
            entry = host_entry(host_path)
            size += entry.size if entry is not None else 0
            if size >= LISTING_FROM:
                return True
    return False


def _level(cfg, engine, printer, service, cid, state, rules, diffs, out, may_start, expect_stop) -> None:
    svc = cfg.project.services[service]
    router: Router | None = None
    targets = [posixpath.normpath(r.target) for r in svc.watch if r.action.startswith("sync") and r.target]
    for i, rule in rules:
        router = router or sync_router(cfg)
        target = posixpath.normpath(rule.target)
        excluded = [p for p in (*state.mounts, *targets) if p != target and _inside(p, [target])]
        diff, sp = tree_diff(engine, cid, rule.path, rule.target, keep_for(router, service, i), excluded)
        warn_skipped(printer, service, sp)
        if diff.deletes and not engine.image_has_shell(state.image_id):
            printer.warn(
                f"{service}: {len(diff.deletes)} path(s) in {rule.target} are gone from the host but stay in the "
                f"container (e.g. {diff.deletes[0]}): deleting needs /bin/sh in the image; `devrun up --force-recreate` "
                "starts from the image again"
            )
            diff.deletes = []
        if diff.empty:
            continue
        diffs.append((rule.target, diff))
        changed = out.changed.setdefault(i, set())
        changed.update(h for h, _ in diff.copies)
        for d in diff.deletes:
            changed.update(host_paths(d, rule.path, rule.target)[:1])
        out.copied += len(diff.copies)
        out.deleted += len(diff.deletes)
    if not diffs:
        return
    if not state.running and any(d.deletes for _, d in diffs):
        if not may_start:
            # copies land now; the deletes wait for the container's next start
            for _target, diff in diffs:
                copy_into(engine, cid, diff.copies)
            raise DeletesWait(f"{service} is stopped: its deletes wait for its next start")
        _apply_with_start(engine, printer, service, cid, state, diffs, expect_stop)
        out.started = True
    else:
        _apply_diffs(engine, printer, service, cid, diffs)
