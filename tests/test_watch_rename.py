"""Directory renames never cost a present folder its watches.

The loop may see a rename late: a walk made for an earlier event (a new
folder, a .gitignore edit) can already find the moved folder at its new path,
so its old watch is re-pointed there before the rename's own events arrive.
`HeldCollector.held` reproduces that on purpose: it parks the watcher's loop
inside a batch callback while the test changes the tree.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devrun.watch.debounce import Batch
from devrun.watch.watcher import Watcher, WatchSpec
from tests.live_helpers import wait_until
from tests.watch_helpers import Collector

QUIET = 0.03
IGNORED = "build"  # listed in the root's .gitignore: never watched


class HeldCollector(Collector):
    """Collects batches; `held` keeps the loop inside one callback meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self._hold: threading.Event | None = None
        self._parked = threading.Event()

    def __call__(self, batch: Batch) -> None:
        super().__call__(batch)
        hold = self._hold
        if hold is not None:
            self._parked.set()
            hold.wait(10)

    @contextmanager
    def held(self, trigger: Path) -> Iterator[None]:
        """Park the loop (by writing `trigger` and blocking its batch) for the body."""
        self._hold, self._parked = threading.Event(), threading.Event()
        trigger.write_text(str(time.monotonic()))
        wait_until(self._parked.is_set, 5, what="the watcher loop to park in a batch")
        try:
            yield
        finally:
            hold, self._hold = self._hold, None
            hold.set()

    def drain(self) -> list[Batch]:
        out = []
        while True:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                return out


@contextmanager
def watching(root: Path) -> Iterator[tuple[Watcher, HeldCollector]]:
    c = HeldCollector()
    w = Watcher(
        [WatchSpec("web", 0, [str(root)])], c, on_warning=c.warnings.append, quiet=QUIET, drip_quiet=QUIET
    )
    w.start()
    try:
        yield w, c
    finally:
        w.stop()


def kept_dirs(root: Path) -> set[str]:
    """Every directory the watcher should hold a watch on."""
    out = set()
    for folder, dirs, _files in os.walk(root):
        dirs[:] = [d for d in dirs if d != IGNORED]
        out.add(folder)
    return out


def assert_all_watched(w: Watcher, root: Path) -> None:
    def settled() -> bool:
        return w.watched_dirs() == kept_dirs(root)

    try:
        wait_until(settled, 10, what="every kept folder to be watched")
    except AssertionError:
        expected, held = kept_dirs(root), w.watched_dirs()
        raise AssertionError(
            f"unwatched: {sorted(expected - held)}; stale: {sorted(held - expected)}"
        ) from None


def assert_edit_arrives(c: HeldCollector, path: Path) -> None:
    path.write_text(str(time.monotonic()))
    c.wait_for(path)


def make_tree(folder: Path) -> None:
    """folder/sub/deep/f.txt, folder/top.txt and an ignored build/ folder."""
    deep = folder / "sub" / "deep"
    deep.mkdir(parents=True)
    (folder / IGNORED / "out").mkdir(parents=True)
    (folder / "top.txt").write_text("x")
    (deep / "f.txt").write_text("x")


def new_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / ".gitignore").write_text(f"{IGNORED}/\n")
    return root


def all_paths(batches: list[Batch]) -> set[str]:
    return set().union(*(b.paths for b in batches)) if batches else set()


# -- the exact sequence from the issue ----------------------------------------


def test_rename_then_immediate_edit_in_the_renamed_folder_arrives(tmp_path: Path):
    root = new_root(tmp_path)
    make_tree(root / "d1")
    with watching(root) as (w, c):
        os.rename(root / "d1", root / "d1moved")
        edited = root / "d1moved" / "sub" / "deep" / "f.txt"
        edited.write_text("edited")
        seen = all_paths(c.wait_for(edited))
        assert {str(root / "d1"), str(root / "d1moved")} <= seen
        assert_all_watched(w, root)
        assert_edit_arrives(c, root / "d1moved" / "sub" / "f2.txt")
        assert c.warnings == []


def test_rename_seen_after_a_walk_found_the_new_path(tmp_path: Path):
    """The .gitignore edit makes the loop re-walk the root, where d1moved
    already is; the rename's own events come after that walk."""
    root = new_root(tmp_path)
    make_tree(root / "d1")
    with watching(root) as (w, c):
        with c.held(root / "trigger.txt"):
            (root / ".gitignore").write_text(f"{IGNORED}/\n# touched\n")
            os.rename(root / "d1", root / "d1moved")
        c.wait_for(root / "trigger.txt")
        seen = all_paths(c.wait_for(root / "d1moved"))
        assert str(root / "d1") in seen
        assert str(root / "d1moved" / "sub" / "deep" / "f.txt") in seen
        assert_all_watched(w, root)
        assert_edit_arrives(c, root / "d1moved" / "sub" / "deep" / "f.txt")


def test_folder_moved_into_a_new_sibling_seen_late(tmp_path: Path):
    """Creating `sib` makes the loop walk it, where d1 already is."""
    root = new_root(tmp_path)
    make_tree(root / "d1")
    with watching(root) as (w, c):
        with c.held(root / "trigger.txt"):
            (root / "sib").mkdir()
            os.rename(root / "d1", root / "sib" / "d1")
        c.wait_for(root / "trigger.txt")
        c.wait_for(root / "sib" / "d1" / "sub" / "deep" / "f.txt")
        assert_all_watched(w, root)
        assert_edit_arrives(c, root / "sib" / "d1" / "sub" / "deep" / "f.txt")


def test_watched_root_replaced_by_another_folder(tmp_path: Path):
    """The root's watch follows the old folder away; the new one is watched."""
    root = new_root(tmp_path)
    make_tree(root / "d1")
    (tmp_path / "next" / "inner").mkdir(parents=True)
    with watching(root) as (w, c):
        with c.held(root / "trigger.txt"):
            os.rename(root, tmp_path / "old")
            os.rename(tmp_path / "next", root)
        assert_all_watched(w, root)
        assert_edit_arrives(c, root / "inner" / "x.txt")
        (tmp_path / "old" / "d1" / "top.txt").write_text("not watched any more")
        marker = root / "inner" / "marker.txt"
        marker.write_text("x")
        # a watch left on the old folder would report its files under the root's path
        assert str(root / "d1" / "top.txt") not in all_paths(c.wait_for(marker))


# -- many renames -------------------------------------------------------------


class Renamer:
    """Seeded random renames over a small tree; each step returns a folder it moved."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.names = iter(f"n{i}" for i in range(10**6))

    def top_folders(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if p.is_dir() and p.name != IGNORED)

    def kept_below(self, folder: Path) -> list[Path]:
        return sorted(Path(d) for d in kept_dirs(folder))

    def step(self) -> Path:
        ops: list[Callable[[], Path]] = [
            self.rename_in_place,
            self.rename_back_and_forth,
            self.rename_into_sibling,
            self.nested_renames,
            self.rename_while_creating,
            self.rename_into_new_folder,
        ]
        return self.rng.choice(ops)()

    def pick(self) -> Path:
        return self.rng.choice(self.top_folders())

    def rename_in_place(self) -> Path:
        src = self.pick()
        dst = src.with_name(next(self.names))
        os.rename(src, dst)
        return dst

    def rename_back_and_forth(self) -> Path:
        src = self.pick()
        away = src.with_name(next(self.names))
        os.rename(src, away)
        os.rename(away, src)
        os.rename(src, away)
        os.rename(away, src)
        return src

    def rename_into_sibling(self) -> Path:
        """Move a folder into a sibling, then rename the sibling right away."""
        tops = self.top_folders()
        if len(tops) < 2:
            return self.lift_nested()
        src, sib = self.rng.sample(tops, 2)
        name = next(self.names)
        os.rename(src, sib / name)
        new_sib = sib.with_name(next(self.names))
        os.rename(sib, new_sib)
        return new_sib / name

    def lift_nested(self) -> Path:
        """Move a folder from one level down back to the top (keeps two tops around)."""
        nested = [
            child for top in self.top_folders() for child in self.kept_below(top) if child.parent == top
        ]
        if not nested:
            return self.rename_in_place()
        dst = self.root / next(self.names)
        os.rename(self.rng.choice(nested), dst)
        return dst

    def nested_renames(self) -> Path:
        top = self.pick()
        inner = [p for p in self.kept_below(top) if p != top]
        if inner:
            child = self.rng.choice(inner)
            os.rename(child, child.with_name(next(self.names)))
        dst = top.with_name(next(self.names))
        os.rename(top, dst)
        return dst

    def rename_while_creating(self) -> Path:
        """Rename a folder while another thread creates files and folders in it
        (under its old name, then its new one)."""
        top = self.pick()
        dst = top.with_name(next(self.names))
        tag = next(self.names)
        started, stop = threading.Event(), threading.Event()

        def create() -> None:
            for i in range(40):
                if stop.is_set():
                    return
                for folder in (top, dst):
                    try:
                        (folder / f"{tag}-{i}.txt").write_text("x")
                        (folder / f"{tag}-d{i}").mkdir()
                    except OSError:
                        pass  # not there under this name (yet, or any more)
                if i == 3:
                    started.set()
            started.set()

        writer = threading.Thread(target=create)
        writer.start()
        try:
            started.wait(5)
            os.rename(top, dst)
        finally:
            stop.set()
            writer.join()
        return dst

    def rename_into_new_folder(self) -> Path:
        src = self.pick()
        box = self.root / next(self.names)
        box.mkdir()
        dst = box / src.name
        os.rename(src, dst)
        return dst


def deepest_kept(folder: Path) -> Path:
    return Path(max(sorted(kept_dirs(folder)), key=lambda d: d.count("/")))


def test_two_hundred_renames_keep_every_folder_watched(tmp_path: Path):
    root = new_root(tmp_path)
    for name in ("a", "b", "c"):
        make_tree(root / name)
    renamer = Renamer(root, seed=15)
    with watching(root) as (w, c):
        for i in range(200):
            if i % 4 == 0:  # the loop sees these renames late, after a walk of the root
                with c.held(root / "trigger.txt"):
                    (root / ".gitignore").write_text(f"{IGNORED}/\n# {i}\n")
                    moved = renamer.step()
            else:
                moved = renamer.step()
            assert_all_watched(w, root)
            assert_edit_arrives(c, deepest_kept(moved) / "edit.txt")
            c.drain()
        assert c.warnings == []
