"""The wire side of the engine: ContainerSpec -> create arguments, and the
engine's log and exec byte streams -> lines. Only engine.py imports this."""

from __future__ import annotations

import codecs
import contextlib
import io
import struct
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import docker
import requests

from devrun.plan import ContainerSpec, FileCopy, Mount, container_labels, engine_policy

_NS = 1_000_000_000


def create_kwargs(
    api: docker.APIClient, spec: ContainerSpec, inherit: tuple[tuple[str, str], ...] = ()
) -> dict[str, Any]:
    """ContainerSpec -> create_container arguments. Ports publish on the
    address the config names (127.0.0.1 unless told otherwise). `inherit`
    mounts the replaced container's anonymous volumes at their paths, unless
    the spec now mounts something else there."""
    bindings: dict[str, list[tuple[str, int | None]]] = {}
    for p in spec.ports:
        bindings.setdefault(f"{p.target}/{p.protocol}", []).append((p.host_ip, p.published))
    inherited = {path: volume for volume, path in inherit}
    # as compose: a bind the engine may create goes as a `Binds` string (the
    # mount API refuses a missing source); everything else as a mount
    binds = [_bind_string(m) for m in spec.mounts if m.type == "bind" and m.create_host_path]
    mounts = [
        _mount(m, inherited.get(m.target, ""))
        for m in spec.mounts
        if not (m.type == "bind" and m.create_host_path)
    ]
    taken = {m.target for m in spec.mounts}
    mounts += [
        docker.types.Mount(target=path, source=volume, type="volume")
        for path, volume in inherited.items()
        if path not in taken
    ]
    hc = spec.healthcheck
    healthcheck = (
        {
            "test": ["CMD", *hc.test],
            "interval": int(hc.interval * _NS),
            "timeout": int(hc.timeout * _NS),
            "retries": hc.retries,
            "start_period": int(hc.start_period * _NS),
        }
        if hc
        else None
    )
    host_config = api.create_host_config(
        port_bindings=bindings or None,
        binds=binds or None,
        mounts=mounts or None,
        init=spec.init,
        privileged=spec.privileged,
        cap_add=list(spec.cap_add) or None,
        network_mode=spec.network or spec.network_mode,
        tmpfs=dict(spec.tmpfs) or None,
        shm_size=spec.shm_size,
        ulimits=[docker.types.Ulimit(name=n, soft=soft, hard=hard) for n, soft, hard in spec.ulimits] or None,
        security_opt=list(spec.security_opt) or None,
        devices=list(spec.devices) or None,
        mem_limit=spec.mem_limit,
        mem_reservation=spec.mem_reservation,
        nano_cpus=round(spec.cpus * _NS) if spec.cpus else None,
        pids_limit=spec.pids_limit,
        extra_hosts=list(spec.extra_hosts) or None,
        dns=list(spec.dns) or None,
        dns_search=list(spec.dns_search) or None,
        sysctls=dict(spec.sysctls) or None,
        read_only=spec.read_only or None,
        restart_policy=_restart_policy(spec.restart_policy),
    )
    endpoint = api.create_endpoint_config(
        aliases=list(spec.aliases), ipv4_address=spec.ipv4_address, ipv6_address=spec.ipv6_address
    )
    networking = api.create_networking_config({spec.network: endpoint}) if spec.network else None
    exposed = [(p.target, p.protocol) for p in spec.ports]
    exposed += [(int(port), proto) for port, _, proto in (e.partition("/") for e in spec.expose)]
    return {
        "image": spec.image_id,
        "name": spec.name,
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "command": list(spec.command) if spec.command is not None else None,
        "environment": dict(spec.env),
        "ports": list(dict.fromkeys(exposed)) or None,
        "labels": container_labels(spec),
        "stop_signal": spec.stop_signal,
        "stop_timeout": max(0, round(spec.stop_timeout)),
        "healthcheck": healthcheck,
        "working_dir": spec.working_dir,
        "user": spec.user,
        "tty": spec.tty,
        "host_config": host_config,
        "networking_config": networking,
        # a container on another's network has that one's host name (the engine refuses another)
        "hostname": None
        if (spec.network_mode or "").startswith("container:")
        else spec.hostname or spec.service,
    }


def _restart_policy(policy: str) -> dict[str, Any]:
    """`restart:` as the engine's own policy (compose sets it too): it holds after `up -d`."""
    name, count = engine_policy(policy) or ("no", 0)
    return {"Name": name, "MaximumRetryCount": count}


_PROPAGATION = ("shared", "rshared", "slave", "rslave", "private", "rprivate")


def _bind_string(m: Mount) -> str:
    """SOURCE:TARGET:MODE, with the SELinux label and propagation compose would pass."""
    mode = ["ro" if m.read_only else "rw", *(o for o in m.options if o in ("z", "Z") or o in _PROPAGATION)]
    return f"{m.source}:{m.target}:{','.join(mode)}"


def _mount(m: Mount, inherited: str) -> docker.types.Mount:
    opts = dict(o.partition("=")[::2] for o in m.options if "=" in o)
    if m.type == "tmpfs":
        mode = opts.get("mode")
        return docker.types.Mount(
            target=m.target,
            source=None,
            type="tmpfs",
            read_only=m.read_only,
            tmpfs_size=int(opts["size"]) if opts.get("size", "").isdigit() else opts.get("size"),
            # compose writes the mode in octal digits (1777)
            tmpfs_mode=int(mode, 8) if mode and set(mode) <= set("01234567") else None,
        )
    return docker.types.Mount(
        target=m.target,
        # an anonymous volume in the config (`- /data`) takes over the old one at its path
        source=m.source or (inherited if m.type == "volume" else ""),
        type=m.type,
        read_only=m.read_only,
        propagation=next((o for o in m.options if o in _PROPAGATION), None) if m.type == "bind" else None,
        no_copy="nocopy" in m.options and m.type == "volume",
    )


def files_archive(files: tuple[FileCopy, ...]) -> bytes:
    """A tar to unpack at / that writes each secret or config at its target, as
    compose writes them (mode 0444 unless set, owner from uid/gid)."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in files:
            data = f.content.encode()
            info = tarfile.TarInfo(f.target.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), f.mode, now
            info.uid = int(f.uid) if f.uid and f.uid.isdigit() else 0
            info.gid = int(f.gid) if f.gid and f.gid.isdigit() else 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# A log line longer than this is cut into pieces of this many characters; every
# piece but the last ends with LINE_CONTINUES. Long enough that real lines (a
# minified JSON record, a long stack-trace line) arrive whole; short enough that
# output without a newline shows up while it is written, instead of when it
# ends, and an unfinished line holds at most this much memory per stream.
MAX_LINE_CHARS = 64 * 1024
LINE_CONTINUES = " …[line continues]"


def _pieces(line: str) -> list[str]:
    """A finished line cut at MAX_LINE_CHARS, every piece but the last marked."""
    if len(line) <= MAX_LINE_CHARS:
        return [line]
    starts = range(0, len(line), MAX_LINE_CHARS)
    return [
        line[i : i + MAX_LINE_CHARS] + (LINE_CONTINUES if i + MAX_LINE_CHARS < len(line) else "")
        for i in starts
    ]


def _cut_unfinished(text: str) -> tuple[list[str], str]:
    """A line still being written -> (marked pieces to show now, the rest to keep).
    The rest holds 1..MAX_LINE_CHARS characters, so a line of exactly the cap is
    never cut; a trailing \r is not counted: it may be half of a \r\n."""
    content = len(text) - text.endswith("\r")
    whole = (content - 1) // MAX_LINE_CHARS if content > MAX_LINE_CHARS else 0
    pieces = [text[i * MAX_LINE_CHARS : (i + 1) * MAX_LINE_CHARS] + LINE_CONTINUES for i in range(whole)]
    return pieces, text[whole * MAX_LINE_CHARS :]


class StreamLines:
    """One stream's bytes -> lines, in time linear in the bytes: only newly
    arrived text is scanned for newlines and the unfinished line waits as a list
    of chunks (joining it for every frame was quadratic: a 40 MB line cost
    minutes). The UTF-8 decoder is incremental, so a character split across two
    frames survives."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._unfinished: list[str] = []
        self._unfinished_chars = 0

    def feed(self, data: bytes) -> list[str]:
        return self._split(self._decoder.decode(data))

    def finish(self) -> list[str]:
        """The stream ended: what is left, newline or not."""
        lines = self._split(self._decoder.decode(b"", final=True))
        rest = self._take_unfinished()
        return [*lines, rest] if rest else lines

    def _split(self, text: str) -> list[str]:
        lines: list[str] = []
        start = 0
        while (newline := text.find("\n", start)) != -1:
            self._unfinished.append(text[start:newline])
            lines += _pieces(self._take_unfinished().rstrip("\r"))
            start = newline + 1
        if start < len(text):
            lines += self._hold(text[start:])
        return lines

    def _hold(self, text: str) -> list[str]:
        """Keep text as part of the unfinished line; past the cap, the whole pieces go out now."""
        self._unfinished.append(text)
        self._unfinished_chars += len(text)
        if self._unfinished_chars <= MAX_LINE_CHARS:
            return []
        pieces, rest = _cut_unfinished(self._take_unfinished())
        self._unfinished.append(rest)
        self._unfinished_chars = len(rest)
        return pieces

    def _take_unfinished(self) -> str:
        text = "".join(self._unfinished)
        self._unfinished.clear()
        self._unfinished_chars = 0
        return text


def _tty_chunks(res: Any) -> Iterator[tuple[str, bytes]]:
    """A TTY container's log is its raw output, all of it stdout."""
    while data := res.raw.read1(4096) if hasattr(res.raw, "read1") else res.raw.read(1):
        yield "stdout", data


def _multiplexed_frames(res: Any) -> Iterator[tuple[str, bytes]]:
    """Frames of an 8-byte header (stream kind, length), then that many bytes."""
    while len(header := res.raw.read(8)) == 8:
        kind, length = struct.unpack(">BxxxL", header)
        if length:
            yield ("stderr" if kind == 2 else "stdout"), res.raw.read(length)


def log_lines(res: Any, tty: bool) -> Iterator[tuple[str, str]]:
    """Split the engine's (multiplexed unless TTY) log stream into lines, each at
    most MAX_LINE_CHARS (plus LINE_CONTINUES); what is left unfinished comes at the end."""
    streams = {"stdout": StreamLines(), "stderr": StreamLines()}
    try:
        for name, data in _tty_chunks(res) if tty else _multiplexed_frames(res):
            for line in streams[name].feed(data):
                yield name, line
    except (requests.exceptions.RequestException, OSError, ValueError, AttributeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            res.close()
    for name, lines in streams.items():
        for line in lines.finish():
            yield name, line
