"""One `devrun up` per project: an fcntl lock held while up runs, holding
the pid of the `up` that holds it, so `devrun down` can ask that `up` to stop
first (it would otherwise recreate what down removes)."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path

from devrun.session.endpoint import state_dir


def lock_path(project: str) -> Path:
    return Path(state_dir()) / f"{project}.lock"


class ProjectLock:
    """One `devrun up` per project: an fcntl lock held while up runs."""

    def __init__(self, project: str):
        self.project = project
        self.path = lock_path(project)
        self._fd: int | None = None

    def __enter__(self) -> ProjectLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            from devrun.errors import LockedError  # here: `devrun ps` imports lock_path, light

            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LockedError(
                f"devrun up is already running for project {self.project} (pid {pid})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def holder(project: str) -> int | None:
        """The pid of the `devrun up` holding the project's lock, or None."""
        path = lock_path(project)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None  # nobody holds it (a lock file left by an ended up)
        except OSError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        finally:
            os.close(fd)


# `devrun down` asks a running `devrun up` of the project to stop with this
# signal, so up stops its containers and exits 0 instead of fighting the down
STOP_FOR_DOWN = signal.SIGUSR1


def stop_running_up(project: str, timeout: float) -> int | None:
    """Ask the project's running `devrun up` (if any) to stop, and wait up to
    `timeout` seconds for it to end; returns its pid, or None when none ran."""
    pid = ProjectLock.holder(project)
    if pid is None:
        return None
    try:
        os.kill(pid, STOP_FOR_DOWN)
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    while ProjectLock.holder(project) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid
