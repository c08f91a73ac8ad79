"""Ports come home (issue 13): on an engine that does not see this machine,
each published tcp port of the project is served on this machine's 127.0.0.1,
at the same port or, when that one is taken, a free one (`up` says which).

Each connection is forwarded over the engine connection itself
(engine/tunnel.py). The container is looked up again for every new connection
(by the project's and service's labels), so a forward survives restarts and
recreates; a failed lookup is retried for a few seconds (a restart in
progress). The forwards are listed in `ps` through a small file beside the
up's control socket."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from devrun.errors import EngineError

RESOLVE_FOR = 15.0  # seconds a new connection waits for its container to run again


@dataclass(frozen=True)
class Forward:
    service: str
    target: int  # the container's port
    local_port: int  # on this machine's 127.0.0.1
    published: int | None  # as the config asks (on the engine's machine)


def forwards_file(project: str) -> Path:
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/devrun-{os.getuid()}")
    return base / "devrun" / f"{project}.forwards.json"


def read_forwards(project: str) -> list[Forward]:
    """The forwards a running `up` of the project serves (for ps)."""
    try:
        data = json.loads(forwards_file(project).read_text())
        pid = int(data.get("pid", 0))
        os.kill(pid, 0)
    except (OSError, ValueError, TypeError):
        return []
    return [Forward(**f) for f in data.get("forwards", [])]


def _pump(src, dst_send, on_eof) -> None:
    with contextlib.suppress(OSError, EOFError, EngineError, Exception):
        while True:
            data = src()
            if not data:
                break
            dst_send(data)
    on_eof()


def _reset(conn: socket.socket) -> None:
    """Close with a reset, as a port nothing listens on answers (ready probes
    tell that from an app that answered)."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


def _stop_listening(sock: socket.socket) -> None:
    """Close a listener now: on Linux a close alone leaves the port open while
    its accept thread waits in accept(); a shutdown wakes that thread first."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class PortForwards:
    def __init__(self, engine, project: str, printer):
        self.engine = engine
        self.project = project
        self.printer = printer
        self.forwards: list[Forward] = []
        self._listeners: dict[Forward, socket.socket] = {}
        self._closed = threading.Event()
        self._found: dict[int, tuple] = {}  # local port -> the last lookup that worked

    # ---- set-up ---------------------------------------------------------------

    def start(self, cfg, services: list[str]) -> None:
        """A listener for each published tcp port of `services` (once per port)."""
        have = {(f.service, f.target) for f in self.forwards}
        for name, target, published in self._wanted(cfg, services):
            if (name, target) not in have:
                have.add((name, target))
                self._listen(name, target, published)
        self._save()

    def update(self, cfg, services: list[str]) -> None:
        """After a config reload: forwards for the ports it publishes now, and
        those it no longer publishes (or publishes elsewhere) closed."""
        wanted = self._wanted(cfg, services)
        for fwd in [f for f in self.forwards if (f.service, f.target, f.published) not in wanted]:
            self.forwards.remove(fwd)
            _stop_listening(self._listeners.pop(fwd))
            self._found.pop(fwd.local_port, None)
            (getattr(self.engine, "home_ports", None) or {}).pop(fwd.published or fwd.target, None)
            self.printer.info(
                f"{fwd.service}: 127.0.0.1:{fwd.local_port} closed (port {fwd.target} is no longer published)"
            )
        self.start(cfg, services)

    @staticmethod
    def _wanted(cfg, services: list[str]) -> dict[tuple[str, int, int | None], None]:
        """(service, target, published) of each published tcp port, in order."""
        return {
            (name, p.target, p.published): None
            for name in services
            if name in cfg.project.services
            for p in cfg.project.services[name].ports
            if p.protocol == "tcp"
        }

    def _listen(self, service: str, target: int, published: int | None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        wanted = published or target
        try:
            sock.bind(("127.0.0.1", wanted))
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        fwd = Forward(service, target, port, published)
        self._listeners[fwd] = sock
        self.forwards.append(fwd)
        # ready probes (session/ready.py) reach the app here, not at its address on the remote side
        home = getattr(self.engine, "home_ports", None) or {}
        home[wanted] = port
        self.engine.home_ports = home
        taken = "" if port == wanted else f" ({wanted} is taken here)"
        self.printer.info(
            f"{service}: 127.0.0.1:{port}{taken} -> port {target} on the engine at {self.engine.where}"
        )
        threading.Thread(target=self._accept, args=(sock, fwd), name=f"forward-{port}", daemon=True).start()

    def _save(self) -> None:
        path = forwards_file(self.project)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pid": os.getpid(), "forwards": [asdict(f) for f in self.forwards]}))
            tmp.replace(path)

    def close(self) -> None:
        self._closed.set()
        for sock in self._listeners.values():
            _stop_listening(sock)
        with contextlib.suppress(OSError):
            forwards_file(self.project).unlink()

    # ---- connections --------------------------------------------------------------

    def _accept(self, sock: socket.socket, fwd: Forward) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, fwd), daemon=True).start()

    def _resolve(self, fwd: Forward, fresh: bool = False):
        """(container id, host ip, host port) of the service's running container:
        the last answer while it works (a lookup is two round trips to the
        engine, paid on every new connection otherwise), looked up again when
        `fresh` (the last answer failed: restarted, recreated, moved)."""
        cached = self._found.get(fwd.local_port)
        if cached and not fresh:
            return cached
        found = self._lookup(fwd)
        if found is not None:
            self._found[fwd.local_port] = found
        return found

    def _lookup(self, fwd: Forward):
        from devrun import labels

        deadline = time.monotonic() + RESOLVE_FOR
        while True:
            try:
                for o in self.engine.project_containers(self.project):
                    if o.service != fwd.service or o.state != "running":
                        continue
                    state = self.engine.state(o.id)
                    if not state.running or state.labels.get(labels.ONEOFF):
                        continue
                    bound = [p for p in state.ports if p.target == fwd.target and p.protocol == "tcp"]
                    b = bound[0] if bound else None
                    return o.id, b.host_ip if b else "", b.host_port if b else None
            except EngineError:
                pass
            if time.monotonic() > deadline or self._closed.is_set():
                return None
            time.sleep(0.2)

    def _serve(self, conn: socket.socket, fwd: Forward) -> None:
        try:
            self._forward(conn, fwd)
        except Exception as e:  # noqa: BLE001 - one connection's failure (the link went away mid-call)
            if not self._closed.is_set():
                self.printer.warn(f"{fwd.service}: forwarding 127.0.0.1:{fwd.local_port} failed: {e}")
            _reset(conn)

    def _forward(self, conn: socket.socket, fwd: Forward) -> None:
        from devrun.engine.tunnel import open_stream

        with conn:
            stream = None
            for fresh in (False, True):
                found = self._resolve(fwd, fresh)
                if found is None:
                    return
                cid, host_ip, host_port = found
                try:
                    stream = open_stream(self.engine.api, cid, fwd.target, host_ip, host_port)
                    break
                except ConnectionRefusedError:
                    if fresh:
                        _reset(conn)  # as a refused connection looks here: nothing listens there now
                        return
                except EngineError as e:
                    self._found.pop(fwd.local_port, None)  # replaced or stopped: look again next time
                    if fresh:
                        self.printer.warn(f"{fwd.service}: forwarding 127.0.0.1:{fwd.local_port} failed: {e}")
                        return
            assert stream is not None
            try:

                def up_done() -> None:
                    stream.shutdown_write()

                up = threading.Thread(
                    target=_pump, args=(lambda: conn.recv(65536), stream.sendall, up_done), daemon=True
                )
                up.start()

                def down_done() -> None:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_WR)

                _pump(lambda: stream.recv(65536), conn.sendall, down_done)
                if getattr(stream, "refused", False):
                    _reset(conn)
                up.join(5)
            finally:
                stream.close()
