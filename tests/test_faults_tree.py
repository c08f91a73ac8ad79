"""The watched tree misbehaves under a real `devrun up` with a sync rule: a
symlink loop, a directory deleted and recreated, a file replaced by a
directory, a 300 MB file (synced through a disk-spooled tar: memory stays
bounded) and a 4 GB sparse file (over the sync size limit: skipped with a
warning). Warnings at most; every later edit still arrives.

(An unreadable directory is covered at the watcher level in
test_watch_robust.py; these tests run as root, who reads everything.)"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.conftest import BUSYBOX
from tests.live_helpers import DevrunUp, wait_until

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_odd_trees_under_up_warn_at_most_and_edits_keep_arriving(tmp_path, project_name, docker_client):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "sub").mkdir()
    (src / "sub" / "old.txt").write_text("old")
    (src / "thing").write_text("a file for now")
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  app:
    image: {BUSYBOX}
    init: true
    command: {json.dumps(IDLE)}
    stop_grace_period: 1s
    watch:
      - path: src
        action: sync
        target: /src
""")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        c = docker_client.containers.get(f"{project_name}-app")
        rss_start = peak_rss_mb(up.proc.pid)

        def cat(path: str) -> str:
            code, out = c.exec_run(["cat", path])
            return out.decode() if code == 0 else f"<missing: {code}>"

        def edit_arrives(rel: str, text: str) -> None:
            (src / rel).write_text(text)
            wait_until(lambda: cat(f"/src/{rel}") == text, 15, what=f"{rel} synced")

        assert cat("/src/sub/old.txt") == "old"

        # a symlink loop: travels as a link, never followed
        os.symlink("..", src / "a" / "loop")
        edit_arrives("a/x.txt", "after the loop")
        assert c.exec_run(["readlink", "/src/a/loop"]).output.strip() == b".."

        # a watched directory deleted and recreated
        shutil.rmtree(src / "sub")
        (src / "sub").mkdir()
        edit_arrives("sub/new.txt", "recreated")
        wait_until(
            lambda: c.exec_run(["test", "-e", "/src/sub/old.txt"]).exit_code == 1, 10, what="old.txt deleted"
        )

        # a file replaced by a directory
        (src / "thing").unlink()
        (src / "thing").mkdir()
        edit_arrives("thing/inner.txt", "now a dir")

        # 300 MB (under the limit): synced through the spooled tar; memory stays bounded
        with open(src / "big.bin", "wb") as f:
            f.truncate(300 * 2**20)
        wait_until(
            lambda: (
                c.exec_run(["stat", "-c", "%s", "/src/big.bin"]).output.strip() == str(300 * 2**20).encode()
            ),
            60,
            interval=0.2,
            what="300 MB file synced",
        )
        rss_big = peak_rss_mb(up.proc.pid)

        # 4 GB sparse (over the 512 MB limit): skipped with one warning
        with open(src / "huge.bin", "wb") as f:
            f.truncate(4 * 2**30)
        warn = up.wait_for("warning", timeout=15)
        assert any(
            "not syncing" in w["message"] and "huge.bin" in w["message"] and "sync limit" in w["message"]
            for w in warn
        ), warn
        edit_arrives("a/x.txt", "after the huge file")
        assert c.exec_run(["test", "-e", "/src/huge.bin"]).exit_code == 1
        rss_after = peak_rss_mb(up.proc.pid)

        assert up.proc.poll() is None
        assert not up.of("error"), up.of("error")
        assert rss_big < 150 and rss_after < 150, (rss_big, rss_after)
        print(
            f"devrun peak RSS: {rss_start:.0f} MB at ready, {rss_big:.0f} MB after a 300 MB sync, {rss_after:.0f} MB after a 4 GB file"
        )
