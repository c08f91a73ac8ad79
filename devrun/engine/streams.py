"""What flows to and from containers: events, logs, exec, attached one-off
runs, archives in and out (part of devrun.engine.docker.Engine)."""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
import docker.utils.socket as dsock
import requests
import urllib3.exceptions

from devrun import labels
from devrun.engine.calls import _close, _raw, _untimed, translate
from devrun.engine.protocol import EngineEvent
from devrun.engine.tree import LISTING_SCRIPT, ChunkReader, TreeEntry, parse_listing, read_tree
from devrun.engine.wire import StreamLines, create_kwargs, log_lines
from devrun.errors import EngineError
from devrun.plan import (
    ContainerSpec,
    PathStat,
)

_NS = 1_000_000_000
GZIP_FROM = 256 * 1024  # smaller tars go as they are: one edit's files gain nothing
LISTING_FROM = 2 * 1024 * 1024  # smaller trees come down as an archive: one round trip less


def _size(data: Any) -> int:
    if isinstance(data, bytes | bytearray):
        return len(data)
    try:
        here = data.tell()
        end = data.seek(0, os.SEEK_END)
        data.seek(here)
        return end - here
    except (AttributeError, OSError):
        return 0


def _gzip_chunks(data: Any) -> Iterator[bytes]:
    """The tar gzip'd at level 1 (about 100 MB/s of text here: never slower than
    the link it saves), in chunks: a generator body is sent chunked as it comes."""
    import io
    import zlib

    src = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    z = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    while chunk := src.read(1 << 20):
        if out := z.compress(chunk):
            yield out
    yield z.flush()


class EventStream:
    """Engine events of one project's containers; close() ends the iteration."""

    def __init__(self, stream: Any):
        self._stream = stream

    def __iter__(self) -> Iterator[EngineEvent]:
        try:
            for raw in self._stream:
                attrs = raw.get("Actor", {}).get("Attributes", {})
                code = attrs.get("exitCode")
                yield EngineEvent(
                    action=raw.get("Action", raw.get("status", "")),
                    container_id=raw.get("id", ""),
                    service=attrs.get(labels.SERVICE, ""),
                    time=raw.get("timeNano", 0) / _NS or float(raw.get("time", 0)),
                    exit_code=int(code) if code is not None else None,
                    signal=int(attrs["signal"]) if str(attrs.get("signal", "")).isdigit() else None,
                )
        except (
            requests.exceptions.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            AttributeError,
            ValueError,
        ):
            return  # closed, or the engine went away

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()


class Streams:
    """The streaming half of the Engine; needs `self.api` and `self.client`."""

    api: Any
    client: docker.DockerClient

    def exec(
        self,
        container_id: str,
        argv: list[str],
        on_line: Callable[[str, str], None],
        *,
        user: str | None = None,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        privileged: bool = False,
    ) -> int:
        """Run argv in the container, streaming (stream, line) to on_line; returns its exit code."""
        with translate(f"exec in {container_id[:12]}"):
            ex = self.api.exec_create(
                container_id, argv, user=user or "", workdir=workdir, environment=env, privileged=privileged
            )
            sock = self.api.exec_start(ex["Id"], socket=True)
            streams = {1: StreamLines(), 2: StreamLines()}
            names = {1: "stdout", 2: "stderr"}
            try:
                for kind, data in dsock.frames_iter(sock, False):
                    if data and kind in streams:
                        for line in streams[kind].feed(data):
                            on_line(names[kind], line)
            finally:
                _close(sock)  # at once: over ssh each open stream holds one of sshd's sessions
            for kind, lines in streams.items():
                for line in lines.finish():
                    on_line(names[kind], line)
            return int(self.api.exec_inspect(ex["Id"]).get("ExitCode") or 0)

    def put_archive(self, container_id: str, path: str, data: Any) -> None:
        """Extract a tar (bytes or a file) at `path`. Across a network link a big
        one goes gzip'd (the archive API takes compressed tars), compressed while
        it is sent: source trees shrink 3 to 5 times, and the link is the bottleneck."""
        if getattr(self, "compress_archives", False) and _size(data) >= GZIP_FROM:
            data = _gzip_chunks(data)
        with translate(f"copy into {container_id[:12]}:{path}"):
            self.api.put_archive(container_id, path, data)

    def tree(self, container_id: str, target: str, expect_bytes: int = 0) -> dict[str, TreeEntry]:
        """The container's files under `target` (running or stopped: the archive
        API needs no shell), keyed by container path, with content digests.
        Across a network link, a tree of `expect_bytes` (the host's side) or
        more is listed in the running container instead of downloaded."""
        if getattr(self, "compress_archives", False) and expect_bytes >= LISTING_FROM:
            listed = self._listed_tree(container_id, target)
            if listed is not None:
                return listed
        try:
            with translate(f"read {target} in {container_id[:12]}"):
                try:
                    chunks, _stat = self.api.get_archive(container_id, target)
                except docker.errors.NotFound:
                    return {}
                return read_tree(ChunkReader(chunks), target)
        except tarfile.TarError as e:
            raise EngineError(
                f"read {target} in {container_id[:12]}: {e} (did it change meanwhile?)"
            ) from None

    def _listed_tree(self, container_id: str, target: str) -> dict[str, TreeEntry] | None:
        """tree() by LISTING_SCRIPT in the container; None where it cannot run
        (not running, a tool missing) or its output is not certain."""
        lines: list[str] = []
        try:
            code = self.exec(
                container_id,
                ["sh", "-c", LISTING_SCRIPT, "devrun-tree", posixpath.normpath(target)],
                lambda stream, line: lines.append(line) if stream == "stdout" else None,
                user="0",
            )
        except EngineError:
            return None
        return parse_listing(lines, target) if code == 0 else None

    def events(self, project: str, since: float | None = None) -> EventStream:
        with translate("engine events"):
            stream = self.api.events(
                decode=True, since=since, filters={**labels.project_filter(project), "type": "container"}
            )
        return EventStream(stream)

    def logs(
        self,
        container_id: str,
        *,
        follow: bool,
        tail: int | str = "all",
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> Iterator[tuple[str, str]]:
        """(stream, line) pairs; 'stdout'/'stderr' ('stdout' for TTY containers).
        With timestamps, each line starts with the engine's RFC 3339 time and a space."""
        params: dict[str, Any] = {
            "stdout": 1,
            "stderr": 1,
            "follow": int(follow),
            "tail": str(tail),
            "timestamps": int(timestamps),
        }
        if since is not None:
            params["since"] = f"{since:.9f}"
        if until is not None:
            params["until"] = f"{until:.9f}"
        with translate(f"logs of {container_id[:12]}"):
            try:
                tty = bool(self.api.inspect_container(container_id)["Config"].get("Tty"))
                res = _raw(
                    self.api,
                    "get",
                    "/containers/{0}/logs",
                    container_id,
                    untimed=True,
                    params=params,
                    stream=True,
                )
            except docker.errors.NotFound:
                return
        try:
            yield from log_lines(res, tty)
        except urllib3.exceptions.HTTPError:
            return  # the engine went away mid-stream (dockerd restarted): the stream just ends

    def create_oneoff(self, spec: ContainerSpec, label_patch: dict[str, str | None], *, stdin: bool) -> str:
        """Create a container for `spec` with labels changed by `label_patch`
        (None drops a key); `stdin` keeps its stdin open for an attached client."""
        kwargs = create_kwargs(self.api, spec)
        for key, value in label_patch.items():
            kwargs["labels"].pop(key, None)
            if value is not None:
                kwargs["labels"][key] = value
        kwargs["stdin_open"] = stdin
        with translate(f"service {spec.service}: create {spec.name}"):
            cid = self.api.create_container(**kwargs)["Id"]
        self._complete(cid, spec)
        return cid

    def _pump(self, sock: Any, stdin: Any, tty: bool, out: Callable[[int, bytes], None]) -> None:
        """Copy the stdin file to the hijacked socket (then half-close it) while
        handing each (1 stdout | 2 stderr, bytes) frame read back to `out`."""
        import socket as pysocket

        raw = _untimed(self.api, sock)
        if stdin is not None:

            def feed() -> None:
                with contextlib.suppress(OSError, ValueError):
                    while chunk := os.read(stdin.fileno(), 65536):
                        raw.sendall(chunk)
                    raw.shutdown(pysocket.SHUT_WR)

            threading.Thread(target=feed, daemon=True).start()
        try:
            with contextlib.suppress(OSError, urllib3.exceptions.HTTPError):
                for stream, data in dsock.frames_iter(sock, tty):
                    out(stream, data)
        finally:
            _close(sock)

    def exec_io(
        self,
        container_id: str,
        argv: list[str],
        out: Callable[[int, bytes], None],
        *,
        stdin: Any = None,
        user: str | None = None,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        privileged: bool = False,
        detach: bool = False,
    ) -> int:
        """Run argv in the container with raw byte output (and the `stdin` file
        piped in); returns its exit code (0 at once when detached)."""
        with translate(f"exec in {container_id[:12]}"):
            ex = self.api.exec_create(
                container_id,
                argv,
                stdin=stdin is not None and not detach,
                user=user or "",
                workdir=workdir,
                environment=env,
                privileged=privileged,
            )
            if detach:
                self.api.exec_start(ex["Id"], detach=True)
                return 0
            sock = self.api.exec_start(ex["Id"], socket=True)
            self._pump(sock, stdin, False, out)
            while (info := self.api.exec_inspect(ex["Id"])).get("Running"):
                time.sleep(0.02)
            return int(info.get("ExitCode") or 0)

    def run_io(self, container_id: str, out: Callable[[int, bytes], None], *, stdin: Any = None) -> int:
        """Attach to a created container, start it, stream its output until it
        exits; returns its exit code."""
        with translate(f"run {container_id[:12]}"):
            tty = bool(self.api.inspect_container(container_id)["Config"].get("Tty"))
            params = {"stdout": 1, "stderr": 1, "stream": 1, "stdin": int(stdin is not None)}
            sock = self.api.attach_socket(container_id, params=params)
        self.start(container_id)
        self._pump(sock, stdin, tty, out)
        return self.wait(container_id)

    def wait(self, container_id: str) -> int:
        with translate(f"wait for {container_id[:12]}"):
            return int(self.api.wait(container_id, timeout=None)["StatusCode"])

    def get_archive(self, container_id: str, path: str) -> Iterator[bytes]:
        """A tar stream of `path` in the container."""
        with translate(f"copy from {container_id[:12]}:{path}"):
            stream, _stat = self.api.get_archive(container_id, path)
        return stream

    def path_stat(self, container_id: str, path: str) -> PathStat | None:
        """A path in the container, or None when it does not exist."""
        import base64

        with translate(f"stat {container_id[:12]}:{path}"):
            try:
                res = _raw(self.api, "head", "/containers/{0}/archive", container_id, params={"path": path})
            except docker.errors.NotFound:
                return None
            header = res.headers.get("X-Docker-Container-Path-Stat") or ""
            data = json.loads(base64.b64decode(header)) if header else {}
        return PathStat(str(data.get("name", "")), int(data.get("size") or 0), int(data.get("mode") or 0))

    def top(self, container_id: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """The container's processes: (column titles, one row per process)."""
        with translate(f"processes of {container_id[:12]}"):
            data = self.api.top(container_id)
        return tuple(data.get("Titles") or ()), [tuple(map(str, r)) for r in data.get("Processes") or ()]
