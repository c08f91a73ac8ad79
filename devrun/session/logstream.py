"""Log following: one thread per container stream. `LogFollowers` serves the
`up` loop (printing through the Printer, keeping the last lines of each service
for exit reports); `LogStreams` serves `devrun logs` (tail, since, until, and
with -f picking a service up again when its container, or the one that replaced
it, runs again, as compose does)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
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
            # a stream (re)started after a start: the next exit reports only this run's lines
            ring.clear()
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


class LogStreams:
    """The services' logs for `devrun logs`, each line handed to `emit(service, stream, line)`."""

    def __init__(
        self,
        engine: Engine,
        project: str,
        emit: Callable[[str, str, str], None],
        *,
        tail: int | str = "all",
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ):
        self.engine, self.project, self.emit = engine, project, emit
        self.tail, self.since, self.until, self.timestamps = tail, since, until, timestamps

    def show(self, containers: list[tuple[str, str]], *, follow: bool) -> None:
        """Each (service, container id) in turn; with `follow`, all at once until they are gone."""
        if not follow:
            for service, cid in containers:
                self._one(service, cid, follow=False)
            return
        threads = [
            threading.Thread(target=self._one, args=(service, cid), kwargs={"follow": True}, daemon=True)
            for service, cid in containers
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(0.2)

    def _one(self, service: str, cid: str | None, *, follow: bool) -> None:
        resume: float | None = None
        while cid is not None:
            for stream, line in self.engine.logs(
                cid,
                follow=follow,
                tail=self.tail if resume is None else "all",
                since=self.since if resume is None else resume,
                until=self.until,
                timestamps=self.timestamps,
            ):
                self.emit(service, stream, line)
            if not follow or self.until is not None:
                return
            # the engine ends a follow when the container stops: pick it up again
            # when it (or the container that replaced it) runs
            resume = time.time()
            cid = self._next_running(service)

    def _next_running(self, service: str, poll: float = 0.25) -> str | None:
        """The id of the service's container once it runs; None once it has none."""
        while True:
            mine = [o for o in self.engine.project_containers(self.project) if o.service == service]
            if not mine:
                return None
            running = [o for o in mine if o.state == "running"]
            if running:
                return running[0].id
            time.sleep(poll)
