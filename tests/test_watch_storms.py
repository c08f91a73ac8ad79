"""A storm of edits under a real `devrun up`: 2,000 new files become one or
two actions, every file arrives in the container, and the next edit still
works."""

from __future__ import annotations

import json

from tests.conftest import BUSYBOX
from tests.live_helpers import IDLE, DevrunUp, exec_out, wait_until, write_files


def test_storm_of_2000_files_is_one_or_two_actions_and_all_arrive(tmp_path, project_name, docker_client):
    write_files(
        tmp_path,
        {
            "devrun.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    watch:
      - path: gen
        action: sync
        target: /gen
""",
            "gen/.keep": "",
        },
    )
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        up.settle()
        for i in range(2000):
            (tmp_path / "gen" / f"f{i:04d}.txt").write_text(str(i))
        n = up.settle(quiet=1.0, timeout=60)
        assert 1 <= n <= 2, up.actions()
        count = exec_out(docker_client, f"{project_name}-app", "sh", "-c", "ls -A /gen | wc -l").strip()
        assert count == "2001"  # .keep too
        assert exec_out(docker_client, f"{project_name}-app", "cat", "/gen/f1999.txt") == "1999"
        # the next edit still works
        (tmp_path / "gen" / "f0000.txt").write_text("after")
        wait_until(
            lambda: exec_out(docker_client, f"{project_name}-app", "cat", "/gen/f0000.txt") == "after", 10
        )
