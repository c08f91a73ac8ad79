"""The ssh connection to a remote engine, made to last a whole `up` (issue 13).

docker-py's paramiko adapter opens one ssh connection and runs every HTTP
connection as a session channel (`docker system dial-stdio`) on it. Two things
break that over a long `up`:

- sshd allows 10 sessions per connection (MaxSessions). Pooled HTTP connections,
  the event stream, one log stream per service and exec streams are all
  sessions, so a busy `up` is refused a channel ("Connect failed"). Here the pool
  keeps fewer idle channels, and a refused channel is opened on a second
  connection instead of failing the call (compose's many ssh sessions are
  docker/compose#11677; this keeps it to one, two under pressure).
- A dropped link leaves the adapter's pools holding a dead transport for good:
  every later call fails. Here each new channel asks for a live connection, and a
  dead one is replaced by a new one (the first call after the link is back
  reconnects). Keepalives notice a link that went quiet without closing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from typing import Any

KEEPALIVE_S = 10
IDLE_CHANNELS = 4  # pooled HTTP connections kept open; streams come on top
MAX_SESSIONS = 10  # sshd's default MaxSessions: a connection this full is not asked
EXTRA_IDLE_S = 30.0  # an extra connection without channels this long is closed


class SshLink:
    """The live ssh connections behind one docker-py client, first one first."""

    def __init__(self, adapter: Any):
        self._adapter = adapter
        self._lock = threading.Lock()
        self.clients: list[Any] = [adapter.ssh_client]
        self.connections = 1  # ssh connections opened so far (the adapter's own included)
        self._used: dict[int, float] = {}  # id(client) -> when it last opened a channel
        # id(client) -> its session channels (port forwards' channels are not sessions)
        self._opened: dict[int, weakref.WeakSet] = {}
        self._keepalive(adapter.ssh_client)

    @staticmethod
    def _keepalive(client: Any) -> None:
        transport = client.get_transport()
        if transport is None:
            return
        transport.set_keepalive(KEEPALIVE_S)
        # a request's headers and body are two writes: with Nagle's algorithm the
        # body waits for the headers' ACK, one more round trip per PUT (urllib3
        # sets TCP_NODELAY on its own sockets for the same reason)
        with contextlib.suppress(OSError, AttributeError):
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _new_client(self) -> Any:
        import paramiko

        client = paramiko.SSHClient()
        client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(**self._adapter.ssh_params)
        self._keepalive(client)
        self.connections += 1
        return client

    def transport(self) -> Any:
        """A live transport (the first connection, reconnected when it dropped)."""
        with self._lock:
            self._drop_dead()
            if not self.clients:
                self.clients.append(self._new_client())
            self._adapter.ssh_client = self.clients[0]
            return self.clients[0].get_transport()

    def _drop_dead(self) -> None:
        """Forget connections that dropped, and extra ones no longer used."""
        for i, client in enumerate(list(self.clients)):
            transport = client.get_transport()
            idle_extra = (
                i > 0
                and transport is not None
                and not self.sessions(client)
                and time.monotonic() - self._used.get(id(client), 0.0) > EXTRA_IDLE_S
            )
            if transport is None or not transport.is_active() or idle_extra:
                with contextlib.suppress(Exception):
                    client.close()
                self.clients.remove(client)

    def open_session(self) -> Any:
        """A session channel on a live connection: the first that accepts one;
        a new connection when every live one refuses (sshd's MaxSessions)."""
        import paramiko

        with self._lock:
            self._drop_dead()
            for client in self.clients:
                if self.sessions(client) >= MAX_SESSIONS:
                    continue
                try:
                    return self._opened_on(client, client.get_transport().open_session())
                except paramiko.ChannelException:
                    continue  # refused (a lower MaxSessions than the default): try the next
            client = self._new_client()
            self.clients.append(client)
            if len(self.clients) == 1:
                self._adapter.ssh_client = client
            return self._opened_on(client, client.get_transport().open_session())

    def _opened_on(self, client: Any, channel: Any) -> Any:
        self._used[id(client)] = time.monotonic()
        self._opened.setdefault(id(client), weakref.WeakSet()).add(channel)
        return channel

    def sessions(self, client: Any) -> int:
        """Session channels still open on a connection (what sshd's MaxSessions counts)."""
        return sum(1 for ch in list(self._opened.get(id(client), ())) if not ch.closed)

    def close(self) -> None:
        with self._lock:
            for client in self.clients[1:]:
                with contextlib.suppress(Exception):
                    client.close()
            del self.clients[1:]


def harden(client: Any) -> SshLink | None:
    """Make a docker-py client's paramiko connection last (see the module doc);
    None when the client does not speak ssh through paramiko."""
    api = getattr(client, "api", client)
    adapter = getattr(api, "_custom_adapter", None)
    if getattr(adapter, "ssh_client", None) is None:
        return None
    import logging

    from docker.transport import sshconn

    # a refused channel is handled here (another connection); paramiko would log each as an error
    logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)
    link = SshLink(adapter)

    class LinkConnection(sshconn.SSHConnection):
        def connect(self) -> None:
            sock = link.open_session()
            sock.settimeout(self.timeout)
            sock.exec_command("docker system dial-stdio")
            self.sock = sock

    class LinkPool(sshconn.SSHConnectionPool):
        def _new_conn(self) -> Any:
            return LinkConnection(None, self.timeout, self.ssh_host)

    def get_connection(url: str, proxies: Any = None) -> Any:
        with adapter.pools.lock:
            pool = adapter.pools.get(url)
            if pool is None:
                pool = LinkPool(
                    ssh_client=None, timeout=adapter.timeout, maxsize=IDLE_CHANNELS, host=adapter.ssh_host
                )
                adapter.pools[url] = pool
            return pool

    def close() -> None:
        link.close()
        type(adapter).close(adapter)

    adapter.pools.clear()
    # an instance attribute: docker-py's get_connection_with_tls_context calls self.get_connection
    adapter.get_connection = get_connection
    adapter.close = close
    adapter.ssh_link = link
    return link
