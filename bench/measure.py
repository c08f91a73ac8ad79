"""Latency measurement: HTTP polling gated on the engine's event stream.

The trap: a request that reaches the published port while the container is down
leaves an unresolved neighbour entry on the bridge, and the first connection after
the restart waits for the next retry (+0.6-0.7 s). So the poller never sends a
request between a container's kill/die/stop and its next start."""

from __future__ import annotations

import http.client
import math
import statistics
import threading
import time
from dataclasses import dataclass, field

import docker

# signals that stop the app; USR2 (devrun's process restart) and HUP do not
_STOPPING_SIGNALS = {"9", "15", "SIGKILL", "SIGTERM"}
POLL_INTERVAL = 0.005


@dataclass
class EngineEvent:
    ts: float  # local monotonic time when received
    action: str
    container: str
    attributes: dict


@dataclass
class EngineWatch:
    """Follows the engine's container events for one label; keeps the polling gate."""

    label: str
    events: list[EngineEvent] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    _stream: object | None = None

    def start(self, client: docker.DockerClient) -> None:
        self.gate.set()
        self._stream = client.events(decode=True, filters={"label": self.label, "type": "container"})
        threading.Thread(target=self._run, daemon=True, name="engine-events").start()

    def _run(self) -> None:
        try:
            for raw in self._stream:  # type: ignore[union-attr]
                action = raw.get("Action") or raw.get("status") or ""
                attrs = (raw.get("Actor") or {}).get("Attributes") or {}
                self.events.append(EngineEvent(time.monotonic(), action, raw.get("id", ""), attrs))
                if action in ("die", "stop") or (
                    action == "kill" and attrs.get("signal") in _STOPPING_SIGNALS
                ):
                    self.gate.clear()
                elif action == "start":
                    self.gate.set()
        except Exception:  # noqa: BLE001 - the stream ends when closed
            self.gate.set()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()  # type: ignore[attr-defined]
        self.gate.set()

    def count(self, marker: str, since: float) -> int:
        """Engine events whose action starts with `marker` received after `since`."""
        return sum(1 for e in list(self.events) if e.ts >= since and e.action.startswith(marker))


def fetch(port: int, timeout: float = 1.0, host: str = "127.0.0.1") -> str | None:
    """One GET on a fresh connection; None when nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_for(
    port: int, token: str, gate: threading.Event | None, timeout: float, host: str = "127.0.0.1"
) -> float | None:
    """Poll until an answer contains `token`; the monotonic time it arrived, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gate is not None and not gate.wait(timeout=max(0.0, deadline - time.monotonic())):
            return None
        body = fetch(port, timeout=min(1.0, max(0.05, deadline - time.monotonic())), host=host)
        if body is not None and token in body:
            return time.monotonic()
        time.sleep(POLL_INTERVAL)
    return None


def summarize(latencies_ms: list[float | None]) -> dict:
    """min, median, p90, max over the hits; misses are the Nones."""
    hits = sorted(x for x in latencies_ms if x is not None)
    out: dict = {"n": len(latencies_ms), "misses": len(latencies_ms) - len(hits), "samples_ms": latencies_ms}
    if hits:
        p90_index = max(0, math.ceil(0.9 * len(hits)) - 1)
        out.update(
            min_ms=hits[0],
            median_ms=round(statistics.median(hits), 1),
            p90_ms=hits[p90_index],
            max_ms=hits[-1],
        )
    return out
