"""The watcher survives odd trees: warnings at most, never a dead watcher."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from devrun.watch.watcher import WatchSpec
from tests.watch_helpers import watching


def _spec(path: Path) -> WatchSpec:
    return WatchSpec("web", 0, [str(path)])


def test_symlink_loop_and_symlinked_dirs_are_not_followed(tmp_path: Path):
    (tmp_path / "a").mkdir()
    os.symlink("..", tmp_path / "a" / "loop")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "elsewhere")
    with watching([_spec(tmp_path)]) as (w, c):
        assert w.stats()["watches"] == 2  # root and a/, never through the links
        os.symlink("..", tmp_path / "a" / "loop2")
        (tmp_path / "a" / "x.py").write_text("1")
        [batch] = c.settle()
        assert str(tmp_path / "a" / "x.py") in batch.paths
        assert w.stats()["watches"] == 2
    shutil.rmtree(outside)


def test_unreadable_directory_warns_at_most(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0)
    try:
        with watching([_spec(tmp_path)]) as (_w, c):
            (tmp_path / "ok.py").write_text("1")
            [batch] = c.settle()
            assert batch.paths == {str(tmp_path / "ok.py")}
            assert len(c.warnings) <= 1
    finally:
        os.chmod(locked, 0o755)


def test_file_replaced_by_directory(tmp_path: Path):
    f = tmp_path / "thing"
    f.write_text("1")
    with watching([_spec(tmp_path)]) as (w, c):
        f.unlink()
        f.mkdir()
        c.wait_for(f)
        (f / "inner.py").write_text("1")
        [batch] = c.settle()
        assert batch.paths == {str(f / "inner.py")}
        assert w.stats()["watches"] == 2
        assert c.warnings == []


def test_subdirectory_deleted_and_recreated(tmp_path: Path):
    sub = tmp_path / "sub"
    sub.mkdir()
    with watching([_spec(tmp_path)]) as (w, c):
        shutil.rmtree(sub)
        [batch] = c.settle()
        assert batch.paths == {str(sub)}
        sub.mkdir()
        c.wait_for(sub)
        (sub / "x.py").write_text("1")
        assert c.settle()[0].paths == {str(sub / "x.py")}
        assert w.stats()["watches"] == 2


def test_watch_limit_falls_back_to_polling_with_one_line_hint(tmp_path: Path, monkeypatch):
    from watchdog.observers import inotify_c

    (tmp_path / "deep").mkdir()
    real_add = inotify_c.InotifyFD.add_callback

    def full(self, path, mask, callback, id_):
        if path.endswith(b"deep"):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return real_add(self, path, mask, callback, id_)

    monkeypatch.setattr(inotify_c.InotifyFD, "add_callback", full)
    with watching([_spec(tmp_path)], poll_interval=0.1) as (w, c):
        assert len(c.warnings) == 1 and "sysctl fs.inotify.max_user_watches=" in c.warnings[0]
        assert w.stats()["modes"] == {str(tmp_path): "poll"}
        (tmp_path / "deep" / "x.py").write_text("1")
        [batch] = c.settle()
        assert batch.paths == {str(tmp_path / "deep" / "x.py")}
