"""DEVRUN_POLL=1 forces the polling watcher: under a real `devrun up` an
edit is still seen, and acted on once."""

from __future__ import annotations

import json

from tests.conftest import BUSYBOX
from tests.live_helpers import IDLE, DevrunUp, read, wait_until, write_files


def test_forced_polling_detects_changes(tmp_path, project_name):
    write_files(
        tmp_path,
        {
            "devrun.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    volumes: ["./src:/src", "./state:/state"]
    watch:
      - path: src
        action: exec
        exec: cp /src/a.txt /state/out
""",
            "src/a.txt": "0",
            "state/.keep": "",
        },
    )
    with DevrunUp(tmp_path, project_name, env={"DEVRUN_POLL": "1"}) as up:
        # `ready` comes after the watcher started, its first snapshot taken
        up.wait_for("ready", timeout=60)
        (tmp_path / "src/a.txt").write_text("polled")
        wait_until(lambda: read(tmp_path / "state/out") == "polled", 10, what="polled change applied")
        assert up.settle() == 1
