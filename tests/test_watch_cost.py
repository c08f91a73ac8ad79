"""Ignored directories cost no inotify watch: measured from /proc/self/fdinfo
on a generated tree of 100,000 files, most of them in ignored folders, for the
watcher alone and for a real `devrun up` watching the whole tree."""

from __future__ import annotations

import json
import os

from devrun.watch.watcher import WatchSpec, count_inotify_watches
from tests.conftest import BUSYBOX
from tests.live_helpers import IDLE, DevrunUp
from tests.watch_helpers import watching


def test_watches_stay_near_the_kept_directories(big_tree):
    root, counts = big_tree
    assert counts["files"] >= 100_000 and counts["dirs"] > 5_000
    before = count_inotify_watches()
    with watching([WatchSpec("web", 0, [str(root)])]) as (w, c):
        held = count_inotify_watches() - before
        assert counts["kept_dirs"] <= held <= counts["kept_dirs"] * 1.05
        assert w.stats()["threads"] <= 3
        (root / "node_modules" / "p0001" / "lib" / "f000.js").write_text("x")
        (root / "packages" / "p03" / "node_modules" / "m01" / "new.js").write_text("x")
        (root / "packages" / "p03" / "src" / "f000.js").write_text("x")
        [batch] = c.settle()
        assert batch.paths == {str(root / "packages" / "p03" / "src" / "f000.js")}


def test_globbed_rule_watches_only_what_can_match(big_tree):
    root, _counts = big_tree
    before = count_inotify_watches()
    with watching([WatchSpec("web", 0, [f"{root}/packages/*/src"])]) as (_w, c):
        # packages/, 20 packages, 20 src folders, and the private folder of `devrun wait`'s barriers
        assert count_inotify_watches() - before == 41 + 1
        (root / "packages" / "p04" / "src" / "f001.js").write_text("x")
        (root / "packages" / "p04" / "README.md").write_text("x")
        [batch] = c.settle()
        assert batch.paths == {str(root / "packages" / "p04" / "src" / "f001.js")}


def test_watch_count_stays_near_kept_dirs_on_a_big_ignored_tree(big_tree, project_name):
    root, counts = big_tree
    kept = counts["kept_dirs"]
    (root / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    watch:
      - path: .
        action: restart
""")
    with DevrunUp(root, project_name) as up:
        up.wait_for("ready", timeout=60)
        watches = count_inotify_watches(up.proc.pid)
        threads = len(os.listdir(f"/proc/{up.proc.pid}/task"))
        assert watches <= kept * 1.05 + 2, (watches, kept)
        assert threads <= 20, threads
