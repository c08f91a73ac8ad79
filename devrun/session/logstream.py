"""Log following: one thread per container stream, printing through the
Printer and keeping the last lines of each service for exit reports."""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING

from devrun.errors import EngineError
from devrun.output import Printer

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine

KEEP_LINES = 10


class LogFollowers:
    def __init__(self, engine: Engine, printer: Printer):
        self.engine = engine
        self.printer = printer
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._last: dict[str, collections.deque[str]] = {}

    def follow(self, service: str, container_id: str, since: float | None) -> None:
        """Stream the container's logs from `since` until it stops."""
        t = threading.Thread(
            target=self._run, args=(service, container_id, since), name=f"logs-{service}", daemon=True
        )
        with self._lock:
            self._threads[container_id] = t
        t.start()

    def following(self, container_id: str) -> bool:
        with self._lock:
            t = self._threads.get(container_id)
        return bool(t and t.is_alive())

    def wait_ended(self, container_id: str, timeout: float) -> None:
        """Wait (bounded) for the container's stream to end: after a die, its
        last lines are then all in last_lines()."""
        with self._lock:
            t = self._threads.get(container_id)
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def last_lines(self, service: str) -> list[str]:
        with self._lock:
            return list(self._last.get(service, ()))

    def _run(self, service: str, container_id: str, since: float | None) -> None:
        with self._lock:
            ring = self._last.setdefault(service, collections.deque(maxlen=KEEP_LINES))
        try:
            for stream, line in self.engine.logs(container_id, follow=True, since=since):
                ring.append(line)
                self.printer.log(service, stream, line)
        except EngineError as e:
            self.printer.warn(f"log stream of {service} ended: {e}")

    def join(self, timeout: float = 1.0) -> None:
        with self._lock:
            threads = list(self._threads.values())
        for t in threads:
            t.join(timeout)
