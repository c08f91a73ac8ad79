"""engine/sshlink.py's choice of connection, over stand-ins for paramiko's
client and transport (the bed tests prove it against a real sshd: the ssh
variants of tests/test_remote_up.py and tests/test_remote_link.py)."""

from __future__ import annotations

import paramiko
import pytest

from devrun.engine import sshlink


class Transport:
    def __init__(self, refuse: bool = False):
        self.active, self.refuse, self.opened = True, refuse, 0
        self.keepalive = None

    def is_active(self) -> bool:
        return self.active

    def set_keepalive(self, s: int) -> None:
        self.keepalive = s

    def open_session(self):
        if self.refuse:
            raise paramiko.ChannelException(2, "Connect failed")
        self.opened += 1
        return Channel()


class Channel:
    closed = False


class Client:
    def __init__(self, transport: Transport | None = None):
        self.transport = transport or Transport()
        self.closed = False

    def get_transport(self):
        return None if self.closed else self.transport

    def close(self) -> None:
        self.closed = True


class Adapter:
    def __init__(self):
        self.ssh_client = Client()
        self.ssh_params = {"hostname": "box"}


@pytest.fixture
def link(monkeypatch):
    made: list[Client] = []

    def new_client(self):
        client = Client()
        made.append(client)
        self.connections += 1
        return client

    monkeypatch.setattr(sshlink.SshLink, "_new_client", new_client)
    out = sshlink.SshLink(Adapter())
    out.made = made
    return out


def test_channels_share_the_first_connection_until_it_is_full(link):
    first = link.clients[0].transport
    assert first.keepalive == sshlink.KEEPALIVE_S
    held = [link.open_session() for _ in range(sshlink.MAX_SESSIONS)]  # urllib3 holds them
    assert (first.opened, link.connections) == (sshlink.MAX_SESSIONS, 1)
    held.append(link.open_session())  # full: the next channel goes on a second connection
    assert link.connections == 2 and link.made[0].transport.opened == 1
    held[0].closed = True  # one ended: the first connection has room again
    link.open_session()
    assert first.opened == sshlink.MAX_SESSIONS + 1


def test_a_refused_channel_is_opened_on_another_connection(link):
    link.clients[0].transport.refuse = True  # sshd with a lower MaxSessions
    link.open_session()
    assert link.connections == 2 and link.made[0].transport.opened == 1


def test_a_dropped_connection_is_replaced_and_the_adapter_follows(link):
    adapter = link._adapter
    link.clients[0].transport.active = False
    link.open_session()
    assert link.clients == link.made and adapter.ssh_client is link.made[0]
    link.made[0].transport.active = False
    assert link.transport() is link.clients[0].transport is not link.made[0].transport


def test_an_extra_connection_is_closed_once_idle(link, monkeypatch):
    link.clients[0].transport.refuse = True
    link.open_session()
    extra = link.made[0]
    for ch in list(link._opened[id(extra)]):
        ch.closed = True  # its channel ended
    kept = link.open_session()  # used just now: kept
    assert not extra.closed
    kept.closed = True
    monkeypatch.setattr(sshlink, "EXTRA_IDLE_S", -1.0)
    link.clients[0].transport.refuse = False
    link.open_session()
    assert extra.closed and link.clients == [link.clients[0]]
