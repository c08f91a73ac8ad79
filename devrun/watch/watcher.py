"""Host file watching: filtered, debounced batches per service.

Cost is bounded by what is really watched. One inotify instance (watchdog's
`InotifyFD`, our own, not the process-wide singleton) with its one reader
thread, one NON-recursive watch per kept directory, and one loop thread that
makes every decision; ignored directories (node_modules, .venv, ...) are never
entered, so they cost no watch. Directories created or moved in later are
watched and scanned (files may land before the watch does). Polling replaces
inotify per root when the watch limit is hit, or everywhere with `poll=True`.

Renames: inotify keeps a watch on the directory's inode, so a moved folder
keeps its watch under the new name, and the loop may meet the new path (in a
walk made for an earlier event) before the rename's own events. A folder's
watches are therefore dropped only when nothing is left at its path, and once
the queue is drained, every folder a directory move touched is checked: gone
ones lose their watches, present kept ones get any missing watch.

Threads: the reader only enqueues; the loop owns all state and sleeps until
the next debounce deadline (no busy polling).
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable

from watchdog.observers.inotify_c import InotifyConstants as IN
from watchdog.observers.inotify_c import InotifyEvent, InotifyFD

from devrun.watch.debounce import Batch, Change, Debouncer
from devrun.watch.ignore import GitignoreCache
from devrun.watch.poll import Poller, walk_kept
from devrun.watch.rules import Router, WatchSpec, under

__all__ = ["Batch", "WatchSpec", "Watcher", "count_inotify_watches", "DEFAULT_QUIET", "DEFAULT_MAX_WAIT"]

# Editors' multi-step saves (vim, JetBrains, sed -i, atomic rename) finish
# within ~1-13 ms of their first event (bench/watcher_cost.py --saves); 50 ms
# covers them with margin (watchexec uses the same) and keeps a signal reload
# under 100 ms from save to visible. Trickling edits get a longer quiet period
# (see debounce.py); max_wait caps any batch, so a file that never stops
# changing still gets applied.
DEFAULT_QUIET = 0.05
DEFAULT_MAX_WAIT = 3.0
DEFAULT_DRIP_QUIET = 0.5
DEFAULT_POLL_INTERVAL = 0.4
LIMIT_HINT = "sudo sysctl fs.inotify.max_user_watches=524288"

DIR_MASK = (
    IN.IN_CREATE
    | IN.IN_DELETE
    | IN.IN_MOVED_FROM
    | IN.IN_MOVED_TO
    | IN.IN_MODIFY
    | IN.IN_CLOSE_WRITE
    | IN.IN_ATTRIB
    | IN.IN_DELETE_SELF
    | IN.IN_MOVE_SELF
    | IN.IN_ONLYDIR
    | IN.IN_DONT_FOLLOW
    | IN.IN_EXCL_UNLINK
)
_CALLBACK_ID = 0
_STOP = object()

Inode = tuple[int, int]  # (st_dev, st_ino)


def count_inotify_watches(pid: int | str = "self") -> int:
    """inotify watches held by a process, from /proc/<pid>/fdinfo."""
    total = 0
    folder = f"/proc/{pid}/fdinfo"
    for name in os.listdir(folder):
        try:
            with open(os.path.join(folder, name)) as f:
                total += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total


class _Callback:
    """Runs on InotifyFD's reader thread: only enqueues."""

    def __init__(self, q: queue.SimpleQueue) -> None:
        self._q = q

    def on_event(self, event: InotifyEvent) -> None:
        self._q.put(("event", event))

    def on_watch_deleted(self, wd: int) -> None:
        self._q.put(("gone", wd))

    def on_queue_overflow(self) -> None:
        self._q.put(("overflow", None))


class _WatchMap:
    """Which directory each inotify watch serves, both ways, and the inode it
    sits on (a watch follows its inode through renames)."""

    def __init__(self) -> None:
        self.wd_of: dict[str, int] = {}
        self.path_of: dict[int, str] = {}
        self._inode_of: dict[int, Inode] = {}
        self._wd_of_inode: dict[Inode, int] = {}

    def __len__(self) -> int:
        return len(self.wd_of)

    def __contains__(self, path: str) -> bool:
        return path in self.wd_of

    def wd_on(self, inode: Inode) -> int | None:
        return self._wd_of_inode.get(inode)

    def put(self, path: str, wd: int, inode: Inode | None) -> None:
        """`path` is served by `wd` from now on; the path it served before (the
        same inode under its old name) no longer is."""
        old = self.path_of.get(wd)
        if old is not None and old != path:
            self.wd_of.pop(old, None)
        self.wd_of[path] = wd
        self.path_of[wd] = path
        self._set_inode(wd, inode)

    def forget(self, wd: int) -> str | None:
        """Drop `wd`; returns the path it served."""
        path = self.path_of.pop(wd, None)
        if path is not None and self.wd_of.get(path) == wd:
            del self.wd_of[path]
        self._set_inode(wd, None)
        return path

    def is_current(self, path: str) -> bool:
        """Is the directory at `path` now the one its watch sits on?"""
        wd = self.wd_of.get(path)
        inode = self._inode_of.get(wd) if wd is not None else None
        return inode is not None and _dir_inode(path) == inode

    def under(self, top: str) -> list[str]:
        return [p for p in self.wd_of if under(p, top)]

    def _set_inode(self, wd: int, inode: Inode | None) -> None:
        old = self._inode_of.pop(wd, None)
        if old is not None and self._wd_of_inode.get(old) == wd:
            del self._wd_of_inode[old]
        if inode is not None:
            self._inode_of[wd] = inode
            self._wd_of_inode[inode] = wd


def _dir_inode(path: str) -> Inode | None:
    """The inode of the directory at `path`; None for anything else (symlinks too)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _outermost(paths: set[str]) -> list[str]:
    """`paths` without those under another of them, parents first."""
    out: list[str] = []
    for path in sorted(paths, key=len):
        if not any(under(path, kept) for kept in out):
            out.append(path)
    return out


class Watcher:
    def __init__(
        self,
        specs: list[WatchSpec],
        on_batch: Callable[[Batch], None],
        *,
        on_warning: Callable[[str], None] | None = None,
        quiet: float = DEFAULT_QUIET,
        max_wait: float = DEFAULT_MAX_WAIT,
        drip_quiet: float = DEFAULT_DRIP_QUIET,
        poll: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        project_root: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._router = Router(specs, GitignoreCache(), project_root)
        self._on_batch = on_batch
        self._on_warning = on_warning or (lambda _msg: None)
        self._debouncer = Debouncer(quiet, max_wait, drip_quiet=drip_quiet)
        self._force_poll = poll or os.environ.get("DEVRUN_POLL", "") not in ("", "0", "false")
        self._clock = clock
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._callback = _Callback(self._q)
        self._inotify: InotifyFD | None = None
        self._poller = Poller(
            self._router.keep_dir, lambda evs: self._q.put(("poll", evs)), self._warn, poll_interval
        )
        self._watches = _WatchMap()
        # Folders a directory move touched, checked once the queue is drained;
        # moved-in ones report every file under them, the others only files in
        # folders they newly watch.
        self._unsettled: set[str] = set()
        self._moved_in: set[str] = set()
        self._warned_limit = False
        self._loop: threading.Thread | None = None
        self.ready = threading.Event()
        # barriers (`devrun wait`): a cookie file created in a private folder
        # watched on the same inotify fd arrives after every earlier event
        self._cookie_dir: str | None = None
        self._cookie_wd: int | None = None
        self._cookies: dict[str, Callable[[set[str | None]], None]] = {}
        self._cookie_lock = threading.Lock()
        self._cookie_seq = 0

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Place every watch (returns once `ready` is set), then run the loop."""
        if not self._force_poll:
            try:
                self._inotify = InotifyFD()
                self._inotify.start()
            except OSError as e:
                self._warn(f"inotify unavailable ({e.strerror}); polling instead")
        self._place_all(report=False)
        if self._inotify is not None:
            self._cookie_dir = tempfile.mkdtemp(prefix="devrun-barrier-")
            try:
                self._cookie_wd = self._inotify.add_callback(
                    os.fsencode(self._cookie_dir), IN.IN_CREATE | IN.IN_ONLYDIR, self._callback, _CALLBACK_ID
                )
            except OSError:
                self._cookie_wd = None
        self.ready.set()
        self._loop = threading.Thread(target=self._run, name="devrun-watch", daemon=True)
        self._loop.start()

    def stop(self) -> None:
        self._q.put(_STOP)
        if self._loop is not None:
            self._loop.join(timeout=5)
        self._poller.stop()
        if self._inotify is not None:
            self._inotify.stop()
            self._inotify.join(timeout=5)
        if self._cookie_dir is not None:
            shutil.rmtree(self._cookie_dir, ignore_errors=True)

    def barrier(self, done: Callable[[set[str | None]], None]) -> None:
        """Call `done(services whose batch is still open)` on the watcher's
        thread once every file event that happened before this call has been
        handled (their closed batches already handed on). Polling: the events
        its last scan found."""
        if self._cookie_wd is None or self._cookie_dir is None:
            self._q.put(("barrier", done))
            return
        with self._cookie_lock:
            self._cookie_seq += 1
            name = f"c{self._cookie_seq}"
            self._cookies[name] = done
        with open(os.path.join(self._cookie_dir, name), "w"):
            pass

    def stats(self) -> dict:
        polled = self._poller.roots
        modes = {
            root.pattern: "poll"
            if self._inotify is None or any(under(root.base, p) for p in polled)
            else "inotify"
            for root in self._router.roots
        }
        threads = [self._loop, self._inotify]
        return {
            "watches": len(self._watches),
            "watched_dirs": len(self._watches),
            "threads": sum(1 for t in threads if t is not None and t.is_alive())
            + int(self._poller.thread_alive),
            "modes": modes,
        }

    def watched_dirs(self) -> set[str]:
        """The directories holding an inotify watch right now (one copy of the
        loop's map, taken under the GIL: safe from any thread)."""
        return set(self._watches.wd_of.copy())

    # -- the loop (all state below is touched only from here after start) ---

    def _run(self) -> None:
        while True:
            deadline = self._debouncer.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            try:
                item = self._q.get(timeout=timeout)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    return
                self._handle(item)
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    item = None
            if self._unsettled:
                self._settle_moves()
            for batch in self._debouncer.pop_due(self._clock()):
                try:
                    self._on_batch(batch)
                except Exception as e:  # noqa: BLE001 - a consumer bug must not kill watching
                    self._warn(f"file change handler failed: {e!r}")

    def _handle(self, item: tuple) -> None:
        kind, payload = item
        if kind == "event" and self._cookie_wd is not None and payload.wd == self._cookie_wd:
            self._on_cookie(os.fsdecode(payload.name or b""))
        elif kind == "barrier":
            payload(self._debouncer.pending_services())
        elif kind == "event":
            self._on_inotify(payload)
        elif kind == "gone":
            self._on_watch_gone(payload)
        elif kind == "poll":
            for path, change, is_dir in payload:
                self._record(path, change, is_dir)
        elif kind == "overflow":
            self._warn("too many file changes at once; rescanning the watched folders")
            for root in self._router.roots:
                self._record(root.base, Change.MODIFIED, os.path.isdir(root.base))
            if self._inotify is not None:  # lost events may hide moves: check every root
                self._unsettled.update(root.base for root in self._router.roots)
            self._place_all(report=False, only_missing=True)

    def _on_cookie(self, name: str) -> None:
        with self._cookie_lock:
            done = self._cookies.pop(name, None)
        if self._cookie_dir is not None:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._cookie_dir, name))
        if done is not None:
            try:
                done(self._debouncer.pending_services())
            except Exception as e:  # noqa: BLE001 - a consumer bug must not kill watching
                self._warn(f"barrier handler failed: {e!r}")

    def _on_inotify(self, event: InotifyEvent) -> None:
        folder = self._watches.path_of.get(event.wd)
        if folder is None:
            return
        if event.is_delete_self or event.is_move_self:
            self._on_folder_left(folder, deleted=event.is_delete_self)
            return
        if not event.name:
            return
        path = os.path.join(folder, os.fsdecode(event.name))
        is_dir = event.is_directory
        if event.is_moved_to and is_dir:
            self._record(path, Change.CREATED, is_dir)
            self._moved_in.add(path)
            self._unsettled.add(path)
        elif event.is_create or event.is_moved_to:
            self._record(path, Change.CREATED, is_dir)
            if is_dir:
                self._on_new_dir(path)
            elif self._router.on_way_to_root(path):
                self._place_all(report=True, only_missing=True)
        elif event.is_delete or event.is_moved_from:
            self._record(path, Change.REMOVED, is_dir)
            if is_dir:
                self._on_dir_left(path, moved=event.is_moved_from)
        else:
            self._record(path, Change.MODIFIED, is_dir)

    def _on_dir_left(self, path: str, *, moved: bool) -> None:
        """A subfolder was deleted or moved away from its parent."""
        if moved:
            self._unsettled.add(path)
            if self._watches.is_current(path):
                return  # already moved back: the same folder, with valid watches
        # A deleted inode's number may already serve a new folder at the same
        # path, so a deletion always drops.
        self._drop_tree(path)
        self._place_all(report=True, only_missing=True)

    def _on_folder_left(self, folder: str, *, deleted: bool) -> None:
        """A watched folder itself was moved or deleted. Its watch may already
        serve the folder's new path (a walk met it there before this event), so
        the path loses its watches only when it no longer holds that folder."""
        self._unsettled.add(folder)
        if not deleted and self._watches.is_current(folder):
            return
        self._drop_tree(folder)
        if _dir_inode(folder) is not None:
            return  # another folder stands there: settling watches it afresh
        self._record(folder, Change.REMOVED, True)
        self._place_all(report=True, only_missing=True)

    def _on_watch_gone(self, wd: int) -> None:
        """The kernel dropped a watch (its folder was deleted)."""
        folder = self._watches.forget(wd)
        if folder is not None:
            self._unsettled.add(folder)  # a folder standing there again gets a new watch
        self._place_all(report=True, only_missing=True)

    def _record(self, path: str, change: Change, is_dir: bool) -> None:
        if os.path.basename(path) == ".gitignore" and not is_dir:
            self._router.gitignores.invalidate(os.path.dirname(path))
            if self._inotify is not None:
                self._rescan(os.path.dirname(path))
        now = self._clock()
        for root in self._router.matching(path, is_dir):
            spec = root.spec
            self._debouncer.add(now, spec.service, path, change, spec.rule_index, spec.debounce)

    # -- watch placement ---------------------------------------------------

    def _place_all(self, *, report: bool, only_missing: bool = False) -> None:
        """Make sure every root is watched: walk existing directory roots, and
        watch the nearest existing parent of file roots and missing roots."""
        for root in self._router.roots:
            if self._inotify is None:
                self._poller.add_root(root.base)
                continue
            if not root.files_only and os.path.isdir(root.base) and not os.path.islink(root.base):
                if not (only_missing and root.base in self._watches):
                    self._watch_tree(root.base, report=report)
            else:
                anchor = os.path.dirname(root.base) if root.files_only else root.base
                while not os.path.isdir(anchor) and os.path.dirname(anchor) != anchor:
                    anchor = os.path.dirname(anchor)
                if anchor not in self._watches:
                    self._add_watch(anchor)

    def _on_new_dir(self, path: str) -> None:
        if os.path.islink(path):
            return
        if self._router.keep_dir(path):
            self._watch_tree(path, report=True)
        elif self._router.on_way_to_root(path):
            self._place_all(report=True, only_missing=True)

    def _watch_tree(self, top: str, *, report: bool) -> None:
        for _folder, entries in walk_kept(top, self._router.keep_dir, self._warn, enter=self._add_watch):
            if report:
                self._report(entries)

    def _report(self, entries: list[os.DirEntry]) -> None:
        """Entries of a newly watched folder: they may have landed before its watch did."""
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            self._record(entry.path, Change.CREATED, is_dir)

    def _rescan(self, top: str) -> None:
        """After a .gitignore change: watch newly kept dirs, drop newly ignored ones."""
        for folder in [d for d in self._watches.under(top) if d != top]:
            if folder in self._watches and not self._router.keep_dir(folder):
                self._drop_tree(folder)
        if top in self._watches:
            self._watch_tree(top, report=False)

    # -- settling after directory moves -----------------------------------

    def _settle_moves(self) -> None:
        """Every folder a move touched: watches of gone ones dropped, missing
        watches of present kept ones placed. Runs with the queue drained, so
        the disk is at least as new as every event handled."""
        tops = _outermost(self._unsettled)
        moved_in = self._moved_in
        self._unsettled, self._moved_in = set(), set()
        for top in tops:
            self._drop_vanished(top)
            self._watch_missing(top, moved_in)

    def _drop_vanished(self, top: str) -> None:
        for folder in sorted(self._watches.under(top), key=len):
            if folder in self._watches and not self._watches.is_current(folder):
                self._drop_tree(folder)

    def _watch_missing(self, top: str, moved_in: set[str]) -> None:
        if _dir_inode(top) is None:
            return
        if not (self._router.keep_dir(top) and self._reachable(top)):
            if self._router.on_way_to_root(top):
                self._place_all(report=True, only_missing=True)
            return
        fresh: set[str] = set()

        def enter(folder: str) -> bool:
            if folder not in self._watches:
                fresh.add(folder)
            return self._add_watch(folder)

        for folder, entries in walk_kept(top, self._router.keep_dir, self._warn, enter=enter):
            if folder in fresh or any(under(folder, m) for m in moved_in):
                self._report(entries)

    def _reachable(self, folder: str) -> bool:
        """Is `folder` a root, or inside a watched (so kept) parent?"""
        parent = os.path.dirname(folder)
        return parent in self._watches or any(r.base == folder for r in self._router.roots)

    def _add_watch(self, folder: str) -> bool:
        """Watch one directory; False when watching has to stop for this tree."""
        if folder in self._watches:
            return True
        assert self._inotify is not None
        inode = _dir_inode(folder)
        if inode is None:
            return True  # gone or not a directory: its parent reports it
        wd = self._watches.wd_on(inode)
        if wd is not None:  # a watched folder moved here: its watch came along
            self._watches.put(folder, wd, inode)
            return True
        try:
            wd = self._inotify.add_callback(os.fsencode(folder), DIR_MASK, self._callback, _CALLBACK_ID)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self._fall_back_to_polling(folder)
                return False
            if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                self._warn(f"cannot watch {folder}: {e.strerror}")
            return True
        if wd == -1:  # watchdog swallows EACCES and hands back -1
            self._inotify.remove_callbacks([(wd, _CALLBACK_ID)])
            self._warn(f"cannot watch {folder}: permission denied")
            return True
        now = _dir_inode(folder)
        if now is not None and now != inode:
            inode = None  # replaced meanwhile: which one is watched is unknown, so settling redoes it
        self._watches.put(folder, wd, inode)
        return True

    def _fall_back_to_polling(self, folder: str) -> None:
        root = next((r.base for r in self._router.roots if folder.startswith(r.base)), folder)
        if not self._warned_limit:
            self._warned_limit = True
            self._warn(
                f"inotify watch limit reached at {folder}; polling {root} instead. Raise it with: {LIMIT_HINT}"
            )
        self._poller.add_root(root)

    def _drop_tree(self, top: str) -> None:
        pairs = []
        for folder in self._watches.under(top):
            wd = self._watches.wd_of.get(folder)
            if wd is not None:
                self._watches.forget(wd)
                pairs.append((wd, _CALLBACK_ID))
        if pairs and self._inotify is not None:
            try:
                self._inotify.remove_callbacks(pairs)
            except OSError:
                pass  # the kernel already dropped them with the directory

    def _warn(self, message: str) -> None:
        try:
            self._on_warning(message)
        except Exception:  # noqa: BLE001
            pass
