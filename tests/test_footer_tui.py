"""The status footer of `devrun up` on a real terminal (issue 12): `up` runs
in tmux, the footer is read with `tmux capture-pane`, keys are pressed with
`tmux send-keys`, and their effect is checked on the app: `p` holds an edit
(the app keeps its old answer) and applies it on the second `p`; `r` restarts
the app (its pid changes). No footer with --no-tui. With DEVRUN_SCREENSHOTS=1
the capture is saved as docs/img/footer.txt for the README."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.live_helpers import free_port, wait_until
from tests.test_control_api import get, web_project

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)"),
]
KEYS_LINE = "r restart  b rebuild  p pause/resume"
CAPTURE = (
    Path(__file__).resolve().parent.parent / "docs" / "img" / "footer.txt"
    if os.environ.get("DEVRUN_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "devrun-footer.txt"
)


class Tmux:
    def __init__(self, folder: Path, project: str, *args: str):
        self.name = f"devrun-test-{uuid.uuid4().hex[:8]}"
        self.project = project
        self.folder = folder
        cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "devrun", "up", "-p", project, *args])
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR",)}
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                "110",
                "-y",
                "30",
                f"{cmd}; echo devrun-exited-$?; sleep 600",
            ],
            cwd=folder,
            env={**env, "TERM": "xterm-256color"},
            check=True,
        )

    def screen(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def lines(self) -> list[str]:
        return [x for x in self.screen().splitlines() if x.strip()]

    def press(self, key: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)

    def close(self) -> None:
        self.press("C-c")
        try:
            wait_until(lambda: "devrun-exited-130" in self.screen(), 30, what="up to stop on Ctrl-C")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
            from tests.conftest import devrun

            devrun("-p", self.project, "down", cwd=self.folder)


def test_footer_keys_pause_and_restart(tmp_path, project_name):
    port = free_port()
    web_project(tmp_path, port)
    term = Tmux(tmp_path, project_name)
    try:
        wait_until(lambda: KEYS_LINE in term.screen(), 90, what="the footer")
        wait_until(lambda: get(port, "/handler") == "h0", 30, what="the app")
        footer = term.lines()[-2:]
        assert footer[0].startswith("web ● ") and footer[1].startswith(KEYS_LINE), footer
        # the footer stays at the bottom while logs scroll above it (ready is printed once
        # the footer runs, a moment after it first shows)
        wait_until(lambda: "ready: web" in term.screen(), 10, what="ready above the footer")

        term.press("p")
        wait_until(lambda: "watching paused" in term.lines()[-2], 10, what="paused in the footer")
        (tmp_path / "app/handler.py").write_text('TEXT = "held"\n')
        wait_until(lambda: "applied on resume" in term.screen(), 10, what="the held change")
        time.sleep(1.0)
        assert get(port, "/handler") == "h0"  # held: not applied while paused

        before = get(port, "/pid")
        term.press("r")
        wait_until(lambda: get(port, "/pid") not in ("", before), 30, what="a new pid after r")
        wait_until(lambda: "restart (process)" in term.lines()[-2], 10, what="the restart in the footer")

        term.press("p")  # resume: the held edit is applied, once
        wait_until(lambda: get(port, "/handler") == "held", 30, what="the held edit after resume")
        assert "watching paused" not in term.lines()[-2]
        wait_until(lambda: "signal SIGHUP" in term.lines()[-2], 10, what="the signal in the footer")
        CAPTURE.parent.mkdir(parents=True, exist_ok=True)
        CAPTURE.write_text("\n".join([x for x in term.lines() if "token=" not in x][-8:]) + "\n")

        term.press("s")  # sync all: the whole tree brought level
        wait_until(lambda: "sync" in term.lines()[-2], 20, what="the sync in the footer")
        term.press("?")
        wait_until(lambda: term.lines()[-1].startswith("r: restart a service"), 10, what="the help line")
    finally:
        term.close()
    assert KEYS_LINE not in term.screen()  # the footer is gone at the end


@pytest.mark.parametrize("flag", ["--no-tui", "--json"])
def test_no_footer_with_no_tui_or_json(tmp_path, project_name, flag):
    port = free_port()
    web_project(tmp_path, port)
    term = Tmux(tmp_path, project_name, flag)
    try:
        wait_until(lambda: "ready" in term.screen() and get(port, "/handler") == "h0", 90, what="ready")
        time.sleep(0.5)
        assert KEYS_LINE not in term.screen()
        assert term.lines()[-1].startswith("devrun |" if flag == "--no-tui" else "{")
    finally:
        term.close()
