"""The messages of the `up` loop (devrun.session.runner.Session): what the
engine event thread, signal handlers, timers, the watcher and the workers put
on its queue. Plain frozen data; the loop is their only reader."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExpectStop:
    """A worker is about to stop or restart a container itself (put on the queue
    before the engine call, so it is handled before the container's die event)."""

    container_id: str
    at: float


@dataclass(frozen=True)
class StopRequest:
    signum: int


@dataclass(frozen=True)
class StopDone:
    pass


@dataclass(frozen=True)
class StopNow:
    """In-flight work has settled: stop the containers the loop knows now."""


@dataclass(frozen=True)
class RestartDue:
    service: str
    container_id: str


@dataclass(frozen=True)
class EngineDropped:
    """The engine's event stream ended (engine restarted or gone)."""


@dataclass(frozen=True)
class EngineBack:
    dropped_at: float  # wall clock time the stream ended


@dataclass(frozen=True)
class EngineLost:
    seconds: float


@dataclass(frozen=True)
class WatchBatch:
    """Changed paths for one service (None: devrun's own config files)."""

    service: str | None
    paths: tuple[str, ...]
    rules: dict[int, tuple[str, ...]] = field(default_factory=dict)
    changes: tuple[int, ...] = ()  # change ids (given by the loop when something steers it)
    detected_at: float | None = None  # monotonic time of the batch's first file event
    closed_at: float | None = None  # monotonic time the debouncer let it go
