"""`devrun wait` next to a running `up`: block until every change saved
before the call is applied and its service ready again ("is my edit live?").

Standard library only, so `devrun wait` can answer before the rest of devrun
is imported (devrun/cli/fast.py). Without a running `up`, `devrun wait` keeps
compose's meaning (cli/compose.py: wait for the containers to stop)."""

from __future__ import annotations

import json
import sys

from devrun.session.endpoint import Client, ControlError

TYPE_CHECKING = False  # not typing's: importing it costs the fast path several ms
if TYPE_CHECKING:
    from typing import Any


def wait_live(info: dict[str, Any], services: list[str], timeout: float | None, as_json: bool) -> int:
    """0 when live; 1 with the failing action's error, or on timeout."""
    body: dict[str, Any] = {"services": services}
    if timeout is not None:
        body["timeout"] = timeout
    try:
        status, answer = Client(info).request("POST", "/api/wait", body, timeout=None)
    except ControlError as e:
        print(f"devrun wait: {e}", file=sys.stderr)
        return 1
    if not isinstance(answer, dict):
        answer = {"ok": False, "error": str(answer)}
    if status == 400:
        print(f"devrun wait: {answer.get('error')}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(answer), flush=True)
    elif not answer.get("ok"):
        print(f"devrun wait: {answer.get('error')}", file=sys.stderr)
    return 0 if answer.get("ok") else 1
