"""The status footer of `devrun up` on a terminal (issue 12): one or two
lines kept under the scrolling logs, and single keys that steer the run.

    web ● restart 312ms  db ● up  worker ✗ exited with code 1
    r restart  b rebuild  p pause  s sync all  ? help  (Ctrl-C stops)

Every byte the Printer writes goes through `FooterStream`, which lifts the
footer, writes the text and draws the footer again, so logs scroll above it.
Keys are read in cbreak mode (no echo, no line buffering; Ctrl-C still sends
SIGINT, so it stops `up` as before). Only when stdin and stdout are both
terminals and neither --json nor --no-tui is given (cli/run.py decides)."""

from __future__ import annotations

import os
import re
import select
import shutil
import sys
import threading
from typing import Any, TextIO

from devrun.output import CLEAR_LINE

GREEN, RED, YELLOW, DIM, RESET, REVERSE = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[2m", "\x1b[0m", "\x1b[7m"
_SGR = re.compile(r"\x1b\[[0-9;]*m")
KEYS = "r restart  b rebuild  p pause/resume  s sync all  ? help  (Ctrl-C stops)"
HELP = (
    "r: restart a service (asks which)  b: rebuild one (asks which)  p: pause or resume watching  "
    "s: sync every service now  ?: this help  Ctrl-C: stop"
)


def _visible(text: str) -> int:
    return len(_SGR.sub("", text))


def _cut(text: str, width: int) -> str:
    """At most `width` visible characters, colours kept."""
    out, seen, i = [], 0, 0
    while i < len(text) and seen < width:
        m = _SGR.match(text, i)
        if m:
            out.append(m.group())
            i = m.end()
            continue
        out.append(text[i])
        seen += 1
        i += 1
    return "".join(out) + (RESET if "\x1b" in text else "")


class FooterStream:
    """The terminal, with the footer kept at its bottom."""

    def __init__(self, real: TextIO, lines: Any):
        self.real = real
        self._lines = lines  # () -> the footer's lines
        self._lock = threading.RLock()
        self._shown = 0  # footer lines on screen, the cursor at the end of the last
        self._transient = ""  # a line being rewritten in place (a build's progress)
        self.active = True

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.real.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.real, "encoding", "utf-8")

    def _lift(self) -> str:
        """Move to where the footer starts and erase it."""
        up = self._shown - 1 + (1 if self._transient else 0)
        return (f"\x1b[{up}A" if up > 0 else "") + "\r\x1b[J"

    def _draw(self) -> str:
        if not self.active:
            return ""
        width = max(20, shutil.get_terminal_size().columns - 1)
        lines = [_cut(x, width) for x in self._lines()]
        if self._transient:
            lines.insert(0, _cut(self._transient, width))
        self._shown = len(lines) - (1 if self._transient else 0)
        return "\n".join(lines)

    def write(self, text: str) -> int:
        with self._lock:
            if not self.active:
                self.real.write(text)
                return len(text)
            lifted = self._lift()
            while text.startswith(CLEAR_LINE):
                text = text[len(CLEAR_LINE) :]
            if text and not text.endswith("\n"):
                self._transient = text  # redrawn until a whole line replaces it
                body = ""
            else:
                self._transient = ""
                body = text
            self.real.write(lifted + body + self._draw())
            self.real.flush()
        return len(text)

    def flush(self) -> None:
        self.real.flush()

    def redraw(self) -> None:
        self.write("")

    def close_footer(self) -> None:
        with self._lock:
            if self.active:
                self.real.write(self._lift())
                self.real.flush()
                self.active = False


class Footer:
    """Draws the board's state and turns keys into control requests (Steer)."""

    def __init__(self, session: Any, steer: Any, stdin: TextIO | None = None, stdout: TextIO | None = None):
        self.session = session
        self.steer = steer
        self.stdin = stdin or sys.stdin
        self.printer = session.printer
        self._asking: str | None = None  # "restart" | "rebuild": waiting for a service's number
        self._help = False
        self._message = ""
        self._stop = threading.Event()
        self._saved: Any = None
        self.stream = FooterStream(stdout or self.printer.out, self.lines)
        self._err_was = self.printer.err

    # ---- what is shown -----------------------------------------------------------

    def lines(self) -> list[str]:
        snap = self.steer.board.snapshot.data
        parts = []
        for name, s in snap.get("services", {}).items():
            parts.append(f"{name} {self._state(s)}")
        head = "  ".join(parts)
        if snap.get("watch_paused"):
            head += f"  {YELLOW}{REVERSE} watching paused {RESET}"
        if self._asking:
            names = list(snap.get("services", {}))
            choices = "  ".join(f"{i} {n}" for i, n in enumerate(names, 1))
            second = f"{self._asking} which? {choices}  a all  Esc cancel"
        elif self._help:
            second = HELP
        else:
            second = f"{DIM}{KEYS}{RESET}" + (f"  {self._message}" if self._message else "")
        return [head, second]

    def _state(self, s: dict[str, Any]) -> str:
        state = s.get("state")
        last = (s.get("last_actions") or [None])[-1]
        if s.get("busy"):
            return f"{YELLOW}… applying{RESET}"
        if state not in ("running", "paused"):
            why = s.get("last_error") or state
            return f"{RED}✗ {why}{RESET}"
        if s.get("last_error") and last is not None and not last.get("ok", True):
            return f"{RED}✗ {last.get('action')}: {s['last_error']}{RESET}"
        mark = f"{GREEN}●{RESET}" if state == "running" else f"{YELLOW}‖{RESET}"
        if s.get("watch_paused"):
            mark += f"{YELLOW}‖{RESET}"
        if last is None:
            return f"{mark} up"
        return f"{mark} {last.get('action')} {last.get('duration_ms', 0)}ms"

    # ---- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        import termios
        import tty

        fd = self.stdin.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # keys one by one, no echo; ISIG stays: Ctrl-C is SIGINT as before
        self.printer.out = self.stream
        if self.printer.err is sys.stderr and os.isatty(2):
            self.printer.err = self.stream
        self.steer.board.subscribe(lambda _snap: self.stream.redraw())
        self.stream.redraw()
        threading.Thread(target=self._keys, name="footer-keys", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.stream.close_footer()
        if self._saved is not None:
            import termios

            try:
                termios.tcsetattr(self.stdin.fileno(), termios.TCSADRAIN, self._saved)
            except (OSError, ValueError):
                pass
            self._saved = None

    # ---- keys --------------------------------------------------------------------

    def _keys(self) -> None:
        fd = self.stdin.fileno()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if not ready:
                    continue
                data = os.read(fd, 32)
            except OSError:
                return
            if not data:
                return
            for ch in data.decode(errors="replace"):
                self.key(ch)

    def key(self, ch: str) -> None:
        names = list(self.steer.board.snapshot.data.get("services", {}))
        if self._asking:
            kind, self._asking = self._asking, None
            if ch == "a":
                self._send(kind, [])
            elif ch.isdigit() and 1 <= int(ch) <= len(names):
                self._send(kind, [names[int(ch) - 1]])
            else:
                self._say("cancelled")
            return
        if ch in "rb":
            kind = "restart" if ch == "r" else "rebuild"
            if len(names) == 1:
                self._send(kind, names)
            else:
                self._asking = kind
                self.stream.redraw()
        elif ch == "p":
            paused = bool(self.steer.board.snapshot.data.get("watch_paused"))
            self._send("resume" if paused else "pause", [])
        elif ch == "s":
            self._send("sync", [])
        elif ch == "?":
            self._help = not self._help
            self.stream.redraw()
        elif ch == "\x1b":
            self._help = False
            self.stream.redraw()

    def _send(self, kind: str, services: list[str]) -> None:
        fut = self.steer.request(kind, services)

        def done(f: Any) -> None:
            e = f.exception()
            self._say(f"{RED}{kind}: {e}{RESET}" if e else f"{kind}: {', '.join(services) or 'all'}")

        fut.add_done_callback(done)

    def _say(self, message: str) -> None:
        self._message = message
        self.stream.redraw()


def wanted(as_json: bool, no_tui: bool) -> bool:
    """A footer only on a terminal (both ways), never in --json or with --no-tui."""
    if as_json or no_tui or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
