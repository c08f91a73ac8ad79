"""The only writer to the terminal while devrun runs. Thread-safe: log
followers, the runner loop and action workers all print through one Printer.

Human mode: `web  | line` with a padded, coloured prefix; devrun's own lines
as `devrun | ...` (dim). JSON mode: one object per line on stdout with "v",
"ts", "event" and the event's fields; nothing else goes to stdout.

Neither mode lets a container or a file name steer the terminal or break the
stream: container output keeps its SGR colours (only when colour is on) and
shows every other control character as a backslash escape (`\\r`, `\\x1b`);
file names show every non-printable character that way; JSON strings never
carry lone surrogates, and the exact bytes of undecodable `paths` and `line`
travel base64-encoded in `paths_b64` and `line_b64`."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

SCHEMA_VERSION = 1

# event kind -> its fields and their JSON types (for the JSON Schema of --json output)
EVENTS: dict[str, dict[str, str]] = {
    "service_started": {"service": "string", "container": "string"},
    "service_stopped": {"service": "string"},
    "ready": {"services": "array"},
    "change": {
        "service": "string",
        "paths": "array",
        "count": "integer",
        "paths_b64": "array",
        "changes": "array",
        "held": "boolean",
    },
    "action_started": {
        "service": "string",
        "action": "string",
        "paths": "array",
        "count": "integer",
        "paths_b64": "array",
        "changes": "array",
    },
    "action_finished": {
        "service": "string",
        "action": "string",
        "paths": "array",
        "count": "integer",
        "paths_b64": "array",
        "duration_ms": "integer",
        "ok": "boolean",
        "error": "string|null",
        "changes": "array",
        "stages": "object",
    },
    # the edit is live: every step of the run done and the service ready again
    "applied": {
        "service": "string",
        "changes": "array",
        "ok": "boolean",
        "error": "string|null",
        "ready": "string|null",
        "stages": "object",
        "edit_to_ready_ms": "integer|null",
    },
    "log": {"service": "string", "stream": "string", "line": "string", "line_b64": "string"},
    "container_exited": {
        "service": "string",
        "exit_code": "integer",
        "last_lines": "array",
        "restarting": "boolean",
    },
    "config_reloaded": {"services_changed": "array"},
    "error": {"message": "string", "where": "string|null"},
    "warning": {"message": "string"},
    # devrun's own progress lines (building, pulling, creating, restarting)
    "info": {"message": "string"},
}

_COLOURS = ("36", "33", "32", "35", "34", "91", "96", "93", "92", "95", "94")
DIM, RED, YELLOW, RESET = "\x1b[2m", "\x1b[31m", "\x1b[33m", "\x1b[0m"
BOLD = "\x1b[1m"
CLEAR_LINE = "\r\x1b[K"  # back to the line's start and erase it: the build progress line
OWN_PREFIX = "devrun"

# Fields whose exact bytes a consumer may act on (open the file, compare the line):
# when they hold undecodable bytes, `<field>_b64` carries the raw bytes. Only then.
RAW_FIELDS = ("paths", "line")

# C0 controls but tab, DEL, C1 controls, and lone surrogates (bytes that were not
# UTF-8, kept by surrogateescape): what can steer a terminal or break strict UTF-8.
_CONTROL = "\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff"
_UNSAFE = re.compile(f"[{_CONTROL}]")
# an SGR (colour) sequence, matched whole so that it can be kept or dropped, or one unsafe character
_SGR_OR_UNSAFE = re.compile(f"\x1b\\[[0-9;:]*m|[{_CONTROL}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SGR = re.compile("\x1b\\[[0-9;:]*m")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch: str) -> str:
    """One character as a visible backslash escape, the way Python's repr writes
    it; an undecodable byte (a surrogateescape surrogate) as that byte: `\\xff`."""
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def terminal_safe(text: str, keep_colour: bool = False) -> str:
    """Text a program wrote, made harmless to print: SGR colour sequences kept
    (keep_colour) or dropped, every other control character escaped, so no
    cursor move, screen clear, title, clipboard (OSC 52) or `\\r` overwrite
    reaches the terminal. Hot path: one regex scan when nothing needs doing."""
    if not _UNSAFE.search(text):
        return text

    def neutralise(m: re.Match[str]) -> str:
        found = m.group()
        if len(found) > 1:  # a whole SGR sequence
            return found if keep_colour else ""
        return escape_char(found)

    return _SGR_OR_UNSAFE.sub(neutralise, text)


def printable_name(name: str) -> str:
    """A file name for a human line: every non-printable character escaped
    (controls, invisible format characters like bidi overrides, undecodable bytes)."""
    if name.isprintable():
        return name
    return "".join(ch if ch.isprintable() else escape_char(ch) for ch in name)


def _valid_utf8(value: Any) -> Any:
    """The value with every lone surrogate escaped, so the JSON text encodes strictly."""
    if isinstance(value, str):
        return _SURROGATE.sub(lambda m: escape_char(m.group()), value) if _SURROGATE.search(value) else value
    if isinstance(value, list | tuple):
        return [_valid_utf8(v) for v in value]
    if isinstance(value, dict):
        return {_valid_utf8(k): _valid_utf8(v) for k, v in value.items()}
    return value


def _b64(text: str) -> str:
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no decoder made: nothing exact to recover
        raw = text.encode("utf-8", "replace")
    return base64.b64encode(raw).decode("ascii")


def _raw_b64(value: Any) -> str | list[str] | None:
    """Base64 of a RAW_FIELDS value's exact bytes when it holds undecodable ones:
    one string for a string, a list in the same order for a list (every item,
    so that a consumer can use it in place of the field)."""
    if isinstance(value, str):
        return _b64(value) if _SURROGATE.search(value) else None
    if isinstance(value, list | tuple) and any(isinstance(v, str) and _SURROGATE.search(v) for v in value):
        return [_b64(str(v)) for v in value]
    return None


def json_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """An event's fields ready for strict UTF-8 JSON, with `<field>_b64` added where needed."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        out[name] = _valid_utf8(value)
        raw = _raw_b64(value) if name in RAW_FIELDS else None
        if raw is not None:
            out[f"{name}_b64"] = raw
    return out


def want_colour(stream: TextIO, no_color: bool = False) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def timestamp(now: datetime | None = None) -> str:
    """RFC 3339, UTC, milliseconds."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class Printer:
    def __init__(
        self,
        json_mode: bool = False,
        color: bool | None = None,
        quiet: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ):
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.color = want_colour(self.out) if color is None else color
        self.quiet = quiet
        self._lock = threading.Lock()
        self._width = len(OWN_PREFIX)
        self._colours: dict[str, str] = {}
        # on a terminal a build's transcript is one line that keeps changing;
        # the next ordinary line wipes it (a failed build's error quotes its tail)
        self._collapse_builds = not json_mode and hasattr(self.out, "isatty") and self.out.isatty()
        self._progress_shown = False
        # called with each event in its --json shape (any thread; must not block):
        # the running up's event stream and status board
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._awaiting: dict[str, dict[str, Any]] = {}  # service -> its restart's action_finished

    def set_services(self, services: list[str]) -> None:
        """Fix prefix width and colours up front so columns line up."""
        with self._lock:
            self._width = max([len(OWN_PREFIX), *map(len, services)])
            for i, name in enumerate(services):
                self._colours.setdefault(name, _COLOURS[i % len(_COLOURS)])

    # ---- the two entry points -----------------------------------------------

    def _tell(self, kind: str, fields: dict[str, Any]) -> None:
        obj = {"v": SCHEMA_VERSION, "ts": timestamp(), "event": kind, **json_fields(fields)}
        for listener in self.listeners:
            listener(obj)

    def log(self, service: str, stream: str, line: str) -> None:
        if self.listeners:
            self._tell("log", {"service": service, "stream": stream, "line": line})
        if self.json_mode:
            self._json("log", {"service": service, "stream": stream, "line": line})
            return
        if self.quiet and stream == "build":
            return  # a build's transcript is progress; a failing build still reports its step and tail
        if stream == "build" and self._collapse_builds:
            self._progress(self._prefix(service), terminal_safe(line, keep_colour=False))
            return
        text = terminal_safe(line, keep_colour=self.color)
        if self.color and "\x1b" in text:
            text += RESET  # a colour the line left open ends with it, not on the next prefix
        self._line(self.out, self._prefix(service), text)

    def event(self, kind: str, **fields: Any) -> None:
        if kind not in EVENTS:
            raise ValueError(f"unknown event kind {kind!r}")
        if self.listeners:
            self._tell(kind, fields)
        if self.json_mode:
            self._json(kind, fields)
            return
        if kind in ("action_finished", "applied"):
            fields = self._verdict(kind, fields)
            if fields is None:
                return
            kind = "action_finished"
        text = human_text(kind, fields)
        failure = is_failure(kind, fields)
        # no quiet mode hides a failure (or a warning, or a container exiting)
        if text is None or (self.quiet and not failure and kind not in ("warning", "container_exited")):
            return
        stream = self.err if kind == "error" else self.out
        style = self._failure_style(stream) if failure else YELLOW if kind == "warning" else DIM
        # messages may quote a container's output or an engine's answer
        self._line(stream, self._own_prefix(), terminal_safe(text), style)
        for extra in fields.get("last_lines") or ():
            self._line(stream, self._own_prefix(), f"  {terminal_safe(str(extra))}", style)

    def _verdict(self, kind: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """A restart or signal is done only once the app is ready again: its
        human line waits for `applied`, which turns it into a failure when the
        new process exited at once. None: nothing to print yet (or at all)."""
        service = fields.get("service", "")
        if kind == "action_finished":
            action = str(fields.get("action", ""))
            waits = (
                fields.get("ok", True) and fields.get("changes") and action.startswith(("restart", "signal"))
            )
            if not waits:
                return fields
            with self._lock:
                self._awaiting[service] = fields
            return None
        with self._lock:
            finished = self._awaiting.pop(service, None)
        if finished is None:
            return None  # a sync's or exec's own line said it all, failure or not
        if fields.get("ok", True):
            ready_ms = fields.get("edit_to_ready_ms")
            took = f"{finished.get('duration_ms', 0)} ms" + (
                f", ready {ready_ms} ms after the {'save' if finished.get('paths') else 'request'}"
                if ready_ms
                else ""
            )
            return {**finished, "took": took}
        return {**finished, "ok": False, "error": fields.get("error") or "the app did not come back"}

    def info(self, message: str) -> None:
        self.event("info", message=message)

    def warn(self, message: str) -> None:
        self.event("warning", message=message)

    def error(self, message: str, where: str | None = None) -> None:
        self.event("error", message=message, where=where)

    # ---- formatting -----------------------------------------------------------

    def _prefix(self, service: str) -> str:
        label = f"{service:<{self._width}} |"
        if not self.color:
            return label
        colour = self._colours.setdefault(service, _COLOURS[len(self._colours) % len(_COLOURS)])
        return f"\x1b[{colour}m{label}{RESET}"

    def _own_prefix(self) -> str:
        return f"{OWN_PREFIX:<{self._width}} |"

    def _failure_style(self, stream: TextIO) -> str:
        """Failures stand out: red, or bold on a terminal without colour (NO_COLOR
        forbids colour, not weight); plain text when not on a terminal."""
        if self.color:
            return RED + BOLD
        return BOLD if hasattr(stream, "isatty") and stream.isatty() else ""

    def _progress(self, prefix: str, text: str) -> None:
        room = max(10, shutil.get_terminal_size().columns - len(_SGR.sub("", prefix)) - 2)
        line = f"{CLEAR_LINE}{prefix} {text[:room]}"
        with self._lock:
            try:
                self.out.write(line)
                self.out.flush()
                self._progress_shown = True
            except (BrokenPipeError, ValueError):
                pass

    def _line(self, stream: TextIO, prefix: str, text: str, style: str = "") -> None:
        if style and (self.color or style == BOLD):
            line = f"{style}{prefix} {text}{RESET}\n"
        else:
            line = f"{prefix} {text}\n"
        with self._lock:
            try:
                if self._progress_shown:
                    self.out.write(CLEAR_LINE)
                    self.out.flush()
                    self._progress_shown = False
                stream.write(line)
                stream.flush()
            except (BrokenPipeError, ValueError):
                pass

    def _json(self, kind: str, fields: dict[str, Any]) -> None:
        obj = {"v": SCHEMA_VERSION, "ts": timestamp(), "event": kind, **json_fields(fields)}
        text = json.dumps(obj, default=str, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.out.write(text)
                self.out.flush()
            except (BrokenPipeError, ValueError):
                pass


def _paths(fields: dict[str, Any]) -> str:
    paths = list(fields.get("paths") or [])
    count = fields.get("count", len(paths))
    shown = ", ".join(printable_name(str(p)) for p in paths[:3])
    return shown + (f" (+{count - 3} more)" if count > 3 else "")


def is_failure(kind: str, f: dict[str, Any]) -> bool:
    """An error, a failed action or a container that exited non-zero."""
    return (
        kind == "error"
        or (kind == "action_finished" and not f.get("ok", True))
        or (kind == "container_exited" and f.get("exit_code") not in (0, None))
    )


def human_text(kind: str, f: dict[str, Any]) -> str | None:
    """One human line per event (None: nothing to say in human mode)."""
    match kind:
        case "service_started":
            return f"{f['service']} started ({str(f.get('container', ''))[:12]})"
        case "service_stopped":
            return f"{f['service']} stopped"
        case "ready":
            return f"ready: {', '.join(f.get('services') or [])}"
        case "change":
            held = " (watching paused: applied on resume)" if f.get("held") else ""
            return f"{f['service']}: {f.get('count', 0)} changed: {_paths(f)}{held}"
        case "action_started" | "applied":
            return None  # one human line per action: the finished one says it all
        case "action_finished":
            took = f.get("took") or f"{f.get('duration_ms', 0)} ms"
            if f.get("ok", True):
                # a control request (a key, the dashboard, `devrun restart`) has no paths
                return f"{f['service']}: {f['action']} done in {took}" + (
                    f" ({_paths(f)})" if f.get("paths") else ""
                )
            return (
                f"{f['service']}: {f['action']} failed after {took} ({_paths(f)}): {f.get('error')}; "
                "fix it and save again"
            )
        case "container_exited":
            if f.get("exit_code") in (0, None):
                return f"{f['service']} exited with code {f['exit_code']}"
            if f.get("restarting"):
                return (
                    f"{f['service']} CRASHED: exited with code {f['exit_code']}; "
                    "its restart policy starts it again; save a fix"
                )
            return (
                f"{f['service']} CRASHED: exited with code {f['exit_code']}; "
                f"save a fix, or `devrun restart {f['service']}` starts it again"
            )
        case "config_reloaded":
            changed = f.get("services_changed") or []
            return f"config reloaded; changed: {', '.join(changed) or 'nothing'}"
        case "error":
            return f"error: {f['message']}" + (f" ({f['where']})" if f.get("where") else "")
        case "warning":
            return f"warning: {f['message']}"
        case "info":
            return str(f["message"])
        case "log":
            return f"{f['service']}: {f['line']}"
    return None
