"""Ready again after an action: the healthcheck passes when the service has
one, else a published TCP port accepts and answers, else the process runs
(after a restart: for half a second, so that a new process that exits at once
is a failed restart).

The port is probed on the container's own address (the host port's proxy
accepts even while the app is down), with a `HEAD /` request marked
`User-Agent: devrun-ready`; any answer, even a close or silence, is one, but
a reset (an app going away) only once resets went on for a second (a server
that closes without reading resets every probe). Before a
process restart, `hold` opens a connection to the old app: once the old app
is gone that connection closes, so the old app can never pass for the new."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine

PROBE = b"HEAD / HTTP/1.0\r\nUser-Agent: devrun-ready\r\n\r\n"
STEP = 0.005  # seconds between probes
RESETS = 1.0  # seconds of nothing but resets after which a reset counts as an answer
SETTLE = 0.5  # seconds a restarted process with no port or healthcheck must keep running


_ADDRESSES: dict[str, str] = {}  # container id -> its address, read once (an engine round trip)


def _address(engine: Engine, cid: str, fresh: bool = False) -> str | None:
    if not fresh and cid in _ADDRESSES:
        return _ADDRESSES[cid]
    try:
        addresses = engine.state(cid).addresses
    except Exception:  # noqa: BLE001 - no address: the published port is probed instead
        return None
    if len(_ADDRESSES) > 256:
        _ADDRESSES.clear()
    if addresses:
        _ADDRESSES[cid] = addresses[0]
    return addresses[0] if addresses else None


def targets(engine: Engine, svc: Any, cid: str, fresh: bool = False) -> list[tuple[str, int]]:
    """Where the service's TCP ports answer: the container's address (read
    once per container), else the published port."""
    ports = [p for p in getattr(svc, "ports", ()) if p.protocol == "tcp"]
    if not ports:
        return []
    home = getattr(engine, "home_ports", None)  # a remote engine's ports, forwarded here (session/ports.py)
    if home and home.get(ports[0].published or ports[0].target):
        return [("127.0.0.1", home[ports[0].published or ports[0].target])]
    ip = _address(engine, cid, fresh)
    if ip:
        return [(ip, ports[0].target)]
    p = next((p for p in ports if p.published), None)
    return [("127.0.0.1" if p.host_ip in ("0.0.0.0", "", "::") else p.host_ip, p.published)] if p else []


def answers(addr: tuple[str, int], timeout: float = 1.0) -> bool | None:
    """True: answered (bytes, a close, or silence after accepting); False: not
    accepted; None: reset (the old app going away, its listening socket
    resetting what it still held, or a server that closes without reading)."""
    try:
        s = socket.create_connection(addr, timeout=timeout)
    except ConnectionResetError:
        return None  # accepted, then reset before the connect returned
    except OSError:
        return False
    with s:
        try:
            s.sendall(PROBE)
            s.recv(1)
        except TimeoutError:
            pass  # accepted and silent: a server that waits for its own protocol
        except OSError:
            return None
        return True


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
        with _Watch(engine, svc, cid, where[0]) as watch:
            resets_since = None
            while True:
                got = answers(watch.where, timeout=max(0.1, min(1.0, deadline - time.monotonic())))
                if got is None:  # reset: an app going away, or one that always closes unread
                    resets_since = resets_since or time.monotonic()
                    if time.monotonic() - resets_since > RESETS:
                        break
                else:
                    resets_since = None
                if got:
                    break
                if watch.stopped:
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


class _Watch:
    """While the port is probed every STEP: whether the container still runs,
    asked of the engine in a thread of its own (a round trip takes tens of ms
    under load: the probes must not wait for it), and the address read again
    after a while without an answer (a container restart may move it)."""

    EVERY = 0.25

    def __init__(self, engine: Engine, svc: Any, cid: str, where: tuple[str, int]):
        self.where = where
        self.stopped = False
        self._done = threading.Event()
        self._args = (engine, svc, cid)
        self._thread = threading.Thread(target=self._run, name="ready-watch", daemon=True)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()

    def _run(self) -> None:
        engine, svc, cid = self._args
        rounds = 0
        while not self._done.wait(self.EVERY):
            rounds += 1
            if not _running(engine, cid):
                self.stopped = True
                return
            if rounds % 2 == 0:
                again = targets(engine, svc, cid, fresh=True)
                if again:
                    self.where = again[0]


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
