"""A sync rule whose target is bind-mounted from its own watched folder: the
copy would land on the watched files and be synced again, endlessly. devrun
finds such a rule (bind_echo), skips its sync, and an edit acts once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import BUSYBOX
from tests.live_helpers import IDLE, DevrunUp


def test_bind_echo_finds_a_sync_that_lands_on_its_own_watched_files():
    from devrun.config.model import MountSpec as Mount
    from devrun.session.sync import bind_echo

    bind = [Mount(type="bind", source="/p/www", target="/www")]
    assert bind_echo("/www", ["/p/www"], bind) == "/p/www"
    assert bind_echo("/www/sub", ["/p/www"], bind) == "/p/www/sub"
    assert bind_echo("/www", ["/p"], bind) == "/p/www"  # lands inside the watched tree: still a loop
    assert (
        bind_echo("/www", ["/p/*/src"], [Mount(type="bind", source="/p/a/src", target="/www")]) == "/p/a/src"
    )
    assert bind_echo("/other", ["/p/www"], bind) is None
    assert bind_echo("/www", ["/p/elsewhere"], bind) is None
    assert bind_echo("/www", ["/p/www"], [Mount(type="volume", source="data", target="/www")]) is None


def test_sync_restart_over_a_bind_mount_of_the_same_folder_acts_once(tmp_path: Path, project_name):
    """Each copy landed on the watched host file through the bind mount and
    was synced (and restarted) again: an endless restart loop."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "a").write_text("1")
    (tmp_path / "devrun.yaml").write_text(f"""
services:
  web:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    volumes: ["./www:/www"]
    watch:
      - path: www
        action: sync+restart
        target: /www
""")
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        assert any("bind-mounted" in w["message"] for w in up.of("warning"))
        (tmp_path / "www" / "a").write_text("2")
        up.wait_for("action_finished", timeout=20, service="web", action="restart (process)")
        assert up.settle(quiet=1.5) == 2, up.actions()  # the skipped sync, then one restart
        assert [a["action"] for a in up.actions()] == ["sync (skipped: bind-mounted)", "restart (process)"]
