"""The pruned tree walk shared by inotify placement and polling, and a small
stat-based poller for file systems without change events (network mounts,
WSL's /mnt) or when the inotify watch limit is reached.

Symlinked directories are never followed (no loops, no escaping the tree).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator

from devrun.watch.debounce import Change

Warn = Callable[[str], None]
# path -> (is_dir, mtime_ns, size, mode, inode)
Snapshot = dict[str, tuple[bool, int, int, int, int]]
# (path, change, is_dir)
FsEvent = tuple[str, Change, bool]


def walk_kept(
    top: str, keep_dir: Callable[[str], bool], warn: Warn, enter: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, list[os.DirEntry]]]:
    """Yield (directory, its entries) for `top` and every kept directory below it.
    `enter` runs before a directory is listed (the watcher places its watch
    there, so nothing created during the listing is missed); False stops the walk."""
    stack = [top]
    while stack:
        folder = stack.pop()
        if enter is not None and not enter(folder):
            return
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except FileNotFoundError:
            continue  # vanished while we walked: its parent reports the deletion
        except NotADirectoryError:
            continue
        except OSError as e:
            warn(f"cannot list {folder}: {e.strerror}; changes inside it are not seen")
            continue
        yield folder, entries
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir and keep_dir(entry.path):
                stack.append(entry.path)


def snapshot(path: str, keep_dir: Callable[[str], bool], warn: Warn) -> Snapshot:
    """Stat `path` and, for a directory, every entry of its kept subtree."""
    out: Snapshot = {}
    try:
        st = os.lstat(path)
    except OSError:
        return out
    out[path] = _key(st)
    if not stat.S_ISDIR(st.st_mode):
        return out
    for _folder, entries in walk_kept(path, keep_dir, warn):
        for entry in entries:
            try:
                out[entry.path] = _key(entry.stat(follow_symlinks=False))
            except OSError:
                continue
    return out


def _key(st: os.stat_result) -> tuple[bool, int, int, int, int]:
    return (stat.S_ISDIR(st.st_mode), st.st_mtime_ns, st.st_size, st.st_mode, st.st_ino)


def diff(old: Snapshot, new: Snapshot) -> list[FsEvent]:
    events: list[FsEvent] = []
    for path, key in new.items():
        before = old.get(path)
        if before is None:
            events.append((path, Change.CREATED, key[0]))
        elif before != key and not (key[0] and before[0] and before[3:] == key[3:]):
            # a directory's own mtime moves with every entry change: those are reported per entry
            events.append((path, Change.MODIFIED, key[0]))
    events.extend((path, Change.REMOVED, key[0]) for path, key in old.items() if path not in new)
    return events


class Poller:
    """One thread that re-stats the polled roots every `interval` seconds and
    hands differences to `emit` (which only enqueues)."""

    def __init__(
        self,
        keep_dir: Callable[[str], bool],
        emit: Callable[[list[FsEvent]], None],
        warn: Warn,
        interval: float,
    ):
        self._keep_dir = keep_dir
        self._emit = emit
        self._warn = warn
        self._interval = interval
        self._roots: dict[str, Snapshot] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_root(self, path: str) -> None:
        base = snapshot(path, self._keep_dir, self._warn)
        with self._lock:
            if path in self._roots:
                return
            self._roots[path] = base
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="devrun-poll", daemon=True)
            self._thread.start()

    @property
    def roots(self) -> list[str]:
        with self._lock:
            return list(self._roots)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll_once()

    def poll_once(self) -> None:
        for root in self.roots:
            new = snapshot(root, self._keep_dir, self._warn)
            with self._lock:
                old = self._roots.get(root, {})
                self._roots[root] = new
            events = diff(old, new)
            if events:
                self._emit(events)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
