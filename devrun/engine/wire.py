"""The wire side of the engine: ContainerSpec -> create arguments, and the
engine's log and exec byte streams -> lines. Only engine.py imports this."""

from __future__ import annotations

import codecs
import contextlib
import struct
from collections.abc import Iterator
from typing import Any

import docker
import requests

from devrun.plan import ContainerSpec, container_labels

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
    mounts = [
        docker.types.Mount(
            target=m.target,
            # an anonymous volume in the config (`- /data`) takes over the old one at its path
            source=m.source or (inherited.get(m.target, "") if m.type == "volume" else ""),
            type=m.type,
            read_only=m.read_only,
        )
        for m in spec.mounts
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
        mounts=mounts or None,
        init=spec.init,
        privileged=spec.privileged,
        cap_add=list(spec.cap_add) or None,
        network_mode=spec.network or spec.network_mode,
    )
    networking = (
        api.create_networking_config({spec.network: api.create_endpoint_config(aliases=list(spec.aliases))})
        if spec.network
        else None
    )
    return {
        "image": spec.image_id,
        "name": spec.name,
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "command": list(spec.command) if spec.command is not None else None,
        "environment": dict(spec.env),
        "ports": [(p.target, p.protocol) for p in spec.ports] or None,
        "labels": container_labels(spec),
        "stop_signal": spec.stop_signal,
        "stop_timeout": max(0, round(spec.stop_timeout)),
        "healthcheck": healthcheck,
        "working_dir": spec.working_dir,
        "user": spec.user,
        "tty": spec.tty,
        "host_config": host_config,
        "networking_config": networking,
        "hostname": spec.service,
    }


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
