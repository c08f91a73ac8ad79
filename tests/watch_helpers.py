"""Shared helpers for the watcher tests: a started Watcher and a batch collector."""

from __future__ import annotations

import queue
import time
from contextlib import contextmanager

from devrun.watch.debounce import Batch
from devrun.watch.watcher import Watcher, WatchSpec

QUIET = 0.05


class Collector:
    def __init__(self) -> None:
        self.q: queue.Queue[Batch] = queue.Queue()
        self.warnings: list[str] = []

    def __call__(self, batch: Batch) -> None:
        self.q.put(batch)

    def next(self, timeout: float = 3.0) -> Batch:
        return self.q.get(timeout=timeout)

    def wait_for(self, path, timeout: float = 5.0) -> list[Batch]:
        """Batches up to and including the first that holds `path`."""
        out: list[Batch] = []
        deadline = time.monotonic() + timeout
        while not out or str(path) not in out[-1].paths:
            out.append(self.q.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def settle(self, idle: float = 0.4, timeout: float = 5.0) -> list[Batch]:
        """All batches until none arrived for `idle` seconds."""
        out: list[Batch] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                out.append(self.q.get(timeout=idle))
            except queue.Empty:
                return out
        return out


@contextmanager
def watching(specs: list[WatchSpec], **kwargs):
    c = Collector()
    kwargs.setdefault("quiet", QUIET)
    kwargs.setdefault("drip_quiet", kwargs["quiet"])  # drips have their own tests
    w = Watcher(specs, c, on_warning=c.warnings.append, **kwargs)
    w.start()
    assert w.ready.is_set()
    try:
        yield w, c
    finally:
        w.stop()
