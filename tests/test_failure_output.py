"""Failures stand out: a failed rebuild, a crash after a restart and a failed
sync are always printed (quiet or not), in red on a colour terminal, bold on a
colourless one, with the next step; and "done" never appears for an action
that failed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devrun.output import BOLD, RED, Printer
from tests.conftest import BUSYBOX
from tests.live_helpers import wait_until


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


FAILURES = [
    (
        "action_finished",
        {
            "service": "web",
            "action": "rebuild",
            "paths": ["Dockerfile"],
            "count": 1,
            "duration_ms": 900,
            "ok": False,
            "error": "build failed at Step 2/3: RUN false",
        },
    ),
    (
        "action_finished",
        {
            "service": "web",
            "action": "sync",
            "paths": ["a.txt"],
            "count": 1,
            "duration_ms": 4,
            "ok": False,
            "error": "read-only file system",
        },
    ),
    ("container_exited", {"service": "web", "exit_code": 1, "last_lines": ["Traceback", "boom"]}),
    ("error", {"message": "service web: cannot start", "where": None}),
]


@pytest.mark.parametrize("quiet", [False, True], ids=["normal", "quiet"])
@pytest.mark.parametrize("kind, fields", FAILURES, ids=[f"{k}-{f.get('action', '')}" for k, f in FAILURES])
def test_a_failure_is_red_and_never_hidden(kind, fields, quiet):
    out, err = Tty(), Tty()
    Printer(color=True, quiet=quiet, out=out, err=err).event(kind, **fields)
    text = out.getvalue() + err.getvalue()
    assert text.strip(), "a failure must always be printed"
    assert all(line.startswith(RED) for line in text.splitlines()), text
    assert " done in " not in text
    # what failed and one next step
    assert ("failed" in text or "CRASHED" in text or "error" in text) and (
        "save" in text or "error:" in text
    ), text


@pytest.mark.parametrize("kind, fields", FAILURES, ids=[f"{k}-{f.get('action', '')}" for k, f in FAILURES])
def test_without_colour_a_failure_is_bold_on_a_terminal_and_plain_in_a_pipe(kind, fields):
    tty_out, tty_err = Tty(), Tty()
    Printer(color=False, quiet=True, out=tty_out, err=tty_err).event(kind, **fields)
    assert (tty_out.getvalue() + tty_err.getvalue()).startswith(BOLD)
    assert "\x1b[3" not in tty_out.getvalue() + tty_err.getvalue()  # no colour
    pipe_out, pipe_err = io.StringIO(), io.StringIO()
    Printer(color=False, quiet=True, out=pipe_out, err=pipe_err).event(kind, **fields)
    text = pipe_out.getvalue() + pipe_err.getvalue()
    assert text.strip() and "\x1b" not in text


def test_quiet_hides_success_and_build_transcript_but_not_failure():
    out = io.StringIO()
    p = Printer(color=False, quiet=True, out=out, err=out)
    p.event(
        "action_finished",
        service="web",
        action="restart",
        paths=["a"],
        count=1,
        duration_ms=3,
        ok=True,
        error=None,
    )
    p.log("web", "build", "Step 1/3 : FROM busybox")
    p.event("container_exited", service="web", exit_code=2, last_lines=[])
    assert out.getvalue().splitlines() == [
        "devrun | web CRASHED: exited with code 2; save a fix, or `devrun restart web` starts it again"
    ]


# one service per failure: each one's worker is on its own
CONFIG = f"""\
services:
  built:
    build: .
    command: ["sleep", "3600"]
    watch:
      - path: Dockerfile
        action: rebuild
  synced:
    image: {BUSYBOX}
    command: ["sleep", "3600"]
    volumes:
      - ./ro:/ro:ro
    watch:
      - path: sync
        action: sync
        target: /ro/sync
  crashy:
    image: {BUSYBOX}
    command: ["sh", "-c", "if grep -q crash /src/code.txt; then echo crashing; exit 1; fi; echo up; sleep 3600"]
    volumes:
      - ./src:/src
    watch:
      - path: src/code.txt
        action: restart
"""


class HumanUp:
    """`devrun [--quiet] up --no-color` with stdout and stderr collected as lines."""

    def __init__(self, folder: Path, project: str, quiet: bool):
        argv = [
            sys.executable,
            "-m",
            "devrun",
            *(["--quiet"] if quiet else []),
            "up",
            "--no-color",
            "-p",
            project,
        ]
        self.proc = subprocess.Popen(
            argv,
            cwd=folder,
            env={**os.environ, "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> str:
        return wait_until(
            lambda: next((line for line in self.lines if text in line), None),
            timeout,
            what=f"{text!r} in {self.lines[-20:]}",
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.mark.docker
@pytest.mark.parametrize("quiet", [False, True], ids=["normal", "quiet"])
def test_failed_rebuild_sync_and_crash_are_printed(tmp_path, project_name, quiet):
    (tmp_path / "devrun.yaml").write_text(CONFIG)
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\n")
    for d in ("src", "ro", "sync"):
        (tmp_path / d).mkdir()
    (tmp_path / "src/code.txt").write_text("ok")
    up = HumanUp(tmp_path, project_name, quiet)
    try:
        up.wait_for("crashy" if quiet else "ready")
        time.sleep(0.5)
        # a failed rebuild
        (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN false\n")
        failed_rebuild = up.wait_for("rebuild failed after", timeout=90)
        assert "save again" in failed_rebuild
        # a failed sync: the target is on a read-only mount
        (tmp_path / "sync/a.txt").write_text("x")
        failed_sync = up.wait_for("sync failed after")
        assert "save again" in failed_sync
        # a crash after a restart: the new code exits at once
        (tmp_path / "src/code.txt").write_text("crash")
        crash = up.wait_for("CRASHED", timeout=60)
        assert "exited with code 1" in crash and "devrun restart crashy" in crash
        # the restart itself is a failed restart, never "done"
        failed_restart = up.wait_for("crashy: restart", timeout=30)
        assert "failed" in failed_restart and "exited with code 1" in failed_restart, failed_restart
        shown = "\n".join(up.lines)
        assert not any(("sync done" in line or "rebuild done" in line) for line in up.lines), shown
        assert not any(("crashy: restart" in line and "done" in line) for line in up.lines), shown
        if quiet:
            assert "Step 1/" not in shown  # no build transcript in quiet mode
    finally:
        up.stop()
        subprocess.run(
            [sys.executable, "-m", "devrun", "down", "-t", "1", "-p", project_name],
            cwd=tmp_path,
            capture_output=True,
        )
        subprocess.run(["docker", "rmi", "-f", f"{project_name}-built"], capture_output=True)


@pytest.mark.docker
@pytest.mark.parametrize("quiet", [False, True], ids=["normal", "quiet"])
def test_restart_whose_process_exits_at_once_is_a_failed_restart(tmp_path, project_name, quiet):
    (tmp_path / "devrun.yaml").write_text(
        f"name: {project_name}\nservices:\n  app:\n    image: {BUSYBOX}\n"
        '    command: ["sh", "-c", "if [ -f /tmp/started ]; then echo dying now; exit 3; fi; '
        'touch /tmp/started; exec sleep 3600"]\n'
    )
    env = {**os.environ, "NO_COLOR": "1"}
    run = [sys.executable, "-m", "devrun", *(["--quiet"] if quiet else [])]
    up = subprocess.run(
        [*run, "up", "-d"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert up.returncode == 0, up.stderr
    result = subprocess.run(
        [*run, "restart", "app"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "restart of app failed: it exited with code 3" in result.stderr
    assert "dying now" in result.stderr and "Traceback" not in result.stderr
    assert "restarted app" not in result.stdout + result.stderr
