"""Host paths -> a tar stream for the engine's archive API, plus the list of
container paths to delete. Everything written lands inside the rule's
`target`: relative paths are normalised and refused if they climb out, and
symlinks travel as links (never followed out of the project)."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

from devrun.watch.rules import split_glob

Keep = Callable[[str], bool]

# a file bigger than this is not synced (a warning says so): a multi-GB file
# would fill the temp folder and the container's layer; bind-mount those instead
MAX_FILE_ENV = "DEVRUN_SYNC_MAX_FILE_MB"
MAX_FILE_MB = 512


def max_file_bytes() -> int:
    try:
        return int(float(os.environ.get(MAX_FILE_ENV, MAX_FILE_MB)) * 1024 * 1024)
    except ValueError:
        return MAX_FILE_MB * 1024 * 1024


def _too_big(path: str, limit: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > limit


@dataclass
class SyncPlan:
    copies: list[tuple[str, str]] = field(default_factory=list)  # (host path, container path)
    deletes: list[str] = field(default_factory=list)  # container paths
    refused: list[str] = field(default_factory=list)  # host paths that would land outside target
    too_big: list[str] = field(default_factory=list)  # host files over max_file_bytes(), not synced

    @property
    def empty(self) -> bool:
        return not self.copies and not self.deletes


def container_path(host: str, roots: Iterable[str], target: str) -> str | None:
    """Where a host path lands in the container, or None if it is outside every
    root or would escape `target`."""
    target = posixpath.normpath(target)
    for root in roots:
        base = split_glob(root)[0]
        if host == base:
            return target  # the rule's path itself: a file root syncs to target
        rel = os.path.relpath(host, base)
        if rel.startswith(".."):
            continue
        dest = posixpath.normpath(posixpath.join(target, rel.replace(os.sep, "/")))
        if dest != target and not dest.startswith(target.rstrip("/") + "/"):
            return None
        return dest
    return None


def bind_echo(target: str, roots: Iterable[str], mounts: Iterable) -> str | None:
    """The host folder that a bind mount puts at `target`, when it lies within
    one of the rule's own roots; else None. Then the files are in the container
    already, and each copy would land on a watched host file and be synced
    again, endlessly: such a sync is skipped (a restart or exec after it runs)."""
    target = posixpath.normpath(target)
    for m in mounts:
        if m.type != "bind" or not m.source:
            continue
        rel = posixpath.relpath(target, posixpath.normpath(m.target))
        if rel == ".." or rel.startswith("../"):
            continue
        lands = os.path.normpath(os.path.join(m.source, rel))
        if any(not os.path.relpath(lands, split_glob(root)[0]).startswith("..") for root in roots):
            return lands
    return None


def plan_sync(paths: Iterable[str], roots: list[str], target: str, keep: Keep) -> SyncPlan:
    """Decide copies and deletes from what is on disk now (not from event
    kinds: the disk is the truth after a batch of renames and rewrites)."""
    plan = SyncPlan()
    seen: set[str] = set()
    limit = max_file_bytes()
    for host in sorted(set(paths)):
        dest = container_path(host, roots, target)
        if dest is None:
            plan.refused.append(host)
            continue
        if not os.path.lexists(host):
            if dest != posixpath.normpath(target):
                plan.deletes.append(dest)
            continue
        if os.path.isdir(host) and not os.path.islink(host):
            for dirpath, dirnames, filenames in os.walk(host, followlinks=False):
                dirnames[:] = [d for d in dirnames if keep(os.path.join(dirpath, d))]
                for name in [*dirnames, *filenames]:
                    full = os.path.join(dirpath, name)
                    if full in seen or not keep(full):
                        continue
                    sub = container_path(full, roots, target)
                    if sub is None:
                        plan.refused.append(full)
                        continue
                    seen.add(full)
                    if _too_big(full, limit):
                        plan.too_big.append(full)
                        continue
                    plan.copies.append((full, sub))
            if host not in seen:
                seen.add(host)
                plan.copies.insert(0, (host, dest))
        elif host not in seen:
            seen.add(host)
            if _too_big(host, limit):
                plan.too_big.append(host)
                continue
            plan.copies.append((host, dest))
    _add_hard_link_siblings(plan, roots, target, keep, seen)
    return plan


def _add_hard_link_siblings(
    plan: SyncPlan, roots: list[str], target: str, keep: Keep, seen: set[str]
) -> None:
    """An edit through one name of a hard-linked file changes every name, but
    the watcher reports only the one written: copy the other names as well."""
    wanted: set[tuple[int, int]] = set()
    for host, _dest in plan.copies:
        try:
            st = os.lstat(host)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            wanted.add((st.st_dev, st.st_ino))
    if not wanted:
        return
    for root in roots:
        base = split_glob(root)[0]
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = [d for d in dirnames if keep(os.path.join(dirpath, d))]
            for name in filenames:
                full = os.path.join(dirpath, name)
                if full in seen:
                    continue
                try:
                    st = os.lstat(full)
                except OSError:
                    continue
                dest = container_path(full, roots, target)
                if (st.st_dev, st.st_ino) in wanted and dest is not None and keep(full):
                    seen.add(full)
                    plan.copies.append((full, dest))


def initial_plan(roots: list[str], target: str, keep: Keep) -> SyncPlan:
    """Everything under the rule's roots: brings a fresh container level with the host."""
    import glob

    hosts: list[str] = []
    for root in roots:
        hosts.extend(glob.glob(root, recursive=True) if any(c in root for c in "*?[") else [root])
    return plan_sync([h for h in hosts if os.path.lexists(h)], roots, target, keep)


def write_tar(plan: SyncPlan) -> IO[bytes]:
    """A tar of the plan's copies with absolute member names (extract at '/').
    Spooled to disk past 32 MB so a huge file never sits in memory."""
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, dereference=False) as tar:
        for host, dest in plan.copies:
            # each copy is a file of its own: a hard link in the container would
            # tie two paths that the next sync replaces one at a time
            tar.inodes.clear()
            try:
                info = tar.gettarinfo(host, arcname=dest.lstrip("/"))
            except (FileNotFoundError, PermissionError, OSError):
                continue  # vanished or unreadable since planning: the next batch will catch up
            if info is None:  # sockets, fifos
                continue
            if info.isfile():
                try:
                    with open(host, "rb") as fh:
                        tar.addfile(info, fh)
                except OSError:
                    continue
            else:
                tar.addfile(info)
    out.seek(0)
    return out


def top_most(paths: Iterable[str]) -> list[str]:
    """The paths without those inside another one of them: deleting a folder
    deletes what is in it, so 12,000 deleted files under one folder are one path."""
    out: list[str] = []
    for p in sorted(set(paths)):
        if out and (p == out[-1] or p.startswith(out[-1].rstrip("/") + "/")):
            continue
        out.append(p)
    return out


# one exec's argv stays far below the kernel's limit (ARG_MAX, 2 MB here, less
# on some engines): more paths go in further execs
DELETE_BATCH_BYTES = 64 * 1024


def delete_command(plan: SyncPlan, target: str) -> list[str] | None:
    """`rm -rf` argv for the deletes, every path checked to sit strictly inside target."""
    safe = _safe_deletes(plan.deletes, target)
    return ["rm", "-rf", "--", *safe] if safe else None


def _safe_deletes(deletes: Iterable[str], target: str) -> list[str]:
    base = posixpath.normpath(target).rstrip("/") + "/"
    return top_most(p for p in deletes if posixpath.normpath(p) == p and p.startswith(base))


# Deletes run inside the container, where the app may have replaced a synced
# directory with a symlink: each path's parent is resolved (pwd -P) and must
# still lie inside the resolved target, else the path is skipped.
_GUARDED_RM = (
    'base=$(cd "$1" 2>/dev/null && pwd -P) || exit 0; base=${base%/}; shift; '
    'for p; do d=$(cd "${p%/*}/" 2>/dev/null && pwd -P) || continue; '
    'case "${d%/}/" in "$base"/*) rm -rf -- "${d%/}/${p##*/}";; esac; done'
)


def guarded_delete_commands(deletes: Iterable[str], target: str) -> list[list[str]]:
    """delete_command's paths in argv batches of at most DELETE_BATCH_BYTES,
    each deleted only where no symlink inside the container leads it out of
    target (needs /bin/sh in the image)."""
    head = ["sh", "-c", _GUARDED_RM, "devrun-delete", posixpath.normpath(target)]
    batches: list[list[str]] = []
    size = 0
    for p in _safe_deletes(deletes, target):
        if not batches or size + len(p) + 1 > DELETE_BATCH_BYTES:
            batches.append(list(head))
            size = 0
        batches[-1].append(p)
        size += len(p) + 1
    return batches
