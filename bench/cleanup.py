"""Leftovers from an interrupted run: watcher processes the bench started (tracked
by pid in a file, never found by name) and containers, networks and volumes of
bench projects (every bench project name starts with "bench")."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import docker

PID_FILE = Path.home() / ".cache" / "devrun-bench" / "pids"
PROJECT_LABELS = ("com.docker.compose.project", "dev.devrun.project")


def remember(pid: int) -> None:
    PID_FILE.parent.mkdir(parents=True, exist_ok=True)
    with PID_FILE.open("a") as f:
        f.write(f"{pid}\n")


def kill_leftover_processes() -> list[int]:
    killed = []
    if not PID_FILE.exists():
        return killed
    for line in PID_FILE.read_text().split():
        pid = int(line)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"-p bench" in cmdline:  # still ours, not a recycled pid
            try:
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
    PID_FILE.unlink(missing_ok=True)
    return killed


def remove_leftover_projects(client: docker.DockerClient) -> list[str]:
    removed = []
    for key in PROJECT_LABELS:
        # the low-level list: no inspect per container, which fails when another
        # user's container goes away between the list and the inspect
        for ctr in client.api.containers(all=True, filters={"label": key}):
            if (ctr.get("Labels") or {}).get(key, "").startswith("bench"):
                try:
                    client.api.remove_container(ctr["Id"], force=True, v=True)
                except docker.errors.NotFound:
                    continue
                removed.append((ctr.get("Names") or [ctr["Id"][:12]])[0].lstrip("/"))
        for net in client.networks.list(filters={"label": key}):
            if net.attrs.get("Labels", {}).get(key, "").startswith("bench"):
                try:
                    net.remove()
                except docker.errors.APIError:
                    pass
        for vol in client.volumes.list(filters={"label": key}):
            if (vol.attrs.get("Labels") or {}).get(key, "").startswith("bench"):
                try:
                    vol.remove(force=True)
                except docker.errors.APIError:
                    pass
    return removed
