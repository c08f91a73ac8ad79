"""The only writer to the terminal while devrun runs. Thread-safe: log
followers, the runner loop and action workers all print through one Printer.

Human mode: `web  | line` with a padded, coloured prefix; devrun's own lines
as `devrun | ...` (dim). JSON mode: one object per line on stdout with "v",
"ts", "event" and the event's fields; nothing else goes to stdout."""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

SCHEMA_VERSION = 1

# event kind -> its fields and their JSON types (for the JSON Schema of --json output)
EVENTS: dict[str, dict[str, str]] = {
    "service_started": {"service": "string", "container": "string"},
    "service_stopped": {"service": "string"},
    "ready": {"services": "array"},
    "change": {"service": "string", "paths": "array", "count": "integer"},
    "action_started": {"service": "string", "action": "string", "paths": "array", "count": "integer"},
    "action_finished": {
        "service": "string",
        "action": "string",
        "paths": "array",
        "count": "integer",
        "duration_ms": "integer",
        "ok": "boolean",
        "error": "string|null",
    },
    "log": {"service": "string", "stream": "string", "line": "string"},
    "container_exited": {"service": "string", "exit_code": "integer", "last_lines": "array"},
    "config_reloaded": {"services_changed": "array"},
    "error": {"message": "string", "where": "string|null"},
    "warning": {"message": "string"},
    # devrun's own progress lines (building, pulling, creating, restarting)
    "info": {"message": "string"},
}

_COLOURS = ("36", "33", "32", "35", "34", "91", "96", "93", "92", "95", "94")
DIM, RED, YELLOW, RESET = "\x1b[2m", "\x1b[31m", "\x1b[33m", "\x1b[0m"
OWN_PREFIX = "devrun"


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

    def set_services(self, services: list[str]) -> None:
        """Fix prefix width and colours up front so columns line up."""
        with self._lock:
            self._width = max([len(OWN_PREFIX), *map(len, services)])
            for i, name in enumerate(services):
                self._colours.setdefault(name, _COLOURS[i % len(_COLOURS)])

    # ---- the two entry points -----------------------------------------------

    def log(self, service: str, stream: str, line: str) -> None:
        if self.json_mode:
            self._json("log", {"service": service, "stream": stream, "line": line})
            return
        self._line(self.out, self._prefix(service), line)

    def event(self, kind: str, **fields: Any) -> None:
        if kind not in EVENTS:
            raise ValueError(f"unknown event kind {kind!r}")
        if self.json_mode:
            self._json(kind, fields)
            return
        text = human_text(kind, fields)
        if text is None or (self.quiet and kind not in ("error", "warning", "container_exited")):
            return
        style = RED if kind == "error" else YELLOW if kind == "warning" else DIM
        stream = self.err if kind == "error" else self.out
        self._line(stream, self._own_prefix(), text, style)
        for extra in fields.get("last_lines") or ():
            self._line(stream, self._own_prefix(), f"  {extra}", style)

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

    def _line(self, stream: TextIO, prefix: str, text: str, style: str = "") -> None:
        if self.color and style:
            line = f"{style}{prefix} {text}{RESET}\n"
        else:
            line = f"{prefix} {text}\n"
        with self._lock:
            try:
                stream.write(line)
                stream.flush()
            except (BrokenPipeError, ValueError):
                pass

    def _json(self, kind: str, fields: dict[str, Any]) -> None:
        obj = {"v": SCHEMA_VERSION, "ts": timestamp(), "event": kind, **fields}
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
    shown = ", ".join(paths[:3])
    return shown + (f" (+{count - 3} more)" if count > 3 else "")


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
            return f"{f['service']}: {f.get('count', 0)} changed: {_paths(f)}"
        case "action_started":
            return None  # one human line per action: the finished one says it all
        case "action_finished":
            took = f"{f.get('duration_ms', 0)} ms"
            if f.get("ok", True):
                return f"{f['service']}: {f['action']} done in {took} ({_paths(f)})"
            return f"{f['service']}: {f['action']} failed after {took} ({_paths(f)}): {f.get('error')}"
        case "container_exited":
            return f"{f['service']} exited with code {f['exit_code']}"
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
