#!/usr/bin/env python3
"""User-space links for the remote-engine test bed (scripts/remote-engine.sh).

    forward LISTEN=TARGET[@DEV] ...
                                   TCP forwarders, e.g. 127.0.0.1:23750=10.197.0.2:2375@dvr197p;
                                   with @DEV the outgoing connection is bound to that
                                   interface: if it is gone, nothing leaves the machine;
                                   TARGET unix:/var/run/docker.sock:0 forwards to a unix socket
    delayline HOST_TUN NETNS NS_TUN DELAY_MS RATE_MBIT
                                   a point-to-point link between a tun device in this
                                   network namespace and one inside NETNS, adding
                                   DELAY_MS one way and serialising at RATE_MBIT in
                                   each direction (what `tc qdisc ... netem delay
                                   DELAY_MS rate RATE_MBIT` does), for kernels built
                                   without sch_netem
    reap CMD ARGS...               run CMD as a child subreaper: daemons that CMD's
                                   tree leaves behind (containerd shims, sshd) are
                                   reaped here rather than left as zombies of init

Standard library only (the script runs with any python3 >= 3.9). Both modes run
in the foreground until SIGTERM; remote-engine.sh backgrounds them.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import heapq
import os
import selectors
import signal
import socket
import struct
import sys
import time


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: `docker attach` and dial-stdio rely on it
    except (ConnectionError, OSError):
        writer.close()


async def _connect(host: str, port: int, device: str | None):
    if host.startswith("unix:"):  # TARGET unix:/path:0, a local socket (e.g. an engine's)
        return await asyncio.open_unix_connection(host[len("unix:") :])
    if device is None:
        return await asyncio.open_connection(host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except OSError:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def _serve(listen: str, target: str) -> asyncio.AbstractServer:
    target, _, device = target.partition("@")
    thost, tport = _split(target)

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            tr, tw = await _connect(thost, tport, device or None)
        except OSError:
            cw.close()
            return
        for w in (cw, tw):
            sock = w.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pipe(cr, tw), _pipe(tr, cw))
        for w in (cw, tw):
            w.close()

    lhost, lport = _split(listen)
    return await asyncio.start_server(handle, lhost, lport, reuse_address=True)


async def forward(pairs: list[str]) -> None:
    servers = [await _serve(*p.split("=", 1)) for p in pairs]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for s in servers:
        s.close()


TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def _tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def delayline(host_tun: str, netns: str, ns_tun: str, delay_ms: float, rate_mbit: float) -> None:
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    a = _tun(host_tun)  # attach to the persistent tun made by `ip tuntap add` here
    _setns(f"/run/netns/{netns}")
    b = _tun(ns_tun)  # ... and to the one inside the namespace
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setns(here, CLONE_NEWNET)
    os.close(here)

    delay = delay_ms / 1000.0
    byte_time = 8.0 / (rate_mbit * 1_000_000)
    limit = 1000  # packets queued per direction, netem's default
    peer = {a: b, b: a}
    busy_until = {a: 0.0, b: 0.0}  # when the last queued packet finishes serialising
    queued = {a: 0, b: 0}
    heap: list[tuple[float, int, int, bytes]] = []
    seq = 0
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ)
    sel.register(b, selectors.EVENT_READ)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        timeout = max(0.0, heap[0][0] - now) if heap else 1.0
        for key, _ in sel.select(timeout):
            src = key.fd
            while True:
                try:
                    pkt = os.read(src, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if queued[src] >= limit:
                    continue  # tail drop, as a full netem queue does
                now = time.monotonic()
                done = max(now, busy_until[src]) + len(pkt) * byte_time
                busy_until[src] = done
                queued[src] += 1
                seq += 1
                heapq.heappush(heap, (done + delay, seq, src, pkt))
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, src, pkt = heapq.heappop(heap)
            queued[src] -= 1
            try:
                os.write(peer[src], pkt)
            except OSError:
                pass  # the other end is down: the packet is lost, as on a wire


PR_SET_CHILD_SUBREAPER = 36


def reap(cmd: list[str]) -> int:
    import subprocess

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    child = subprocess.Popen(cmd)

    def stop(*_: object) -> None:
        if child.returncode is not None:
            sys.exit(child.returncode)  # the main child is gone: orphans are the stopper's business
        child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return code  # the main child and every orphan are gone
        except InterruptedError:
            continue
        if pid == child.pid:
            child.returncode = code = os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "forward":
        asyncio.run(forward(argv[1:]))
        return 0
    if len(argv) == 6 and argv[0] == "delayline":
        delayline(argv[1], argv[2], argv[3], float(argv[4]), float(argv[5]))
        return 0
    if len(argv) >= 2 and argv[0] == "reap":
        return reap(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
