"""One worker run's change ids and stage times, for "is it live?".

Stages, in ms from the first file event of the batch (`detected`):
`batch_closed` (the debouncer let it go), `applied` (copied, signalled,
restarted or rebuilt), `ready` (healthcheck passes, else the port answers,
else the process runs). A control request (no file event) counts from the
request. `applied` is emitted exactly once per run, even when the run gives up."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from devrun.session import ready

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine

# after a signal: how long to wait for the app's first line, the first time
# (unknown yet whether it prints one) and once it is known to print one
SIGNAL_WORD_FIRST = 0.5
SIGNAL_WORD = 5.0


class RunTrack:
    def __init__(
        self,
        printer: Any,
        service: str,
        changes: frozenset[int] | tuple[int, ...] = (),
        detected_at: float | None = None,
        closed_at: float | None = None,
    ):
        now = time.monotonic()
        self.printer = printer
        self.service = service
        self.changes = sorted(changes)
        self.detected_at = detected_at or closed_at or now
        self.closed_at = closed_at or self.detected_at
        self.applied_at: float | None = None
        self.ready_at: float | None = None
        self.how: str | None = None
        self.hold: ready.Hold | None = None
        self.signalled_at: float | None = None
        self.kinds: set[str] = set()  # the steps run: sync, exec, signal, restart, rebuild (start)
        self.lines: _Lines | None = None
        self._done = False

    def _ms(self, t: float | None) -> int | None:
        return None if t is None else max(0, int((t - self.detected_at) * 1000))

    def stages(self) -> dict[str, int | None]:
        return {
            "detected": 0,
            "batch_closed": self._ms(self.closed_at),
            "applied": self._ms(self.applied_at),
            "ready": self._ms(self.ready_at),
        }

    def fields(self) -> dict[str, Any]:
        """Extra fields of action_started."""
        return {"changes": self.changes}

    def finished_fields(self) -> dict[str, Any]:
        """Extra fields of action_finished (call after the step ended)."""
        self.applied_at = time.monotonic()
        return {"changes": self.changes, "stages": self.stages()}

    def before_signal(self) -> None:
        """Just before the signal is sent: lines from now on are the app's word."""
        self.lines = _lines(self.printer)
        self.signalled_at = time.monotonic()

    def before_restart(self, engine: Engine, svc: Any, cid: str) -> None:
        where = ready.targets(engine, svc, cid)
        # through a forward (a remote engine) the held connection may already reach the new app
        forwarded = bool(getattr(engine, "home_ports", None))
        self.hold = ready.Hold(where[0] if where and not forwarded else None)

    def wait_ready(self, engine: Engine, svc: Any, cid: str) -> tuple[bool, str | None]:
        if self.kinds == {"sync"}:
            # files copied into the running app and nothing restarted: it is as ready as it was
            # (a probe would only hear the app that was already answering)
            self.how, self.ready_at = "process", time.monotonic()
            return True, None
        if self.signalled_at is not None and self.lines is not None:
            self.lines.heard(self.service, self.signalled_at)
        how, ok, error = ready.wait_ready(engine, svc, cid, hold=self.hold)
        self.hold = None
        self.how = how
        if ok:
            self.ready_at = time.monotonic()
        return ok, error

    def finish(self, ok: bool, error: str | None) -> None:
        if self._done:
            return
        self._done = True
        if self.hold is not None:
            self.hold.close()
        self.printer.event(
            "applied",
            service=self.service,
            changes=self.changes,
            ok=ok,
            error=error,
            ready=self.how if ok else None,
            stages=self.stages(),
            edit_to_ready_ms=self._ms(self.ready_at),
        )


class _Lines:
    """When each service last printed a line (a Printer listener), and which
    services are known to print one after a signal (their "reloaded" line)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._last: dict[str, float] = {}
        self._speaks: dict[str, bool] = {}

    def __call__(self, ev: dict[str, Any]) -> None:
        if ev.get("event") == "log" and ev.get("stream") != "build":
            with self._cond:
                self._last[ev.get("service", "")] = time.monotonic()
                self._cond.notify_all()

    def heard(self, service: str, since: float) -> bool:
        """Wait for the service's first line after `since`: up to SIGNAL_WORD_FIRST
        while unknown, SIGNAL_WORD once it spoke after a signal before, not at
        all once it stayed silent."""
        with self._cond:
            speaks = self._speaks.get(service)
            if speaks is False:
                return False
            end = time.monotonic() + (SIGNAL_WORD if speaks else SIGNAL_WORD_FIRST)
            while self._last.get(service, 0.0) <= since:
                left = end - time.monotonic()
                if left <= 0:
                    self._speaks[service] = False
                    return False
                self._cond.wait(left)
            self._speaks[service] = True
            return True


_install = threading.Lock()


def _lines(printer: Any) -> _Lines:
    with _install:
        lines = getattr(printer, "_signal_lines", None)
        if lines is None:
            lines = printer._signal_lines = _Lines()
            # a new list: emitters iterate the one they hold, never a list being changed
            printer.listeners = [*printer.listeners, lines]
        return lines
