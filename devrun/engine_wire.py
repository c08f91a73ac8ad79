"""The wire side of the engine: ContainerSpec -> create arguments, and the
engine's log and exec byte streams -> lines. Only engine.py imports this."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Iterator
from typing import Any

import docker
import requests

from devrun.plan import ContainerSpec, container_labels

_NS = 1_000_000_000


def create_kwargs(api: docker.APIClient, spec: ContainerSpec) -> dict[str, Any]:
    """ContainerSpec -> create_container arguments. Ports publish on the
    address the config names (127.0.0.1 unless told otherwise)."""
    bindings: dict[str, list[tuple[str, int | None]]] = {}
    for p in spec.ports:
        bindings.setdefault(f"{p.target}/{p.protocol}", []).append((p.host_ip, p.published))
    mounts = [
        docker.types.Mount(target=m.target, source=m.source or "", type=m.type, read_only=m.read_only)
        for m in spec.mounts
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


def emit_lines(text: str, stream: str, on_line: Callable[[str, str], None]) -> str:
    *complete, rest = text.split("\n")
    for line in complete:
        on_line(stream, line.rstrip("\r"))
    return rest


def log_lines(res: Any, tty: bool) -> Iterator[tuple[str, str]]:
    """Split the engine's (multiplexed unless TTY) log stream into lines."""
    pending = {"stdout": "", "stderr": ""}
    out: list[tuple[str, str]] = []
    try:
        while True:
            if tty:
                data = res.raw.read1(4096) if hasattr(res.raw, "read1") else res.raw.read(1)
                name = "stdout"
            else:
                header = res.raw.read(8)
                if len(header) < 8:
                    break
                kind, length = struct.unpack(">BxxxL", header)
                data = res.raw.read(length) if length else b""
                name = "stderr" if kind == 2 else "stdout"
            if not data:
                if tty:
                    break
                continue
            pending[name] = emit_lines(
                pending[name] + data.decode("utf-8", "replace"), name, lambda s, line: out.append((s, line))
            )
            yield from out
            out.clear()
    except (requests.exceptions.RequestException, OSError, ValueError, AttributeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            res.close()
    for name, rest in pending.items():
        if rest:
            yield name, rest
