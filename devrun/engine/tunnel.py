"""A byte stream to a container's port over the engine connection itself, so
that nothing extra must be open on the remote machine (issue 13: ports come home).

- ssh engines: a paramiko `direct-tcpip` channel on docker-py's own ssh
  connection, to the port the container publishes on the remote host (as
  `ssh -L` does). A dropped link is reconnected on the next stream.
- tcp (and other) engines: an exec in the container, per connection, of a tiny
  forwarder to 127.0.0.1:PORT inside the container (python3, else nc, else
  bash's /dev/tcp: whichever the image has), its stdin and stdout carried by the
  engine's hijacked exec stream. No helper container, nothing left behind: the
  exec ends with the connection. An image with none of the three cannot be
  reached this way (the stream says so).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

from devrun.engine.calls import _close, _untimed, translate
from devrun.errors import EngineError

# python3 first (byte-exact, half-close aware), then nc, then bash
_PY = (
    "import os,socket,sys,threading\n"
    "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
    "def up():\n"
    " while True:\n"
    "  d=os.read(0,65536)\n"
    "  if not d:break\n"
    "  s.sendall(d)\n"
    " s.shutdown(socket.SHUT_WR)\n"
    "threading.Thread(target=up,daemon=True).start()\n"
    "o=sys.stdout.buffer\n"
    "while True:\n"
    " d=s.recv(65536)\n"
    " if not d:break\n"
    " o.write(d);o.flush()\n"
)
_SCRIPT = (
    'p="$1"; shift\n'
    'if command -v python3 >/dev/null 2>&1; then exec python3 -c "$1" "$p"; fi\n'
    'if command -v nc >/dev/null 2>&1; then exec nc 127.0.0.1 "$p"; fi\n'
    "if command -v bash >/dev/null 2>&1; then exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/$0; cat <&3 & cat >&3; wait' \"$p\"; fi\n"
    'echo "devrun: no python3, nc or bash in the container to forward a port with" >&2; exit 127\n'
)


class ExecStream:
    """The forwarder exec's hijacked socket: bytes in go to its stdin; recv
    returns its stdout (the engine's 8-byte frame headers taken off)."""

    def __init__(self, api: Any, sock: Any):
        self._sock = sock
        self._raw = _untimed(api, sock)
        self._left = 0  # payload bytes left in the current stdout frame
        self.refused = False  # the forwarder complained before any byte came back: nothing listens
        self._got = False

    def sendall(self, data: bytes) -> None:
        self._raw.sendall(data)

    def shutdown_write(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.shutdown(socket.SHUT_WR)

    def _exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self._raw.recv(n - len(out))
            if not chunk:
                return b""
            out += chunk
        return out

    def recv(self, n: int) -> bytes:
        while self._left == 0:
            header = self._exactly(8)
            if not header:
                return b""
            kind, size = header[0], struct.unpack(">I", header[4:])[0]
            if kind not in (0, 1, 2) or header[1:4] != b"\0\0\0":
                self.refused = not self._got  # not a frame: the engine's own error text (exec failed)
                return b""
            if kind == 1:
                self._left = size
            else:  # stderr: the forwarder could not connect (or broke): no bytes are made of it
                self._exactly(size)
                self.refused = self.refused or not self._got
        chunk = self._raw.recv(min(n, self._left))
        self._left -= len(chunk)
        self._got = self._got or bool(chunk)
        return chunk

    def close(self) -> None:
        _close(self._sock)


class ChannelStream:
    def __init__(self, channel: Any):
        self._ch = channel

    def sendall(self, data: bytes) -> None:
        self._ch.sendall(data)

    def shutdown_write(self) -> None:
        with contextlib.suppress(Exception):
            self._ch.shutdown_write()

    def recv(self, n: int) -> bytes:
        return self._ch.recv(n)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ch.close()


def _ssh_adapter(api: Any) -> Any:
    """docker-py's paramiko adapter of this client, or None (not ssh, or the ssh binary)."""
    adapter = getattr(api, "_custom_adapter", None)
    return adapter if getattr(adapter, "ssh_client", None) is not None else None


def via_ssh(api: Any) -> bool:
    return _ssh_adapter(api) is not None


def open_stream(api: Any, container_id: str, target: int, host_ip: str, host_port: int | None):
    """A stream to the container's port `target` (published as host_ip:host_port
    on the engine's machine, when it is)."""
    adapter = _ssh_adapter(api)
    if adapter is not None and host_port:
        import paramiko

        from devrun.engine.sshlink import harden

        address = "127.0.0.1" if host_ip in ("", "0.0.0.0", "::") else host_ip
        link = getattr(adapter, "ssh_link", None) or harden(api)
        for attempt in (1, 2):
            transport = None
            try:
                transport = link.transport()  # reconnected when the link dropped
                channel = transport.open_channel(
                    "direct-tcpip", (address, host_port), ("127.0.0.1", 0), timeout=10
                )
                return ChannelStream(channel)
            except paramiko.ChannelException:
                raise ConnectionRefusedError(f"nothing listens at {address}:{host_port}") from None
            except Exception as e:  # noqa: BLE001 - paramiko's families; one retry over a new connection
                if attempt == 2:
                    raise EngineError(
                        f"ssh tunnel to {address}:{host_port}: {e or type(e).__name__}"
                    ) from None
                if transport is not None:
                    with contextlib.suppress(Exception):
                        transport.close()  # the retry goes over a new connection
    with translate(f"port {target} of {container_id[:12]}"):
        ex = api.exec_create(
            container_id, ["sh", "-c", _SCRIPT, "devrun-forward", str(target), _PY], stdin=True
        )
        sock = api.exec_start(ex["Id"], socket=True)
    return ExecStream(api, sock)
