"""`devrun ps`, `logs` and `restart` answered by the running `up` (issue 12):
no engine round trip, no docker import, over the `up`'s unix socket.

Each returns the exit code, or None when the running `up` cannot answer
exactly what the engine path would print (a flag this does not know, a
service it does not run, log lines it did not see): the full CLI then runs
as usual, against the engine. Output is the engine path's, byte for byte:
`ps` renders with the same function (session/psrows.py), logs print through
the same Printer with the same services in the same order."""

from __future__ import annotations

import sys

from devrun.session import endpoint
from devrun.session.endpoint import Client, ControlError

TYPE_CHECKING = False  # not typing's: importing it costs the fast path several ms
if TYPE_CHECKING:
    from typing import Any


def _get(client: Client, path: str) -> Any:
    try:
        status, answer = client.request("GET", path)
    except ControlError:
        return None
    return answer if status == 200 and isinstance(answer, dict) else None


def _query(**params: Any) -> str:
    from urllib.parse import urlencode

    return urlencode([(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])])


# ---- ps ---------------------------------------------------------------------------


def ps(info: dict[str, Any], args: list[str]) -> int | None:
    opts = _ps_args(args)
    if opts is None:
        return None
    services, flags = opts
    answer = _get(Client(info), "/api/ps")
    if answer is None or any(s not in answer["services"] for s in services):
        return None
    from devrun.session import psrows

    rows = [r for r in answer["rows"] if flags["all_"] or not r["oneoff"]]
    rows = [r for r in rows if not services or r["service"] in services]
    psrows.render(rows, answer["project"], sys.stdout, sys.stderr, **flags)
    return 0


def _ps_args(args: list[str]) -> tuple[list[str], dict[str, Any]] | None:
    services: list[str] = []
    flags: dict[str, Any] = {
        "all_": False,
        "quiet": False,
        "show_services": False,
        "fmt": "table",
        "as_json": False,
        "wanted": set(),
    }
    switches = {"-a": "all_", "--all": "all_", "-q": "quiet", "--quiet": "quiet"}
    switches |= {"--services": "show_services", "--json": "as_json"}
    values = _values(args, ("--status", "--filter", "--format"))
    if values is None:
        return None
    for a, value in values:
        if a is None:
            services.append(value)
        elif a in switches:
            flags[switches[a]] = True
        elif a == "--format" and value in ("table", "json"):
            flags["fmt"] = value
        elif a == "--status" and value in _states():
            flags["wanted"].add(value)
        elif a == "--filter" and value.startswith("status=") and value[7:] in _states():
            flags["wanted"].add(value[7:])
        else:
            return None  # the full CLI says what is wrong
    return services, flags


def _states() -> set[str]:
    from devrun.session.psrows import STATES

    return STATES


def _values(args: list[str], valued: tuple[str, ...]) -> list[tuple[str | None, str]] | None:
    """(flag, value) pairs; (None, arg) for a positional; None for `--`."""
    out: list[tuple[str | None, str]] = []
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if a == "--":
            return None
        if name in valued:
            if not eq:
                if i + 1 >= len(args):
                    return None
                value = args[i + 1]
                i += 1
            out.append((name, value))
        elif a.startswith("-"):
            out.append((a, ""))
        else:
            out.append((None, a))
        i += 1
    return out


# ---- restart ----------------------------------------------------------------------


def restart(info: dict[str, Any], args: list[str], no_color: bool) -> int | None:
    values = _values(args, ())
    if values is None or any(a not in (None, "--no-deps") for a, _ in values):
        return None  # --timeout: the engine path applies that grace period
    named = [v for a, v in values if a is None]
    client = Client(info)
    status = _get(client, "/api/status")
    if status is None:
        return None
    running = {n: s for n, s in status["services"].items() if s["state"] == "running" and s["container"]}
    targets = named or list(status["services"])
    if not targets or any(n not in running for n in targets):
        return None  # a service this up does not run: the engine restarts it
    try:
        code, answer = client.request(
            "POST", "/api/restart", {"services": targets, "wait": True}, timeout=None
        )
    except ControlError:
        return None
    if code not in (200, 500) or not isinstance(answer, dict):
        return None
    if code == 500:
        from devrun.errors import EngineError

        for line in EngineError(answer.get("error") or "the restart failed").lines():
            print(line, file=sys.stderr)
        return 1
    printer = _printer(False, no_color, progress=True)
    after = _get(client, "/api/status") or {"services": {}}
    mine = set(answer.get("changes") or ())
    for name in targets:
        actions = after["services"].get(name, {}).get("last_actions") or []
        done = next((a for a in reversed(actions) if mine & set(a.get("changes") or ())), None)
        label = str(done.get("action", "")) if done else ""
        mode = "process" if "process" in label else "container"
        ms = done.get("duration_ms", 0) if done else 0
        printer.info(f"restarted {name} ({mode} mode, {ms} ms)")
    return 0


def _printer(json_mode: bool, no_color: bool, progress: bool) -> Any:
    from devrun.output import Printer

    return Printer(
        json_mode=json_mode,
        color=None if not no_color else False,
        out=sys.stderr if progress and not json_mode else None,
    )


# ---- logs -------------------------------------------------------------------------


def logs(info: dict[str, Any], args: list[str], no_color: bool) -> int | None:
    values = _values(args, ("--tail", "-n"))
    if values is None:
        return None
    named: list[str] = []
    follow = no_prefix = as_json = False
    tail = "all"
    for a, v in values:
        if a is None:
            named.append(v)
        elif a in ("-f", "--follow"):
            follow = True
        elif a == "--no-log-prefix":
            no_prefix = True
        elif a == "--json":
            as_json = True
        elif a in ("--tail", "-n") and (v.strip().isdigit() or v.strip().lower() == "all"):
            tail = v.strip().lower()
        else:
            return None  # --since, --until, -t: the engine's own times
    client = Client(info)
    ps_answer = _get(client, "/api/ps")
    if ps_answer is None or any(s not in ps_answer["services"] for s in named):
        return None
    order = [
        r["service"] for r in ps_answer["rows"] if not r["oneoff"] and (not named or r["service"] in named)
    ]
    if not order:
        return None  # the engine path names the missing containers
    stream = None
    if follow:
        try:
            stream = client.stream("/api/events?" + _query(service=order), with_ids=True)
        except ControlError:
            return None
    kept = _get(client, "/api/logs?" + _query(service=order, tail=tail, current="1"))
    if kept is None or not kept.get("complete"):
        return None  # lines this up did not see (older than it, or more than it keeps)
    printer = _printer(as_json, no_color, progress=False)
    printer.set_services(order)

    def emit(ev: dict[str, Any]) -> None:
        if no_prefix and not as_json:
            from devrun.output import terminal_safe

            print(terminal_safe(ev["line"], keep_colour=printer.color), flush=True)
        else:
            printer.log(ev["service"], ev["stream"], ev["line"])

    last = 0
    by_service: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for seq, ev in kept["events"]:
        by_service.setdefault(ev["service"], []).append((seq, ev))
        last = max(last, seq)
    for name in order:  # the engine path prints each container's lines in turn
        for _seq, ev in by_service.get(name, []):
            emit(ev)
    if stream is None:
        return 0
    try:
        for seq, ev in stream:
            if seq > last and ev.get("event") == "log" and ev.get("service") in order:
                emit(ev)
    except KeyboardInterrupt:
        return 0
    return 0


def run(command: str, argv: list[str], opts: dict[str, str]) -> int | None:
    info = endpoint.find_running(opts.get("project"), opts.get("file"))
    if info is None:
        return None
    no_color = "no_color" in opts
    if command == "ps":
        return ps(info, argv)
    if command == "logs":
        return logs(info, argv, no_color)
    if command == "restart":
        return restart(info, argv, no_color)
    return None
