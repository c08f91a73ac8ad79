"""Container output and file names cannot steer the terminal or forge devrun's
own lines, and `--json` stays valid UTF-8 JSON whatever bytes a file name holds
(issue 15, item 8). Unit tests of the Printer, then a real `devrun up` in tmux
and under `--json`."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import jsonschema
import pytest

from devrun.output import Printer, human_text, printable_name, terminal_safe
from tests.conftest import BUSYBOX, REPO, devrun
from tests.live_helpers import wait_until

SCHEMA = json.loads((REPO / "docs" / "events.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

SGR = re.compile(r"\x1b\[[0-9;:]*m")
# what may reach a terminal from a container besides SGR colour: nothing that moves,
# clears, titles or overwrites (newline ends a printed line; tab is harmless)
STEERING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

HOSTILE = (
    "\x1b]52;c;aGVsbG8=\x07clip"  # OSC 52: write the clipboard
    "\x1b[2J\x1b[H"  # clear the screen, cursor home
    "\x1b]0;pwned\x07"  # set the window title
    "\x9b2J"  # C1 CSI: clear the screen on terminals that honour 8-bit controls
    "\x00\x08\x7f"
    "junk\rdevrun | web restart done"
)


def steering_left(text: str) -> list[str]:
    """Control characters that survived, SGR colour sequences aside."""
    return STEERING.findall(SGR.sub("", text))


# ---- the neutralising functions ------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text, tabs\tstay", "plain text, tabs\tstay"),
        ("junk\rdevrun | web restart done", "junk\\rdevrun | web restart done"),
        ("\x1b]52;c;aGVsbG8=\x07", "\\x1b]52;c;aGVsbG8=\\x07"),
        ("\x1b]0;pwned\x1b\\", "\\x1b]0;pwned\\x1b\\"),  # OSC ended by ST
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
        ("\x1b[?1049h", "\\x1b[?1049h"),  # alternate screen: not SGR
        ("a\x00b\x08c\x7fd\ne", "a\\x00b\\x08c\\x7fd\\ne"),
        ("\x9b2J\x9d0;t\x9c", "\\x9b2J\\x9d0;t\\x9c"),  # C1 CSI, OSC, ST
        ("caf\xe9 \u2192 ok", "caf\xe9 \u2192 ok"),  # printable non-ASCII is left alone
        ("bad \udcff byte", "bad \\xff byte"),  # undecodable byte, as surrogateescape keeps it
    ],
)
def test_terminal_safe_shows_controls_as_escapes(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown
    assert terminal_safe(raw, keep_colour=True) == shown


def test_terminal_safe_keeps_colour_only_when_asked() -> None:
    coloured = "\x1b[1;32mok\x1b[0m \x1b[38;2;255;0;0mred\x1b[m"
    assert terminal_safe(coloured, keep_colour=True) == coloured
    assert terminal_safe(coloured) == "ok red"
    assert terminal_safe("\x1b[31mred\x1b[2Jx", keep_colour=True) == "\x1b[31mred\\x1b[2Jx"


def test_terminal_safe_returns_clean_text_unchanged() -> None:
    line = "GET /index.html 200 12ms"
    assert terminal_safe(line) is line


def test_printable_name_escapes_every_non_printable_character() -> None:
    assert printable_name("src/app.py") == "src/app.py"
    assert printable_name("src/a\x1b[2Jb.txt") == "src/a\\x1b[2Jb.txt"
    assert printable_name("src/bad\udcff.txt") == "src/bad\\xff.txt"
    assert printable_name("src/evil\u202etxt.exe") == "src/evil\\u202etxt.exe"  # bidi override
    assert printable_name("line\nbreak\ttab") == "line\\nbreak\\ttab"


# ---- the Printer, human mode ------------------------------------------------------


def logged(colour: bool, *lines: str) -> str:
    """What the Printer writes for these lines of service `web`."""
    out = io.StringIO()
    printer = Printer(out=out, err=io.StringIO(), color=colour)
    printer.set_services(["web"])
    for line in lines:
        printer.log("web", "stdout", line)
    return out.getvalue()


def test_printer_without_colour_writes_no_escape_at_all() -> None:
    text = logged(False, "\x1b[32mgreen\x1b[0m " + HOSTILE)
    assert "\x1b" not in text and steering_left(text) == []
    lines = text.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("web    | green \\x1b]52;c;aGVsbG8=\\x07clip\\x1b[2J\\x1b[H")
    assert lines[0].endswith("\\x00\\x08\\x7fjunk\\rdevrun | web restart done")


def test_printer_with_colour_keeps_sgr_and_closes_it() -> None:
    text = logged(True, "\x1b[32mgreen " + HOSTILE)
    assert "\x1b[32mgreen " in text
    assert steering_left(text) == []
    assert "\\x1b]0;pwned\\x07" in text and "junk\\rdevrun" in text
    # the container left its colour open: it ends on its own line, not on the next prefix
    assert text.endswith("\x1b[0m\n")


def test_forged_own_line_stays_inside_the_service_line() -> None:
    text = logged(False, "junk\rdevrun | web: restart done in 1 ms", "x\ndevrun | web: restart done in 1 ms")
    assert [line.startswith("web") for line in text.splitlines()] == [True, True]


@pytest.mark.parametrize("colour", [False, True])
def test_file_names_in_event_lines_are_escaped(colour: bool) -> None:
    out = io.StringIO()
    printer = Printer(out=out, err=io.StringIO(), color=colour)
    paths = ["src/a\x1b]0;pwned\x07.txt", "src/bad\udcff.txt", "src/x\rdevrun | y"]
    printer.event("change", service="web", paths=paths, count=3)
    printer.event(
        "action_finished",
        service="web",
        action="sync",
        paths=paths,
        count=3,
        duration_ms=2,
        ok=False,
        error="tar: \x1b[2Jboom",
    )
    text = out.getvalue()
    assert steering_left(text) == []
    text.encode("utf-8")  # strict: no lone surrogate reaches the terminal
    change, failed = text.splitlines()
    assert "src/a\\x1b]0;pwned\\x07.txt, src/bad\\xff.txt, src/x\\rdevrun | y" in change
    assert "tar: \\x1b[2Jboom" in failed


def test_human_text_escapes_paths() -> None:
    text = human_text("change", {"service": "web", "paths": ["a\x1bb"], "count": 1})
    assert text == "web: 1 changed: a\\x1bb"


def test_container_exited_last_lines_are_neutralised() -> None:
    out = io.StringIO()
    printer = Printer(out=out, err=io.StringIO(), color=True)
    printer.event("container_exited", service="web", exit_code=1, last_lines=["\x1b[2J", "ok\rdevrun | fine"])
    text = out.getvalue()
    assert steering_left(text) == []
    assert "\\x1b[2J" in text and "ok\\rdevrun | fine" in text


def test_a_flood_of_lines_is_fast() -> None:
    """The log path is hot: 100,000 lines, one in ten hostile, well under the time a
    chatty container takes to write them."""
    lines = [HOSTILE if i % 10 == 0 else f"GET /item/{i} 200 3ms" for i in range(100_000)]
    for colour in (False, True):
        out = io.StringIO()
        printer = Printer(out=out, err=io.StringIO(), color=colour)
        started = time.perf_counter()
        for line in lines:
            printer.log("web", "stdout", line)
        took = time.perf_counter() - started
        assert took < 5, f"{took:.2f} s for 100,000 lines (colour={colour})"
        assert out.getvalue().count("\n") == 100_000


# ---- the Printer, --json ---------------------------------------------------------


def json_lines(out: io.StringIO) -> list[dict]:
    text = out.getvalue()
    text.encode("utf-8")  # strict: raises on a lone surrogate
    events = [json.loads(line) for line in text.splitlines()]
    for event in events:
        VALIDATOR.validate(event)
    return events


def test_json_undecodable_bytes_are_escaped_with_raw_bytes_alongside() -> None:
    out = io.StringIO()
    printer = Printer(json_mode=True, out=out, err=io.StringIO())
    printer.log("web", "stdout", "bad \udcff\udcfe byte")
    printer.event("change", service="web", paths=["src/ok.txt", "src/bad\udcff.txt"], count=2)
    printer.event(
        "action_finished",
        service="web",
        action="sync",
        paths=["src/bad\udcff.txt"],
        count=1,
        duration_ms=1,
        ok=False,
        error="cannot copy src/bad\udcff.txt",
    )
    printer.warn("skipped \udcc3")
    log, change, finished, warning = json_lines(out)
    assert log["line"] == "bad \\xff\\xfe byte"
    assert base64.b64decode(log["line_b64"]) == b"bad \xff\xfe byte"
    assert change["paths"] == ["src/ok.txt", "src/bad\\xff.txt"]
    assert [base64.b64decode(p) for p in change["paths_b64"]] == [b"src/ok.txt", b"src/bad\xff.txt"]
    assert finished["error"] == "cannot copy src/bad\\xff.txt"
    assert warning["message"] == "skipped \\xc3"


def test_json_raw_fields_only_when_needed() -> None:
    out = io.StringIO()
    printer = Printer(json_mode=True, out=out, err=io.StringIO())
    printer.log("web", "stdout", "caf\xe9 \x1b[31mred\x1b[0m \r")
    printer.event("change", service="web", paths=["src/caf\xe9.txt"], count=1)
    log, change = json_lines(out)
    assert "line_b64" not in log and "paths_b64" not in change
    assert log["line"] == "caf\xe9 \x1b[31mred\x1b[0m \r"  # JSON escapes controls itself: kept exact
    assert change["paths"] == ["src/caf\xe9.txt"]


def test_json_text_never_carries_a_raw_control_character() -> None:
    out = io.StringIO()
    Printer(json_mode=True, out=out, err=io.StringIO()).log("web", "stdout", HOSTILE)
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


# ---- a real devrun up: tmux for the terminal, a pipe for --json ----------------------

SCRIPT = r"""
echo before-marker
printf '\033]52;c;aGVsbG8=\a'; echo clip
printf '\033[2J\033[H'; echo cleared
printf '\033]0;pwned\a'; echo titled
printf 'junk\rdevrun | web restart done\n'
printf '\033[32mgreen\033[0m\n'
echo after-marker
exec sleep 300
"""

CONFIG = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["sh", "-c", {json.dumps(SCRIPT)}]
    stop_grace_period: 1s
    watch:
      - path: src
        action: sync
        target: /src
"""

ESC_NAME = "evil\x1b[2J\x1b]0;owned\x07.txt"


def devrun_command() -> list[str]:
    """The devrun of this checkout: its venv's script, else this Python's module."""
    script = REPO / ".venv" / "bin" / "devrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "devrun"]


def write_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "devrun.yaml").write_text(CONFIG)
    (folder / "src").mkdir()
    (folder / "src" / "first.txt").write_text("1")
    return folder


class Tmux:
    """A private tmux server (own socket, no user config) running one command."""

    def __init__(self, folder: Path, command: str):
        self.socket = f"devrun-hygiene-{uuid.uuid4().hex[:8]}"
        config = folder.parent / f"{self.socket}.conf"
        # let applications set the clipboard, so that an OSC 52 that got through would show
        config.write_text("set -g set-clipboard on\nset -g remain-on-exit on\n")
        self.run("-f", str(config), "new-session", "-d", "-s", "up", "-x", "200", "-y", "50", command)

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self, colours: bool = False) -> str:
        """The visible pane only (a cleared screen would have lost its earlier lines)."""
        return self.run("capture-pane", "-p", *(["-e"] if colours else []), "-t", "up")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


@pytest.mark.docker
def test_real_terminal_shows_hostile_output_neutralised(
    tmp_path: Path, docker_client, project_name: str
) -> None:
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    folder = write_project(tmp_path / "project")
    argv = [*devrun_command(), "-p", project_name, "up"]
    # colour on (a TTY, NO_COLOR unset): SGR must survive and everything else must not
    command = f"cd {shlex.quote(str(folder))} && env -u NO_COLOR {shlex.join(argv)}"
    tmux = Tmux(tmp_path, command)
    try:
        wait_until(lambda: "after-marker" in tmux.screen(), timeout=90, what="the container's output")
        # unchecked: a screen the container cleared may have lost this line; the asserts say why
        show_up(tmux, "ready:")
        screen, coloured = tmux.screen(), tmux.screen(colours=True)
        lines = screen.splitlines()
        assert any(line.endswith("| before-marker") for line in lines), screen  # never cleared
        assert "\\x1b]52;c;aGVsbG8=\\x07clip" in screen, screen
        assert "\\x1b[2J\\x1b[Hcleared" in screen, screen
        assert "\\x1b]0;pwned\\x07titled" in screen, screen
        assert "junk\\rdevrun | web restart done" in screen, screen
        assert not any(re.match(r"devrun\s*\| web restart done", line) for line in lines), screen
        assert re.search(r"\x1b\[32mgreen", coloured), coloured  # colour kept on a TTY

        (folder / "src" / ESC_NAME).write_text("x")
        show_up(tmux, "1 changed: src/evil")
        time.sleep(0.5)  # let the sync line follow
        screen = tmux.screen()
        assert "before-marker" in screen, screen
        assert "src/evil\\x1b[2J\\x1b]0;owned\\x07.txt" in screen, screen
        title = tmux.run("display-message", "-p", "-t", "up", "#{pane_title}")
        assert "pwned" not in title and "owned" not in title, title
        assert tmux.run("list-buffers").strip() == ""  # no OSC 52 reached tmux's clipboard
    finally:
        tmux.kill()
        devrun("-p", project_name, "down", cwd=folder, timeout=120)


def show_up(tmux: Tmux, text: str, timeout: float = 15) -> None:
    """Wait for text on the screen, but let the caller's asserts report a miss."""
    with contextlib.suppress(AssertionError):
        wait_until(lambda: text in tmux.screen(), timeout=timeout, what=text)


def read_json_stream(proc: subprocess.Popen, sink: list[bytes]) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        sink.append(raw)


def decoded(sink: list[bytes]) -> list[dict]:
    """Every stdout line so far: strict UTF-8, valid JSON (raises otherwise)."""
    return [json.loads(raw.decode("utf-8", "strict")) for raw in list(sink)]


@pytest.mark.docker
def test_real_json_stream_stays_valid_with_hostile_names(
    tmp_path: Path, docker_client, project_name: str
) -> None:
    folder = write_project(tmp_path)
    proc = subprocess.Popen(
        [*devrun_command(), "-p", project_name, "up", "--json"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    sink: list[bytes] = []
    threading.Thread(target=read_json_stream, args=(proc, sink), daemon=True).start()

    def seen(kind: str, **match: object) -> list[dict]:
        return [
            e for e in decoded(sink) if e["event"] == kind and all(e.get(k) == v for k, v in match.items())
        ]

    bad_name = os.fsdecode(b"bad\xff\xfe.txt")
    try:
        wait_until(lambda: seen("log", line="after-marker"), timeout=90, what="the container's output")
        wait_until(lambda: seen("ready"), timeout=30, what="ready")
        (folder / "src" / ESC_NAME).write_text("x")
        (folder / "src" / bad_name).write_text("x")
        changes = wait_until(
            lambda: [e for e in seen("change") if any("bad" in p for p in e["paths"])],
            timeout=30,
            what="the change of the undecodable name",
        )
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        devrun("-p", project_name, "down", cwd=folder, timeout=120)
    events = decoded(sink)
    for event in events:
        VALIDATOR.validate(event)
    lines = [e["line"] for e in events if e["event"] == "log"]
    assert "\x1b]52;c;aGVsbG8=\x07clip" in lines and "junk\rdevrun | web restart done" in lines
    change = changes[0]
    raw_paths = [base64.b64decode(p) for p in change["paths_b64"]]
    assert b"src/bad\xff\xfe.txt" in raw_paths
    assert "src/bad\\xff\\xfe.txt" in change["paths"]
    all_paths = {p for e in events if e["event"] == "change" for p in e["paths"]}
    assert f"src/{ESC_NAME}" in all_paths  # valid UTF-8: exact in paths, JSON escapes the controls
