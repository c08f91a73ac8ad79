"""The docker-py boundary: every docker or requests failure becomes an
EngineError with a sentence meant for people (docker-py's errors.py habit:
one exception family, one boundary), and the few private docker-py calls
that have no public equivalent, in one place."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any, Literal

import docker
import docker.errors
import requests

from devrun.errors import EngineError


def _reason(e: Exception) -> str:
    if isinstance(e, docker.errors.APIError):
        return str(e.explanation or e)
    text = str(e) or type(e).__name__
    if isinstance(e, requests.exceptions.Timeout):
        return "the engine did not answer in time"
    if isinstance(e, requests.exceptions.ConnectionError):
        # requests' text is urllib3's retry chain, one long line: keep the OS's reason
        found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
        return f"the engine cannot be reached ({found.group(1).strip() if found else 'connection failed'})"
    return text


@contextlib.contextmanager
def translate(what: str = "", say: Callable[[str], str] | None = None) -> Iterator[None]:
    """The one translation of docker/requests failures: any inside the block
    leaves as an EngineError, worded `what: reason` (`what: not found (reason)`
    for a missing object), or as `say(reason)` where the sentence needs its own
    shape. A block that expects a failure (NotFound meaning "absent") catches
    that one inside and lets the rest come here."""
    try:
        yield
    except EngineError:
        raise
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as e:
        reason = _reason(e)
        if say is not None:
            raise EngineError(say(reason)) from None
        if isinstance(e, docker.errors.NotFound):
            raise EngineError(f"{what}: not found ({reason})") from None
        raise EngineError(f"{what}: {reason}") from None
    except Exception as e:
        if not type(e).__module__.startswith("paramiko"):
            raise
        # the ssh link (session refused, connection lost): an engine failure like any other
        reason = str(e) or type(e).__name__
        raise EngineError(say(reason) if say is not None else f"{what}: ssh: {reason}") from None


def _raw(
    api: Any,
    method: Literal["get", "put", "head"],
    path: str,
    container_id: str,
    *,
    untimed: bool = False,
    **kwargs: Any,
) -> Any:
    """One request to a container endpoint (`path` holds `{0}` for the id);
    a failure raises docker's own error, as the public methods do. `untimed`:
    a streamed answer that may stay quiet for hours."""
    send = {"get": api._get, "put": api._put, "head": api.head}[method]
    res = send(api._url(path, container_id), **kwargs)
    api._raise_for_status(res)
    if untimed:
        _untimed(api, api._get_raw_response_socket(res))
    return res


def _untimed(api: Any, sock: Any) -> Any:
    """The socket under a streamed response or hijacked connection, with
    docker-py's read timeout lifted from it."""
    api._disable_socket_timeout(sock)
    return getattr(sock, "_sock", sock)


def _close(sock: Any) -> None:
    """Close a hijacked connection now. docker-py ties the socket and its
    response in a cycle that only the garbage collector breaks, and over ssh
    every one left open holds one of sshd's sessions (engine/sshlink.py)."""
    for part in (getattr(sock, "_sock", None), sock, getattr(sock, "_response", None)):
        if part is not None:
            with contextlib.suppress(Exception):
                part.close()
    with contextlib.suppress(AttributeError):
        del sock._response
