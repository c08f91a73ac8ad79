"""Ready again after an action: the healthcheck passes when the service has
one, else a published TCP port accepts and answers, else the process runs
(after a restart: for half a second, so that a new process that exits at once
is a failed restart).

The port is probed on the container's own address (the host port's proxy
accepts even while the app is down), with a `HEAD /` request marked
`User-Agent: devrun-ready`; any answer, even a close, is one. Before a
process restart, `hold` opens a connection to the old app: once the old app
is gone that connection closes, so the old app can never pass for the new."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine

PROBE = b"HEAD / HTTP/1.0\r\nUser-Agent: devrun-ready\r\n\r\n"
STEP = 0.005  # seconds between probes
SETTLE = 0.5  # seconds a restarted process with no port or healthcheck must keep running


def _address(engine: Engine, cid: str) -> str | None:
    try:
        addresses = engine.state(cid).addresses
    except Exception:  # noqa: BLE001 - no address: the published port is probed instead
        return None
    return addresses[0] if addresses else None


def targets(engine: Engine, svc: Any, cid: str) -> list[tuple[str, int]]:
    """Where the service's TCP ports answer: the container's address, else the published port."""
    ports = [p for p in getattr(svc, "ports", ()) if p.protocol == "tcp"]
    if not ports:
        return []
    ip = _address(engine, cid)
    if ip:
        return [(ip, ports[0].target)]
    p = next((p for p in ports if p.published), None)
    return [("127.0.0.1" if p.host_ip in ("0.0.0.0", "", "::") else p.host_ip, p.published)] if p else []


def answers(addr: tuple[str, int], timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(addr, timeout=timeout) as s:
            s.sendall(PROBE)
            with contextlib.suppress(TimeoutError, OSError):
                s.recv(1)
            return True
    except OSError:
        return False


class Hold:
    """A connection to the app before it restarts; `gone()` once the peer closed it."""

    def __init__(self, addr: tuple[str, int] | None):
        self._sock: socket.socket | None = None
        if addr is None:
            return
        try:
            self._sock = socket.create_connection(addr, timeout=0.5)
        except OSError:
            self._sock = None

    def gone(self, timeout: float) -> bool:
        if self._sock is None:
            return True
        self._sock.settimeout(timeout)
        try:
            while True:
                if not self._sock.recv(4096):
                    return True
        except TimeoutError:
            return False
        except OSError:
            return True
        finally:
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def wait_ready(
    engine: Engine, svc: Any, cid: str, *, hold: Hold | None = None, timeout: float = 30.0
) -> tuple[str, bool, str | None]:
    """(how, ok, error): how is `health`, `port` or `process`."""
    deadline = time.monotonic() + timeout
    hc = getattr(svc, "healthcheck", None)
    if hc is not None and hc.test and not hc.disable:
        while True:
            try:
                if engine.exec(cid, list(hc.test), lambda _s, _l: None) == 0:
                    return "health", True, None
            except Exception:  # noqa: BLE001 - not running (yet): the state decides below
                pass
            if not _running(engine, cid):
                return "health", False, _stopped(engine, cid)
            if time.monotonic() > deadline:
                return "health", False, f"the healthcheck did not pass within {timeout:g}s"
            time.sleep(0.05)
    where = targets(engine, svc, cid)
    if where:
        if hold is not None and not hold.gone(max(0.0, deadline - time.monotonic())):
            return "port", False, "the old process did not end"
        checked = time.monotonic()
        while not answers(where[0], timeout=max(0.1, min(1.0, deadline - time.monotonic()))):
            if time.monotonic() - checked > 0.25:
                checked = time.monotonic()
                if not _running(engine, cid):
                    return "port", False, _stopped(engine, cid)
            if time.monotonic() > deadline:
                return "port", False, f"port {where[0][1]} did not answer within {timeout:g}s"
            time.sleep(STEP)
        return "port", True, None
    if hold is not None:
        hold.close()
        # after a restart, a process with nothing to probe is ready once it has kept running a moment:
        # a new process that exits at once is a failed restart, not a done one
        settle = time.monotonic() + SETTLE
        while time.monotonic() < settle and _running(engine, cid):
            time.sleep(0.05)
    return ("process", True, None) if _running(engine, cid) else ("process", False, _stopped(engine, cid))


def _running(engine: Engine, cid: str) -> bool:
    try:
        return bool(engine.state(cid).running)
    except Exception:  # noqa: BLE001
        return False


def _stopped(engine: Any, cid: str) -> str:
    """Why the service is not ready: its process exited (with its code)."""
    try:
        code = engine.state(cid).exit_code
    except Exception:  # noqa: BLE001 - gone altogether
        return "the container is gone"
    return "the container stopped" if code is None else f"the app exited with code {code}"
