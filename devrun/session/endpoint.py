"""Where a running `devrun up` can be reached, and a small client for it.

Standard library only: `devrun ps`, `logs`, `restart` and `wait` import this
to ask the running `up` before they load anything heavier (no docker, no
config model). The `up` writes `<state>/<project>.control.json` (mode 0600:
it holds the run's token) naming its unix socket, its HTTP port and its
config file; the socket sits beside it."""

from __future__ import annotations

import json
import os
import socket

TYPE_CHECKING = False  # not typing's: importing it costs the fast path several ms
if TYPE_CHECKING:
    from typing import Any

CONFIG_NAMES = ("devrun.yaml", "devrun.yml")
TOKEN_HEADER = "X-Devrun-Token"


def state_dir() -> str:
    """Where `up` keeps its lock, control file and socket (as project_lock's lock_path).
    Plain strings, not pathlib: importing it costs the fast path more than its answer."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return (
        os.path.join(runtime, "devrun")
        if runtime
        else os.path.join(os.path.expanduser("~"), ".cache", "devrun")
    )


def info_path(project: str) -> str:
    return os.path.join(state_dir(), f"{project}.control.json")


def socket_path(project: str) -> str:
    path = os.path.join(state_dir(), f"{project}.sock")
    if len(path.encode()) < 100:  # sun_path holds 108 bytes
        return path
    import hashlib

    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return f"/tmp/devrun-{os.getuid()}-{digest}.sock"


def write_info(project: str, info: dict[str, Any]) -> str:
    """Atomically, created 0600 (never readable by others, even for a moment)."""
    path = info_path(project)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)
    return path


def remove_info(project: str, pid: int) -> None:
    """Only our own file: a newer `up` may have written its own since."""
    path = info_path(project)
    info = _read(path)
    if info is not None and info.get("pid") == pid:
        for p in (path, info.get("socket", "")):
            try:
                os.unlink(p)
            except OSError:
                pass


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def nearest_config(start: str | None = None) -> str | None:
    here = os.path.realpath(start or os.getcwd())
    while True:
        for name in CONFIG_NAMES:
            if os.path.isfile(os.path.join(here, name)):
                return os.path.join(here, name)
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def find_running(project: str | None = None, config: str | None = None) -> dict[str, Any] | None:
    """The control info of the running `up` of `project`; without a project,
    the one started from `config` (default: the nearest devrun.yaml upwards)."""
    if project:
        info = _read(info_path(project))
        return info if info and _alive(info.get("pid")) else None
    cfg = os.path.realpath(config) if config else nearest_config()
    if cfg is None:
        return None
    try:
        candidates = sorted(n for n in os.listdir(state_dir()) if n.endswith(".control.json"))
    except OSError:
        return None
    for name in candidates:
        info = _read(os.path.join(state_dir(), name))
        # an up started with -p (a name this config does not give) is found only by that name
        if info and info.get("config") == cfg and info.get("default_name") and _alive(info.get("pid")):
            return info
    return None


class ControlError(Exception):
    """The running `up` could not be asked (gone, refused): fall back to the engine."""


def _exchange(
    socket_path: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    timeout: float | None,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP/1.0 request over the unix socket: (status, headers, body file).
    Plain sockets, not http.client: its imports (email, ssl) cost more than
    the whole answer (tens of ms at every `devrun ps`)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(socket_path)
        lines = [f"{method} {path} HTTP/1.0", "Host: localhost"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        f = s.makefile("rb")
        status_line = f.readline().split(None, 2)
        if len(status_line) < 2 or not status_line[1].isdigit():
            raise OSError("not an HTTP answer")
        got: dict[str, str] = {}
        while True:
            line = f.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            got[k.strip().lower()] = v.strip()
    except OSError as e:
        s.close()
        raise ControlError(f"the running devrun up did not answer: {e}") from None
    s.close()  # the file keeps the connection open until it is closed
    return int(status_line[1]), got, f


class Client:
    """Requests to a running `up` over its unix socket, with its token."""

    def __init__(self, info: dict[str, Any]):
        self.info = info

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float | None = 30
    ) -> tuple[int, Any]:
        headers = {TOKEN_HEADER: self.info["token"]}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, got, f = _exchange(self.info["socket"], method, path, headers, data, timeout)
        try:
            length = got.get("content-length", "")
            raw = f.read(int(length)) if length.isdigit() else f.read()
        except OSError as e:
            raise ControlError(f"the running devrun up did not answer: {e}") from None
        finally:
            f.close()
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")

    def stream(self, path: str, with_ids: bool = False):
        """Server-sent events as dicts (with_ids: (id, dict) pairs), until the `up` ends the stream."""
        status, _got, f = _exchange(
            self.info["socket"], "GET", path, {TOKEN_HEADER: self.info["token"]}, None, None
        )
        if status != 200:
            f.close()
            raise ControlError(f"the running devrun up refused the stream ({status})")
        # connected before returning: events from now on are in the stream
        return _events(f, with_ids)


def _events(f: Any, with_ids: bool = False):
    seq = 0
    try:
        for line in f:
            if line.startswith(b"id: "):
                seq = int(line[4:])
            elif line.startswith(b"data: "):
                yield (seq, json.loads(line[6:])) if with_ids else json.loads(line[6:])
    except OSError:
        return
    finally:
        f.close()
